"""The cluster side of the demo, through kubectl only: install the manifests, a kubeconfig for
the operator's ServiceAccount, and the samples pointed at the local stack.

The end-to-end tests use the same functions, so the demo and the tests drive the product the
same way a user does.
"""

from __future__ import annotations

import collections
import json
import queue
import re
import subprocess
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import yaml

from testenv.layout import REPO_ROOT

MANIFESTS: Final = REPO_ROOT / "manifests"
SAMPLES: Final = MANIFESTS / "samples"
OPERATOR_NAMESPACE: Final = "dataquarantine-system"
OPERATOR_ACCOUNT: Final = "dataquarantine-operator"
OPERATOR_DEPLOYMENT: Final = "deployment/dataquarantine-operator"
POD_RUNNER_LABEL: Final = "dataquarantine.io/pod-runner"
"""The label the dev-only pod runner puts on its Nodes."""
CRDS: Final = (
    "crd/validationschemas.dataquarantine.io",
    "crd/quarantinepipelines.dataquarantine.io",
)


class KubectlError(RuntimeError):
    """kubectl exited non-zero; the message holds its stderr."""


@dataclass(frozen=True)
class Kubectl:
    """A kubectl binary with a kubeconfig."""

    binary: Path
    kubeconfig: Path

    def command(self, *args: str) -> list[str]:
        """The command line of `kubectl <args>` with this kubeconfig."""
        return [str(self.binary), f"--kubeconfig={self.kubeconfig}", *args]

    def __call__(self, *args: str, stdin: str | None = None, timeout: float = 60) -> str:
        """Run kubectl and return its stdout; raise KubectlError when it fails."""
        done = subprocess.run(
            self.command(*args),
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if done.returncode != 0:
            raise KubectlError(f"kubectl {' '.join(args)}: {done.stderr.strip()}")
        return done.stdout

    def json(self, *args: str) -> dict[str, Any]:
        """`kubectl ... -o json`, parsed."""
        found = json.loads(self(*args, "-o", "json"))
        assert isinstance(found, dict)
        return found

    def apply(self, documents: Sequence[Mapping[str, Any]], namespace: str) -> str:
        """`kubectl apply -f -` of these documents in a namespace."""
        return self("apply", "-n", namespace, "-f", "-", stdin=yaml.safe_dump_all(documents))


def install(kubectl: Kubectl) -> str:
    """`kubectl apply -k manifests/` (CRDs, RBAC, the operator's Deployment) and wait until the
    CRDs are established; returns kubectl's output."""
    output = kubectl("apply", "-k", str(MANIFESTS))
    kubectl("wait", "--for=condition=Established", "--timeout=30s", *CRDS)
    return output


def ensure_namespace(kubectl: Kubectl, name: str) -> None:
    """Create the namespace unless it exists (idempotent, like apply)."""
    manifest = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
    kubectl("apply", "-f", "-", stdin=yaml.safe_dump(manifest))


def operator_kubeconfig(kubectl: Kubectl, destination: Path, *, duration: str = "24h") -> Path:
    """A kubeconfig that authenticates as the operator's ServiceAccount (a TokenRequest token),
    with the server and CA of kubectl's kubeconfig: the operator runs with exactly the rights
    manifests/rbac grants it, never as cluster admin."""
    token = kubectl(
        "create", "token", OPERATOR_ACCOUNT, "-n", OPERATOR_NAMESPACE, f"--duration={duration}"
    ).strip()
    admin = yaml.safe_load(kubectl.kubeconfig.read_text())
    contexts = {entry["name"]: entry["context"] for entry in admin["contexts"]}
    clusters = {entry["name"]: entry["cluster"] for entry in admin["clusters"]}
    server = clusters[contexts[admin["current-context"]]["cluster"]]
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "cluster", "cluster": server}],
        "users": [{"name": OPERATOR_ACCOUNT, "user": {"token": token}}],
        "contexts": [
            {"name": "operator", "context": {"cluster": "cluster", "user": OPERATOR_ACCOUNT}}
        ],
        "current-context": "operator",
    }
    destination.parent.mkdir(parents=True, exist_ok=True)
    destination.touch(mode=0o600)
    destination.write_text(yaml.safe_dump(config))
    return destination


@dataclass(frozen=True)
class Endpoints:
    """Where the pipeline's Kafka, S3 and PostgreSQL are, and its credentials."""

    kafka_bootstrap: str
    s3_endpoint: str
    s3_access_key: str
    s3_secret_key: str
    postgres_dsn: str

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Endpoints:
        """From the local stack's env file (`python -m testenv env`)."""
        return cls(
            kafka_bootstrap=env["DQ_KAFKA_BOOTSTRAP"],
            s3_endpoint=env["DQ_S3_ENDPOINT"],
            s3_access_key=env["DQ_S3_ACCESS_KEY"],
            s3_secret_key=env["DQ_S3_SECRET_KEY"],
            postgres_dsn=env["DQ_POSTGRES_DSN"],
        )


