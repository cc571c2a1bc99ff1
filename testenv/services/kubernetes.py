"""etcd, kube-apiserver and kube-controller-manager built from the Go module proxy.

No kubelet runs: pods are never started. The controller manager gives garbage collection of
owned objects and the Deployment → ReplicaSet → Pod chain.
"""

from __future__ import annotations

import base64
import re
import ssl
import subprocess
import urllib.request
from pathlib import Path

from testenv.errors import StackError
from testenv.layout import REPO_ROOT, Layout
from testenv.processes import run_checked, spawn, wait_until
from testenv.progress import step
from testenv.services.base import Context

ETCD_VERSION = "v3.6.14"
KUBE_VERSION = "v1.34.4"
BUILD_SCRIPT = REPO_ROOT / "testenv" / "scripts" / "build-go-binaries.sh"


def kube_binary(layout: Layout, name: str) -> Path:
    """Path of a built Kubernetes binary (kube-apiserver, kube-controller-manager, kubectl)."""
    return layout.bin / f"{name}-{KUBE_VERSION}"


def build_go_binaries(layout: Layout) -> None:
    """Build whatever is missing (10-20 minutes cold on 2 cores, instant when cached)."""
    wanted = [layout.bin / f"etcd-{ETCD_VERSION}"] + [
        kube_binary(layout, n) for n in ("kube-apiserver", "kube-controller-manager", "kubectl")
    ]
    if all(path.exists() for path in wanted):
        return
    with step(f"building etcd {ETCD_VERSION} and Kubernetes {KUBE_VERSION} from Go modules"):
        result = subprocess.run(
            ["bash", str(BUILD_SCRIPT)],
            env=_build_env(layout),
            check=False,
        )
        if result.returncode != 0:
            raise StackError(f"building Go binaries failed (exit {result.returncode}); see above")


def _build_env(layout: Layout) -> dict[str, str]:
    import os

    return {
        **os.environ,
        "DQ_CACHE": str(layout.cache),
        "ETCD_VERSION": ETCD_VERSION,
        "KUBE_VERSION": KUBE_VERSION,
    }


class Etcd:
    """Single-member etcd without fsync (test data only)."""

    name = "etcd"
    version = ETCD_VERSION
    port_names: dict[str, int | None] = {"client": None, "peer": None}
    stop_timeout = 15.0

    def install(self, layout: Layout) -> None:
        """Build etcd and the Kubernetes binaries when missing."""
        build_go_binaries(layout)

    def start(self, ctx: Context) -> int:
        """Start etcd and wait for /health."""
        home = ctx.layout.service_dir(self.name)
        home.mkdir(parents=True, exist_ok=True)
        client = f"http://127.0.0.1:{ctx.ports['client']}"
        peer = f"http://127.0.0.1:{ctx.ports['peer']}"
        log = ctx.layout.log_file(self.name)
        pid = spawn(
            [str(ctx.layout.bin / f"etcd-{ETCD_VERSION}"), "--name=dq", f"--data-dir={home}/data"]
            + [f"--listen-client-urls={client}", f"--advertise-client-urls={client}"]
            + [f"--listen-peer-urls={peer}", f"--initial-advertise-peer-urls={peer}"]
            + [f"--initial-cluster=dq={peer}", "--unsafe-no-fsync", "--log-level=warn"]
            + ["--quota-backend-bytes=2147483648"],
            log_file=log,
            cwd=home,
        )
        wait_until(
            lambda: _get(f"{client}/health") == 200,
            what="etcd",
            timeout=60,
            pid=pid,
            log_file=log,
        )
        return pid

    def env(self, ctx: Context) -> dict[str, str]:
        """Nothing: only the apiserver talks to etcd."""
        return {}


