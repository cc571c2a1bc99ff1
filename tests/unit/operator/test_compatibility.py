"""Schema compatibility: Avro resolution rules and a documented JSON Schema subset."""

from __future__ import annotations

import io
from typing import Any

import fastavro
import jsonschema
import pytest

from quarantine_operator.compatibility import (
    Direction,
    Incompatibility,
    InvalidSchemaError,
    check_compatibility,
    parse_avro,
)
from validator_pod.domain.schemas import Compatibility, SchemaType, SchemaVersion

AVRO = SchemaType.AVRO
JSON = SchemaType.JSON_SCHEMA


def version(number: int, schema: dict[str, Any], type_: SchemaType = AVRO) -> SchemaVersion:
    return SchemaVersion(name="orders", version=number, type=type_, schema=schema)


def record(*fields: dict[str, Any], name: str = "Order", **extra: Any) -> dict[str, Any]:
    return {"type": "record", "name": name, "fields": list(fields), **extra}


def fld(name: str, type_: Any, **extra: Any) -> dict[str, Any]:
    return {"name": name, "type": type_, **extra}


def avro_problems(
    old: dict[str, Any], new: dict[str, Any], level: Compatibility = Compatibility.BACKWARD
) -> list[str]:
    return [str(i) for i in check_compatibility(AVRO, new, [version(1, old)], level)]


def json_problems(old: Any, new: Any, level: Compatibility = Compatibility.BACKWARD) -> list[str]:
    return [str(i) for i in check_compatibility(JSON, new, [version(1, old, JSON)], level)]


def fastavro_reads(writer: Any, reader: Any, value: Any) -> bool:
    """The oracle: can fastavro read `value` written with `writer` using `reader`?"""
    buffer = io.BytesIO()
    fastavro.schemaless_writer(buffer, fastavro.parse_schema(writer), value)
    buffer.seek(0)
    try:
        fastavro.schemaless_reader(
            buffer, fastavro.parse_schema(writer), fastavro.parse_schema(reader)
        )
    except Exception:
        return False
    return True


BASE = record(fld("id", "string"), fld("amount", "long"))


# --- Levels and versions ----------------------------------------------------------------------


def test_none_checks_nothing() -> None:
    assert avro_problems(BASE, record(fld("id", "int")), Compatibility.NONE) == []


def test_the_first_version_has_nothing_to_be_compatible_with() -> None:
    assert check_compatibility(AVRO, BASE, [], Compatibility.FULL_TRANSITIVE) == []


def test_the_example_message_names_level_version_and_field() -> None:
    new = record(fld("id", "string"), fld("amount", "long"), fld("currency", "string"))
    old_versions = [version(1, BASE), version(2, BASE)]
    (problem,) = check_compatibility(AVRO, new, old_versions, Compatibility.BACKWARD)
    assert problem == Incompatibility(
        Direction.BACKWARD, 2, "field 'currency' was added without a default"
    )
    assert str(problem) == (
        "BACKWARD against version 2: field 'currency' was added without a default"
    )


def test_non_transitive_levels_check_only_the_latest_version() -> None:
    v1 = record(fld("id", "string"))
    v2 = record(fld("id", "string", default=""), fld("note", "string", default=""))
    v3 = record(fld("note", "string", default=""))  # drops id: only v1 readers need it
    versions = [version(2, v2), version(1, v1)]  # any order
    assert check_compatibility(AVRO, v3, versions, Compatibility.FORWARD) == []
    transitive = check_compatibility(AVRO, v3, versions, Compatibility.FORWARD_TRANSITIVE)
    assert [str(p) for p in transitive] == [
        "FORWARD against version 1: field 'id' was removed, but version 1 reads it and has "
        "no default for it",
    ]


def test_transitive_levels_report_the_newest_version_first() -> None:
    v1, v2 = record(fld("a", "int")), record(fld("a", "int"), fld("b", "int", default=0))
    new = record(fld("a", "string"), fld("b", "int", default=0))
    found = check_compatibility(
        AVRO, new, [version(1, v1), version(2, v2)], Compatibility.BACKWARD_TRANSITIVE
    )
    assert [p.version for p in found] == [2, 1]


