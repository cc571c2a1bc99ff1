"""Declarative fixes for invalid JSON records, each one recorded; the caller re-validates.

The fixes follow the schema through a small, well-defined subset of JSON Schema: `properties`,
`items` (a schema, or draft 7's list of schemas), `prefixItems`, `type`, `default`, and `$ref` to a
local definition (`#/$defs/...`, `#/definitions/...`). Combinators (`allOf`, `anyOf`, `oneOf`,
`if`/`then`) are not followed: what they ask for is ambiguous to repair.
"""

from __future__ import annotations

import copy
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import orjson

from validator_pod.domain.schemas import Remediation
from validator_pod.validation.compiling import CompiledJsonSchema
from validator_pod.validation.pointers import (
    MISSING,
    array_index,
    format_pointer,
    parse_pointer,
    resolve_pointer,
)

# At most 20 digits: a coerced integer must fit the 64 bits that orjson encodes.
_INTEGER_TEXT: Final = re.compile(r"[-+]?[0-9]{1,20}")
_NUMBER_TEXT: Final = re.compile(r"[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?")
_INT_RANGE: Final = range(-(2**63), 2**64)
_BOOLEAN_TEXT: Final = {"true": True, "false": False}
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MAX_REF_HOPS: Final = 32


@dataclass(frozen=True, slots=True)
class Remedy:
    """A remediated copy of a record and the fixes applied, such as "/amount: coerced string to
    integer". The original record is left untouched."""

    record: Any
    fixes: tuple[str, ...]


def remediate(record: Any, schema: CompiledJsonSchema, spec: Remediation) -> Remedy | None:
    """Apply the fixes `spec` enables to a copy of a decoded JSON record; None if nothing changed.

    Epoch timestamps are normalised first (so that a number at a date-time path is not turned into
    a numeric string), then the schema is walked: missing properties get their `default`, strings
    are trimmed where the schema expects a string, and scalars are coerced to the type the schema
    asks for when they do not already have an allowed type.
    """
    if not (spec.coerce_types or spec.trim_strings or spec.fill_defaults or spec.timestamps.paths):
        return None
    try:
        # A deep copy by an orjson round trip: far faster than copy.deepcopy. orjson refuses
        # nesting deeper than 254 levels, which also bounds the recursive walk below.
        copied = orjson.loads(orjson.dumps(record))
    except orjson.JSONEncodeError:
        return None
    fixer = _Fixer(schema.document, spec)
    fixed = fixer.normalise_timestamps(copied)
    fixed = fixer.fix(fixed, schema.document, [])
    if not fixer.fixes:
        return None
    return Remedy(record=fixed, fixes=tuple(fixer.fixes))


def rfc3339_from_epoch(epoch: int | float, unit: str) -> str:
    """An epoch time in seconds or milliseconds as an RFC 3339 UTC timestamp ("...Z"), with as
    many fractional digits as needed (none, milliseconds or microseconds)."""
    delta = timedelta(milliseconds=epoch) if unit == "milliseconds" else timedelta(seconds=epoch)
    moment = _EPOCH + delta
    if moment.microsecond == 0:
        timespec = "seconds"
    elif moment.microsecond % 1000 == 0:
        timespec = "milliseconds"
    else:
        timespec = "microseconds"
    return moment.isoformat(timespec=timespec).replace("+00:00", "Z")


