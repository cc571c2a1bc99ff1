from __future__ import annotations

from typing import Any

import pytest

from tests.unit.validation.samples import EVENT_REF, avro_version, json_version
from validator_pod.domain.pipeline_config import SchemaRef
from validator_pod.domain.schemas import Remediation, Rule, SchemaVersion, TimestampFix
from validator_pod.validation.compiling import (
    CompiledAvroSchema,
    CompiledJsonSchema,
    CompiledSchema,
    JsonSchemaDraft,
    SchemaCompileError,
    compile_rules,
    compile_schema,
    compile_schemas,
    record_fields_read,
)


def test_the_event_schema_compiles_with_its_rules(event_schema: CompiledSchema) -> None:
    assert isinstance(event_schema, CompiledJsonSchema)
    assert event_schema.ref == EVENT_REF
    assert event_schema.draft is JsonSchemaDraft.DRAFT_2020_12
    assert [rule.name for rule in event_schema.rules.rules] == [
        "positive-amount",
        "cancellations-explain",
        "amount-covers-items",
    ]
    assert event_schema.rules.rules[0].schema_path == "/rules/positive-amount"


@pytest.mark.parametrize(
    ("declared", "draft"),
    [
        (None, JsonSchemaDraft.DRAFT_2020_12),
        ("https://json-schema.org/draft/2020-12/schema", JsonSchemaDraft.DRAFT_2020_12),
        ("https://json-schema.org/draft/2020-12/schema#", JsonSchemaDraft.DRAFT_2020_12),
        ("http://json-schema.org/draft-07/schema#", JsonSchemaDraft.DRAFT_7),
        ("http://json-schema.org/draft-07/schema", JsonSchemaDraft.DRAFT_7),
        ("https://json-schema.org/draft-07/schema#", JsonSchemaDraft.DRAFT_7),
    ],
)
def test_the_draft_is_chosen_by_dollar_schema(declared: str | None, draft: JsonSchemaDraft) -> None:
    document: dict[str, Any] = {"type": "object"}
    if declared is not None:
        document["$schema"] = declared
    compiled = compile_schema(json_version(document))
    assert isinstance(compiled, CompiledJsonSchema)
    assert compiled.draft is draft


@pytest.mark.parametrize(
    "declared",
    [
        "http://json-schema.org/draft-04/schema#",
        "https://json-schema.org/draft/2019-09/schema",
        "https://example.com/my-meta",
        7,
    ],
)
def test_drafts_other_than_7_and_2020_12_are_refused(declared: object) -> None:
    with pytest.raises(SchemaCompileError, match=r"unsupported \$schema"):
        compile_schema(json_version({"$schema": declared, "type": "object"}))


def test_a_schema_that_breaks_the_metaschema_is_refused_with_the_location() -> None:
    document = {"type": "object", "properties": {"amount": {"type": "numbr"}}}
    with pytest.raises(SchemaCompileError) as caught:
        compile_schema(json_version(document))
    message = str(caught.value)
    assert "not a valid 2020-12 JSON Schema" in message
    assert "/properties/amount/type" in message


def test_a_draft_7_schema_is_checked_against_the_draft_7_metaschema() -> None:
    document = {"$schema": "http://json-schema.org/draft-07/schema#", "required": "id"}
    with pytest.raises(SchemaCompileError, match="draft-07 JSON Schema: at /required"):
        compile_schema(json_version(document))


def test_an_invalid_regex_is_refused() -> None:
    with pytest.raises(SchemaCompileError, match="regex"):
        compile_schema(json_version({"properties": {"a": {"pattern": "(unclosed"}}}))


def test_a_dangling_local_reference_is_refused() -> None:
    with pytest.raises(SchemaCompileError, match="/\\$defs/nope"):
        compile_schema(json_version({"properties": {"a": {"$ref": "#/$defs/nope"}}}))


def test_remote_references_are_refused_without_touching_the_network() -> None:
    document = {"properties": {"a": {"$ref": "https://schemas.example.com/a.json"}}}
    with pytest.raises(SchemaCompileError, match="Retrieval is disabled"):
        compile_schema(json_version(document))


def test_a_rule_with_a_syntax_error_is_refused_naming_the_rule() -> None:
    rules = (Rule(name="broken", expression="record.amount > 0 &&", message="m"),)
    with pytest.raises(SchemaCompileError) as caught:
        compile_schema(json_version({"type": "object"}, rules=rules))
    message = str(caught.value)
    assert message.startswith("rule 'broken' is not valid CEL")
    assert "1:21" in message  # line and column of the syntax error
    assert "\n" not in message


def test_a_rule_using_a_variable_other_than_record_is_refused() -> None:
    rules = (Rule(name="bare", expression="amount > 0", message="m"),)
    with pytest.raises(SchemaCompileError, match=r"undefined variable\(s\) amount.*record\.amount"):
        compile_rules(rules)