def test_full_checks_both_directions() -> None:
    new = record(fld("id", "string"), fld("amount", "long"), fld("currency", "string"))
    assert avro_problems(BASE, new, Compatibility.FULL) == [
        "BACKWARD against version 1: field 'currency' was added without a default"
    ]
    removed = record(fld("id", "string"))
    assert avro_problems(BASE, removed, Compatibility.FULL) == [
        "FORWARD against version 1: field 'amount' was removed, but version 1 reads it and "
        "has no default for it"
    ]


def test_changing_the_schema_type_is_incompatible_unless_none() -> None:
    found = check_compatibility(JSON, {"type": "object"}, [version(1, BASE)], Compatibility.FULL)
    assert [str(p) for p in found] == [
        "BACKWARD against version 1: the schema type changed from AVRO to JSON_SCHEMA",
        "FORWARD against version 1: the schema type changed from AVRO to JSON_SCHEMA",
    ]
    assert check_compatibility(JSON, {}, [version(1, BASE)], Compatibility.NONE) == []


# --- Avro: records and fields -----------------------------------------------------------------

AVRO_MATRIX: list[tuple[str, dict[str, Any], dict[str, Any], bool, bool]] = [
    # (case, old, new, backward compatible, forward compatible)
    ("identical", BASE, BASE, True, True),
    (
        "field added with default",
        BASE,
        record(fld("id", "string"), fld("amount", "long"), fld("note", "string", default="")),
        True,
        True,
    ),
    (
        "field added without default",
        BASE,
        record(fld("id", "string"), fld("amount", "long"), fld("note", "string")),
        False,
        True,
    ),
    ("field removed (old has no default)", BASE, record(fld("id", "string")), True, False),
    (
        "field with default removed",
        record(fld("id", "string"), fld("note", "string", default="")),
        record(fld("id", "string")),
        True,
        True,
    ),
    ("int promoted to long", record(fld("n", "int")), record(fld("n", "long")), True, False),
    ("int promoted to double", record(fld("n", "int")), record(fld("n", "double")), True, False),
    ("long promoted to float", record(fld("n", "long")), record(fld("n", "float")), True, False),
    (
        "float promoted to double",
        record(fld("n", "float")),
        record(fld("n", "double")),
        True,
        False,
    ),
    ("long narrowed to int", record(fld("n", "long")), record(fld("n", "int")), False, True),
    ("string to bytes", record(fld("s", "string")), record(fld("s", "bytes")), True, True),
    ("string to int", record(fld("s", "string")), record(fld("s", "int")), False, False),
    ("boolean to string", record(fld("b", "boolean")), record(fld("b", "string")), False, False),
    (
        "field made nullable",
        record(fld("s", "string")),
        record(fld("s", ["null", "string"], default=None)),
        True,
        False,
    ),
    (
        "union branch added",
        record(fld("v", ["null", "string"])),
        record(fld("v", ["null", "string", "long"])),
        True,
        False,
    ),
    (
        "union branch removed",
        record(fld("v", ["null", "string", "long"])),
        record(fld("v", ["null", "string"])),
        False,
        True,
    ),
    (
        "union branch promoted",
        record(fld("v", ["null", "int"])),
        record(fld("v", ["null", "long"])),
        True,
        False,
    ),
    (
        "enum symbol added",
        record(fld("s", {"type": "enum", "name": "Status", "symbols": ["A", "B"]})),
        record(fld("s", {"type": "enum", "name": "Status", "symbols": ["A", "B", "C"]})),
        True,
        False,
    ),
    (
        "enum symbol added with a reader default",
        record(fld("s", {"type": "enum", "name": "Status", "symbols": ["A", "B"], "default": "A"})),
        record(fld("s", {"type": "enum", "name": "Status", "symbols": ["A", "B", "C"]})),
        True,
        True,
    ),
    (
        "enum symbol removed",
        record(fld("s", {"type": "enum", "name": "Status", "symbols": ["A", "B"]})),
        record(fld("s", {"type": "enum", "name": "Status", "symbols": ["A"]})),
        False,
        True,
    ),
    (
        "array items promoted",
        record(fld("xs", {"type": "array", "items": "int"})),
        record(fld("xs", {"type": "array", "items": "long"})),
        True,
        False,
    ),
    (
        "map values changed",
        record(fld("m", {"type": "map", "values": "string"})),
        record(fld("m", {"type": "map", "values": "int"})),
        False,
        False,
    ),
    (
        "nested record field added without default",
        record(fld("customer", record(fld("id", "string"), name="Customer"))),
        record(
            fld("customer", record(fld("id", "string"), fld("email", "string"), name="Customer"))
        ),
        False,
        True,
    ),
    (
        "record renamed",
        record(fld("id", "string")),
        record(fld("id", "string"), name="Purchase"),
        False,
        False,
    ),
    (
        "record renamed with an alias",
        record(fld("id", "string")),
        record(fld("id", "string"), name="Purchase", aliases=["Order"]),
        True,
        False,
    ),
    (
        "field renamed with an alias",
        record(fld("id", "string")),
        record(fld("key", "string", aliases=["id"])),
        True,
        False,
    ),
    (
        "namespace added",
        record(fld("id", "string")),
        record(fld("id", "string"), namespace="com.acme"),
        True,
        True,
    ),
    (
        "fixed size changed",
        record(fld("h", {"type": "fixed", "name": "Hash", "size": 16})),
        record(fld("h", {"type": "fixed", "name": "Hash", "size": 32})),
        False,
        False,
    ),
    (
        "decimal scale changed",
        record(fld("p", {"type": "bytes", "logicalType": "decimal", "precision": 9, "scale": 2})),
        record(fld("p", {"type": "bytes", "logicalType": "decimal", "precision": 9, "scale": 3})),
        False,
        False,
    ),
    (
        "logical timestamp on the same long",
        record(fld("t", "long")),
        record(fld("t", {"type": "long", "logicalType": "timestamp-millis"})),
        True,
        True,
    ),
]


