"""Sample schemas and records shared by the validation tests: a realistic 12-field order event."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from validator_pod.domain.pipeline_config import PipelineConfig, SchemaRef
from validator_pod.domain.schemas import Remediation, Rule, SchemaType, SchemaVersion

EVENT_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "OrderEvent",
    "type": "object",
    "required": [
        "event_id",
        "event_type",
        "occurred_at",
        "customer",
        "amount",
        "currency",
        "items",
    ],
    "additionalProperties": False,
    "properties": {
        "event_id": {"type": "string", "format": "uuid"},
        "event_type": {
            "type": "string",
            "enum": ["order.created", "order.paid", "order.cancelled"],
        },
        "occurred_at": {"type": "string", "format": "date-time"},
        "customer": {
            "type": "object",
            "required": ["id", "email"],
            "additionalProperties": False,
            "properties": {
                "id": {"type": "string", "minLength": 1},
                "email": {"type": "string", "format": "email"},
                "tier": {"type": "string", "enum": ["free", "silver", "gold"]},
            },
        },
        "amount": {"type": "number", "minimum": 0, "maximum": 1_000_000},
        "currency": {"type": "string", "pattern": "^[A-Z]{3}$"},
        "items": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["sku", "qty"],
                "properties": {
                    "sku": {"type": "string", "minLength": 1},
                    "qty": {"type": "integer", "minimum": 1},
                    "price": {"type": "number", "minimum": 0},
                },
            },
        },
        "channel": {"type": "string", "enum": ["web", "app", "store"], "default": "web"},
        "quantity": {"type": "integer", "minimum": 1, "maximum": 100},
        "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 10},
        "is_test": {"type": "boolean", "default": False},
        "note": {"type": "string", "maxLength": 200},
    },
}

EVENT_RULES = (
    Rule(name="positive-amount", expression="record.amount > 0", message="amount must be positive"),
    Rule(
        name="cancellations-explain",
        expression='record.event_type != "order.cancelled" || has(record.note)',
        message="a cancelled order needs a note",
    ),
    Rule(
        name="amount-covers-items",
        expression="record.items.all(i, !has(i.price) || i.price * double(i.qty) <= record.amount)",
        message="an item costs more than the order",
    ),
)

VALID_EVENT: dict[str, Any] = {
    "event_id": "6f1c1c1e-2b7a-4d7e-9a39-0d8e8f0e6b1a",
    "event_type": "order.created",
    "occurred_at": "2024-05-01T12:00:00Z",
    "customer": {"id": "c-1", "email": "ada@example.com", "tier": "gold"},
    "amount": 12.5,
    "currency": "EUR",
    "items": [{"sku": "A-1", "qty": 2, "price": 5.0}, {"sku": "B-2", "qty": 1, "price": 2.5}],
    "channel": "web",
    "quantity": 3,
    "tags": ["new", "promo"],
    "is_test": False,
    "note": "leave at the door",
}

EVENT_REF = SchemaRef(name="order-event", version=1)


def json_version(
    document: dict[str, Any],
    *,
    name: str = "order-event",
    version: int = 1,
    rules: tuple[Rule, ...] = (),
    remediation: Remediation | None = None,
) -> SchemaVersion:
    """A JSON Schema version of `document`."""
    return SchemaVersion(
        name=name,
        version=version,
        type=SchemaType.JSON_SCHEMA,
        schema_=document,
        rules=rules,
        remediation=remediation or Remediation(),
    )


def avro_version(
    document: dict[str, Any], *, name: str = "order-avro", version: int = 1
) -> SchemaVersion:
    """An Avro schema version of `document`."""
    return SchemaVersion(name=name, version=version, type=SchemaType.AVRO, schema_=document)


ConfigFactory = Callable[..., PipelineConfig]
"""The type of the `make_config` fixture: keyword arguments override `PipelineConfig` fields."""
