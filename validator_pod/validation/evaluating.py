"""The hot path: one record's value and headers to an `Outcome` that says where it goes.

`RecordEvaluator.evaluate` decodes, selects the schema, validates (schema, then rules), tries the
schema's remediation when the pipeline enables it, and applies the pipeline's mode. It never raises
for anything a record contains. Valid records are forwarded as their original bytes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

import orjson

from validator_pod.domain.pipeline_config import Mode, PipelineConfig, SchemaRef
from validator_pod.domain.records import VALID, ErrorType, FieldError, Invalid, Valid, Verdict
from validator_pod.validation.compiling import CompiledJsonSchema, CompiledSchema
from validator_pod.validation.decoding import (
    DecodeFailure,
    DecodeResult,
    decode_avro,
    decode_json,
)
from validator_pod.validation.pointers import MISSING
from validator_pod.validation.remediating import remediate
from validator_pod.validation.selecting import (
    CompiledSelection,
    Headers,
    SelectionResult,
    Unselectable,
    resolve_ref,
)
from validator_pod.validation.validating import validate

DECODE_KEYWORD = "decode"
_REMEDIABLE = frozenset({ErrorType.SCHEMA_VIOLATION, ErrorType.RULE_VIOLATION})


@dataclass(frozen=True, slots=True)
class ShadowReport:
    """Shadow mode: the candidate schema's verdict on the record beside the live one.

    `disagrees` is True when exactly one of the two found the record valid.
    """

    candidate: SchemaRef
    verdict: Verdict
    disagrees: bool


@dataclass(frozen=True, slots=True)
class Forward:
    """Send the original bytes to the valid topic.

    `verdict` is `VALID`, except in observe mode, where invalid and undecodable records are
    forwarded too and `verdict` says what is wrong with them (for metrics).
    """

    value: bytes | None
    schema_ref: SchemaRef | None
    verdict: Verdict = VALID
    shadow: ShadowReport | None = None


@dataclass(frozen=True, slots=True)
class Remediated:
    """Send the remediated record (`value`, re-encoded) to the valid topic; the original was
    invalid for `verdict`, `fixes` say what changed, and the fixed record passed validation."""

    value: bytes
    fixes: tuple[str, ...]
    schema_ref: SchemaRef
    verdict: Invalid
    shadow: ShadowReport | None = None


@dataclass(frozen=True, slots=True)
class Quarantine:
    """Quarantine the original record for `verdict`; `schema_ref` is None when no schema could be
    chosen (an unmapped selector value, an undecodable record under a field selector)."""

    verdict: Invalid
    schema_ref: SchemaRef | None
    shadow: ShadowReport | None = None


Outcome = Forward | Remediated | Quarantine


class _Judgement(NamedTuple):
    """The live schema's verdict on a record (a tuple: one is built per record)."""

    schema: CompiledSchema | None
    schema_ref: SchemaRef | None
    record: Any
    from_json: bool
    verdict: Verdict