@pytest.mark.parametrize(
    ("old", "new", "backward", "forward"),
    [case[1:] for case in AVRO_MATRIX],
    ids=[case[0] for case in AVRO_MATRIX],
)
def test_avro_compatibility_matrix(
    old: dict[str, Any], new: dict[str, Any], backward: bool, forward: bool
) -> None:
    assert (avro_problems(old, new, Compatibility.BACKWARD) == []) is backward
    assert (avro_problems(old, new, Compatibility.FORWARD) == []) is forward
    assert (avro_problems(old, new, Compatibility.FULL) == []) is (backward and forward)


ORACLE_CASES = [
    (record(fld("n", "int")), record(fld("n", "long")), {"n": 5}),
    (record(fld("n", "long")), record(fld("n", "int")), {"n": 5}),
    (
        BASE,
        record(fld("id", "string"), fld("amount", "long"), fld("x", "int")),
        {"id": "a", "amount": 1},
    ),
    (
        BASE,
        record(fld("id", "string"), fld("amount", "long"), fld("x", "int", default=0)),
        {"id": "a", "amount": 1},
    ),
    (record(fld("s", "string")), record(fld("s", "bytes")), {"s": "x"}),
    (record(fld("v", ["null", "string", "long"])), record(fld("v", ["null", "string"])), {"v": 3}),
    (
        record(fld("s", {"type": "enum", "name": "Status", "symbols": ["A", "B", "C"]})),
        record(fld("s", {"type": "enum", "name": "Status", "symbols": ["A", "B"]})),
        {"s": "C"},
    ),
    (
        record(fld("id", "string")),
        record(fld("id", "string"), name="Purchase", aliases=["Order"]),
        {"id": "a"},
    ),
]


@pytest.mark.parametrize(("writer", "reader", "value"), ORACLE_CASES)
def test_avro_verdicts_agree_with_fastavro(
    writer: dict[str, Any], reader: dict[str, Any], value: dict[str, Any]
) -> None:
    # BACKWARD with old=writer and new=reader is exactly "reader reads writer's data".
    ours = avro_problems(writer, reader, Compatibility.BACKWARD) == []
    assert ours is fastavro_reads(writer, reader, value)


