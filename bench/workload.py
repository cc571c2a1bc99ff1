"""The benchmark's workload: a 12-field order event schema, its rule, and realistic events.

Events are about 450 bytes of JSON: a nested object (`customer`), an array of objects (`items`),
formats (uuid, date-time, email, ipv4), enums, numeric ranges and patterns. Invalid events carry
one or two realistic mistakes each (a bad e-mail, an unknown currency, a zero quantity, ...),
including one that only the business rule catches. Everything is deterministic (seeded).
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import orjson

SCHEMA_NAME: Final = "order-events"
SCHEMA_VERSION: Final = 1

EVENT_SCHEMA: Final[dict[str, Any]] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "OrderEvent",
    "type": "object",
    "additionalProperties": False,
    "required": [
        "event_id",
        "event_type",
        "occurred_at",
        "order_id",
        "customer",
        "items",
        "total",
        "currency",
        "payment_method",
        "channel",
        "coupon",
    ],
    "properties": {
        "event_id": {"type": "string", "format": "uuid"},
        "event_type": {
            "enum": ["order.created", "order.paid", "order.shipped", "order.cancelled"],
        },
        "occurred_at": {"type": "string", "format": "date-time"},
        "order_id": {"type": "string", "pattern": "^ORD-[0-9]{10}$"},
        "customer": {
            "type": "object",
            "additionalProperties": False,
            "required": ["id", "email", "tier", "country"],
            "properties": {
                "id": {"type": "string", "pattern": "^C[0-9]{8}$"},
                "email": {"type": "string", "format": "email", "maxLength": 254},
                "tier": {"enum": ["standard", "silver", "gold", "platinum"]},
                "country": {"type": "string", "pattern": "^[A-Z]{2}$"},
                "marketing_opt_in": {"type": "boolean"},
            },
        },
        "items": {
            "type": "array",
            "minItems": 1,
            "maxItems": 50,
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["sku", "quantity", "unit_price"],
                "properties": {
                    "sku": {"type": "string", "pattern": "^[A-Z]{3}-[0-9]{5}$"},
                    "quantity": {"type": "integer", "minimum": 1, "maximum": 100},
                    "unit_price": {"type": "number", "exclusiveMinimum": 0, "maximum": 100000},
                    "category": {"enum": ["books", "electronics", "garden", "toys", "food"]},
                },
            },
        },
        "total": {"type": "number", "minimum": 0, "maximum": 10000000},
        "currency": {"enum": ["EUR", "USD", "GBP", "CHF", "SEK", "JPY"]},
        "payment_method": {"enum": ["card", "paypal", "sepa", "apple_pay", "gift_card"]},
        "channel": {"enum": ["web", "ios", "android", "pos"]},
        "coupon": {"type": ["string", "null"], "pattern": "^[A-Z0-9]{4,12}$"},
        "client_ip": {"type": "string", "format": "ipv4"},
    },
}
"""12 top-level properties; 11 required."""

RULE_NAME: Final = "no-paypal-at-pos"
RULE_EXPRESSION: Final = "record.channel != 'pos' || record.payment_method != 'paypal'"
RULE_MESSAGE: Final = "PayPal is not accepted at the point of sale"

_TIERS: Final = ("standard", "silver", "gold", "platinum")
_CATEGORIES: Final = ("books", "electronics", "garden", "toys", "food")
_CURRENCIES: Final = ("EUR", "USD", "GBP", "CHF", "SEK")
_PAYMENTS: Final = ("card", "paypal", "sepa", "apple_pay", "gift_card")
_CHANNELS: Final = ("web", "ios", "android", "pos")
_TYPES: Final = ("order.created", "order.paid", "order.shipped", "order.cancelled")
_COUNTRIES: Final = ("DE", "FR", "NL", "SE", "GB", "US", "CH", "AT", "BE", "DK")
_DOMAINS: Final = ("example.com", "mail.example.org", "shop.example.net")
_COUPONS: Final = ("SPRING10", "WELCOME5", "FREESHIP")
_EPOCH: Final = datetime(2026, 3, 1, tzinfo=UTC)

Mistake = Callable[[dict[str, Any], random.Random], None]


def _bad_email(event: dict[str, Any], rng: random.Random) -> None:
    event["customer"]["email"] = "jane.doe(at)example.com"


def _unknown_currency(event: dict[str, Any], rng: random.Random) -> None:
    event["currency"] = rng.choice(("BTC", "eur", "XXX"))


def _zero_quantity(event: dict[str, Any], rng: random.Random) -> None:
    event["items"][0]["quantity"] = 0


def _bad_timestamp(event: dict[str, Any], rng: random.Random) -> None:
    event["occurred_at"] = "2026-03-01 12:00:00"


def _missing_customer(event: dict[str, Any], rng: random.Random) -> None:
    del event["customer"]


def _unexpected_field(event: dict[str, Any], rng: random.Random) -> None:
    event["debug"] = True


def _bad_uuid(event: dict[str, Any], rng: random.Random) -> None:
    event["event_id"] = str(rng.getrandbits(48))


def _price_as_string(event: dict[str, Any], rng: random.Random) -> None:
    event["items"][-1]["unit_price"] = str(event["items"][-1]["unit_price"])


def _negative_total(event: dict[str, Any], rng: random.Random) -> None:
    event["total"] = -event["total"]


def _paypal_at_pos(event: dict[str, Any], rng: random.Random) -> None:
    event["channel"] = "pos"
    event["payment_method"] = "paypal"


MISTAKES: Final[tuple[Mistake, ...]] = (
    _bad_email,
    _unknown_currency,
    _zero_quantity,
    _bad_timestamp,
    _missing_customer,
    _unexpected_field,
    _bad_uuid,
    _price_as_string,
    _negative_total,
    _paypal_at_pos,
)
"""One realistic mistake each; the last one passes the schema and fails the rule."""


def valid_event(rng: random.Random, sequence: int) -> dict[str, Any]:
    """One valid order event (1 to 3 items)."""
    items: list[dict[str, Any]] = []
    for _ in range(rng.choices((1, 2, 3), (6, 3, 1))[0]):
        item: dict[str, Any] = {
            "sku": f"{rng.choice(('BKS', 'ELC', 'GRD', 'TOY', 'FOD'))}-{rng.randrange(100000):05d}",
            "quantity": rng.randint(1, 5),
            "unit_price": round(rng.uniform(1, 250), 2),
        }
        if rng.random() < 0.7:
            item["category"] = rng.choice(_CATEGORIES)
        items.append(item)
    total = round(sum(item["quantity"] * item["unit_price"] for item in items), 2)
    channel = rng.choice(_CHANNELS)
    payment = rng.choice(_PAYMENTS[0:1] + _PAYMENTS[2:] if channel == "pos" else _PAYMENTS)
    occurred = _EPOCH + timedelta(milliseconds=sequence * 37 + rng.randrange(1000))
    return {
        "event_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "event_type": rng.choice(_TYPES),
        "occurred_at": occurred.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "order_id": f"ORD-{rng.randrange(10**10):010d}",
        "customer": {
            "id": f"C{rng.randrange(10**8):08d}",
            "email": f"user{rng.randrange(10**6)}@{rng.choice(_DOMAINS)}",
            "tier": rng.choice(_TIERS),
            "country": rng.choice(_COUNTRIES),
        },
        "items": items,
        "total": total,
        "currency": rng.choice(_CURRENCIES),
        "payment_method": payment,
        "channel": channel,
        "coupon": rng.choice(_COUPONS) if rng.random() < 0.2 else None,
        "client_ip": f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}",
    }


def invalid_event(rng: random.Random, sequence: int) -> dict[str, Any]:
    """A valid event with one mistake, or (one time in four) two different mistakes."""
    event = valid_event(rng, sequence)
    count = 2 if rng.random() < 0.25 else 1
    for mistake in rng.sample(MISTAKES, count):
        if mistake is _bad_email and "customer" not in event:
            continue
        mistake(event, rng)
    return event


def is_invalid(index: int, share: float) -> bool:
    """Whether record `index` is invalid: exactly `share` of every run of records, spread
    evenly (record i is invalid when floor((i + 1) * share) > floor(i * share))."""
    return int((index + 1) * share) > int(index * share)


class EventPool:
    """Pre-encoded events to cycle through: encoding 200k events would cost seconds, and the
    validator does not care whether a payload was seen before (nothing is cached per payload)."""

    def __init__(self, *, seed: int = 20260301, valid: int = 10_000, invalid: int = 2_000) -> None:
        """Encode `valid` distinct valid events and `invalid` distinct invalid ones."""
        rng = random.Random(seed)
        self.valid: list[bytes] = [orjson.dumps(valid_event(rng, i)) for i in range(valid)]
        self.invalid: list[bytes] = [orjson.dumps(invalid_event(rng, i)) for i in range(invalid)]

    def value(self, index: int, share: float) -> tuple[bytes, bool]:
        """The payload of record `index` in a stream with `share` invalid, and whether it is
        invalid."""
        if is_invalid(index, share):
            return self.invalid[index % len(self.invalid)], True
        return self.valid[index % len(self.valid)], False

    def mean_size(self, share: float, sample: int = 20_000) -> float:
        """Mean payload size in bytes of a stream with `share` invalid."""
        return sum(len(self.value(i, share)[0]) for i in range(sample)) / sample

    def stream(self, start: int, count: int, share: float) -> Iterator[tuple[int, bytes, bool]]:
        """(index, payload, invalid) for records `start` .. `start + count - 1`."""
        for index in range(start, start + count):
            value, invalid = self.value(index, share)
            yield index, value, invalid
