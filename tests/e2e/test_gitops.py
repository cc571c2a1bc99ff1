"""GitOps: the manifests and samples render with `kubectl kustomize`, `kubectl apply -k` twice
in a row changes nothing the second time, and Argo CD's health scripts read the real status
objects the operator writes."""

from __future__ import annotations

import re

import yaml

from testenv.demo.cluster import MANIFESTS, SAMPLES, Kubectl
from tests.e2e.conftest import Setting
from tests.e2e.flows import samples
from tests.support.argocd import evaluate_health
from tests.support.e2e import PipelineUnderTest, eventually

APPLIED = re.compile(r"^(\S+) (created|configured|unchanged)$")


def rendered_kinds(kubectl: Kubectl, directory: str) -> list[str]:
    """The kinds `kubectl kustomize` renders in a directory."""
    documents = yaml.safe_load_all(kubectl("kustomize", directory))
    return sorted(doc["kind"] for doc in documents if doc)


def resource_versions(kubectl: Kubectl) -> dict[str, str]:
    """`kind/name` → resourceVersion of every object in manifests/."""
    found = kubectl.json("get", "-k", str(MANIFESTS))
    return {
        f"{item['kind'].lower()}/{item['metadata']['name']}": item["metadata"]["resourceVersion"]
        for item in found["items"]
    }


def test_the_manifests_and_the_samples_render_with_kustomize(kubectl: Kubectl) -> None:
    kinds = rendered_kinds(kubectl, str(MANIFESTS))
    assert kinds.count("CustomResourceDefinition") == 2
    assert {
        "Namespace",
        "ServiceAccount",
        "ClusterRole",
        "ClusterRoleBinding",
        "Deployment",
    } <= set(kinds)
    assert rendered_kinds(kubectl, str(SAMPLES)) == [
        "QuarantinePipeline",
        "Secret",
        "Secret",
        "Secret",
        "Secret",
        "ValidationSchema",
    ]


def test_applying_the_manifests_twice_changes_nothing_the_second_time(
    kubectl: Kubectl, installed: str
) -> None:
    kubectl("apply", "-k", str(MANIFESTS))
    before = resource_versions(kubectl)
    second = kubectl("apply", "-k", str(MANIFESTS)).splitlines()
    outcomes = {}
    for line in second:
        match = APPLIED.match(line)
        assert match, f"unexpected kubectl apply output: {line!r}"
        outcomes[match[1]] = match[2]
    assert set(outcomes.values()) == {"unchanged"}, outcomes
    after = resource_versions(kubectl)
    assert after == before


def test_argo_cd_reads_progressing_and_degraded_from_the_operators_status(
    kubectl: Kubectl, namespace: str, setting: Setting
) -> None:
    # No pod runner here: the pods stay Pending, so the pipeline keeps progressing.
    kubectl.apply(samples(kubectl, setting), namespace)
    pipeline = PipelineUnderTest(kubectl, namespace, setting.name)
    progressing = eventually(
        lambda: (
            (found := pipeline.get()).get("status", {}).get("observedGeneration")
            and evaluate_health(found).status == "Progressing"
            and found
        ),
        what="the operator's status of a pipeline whose pods do not run yet",
    )
    assert "0/1 validator pods ready" in evaluate_health(progressing).message
    schema = kubectl.json("get", "vs", "order-event", "-n", namespace)
    assert evaluate_health(schema).status == "Healthy"

    kubectl(
        "patch", "qp", setting.name, "-n", namespace, "--type=merge",
        "-p", '{"spec": {"schemaSelection": {"schemaRef": {"name": "no-such-schema"}}}}',
    )  # fmt: skip
    degraded = eventually(
        lambda: (
            (found := pipeline.get())["status"].get("observedGeneration")
            == found["metadata"]["generation"]
            and evaluate_health(found).status == "Degraded"
            and found
        ),
        what="the operator to report the missing schema",
    )
    assert "no-such-schema" in evaluate_health(degraded).message
