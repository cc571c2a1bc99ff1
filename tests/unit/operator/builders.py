"""Builders shared by the operator's unit tests."""

from __future__ import annotations

from typing import Any

from quarantine_operator.api.v1alpha1 import QuarantinePipelineSpec
from validator_pod.domain.schemas import SchemaType, SchemaVersion


def pipeline_document(**overrides: Any) -> dict[str, Any]:
    """A complete pipeline spec in wire format; top-level keys can be overridden."""
    document: dict[str, Any] = {
        "kafka": {"bootstrapServers": "kafka:9092", "secretRef": {"name": "kafka-creds"}},
        "source": {"topics": ["orders.raw"]},
        "sinks": {"validTopic": "orders.valid", "quarantineTopic": "orders.dlq"},
        "schemaSelection": {"schemaRef": {"name": "orders"}},
        "quarantine": {
            "storage": {
                "endpoint": "s3.storage:9000",
                "bucket": "dq-payloads",
                "secretRef": {"name": "s3-creds"},
            },
            "database": {"secretRef": {"name": "pg-creds"}},
            "retention": "P14D",
        },
        "api": {"auth": {"secretRef": {"name": "api-tokens"}}},
    }
    document.update(overrides)
    return document


def pipeline_spec(**overrides: Any) -> QuarantinePipelineSpec:
    """A parsed pipeline spec."""
    return QuarantinePipelineSpec.model_validate(pipeline_document(**overrides))


def schema_version(name: str = "orders", version: int = 1, **properties: Any) -> SchemaVersion:
    """A JSON Schema version with the given properties."""
    return SchemaVersion(
        name=name,
        version=version,
        type=SchemaType.JSON_SCHEMA,
        schema={"type": "object", "properties": properties or {"id": {"type": "string"}}},
    )
