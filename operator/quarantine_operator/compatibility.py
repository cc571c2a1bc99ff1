"""Schema compatibility between a new schema and earlier versions, as a schema registry checks it.

Directions (the data a reader must accept):
- BACKWARD: the new schema reads (accepts) data written with an earlier version;
- FORWARD: an earlier version reads data written with the new schema;
- FULL: both. *_TRANSITIVE levels check every earlier version, the others only the latest one;
  NONE checks nothing.

Avro follows the specification's schema-resolution rules (as fastavro and the Java library apply
them): names must match (or be aliased), reader fields missing in the writer need defaults, the
promotions int→long→float→double and string↔bytes are allowed, enum symbols the reader lacks
need a reader default, union branches must find a match, decimals must keep scale and precision.

JSON Schema has no resolution rules, so "A reads B" means every document valid under B is valid
under A. Deciding that is undecidable in general; this is a documented, pragmatic subset in the
spirit of Confluent's JSON Schema rules:
- checked precisely: `type` (integer ⊂ number), `enum`/`const`, numeric bounds and `multipleOf`,
  `minLength`/`maxLength`, `minItems`/`maxItems`/`uniqueItems`, `items`/`prefixItems` by position,
  `properties`, `required`, `additionalProperties`, `patternProperties` by identical pattern,
  `minProperties`/`maxProperties`, local `$ref`s (also recursive), `anyOf`/`oneOf` as unions
  (oneOf's exclusivity is not checked) and `allOf` as a conjunction;
- open content models: a property that one side declares and the other leaves to an open
  `additionalProperties` is assumed not to have been used with another meaning, so adding an
  optional property to an open model is allowed (Confluent refuses it; that would make the default
  BACKWARD level refuse nearly every evolution of ordinary schemas);
- anything else that changed (`pattern`, `format`, `not`, `if`/`then`/`else`, dependencies,
  `propertyNames`, `contains`, remote `$ref`s, unknown keywords) is treated as incompatible and
  the message says it was not analysed. Annotations (`title`, `description`, `default`,
  `examples`, ...) never matter.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Any, Final

from validator_pod.domain.schemas import Compatibility, SchemaType, SchemaVersion


class Direction(StrEnum):
    """Which side reads: the new schema (BACKWARD) or the earlier version (FORWARD)."""

    BACKWARD = "BACKWARD"
    FORWARD = "FORWARD"


@dataclass(frozen=True, slots=True)
class Incompatibility:
    """One reason the new schema is refused."""

    direction: Direction
    version: int
    message: str

    def __str__(self) -> str:
        return f"{self.direction} against version {self.version}: {self.message}"


class InvalidSchemaError(ValueError):
    """The schema document is not a valid schema of its type."""


_DIRECTIONS: Final[Mapping[Compatibility, tuple[Direction, ...]]] = {
    Compatibility.BACKWARD: (Direction.BACKWARD,),
    Compatibility.BACKWARD_TRANSITIVE: (Direction.BACKWARD,),
    Compatibility.FORWARD: (Direction.FORWARD,),
    Compatibility.FORWARD_TRANSITIVE: (Direction.FORWARD,),
    Compatibility.FULL: (Direction.BACKWARD, Direction.FORWARD),
    Compatibility.FULL_TRANSITIVE: (Direction.BACKWARD, Direction.FORWARD),
    Compatibility.NONE: (),
}
_TRANSITIVE: Final = frozenset(
    {
        Compatibility.BACKWARD_TRANSITIVE,
        Compatibility.FORWARD_TRANSITIVE,
        Compatibility.FULL_TRANSITIVE,
    }
)


def check_compatibility(
    schema_type: SchemaType,
    schema: Mapping[str, Any],
    previous: Sequence[SchemaVersion],
    level: Compatibility,
) -> list[Incompatibility]:
    """Every incompatibility of `schema` with the earlier versions that `level` selects.

    `previous` holds the published versions in any order. Raises InvalidSchemaError when the
    new Avro schema cannot be parsed.
    """
    new_avro = parse_avro(schema) if schema_type is SchemaType.AVRO else None
    directions = _DIRECTIONS[level]
    if not directions or not previous:
        return []
    ordered = sorted(previous, key=lambda version: version.version)
    targets = ordered if level in _TRANSITIVE else ordered[-1:]
    found: list[Incompatibility] = []
    for target in reversed(targets):
        for direction in directions:
            if target.type is not schema_type:
                message = f"the schema type changed from {target.type} to {schema_type}"
                found.append(Incompatibility(direction, target.version, message))
                continue
            if new_avro is not None:
                messages = _avro_messages(new_avro, parse_avro(target.schema_), direction, target)
            else:
                messages = _json_messages(schema, target.schema_, direction, target.version)
            found.extend(Incompatibility(direction, target.version, m) for m in messages)
    return found


# --- Avro -------------------------------------------------------------------------------------

_PRIMITIVES: Final = frozenset(
    {"null", "boolean", "int", "long", "float", "double", "bytes", "string"}
)
_PROMOTIONS: Final[Mapping[str, frozenset[str]]] = {
    "int": frozenset({"long", "float", "double"}),
    "long": frozenset({"float", "double"}),
    "float": frozenset({"double"}),
    "string": frozenset({"bytes"}),
    "bytes": frozenset({"string"}),
}


@dataclass(eq=False)
class AvroType:
    """A parsed Avro schema node; named types are shared by reference (recursion allowed)."""

    kind: str
    name: str = ""
    aliases: frozenset[str] = frozenset()
    fields: list[AvroField] = field(default_factory=list)
    symbols: tuple[str, ...] = ()
    enum_default: str | None = None
    items: AvroType | None = None
    branches: tuple[AvroType, ...] = ()
    size: int = 0
    decimal: tuple[int, int] | None = None

    @property
    def short_name(self) -> str:
        """The name without its namespace."""
        return self.name.rsplit(".", 1)[-1]

    def describe(self) -> str:
        """A short human-readable form, e.g. `array<long>` or `record com.acme.Order`."""
        if self.kind in _PRIMITIVES:
            return f"{self.kind} (decimal)" if self.decimal else self.kind
        if self.kind in ("array", "map"):
            assert self.items is not None
            return f"{self.kind}<{self.items.describe()}>"
        if self.kind == "union":
            return f"union[{', '.join(branch.describe() for branch in self.branches)}]"
        if self.kind == "fixed":
            return f"fixed {self.name}({self.size})"
        return f"{self.kind} {self.name}"


@dataclass(eq=False)
class AvroField:
    """A record field."""

    name: str
    type: AvroType
    has_default: bool
    aliases: frozenset[str]


def parse_avro(document: Any) -> AvroType:
    """Parse an Avro schema (its JSON form) with namespaces and named-type references.

    Raises InvalidSchemaError.
    """
    return _AvroParser().parse(document, namespace="")


class _AvroParser:
    def __init__(self) -> None:
        self.named: dict[str, AvroType] = {}

    def parse(self, document: Any, namespace: str) -> AvroType:
        if isinstance(document, str):
            return self._reference(document, namespace)
        if isinstance(document, list):
            branches = tuple(self.parse(branch, namespace) for branch in document)
            if any(branch.kind == "union" for branch in branches):
                raise InvalidSchemaError("a union cannot contain another union")
            return AvroType(kind="union", branches=branches)
        if not isinstance(document, Mapping) or "type" not in document:
            raise InvalidSchemaError(f"not an Avro schema: {json.dumps(document)[:80]}")
        kind = document["type"]
        if not isinstance(kind, str):
            return self.parse(kind, namespace)
        if kind in _PRIMITIVES:
            return AvroType(kind=kind, decimal=_decimal(document))
        if kind in ("record", "error"):
            return self._record(document, namespace)
        if kind == "enum":
            symbols = document.get("symbols")
            if not isinstance(symbols, list) or not all(isinstance(s, str) for s in symbols):
                raise InvalidSchemaError("an enum needs a list of string symbols")
            default = document.get("default")
            named = self._named("enum", document, namespace)
            named.symbols = tuple(symbols)
            named.enum_default = default if isinstance(default, str) else None
            return named
        if kind == "fixed":
            size = document.get("size")
            if not isinstance(size, int) or size < 0:
                raise InvalidSchemaError("a fixed type needs a non-negative integer size")
            named = self._named("fixed", document, namespace)
            named.size = size
            named.decimal = _decimal(document)
            return named
        if kind == "array":
            return AvroType(kind="array", items=self.parse(document.get("items"), namespace))
        if kind == "map":
            return AvroType(kind="map", items=self.parse(document.get("values"), namespace))
        return self._reference(kind, namespace)

    def _reference(self, name: str, namespace: str) -> AvroType:
        if name in _PRIMITIVES:
            return AvroType(kind=name)
        candidates = [name] if "." in name else [f"{namespace}.{name}" if namespace else name, name]
        for candidate in candidates:
            if candidate in self.named:
                return self.named[candidate]
        raise InvalidSchemaError(f"unknown Avro type {name!r}")

    def _named(self, kind: str, document: Mapping[str, Any], namespace: str) -> AvroType:
        name = document.get("name")
        if not isinstance(name, str) or not name:
            raise InvalidSchemaError(f"a {kind} needs a name")
        if "." in name:
            fullname = name
        else:
            namespace = document.get("namespace", namespace) or ""
            fullname = f"{namespace}.{name}" if namespace else name
        if fullname in self.named:
            raise InvalidSchemaError(f"the type {fullname!r} is defined twice")
        own_namespace = fullname.rpartition(".")[0]
        aliases = frozenset(
            alias if "." in alias or not own_namespace else f"{own_namespace}.{alias}"
            for alias in document.get("aliases", ())
        )
        named = AvroType(kind=kind, name=fullname, aliases=aliases)
        self.named[fullname] = named
        return named

    def _record(self, document: Mapping[str, Any], namespace: str) -> AvroType:
        record = self._named("record", document, namespace)
        own_namespace = record.name.rpartition(".")[0]
        fields = document.get("fields")
        if not isinstance(fields, list):
            raise InvalidSchemaError(f"the record {record.name!r} needs a list of fields")
        for entry in fields:
            if not isinstance(entry, Mapping) or not isinstance(entry.get("name"), str):
                raise InvalidSchemaError(f"a field of {record.name!r} has no name")
            record.fields.append(
                AvroField(
                    name=entry["name"],
                    type=self.parse(entry.get("type"), own_namespace),
                    has_default="default" in entry,
                    aliases=frozenset(entry.get("aliases", ())),
                )
            )
        return record


def _decimal(document: Mapping[str, Any]) -> tuple[int, int] | None:
    if document.get("logicalType") != "decimal":
        return None
    return int(document.get("precision", 0)), int(document.get("scale", 0))


def _avro_messages(
    new: AvroType, old: AvroType, direction: Direction, target: SchemaVersion
) -> list[str]:
    if direction is Direction.BACKWARD:
        resolver = _AvroResolver(direction, target.version, writer=old, reader=new)
    else:
        resolver = _AvroResolver(direction, target.version, writer=new, reader=old)
    return resolver.run()


def _names_match(writer: AvroType, reader: AvroType) -> bool:
    if writer.short_name == reader.short_name:
        return True
    return writer.name in reader.aliases or writer.short_name in {
        alias.rsplit(".", 1)[-1] for alias in reader.aliases
    }


def _shallow_match(writer: AvroType, reader: AvroType, *, exact: bool) -> bool:
    """The spec's "match" used to pick a union branch: same kind (and name), or a promotion."""
    if writer.kind in _PRIMITIVES and reader.kind in _PRIMITIVES:
        return writer.kind == reader.kind or (
            not exact and reader.kind in _PROMOTIONS.get(writer.kind, frozenset())
        )
    if writer.kind != reader.kind:
        return False
    if writer.kind in ("record", "enum", "fixed"):
        return _names_match(writer, reader)
    return True


