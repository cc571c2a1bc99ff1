"""A small order schema, a pipeline config factory and a record type for planning tests."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
import pytest

from validator_pod.domain.pipeline_config import (
    KafkaBinding,
    ObjectStorage,
    PipelineConfig,
    SchemaRef,
    SchemaSelection,
    Topics,
)
from validator_pod.domain.schemas import Rule, SchemaType, SchemaVersion

ORDERS = SchemaRef(name="orders", version=3)
ORDER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["id", "amount"],
    "properties": {
        "id": {"type": "integer"},
        "amount": {"type": "number", "minimum": 0},
        "note": {"type": "string"},
    },
}


def order(i: int, **changes: Any) -> bytes:
    """A valid order, with `changes`."""
    return orjson.dumps({"id": i, "amount": 5, **changes})


@dataclass(frozen=True)
class Record:
    """A consumed record (the fields planning reads from aiokafka's ConsumerRecord)."""

    topic: str
    partition: int
    offset: int
    value: bytes | None
    key: bytes | None = None
    headers: Sequence[tuple[str, bytes]] = ()
    timestamp: int = 1_700_000_000_000


@pytest.fixture
def order_version() -> SchemaVersion:
    """Version 3 of the order schema, with one rule."""
    return SchemaVersion(
        name="orders",
        version=3,
        type=SchemaType.JSON_SCHEMA,
        schema=ORDER_SCHEMA,
        rules=(Rule(name="small", expression="record.id < 1000", message="id too large"),),
    )


ConfigFactory = Callable[..., PipelineConfig]


@pytest.fixture
def make_config() -> ConfigFactory:
    """A pipeline config; keyword arguments override fields."""

    def make(**overrides: Any) -> PipelineConfig:
        fields: dict[str, Any] = {
            "name": "orders",
            "namespace": "shop",
            "kafka": KafkaBinding(bootstrap_servers="kafka:9092", consumer_group="dq-shop-orders"),
            "topics": Topics(
                sources=("orders.raw",), valid="orders.valid", quarantine="orders.dlq"
            ),
            "schema_selection": SchemaSelection(default=ORDERS),
            "storage": ObjectStorage(endpoint="s3:9000", bucket="quarantine"),
        }
        fields.update(overrides)
        return PipelineConfig(**fields)

    return make
