"""`kubectl apply -k manifests/` installs the operator; the samples then come to life."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import yaml

from quarantine_operator.api.v1alpha1 import QUARANTINE_PIPELINE, VALIDATION_SCHEMA
from quarantine_operator.render import CONFIG_HASH_ANNOTATION, MANAGED_BY
from tests.conftest import StackEnv
from tests.support.polling import eventually

from .cluster import MANIFESTS, OPERATOR_NAMESPACE, Cluster, Kubectl, has_condition


def _columns(line: str) -> list[str]:
    return re.split(r"\s{2,}", line.strip())


def test_the_manifests_really_apply_every_object_of_the_operator(
    installed: str, kubectl: Kubectl
) -> None:
    for applied in (
        "namespace/dataquarantine-system",
        "customresourcedefinition.apiextensions.k8s.io/validationschemas.dataquarantine.io",
        "customresourcedefinition.apiextensions.k8s.io/quarantinepipelines.dataquarantine.io",
        "serviceaccount/dataquarantine-operator",
        "clusterrole.rbac.authorization.k8s.io/dataquarantine-operator",
        "clusterrolebinding.rbac.authorization.k8s.io/dataquarantine-operator",
        "deployment.apps/dataquarantine-operator",
    ):
        assert re.search(rf"^{re.escape(applied)} (created|configured|unchanged)$", installed, re.M)
    assert "dry run" not in installed

    deployment = json.loads(
        kubectl("get", "deployment", "dataquarantine-operator", "-n", OPERATOR_NAMESPACE, "-o=json")
    )
    pod = deployment["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert pod["serviceAccountName"] == "dataquarantine-operator"
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["resources"]["limits"]


def test_the_samples_become_ready_and_render_owned_children_that_kubectl_lists(
    namespace: str, kubectl: Kubectl, cluster: Cluster
) -> None:
    kubectl("apply", "-k", str(MANIFESTS / "samples"), "-n", namespace)

    schema = eventually(
        lambda: cluster.with_condition(
            VALIDATION_SCHEMA, namespace, "order-event", "Ready", "True", "SchemaPublished"
        ),
        what="the sample schema to be Ready",
    )
    assert schema["status"]["latestVersion"] == 1
    # No kubelet here: the pods never run, and the pipeline says so.
    pipeline = eventually(
        lambda: cluster.with_condition(
            QUARANTINE_PIPELINE,
            namespace,
            "orders",
            "Ready",
            "False",
            "DeploymentUnavailable",
            "0/1 validator pods ready",
        ),
        what="the sample pipeline to report that no validator pod is ready",
    )
    # No finalizers: deleting either kind never waits for the operator.
    assert not pipeline["metadata"].get("finalizers")
    assert not schema["metadata"].get("finalizers")
    status = pipeline["status"]
    assert status["observedGeneration"] == pipeline["metadata"]["generation"]
    assert has_condition(pipeline, "Reconciling", "True")
    assert has_condition(pipeline, "Stalled", "False")
    assert status["schemas"] == [{"name": "order-event", "version": 1}]
    assert status["apiEndpoint"] == f"http://orders-api.{namespace}.svc"
    assert status["replicas"] == 1
    assert status["readyReplicas"] == 0

    uid = pipeline["metadata"]["uid"]
    config_map = cluster.config_map(namespace, "orders-config")
    validator = cluster.deployment(namespace, "orders-validator")
    api = cluster.deployment(namespace, "orders-api")
    service = cluster.service(namespace, "orders-api")
    for child in (config_map, validator, api, service):
        assert child is not None
        (owner,) = child.metadata.owner_references
        assert (owner.kind, owner.name, owner.uid) == (QUARANTINE_PIPELINE.kind, "orders", uid)
        assert owner.controller is True
        assert child.metadata.labels["app.kubernetes.io/managed-by"] == MANAGED_BY
        assert child.metadata.labels["app.kubernetes.io/instance"] == "orders"
    assert config_map is not None
    assert validator is not None
    assert "schema.order-event.1.json" in config_map.data
    assert "pipeline.yaml" in config_map.data
    template = validator.spec.template
    assert template.metadata.annotations[CONFIG_HASH_ANNOTATION] == status["configHash"]
    assert template.spec.containers[0].command[:4] == ["python", "-m", "validator_pod", "run"]

    vs_table = kubectl("get", "vs", "-n", namespace).splitlines()
    assert _columns(vs_table[0]) == ["NAME", "TYPE", "LATEST", "COMPATIBILITY", "READY", "AGE"]
    assert _columns(vs_table[1])[:5] == ["order-event", "JSON_SCHEMA", "1", "BACKWARD", "True"]
    qp_table = kubectl("get", "qp", "-n", namespace).splitlines()
    assert _columns(qp_table[0]) == [
        "NAME",
        "SOURCE",
        "SCHEMA",
        "REPLICAS",
        "READY",
        "QUARANTINED",
        "AGE",
    ]
    assert _columns(qp_table[1])[:5] == ["orders", '["orders.raw"]', "order-event", "1", "False"]
    assert "INVALID/S" in kubectl("get", "qp", "-n", namespace, "-o", "wide").splitlines()[0]
    everything = kubectl("get", "dataquarantine", "-n", namespace, "-o", "name").split()
    assert sorted(everything) == [
        "quarantinepipeline.dataquarantine.io/orders",
        "validationschema.dataquarantine.io/order-event",
    ]


def test_the_argocd_component_adds_both_health_checks_to_argocd_cm(
    stack_env: StackEnv, tmp_path: Path
) -> None:
    (tmp_path / "argocd-cm.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: argocd-cm\n"
        "data:\n  url: https://argocd.example.com\n"
    )
    component = os.path.relpath(MANIFESTS / "argocd", tmp_path)
    (tmp_path / "kustomization.yaml").write_text(
        yaml.safe_dump(
            {
                "apiVersion": "kustomize.config.k8s.io/v1beta1",
                "kind": "Kustomization",
                "namespace": "argocd",
                "resources": ["argocd-cm.yaml"],
                "components": [component],
            }
        )
    )
    built = Kubectl(stack_env.kubectl, stack_env.kubeconfig)("kustomize", str(tmp_path))

    (config_map,) = list(yaml.safe_load_all(built))
    assert config_map["metadata"] == {"name": "argocd-cm", "namespace": "argocd"}
    scripts = MANIFESTS / "argocd" / "resource_customizations" / "dataquarantine.io"
    assert config_map["data"] == {
        "url": "https://argocd.example.com",
        "resource.customizations.health.dataquarantine.io_QuarantinePipeline": (
            scripts / "QuarantinePipeline" / "health.lua"
        ).read_text(),
        "resource.customizations.health.dataquarantine.io_ValidationSchema": (
            scripts / "ValidationSchema" / "health.lua"
        ).read_text(),
    }