def test_avro_messages_are_precise() -> None:
    old = record(
        fld("amount", "long"),
        fld("status", {"type": "enum", "name": "Status", "symbols": ["NEW", "PAID", "VOID"]}),
        fld("tags", {"type": "array", "items": {"type": "map", "values": "long"}}),
        fld("ref", ["null", "string", "long"]),
    )
    new = record(
        fld("amount", "int"),
        fld("status", {"type": "enum", "name": "Status", "symbols": ["NEW", "PAID"]}),
        fld("tags", {"type": "array", "items": {"type": "map", "values": "int"}}),
        fld("ref", ["null", "string"]),
    )
    assert avro_problems(old, new) == [
        "BACKWARD against version 1: field 'amount': long values written with version 1 "
        "cannot be read as int",
        "BACKWARD against version 1: field 'status': enum Status removed the symbols ['VOID'] "
        "that version 1 can write, and has no default symbol",
        "BACKWARD against version 1: field 'tags[]{}': long values written with version 1 "
        "cannot be read as int",
        "BACKWARD against version 1: field 'ref': the union no longer accepts long, which "
        "version 1 can write",
    ]
    assert avro_problems(new, old, Compatibility.FORWARD) == [
        "FORWARD against version 1: field 'amount': long values written with the new schema "
        "cannot be read as int by version 1",
        "FORWARD against version 1: field 'status': enum Status added the symbols ['VOID'] "
        "that version 1 cannot read (it has no default symbol)",
        "FORWARD against version 1: field 'tags[]{}': long values written with the new schema "
        "cannot be read as int by version 1",
        "FORWARD against version 1: field 'ref': the union now accepts long, which version 1 "
        "cannot read",
    ]


def test_a_renamed_record_is_reported_with_its_names() -> None:
    assert avro_problems(BASE, {**BASE, "name": "Purchase"}) == [
        "BACKWARD against version 1: the top-level type: record name changed from Order to "
        "Purchase (an alias of the old name keeps it readable)"
    ]


def test_recursive_avro_types_are_compared_without_looping() -> None:
    node = {
        "type": "record",
        "name": "Node",
        "fields": [fld("value", "int"), fld("next", ["null", "Node"], default=None)],
    }
    widened = {
        "type": "record",
        "name": "Node",
        "fields": [fld("value", "long"), fld("next", ["null", "Node"], default=None)],
    }
    assert avro_problems(node, widened, Compatibility.BACKWARD) == []
    assert avro_problems(node, widened, Compatibility.FORWARD) == [
        "FORWARD against version 1: field 'value': long values written with the new schema "
        "cannot be read as int by version 1"
    ]


def test_named_types_are_resolved_through_namespaces() -> None:
    schema = {
        "type": "record",
        "name": "Order",
        "namespace": "com.acme",
        "fields": [
            fld("billing", {"type": "record", "name": "Address", "fields": [fld("zip", "string")]}),
            fld("shipping", "Address"),
            fld("legacy", "com.acme.Address"),
        ],
    }
    parsed = parse_avro(schema)
    assert parsed.name == "com.acme.Order"
    assert {f.type.name for f in parsed.fields} == {"com.acme.Address"}
    assert avro_problems(schema, schema) == []


def test_a_union_reader_picks_the_exact_branch_before_a_promotion() -> None:
    old = record(fld("v", ["int", "long"]))
    new = record(fld("v", ["long", "int"]))
    assert avro_problems(old, new, Compatibility.FULL) == []


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "record", "name": "R"},
        {"type": "record", "fields": []},
        {"type": "enum", "name": "E", "symbols": "A"},
        {"type": "fixed", "name": "F"},
        {"type": "Unknown"},
        "Missing",
        [["null"], "string"],
        42,
        {"type": "record", "name": "R", "fields": [{"type": "int"}]},
        {
            "type": "record",
            "name": "R",
            "fields": [fld("a", {"type": "record", "name": "R", "fields": []})],
        },
    ],
)
def test_invalid_avro_schemas_are_refused(schema: Any) -> None:
    with pytest.raises(InvalidSchemaError):
        check_compatibility(AVRO, schema, [version(1, BASE)], Compatibility.BACKWARD)


# --- JSON Schema ------------------------------------------------------------------------------


def obj(
    properties: dict[str, Any], required: list[str] | None = None, **extra: Any
) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": properties, **extra}
    if required:
        schema["required"] = required
    return schema


ORDER = obj({"id": {"type": "string"}, "amount": {"type": "number"}}, ["id"])

