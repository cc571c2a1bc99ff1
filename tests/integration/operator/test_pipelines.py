"""QuarantinePipeline: waits for what is missing, repairs drift, pauses, and cleans up."""

from __future__ import annotations

import json

from quarantine_operator.api.v1alpha1 import (
    PAUSE_RECONCILIATION_ANNOTATION,
    QUARANTINE_PIPELINE,
    VALIDATION_SCHEMA,
)
from tests.support.polling import eventually

from .cluster import (
    DATABASE_SECRET,
    STORAGE_SECRET,
    Cluster,
    Kubectl,
    condition,
    create_pipeline_secrets,
    create_shop_pipeline,
    has_condition,
    order_schema,
    pipeline_spec,
    schema_spec,
)


def _applied(cluster: Cluster, namespace: str, name: str = "shop") -> bool:
    found = cluster.pipeline(namespace, name)
    status = (found or {}).get("status") or {}
    return (
        bool(status.get("configHash"))
        and cluster.deployment(namespace, f"{name}-validator") is not None
    )


def test_a_pipeline_waiting_for_a_missing_schema_recovers_when_it_appears(
    namespace: str, cluster: Cluster
) -> None:
    create_pipeline_secrets(cluster, namespace)
    cluster.create(QUARANTINE_PIPELINE, namespace, "shop", pipeline_spec("orders"))

    pipeline = eventually(
        lambda: cluster.with_condition(
            QUARANTINE_PIPELINE, namespace, "shop", "Ready", "False", "SchemaNotFound"
        ),
        what="the pipeline to report the missing schema",
    )
    assert has_condition(pipeline, "Stalled", "True", "SchemaNotFound")
    assert "ValidationSchema 'orders' does not exist" in condition(pipeline, "Ready")["message"]  # type: ignore[index]
    assert cluster.deployment(namespace, "shop-validator") is None

    cluster.create(VALIDATION_SCHEMA, namespace, "orders", schema_spec(order_schema()))

    eventually(lambda: _applied(cluster, namespace), what="the pipeline to recover by itself")
    pipeline = cluster.pipeline(namespace, "shop")
    assert has_condition(pipeline, "Stalled", "False")
    assert pipeline is not None
    assert pipeline["status"]["schemas"] == [{"name": "orders", "version": 1}]


def test_a_pipeline_waiting_for_a_missing_secret_recovers_when_it_appears(
    namespace: str, cluster: Cluster
) -> None:
    cluster.create(VALIDATION_SCHEMA, namespace, "orders", schema_spec(order_schema()))
    cluster.create_secret(namespace, DATABASE_SECRET, {"dsn": "postgresql://test@localhost/test"})
    cluster.create_secret(namespace, STORAGE_SECRET, {"accessKey": "test-access"})
    cluster.create(QUARANTINE_PIPELINE, namespace, "shop", pipeline_spec("orders"))

    pipeline = eventually(
        lambda: cluster.with_condition(
            QUARANTINE_PIPELINE, namespace, "shop", "Ready", "False", "SecretNotFound"
        ),
        what="the pipeline to report the incomplete Secret",
    )
    assert (
        f"Secret '{STORAGE_SECRET}' lacks the key(s) secretKey"
        in condition(  # type: ignore[index]
            pipeline, "Ready"
        )["message"]
    )
    assert cluster.deployment(namespace, "shop-validator") is None

    cluster.core.delete_namespaced_secret(STORAGE_SECRET, namespace)
    cluster.create_secret(
        namespace, STORAGE_SECRET, {"accessKey": "test-access", "secretKey": "test-secret"}
    )

    eventually(lambda: _applied(cluster, namespace), what="the pipeline to recover by itself")
    config = cluster.config_map(namespace, "shop-config")
    assert config is not None
    assert "test-secret" not in str(config.data)


def test_deleted_and_edited_children_come_back_and_deleting_the_pipeline_removes_them(
    namespace: str, cluster: Cluster
) -> None:
    create_shop_pipeline(cluster, namespace)
    eventually(lambda: _applied(cluster, namespace), what="the pipeline's children")
    validator = cluster.deployment(namespace, "shop-validator")
    assert validator is not None

    cluster.apps.delete_namespaced_deployment("shop-validator", namespace)
    eventually(
        lambda: (
            (found := cluster.deployment(namespace, "shop-validator"))
            and found.metadata.uid != validator.metadata.uid
        ),
        what="the deleted validator Deployment to come back",
    )
    cluster.apps.patch_namespaced_deployment("shop-api", namespace, {"spec": {"replicas": 5}})
    cluster.core.patch_namespaced_config_map(
        "shop-config", namespace, {"data": {"pipeline.yaml": "edited: by hand"}}
    )
    eventually(
        lambda: (
            (api := cluster.deployment(namespace, "shop-api")) is not None
            and api.spec.replicas == 1
            and (config := cluster.config_map(namespace, "shop-config")) is not None
            and config.data["pipeline.yaml"] != "edited: by hand"
        ),
        what="the edited API Deployment and ConfigMap to be repaired",
    )

    cluster.delete(QUARANTINE_PIPELINE, namespace, "shop")
    eventually(
        lambda: (
            cluster.config_map(namespace, "shop-config") is None
            and cluster.deployment(namespace, "shop-validator") is None
            and cluster.deployment(namespace, "shop-api") is None
            and cluster.service(namespace, "shop-api") is None
            and not cluster.apps.list_namespaced_replica_set(namespace).items
            and not cluster.core.list_namespaced_pod(namespace).items
        ),
        what="the garbage collector to delete every child",
    )
    # The schema's versions belong to the schema, not to the pipeline.
    assert cluster.config_map(namespace, "orders-v1") is not None