@dataclass(slots=True)
class _Fixer:
    document: Mapping[str, Any]
    spec: Remediation
    fixes: list[str] = field(default_factory=list)

    def normalise_timestamps(self, record: Any) -> Any:
        for pointer in self.spec.timestamps.paths:
            try:
                tokens = parse_pointer(pointer)
            except ValueError:
                continue
            if not tokens:
                converted = self._timestamp(record, pointer)
                record = record if converted is None else converted
                continue
            parent = resolve_pointer(record, tokens[:-1])
            last = tokens[-1]
            if isinstance(parent, dict) and last in parent:
                converted = self._timestamp(parent[last], pointer)
                if converted is not None:
                    parent[last] = converted
            elif isinstance(parent, list):
                index = array_index(last)
                if index is not None and index < len(parent):
                    converted = self._timestamp(parent[index], pointer)
                    if converted is not None:
                        parent[index] = converted
        return record

    def _timestamp(self, value: Any, pointer: str) -> str | None:
        epoch: int | float | None = None
        if isinstance(value, str):
            epoch = _integer(value.strip())
        elif isinstance(value, int | float) and not isinstance(value, bool):
            epoch = value
        if epoch is None:
            return None
        unit = self.spec.timestamps.unit
        try:
            text = rfc3339_from_epoch(epoch, unit)
        except (OverflowError, ValueError):
            return None
        self.fixes.append(f"{_where(pointer)}: converted epoch {unit} to RFC 3339")
        return text

    def fix(self, value: Any, node: Any, tokens: list[str | int]) -> Any:
        nodes = self._with_references(node)
        if isinstance(value, dict):
            self._fix_object(value, nodes, tokens)
            return value
        if isinstance(value, list):
            self._fix_array(value, nodes, tokens)
            return value
        return self._fix_scalar(value, _declared_types(nodes), tokens)

    def _with_references(self, node: Any) -> list[Mapping[str, Any]]:
        """The node and the local definitions it refers to through `$ref`, in that order."""
        nodes: list[Mapping[str, Any]] = []
        while isinstance(node, Mapping) and len(nodes) < _MAX_REF_HOPS:
            nodes.append(node)
            reference = node.get("$ref")
            if not isinstance(reference, str) or not reference.startswith("#"):
                break
            try:
                node = resolve_pointer(self.document, parse_pointer(reference[1:]))
            except ValueError:
                break
        return nodes

    def _fix_object(
        self, value: dict[str, Any], nodes: list[Mapping[str, Any]], tokens: list[str | int]
    ) -> None:
        properties: dict[str, Any] = {}
        for node in nodes:
            declared = node.get("properties")
            if isinstance(declared, Mapping):
                for name, subschema in declared.items():
                    properties.setdefault(name, subschema)
        for name, subschema in properties.items():
            path = [*tokens, name]
            if name in value:
                value[name] = self.fix(value[name], subschema, path)
            elif self.spec.fill_defaults:
                default = _default_of(self._with_references(subschema))
                if default is not MISSING:
                    value[name] = copy.deepcopy(default)
                    self.fixes.append(f"{_where(format_pointer(path))}: filled default")

    def _fix_array(
        self, value: list[Any], nodes: list[Mapping[str, Any]], tokens: list[str | int]
    ) -> None:
        positional: list[Any] = []
        rest: Any = None
        for node in nodes:
            prefix = node.get("prefixItems")
            items = node.get("items")
            if isinstance(prefix, list) and not positional:
                positional = prefix
            if isinstance(items, list) and not positional:
                positional = items  # draft 7 tuple form
            elif isinstance(items, Mapping) and rest is None:
                rest = items
        for index, element in enumerate(value):
            subschema = positional[index] if index < len(positional) else rest
            if subschema is not None:
                value[index] = self.fix(element, subschema, [*tokens, index])

    def _fix_scalar(self, value: Any, types: frozenset[str], tokens: list[str | int]) -> Any:
        if not types:
            return value
        if isinstance(value, str) and self.spec.trim_strings and "string" in types:
            trimmed = value.strip()
            if trimmed != value:
                self.fixes.append(f"{_where(format_pointer(tokens))}: trimmed whitespace")
                value = trimmed
        if not self.spec.coerce_types or _has_type(value, types):
            return value
        coerced, change = _coerce(value, types)
        if change is not None:
            self.fixes.append(f"{_where(format_pointer(tokens))}: coerced {change}")
        return coerced


def _coerce(value: Any, types: frozenset[str]) -> tuple[Any, str | None]:
    """The value converted to one of `types`, and what was done ("string to integer")."""
    if isinstance(value, str):
        text = value.strip()
        integer = _integer(text)
        if "integer" in types and integer is not None:
            return integer, "string to integer"
        if "number" in types and _NUMBER_TEXT.fullmatch(text):
            number = integer if integer is not None else float(text)
            if math.isfinite(number):
                return number, "string to number"
        if "boolean" in types and text.lower() in _BOOLEAN_TEXT:
            return _BOOLEAN_TEXT[text.lower()], "string to boolean"
    elif "string" in types:
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value), "number to string"
        if isinstance(value, float) and math.isfinite(value):
            return orjson.dumps(value).decode(), "number to string"
    return value, None


def _integer(text: str) -> int | None:
    """The 64-bit integer `text` spells, or None."""
    if not _INTEGER_TEXT.fullmatch(text):
        return None
    number = int(text)
    return number if number in _INT_RANGE else None


def _has_type(value: Any, types: frozenset[str]) -> bool:
    if isinstance(value, bool):
        return "boolean" in types
    if isinstance(value, int):
        return "integer" in types or "number" in types
    if isinstance(value, float):
        return "number" in types or ("integer" in types and value.is_integer())
    if isinstance(value, str):
        return "string" in types
    if value is None:
        return "null" in types
    return True


def _declared_types(nodes: list[Mapping[str, Any]]) -> frozenset[str]:
    for node in nodes:
        declared = node.get("type")
        if isinstance(declared, str):
            return frozenset((declared,))
        if isinstance(declared, list):
            return frozenset(t for t in declared if isinstance(t, str))
    return frozenset()


def _default_of(nodes: list[Mapping[str, Any]]) -> Any:
    for node in nodes:
        if "default" in node:
            return node["default"]
    return MISSING


def _where(pointer: str) -> str:
    return pointer or "(root)"