JSON_MATRIX: list[tuple[str, Any, Any, bool, bool]] = [
    ("identical", ORDER, ORDER, True, True),
    ("annotations only", ORDER, {**ORDER, "title": "Order", "description": "x"}, True, True),
    (
        "optional property added to an open model",
        ORDER,
        obj({**ORDER["properties"], "note": {"type": "string"}}, ["id"]),
        True,
        True,
    ),
    (
        "required property added",
        ORDER,
        obj({**ORDER["properties"], "currency": {"type": "string"}}, ["id", "currency"]),
        False,
        True,
    ),
    (
        "optional property became required",
        ORDER,
        obj(ORDER["properties"], ["id", "amount"]),
        False,
        True,
    ),
    ("required property made optional", ORDER, obj(ORDER["properties"]), True, False),
    (
        "property removed from an open model",
        ORDER,
        obj({"id": {"type": "string"}}, ["id"]),
        True,
        True,
    ),
    (
        "property removed from a closed model",
        {**ORDER, "additionalProperties": False},
        obj({"id": {"type": "string"}}, ["id"], additionalProperties=False),
        False,
        True,
    ),
    (
        "property added to a closed model",
        {**ORDER, "additionalProperties": False},
        obj(
            {**ORDER["properties"], "note": {"type": "string"}}, ["id"], additionalProperties=False
        ),
        True,
        False,
    ),
    ("model closed", ORDER, {**ORDER, "additionalProperties": False}, False, True),
    ("model opened", {**ORDER, "additionalProperties": False}, ORDER, True, False),
    (
        "type narrowed number to integer",
        obj({"n": {"type": "number"}}),
        obj({"n": {"type": "integer"}}),
        False,
        True,
    ),
    (
        "type widened to a union",
        obj({"n": {"type": "string"}}),
        obj({"n": {"type": ["string", "null"]}}),
        True,
        False,
    ),
    (
        "type added where there was none",
        obj({"n": {}}),
        obj({"n": {"type": "string"}}),
        False,
        True,
    ),
    (
        "enum value added",
        obj({"s": {"enum": ["A", "B"]}}),
        obj({"s": {"enum": ["A", "B", "C"]}}),
        True,
        False,
    ),
    (
        "enum value removed",
        obj({"s": {"enum": ["A", "B"]}}),
        obj({"s": {"enum": ["A"]}}),
        False,
        True,
    ),
    ("const to enum", obj({"s": {"const": "A"}}), obj({"s": {"enum": ["A", "B"]}}), True, False),
    (
        "minimum raised",
        obj({"n": {"type": "number", "minimum": 0}}),
        obj({"n": {"type": "number", "minimum": 1}}),
        False,
        True,
    ),
    (
        "minimum made exclusive",
        obj({"n": {"type": "number", "minimum": 0}}),
        obj({"n": {"type": "number", "exclusiveMinimum": 0}}),
        False,
        True,
    ),
    (
        "draft 4 exclusive minimum",
        obj({"n": {"type": "number", "minimum": 0, "exclusiveMinimum": True}}),
        obj({"n": {"type": "number", "minimum": 0}}),
        True,
        False,
    ),
    (
        "maximum added",
        obj({"n": {"type": "number"}}),
        obj({"n": {"type": "number", "maximum": 10}}),
        False,
        True,
    ),
    (
        "multipleOf refined",
        obj({"n": {"type": "number", "multipleOf": 0.5}}),
        obj({"n": {"type": "number", "multipleOf": 0.25}}),
        True,
        False,
    ),
    (
        "maxLength shortened",
        obj({"s": {"type": "string", "maxLength": 10}}),
        obj({"s": {"type": "string", "maxLength": 5}}),
        False,
        True,
    ),
    (
        "minLength on a number is irrelevant",
        obj({"n": {"type": "integer"}}),
        obj({"n": {"type": "integer", "minLength": 3}}),
        True,
        True,
    ),
    (
        "pattern changed",
        obj({"s": {"type": "string", "pattern": "^[A-Z]+$"}}),
        obj({"s": {"type": "string", "pattern": "^[A-Z0-9]+$"}}),
        False,
        False,
    ),
    (
        "format added",
        obj({"s": {"type": "string"}}),
        obj({"s": {"type": "string", "format": "email"}}),
        False,
        True,
    ),
    (
        "array items narrowed",
        obj({"xs": {"type": "array", "items": {"type": "number"}}}),
        obj({"xs": {"type": "array", "items": {"type": "integer"}}}),
        False,
        True,
    ),
    (
        "maxItems added",
        obj({"xs": {"type": "array"}}),
        obj({"xs": {"type": "array", "maxItems": 3}}),
        False,
        True,
    ),
    (
        "uniqueItems required",
        obj({"xs": {"type": "array"}}),
        obj({"xs": {"type": "array", "uniqueItems": True}}),
        False,
        True,
    ),
    (
        "tuple position narrowed",
        obj({"p": {"type": "array", "prefixItems": [{"type": "number"}, {"type": "string"}]}}),
        obj({"p": {"type": "array", "prefixItems": [{"type": "integer"}, {"type": "string"}]}}),
        False,
        True,
    ),
    (
        "nested required property added",
        obj({"customer": obj({"id": {"type": "string"}})}),
        obj({"customer": obj({"id": {"type": "string"}, "email": {"type": "string"}}, ["email"])}),
        False,
        True,
    ),
    (
        "anyOf branch added",
        obj({"v": {"anyOf": [{"type": "string"}, {"type": "integer"}]}}),
        obj({"v": {"anyOf": [{"type": "string"}, {"type": "integer"}, {"type": "null"}]}}),
        True,
        False,
    ),
    (
        "oneOf replaced by a wider type",
        obj({"v": {"oneOf": [{"type": "string"}, {"type": "integer"}]}}),
        obj({"v": {"type": ["string", "number"]}}),
        True,
        False,
    ),
    (
        "allOf parts merged",
        {"allOf": [obj({"id": {"type": "string"}}), {"required": ["id"]}]},
        obj({"id": {"type": "string"}}, ["id"]),
        True,
        True,
    ),
    (
        "additionalProperties schema narrowed",
        {"type": "object", "additionalProperties": {"type": "number"}},
        {"type": "object", "additionalProperties": {"type": "integer"}},
        False,
        True,
    ),
    (
        "not changed is not analysed",
        obj({"s": {"type": "string", "not": {"const": "x"}}}),
        obj({"s": {"type": "string", "not": {"const": "y"}}}),
        False,
        False,
    ),
    ("true to an object schema", obj({"x": True}), obj({"x": {"type": "object"}}), False, True),
    ("anything to false", obj({"x": {"type": "object"}}), obj({"x": False}), False, True),
]


