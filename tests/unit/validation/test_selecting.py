from __future__ import annotations

from typing import Any

import pytest

from tests.unit.validation.samples import EVENT_REF, json_version
from validator_pod.domain.pipeline_config import (
    SchemaRef,
    SchemaSelection,
    SchemaSelector,
    SelectorSource,
)
from validator_pod.domain.records import ErrorType
from validator_pod.validation.compiling import CompiledSchema, compile_schema
from validator_pod.validation.selecting import CompiledSelection, SelectionResult, Unselectable

REFUND_REF = SchemaRef(name="refund-event", version=2)
GHOST_REF = SchemaRef(name="ghost", version=1)


@pytest.fixture(scope="module")
def schemas() -> dict[SchemaRef, CompiledSchema]:
    return {
        EVENT_REF: compile_schema(json_version({"type": "object"})),
        REFUND_REF: compile_schema(
            json_version({"type": "object"}, name="refund-event", version=2)
        ),
    }


def selection(source: SelectorSource | None, key: str = "") -> SchemaSelection:
    if source is None:
        return SchemaSelection(default=EVENT_REF)
    mapping = {"order": EVENT_REF, "refund": REFUND_REF, "true": REFUND_REF, "7": REFUND_REF}
    mapping["ghost"] = GHOST_REF
    return SchemaSelection(
        default=EVENT_REF, selector=SchemaSelector(source=source, key=key, mapping=mapping)
    )


def ref_of(result: SelectionResult) -> SchemaRef | None:
    return result.schema_ref if isinstance(result, Unselectable) else result.ref


def unknown_message(result: SelectionResult) -> tuple[str, str]:
    assert isinstance(result, Unselectable), result
    assert result.verdict.error_type is ErrorType.UNKNOWN_SCHEMA
    (error,) = result.verdict.errors
    assert (error.keyword, error.schema_path) == ("selector", "")
    return error.path, error.message


def test_without_a_selector_every_record_gets_the_default(
    schemas: dict[SchemaRef, CompiledSchema],
) -> None:
    chooser = CompiledSelection(selection(None), schemas)
    assert not chooser.reads_record
    assert ref_of(chooser.select([("schema", b"refund")])) == EVENT_REF


def test_a_header_value_selects_its_mapped_schema(
    schemas: dict[SchemaRef, CompiledSchema],
) -> None:
    chooser = CompiledSelection(selection(SelectorSource.HEADER, "event-type"), schemas)
    assert not chooser.reads_record
    assert ref_of(chooser.select([("trace", b"x"), ("event-type", b"refund")])) == REFUND_REF


def test_the_last_header_with_the_name_wins(schemas: dict[SchemaRef, CompiledSchema]) -> None:
    chooser = CompiledSelection(selection(SelectorSource.HEADER, "event-type"), schemas)
    headers = [("event-type", b"refund"), ("event-type", b"order")]
    assert ref_of(chooser.select(headers)) == EVENT_REF


@pytest.mark.parametrize("headers", [[], [("other", b"refund")], [("event-type", None)]])
def test_a_missing_header_falls_back_to_the_default(
    schemas: dict[SchemaRef, CompiledSchema], headers: list[tuple[str, bytes | None]]
) -> None:
    chooser = CompiledSelection(selection(SelectorSource.HEADER, "event-type"), schemas)
    assert ref_of(chooser.select(headers)) == EVENT_REF


def test_an_unmapped_header_value_is_an_unknown_schema(
    schemas: dict[SchemaRef, CompiledSchema],
) -> None:
    chooser = CompiledSelection(selection(SelectorSource.HEADER, "event-type"), schemas)
    path, message = unknown_message(chooser.select([("event-type", b"chargeback")]))
    assert path == ""
    assert message == (
        "header 'event-type' value 'chargeback' is not mapped to a schema "
        "(mapped values: '7', 'ghost', 'order', 'refund', 'true')"
    )


def test_a_header_value_that_is_not_utf8_is_an_unknown_schema(
    schemas: dict[SchemaRef, CompiledSchema],
) -> None:
    chooser = CompiledSelection(selection(SelectorSource.HEADER, "event-type"), schemas)
    _, message = unknown_message(chooser.select([("event-type", b"\xff")]))
    assert "not UTF-8" in message


def test_a_mapped_schema_that_is_not_loaded_is_an_unknown_schema_naming_it(
    schemas: dict[SchemaRef, CompiledSchema],
) -> None:
    chooser = CompiledSelection(selection(SelectorSource.HEADER, "event-type"), schemas)
    result = chooser.select([("event-type", b"ghost")])
    _, message = unknown_message(result)
    assert ref_of(result) == GHOST_REF
    assert message == (
        "schema ghost version 1 (chosen by header 'event-type' value 'ghost') "
        "is not loaded by this pipeline"
    )


def test_a_default_that_is_not_loaded_makes_every_record_unknown() -> None:
    chooser = CompiledSelection(selection(None), {})
    _, message = unknown_message(chooser.select([]))
    assert "(chosen by the default schema)" in message


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        ({"meta": {"kind": "refund"}}, REFUND_REF),
        ({"meta": {"kind": "order"}}, EVENT_REF),
        ({"meta": {"kind": True}}, REFUND_REF),
        ({"meta": {"kind": 7}}, REFUND_REF),
        ({"meta": {}}, EVENT_REF),
        ({"meta": {"kind": None}}, EVENT_REF),
        ({"other": 1}, EVENT_REF),
        ([1, 2], EVENT_REF),
        ("text", EVENT_REF),
    ],
)
def test_a_json_field_selects_its_mapped_schema_or_the_default_when_absent(
    schemas: dict[SchemaRef, CompiledSchema], record: Any, expected: SchemaRef
) -> None:
    chooser = CompiledSelection(selection(SelectorSource.FIELD, "/meta/kind"), schemas)
    assert chooser.reads_record
    assert ref_of(chooser.select([], record)) == expected


def test_an_unmapped_field_value_is_an_unknown_schema_at_that_path(
    schemas: dict[SchemaRef, CompiledSchema],
) -> None:
    chooser = CompiledSelection(selection(SelectorSource.FIELD, "/meta/kind"), schemas)
    path, message = unknown_message(chooser.select([], {"meta": {"kind": 1.5}}))
    assert path == "/meta/kind"
    assert message.startswith("field /meta/kind value '1.5' is not mapped to a schema")


@pytest.mark.parametrize(("value", "kind"), [({"a": 1}, "an object"), ([1], "an array")])
def test_a_field_holding_a_container_is_an_unknown_schema(
    schemas: dict[SchemaRef, CompiledSchema], value: Any, kind: str
) -> None:
    chooser = CompiledSelection(selection(SelectorSource.FIELD, "/kind"), schemas)
    _, message = unknown_message(chooser.select([], {"kind": value}))
    assert message == f"field /kind holds {kind}, not a value to select by"


def test_a_field_selector_key_must_be_a_json_pointer(
    schemas: dict[SchemaRef, CompiledSchema],
) -> None:
    with pytest.raises(ValueError, match="not a JSON pointer"):
        CompiledSelection(selection(SelectorSource.FIELD, "kind"), schemas)
