"""Shared fixtures: the order event, its compiled schema, and a pipeline config factory."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tests.unit.validation.samples import (
    EVENT_REF,
    EVENT_RULES,
    EVENT_SCHEMA,
    VALID_EVENT,
    ConfigFactory,
    json_version,
)
from validator_pod.domain.pipeline_config import (
    KafkaBinding,
    Mode,
    ObjectStorage,
    PipelineConfig,
    SchemaSelection,
    Topics,
)
from validator_pod.domain.schemas import SchemaVersion
from validator_pod.validation.compiling import CompiledSchema, compile_schema


@pytest.fixture
def valid_event() -> dict[str, Any]:
    """A fresh copy of an order event that passes the schema and the rules."""
    return copy.deepcopy(VALID_EVENT)


@pytest.fixture(scope="session")
def event_version() -> SchemaVersion:
    """Version 1 of the order-event schema, with its rules."""
    return json_version(copy.deepcopy(EVENT_SCHEMA), rules=EVENT_RULES)


@pytest.fixture(scope="session")
def event_schema(event_version: SchemaVersion) -> CompiledSchema:
    """The order-event schema, compiled once for the session."""
    return compile_schema(event_version)


@pytest.fixture
def make_config() -> ConfigFactory:
    """Builds a pipeline config; keyword arguments override `PipelineConfig` fields."""

    def build(**overrides: Any) -> PipelineConfig:
        fields: dict[str, Any] = {
            "name": "orders",
            "namespace": "shop",
            "kafka": KafkaBinding(
                bootstrap_servers="localhost:9092", consumer_group="dq-shop-orders"
            ),
            "topics": Topics(
                sources=("orders.raw",), valid="orders.valid", quarantine="orders.dlq"
            ),
            "schema_selection": SchemaSelection(default=EVENT_REF),
            "mode": Mode.ENFORCE,
            "storage": ObjectStorage(endpoint="localhost:9000", bucket="quarantine"),
        }
        fields.update(overrides)
        return PipelineConfig(**fields)

    return build
