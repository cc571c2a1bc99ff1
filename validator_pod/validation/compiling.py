"""Schema versions to ready-to-run validators: JSON Schema, Avro and CEL rules, compiled once.

Compile each `SchemaVersion` once and cache the result by (name, version): compiling is
milliseconds, validating is microseconds. A schema that does not compile raises
`SchemaCompileError` with a message precise enough to show a user as the reason a version was
refused (the operator's `Ready=False`, reason `InvalidSchema`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final

import cel
import jsonschema_rs
from fastavro import parse_schema

from validator_pod.domain.pipeline_config import SchemaRef
from validator_pod.domain.schemas import Remediation, Rule, SchemaType, SchemaVersion
from validator_pod.validation import cel_subset
from validator_pod.validation.pointers import format_pointer, parse_pointer

RECORD_VARIABLE: Final = "record"
"""The name under which CEL rules see the record."""

# Identifiers a CEL expression may use besides `record`: type names, and variables bound by the
# comprehension macros (`record.items.all(item, item.qty > 0)`).
_CEL_TYPE_NAMES: Final = frozenset(
    {"int", "uint", "double", "bool", "string", "bytes", "list", "map", "null_type", "type", "dyn"}
)
_CEL_BOUND_VARIABLES: Final = re.compile(
    r"\.\s*(?:all|exists|exists_one|map|filter)\s*\(\s*([A-Za-z_]\w*)\s*,(?:\s*([A-Za-z_]\w*)\s*,)?"
)
_RECORD_USE: Final = re.compile(r"(?<![\w.])record(?!\w)(?:\s*\.\s*([A-Za-z_]\w*))?")


class SchemaCompileError(ValueError):
    """A schema version, or one of its rules, cannot be compiled; the message says exactly why."""


class JsonSchemaDraft(StrEnum):
    """The JSON Schema drafts accepted, chosen by `$schema` (2020-12 when absent)."""

    DRAFT_7 = "draft-07"
    DRAFT_2020_12 = "2020-12"


# `$schema` without scheme and fragment, and the canonical form handed to jsonschema-rs, so that
# the metaschema is always the draft's own and never looked up elsewhere.
_DRAFTS_BY_URI: Final = {
    "json-schema.org/draft-07/schema": JsonSchemaDraft.DRAFT_7,
    "json-schema.org/draft/2020-12/schema": JsonSchemaDraft.DRAFT_2020_12,
}
_CANONICAL_URIS: Final = {
    JsonSchemaDraft.DRAFT_7: "http://json-schema.org/draft-07/schema#",
    JsonSchemaDraft.DRAFT_2020_12: "https://json-schema.org/draft/2020-12/schema",
}


@dataclass(frozen=True, slots=True, eq=False)
class CompiledRule:
    """A business rule with its compiled CEL program."""

    name: str
    message: str
    schema_path: str
    program: cel.Program
    evaluator: cel_subset.Evaluator | None = None
    """The pure-Python evaluator when the expression is in `cel_subset`; it answers as the
    program would or raises `cel_subset.Deferral`."""


@dataclass(frozen=True, slots=True, eq=False)
class CompiledRules:
    """The rules of a schema version, plus which top-level record fields they read.

    `fields` is None when some rule uses `record` as a whole (`size(record)`, `record["a"]`):
    converting a record into CEL values costs about a microsecond per value, so the rules get
    only the fields they read when that is known.
    """

    rules: tuple[CompiledRule, ...] = ()
    fields: tuple[str, ...] | None = ()
    evaluators: tuple[tuple[CompiledRule, cel_subset.Evaluator], ...] | None = field(init=False)
    """Each rule with its pure-Python evaluator, in order, when every rule has one; else None."""

    def __post_init__(self) -> None:
        pairs = tuple((rule, rule.evaluator) for rule in self.rules if rule.evaluator is not None)
        object.__setattr__(self, "evaluators", pairs if len(pairs) == len(self.rules) else None)


@dataclass(frozen=True, slots=True, eq=False)
class CompiledJsonSchema:
    """A JSON Schema version ready to validate decoded JSON values."""

    ref: SchemaRef
    draft: JsonSchemaDraft
    document: Mapping[str, Any]
    validator: jsonschema_rs.Validator
    rules: CompiledRules
    remediation: Remediation


@dataclass(frozen=True, slots=True, eq=False)
class CompiledAvroSchema:
    """An Avro schema version: the parsed schema decodes (as writer schema) and validates."""

    ref: SchemaRef
    document: Mapping[str, Any]
    parsed: Any
    rules: CompiledRules
    remediation: Remediation


CompiledSchema = CompiledJsonSchema | CompiledAvroSchema


def compile_schema(version: SchemaVersion) -> CompiledSchema:
    """Compile one schema version and its rules; raise `SchemaCompileError` when it is invalid."""
    ref = SchemaRef(name=version.name, version=version.version)
    rules = compile_rules(version.rules)
    _check_remediation(version.remediation)
    if version.type is SchemaType.AVRO:
        return CompiledAvroSchema(
            ref=ref,
            document=version.schema_,
            parsed=_parse_avro(version.schema_),
            rules=rules,
            remediation=version.remediation,
        )
    draft = json_schema_draft(version.schema_)
    return CompiledJsonSchema(
        ref=ref,
        draft=draft,
        document=version.schema_,
        validator=_json_schema_validator(version.schema_, draft),
        rules=rules,
        remediation=version.remediation,
    )


def compile_schemas(versions: Iterable[SchemaVersion]) -> dict[SchemaRef, CompiledSchema]:
    """Compile several versions, keyed by reference; the error names the version that failed."""
    compiled: dict[SchemaRef, CompiledSchema] = {}
    for version in versions:
        try:
            schema = compile_schema(version)
        except SchemaCompileError as exc:
            raise SchemaCompileError(
                f"schema {version.name} version {version.version}: {exc}"
            ) from exc
        compiled[schema.ref] = schema
    return compiled


def json_schema_draft(document: Mapping[str, Any]) -> JsonSchemaDraft:
    """The draft a JSON Schema document declares with `$schema`; 2020-12 when it declares none."""
    declared = document.get("$schema")
    if declared is None:
        return JsonSchemaDraft.DRAFT_2020_12
    if isinstance(declared, str):
        bare = declared.removeprefix("https://").removeprefix("http://").removesuffix("#")
        if bare in _DRAFTS_BY_URI:
            return _DRAFTS_BY_URI[bare]
    raise SchemaCompileError(
        f"unsupported $schema {declared!r}: use draft-07 (http://json-schema.org/draft-07/schema#) "
        "or 2020-12 (https://json-schema.org/draft/2020-12/schema), or omit it for 2020-12"
    )


def _json_schema_validator(
    document: Mapping[str, Any], draft: JsonSchemaDraft
) -> jsonschema_rs.Validator:
    schema = {**document, "$schema": _CANONICAL_URIS[draft]}
    try:
        jsonschema_rs.meta.validate(schema)
    except jsonschema_rs.ValidationError as exc:
        where = format_pointer(exc.instance_path) or "the root"
        raise SchemaCompileError(
            f"not a valid {draft} JSON Schema: at {where}: {exc.message}"
        ) from exc
    except jsonschema_rs.ReferencingError as exc:
        raise SchemaCompileError(f"not a valid {draft} JSON Schema: {exc.message}") from exc
    validator_class = (
        jsonschema_rs.Draft7Validator
        if draft is JsonSchemaDraft.DRAFT_7
        else jsonschema_rs.Draft202012Validator
    )
    try:
        # offline: validation is pure, a remote $ref must not make it reach for the network.
        return validator_class(schema, validate_formats=True, offline=True)
    except jsonschema_rs.ValidationError as exc:
        where = format_pointer(exc.instance_path)
        at = f"at {where}: " if where else ""
        raise SchemaCompileError(f"JSON Schema does not compile: {at}{exc.message}") from exc
    except (ValueError, jsonschema_rs.ReferencingError) as exc:
        raise SchemaCompileError(f"JSON Schema does not compile: {exc}") from exc


def _check_remediation(remediation: Remediation) -> None:
    for path in remediation.timestamps.paths:
        try:
            parse_pointer(path)
        except ValueError as exc:
            raise SchemaCompileError(f"remediation timestamp path {exc}") from exc


def _parse_avro(document: Mapping[str, Any]) -> Any:
    try:
        return parse_schema(dict(document))
    except KeyError as exc:
        raise SchemaCompileError(f"invalid Avro schema: missing key {exc}") from exc
    except Exception as exc:  # fastavro raises many exception types for a malformed schema
        raise SchemaCompileError(f"invalid Avro schema: {exc}") from exc


def compile_rules(rules: Iterable[Rule]) -> CompiledRules:
    """Compile CEL rules; raise `SchemaCompileError` naming the rule on a syntax error, a
    duplicate name, or a reference to a variable other than `record`."""
    compiled: list[CompiledRule] = []
    fields: set[str] | None = set()
    for rule in rules:
        if any(existing.name == rule.name for existing in compiled):
            raise SchemaCompileError(f"rule {rule.name!r} is defined more than once")
        compiled.append(_compile_rule(rule))
        read = record_fields_read(rule.expression)
        fields = None if fields is None or read is None else fields | read
    return CompiledRules(
        rules=tuple(compiled), fields=None if fields is None else tuple(sorted(fields))
    )


def _compile_rule(rule: Rule) -> CompiledRule:
    try:
        program = cel.compile(rule.expression)
    except ValueError as exc:
        detail = str(exc).splitlines()[0] if str(exc) else "syntax error"
        raise SchemaCompileError(f"rule {rule.name!r} is not valid CEL: {detail}") from exc
    bound = {
        name
        for match in _CEL_BOUND_VARIABLES.finditer(rule.expression)
        for name in match.groups()
        if name
    }
    unknown = sorted(set(program.variables()) - bound - _CEL_TYPE_NAMES - {RECORD_VARIABLE})
    if unknown:
        raise SchemaCompileError(
            f"rule {rule.name!r} uses undefined variable(s) {', '.join(unknown)}: "
            f"the record is available as `{RECORD_VARIABLE}` (e.g. {RECORD_VARIABLE}.{unknown[0]})"
        )
    return CompiledRule(
        name=rule.name,
        message=rule.message,
        schema_path=format_pointer(("rules", rule.name)),
        program=program,
        evaluator=cel_subset.compile(rule.expression),
    )


def record_fields_read(expression: str) -> set[str] | None:
    """The top-level fields a CEL expression reads as `record.<field>`; None when it uses
    `record` in any other way, or when it mentions `record` where the scan cannot tell (inside
    a string literal, for example), so that the whole record is needed."""
    fields: set[str] = set()
    for match in _RECORD_USE.finditer(expression):
        field = match.group(1)
        if field is None:
            return None
        fields.add(field)
    return fields