@pytest.mark.parametrize(
    ("old", "new", "backward", "forward"),
    [case[1:] for case in JSON_MATRIX],
    ids=[case[0] for case in JSON_MATRIX],
)
def test_json_schema_compatibility_matrix(
    old: Any, new: Any, backward: bool, forward: bool
) -> None:
    assert (json_problems(old, new, Compatibility.BACKWARD) == []) is backward
    assert (json_problems(old, new, Compatibility.FORWARD) == []) is forward


JSON_SAMPLES: list[Any] = [
    {"id": "a"},
    {"id": "a", "amount": 3},
    {"id": "a", "amount": 2.5, "note": "x"},
    {"id": "a", "currency": "EUR"},
    {"n": 1},
    {"n": 0},
    {"n": 1.5},
    {"s": "A"},
    {"s": "C"},
    {"xs": [1, 1]},
    {"v": None},
    {"v": "x"},
    {"customer": {"id": "c"}},
    {},
]


@pytest.mark.parametrize(
    ("old", "new"),
    [case[1:3] for case in JSON_MATRIX if case[3]],
    ids=[case[0] for case in JSON_MATRIX if case[3]],
)
def test_backward_compatible_json_schemas_accept_every_sample_the_old_one_accepts(
    old: Any, new: Any
) -> None:
    # The pragmatic open-content-model rule is excluded: a sample could abuse an undeclared name.
    for sample in JSON_SAMPLES:
        if jsonschema.Draft202012Validator(old).is_valid(sample) and "note" not in sample:
            assert jsonschema.Draft202012Validator(new).is_valid(sample), sample


