"""Sample order events for the demo and the end-to-end tests: mostly valid, some broken.

The events match `manifests/samples/validationschema.yaml` (the 12-field order event). A broken
event is broken in exactly one way, named by its `Fault`, so that tests can say which records the
validator must quarantine and the demo shows a realistic mix of quarantine reasons.
"""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, Final


class Fault(StrEnum):
    """How a broken event is broken (and what the validator reports for it)."""

    MISSING_FIELD = "missing_field"
    """`currency` is absent: a schema violation at `/currency`."""
    WRONG_TYPE = "wrong_type"
    """`items[0].qty` is a word, which no remediation can coerce: a schema violation."""
    BAD_ENUM = "bad_enum"
    """`event_type` is not one of the schema's values: a schema violation at `/event_type`."""
    NOT_JSON = "not_json"
    """The bytes are truncated JSON: a deserialization error."""
    RULE_VIOLATION = "rule_violation"
    """A cancelled order without a note: the `cancellations-explain` rule fails."""


EXPECTED_ERROR_TYPE: Final[dict[Fault, str]] = {
    Fault.MISSING_FIELD: "schema_violation",
    Fault.WRONG_TYPE: "schema_violation",
    Fault.BAD_ENUM: "schema_violation",
    Fault.NOT_JSON: "deserialization_error",
    Fault.RULE_VIOLATION: "rule_violation",
}
"""The `dataquarantine.error.type` the validator gives each fault."""

_SKUS: Final = ("BOOK-1", "MUG-7", "TEE-M", "LAMP-2", "PEN-10", "BAG-3")
_TIERS: Final = ("free", "silver", "gold")
_CHANNELS: Final = ("web", "app", "store")
_EPOCH: Final = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Event:
    """One record to produce: its key, its bytes, and the fault it carries (None: valid)."""

    key: bytes
    value: bytes
    fault: Fault | None


def order_event(rng: random.Random, sequence: int) -> dict[str, Any]:
    """A valid order event; `sequence` makes its time and customer vary deterministically."""
    lines = [
        (rng.choice(_SKUS), rng.randint(1, 4), round(rng.uniform(2, 80), 2))
        for _ in range(rng.randint(1, 3))
    ]
    items = [{"sku": sku, "qty": qty, "price": price} for sku, qty, price in lines]
    event: dict[str, Any] = {
        "event_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "event_type": rng.choice(("order.created", "order.created", "order.paid")),
        "occurred_at": (_EPOCH + timedelta(seconds=sequence)).isoformat().replace("+00:00", "Z"),
        "customer": {
            "id": f"c-{rng.randint(1, 5000)}",
            "email": f"customer{rng.randint(1, 5000)}@example.com",
            "tier": rng.choice(_TIERS),
        },
        "amount": round(sum(qty * price for _, qty, price in lines), 2),
        "currency": rng.choice(("EUR", "USD", "GBP")),
        "items": items,
        "channel": rng.choice(_CHANNELS),
        "quantity": sum(qty for _, qty, _ in lines),
        "tags": rng.sample(["gift", "express", "promo", "b2b"], k=rng.randint(0, 2)),
        "is_test": False,
    }
    if rng.random() < 0.1:
        event["event_type"] = "order.cancelled"
        event["note"] = "customer changed their mind"
    return event


def broken(event: dict[str, Any], fault: Fault) -> bytes:
    """`event` broken in the way `fault` names, as bytes."""
    document = json.loads(json.dumps(event))
    if fault is Fault.MISSING_FIELD:
        del document["currency"]
    elif fault is Fault.WRONG_TYPE:
        document["items"][0]["qty"] = "several"
    elif fault is Fault.BAD_ENUM:
        document["event_type"] = "order.shipped"
    elif fault is Fault.RULE_VIOLATION:
        document["event_type"] = "order.cancelled"
        document.pop("note", None)
    else:
        return json.dumps(document).encode()[:-7]
    return json.dumps(document).encode()


def event_stream(*, seed: int = 0, broken_share: float = 0.07, start: int = 0) -> Iterator[Event]:
    """An endless stream of keyed events; about `broken_share` of them broken, the faults taking
    turns so that every kind shows up early."""
    rng = random.Random(seed)  # noqa: S311 - sample data, reproducible by seed
    faults = list(Fault)
    broken_so_far = 0
    sequence = start
    while True:
        event = order_event(rng, sequence)
        key = event["customer"]["id"].encode()
        if rng.random() < broken_share:
            fault = faults[broken_so_far % len(faults)]
            broken_so_far += 1
            yield Event(key, broken(event, fault), fault)
        else:
            yield Event(key, json.dumps(event).encode(), None)
        sequence += 1
