from __future__ import annotations

import copy
from typing import Any

import pytest

from tests.unit.validation.samples import EVENT_SCHEMA, json_version
from validator_pod.domain.records import VALID, Invalid
from validator_pod.domain.schemas import Remediation, TimestampFix
from validator_pod.validation.compiling import CompiledJsonSchema, compile_schema
from validator_pod.validation.remediating import Remedy, remediate, rfc3339_from_epoch
from validator_pod.validation.validating import validate

ALL_FIXES = Remediation(timestamps=TimestampFix(paths=("/occurred_at",), unit="milliseconds"))


@pytest.fixture(scope="module")
def schema() -> CompiledJsonSchema:
    compiled = compile_schema(json_version(copy.deepcopy(EVENT_SCHEMA), remediation=ALL_FIXES))
    assert isinstance(compiled, CompiledJsonSchema)
    return compiled


def remedied(record: Any, schema: CompiledJsonSchema, spec: Remediation = ALL_FIXES) -> Remedy:
    remedy = remediate(record, schema, spec)
    assert remedy is not None
    return remedy


def test_strings_are_coerced_to_the_scalar_types_the_schema_asks_for(
    schema: CompiledJsonSchema, valid_event: dict[str, Any]
) -> None:
    valid_event.update(quantity="12", amount="1.5e1", is_test="true")
    valid_event["items"][0]["qty"] = " 2 "
    valid_event["items"][1]["price"] = "2.5"
    assert isinstance(validate(schema, valid_event, 20), Invalid)

    remedy = remedied(valid_event, schema)

    assert remedy.fixes == (
        "/amount: coerced string to number",
        "/items/0/qty: coerced string to integer",
        "/items/1/price: coerced string to number",
        "/quantity: coerced string to integer",
        "/is_test: coerced string to boolean",
    )
    fixed = remedy.record
    assert (fixed["quantity"], fixed["amount"], fixed["is_test"]) == (12, 15.0, True)
    assert (fixed["items"][0]["qty"], fixed["items"][1]["price"]) == (2, 2.5)
    assert validate(schema, fixed, 20) is VALID


def test_integral_strings_stay_integers_where_a_number_is_asked_for(
    schema: CompiledJsonSchema, valid_event: dict[str, Any]
) -> None:
    valid_event["amount"] = "12"
    fixed = remedied(valid_event, schema).record
    assert fixed["amount"] == 12
    assert isinstance(fixed["amount"], int)


def test_numbers_are_coerced_to_strings_where_a_string_is_asked_for(
    schema: CompiledJsonSchema, valid_event: dict[str, Any]
) -> None:
    valid_event["customer"]["id"] = 4711
    valid_event["items"][0]["sku"] = 1.5
    remedy = remedied(valid_event, schema)
    assert remedy.fixes == (
        "/customer/id: coerced number to string",
        "/items/0/sku: coerced number to string",
    )
    assert (remedy.record["customer"]["id"], remedy.record["items"][0]["sku"]) == ("4711", "1.5")
    assert validate(schema, remedy.record, 20) is VALID


@pytest.mark.parametrize(
    ("field", "value"),
    [("quantity", "twelve"), ("quantity", "1.5"), ("is_test", "yes"), ("amount", "1e999")],
)
def test_text_that_does_not_read_as_the_type_is_left_alone(
    schema: CompiledJsonSchema, valid_event: dict[str, Any], field: str, value: str
) -> None:
    valid_event[field] = value
    assert remediate(valid_event, schema, ALL_FIXES) is None


def test_booleans_are_not_coerced_to_strings_or_numbers(
    schema: CompiledJsonSchema, valid_event: dict[str, Any]
) -> None:
    valid_event["note"] = True
    valid_event["quantity"] = False
    assert remediate(valid_event, schema, ALL_FIXES) is None


def test_strings_are_trimmed_where_the_schema_expects_strings(
    schema: CompiledJsonSchema, valid_event: dict[str, Any]
) -> None:
    valid_event["currency"] = " EUR\n"
    valid_event["tags"] = ["  new", "promo"]
    remedy = remedied(valid_event, schema)
    assert remedy.fixes == ("/currency: trimmed whitespace", "/tags/0: trimmed whitespace")
    assert (remedy.record["currency"], remedy.record["tags"]) == ("EUR", ["new", "promo"])
    assert validate(schema, remedy.record, 20) is VALID


def test_missing_properties_get_the_schema_default(
    schema: CompiledJsonSchema, valid_event: dict[str, Any]
) -> None:
    del valid_event["channel"], valid_event["is_test"]
    remedy = remedied(valid_event, schema)
    assert remedy.fixes == ("/channel: filled default", "/is_test: filled default")
    assert (remedy.record["channel"], remedy.record["is_test"]) == ("web", False)


def test_epoch_milliseconds_become_rfc3339_timestamps(
    schema: CompiledJsonSchema, valid_event: dict[str, Any]
) -> None:
    valid_event["occurred_at"] = 1_714_564_800_123
    remedy = remedied(valid_event, schema)
    assert remedy.fixes == ("/occurred_at: converted epoch milliseconds to RFC 3339",)
    assert remedy.record["occurred_at"] == "2024-05-01T12:00:00.123Z"
    assert validate(schema, remedy.record, 20) is VALID


