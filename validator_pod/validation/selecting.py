"""Which compiled schema a record is validated against: the default, or a selector's choice.

A record without the selector's header or field gets the default schema. A selector value with no
mapping, or a mapping to a schema this pipeline has not compiled, makes the record unselectable:
it is quarantined as `ErrorType.UNKNOWN_SCHEMA` rather than checked against the wrong schema.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from validator_pod.domain.pipeline_config import SchemaRef, SchemaSelection, SelectorSource
from validator_pod.domain.records import ErrorType, FieldError, Invalid
from validator_pod.validation.compiling import CompiledSchema
from validator_pod.validation.pointers import MISSING, parse_pointer, resolve_pointer

Headers = Sequence[tuple[str, bytes | None]]
"""Kafka record headers as aiokafka gives them: (name, value) pairs, names may repeat."""

SELECTOR_KEYWORD: Final = "selector"
_LISTED_VALUES: Final = 10


@dataclass(frozen=True, slots=True)
class Unselectable:
    """No compiled schema applies to the record; `schema_ref` is the missing one, if known."""

    schema_ref: SchemaRef | None
    verdict: Invalid


SelectionResult = CompiledSchema | Unselectable


class CompiledSelection:
    """A pipeline's `SchemaSelection` with every reference resolved to a compiled schema."""

    __slots__ = ("_by_value", "_default", "_header", "_pointer", "_pointer_tokens", "_source")

    def __init__(
        self, selection: SchemaSelection, schemas: Mapping[SchemaRef, CompiledSchema]
    ) -> None:
        """Resolve `selection` against `schemas`; raise ValueError if a field selector's key is
        not a JSON pointer (a configuration error, caught at start-up)."""
        self._default = resolve_ref(selection.default, schemas, "the default schema")
        selector = selection.selector
        self._source = selector.source if selector is not None else None
        self._header = ""
        self._pointer = ""
        self._pointer_tokens: tuple[str, ...] = ()
        self._by_value: dict[str, SelectionResult] = {}
        if selector is None:
            return
        if selector.source is SelectorSource.FIELD:
            self._pointer = selector.key
            self._pointer_tokens = parse_pointer(selector.key)
            what = f"field {selector.key}"
        else:
            self._header = selector.key
            what = f"header {selector.key!r}"
        self._by_value = {
            value: resolve_ref(ref, schemas, f"{what} value {value!r}")
            for value, ref in selector.mapping.items()
        }

    @property
    def reads_record(self) -> bool:
        """True when the selector reads a JSON field: the record must be decoded (as JSON) first."""
        return self._source is SelectorSource.FIELD

    @property
    def default(self) -> SelectionResult:
        """The default schema, or why it is unavailable."""
        return self._default

    def select(self, headers: Headers, record: Any = MISSING) -> SelectionResult:
        """The schema for one record, given its headers and (for a field selector) its decoded
        JSON value. Never raises."""
        if self._source is None:
            return self._default
        if self._source is SelectorSource.HEADER:
            return self._select_by_header(headers)
        return self._select_by_field(record)

    def _select_by_header(self, headers: Headers) -> SelectionResult:
        raw = None
        for name, header_value in reversed(headers):  # the last one wins, as Kafka's lastHeader
            if name == self._header:
                raw = header_value
                break
        if raw is None:
            return self._default
        try:
            value = raw.decode()
        except UnicodeDecodeError:
            return _unknown(
                "", f"header {self._header!r} holds bytes that are not UTF-8 text: {raw[:32]!r}"
            )
        found = self._by_value.get(value)
        if found is not None:
            return found
        return _unknown("", f"header {self._header!r} value {value!r} {self._unmapped()}")

    def _select_by_field(self, record: Any) -> SelectionResult:
        found_value = resolve_pointer(record, self._pointer_tokens)
        if found_value is MISSING or found_value is None:
            return self._default
        key = _selector_text(found_value)
        if key is None:
            kind = "an object" if isinstance(found_value, dict) else "an array"
            return _unknown(
                self._pointer, f"field {self._pointer} holds {kind}, not a value to select by"
            )
        found = self._by_value.get(key)
        if found is not None:
            return found
        return _unknown(self._pointer, f"field {self._pointer} value {key!r} {self._unmapped()}")

    def _unmapped(self) -> str:
        values = sorted(self._by_value)
        listed = ", ".join(repr(value) for value in values[:_LISTED_VALUES])
        more = f" and {len(values) - _LISTED_VALUES} more" if len(values) > _LISTED_VALUES else ""
        return f"is not mapped to a schema (mapped values: {listed}{more})"


def _selector_text(value: Any) -> str | None:
    """The mapping key a JSON scalar stands for (`true`, `12`, `1.5`); None for containers."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return None


def resolve_ref(
    ref: SchemaRef, schemas: Mapping[SchemaRef, CompiledSchema], chosen_by: str
) -> SelectionResult:
    """The compiled schema for `ref`, or an `Unselectable` saying it is not loaded, and what
    chose it (`chosen_by`, e.g. "the default schema")."""
    schema = schemas.get(ref)
    if schema is not None:
        return schema
    return Unselectable(
        schema_ref=ref,
        verdict=_unknown_verdict(
            "",
            f"schema {ref.name} version {ref.version} (chosen by {chosen_by}) is not loaded "
            "by this pipeline",
        ),
    )


def _unknown(path: str, message: str) -> Unselectable:
    return Unselectable(schema_ref=None, verdict=_unknown_verdict(path, message))


def _unknown_verdict(path: str, message: str) -> Invalid:
    return Invalid(
        ErrorType.UNKNOWN_SCHEMA,
        (FieldError(path=path, keyword=SELECTOR_KEYWORD, schema_path="", message=message),),
    )
