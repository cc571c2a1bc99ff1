from __future__ import annotations

from typing import Any

import orjson
import pytest

from tests.unit.validation.samples import avro_version, json_version
from validator_pod.domain.records import VALID, ErrorType, Invalid, Verdict
from validator_pod.domain.schemas import Rule
from validator_pod.validation.compiling import CompiledSchema, compile_schema
from validator_pod.validation.validating import validate


def invalid(verdict: Verdict) -> Invalid:
    assert isinstance(verdict, Invalid), verdict
    assert verdict.errors, "an Invalid verdict always carries errors"
    return verdict


def by_path(verdict: Verdict) -> dict[str, tuple[str, str]]:
    return {error.path: (error.keyword, error.schema_path) for error in invalid(verdict).errors}


def test_a_valid_event_passes_schema_and_rules(
    event_schema: CompiledSchema, valid_event: dict[str, Any]
) -> None:
    assert validate(event_schema, valid_event, 20) is VALID


def test_every_schema_error_has_path_keyword_schema_path_and_message(
    event_schema: CompiledSchema, valid_event: dict[str, Any]
) -> None:
    del valid_event["currency"]
    valid_event["amount"] = 2_000_000
    valid_event["customer"]["email"] = "not-an-email"
    valid_event["items"][1]["qty"] = 0
    valid_event["event_id"] = "not-a-uuid"
    valid_event["occurred_at"] = "yesterday"
    valid_event["event_type"] = "order.lost"
    valid_event["surprise"] = True

    verdict = invalid(validate(event_schema, valid_event, 20))

    assert verdict.error_type is ErrorType.SCHEMA_VIOLATION
    assert {(e.path, e.keyword, e.schema_path) for e in verdict.errors} == {
        ("", "required", "/required"),
        ("", "additionalProperties", "/additionalProperties"),
        ("/amount", "maximum", "/properties/amount/maximum"),
        ("/customer/email", "format", "/properties/customer/properties/email/format"),
        ("/items/1/qty", "minimum", "/properties/items/items/properties/qty/minimum"),
        ("/event_id", "format", "/properties/event_id/format"),
        ("/occurred_at", "format", "/properties/occurred_at/format"),
        ("/event_type", "enum", "/properties/event_type/enum"),
    }
    assert all(error.message for error in verdict.errors)


def test_required_and_additional_property_errors_point_at_the_object(
    event_schema: CompiledSchema, valid_event: dict[str, Any]
) -> None:
    del valid_event["customer"]["id"]
    verdict = invalid(validate(event_schema, valid_event, 20))
    (error,) = verdict.errors
    assert (error.path, error.keyword, error.schema_path) == (
        "/customer",
        "required",
        "/properties/customer/required",
    )
    assert '"id" is a required property' in error.message


def test_paths_escape_slash_and_tilde_in_property_names() -> None:
    document = {
        "type": "object",
        "properties": {"a/b": {"type": "integer"}, "c~d": {"type": "object", "required": ["x"]}},
    }
    verdict = validate(compile_schema(json_version(document)), {"a/b": "1", "c~d": {}}, 20)
    assert by_path(verdict) == {
        "/a~1b": ("type", "/properties/a~1b/type"),
        "/c~0d": ("required", "/properties/c~0d/required"),
    }


def test_errors_are_capped_at_the_maximum(
    event_schema: CompiledSchema, valid_event: dict[str, Any]
) -> None:
    valid_event["tags"] = [1, 2, 3, 4, 5, 6]
    assert len(invalid(validate(event_schema, valid_event, 100)).errors) == 6
    assert len(invalid(validate(event_schema, valid_event, 4)).errors) == 4
    assert len(invalid(validate(event_schema, valid_event, 1)).errors) == 1


def test_draft_2020_12_checks_uuid_formats_and_prefix_items() -> None:
    document = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "properties": {
            "id": {"format": "uuid"},
            "pair": {"prefixItems": [{"type": "string"}, {"type": "integer"}], "items": False},
        },
    }
    verdict = validate(compile_schema(json_version(document)), {"id": "x", "pair": ["a", 1, 2]}, 20)
    assert by_path(verdict) == {
        "/id": ("format", "/properties/id/format"),
        "/pair/2": ("falseSchema", "/properties/pair/items"),
    }


def test_draft_7_resolves_definitions_and_uses_tuple_items() -> None:
    document = {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "definitions": {"positive": {"type": "integer", "minimum": 1}},
        "properties": {
            "count": {"$ref": "#/definitions/positive"},
            "pair": {"items": [{"type": "string"}, {"type": "integer"}]},
            "when": {"format": "date-time"},
        },
    }
    schema = compile_schema(json_version(document))
    verdict = validate(schema, {"count": 0, "pair": ["a", "b"], "when": "noon"}, 20)
    assert by_path(verdict) == {
        "/count": ("minimum", "/definitions/positive/minimum"),
        "/pair/1": ("type", "/properties/pair/items/1/type"),
        "/when": ("format", "/properties/when/format"),
    }


def test_a_huge_value_is_not_copied_into_the_error_message(
    event_schema: CompiledSchema, valid_event: dict[str, Any]
) -> None:
    valid_event["note"] = "x" * (5 * 1024 * 1024)
    (error,) = invalid(validate(event_schema, valid_event, 20)).errors
    assert (error.path, error.keyword) == ("/note", "maxLength")
    assert len(error.message) < 400


def test_records_nested_too_deep_to_list_their_errors_are_still_invalid() -> None:
    schema = compile_schema(json_version({"type": "object"}))
    deep = orjson.loads(b"[" * 1024 + b"]" * 1024)
    (error,) = invalid(validate(schema, deep, 20)).errors
    assert error.keyword == "validation"
    assert "Recursion limit" in error.message