class KubeApiserver:
    """kube-apiserver with RBAC, token auth for the admin, and service-account tokens."""

    name = "kube-apiserver"
    version = KUBE_VERSION
    port_names: dict[str, int | None] = {"port": None}
    stop_timeout = 15.0

    def install(self, layout: Layout) -> None:
        """Build when missing."""
        build_go_binaries(layout)

    def start(self, ctx: Context) -> int:
        """Write certs, keys and tokens once, start, wait for /readyz."""
        home = ctx.layout.service_dir(self.name)
        (home / "certs").mkdir(parents=True, exist_ok=True)
        sa_key = home / "sa.key"
        if not sa_key.exists():
            run_checked(["openssl", "genrsa", "-out", str(sa_key), "2048"], what="openssl genrsa")
        tokens = home / "tokens.csv"
        tokens.write_text(f'{ctx.secrets.kube_admin_token},admin,admin,"system:masters"\n')
        tokens.chmod(0o600)
        port = ctx.ports["port"]
        etcd = f"http://127.0.0.1:{ctx.all_ports['etcd']['client']}"
        log = ctx.layout.log_file(self.name)
        pid = spawn(
            [str(kube_binary(ctx.layout, "kube-apiserver")), f"--etcd-servers={etcd}"]
            + [f"--cert-dir={home / 'certs'}", f"--secure-port={port}"]
            + ["--bind-address=127.0.0.1", "--advertise-address=127.0.0.1"]
            + ["--service-cluster-ip-range=10.0.0.0/24", "--allow-privileged=true"]
            + ["--disable-admission-plugins=ServiceAccount", "--authorization-mode=RBAC"]
            + [f"--token-auth-file={tokens}", f"--service-account-issuer=https://127.0.0.1:{port}"]
            + [f"--service-account-key-file={sa_key}"]
            + [f"--service-account-signing-key-file={sa_key}", "--v=1"],
            log_file=log,
            cwd=home,
        )
        url = f"https://127.0.0.1:{port}/readyz"
        wait_until(
            lambda: _get(url, token=ctx.secrets.kube_admin_token) == 200,
            what="kube-apiserver",
            timeout=120,
            pid=pid,
            log_file=log,
            interval=0.25,
        )
        ca = serving_ca(home / "certs" / "apiserver.crt")
        write_kubeconfig(ctx.layout.kubeconfig, port, ctx.secrets.kube_admin_token, ca)
        return pid

    def env(self, ctx: Context) -> dict[str, str]:
        """Kubeconfig, API URL and kubectl."""
        return {
            "KUBECONFIG": str(ctx.layout.kubeconfig),
            "DQ_KUBE_API": f"https://127.0.0.1:{ctx.ports['port']}",
            "DQ_KUBECTL": str(kube_binary(ctx.layout, "kubectl")),
        }


class KubeControllerManager:
    """Garbage collector, Deployment and ReplicaSet controllers, namespace lifecycle."""

    name = "kube-controller-manager"
    version = KUBE_VERSION
    port_names: dict[str, int | None] = {"port": None}
    stop_timeout = 15.0

    def install(self, layout: Layout) -> None:
        """Build when missing."""
        build_go_binaries(layout)

    def start(self, ctx: Context) -> int:
        """Start against the admin kubeconfig; wait for /healthz."""
        home = ctx.layout.service_dir(self.name)
        (home / "certs").mkdir(parents=True, exist_ok=True)
        port = ctx.ports["port"]
        sa_key = ctx.layout.service_dir("kube-apiserver") / "sa.key"
        log = ctx.layout.log_file(self.name)
        pid = spawn(
            [str(kube_binary(ctx.layout, "kube-controller-manager"))]
            + [f"--kubeconfig={ctx.layout.kubeconfig}", "--leader-elect=false"]
            + ["--bind-address=127.0.0.1", f"--secure-port={port}"]
            + [f"--cert-dir={home / 'certs'}", f"--service-account-private-key-file={sa_key}"]
            + ["--use-service-account-credentials=false", "--controllers=*"]
            + [f"--authentication-kubeconfig={ctx.layout.kubeconfig}"]
            + [f"--authorization-kubeconfig={ctx.layout.kubeconfig}"]
            + ["--concurrent-gc-syncs=5", "--v=1"],
            log_file=log,
            cwd=home,
        )
        wait_until(
            lambda: _get(f"https://127.0.0.1:{port}/healthz") == 200,
            what="kube-controller-manager",
            timeout=60,
            pid=pid,
            log_file=log,
            interval=0.25,
        )
        return pid

    def env(self, ctx: Context) -> dict[str, str]:
        """Nothing to add."""
        return {}


def serving_ca(bundle: Path) -> bytes:
    """The self-signed CA that kube-apiserver wrote after its serving certificate."""
    pems: list[bytes] = re.findall(
        rb"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----\n?", bundle.read_bytes(), re.S
    )
    if len(pems) < 2:
        raise StackError(f"expected a certificate and its CA in {bundle}")
    return pems[-1]


def write_kubeconfig(path: Path, port: int, token: str, ca_pem: bytes) -> None:
    """An admin kubeconfig for the local apiserver, verifying its self-signed CA."""
    path.parent.mkdir(parents=True, exist_ok=True)
    ca_data = base64.b64encode(ca_pem).decode()
    path.write_text(
        f"""apiVersion: v1
kind: Config
clusters:
- name: dataquarantine-local
  cluster:
    server: https://127.0.0.1:{port}
    certificate-authority-data: {ca_data}
users:
- name: admin
  user:
    token: {token}
contexts:
- name: dataquarantine-local
  context:
    cluster: dataquarantine-local
    user: admin
    namespace: default
current-context: dataquarantine-local
"""
    )
    path.chmod(0o600)


def _get(url: str, token: str | None = None) -> int:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    request = urllib.request.Request(url)  # noqa: S310 - loopback only
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=3, context=context) as response:  # noqa: S310
        return int(response.status)