class RecordEvaluator:
    """Everything one pipeline needs to route records, built once from its configuration and the
    compiled schemas it references (see `PipelineConfig.referenced_schemas`)."""

    __slots__ = (
        "_avro_framing",
        "_candidate",
        "_max_errors",
        "_mode",
        "_remediation_enabled",
        "_selection",
    )

    def __init__(
        self,
        config: PipelineConfig,
        schemas: Mapping[SchemaRef, CompiledSchema],
    ) -> None:
        """Resolve the pipeline's schema selection; raise ValueError if a field selector's key is
        not a JSON pointer. A reference missing from `schemas` does not raise: records that need
        it are quarantined as `UNKNOWN_SCHEMA`."""
        selection = config.schema_selection
        self._selection = CompiledSelection(selection, schemas)
        self._mode = config.mode
        self._max_errors = config.max_errors_per_record
        self._remediation_enabled = config.remediation_enabled
        self._avro_framing = config.avro_framing
        self._candidate: tuple[SchemaRef, SelectionResult] | None = None
        if config.mode is Mode.SHADOW and selection.candidate is not None:
            resolved = resolve_ref(selection.candidate, schemas, "the shadow candidate")
            self._candidate = (selection.candidate, resolved)

    def evaluate(self, value: bytes | None, headers: Headers = ()) -> Outcome:
        """Where one record goes, and why. Never raises for anything the record contains."""
        judged = self._judge(value, headers)
        verdict = judged.verdict
        shadow = None if self._candidate is None else self._shadow(value, judged, *self._candidate)
        if isinstance(verdict, Valid):
            return Forward(value, judged.schema_ref, VALID, shadow)
        if self._mode is Mode.OBSERVE:
            return Forward(value, judged.schema_ref, verdict, shadow)
        schema = judged.schema
        if (
            self._remediation_enabled
            and isinstance(schema, CompiledJsonSchema)
            and judged.record is not MISSING
            and verdict.error_type in _REMEDIABLE
        ):
            remedied = self._remedied(judged.record, schema)
            if remedied is not None:
                fixed, fixes = remedied
                return Remediated(fixed, fixes, schema.ref, verdict, shadow)
        return Quarantine(verdict, judged.schema_ref, shadow)

    def _remedied(
        self, record: Any, schema: CompiledJsonSchema
    ) -> tuple[bytes, tuple[str, ...]] | None:
        """The encoded fixed record and its fixes, if remediation makes the record valid."""
        remedy = remediate(record, schema, schema.remediation)
        if remedy is None or validate(schema, remedy.record, self._max_errors) is not VALID:
            return None
        try:
            return orjson.dumps(remedy.record), remedy.fixes
        except orjson.JSONEncodeError:
            return None  # e.g. a schema default beyond 64 bits: keep the original, quarantined

    def _judge(self, value: bytes | None, headers: Headers) -> _Judgement:
        selection = self._selection
        if selection.reads_record:
            decoded = decode_json(value)
            if isinstance(decoded, DecodeFailure):
                return _Judgement(None, None, MISSING, True, _undecodable(decoded))
            chosen = selection.select(headers, decoded.value)
            record = decoded.value
            if isinstance(chosen, Unselectable):
                return _Judgement(None, chosen.schema_ref, record, True, chosen.verdict)
            verdict = validate(chosen, record, self._max_errors)
            return _Judgement(chosen, chosen.ref, record, True, verdict)
        chosen = selection.select(headers)
        if isinstance(chosen, Unselectable):
            return _Judgement(None, chosen.schema_ref, MISSING, False, chosen.verdict)
        from_json = isinstance(chosen, CompiledJsonSchema)
        decoded = self._decode(chosen, value)
        if isinstance(decoded, DecodeFailure):
            return _Judgement(chosen, chosen.ref, MISSING, from_json, _undecodable(decoded))
        verdict = validate(chosen, decoded.value, self._max_errors)
        return _Judgement(chosen, chosen.ref, decoded.value, from_json, verdict)

    def _decode(self, schema: CompiledSchema, value: bytes | None) -> DecodeResult:
        if isinstance(schema, CompiledJsonSchema):
            return decode_json(value)
        return decode_avro(value, schema.parsed, self._avro_framing)

    def _shadow(
        self,
        value: bytes | None,
        judged: _Judgement,
        candidate_ref: SchemaRef,
        candidate: SelectionResult,
    ) -> ShadowReport:
        if isinstance(candidate, Unselectable):
            verdict: Verdict = candidate.verdict
        elif isinstance(candidate, CompiledJsonSchema) and judged.from_json:
            # The same bytes were decoded as JSON already: reuse the record, or the failure.
            if judged.record is MISSING:
                verdict = judged.verdict
            else:
                verdict = validate(candidate, judged.record, self._max_errors)
        else:
            decoded = self._decode(candidate, value)
            if isinstance(decoded, DecodeFailure):
                verdict = _undecodable(decoded)
            else:
                verdict = validate(candidate, decoded.value, self._max_errors)
        live_valid = isinstance(judged.verdict, Valid)
        return ShadowReport(
            candidate=candidate_ref,
            verdict=verdict,
            disagrees=live_valid != isinstance(verdict, Valid),
        )


def _undecodable(failure: DecodeFailure) -> Invalid:
    return Invalid(
        ErrorType.DESERIALIZATION_ERROR,
        (FieldError(path="", keyword=DECODE_KEYWORD, schema_path="", message=failure.message),),
    )