# --- Rules --------------------------------------------------------------------------------------


def test_rules_are_checked_only_when_the_schema_passes(
    event_schema: CompiledSchema, valid_event: dict[str, Any]
) -> None:
    valid_event["amount"] = -5  # breaks the schema's minimum and the positive-amount rule
    verdict = invalid(validate(event_schema, valid_event, 20))
    assert verdict.error_type is ErrorType.SCHEMA_VIOLATION
    assert {error.keyword for error in verdict.errors} == {"minimum"}


def test_a_failing_rule_is_a_rule_violation_with_its_message(
    event_schema: CompiledSchema, valid_event: dict[str, Any]
) -> None:
    valid_event["amount"] = 0
    verdict = invalid(validate(event_schema, valid_event, 20))
    assert verdict.error_type is ErrorType.RULE_VIOLATION
    assert [(e.path, e.keyword, e.schema_path, e.message) for e in verdict.errors] == [
        ("", "rule", "/rules/positive-amount", "amount must be positive"),
        ("", "rule", "/rules/amount-covers-items", "an item costs more than the order"),
    ]


def test_rules_see_nested_fields_through_has_and_macros(
    event_schema: CompiledSchema, valid_event: dict[str, Any]
) -> None:
    valid_event["event_type"] = "order.cancelled"
    del valid_event["note"]
    verdict = invalid(validate(event_schema, valid_event, 20))
    assert [error.schema_path for error in verdict.errors] == ["/rules/cancellations-explain"]
    valid_event["note"] = "customer changed their mind"
    assert validate(event_schema, valid_event, 20) is VALID


def test_a_rule_that_cannot_be_evaluated_is_a_violation_with_the_reason() -> None:
    rules = (
        Rule(name="needs-discount", expression="record.discount > 0", message="no discount"),
        Rule(name="typed", expression="record.amount > 'x'", message="bad types"),
        Rule(name="divides", expression="10 / record.zero > 1", message="division"),
    )
    schema = compile_schema(json_version({"type": "object"}, rules=rules))
    verdict = invalid(validate(schema, {"amount": 1, "zero": 0}, 20))
    assert verdict.error_type is ErrorType.RULE_VIOLATION
    messages = [error.message for error in verdict.errors]
    assert (
        messages[0]
        == "no discount (rule 'needs-discount': evaluation failed: no such key: 'discount')"
    )
    assert messages[1].startswith("bad types (rule 'typed': evaluation failed: No such overload")
    assert messages[2].startswith("division (rule 'divides': evaluation failed: division by zero")


def test_a_rule_that_is_not_boolean_is_a_violation() -> None:
    rules = (Rule(name="amount", expression="record.amount", message="must be a condition"),)
    schema = compile_schema(json_version({"type": "object"}, rules=rules))
    (error,) = invalid(validate(schema, {"amount": 3}, 20)).errors
    assert (
        error.message
        == "must be a condition (rule 'amount': evaluated to 3 instead of true or false)"
    )


def test_rules_reading_the_whole_record_see_every_field() -> None:
    rules = (Rule(name="small", expression="size(record) <= 2", message="too many fields"),)
    schema = compile_schema(json_version({"type": "object"}, rules=rules))
    assert validate(schema, {"a": 1, "b": 2}, 20) is VALID
    assert invalid(validate(schema, {"a": 1, "b": 2, "c": 3}, 20)).errors[0].keyword == "rule"


def test_rules_on_a_record_that_is_not_an_object_are_evaluated_on_the_value() -> None:
    rules = (Rule(name="short", expression="size(record) < 3", message="too long"),)
    schema = compile_schema(json_version({"type": "array"}, rules=rules))
    assert validate(schema, [1, 2], 20) is VALID
    assert invalid(validate(schema, [1, 2, 3], 20)).error_type is ErrorType.RULE_VIOLATION


def test_rule_violations_are_capped_too() -> None:
    rules = tuple(Rule(name=f"r{n}", expression="false", message="no") for n in range(5))
    schema = compile_schema(json_version({}, rules=rules))
    assert len(invalid(validate(schema, {}, 3)).errors) == 3


# --- Avro ---------------------------------------------------------------------------------------

ORDER_AVRO: dict[str, Any] = {
    "type": "record",
    "name": "Order",
    "namespace": "shop",
    "fields": [{"name": "quantity", "type": "int"}, {"name": "sku", "type": "string"}],
}


@pytest.fixture(scope="module")
def order_avro() -> CompiledSchema:
    rules = (Rule(name="some", expression="record.quantity > 0", message="nothing ordered"),)
    return compile_schema(avro_version(ORDER_AVRO).model_copy(update={"rules": rules}))


def test_avro_datums_that_match_pass(order_avro: CompiledSchema) -> None:
    assert validate(order_avro, {"quantity": 1, "sku": "A"}, 20) is VALID


def test_avro_ints_beyond_32_bits_are_schema_violations(order_avro: CompiledSchema) -> None:
    # A crafted body can carry any varint where an int is expected: decoding does not check.
    (error,) = invalid(validate(order_avro, {"quantity": 2**40, "sku": "A"}, 20)).errors
    assert (error.path, error.keyword, error.schema_path) == ("", "avro", "")
    assert error.message == "shop.Order.quantity: 1099511627776 is not a valid int"


def test_rules_apply_to_avro_datums(order_avro: CompiledSchema) -> None:
    verdict = invalid(validate(order_avro, {"quantity": 0, "sku": "A"}, 20))
    assert verdict.error_type is ErrorType.RULE_VIOLATION