@pytest.mark.parametrize(
    ("epoch", "unit", "text"),
    [
        (1_714_564_800, "seconds", "2024-05-01T12:00:00Z"),
        (1_714_564_800.5, "seconds", "2024-05-01T12:00:00.500Z"),
        (1_714_564_800.000_25, "seconds", "2024-05-01T12:00:00.000250Z"),
        (1_714_564_800_000, "milliseconds", "2024-05-01T12:00:00Z"),
        (-1000, "milliseconds", "1969-12-31T23:59:59Z"),
    ],
)
def test_epochs_format_with_as_many_fraction_digits_as_needed(
    epoch: float, unit: str, text: str
) -> None:
    assert rfc3339_from_epoch(epoch, unit) == text


def test_epoch_seconds_in_strings_are_normalised_when_configured(
    schema: CompiledJsonSchema, valid_event: dict[str, Any]
) -> None:
    spec = Remediation(timestamps=TimestampFix(paths=("/occurred_at",), unit="seconds"))
    valid_event["occurred_at"] = "1714564800"
    assert remedied(valid_event, schema, spec).record["occurred_at"] == "2024-05-01T12:00:00Z"


def test_timestamps_out_of_range_or_at_missing_paths_are_left_alone(
    schema: CompiledJsonSchema, valid_event: dict[str, Any]
) -> None:
    paths = ("/occurred_at", "/nowhere/x", "/items/9", "not-a-pointer")
    spec = Remediation(coerce_types=False, timestamps=TimestampFix(paths=paths))
    valid_event["occurred_at"] = 10**20
    assert remediate(valid_event, schema, spec) is None


def test_timestamps_inside_arrays_are_normalised(valid_event: dict[str, Any]) -> None:
    document = {"properties": {"seen": {"type": "array", "items": {"format": "date-time"}}}}
    schema = compile_schema(json_version(document))
    assert isinstance(schema, CompiledJsonSchema)
    spec = Remediation(timestamps=TimestampFix(paths=("/seen/1",), unit="seconds"))
    remedy = remedied({"seen": ["2024-01-01T00:00:00Z", 0]}, schema, spec)
    assert remedy.record == {"seen": ["2024-01-01T00:00:00Z", "1970-01-01T00:00:00Z"]}


def test_the_original_record_is_left_untouched(
    schema: CompiledJsonSchema, valid_event: dict[str, Any]
) -> None:
    valid_event["quantity"] = "12"
    del valid_event["channel"]
    before = copy.deepcopy(valid_event)
    remedied(valid_event, schema)
    assert valid_event == before


def test_nothing_to_fix_gives_none(schema: CompiledJsonSchema, valid_event: dict[str, Any]) -> None:
    assert remediate(valid_event, schema, ALL_FIXES) is None


def test_disabled_fixes_are_not_applied(
    schema: CompiledJsonSchema, valid_event: dict[str, Any]
) -> None:
    valid_event.update(quantity="12", currency=" EUR ", occurred_at=0)
    del valid_event["channel"]
    nothing = Remediation(coerce_types=False, trim_strings=False, fill_defaults=False)
    assert remediate(valid_event, schema, nothing) is None
    only_trim = Remediation(coerce_types=False, fill_defaults=False)
    assert remedied(valid_event, schema, only_trim).fixes == ("/currency: trimmed whitespace",)


def test_local_references_are_followed() -> None:
    document = {
        "$defs": {
            "money": {
                "type": "object",
                "properties": {
                    "amount": {"type": "number"},
                    "currency": {"type": "string", "default": "EUR"},
                },
            },
            "count": {"type": "integer"},
        },
        "properties": {
            "price": {"$ref": "#/$defs/money"},
            "lines": {"type": "array", "items": {"$ref": "#/$defs/count"}},
        },
    }
    schema = compile_schema(json_version(document))
    assert isinstance(schema, CompiledJsonSchema)
    remedy = remedied({"price": {"amount": "9.99"}, "lines": ["1", 2]}, schema)
    assert remedy.record == {"price": {"amount": 9.99, "currency": "EUR"}, "lines": [1, 2]}
    assert remedy.fixes == (
        "/price/amount: coerced string to number",
        "/price/currency: filled default",
        "/lines/0: coerced string to integer",
    )


def test_draft_7_tuple_items_are_followed() -> None:
    document = {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "properties": {"pair": {"items": [{"type": "string"}, {"type": "integer"}]}},
    }
    schema = compile_schema(json_version(document))
    assert isinstance(schema, CompiledJsonSchema)
    assert remedied({"pair": [1, "2"]}, schema).record == {"pair": ["1", 2]}


def test_a_self_referencing_schema_does_not_loop() -> None:
    document = {
        "$defs": {"loop": {"$ref": "#/$defs/loop"}},
        "properties": {"a": {"$ref": "#/$defs/loop"}},
    }
    schema = compile_schema(json_version(document))
    assert isinstance(schema, CompiledJsonSchema)
    assert remediate({"a": "1"}, schema, ALL_FIXES) is None


def test_deeply_nested_records_are_remediated_without_exhausting_the_stack() -> None:
    document = {"$defs": {"n": {"type": ["array", "integer"], "items": {"$ref": "#/$defs/n"}}}}
    schema = compile_schema(json_version({**document, "$ref": "#/$defs/n"}))
    assert isinstance(schema, CompiledJsonSchema)
    nested: Any = "1"
    for _ in range(253):
        nested = [nested]
    remedy = remedied(nested, schema)
    assert remedy.fixes == (f"{'/0' * 253}: coerced string to integer",)
    too_deep = [nested, [[]]]
    assert remediate([too_deep], schema, ALL_FIXES) is None