class _AvroResolver:
    """Resolves writer data against a reader schema and words each failure for `direction`."""

    def __init__(
        self, direction: Direction, version: int, *, writer: AvroType, reader: AvroType
    ) -> None:
        self.direction = direction
        self.version = version
        self.writer = writer
        self.reader = reader
        self.messages: list[str] = []
        self.visiting: set[tuple[int, int]] = set()

    def run(self) -> list[str]:
        self.resolve(self.writer, self.reader, "")
        return self.messages

    @property
    def writer_label(self) -> str:
        return (
            f"version {self.version}" if self.direction is Direction.BACKWARD else "the new schema"
        )

    def _where(self, path: str) -> str:
        return f"field '{path}'" if path else "the top-level type"

    def resolve(self, writer: AvroType, reader: AvroType, path: str) -> None:
        if reader.kind == "union":
            writer_branches = writer.branches if writer.kind == "union" else (writer,)
            for branch in writer_branches:
                match = self._pick_branch(branch, reader)
                if match is None:
                    self._missing_branch(branch, reader, path, writer.kind == "union")
                else:
                    self.resolve(branch, match, path)
            return
        if writer.kind == "union":
            for branch in writer.branches:
                self.resolve(branch, reader, path)
            return
        if not _shallow_match(writer, reader, exact=False):
            if writer.kind == reader.kind and writer.kind in ("record", "enum", "fixed"):
                self._name_changed(writer, reader, path)
            else:
                self._type_mismatch(writer, reader, path)
            return
        if writer.decimal and reader.decimal and writer.decimal != reader.decimal:
            old, new = self._old_new(writer.decimal, reader.decimal)
            self.messages.append(
                f"{self._where(path)}: decimal (precision, scale) changed from {old} to {new}"
            )
        if writer.kind == "record":
            self._record(writer, reader, path)
        elif writer.kind == "enum":
            self._enum(writer, reader, path)
        elif writer.kind == "fixed" and writer.size != reader.size:
            old, new = self._old_new(writer.size, reader.size)
            self.messages.append(
                f"{self._where(path)}: fixed {reader.name} changed size from {old} to {new}"
            )
        elif writer.kind in ("array", "map"):
            assert writer.items is not None
            assert reader.items is not None
            suffix = "[]" if writer.kind == "array" else "{}"
            self.resolve(writer.items, reader.items, f"{path}{suffix}")

    def _pick_branch(self, writer: AvroType, union: AvroType) -> AvroType | None:
        for exact in (True, False):
            for branch in union.branches:
                if _shallow_match(writer, branch, exact=exact):
                    return branch
        return None

    def _old_new(self, writer_value: Any, reader_value: Any) -> tuple[Any, Any]:
        if self.direction is Direction.BACKWARD:
            return writer_value, reader_value
        return reader_value, writer_value

    def _record(self, writer: AvroType, reader: AvroType, path: str) -> None:
        key = (id(writer), id(reader))
        if key in self.visiting:
            return  # a recursive type already being compared
        self.visiting.add(key)
        writer_fields = {f.name: f for f in writer.fields}
        for reader_field in reader.fields:
            field_path = f"{path}.{reader_field.name}" if path else reader_field.name
            source = writer_fields.get(reader_field.name) or next(
                (writer_fields[a] for a in sorted(reader_field.aliases) if a in writer_fields),
                None,
            )
            if source is not None:
                self.resolve(source.type, reader_field.type, field_path)
            elif not reader_field.has_default:
                if self.direction is Direction.BACKWARD:
                    self.messages.append(f"field '{field_path}' was added without a default")
                else:
                    self.messages.append(
                        f"field '{field_path}' was removed, but version {self.version} reads "
                        "it and has no default for it"
                    )
        self.visiting.discard(key)

    def _enum(self, writer: AvroType, reader: AvroType, path: str) -> None:
        unknown = [symbol for symbol in writer.symbols if symbol not in reader.symbols]
        if not unknown or reader.enum_default is not None:
            return
        if self.direction is Direction.BACKWARD:
            self.messages.append(
                f"{self._where(path)}: enum {reader.name} removed the symbols {unknown} that "
                f"version {self.version} can write, and has no default symbol"
            )
        else:
            self.messages.append(
                f"{self._where(path)}: enum {reader.name} added the symbols {unknown} that "
                f"version {self.version} cannot read (it has no default symbol)"
            )

    def _name_changed(self, writer: AvroType, reader: AvroType, path: str) -> None:
        old, new = self._old_new(writer.name, reader.name)
        self.messages.append(
            f"{self._where(path)}: {writer.kind} name changed from {old} to {new} "
            "(an alias of the old name keeps it readable)"
        )

    def _type_mismatch(self, writer: AvroType, reader: AvroType, path: str) -> None:
        if self.direction is Direction.BACKWARD:
            self.messages.append(
                f"{self._where(path)}: {writer.describe()} values written with version "
                f"{self.version} cannot be read as {reader.describe()}"
            )
        else:
            self.messages.append(
                f"{self._where(path)}: {writer.describe()} values written with the new schema "
                f"cannot be read as {reader.describe()} by version {self.version}"
            )

    def _missing_branch(
        self, branch: AvroType, reader: AvroType, path: str, writer_is_union: bool
    ) -> None:
        if not writer_is_union:
            self._type_mismatch(branch, reader, path)
        elif self.direction is Direction.BACKWARD:
            self.messages.append(
                f"{self._where(path)}: the union no longer accepts {branch.describe()}, which "
                f"version {self.version} can write"
            )
        else:
            self.messages.append(
                f"{self._where(path)}: the union now accepts {branch.describe()}, which "
                f"version {self.version} cannot read"
            )


