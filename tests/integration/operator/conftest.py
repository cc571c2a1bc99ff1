"""The operator under test: installed with `kubectl apply -k manifests/`, then run in-process
(kopf's KopfRunner) with a token of its own ServiceAccount, never as cluster admin.

One operator serves the whole session; it watches the namespaces `dqop-*`, and every test gets
a fresh one. The CRDs are cluster-scoped and shared: applied once per session.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import kopf
import pytest
import yaml
from kopf.testing import KopfRunner
from kubernetes import client
from kubernetes.config import new_client_from_config

from quarantine_operator import handlers
from quarantine_operator.api.v1alpha1 import QUARANTINE_PIPELINE, VALIDATION_SCHEMA
from tests.conftest import StackEnv, kopf_running

from .cluster import (
    MANIFESTS,
    NAMESPACE_PREFIX,
    OPERATOR_ACCOUNT,
    OPERATOR_NAMESPACE,
    Cluster,
    Kubectl,
)


@pytest.fixture(scope="session")
def kubectl(stack_env: StackEnv) -> Kubectl:
    """kubectl as the cluster admin."""
    return Kubectl(stack_env.kubectl, stack_env.kubeconfig)


@pytest.fixture(scope="session")
def installed(kubectl: Kubectl) -> str:
    """`kubectl apply -k manifests/`, really applied; returns kubectl's output."""
    output = kubectl("apply", "-k", str(MANIFESTS))
    kubectl(
        "wait",
        "--for=condition=Established",
        "--timeout=30s",
        f"crd/{VALIDATION_SCHEMA.crd_name}",
        f"crd/{QUARANTINE_PIPELINE.crd_name}",
    )
    return output


@pytest.fixture(scope="session")
def operator_kubeconfig(
    installed: str, kubectl: Kubectl, stack_env: StackEnv, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """A kubeconfig with a TokenRequest token of the operator's ServiceAccount (manifests/rbac)
    and the cluster's CA from the admin kubeconfig."""
    token = kubectl(
        "create", "token", OPERATOR_ACCOUNT, "-n", OPERATOR_NAMESPACE, "--duration=2h"
    ).strip()
    admin = yaml.safe_load(stack_env.kubeconfig.read_text())
    contexts = {entry["name"]: entry["context"] for entry in admin["contexts"]}
    clusters = {entry["name"]: entry["cluster"] for entry in admin["clusters"]}
    cluster = clusters[contexts[admin["current-context"]]["cluster"]]
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "local",
                "cluster": {
                    "server": cluster["server"],
                    "certificate-authority-data": cluster["certificate-authority-data"],
                },
            }
        ],
        "users": [{"name": OPERATOR_ACCOUNT, "user": {"token": token}}],
        "contexts": [
            {"name": "operator", "context": {"cluster": "local", "user": OPERATOR_ACCOUNT}}
        ],
        "current-context": "operator",
    }
    path = tmp_path_factory.mktemp("operator") / "kubeconfig"
    path.write_text(yaml.safe_dump(config))
    path.chmod(0o600)
    return path


@pytest.fixture(scope="session")
def operator_kubectl(stack_env: StackEnv, operator_kubeconfig: Path) -> Kubectl:
    """kubectl as the operator's ServiceAccount."""
    return Kubectl(stack_env.kubectl, operator_kubeconfig)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass(frozen=True)
class RunningOperator:
    """The operator under test."""

    runner: KopfRunner
    metrics_port: int


@pytest.fixture(scope="session")
def operator(operator_kubeconfig: Path) -> Iterator[RunningOperator]:
    """The operator, running in-process as its ServiceAccount, watching `dqop-*`."""
    metrics_port = _free_port()
    previous = kopf.get_default_registry()
    with pytest.MonkeyPatch.context() as env:
        env.setenv("DQ_OPERATOR_KUBECONFIG", str(operator_kubeconfig))
        env.setenv("DQ_OPERATOR_METRICS_PORT", str(metrics_port))
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
                yield RunningOperator(runner, metrics_port)
        finally:
            kopf.set_default_registry(previous)
    assert runner.exception is None


@pytest.fixture(scope="session")
def cluster(stack_env: StackEnv) -> Iterator[Cluster]:
    """The cluster, as its admin."""
    api = new_client_from_config(config_file=str(stack_env.kubeconfig))
    with api:
        yield Cluster(api)


@pytest.fixture
def namespace(cluster: Cluster, unique_name: str, operator: RunningOperator) -> Iterator[str]:
    """A fresh namespace that the running operator watches; deleted afterwards."""
    name = f"{NAMESPACE_PREFIX}{unique_name}"
    cluster.core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    yield name
    cluster.core.delete_namespace(name)
