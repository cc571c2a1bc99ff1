"""The operator runs as its ServiceAccount (manifests/rbac): enough, and no more than needed."""

from __future__ import annotations

import httpx
import pytest

from .cluster import Kubectl
from .conftest import RunningOperator

ALLOWED = [
    ("patch", "deployments.apps"),
    ("create", "configmaps"),
    ("get", "secrets"),
    ("list", "pods"),
    ("patch", "quarantinepipelines.dataquarantine.io/status"),
    ("create", "events"),
]
DENIED = [
    ("list", "secrets"),
    ("watch", "secrets"),
    ("create", "secrets"),
    ("delete", "configmaps"),
    ("update", "deployments.apps"),
    ("create", "pods"),
    ("delete", "quarantinepipelines.dataquarantine.io"),
    ("create", "validationschemas.dataquarantine.io"),
    ("patch", "namespaces"),
    ("create", "clusterrolebindings.rbac.authorization.k8s.io"),
]


@pytest.mark.parametrize(("verb", "resource"), ALLOWED + DENIED)
def test_the_operator_account_may_do_only_what_the_operator_does(
    operator_kubectl: Kubectl, verb: str, resource: str
) -> None:
    answer = operator_kubectl("auth", "can-i", verb, resource, "-A", check=False).strip()
    assert answer == ("yes" if (verb, resource) in ALLOWED else "no")


def test_the_operator_serves_its_reconciliation_metrics(operator: RunningOperator) -> None:
    response = httpx.get(f"http://127.0.0.1:{operator.metrics_port}/metrics", timeout=5)
    response.raise_for_status()
    assert (
        'dataquarantine_operator_reconciliations_total{kind="QuarantinePipeline",result="success"}'
        in response.text
    )
    assert "dataquarantine_operator_reconciliation_duration_seconds_bucket" in response.text