# --- JSON Schema ------------------------------------------------------------------------------

_ANNOTATIONS: Final = frozenset(
    {
        "$schema",
        "$id",
        "id",
        "$anchor",
        "$dynamicAnchor",
        "$comment",
        "$defs",
        "definitions",
        "$vocabulary",
        "title",
        "description",
        "default",
        "examples",
        "readOnly",
        "writeOnly",
        "deprecated",
        "contentEncoding",
        "contentMediaType",
        "contentSchema",
    }
)
_ANALYSED: Final = frozenset(
    {
        "$ref",
        "type",
        "enum",
        "const",
        "minimum",
        "maximum",
        "exclusiveMinimum",
        "exclusiveMaximum",
        "multipleOf",
        "minLength",
        "maxLength",
        "pattern",
        "format",
        "items",
        "prefixItems",
        "additionalItems",
        "minItems",
        "maxItems",
        "uniqueItems",
        "properties",
        "required",
        "additionalProperties",
        "patternProperties",
        "minProperties",
        "maxProperties",
        "anyOf",
        "oneOf",
        "allOf",
        "contains",
        "propertyNames",
        "dependencies",
        "dependentRequired",
        "dependentSchemas",
        "unevaluatedProperties",
    }
)
_UNANALYSED_OBJECT_KEYWORDS: Final = (
    "propertyNames",
    "dependencies",
    "dependentRequired",
    "dependentSchemas",
    "unevaluatedProperties",
)
_TYPE_FAMILIES: Final[Mapping[str, frozenset[str]]] = {
    "numeric": frozenset({"number", "integer"}),
    "string": frozenset({"string"}),
    "array": frozenset({"array"}),
    "object": frozenset({"object"}),
}
_ALL_TYPES: Final = frozenset({"null", "boolean", "object", "array", "number", "string", "integer"})


