"""The v1alpha1 models accept what the CRDs accept and read the camelCase wire format."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from quarantine_operator.api.v1alpha1 import (
    ISO8601_DURATION_PATTERN,
    QUANTITY_PATTERN,
    PipelineState,
    QuarantinePipelineSpec,
    SchemaRefSpec,
    ValidationSchemaSpec,
    parse_duration,
)
from validator_pod.domain.pipeline_config import Delivery, Mode
from validator_pod.domain.schemas import Compatibility, SchemaType


def minimal_pipeline() -> dict[str, Any]:
    return {
        "kafka": {"bootstrapServers": "kafka:9092"},
        "source": {"topics": ["orders.raw"]},
        "sinks": {"validTopic": "orders.valid", "quarantineTopic": "orders.dlq"},
        "schemaSelection": {"schemaRef": {"name": "orders"}},
        "quarantine": {
            "storage": {
                "endpoint": "s3:9000",
                "bucket": "dq-quarantine",
                "secretRef": {"name": "s3"},
            },
            "database": {"secretRef": {"name": "pg"}},
        },
    }


def test_a_minimal_pipeline_gets_the_documented_defaults() -> None:
    spec = QuarantinePipelineSpec.model_validate(minimal_pipeline())

    assert spec.state is PipelineState.RUNNING
    assert spec.replicas == 1
    assert spec.mode is Mode.ENFORCE
    assert spec.delivery is Delivery.AT_LEAST_ONCE
    assert spec.schema_selection.schema_ref.version == "latest"
    assert spec.quarantine.retention == "P7D"
    assert spec.quarantine.storage.secure is True
    assert spec.api.enabled is True
    assert spec.error_handling is None
    assert spec.image is None
    assert spec.kafka.consumer_group is None


def test_a_pipeline_serialises_back_to_camel_case() -> None:
    dumped = QuarantinePipelineSpec.model_validate(minimal_pipeline()).model_dump(
        by_alias=True, exclude_none=True, mode="json"
    )
    assert dumped["schemaSelection"]["schemaRef"] == {"name": "orders", "version": "latest"}
    assert dumped["sinks"] == {"validTopic": "orders.valid", "quarantineTopic": "orders.dlq"}


@pytest.mark.parametrize(
    ("given", "expected"), [("latest", "latest"), (3, 3), ("3", 3), ("12", 12)]
)
def test_a_schema_version_is_latest_or_a_positive_integer(given: object, expected: object) -> None:
    assert SchemaRefSpec.model_validate({"name": "orders", "version": given}).version == expected


@pytest.mark.parametrize("given", [0, -1, "0", "v3", "", "newest", 1.5])
def test_other_schema_versions_are_refused(given: object) -> None:
    with pytest.raises(ValidationError):
        SchemaRefSpec.model_validate({"name": "orders", "version": given})


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("P7D", timedelta(days=7)),
        ("P4W", timedelta(weeks=4)),
        ("P1W2D", timedelta(days=9)),
        ("PT12H", timedelta(hours=12)),
        ("PT1M30S", timedelta(seconds=90)),
        ("PT0.5S", timedelta(milliseconds=500)),
        ("P1DT2H3M4S", timedelta(days=1, hours=2, minutes=3, seconds=4)),
        ("PT90M", timedelta(minutes=90)),
    ],
)
def test_iso8601_durations_of_fixed_units_are_parsed(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected
    assert re.fullmatch(ISO8601_DURATION_PATTERN, text)


@pytest.mark.parametrize(
    "text", ["P", "PT", "P1DT", "P1Y", "P1M", "7d", "P-1D", "PT1.S", "1D", "P1H", "PT1D", ""]
)
def test_other_durations_are_refused_by_both_the_pattern_and_the_parser(text: str) -> None:
    assert re.fullmatch(ISO8601_DURATION_PATTERN, text) is None
    with pytest.raises(ValueError, match="ISO-8601 duration"):
        parse_duration(text)


def test_a_bad_retention_is_refused_with_a_helpful_message() -> None:
    document = minimal_pipeline()
    document["quarantine"]["retention"] = "P1M"
    with pytest.raises(ValidationError, match="years and months are not supported"):
        QuarantinePipelineSpec.model_validate(document)


@pytest.mark.parametrize("quantity", ["250m", "1", "0.5", "256Mi", "2Gi", "1e3", "+1", 2])
def test_resource_quantities_follow_the_kubernetes_syntax(quantity: object) -> None:
    document = minimal_pipeline()
    document["resources"] = {"requests": {"cpu": quantity}}
    spec = QuarantinePipelineSpec.model_validate(document)
    assert spec.resources is not None
    assert spec.resources.requests == {"cpu": quantity}


@pytest.mark.parametrize("quantity", ["1 CPU", "256MB", "lots", "1.2.3"])
def test_other_quantities_are_refused(quantity: str) -> None:
    assert re.fullmatch(QUANTITY_PATTERN, quantity) is None
    document = minimal_pipeline()
    document["resources"] = {"limits": {"memory": quantity}}
    with pytest.raises(ValidationError):
        QuarantinePipelineSpec.model_validate(document)


def test_repeated_source_topics_are_refused() -> None:
    document = minimal_pipeline()
    document["source"]["topics"] = ["a", "a"]
    with pytest.raises(ValidationError, match="must not repeat"):
        QuarantinePipelineSpec.model_validate(document)


def test_unknown_fields_are_refused() -> None:
    document = minimal_pipeline()
    document["sinks"]["deadLetterTopic"] = "x"
    with pytest.raises(ValidationError, match="deadLetterTopic"):
        QuarantinePipelineSpec.model_validate(document)


def test_a_validation_schema_defaults_to_backward_compatibility() -> None:
    spec = ValidationSchemaSpec.model_validate(
        {"type": "JSON_SCHEMA", "schema": {"type": "object"}}
    )
    assert spec.type is SchemaType.JSON_SCHEMA
    assert spec.compatibility is Compatibility.BACKWARD
    assert spec.schema_ == {"type": "object"}
    assert spec.rules == []
    assert spec.remediation.coerce_types is True
