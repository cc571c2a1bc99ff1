"""The operator and the pod runner against the real apiserver.

The operator's tests' fixtures are reused (install with `kubectl apply -k manifests/`, a token of
the operator's ServiceAccount, the admin `Cluster`); the operator runs here the same way, as its
ServiceAccount, but watches `dqpr-*`: the operator tests' own operator (and other sessions on the
shared stack) watch `dqop-*`, so each pipeline has exactly one operator.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import kopf
import pytest
from kopf.testing import KopfRunner
from kubernetes import client

from quarantine_operator import handlers
from tests.conftest import PodRunnerFactory, StackEnv, kopf_running
from tests.integration.operator.cluster import Cluster
from tests.integration.operator.conftest import (  # noqa: F401 - fixtures used here
    cluster,
    installed,
    kubectl,
    operator_kubeconfig,
)
from tests.integration.validator.harness import Pipeline
from tests.support.polling import eventually
from validator_pod.domain.pipeline_config import Delivery

NAMESPACE_PREFIX = "dqpr-"


@pytest.fixture(scope="module")
def operator(operator_kubeconfig: Path) -> Iterator[KopfRunner]:  # noqa: F811 - the fixture
    """The operator, in-process as its ServiceAccount, watching `dqpr-*`; stats every 2 s."""
    previous = kopf.get_default_registry()
    with pytest.MonkeyPatch.context() as env:
        env.setenv("DQ_OPERATOR_KUBECONFIG", str(operator_kubeconfig))
        env.setenv("DQ_OPERATOR_METRICS_PORT", "0")
        env.setenv("DQ_OPERATOR_RECHECK_INTERVAL", "1")
        env.setenv("DQ_OPERATOR_STATS_INTERVAL", "2")
        kopf.set_default_registry(handlers.registry)
        try:
            args = [
                "run",
                "--standalone",
                f"--namespace={NAMESPACE_PREFIX}*",
                "-m",
                "quarantine_operator.handlers",
            ]
            with kopf_running(args) as runner:
                yield runner
        finally:
            kopf.set_default_registry(previous)
    assert runner.exception is None


@pytest.fixture
def namespace(
    cluster: Cluster,  # noqa: F811 - the fixture
    unique_name: str,
    pod_runner: PodRunnerFactory,
) -> Iterator[str]:
    """A fresh namespace (that the operator watches, when a test runs it). Afterwards its
    workloads are deleted while the test's pod runner still runs, so that it stops and
    finalises their pods (pods bound to a runner's deleted node would wait for the pod GC and
    keep the namespace Terminating), then the namespace."""
    name = f"{NAMESPACE_PREFIX}{unique_name}"
    cluster.core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    yield name
    cluster.apps.delete_collection_namespaced_deployment(name, propagation_policy="Foreground")
    cluster.core.delete_collection_namespaced_pod(name)
    eventually(
        lambda: not cluster.core.list_namespaced_pod(name).items,
        what=f"the pods of namespace {name} to be gone",
    )
    cluster.core.delete_namespace(name)


@pytest.fixture
async def topics(stack_env: StackEnv, unique_name: str, tmp_path: Path) -> AsyncIterator[Pipeline]:
    """The pipeline's topics (created) and bucket (deleted afterwards, with the topics)."""
    pipeline = Pipeline(
        stack=stack_env,
        name="orders",
        namespace=f"{NAMESPACE_PREFIX}{unique_name}",
        source=f"{unique_name}.raw",
        valid=f"{unique_name}.valid",
        quarantine=f"{unique_name}.dlq",
        bucket=unique_name[:63],
        group="",
        config_dir=tmp_path,
        partitions=2,
        delivery=Delivery.AT_LEAST_ONCE,
    )
    await pipeline.create_topics()
    yield pipeline
    await pipeline.delete_bucket()
    await pipeline.delete_topics()