def test_comprehension_variables_and_type_names_are_not_undefined() -> None:
    rules = (
        Rule(name="all", expression="record.items.all(item, item.qty > 0)", message="m"),
        Rule(name="map", expression="record.items.map(i, i.qty).exists(q, q > 1)", message="m"),
        Rule(name="types", expression="type(record.note) == string", message="m"),
    )
    assert len(compile_rules(rules).rules) == 3


def test_rule_names_must_be_unique() -> None:
    rules = (
        Rule(name="same", expression="true", message="m"),
        Rule(name="same", expression="false", message="m"),
    )
    with pytest.raises(SchemaCompileError, match="'same' is defined more than once"):
        compile_rules(rules)


@pytest.mark.parametrize(
    ("expression", "fields"),
    [
        ("record.amount > 0", {"amount"}),
        ("has(record.note) || record.customer.tier == 'gold'", {"note", "customer"}),
        ("record.items.all(i, i.qty > 0) && record . amount > 1", {"items", "amount"}),
        ("true", set()),
        ("my_record.x > 0 && x.record > 0", set()),
        ("size(record) > 2", None),
        ('record["amount"] > 0', None),
        ('record.note == "record"', None),  # a mention the scan cannot tell from a use
    ],
)
def test_rules_read_only_the_fields_they_name(expression: str, fields: set[str] | None) -> None:
    assert record_fields_read(expression) == fields


def test_the_rules_of_a_schema_read_the_union_of_their_fields() -> None:
    rules = (
        Rule(name="a", expression="record.amount > 0", message="m"),
        Rule(name="b", expression="record.currency == 'EUR'", message="m"),
    )
    assert compile_rules(rules).fields == ("amount", "currency")
    whole = (*rules, Rule(name="c", expression="size(record) > 0", message="m"))
    assert compile_rules(whole).fields is None


def test_avro_schemas_compile() -> None:
    document = {"type": "record", "name": "Order", "fields": [{"name": "id", "type": "string"}]}
    compiled = compile_schema(avro_version(document))
    assert isinstance(compiled, CompiledAvroSchema)
    assert compiled.ref == SchemaRef(name="order-avro", version=1)


@pytest.mark.parametrize(
    ("document", "reason"),
    [
        ({"type": "recrd", "name": "Order", "fields": []}, "recrd"),
        ({"type": "record", "fields": []}, '"name" is a required field'),
        ({"type": "record", "name": "O", "fields": [{"name": "a", "type": "Nope"}]}, "Nope"),
        ({"type": "enum", "name": "E", "symbols": ["a", "a"]}, "unique"),
        ({"fields": []}, "missing key 'type'"),
    ],
)
def test_invalid_avro_schemas_are_refused(document: dict[str, Any], reason: str) -> None:
    with pytest.raises(SchemaCompileError, match="invalid Avro schema") as caught:
        compile_schema(avro_version(document))
    assert reason in str(caught.value)


def test_compiling_several_versions_names_the_one_that_failed(event_version: SchemaVersion) -> None:
    broken = json_version({"type": "strng"}, name="payments", version=3)
    with pytest.raises(SchemaCompileError, match=r"^schema payments version 3: "):
        compile_schemas([event_version, broken])


def test_compiled_versions_are_keyed_by_reference(event_version: SchemaVersion) -> None:
    second = json_version({"type": "object"}, version=2)
    compiled = compile_schemas([event_version, second])
    assert set(compiled) == {EVENT_REF, SchemaRef(name="order-event", version=2)}


def test_remediation_timestamp_paths_must_be_json_pointers() -> None:
    remediation = Remediation(timestamps=TimestampFix(paths=("/occurred_at", "occurred_at")))
    with pytest.raises(SchemaCompileError) as caught:
        compile_schema(json_version({"type": "object"}, remediation=remediation))
    assert str(caught.value) == (
        "remediation timestamp path 'occurred_at' is not a JSON pointer: "
        "it must be empty or start with '/'"
    )


@pytest.mark.parametrize(
    "declared",
    ["http://json-schema.org/draft-07/schema#", "https://json-schema.org/draft-07/schema"],
)
def test_draft_7_rules_apply_however_its_uri_is_spelled(declared: str) -> None:
    # `items` as a list is draft 7's tuple form; 2020-12 refuses it (that is `prefixItems`).
    document = {"$schema": declared, "items": [{"type": "string"}]}
    compiled = compile_schema(json_version(document))
    assert isinstance(compiled, CompiledJsonSchema)
    assert not compiled.validator.is_valid([1])
    with pytest.raises(SchemaCompileError, match="not a valid 2020-12 JSON Schema: at /items"):
        compile_schema(json_version({"items": [{"type": "string"}]}))