def _json_messages(
    new: Mapping[str, Any] | bool, old: Mapping[str, Any] | bool, direction: Direction, version: int
) -> list[str]:
    if direction is Direction.BACKWARD:
        checker = _JsonChecker(direction, version, reader_doc=new, writer_doc=old)
    else:
        checker = _JsonChecker(direction, version, reader_doc=old, writer_doc=new)
    return checker.run()


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer()):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _normalised(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, Mapping):
        return {key: _normalised(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_normalised(item) for item in value]
    return value


def _canonical(value: Any) -> str:
    """A key for JSON equality: 1 equals 1.0, but true does not equal 1 (unlike Python's ==)."""
    return json.dumps(_normalised(value), sort_keys=True, default=str)


def _contains_ref(node: Any) -> bool:
    if isinstance(node, Mapping):
        return "$ref" in node or any(_contains_ref(value) for value in node.values())
    if isinstance(node, list):
        return any(_contains_ref(item) for item in node)
    return False


@dataclass(frozen=True, slots=True)
class _Bound:
    value: Decimal
    exclusive: bool

    def __str__(self) -> str:
        return f"{'>' if self.exclusive else '≥'} {self.value}"


def _bounds(node: Mapping[str, Any], inclusive_key: str, exclusive_key: str) -> list[_Bound]:
    bounds: list[_Bound] = []
    inclusive = node.get(inclusive_key)
    exclusive = node.get(exclusive_key)
    if isinstance(inclusive, int | float) and not isinstance(inclusive, bool):
        # Draft 4 spells an exclusive bound as `exclusiveMinimum: true` beside `minimum`.
        bounds.append(_Bound(Decimal(str(inclusive)), exclusive is True))
    if isinstance(exclusive, int | float) and not isinstance(exclusive, bool):
        bounds.append(_Bound(Decimal(str(exclusive)), True))
    return bounds


def _lower(node: Mapping[str, Any]) -> _Bound | None:
    """The effective lower bound: the strictest of minimum and exclusiveMinimum."""
    bounds = _bounds(node, "minimum", "exclusiveMinimum")
    return max(bounds, key=lambda b: (b.value, b.exclusive)) if bounds else None


def _upper(node: Mapping[str, Any]) -> _Bound | None:
    """The effective upper bound: the strictest of maximum and exclusiveMaximum."""
    bounds = _bounds(node, "maximum", "exclusiveMaximum")
    return min(bounds, key=lambda b: (b.value, not b.exclusive)) if bounds else None


def _stricter_lower(reader: _Bound, writer: _Bound | None) -> bool:
    return writer is None or (reader.value, reader.exclusive) > (writer.value, writer.exclusive)


def _stricter_upper(reader: _Bound, writer: _Bound | None) -> bool:
    return writer is None or (reader.value, not reader.exclusive) < (
        writer.value,
        not writer.exclusive,
    )


class _JsonChecker:
    """Checks that every document the writer schema accepts is accepted by the reader schema."""

    def __init__(
        self,
        direction: Direction,
        version: int,
        *,
        reader_doc: Mapping[str, Any] | bool,
        writer_doc: Mapping[str, Any] | bool,
    ) -> None:
        self.direction = direction
        self.version = version
        self.reader_doc = reader_doc
        self.writer_doc = writer_doc
        self.messages: list[str] = []
        self.visiting: set[tuple[str, str]] = set()

    def run(self) -> list[str]:
        self.check(self.reader_doc, self.writer_doc, "", ("#", "#"))
        return self.messages

    # -- wording --

    @property
    def reader_is_new(self) -> bool:
        return self.direction is Direction.BACKWARD

    def _old_new(self, reader_value: Any, writer_value: Any) -> tuple[Any, Any]:
        return (writer_value, reader_value) if self.reader_is_new else (reader_value, writer_value)

    def _report(self, path: str, text: str) -> None:
        where = f"at {path}" if path else "at the root"
        self.messages.append(f"{where}: {text}")

    def _changed(self, path: str, what: str, reader_value: Any, writer_value: Any) -> None:
        """The reader is stricter than the writer: tightened going forward in time for
        BACKWARD, loosened for FORWARD (the old reader is the strict one)."""
        old, new = self._old_new(reader_value, writer_value)
        verb = "tightened" if self.reader_is_new else "loosened"
        if writer_value is None:
            text = f"{what} {reader_value} was {'added' if self.reader_is_new else 'removed'}"
        else:
            text = f"{what} {verb} from {old} to {new}"
        self._report(path, text)

    def _unanalysed(self, path: str, keyword: str) -> None:
        self._report(
            path,
            f"'{keyword}' changed; this change is not analysed, so it is treated as incompatible",
        )

    # -- resolution --

    def _resolve(self, node: Any, document: Any, ref: str) -> tuple[Any, str]:
        seen: set[str] = set()
        while isinstance(node, Mapping) and isinstance(node.get("$ref"), str):
            target = node["$ref"]
            if not target.startswith("#") or target in seen:
                return node, ref
            seen.add(target)
            resolved = _pointer(document, target[1:])
            if resolved is None:
                return node, ref
            siblings = {
                key: value
                for key, value in node.items()
                if key != "$ref" and key not in _ANNOTATIONS
            }
            # Without siblings the target itself is used: its identity detects recursion.
            if siblings and isinstance(resolved, Mapping):
                node = {**resolved, **siblings}
            else:
                node = resolved
            ref = target
        return node, ref

    # -- the check --

    def check(self, reader: Any, writer: Any, path: str, refs: tuple[str, str]) -> None:
        reader, reader_ref = self._resolve(reader, self.reader_doc, refs[0])
        writer, writer_ref = self._resolve(writer, self.writer_doc, refs[1])
        key = (f"{reader_ref}|{id(reader)}", f"{writer_ref}|{id(writer)}")
        if key in self.visiting:
            return  # recursive schemas: assume the pair holds while it is being checked
        self.visiting.add(key)
        try:
            self._check(reader, writer, path)
        finally:
            self.visiting.discard(key)

    def _check(self, reader: Any, writer: Any, path: str) -> None:
        if reader is True or writer is False:
            return
        if reader is False:
            self._report(
                path,
                "the schema now rejects every value"
                if self.reader_is_new
                else f"version {self.version} rejects every value here",
            )
            return
        if not isinstance(reader, Mapping):
            raise InvalidSchemaError(f"not a JSON Schema at {path or '/'}: {reader!r}")
        if writer is True:
            writer = {}
        if not isinstance(writer, Mapping):
            raise InvalidSchemaError(f"not a JSON Schema at {path or '/'}: {writer!r}")
        if _canonical(reader) == _canonical(writer) and not _contains_ref(reader):
            return
        if "$ref" in reader or "$ref" in writer:  # unresolved: remote or dangling
            if reader.get("$ref") != writer.get("$ref"):
                self._unanalysed(path, "$ref")
                return
            reader = {k: v for k, v in reader.items() if k != "$ref"}
            writer = {k: v for k, v in writer.items() if k != "$ref"}
        for keyword in ("anyOf", "oneOf"):
            if keyword in writer:
                rest = {k: v for k, v in writer.items() if k != keyword}
                for branch in writer[keyword]:
                    self.check(reader, _conjoin(rest, branch), path, ("#", "#"))
                return
        if "allOf" in writer:
            merged = _merge_all_of(writer)
            if merged is None:
                if _canonical(reader.get("allOf")) != _canonical(writer["allOf"]):
                    self._unanalysed(path, "allOf")
                return
            writer = merged
        for keyword in ("anyOf", "oneOf"):
            if keyword in reader:
                self._union(reader, writer, path, keyword)
                return
        if "allOf" in reader:
            rest = {k: v for k, v in reader.items() if k != "allOf"}
            for branch in [rest, *reader["allOf"]]:
                self.check(branch, writer, path, ("#", "#"))
            return
        self._check_plain(reader, writer, path)

    def _union(
        self, reader: Mapping[str, Any], writer: Mapping[str, Any], path: str, keyword: str
    ) -> None:
        rest = {k: v for k, v in reader.items() if k != keyword}
        for branch in reader[keyword]:
            trial = _JsonChecker(
                self.direction, self.version, reader_doc=self.reader_doc, writer_doc=self.writer_doc
            )
            trial.visiting = set(self.visiting)
            trial.check(_conjoin(rest, branch), writer, path, ("#", "#"))
            if not trial.messages:
                return
        if self.reader_is_new:
            self._report(
                path,
                f"no alternative of '{keyword}' accepts every value version {self.version} accepts",
            )
        else:
            self._report(
                path,
                f"the new schema accepts values that no alternative of "
                f"'{keyword}' in version {self.version} accepts",
            )

    def _check_plain(self, reader: Mapping[str, Any], writer: Mapping[str, Any], path: str) -> None:
        writer_types = self._types(writer)
        self._check_types(reader, writer_types, path)
        self._check_enum(reader, writer, path)

        def may_be(family: str) -> bool:
            return writer_types is None or bool(writer_types & _TYPE_FAMILIES[family])

        if may_be("numeric"):
            self._check_numbers(reader, writer, path)
        if may_be("string"):
            self._check_strings(reader, writer, path)
        if may_be("array"):
            self._check_arrays(reader, writer, path)
        if may_be("object"):
            self._check_objects(reader, writer, path)
        for keyword in reader:
            if keyword in _ANNOTATIONS or keyword in _ANALYSED:
                continue
            if _canonical(reader[keyword]) != _canonical(writer.get(keyword)):
                self._unanalysed(path, keyword)

    def _types(self, node: Mapping[str, Any]) -> frozenset[str] | None:
        if "const" in node:
            return frozenset({_json_type(node["const"])})
        if isinstance(node.get("enum"), list):
            return frozenset(_json_type(value) for value in node["enum"])
        declared = node.get("type")
        if declared is None:
            return None
        types = frozenset([declared] if isinstance(declared, str) else declared)
        return types | {"integer"} if "number" in types else types

    def _check_types(
        self, reader: Mapping[str, Any], writer_types: frozenset[str] | None, path: str
    ) -> None:
        reader_types = self._types({"type": reader["type"]}) if "type" in reader else None
        if reader_types is None:
            return
        if writer_types is None:
            self._changed(path, "type", _show_types(reader_types), None)
            return
        if writer_types - reader_types:
            self._changed(path, "type", _show_types(reader_types), _show_types(writer_types))

    def _check_enum(self, reader: Mapping[str, Any], writer: Mapping[str, Any], path: str) -> None:
        allowed = _enum_values(reader)
        if allowed is None:
            return
        produced = _enum_values(writer)
        if produced is None:
            self._changed(path, "allowed values", _show(allowed), None)
            return
        allowed_keys = {_canonical(value) for value in allowed}
        extra = [value for value in produced if _canonical(value) not in allowed_keys]
        if extra:
            if self.reader_is_new:
                self._report(path, f"allowed values narrowed: {_show(extra)} no longer allowed")
            else:
                self._report(
                    path,
                    f"allowed values widened: {_show(extra)} newly allowed, "
                    f"which version {self.version} rejects",
                )

    def _check_numbers(
        self, reader: Mapping[str, Any], writer: Mapping[str, Any], path: str
    ) -> None:
        r_low, w_low = _lower(reader), _lower(writer)
        if r_low is not None and _stricter_lower(r_low, w_low):
            self._changed(path, "lower bound", r_low, w_low)
        r_high, w_high = _upper(reader), _upper(writer)
        if r_high is not None and _stricter_upper(r_high, w_high):
            self._changed(path, "upper bound", r_high, w_high)
        r_multiple, w_multiple = reader.get("multipleOf"), writer.get("multipleOf")
        if r_multiple is not None and (
            w_multiple is None or Decimal(str(w_multiple)) % Decimal(str(r_multiple)) != 0
        ):
            self._changed(path, "multipleOf", r_multiple, w_multiple)

    def _check_strings(
        self, reader: Mapping[str, Any], writer: Mapping[str, Any], path: str
    ) -> None:
        self._check_size(reader, writer, path, "minLength", "maxLength")
        for keyword in ("pattern", "format"):
            if keyword in reader and reader[keyword] != writer.get(keyword):
                old, new = self._old_new(reader[keyword], writer.get(keyword))
                self._report(
                    path,
                    f"{keyword} changed from {old!r} to {new!r}; whether every value matching "
                    "the old one matches the new one cannot be proven, so it is treated as "
                    "incompatible",
                )

    def _check_size(
        self, reader: Mapping[str, Any], writer: Mapping[str, Any], path: str, low: str, high: str
    ) -> None:
        if low in reader and reader[low] > writer.get(low, 0):
            self._changed(path, low, reader[low], writer.get(low))
        if high in reader and (high not in writer or reader[high] < writer[high]):
            self._changed(path, high, reader[high], writer.get(high))

    def _check_arrays(
        self, reader: Mapping[str, Any], writer: Mapping[str, Any], path: str
    ) -> None:
        self._check_size(reader, writer, path, "minItems", "maxItems")
        if reader.get("uniqueItems") is True and writer.get("uniqueItems") is not True:
            self._changed(path, "uniqueItems", True, None)
        reader_tuple, reader_rest = _tuple_form(reader)
        writer_tuple, writer_rest = _tuple_form(writer)
        for index, reader_item in enumerate(reader_tuple):
            if index < len(writer_tuple):
                writer_item: Any = writer_tuple[index]
            else:
                writer_item = writer_rest if writer_rest is not None else True
            self.check(reader_item, writer_item, f"{path}/{index}", ("#", "#"))
        if reader_rest is not None:
            for index in range(len(reader_tuple), len(writer_tuple)):
                self.check(reader_rest, writer_tuple[index], f"{path}/{index}", ("#", "#"))
            self.check(
                reader_rest,
                writer_rest if writer_rest is not None else True,
                f"{path}/*",
                ("#", "#"),
            )
        if "contains" in reader and _canonical(reader["contains"]) != _canonical(
            writer.get("contains")
        ):
            self._unanalysed(path, "contains")

    def _check_objects(
        self, reader: Mapping[str, Any], writer: Mapping[str, Any], path: str
    ) -> None:
        self._check_size(reader, writer, path, "minProperties", "maxProperties")
        self._check_writer_properties(reader, writer, path)
        self._check_reader_properties(reader, writer, path)
        self._check_required(reader, writer, path)
        self._check_additional_properties(reader, writer, path)
        r_patterns: Mapping[str, Any] = reader.get("patternProperties", {})
        w_patterns: Mapping[str, Any] = writer.get("patternProperties", {})
        for pattern, r_schema in r_patterns.items():
            if pattern in w_patterns:
                self.check(r_schema, w_patterns[pattern], f"{path}/~{pattern}", ("#", "#"))
            elif r_schema is not True and r_schema != {}:
                self._unanalysed(path, f"patternProperties[{pattern!r}]")
        for keyword in _UNANALYSED_OBJECT_KEYWORDS:
            if keyword in reader and _canonical(reader[keyword]) != _canonical(writer.get(keyword)):
                self._unanalysed(path, keyword)

    def _check_writer_properties(
        self, reader: Mapping[str, Any], writer: Mapping[str, Any], path: str
    ) -> None:
        """Each property the writer declares must be accepted by the reader's schema for it."""
        r_props: Mapping[str, Any] = reader.get("properties", {})
        r_patterns: Mapping[str, Any] = reader.get("patternProperties", {})
        r_extra = reader.get("additionalProperties", True)
        for name, w_schema in writer.get("properties", {}).items():
            child = f"{path}/{_escape(name)}"
            if name in r_props:
                self.check(r_props[name], w_schema, child, ("#", "#"))
                continue
            matching = [s for pattern, s in r_patterns.items() if re.search(pattern, name)]
            for schema in matching:
                self.check(schema, w_schema, child, ("#", "#"))
            if matching:
                continue
            if r_extra is not False:
                self.check(r_extra, w_schema, child, ("#", "#"))
            elif self.reader_is_new:
                self._report(
                    child,
                    "the property was removed from a closed content model "
                    "(additionalProperties: false)",
                )
            else:
                self._report(
                    child,
                    f"the property was added, but version {self.version} has a closed content "
                    "model (additionalProperties: false)",
                )

    def _check_reader_properties(
        self, reader: Mapping[str, Any], writer: Mapping[str, Any], path: str
    ) -> None:
        """A property only the reader declares: the writer's values for that name come from its
        patternProperties or additionalProperties. An open writer (additionalProperties absent or
        true) is assumed not to have used the name with another meaning (see the module doc)."""
        w_props: Mapping[str, Any] = writer.get("properties", {})
        w_patterns: Mapping[str, Any] = writer.get("patternProperties", {})
        w_extra = writer.get("additionalProperties", True)
        for name, r_schema in reader.get("properties", {}).items():
            if name in w_props:
                continue
            child = f"{path}/{_escape(name)}"
            matching = [s for pattern, s in w_patterns.items() if re.search(pattern, name)]
            for schema in matching:
                self.check(r_schema, schema, child, ("#", "#"))
            if not matching and isinstance(w_extra, Mapping):
                self.check(r_schema, w_extra, child, ("#", "#"))

    def _check_required(
        self, reader: Mapping[str, Any], writer: Mapping[str, Any], path: str
    ) -> None:
        declared = writer.get("properties", {})
        added = set(reader.get("required", ())) - set(writer.get("required", ()))
        for name in sorted(added):
            child = f"{path}/{_escape(name)}"
            if self.reader_is_new:
                text = (
                    "the property became required"
                    if name in declared
                    else ("a required property was added")
                )
            elif name in declared:
                text = f"the property is no longer required, but version {self.version} requires it"
            else:
                text = f"the property was removed, but version {self.version} requires it"
            self._report(child, text)

    def _check_additional_properties(
        self, reader: Mapping[str, Any], writer: Mapping[str, Any], path: str
    ) -> None:
        r_extra = reader.get("additionalProperties", True)
        w_extra = writer.get("additionalProperties", True)
        if r_extra is True or _canonical(r_extra) == _canonical(w_extra):
            return
        if r_extra is not False:
            self.check(r_extra, w_extra, f"{path}/*", ("#", "#"))
        elif self.reader_is_new:
            self._report(
                path,
                f"additionalProperties changed from {_show(w_extra)} to false: undeclared "
                "properties allowed before are now rejected",
            )
        else:
            self._report(
                path,
                f"additionalProperties changed from false to {_show(w_extra)}: version "
                f"{self.version} rejects the undeclared properties now allowed",
            )


def _pointer(document: Any, pointer: str) -> Any:
    node = document
    for raw in pointer.split("/")[1:] if pointer else []:
        part = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(node, Mapping) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return None
    return node


def _escape(name: str) -> str:
    return name.replace("~", "~0").replace("/", "~1")


def _conjoin(rest: Mapping[str, Any], branch: Any) -> Any:
    """`rest` and `branch` as one schema (used for the branches of a union)."""
    if not rest:
        return branch
    if branch is True:
        return dict(rest)
    if branch is False:
        return False
    return {**rest, **branch}


def _merge_all_of(node: Mapping[str, Any]) -> dict[str, Any] | None:
    """allOf folded into one schema when its parts do not constrain the same keyword
    (`properties` and `required` are unioned); None when they overlap."""
    merged: dict[str, Any] = {k: v for k, v in node.items() if k != "allOf"}
    for part in node["allOf"]:
        if part is True:
            continue
        if not isinstance(part, Mapping) or "$ref" in part:
            return None
        for keyword, value in part.items():
            if keyword in _ANNOTATIONS:
                continue
            if keyword == "properties":
                existing = merged.get("properties", {})
                if set(existing) & set(value):
                    return None
                merged["properties"] = {**existing, **value}
            elif keyword == "required":
                merged["required"] = sorted({*merged.get("required", ()), *value})
            elif keyword in merged and _canonical(merged[keyword]) != _canonical(value):
                return None
            else:
                merged[keyword] = value
    return merged


def _enum_values(node: Mapping[str, Any]) -> list[Any] | None:
    if "const" in node:
        return [node["const"]]
    values = node.get("enum")
    return list(values) if isinstance(values, list) else None


def _tuple_form(node: Mapping[str, Any]) -> tuple[list[Any], Any]:
    """(positional item schemas, schema of the remaining items or None when unconstrained)."""
    if "prefixItems" in node:
        return list(node["prefixItems"]), node.get("items")
    items = node.get("items")
    if isinstance(items, list):
        return items, node.get("additionalItems")
    return [], items


def _show_types(types: frozenset[str]) -> str:
    shown = sorted(types - {"integer"} if "number" in types else types)
    return "[" + ", ".join(shown) + "]"


def _show(value: Any) -> str:
    return json.dumps(value, sort_keys=True)