def test_json_messages_are_precise() -> None:
    old = obj(
        {
            "id": {"type": "string"},
            "amount": {"type": "number", "minimum": 0},
            "status": {"enum": ["new", "paid", "void"]},
            "lines": {"type": "array", "items": obj({"sku": {"type": "string", "maxLength": 20}})},
        },
        ["id"],
    )
    new = obj(
        {
            "id": {"type": "string"},
            "amount": {"type": "integer", "minimum": 1},
            "status": {"enum": ["new", "paid"]},
            "lines": {"type": "array", "items": obj({"sku": {"type": "string", "maxLength": 12}})},
            "currency": {"type": "string"},
        },
        ["id", "currency"],
    )
    assert json_problems(old, new) == [
        "BACKWARD against version 1: at /amount: type tightened from [number] to [integer]",
        "BACKWARD against version 1: at /amount: lower bound tightened from ≥ 0 to ≥ 1",
        'BACKWARD against version 1: at /status: allowed values narrowed: ["void"] no longer '
        "allowed",
        "BACKWARD against version 1: at /lines/*/sku: maxLength tightened from 20 to 12",
        "BACKWARD against version 1: at /currency: a required property was added",
    ]
    assert json_problems(new, old, Compatibility.FORWARD) == [
        "FORWARD against version 1: at /amount: type loosened from [integer] to [number]",
        "FORWARD against version 1: at /amount: lower bound loosened from ≥ 1 to ≥ 0",
        'FORWARD against version 1: at /status: allowed values widened: ["void"] newly '
        "allowed, which version 1 rejects",
        "FORWARD against version 1: at /lines/*/sku: maxLength loosened from 12 to 20",
        "FORWARD against version 1: at /currency: the property was removed, but version 1 "
        "requires it",
    ]


def test_unanalysed_changes_say_so() -> None:
    old = obj({"s": {"type": "string", "pattern": "^a"}}, propertyNames={"maxLength": 5})
    new = obj({"s": {"type": "string", "pattern": "^b"}}, propertyNames={"maxLength": 4})
    assert json_problems(old, new) == [
        "BACKWARD against version 1: at /s: pattern changed from '^a' to '^b'; whether every "
        "value matching the old one matches the new one cannot be proven, so it is treated as "
        "incompatible",
        "BACKWARD against version 1: at the root: 'propertyNames' changed; this change is not "
        "analysed, so it is treated as incompatible",
    ]


def test_local_refs_are_followed_and_recursive_schemas_terminate() -> None:
    def tree(value_type: str) -> dict[str, Any]:
        return {
            "$defs": {
                "node": obj(
                    {
                        "value": {"type": value_type},
                        "children": {"type": "array", "items": {"$ref": "#/$defs/node"}},
                    }
                )
            },
            "$ref": "#/$defs/node",
        }

    assert json_problems(tree("number"), tree("number"), Compatibility.FULL) == []
    assert json_problems(tree("number"), tree("integer")) == [
        "BACKWARD against version 1: at /value: type tightened from [number] to [integer]"
    ]


def test_definitions_changed_behind_an_unchanged_ref_are_still_checked() -> None:
    old = {"definitions": {"id": {"type": "string"}}, **obj({"id": {"$ref": "#/definitions/id"}})}
    new = {"definitions": {"id": {"type": "integer"}}, **obj({"id": {"$ref": "#/definitions/id"}})}
    assert json_problems(old, new) == [
        "BACKWARD against version 1: at /id: type tightened from [string] to [integer]"
    ]


def test_remote_refs_are_not_analysed() -> None:
    old = obj({"a": {"$ref": "https://example.com/a.json"}})
    new = obj({"a": {"$ref": "https://example.com/b.json"}})
    assert json_problems(old, new) == [
        "BACKWARD against version 1: at /a: '$ref' changed; this change is not analysed, so it "
        "is treated as incompatible"
    ]
    assert json_problems(old, old) == []


def test_numbers_compare_as_json_not_python() -> None:
    assert json_problems(obj({"s": {"enum": [1]}}), obj({"s": {"enum": [1.0]}})) == []
    assert json_problems(obj({"s": {"enum": [True]}}), obj({"s": {"enum": [1]}})) != []


def test_closing_the_content_model_is_explained_in_both_directions() -> None:
    closed = {**ORDER, "additionalProperties": False}
    assert json_problems(ORDER, closed) == [
        "BACKWARD against version 1: at the root: additionalProperties changed from true to "
        "false: undeclared properties allowed before are now rejected"
    ]
    assert json_problems(closed, ORDER, Compatibility.FORWARD) == [
        "FORWARD against version 1: at the root: additionalProperties changed from false to "
        "true: version 1 rejects the undeclared properties now allowed"
    ]
