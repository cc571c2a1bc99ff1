"""Session fixtures that give integration and end-to-end tests the real local stack.

A running stack (`python -m testenv up`) is reused; otherwise the session starts one and stops it
at the end. When a service cannot start, the run fails with the reason: nothing is skipped.
"""

from __future__ import annotations

import gc
import os
import uuid
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import kopf
import pytest
from kopf.testing import KopfRunner

from testenv.errors import StackError
from testenv.layout import Layout
from testenv.podrunner import NODE_NAME, PodRunner, RunnerOptions
from testenv.stack import Stack


@dataclass(frozen=True)
class StackEnv:
    """Endpoints and credentials of the running local stack."""

    stack: Stack
    kafka_bootstrap: str
    postgres_dsn: str
    s3_endpoint: str
    s3_access_key: str
    s3_secret_key: str
    kubeconfig: Path
    kubectl: Path
    kube_api: str

    def as_environ(self) -> dict[str, str]:
        """The stack's env file, for subprocesses."""
        return self.stack.env()


@pytest.fixture(scope="session")
def stack_env() -> Iterator[StackEnv]:
    """The local stack, started on demand; at the end this session stops only the services it
    started itself (another session may share the stack, or have stopped one service on purpose).
    """
    stack = Stack(Layout.from_environment())
    try:
        started_here = stack.up()
        env = stack.env()
    except StackError as exc:
        pytest.fail(f"the local stack could not start: {exc}", pytrace=False)
    try:
        yield StackEnv(
            stack=stack,
            kafka_bootstrap=env["DQ_KAFKA_BOOTSTRAP"],
            postgres_dsn=env["DQ_POSTGRES_DSN"],
            s3_endpoint=env["DQ_S3_ENDPOINT"],
            s3_access_key=env["DQ_S3_ACCESS_KEY"],
            s3_secret_key=env["DQ_S3_SECRET_KEY"],
            kubeconfig=Path(env["KUBECONFIG"]),
            kubectl=Path(env["DQ_KUBECTL"]),
            kube_api=env["DQ_KUBE_API"],
        )
    finally:
        if started_here and not os.environ.get("DQ_KEEP_STACK"):
            stack.down(started_here)


@pytest.fixture
def unique_name(request: pytest.FixtureRequest) -> str:
    """A short name unique to this test, safe for topics, buckets, namespaces and databases."""
    base = "".join(c if c.isalnum() else "-" for c in request.node.name.lower())[:24].strip("-")
    return f"{base}-{uuid.uuid4().hex[:8]}"


@contextmanager
def kopf_running(
    args: Sequence[str], *, timeout: float = 60, registry: kopf.OperatorRegistry | None = None
) -> Iterator[KopfRunner]:
    """Run kopf in a thread (KopfRunner) and collect its leftovers afterwards.

    kopf's event loop ends without closing its aiohttp watch connections; their sockets are
    garbage-collected later and would raise ResourceWarning inside whichever test runs next.
    Collecting them here, with that one warning ignored, keeps `filterwarnings=error` meaningful.
    """
    with KopfRunner(list(args), timeout=timeout, registry=registry) as runner:
        yield runner
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()


PodRunnerFactory = Callable[[str | None], PodRunner]


@pytest.fixture
def pod_runner(
    stack_env: StackEnv, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[PodRunnerFactory]:
    """Starts the dev-only kubelet stand-in (testenv.podrunner) for a namespace: it binds the
    DataQuarantine pods there to a Node of its own and runs them as processes, until the test
    ends. Give the test's namespace: the stack is shared, and another session's pods are not
    this test's to run (None means every namespace). Each runner registers a node named
    `dataquarantine-local-<random>` and keeps its pods' directories under a temporary
    directory; the test fails if a runner thread met an unexpected error."""
    started: list[PodRunner] = []

    def start(namespace: str | None) -> PodRunner:
        runner = PodRunner(
            stack_env.kubeconfig,
            tmp_path_factory.mktemp("podrunner"),
            namespace,
            options=RunnerOptions(node_name=f"{NODE_NAME}-{uuid.uuid4().hex[:8]}"),
        )
        runner.start()
        started.append(runner)
        return runner

    yield start
    for runner in reversed(started):
        runner.stop()
    failures = [failure for runner in started for failure in runner.failures]
    assert not failures, f"the pod runner failed: {failures}"
