"""Where the benchmark runs: the local stack's endpoints, the machine, the versions, the cores."""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, Final

import asyncpg

from testenv.errors import StackError
from testenv.layout import Layout
from testenv.stack import Stack

REPO: Final = Path(__file__).resolve().parents[1]
NEEDED_SERVICES: Final = ("kafka", "postgres", "s3")
PACKAGES: Final = (
    "aiokafka",
    "orjson",
    "jsonschema-rs",
    "jsonschema",
    "common-expression-language",
    "asyncpg",
    "miniopy-async",
    "pydantic",
)


class BenchError(Exception):
    """The benchmark cannot run or a scenario failed; the message says why."""


@dataclass(frozen=True, slots=True)
class Endpoints:
    """The running local stack (python -m testenv up)."""

    kafka_bootstrap: str
    postgres_dsn: str
    s3_endpoint: str
    s3_access_key: str
    s3_secret_key: str
    service_versions: dict[str, str]
    origin: str


ENDPOINT_VARIABLES: Final = (
    "DQ_KAFKA_BOOTSTRAP",
    "DQ_POSTGRES_DSN",
    "DQ_S3_ENDPOINT",
    "DQ_S3_ACCESS_KEY",
    "DQ_S3_SECRET_KEY",
)


def stack_endpoints(environ: Mapping[str, str]) -> Endpoints:
    """The endpoints in `environ` when all five DQ_* variables are set (as
    `eval "$(python -m testenv env --export)"` sets them), else the running local stack's;
    `BenchError` when neither is available."""
    stack = Stack(Layout.from_environment(dict(environ)))
    versions = {row.name: row.version for row in stack.status() if row.alive}
    if all(environ.get(name) for name in ENDPOINT_VARIABLES):
        env: Mapping[str, str] = environ
        origin = "DQ_* environment variables"
    else:
        if not stack.is_running(list(NEEDED_SERVICES)):
            raise BenchError(
                "the local stack is not running: start it with "
                "`.venv/bin/python -m testenv up kafka postgres s3` (or set "
                f"{', '.join(ENDPOINT_VARIABLES)})"
            )
        try:
            env = stack.env()
        except StackError as exc:
            raise BenchError(str(exc)) from exc
        origin = f"local stack in {stack.layout.state}"
    return Endpoints(
        kafka_bootstrap=env["DQ_KAFKA_BOOTSTRAP"],
        postgres_dsn=env["DQ_POSTGRES_DSN"],
        s3_endpoint=env["DQ_S3_ENDPOINT"],
        s3_access_key=env["DQ_S3_ACCESS_KEY"],
        s3_secret_key=env["DQ_S3_SECRET_KEY"],
        service_versions={name: versions.get(name, "unknown") for name in NEEDED_SERVICES},
        origin=origin,
    )


async def postgres_version(dsn: str) -> str:
    """The server's version string (`SHOW server_version`)."""
    conn = await asyncpg.connect(dsn)
    try:
        found: str = await conn.fetchval("SHOW server_version")
    finally:
        await conn.close()
    return found


def machine() -> dict[str, Any]:
    """CPU model, cores, memory, kernel and load: enough to compare two result files."""
    model = "unknown"
    with open("/proc/cpuinfo", encoding="ascii", errors="replace") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    memory_kib = 0
    with open("/proc/meminfo", encoding="ascii") as meminfo:
        for line in meminfo:
            if line.startswith("MemTotal:"):
                memory_kib = int(line.split()[1])
                break
    return {
        "cpu_model": model,
        "cores": os.cpu_count(),
        "memory_mib": memory_kib // 1024,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "load_average_at_start": list(os.getloadavg()),
    }


def package_versions() -> dict[str, str]:
    """Installed versions of the libraries on the hot paths."""
    found: dict[str, str] = {}
    for name in PACKAGES:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = "not installed"
    return found


def source_revision() -> dict[str, Any]:
    """The commit benchmarked and whether validator_pod/ had uncommitted changes (the working
    tree is what runs)."""

    def git(*args: str) -> str:
        result = subprocess.run(
            ["git", *args], cwd=REPO, capture_output=True, text=True, check=False
        )
        return result.stdout.strip()

    dirty = git("status", "--porcelain", "--", "validator_pod")
    return {
        "commit": git("rev-parse", "HEAD"),
        "validator_pod_uncommitted_changes": bool(dirty),
        "validator_pod_changed_files": [line[3:] for line in dirty.splitlines()],
    }


def snapshot(revision: str, destination: Path) -> str:
    """Extract the committed tree of `revision` into `destination` (nothing in the repository
    changes), add this checkout's `bench/` package, and return the full commit id."""
    found = subprocess.run(
        ["git", "rev-parse", "--verify", f"{revision}^{{commit}}"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    if found.returncode != 0:
        raise BenchError(f"--commit {revision}: not a commit ({found.stderr.strip()})")
    commit = found.stdout.strip()
    destination.mkdir(parents=True)
    archive = subprocess.Popen(
        ["git", "archive", "--format=tar", commit], cwd=REPO, stdout=subprocess.PIPE
    )
    extract = subprocess.run(
        ["tar", "-x", "-C", str(destination)], stdin=archive.stdout, check=False
    )
    if archive.stdout is not None:
        archive.stdout.close()
    if archive.wait() != 0 or extract.returncode != 0:
        raise BenchError(f"--commit {revision}: git archive | tar failed")
    shutil.copytree(
        REPO / "bench",
        destination / "bench",
        dirs_exist_ok=True,
        ignore=shutil.ignore_patterns("results", "__pycache__"),
    )
    return commit


def check_cores(harness_core: int, subject_core: int) -> None:
    """Both cores must exist and be usable by this process."""
    usable = os.sched_getaffinity(0)
    for core in (harness_core, subject_core):
        if core not in usable:
            raise BenchError(f"core {core} is not available (usable: {sorted(usable)})")
    if harness_core == subject_core:
        raise BenchError("the harness and the process under test need different cores")