def test_the_pause_annotation_stops_every_write_until_it_is_removed(
    namespace: str, cluster: Cluster
) -> None:
    create_shop_pipeline(cluster, namespace)
    eventually(lambda: _applied(cluster, namespace), what="the pipeline's children")

    cluster.patch(
        QUARANTINE_PIPELINE,
        namespace,
        "shop",
        {"metadata": {"annotations": {PAUSE_RECONCILIATION_ANNOTATION: "true"}}},
    )
    eventually(
        lambda: has_condition(cluster.pipeline(namespace, "shop"), "ReconciliationPaused", "True"),
        what="the pipeline to report that reconciliation is paused",
    )
    cluster.patch(QUARANTINE_PIPELINE, namespace, "shop", {"spec": {"replicas": 3}})
    cluster.apps.patch_namespaced_deployment("shop-api", namespace, {"spec": {"replicas": 4}})
    eventually(
        lambda: (
            (found := cluster.pipeline(namespace, "shop"))
            and found["status"]["observedGeneration"] == found["metadata"]["generation"]
        ),
        what="the paused pipeline to observe its new generation",
    )
    validator = cluster.deployment(namespace, "shop-validator")
    api = cluster.deployment(namespace, "shop-api")
    assert validator is not None
    assert api is not None
    assert validator.spec.replicas == 1
    assert api.spec.replicas == 4

    cluster.patch(
        QUARANTINE_PIPELINE,
        namespace,
        "shop",
        {"metadata": {"annotations": {PAUSE_RECONCILIATION_ANNOTATION: None}}},
    )
    eventually(
        lambda: (
            (validator := cluster.deployment(namespace, "shop-validator")) is not None
            and validator.spec.replicas == 3
            and (api := cluster.deployment(namespace, "shop-api")) is not None
            and api.spec.replicas == 1
            and condition(cluster.pipeline(namespace, "shop"), "ReconciliationPaused") is None
        ),
        what="reconciliation to resume",
    )


def test_a_paused_pipeline_scales_its_validators_to_zero_and_is_ready(
    namespace: str, cluster: Cluster
) -> None:
    create_shop_pipeline(cluster, namespace, state="paused")

    pipeline = eventually(
        lambda: cluster.with_condition(
            QUARANTINE_PIPELINE, namespace, "shop", "Ready", "True", "PipelinePaused"
        ),
        what="the paused pipeline to be Ready",
    )
    assert "paused" in condition(pipeline, "Ready")["message"]  # type: ignore[index]
    validator = cluster.deployment(namespace, "shop-validator")
    api = cluster.deployment(namespace, "shop-api")
    assert validator is not None
    assert api is not None
    assert validator.spec.replicas == 0
    assert api.spec.replicas == 1
    assert pipeline["status"]["replicas"] == 0


def test_turning_the_api_off_deletes_its_deployment_and_service(
    namespace: str, cluster: Cluster
) -> None:
    create_shop_pipeline(cluster, namespace)
    eventually(
        lambda: _applied(cluster, namespace) and cluster.service(namespace, "shop-api"),
        what="the pipeline's API",
    )

    cluster.patch(QUARANTINE_PIPELINE, namespace, "shop", {"spec": {"api": {"enabled": False}}})

    eventually(
        lambda: (
            cluster.deployment(namespace, "shop-api") is None
            and cluster.service(namespace, "shop-api") is None
            and "apiEndpoint" not in (cluster.pipeline(namespace, "shop") or {})["status"]
        ),
        what="the API Deployment and Service to be deleted",
    )
    assert cluster.deployment(namespace, "shop-validator") is not None


def test_kubectl_scale_sets_the_validator_replicas_through_the_scale_subresource(
    namespace: str, cluster: Cluster, kubectl: Kubectl
) -> None:
    create_shop_pipeline(cluster, namespace)
    eventually(lambda: _applied(cluster, namespace), what="the pipeline's children")

    kubectl("scale", "qp/shop", "--replicas=3", "-n", namespace)

    eventually(
        lambda: (
            (validator := cluster.deployment(namespace, "shop-validator")) is not None
            and validator.spec.replicas == 3
        ),
        what="the validator Deployment to be scaled",
    )
    scale = json.loads(
        kubectl("get", "qp/shop", "--subresource=scale", "-n", namespace, "-o", "json")
    )
    assert scale["spec"]["replicas"] == 3
    assert scale["status"]["selector"] == (
        "app.kubernetes.io/component=validator,app.kubernetes.io/instance=shop,"
        "app.kubernetes.io/name=dataquarantine"
    )