@dataclass(frozen=True)
class Topics:
    """A pipeline's topics and quarantine bucket."""

    source: str
    valid: str
    quarantine: str
    bucket: str


def local_samples(
    kubectl: Kubectl,
    endpoints: Endpoints,
    topics: Topics,
    *,
    api_tokens: str,
    pipeline_changes: Mapping[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """`kubectl kustomize manifests/samples`, pointed at `endpoints` and `topics`: the Secrets
    get the real credentials (they exist only in the cluster, never in a file), the pipeline
    the real addresses; `pipeline_changes` are merged into the pipeline's spec (top level)."""
    documents = [doc for doc in yaml.safe_load_all(kubectl("kustomize", str(SAMPLES))) if doc]
    secrets = {
        "orders-kafka": {"security.protocol": "PLAINTEXT"},
        "orders-s3": {"accessKey": endpoints.s3_access_key, "secretKey": endpoints.s3_secret_key},
        "orders-postgres": {"dsn": endpoints.postgres_dsn},
        "orders-api-tokens": {"tokens": api_tokens},
    }
    for document in documents:
        if document["kind"] == "Secret":
            document["stringData"] = secrets[document["metadata"]["name"]]
        elif document["kind"] == "QuarantinePipeline":
            spec = document["spec"]
            spec["kafka"]["bootstrapServers"] = endpoints.kafka_bootstrap
            spec["source"]["topics"] = [topics.source]
            spec["sinks"] = {"validTopic": topics.valid, "quarantineTopic": topics.quarantine}
            spec["quarantine"]["storage"].update(
                endpoint=endpoints.s3_endpoint, bucket=topics.bucket, secure=False
            )
            spec.update(pipeline_changes or {})
    return documents


def condition_status(obj: Mapping[str, Any], type_: str) -> str | None:
    """The status ("True", "False", "Unknown") of a condition, or None when it is absent."""
    for entry in (obj.get("status") or {}).get("conditions") or ():
        if entry.get("type") == type_:
            return str(entry.get("status"))
    return None


def pod_addresses(kubectl: Kubectl, namespace: str, selector: str) -> list[str]:
    """The IPs of the ready pods a label selector matches."""
    pods = kubectl.json("get", "pods", "-n", namespace, "-l", selector)["items"]
    return [
        pod["status"]["podIP"]
        for pod in pods
        if pod.get("status", {}).get("podIP")
        and not pod["metadata"].get("deletionTimestamp")
        and condition_status(pod, "Ready") == "True"
    ]


def has_ready_node(kubectl: Kubectl) -> bool:
    """Whether the cluster has a Ready node of its own (a kubelet), i.e. one not registered by
    the dev-only pod runner."""
    nodes = kubectl.json("get", "nodes")["items"]
    return any(
        condition_status(node, "Ready") == "True"
        and (node["metadata"].get("labels") or {}).get(POD_RUNNER_LABEL) != "true"
        for node in nodes
    )


_FORWARDING: Final = re.compile(r"^Forwarding from 127\.0\.0\.1:(\d+) -> \d+\s*$")


def forwarded_port(line: str) -> int | None:
    """The local port of a `kubectl port-forward` line `Forwarding from 127.0.0.1:<port> -> <n>`
    (None for any other line)."""
    match = _FORWARDING.match(line)
    return int(match.group(1)) if match else None


@contextmanager
def port_forward(
    kubectl: Kubectl, namespace: str, target: str, port: int, *, timeout: float = 30.0
) -> Iterator[int]:
    """`kubectl port-forward <target> :<port>` on 127.0.0.1: kubectl picks a free local port,
    which this yields; kubectl is stopped afterwards. It needs a kubelet (the dev-only pod runner
    has no port-forwarding): on the local stack, reach pods by their IP instead.

    Raises KubectlError with kubectl's last words when it does not forward within `timeout`."""
    command = kubectl.command(
        "port-forward", "-n", namespace, "--address", "127.0.0.1", target, f":{port}"
    )
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    ) as process:
        assert process.stdout is not None
        output = process.stdout
        ports: queue.Queue[int | None] = queue.Queue()
        last_lines: collections.deque[str] = collections.deque(maxlen=5)

        def drain() -> None:
            # Read everything kubectl says (one line per connection) so that its pipe never
            # fills; the first forwarding line gives the port, the end of output a failure.
            for line in output:
                last_lines.append(line.strip())
                found = forwarded_port(line)
                if found is not None:
                    ports.put(found)
            ports.put(None)

        reader = threading.Thread(target=drain, name=f"kubectl port-forward {target}", daemon=True)
        reader.start()
        try:
            try:
                local = ports.get(timeout=timeout)
            except queue.Empty:
                local = None
            if local is None:
                raise KubectlError(
                    f"kubectl port-forward {target} -n {namespace}: " + " | ".join(last_lines)
                )
            yield local
        finally:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            reader.join(10)
