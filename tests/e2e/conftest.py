"""End-to-end tests: the product driven the way a user drives it, with kubectl, the pipeline's
REST API and Kafka producers and consumers, against the cluster of `DQ_E2E_KUBECONFIG` (default:
the local stack's).

What runs the operator and the pods depends on the cluster:
- the operator runs here as a local process (its ServiceAccount's token, watching `dqe2e-*`)
  unless the cluster runs its own operator Deployment with a ready replica (e.g. after
  scripts/kind-up);
- the dev-only pod runner (testenv.podrunner) runs the test namespace's pods only when the cluster
  has no Ready node of its own: on kind, the kubelet does;
- the REST API is reached at an API pod's IP where the pod runner runs the pods as local
  processes, and through `kubectl port-forward` of its Service otherwise
  (`PipelineUnderTest.api`).
Kafka, S3 and PostgreSQL are the local stack's.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from testenv.demo.cluster import (
    OPERATOR_NAMESPACE,
    Endpoints,
    Kubectl,
    Topics,
    ensure_namespace,
    has_ready_node,
    install,
    operator_kubeconfig,
)
from testenv.demo.producing import create_topics
from testenv.layout import REPO_ROOT
from testenv.podrunner import PodRunner
from tests.conftest import PodRunnerFactory, StackEnv
from tests.integration.validator.harness import Pipeline
from validator_pod.domain.pipeline_config import Delivery

NAMESPACE_PREFIX = "dqe2e-"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test under tests/e2e is marked `e2e`."""
    for item in items:
        if "/tests/e2e/" in str(item.path):
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def kubectl(stack_env: StackEnv) -> Kubectl:
    """kubectl as the cluster's admin, for the cluster under test."""
    kubeconfig = os.environ.get("DQ_E2E_KUBECONFIG") or str(stack_env.kubeconfig)
    return Kubectl(stack_env.kubectl, Path(kubeconfig))


@pytest.fixture(scope="session")
def installed(kubectl: Kubectl) -> str:
    """`kubectl apply -k manifests/` (CRDs, RBAC, operator Deployment); kubectl's output."""
    return install(kubectl)


@pytest.fixture(scope="session")
def operator(
    installed: str, kubectl: Kubectl, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Path | None]:
    """The operator: the cluster's own when its Deployment has a ready replica; else
    `python -m quarantine_operator` here, as its ServiceAccount, watching `dqe2e-*`, scraping
    stats every second. Yields the local operator's log file (None for the cluster's)."""
    deployment = kubectl.json(
        "get", "deployment", "dataquarantine-operator", "-n", OPERATOR_NAMESPACE
    )
    if (deployment.get("status") or {}).get("readyReplicas"):
        yield None
        return
    directory = tmp_path_factory.mktemp("operator")
    settings = {"DQ_OPERATOR_STATS_INTERVAL": "1", "DQ_OPERATOR_RECHECK_INTERVAL": "1"}
    config = operator_kubeconfig(kubectl, directory / "kubeconfig", duration="2h")
    log = directory / "operator.log"
    with log.open("ab") as output:
        process = subprocess.Popen(
            [
                sys.executable, "-m", "quarantine_operator",
                "--namespace", f"{NAMESPACE_PREFIX}*",
                "--kubeconfig", str(config),
                "--metrics-port", "0", "--liveness-port", "0",
            ],
            cwd=REPO_ROOT,
            env={**os.environ, **settings},
            stdout=output,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            yield log
        finally:
            process.terminate()
            returncode = process.wait(30)
    assert returncode == 0, f"the operator exited {returncode}: see {log}"


@pytest.fixture
def namespace(kubectl: Kubectl, unique_name: str, operator: Path | None) -> Iterator[str]:
    """A fresh namespace the operator watches; deleted afterwards."""
    name = f"{NAMESPACE_PREFIX}{unique_name}"
    ensure_namespace(kubectl, name)
    yield name
    kubectl("delete", "namespace", name, "--wait=false")


@pytest.fixture
def pods(
    kubectl: Kubectl, namespace: str, pod_runner: PodRunnerFactory
) -> Iterator[PodRunner | None]:
    """Whatever runs the namespace's pods: the dev-only pod runner when the cluster has no
    Ready node of its own (the local stack), else nothing (the cluster's kubelets).

    Afterwards the namespace's pipelines are deleted and their pods waited for while the
    runner still runs: without a kubelet, nobody else would finish their deletion."""
    runner = None if has_ready_node(kubectl) else pod_runner(namespace)
    yield runner
    kubectl("delete", "qp", "--all", "-n", namespace, "--wait=false")
    kubectl("wait", "--for=delete", "pods", "--all", "-n", namespace, "--timeout=60s", timeout=90)


@dataclass(frozen=True)
class Setting:
    """One test's pipeline: its name, topics and bucket on the local stack's services."""

    name: str
    topics: Topics
    endpoints: Endpoints
    token: str
    partitions: int


@pytest.fixture
async def setting(stack_env: StackEnv, unique_name: str) -> AsyncIterator[Setting]:
    """A pipeline name (unique: the quarantine database is shared), topics with 3 partitions
    (created) and a bucket (deleted afterwards with the topics)."""
    topics = Topics(
        f"{unique_name}.raw", f"{unique_name}.valid", f"{unique_name}.dlq", unique_name[:63]
    )
    await create_topics(
        stack_env.kafka_bootstrap, [topics.source, topics.valid, topics.quarantine], 3
    )
    yield Setting(
        name=f"orders-{uuid.uuid4().hex[:8]}",
        topics=topics,
        endpoints=Endpoints.from_env(stack_env.as_environ()),
        token=uuid.uuid4().hex,
        partitions=3,
    )
    cleanup = Pipeline(
        stack=stack_env,
        name="",
        namespace="",
        source=topics.source,
        valid=topics.valid,
        quarantine=topics.quarantine,
        bucket=topics.bucket,
        group="",
        config_dir=Path(),
        partitions=3,
        delivery=Delivery.AT_LEAST_ONCE,
    )
    await cleanup.delete_bucket()
    await cleanup.delete_topics()
