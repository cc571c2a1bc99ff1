"""ValidationSchema versions: refused changes keep the live version, accepted ones roll pods."""

from __future__ import annotations

from typing import Any

from quarantine_operator.api.v1alpha1 import VALIDATION_SCHEMA
from tests.support.polling import eventually

from .cluster import (
    Cluster,
    condition,
    create_shop_pipeline,
    has_condition,
    order_schema,
    schema_spec,
)


def _pipeline_on_schema_v1(cluster: Cluster, namespace: str) -> dict[str, Any]:
    """Schema `orders` at version 1 and pipeline `shop` following its latest version, applied."""
    create_shop_pipeline(cluster, namespace)
    return eventually(
        lambda: (
            (found := cluster.pipeline(namespace, "shop"))
            and (found.get("status") or {}).get("configHash")
            and cluster.config_hash(namespace, "shop-validator") == found["status"]["configHash"]
            and found
        ),
        what="the pipeline to run on version 1",
    )


def test_an_incompatible_change_is_refused_and_the_previous_version_stays_live(
    namespace: str, cluster: Cluster
) -> None:
    applied = _pipeline_on_schema_v1(cluster, namespace)
    live_hash = applied["status"]["configHash"]

    # A new required field: the new schema cannot read records written with version 1.
    breaking = order_schema(currency={"type": "string"})
    breaking["required"] = ["id", "currency"]
    cluster.patch(VALIDATION_SCHEMA, namespace, "orders", {"spec": {"schema": breaking}})

    schema = eventually(
        lambda: cluster.with_condition(
            VALIDATION_SCHEMA, namespace, "orders", "Ready", "False", "IncompatibleSchema"
        ),
        what="the change to be refused",
    )
    message = condition(schema, "Ready")["message"]  # type: ignore[index]
    assert "BACKWARD" in message
    assert "currency" in message
    assert has_condition(schema, "Stalled", "True", "IncompatibleSchema")
    assert schema["status"]["observedGeneration"] == schema["metadata"]["generation"]
    assert schema["status"]["latestVersion"] == 1
    assert [entry["version"] for entry in schema["status"]["versions"]] == [1]
    assert cluster.config_map(namespace, "orders-v2") is None
    config = cluster.config_map(namespace, "shop-config")
    assert config is not None
    assert "schema.orders.1.json" in config.data
    assert not any(key.startswith("schema.orders.2") for key in config.data)
    assert cluster.config_hash(namespace, "shop-validator") == live_hash
    pipeline = cluster.pipeline(namespace, "shop")
    assert pipeline is not None
    assert pipeline["status"]["schemas"] == [{"name": "orders", "version": 1}]
    eventually(
        lambda: any(
            event[:2] == ("Warning", "IncompatibleSchema")
            for event in cluster.events(namespace, "orders")
        ),
        what="a Warning Event about the refused change",
    )


def test_a_compatible_change_publishes_the_next_version_and_rolls_the_pods(
    namespace: str, cluster: Cluster
) -> None:
    applied = _pipeline_on_schema_v1(cluster, namespace)
    old_hash = applied["status"]["configHash"]

    # A new optional field: version 2 reads everything version 1 accepted.
    compatible = order_schema(note={"type": "string", "maxLength": 200})
    cluster.patch(VALIDATION_SCHEMA, namespace, "orders", {"spec": {"schema": compatible}})

    new_hash = eventually(
        lambda: (found := cluster.config_hash(namespace, "shop-validator")) != old_hash and found,
        what="the validator's pod template to get a new config hash",
    )
    assert cluster.config_hash(namespace, "shop-api") == new_hash
    schema = cluster.schema(namespace, "orders")
    assert schema is not None
    versions = schema["status"]["versions"]
    assert [entry["version"] for entry in versions] == [1, 2]
    assert versions[0]["fingerprint"] != versions[1]["fingerprint"]
    assert all(len(entry["fingerprint"]) == 64 and entry["createdAt"] for entry in versions)
    assert has_condition(schema, "Ready", "True", "SchemaPublished", "version 2 is live")
    config = cluster.config_map(namespace, "shop-config")
    assert config is not None
    assert "schema.orders.2.json" in config.data
    version_1 = cluster.config_map(namespace, "orders-v1")
    assert version_1 is not None
    assert version_1.immutable is True
    eventually(
        lambda: (
            (found := cluster.pipeline(namespace, "shop"))
            and found["status"]["schemas"] == [{"name": "orders", "version": 2}]
            and found["status"]["configHash"] == new_hash
        ),
        what="the pipeline status to show version 2",
    )

    # The same document with its keys in another order is the same version: nothing new.
    reordered = dict(reversed(list(compatible.items())))
    cluster.patch(VALIDATION_SCHEMA, namespace, "orders", {"spec": {"schema": reordered}})
    eventually(
        lambda: (
            (found := cluster.schema(namespace, "orders"))
            and found["status"]["observedGeneration"] == found["metadata"]["generation"]
        ),
        what="the reordered schema to be observed",
    )
    schema = cluster.schema(namespace, "orders")
    assert schema is not None
    assert schema["status"]["latestVersion"] == 2
    assert cluster.config_map(namespace, "orders-v3") is None


def test_a_schema_whose_rule_does_not_compile_is_refused_as_invalid(
    namespace: str, cluster: Cluster
) -> None:
    rules = [{"name": "positive", "expression": "record.amount >", "message": "must be positive"}]
    cluster.create(VALIDATION_SCHEMA, namespace, "broken", schema_spec(order_schema(), rules=rules))

    schema = eventually(
        lambda: cluster.with_condition(
            VALIDATION_SCHEMA, namespace, "broken", "Ready", "False", "InvalidSchema"
        ),
        what="the schema to be refused",
    )
    assert "rule 'positive' is not valid CEL" in condition(schema, "Ready")["message"]  # type: ignore[index]
    assert "latestVersion" not in schema["status"]
    assert cluster.config_map(namespace, "broken-v1") is None
