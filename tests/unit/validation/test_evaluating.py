from __future__ import annotations

import copy
import io
import struct
from typing import Any

import orjson
import pytest
from fastavro import parse_schema, schemaless_writer

from tests.unit.validation.samples import (
    EVENT_REF,
    EVENT_RULES,
    EVENT_SCHEMA,
    ConfigFactory,
    avro_version,
    json_version,
)
from validator_pod.domain.pipeline_config import (
    AvroFraming,
    Mode,
    SchemaRef,
    SchemaSelection,
    SchemaSelector,
    SelectorSource,
)
from validator_pod.domain.records import VALID, ErrorType, Invalid
from validator_pod.domain.schemas import Remediation, TimestampFix
from validator_pod.validation.compiling import CompiledSchema, compile_schemas
from validator_pod.validation.evaluating import (
    Forward,
    Outcome,
    Quarantine,
    RecordEvaluator,
    Remediated,
)

STRICT_REF = SchemaRef(name="order-event", version=2)
AVRO_REF = SchemaRef(name="order-avro", version=1)
ORDER_AVRO: dict[str, Any] = {
    "type": "record",
    "name": "Order",
    "fields": [{"name": "quantity", "type": "int"}, {"name": "sku", "type": "string"}],
}


@pytest.fixture(scope="module")
def schemas() -> dict[SchemaRef, CompiledSchema]:
    remediation = Remediation(timestamps=TimestampFix(paths=("/occurred_at",)))
    strict = copy.deepcopy(EVENT_SCHEMA)
    strict["properties"]["note"]["maxLength"] = 5
    return compile_schemas(
        [
            json_version(copy.deepcopy(EVENT_SCHEMA), rules=EVENT_RULES, remediation=remediation),
            json_version(strict, version=2),
            avro_version(ORDER_AVRO),
        ]
    )


def encode(record: Any) -> bytes:
    return orjson.dumps(record)


def avro_body(datum: dict[str, Any]) -> bytes:
    buffer = io.BytesIO()
    schemaless_writer(buffer, parse_schema(ORDER_AVRO), datum)
    return buffer.getvalue()


def quarantined(outcome: Outcome) -> Quarantine:
    assert isinstance(outcome, Quarantine), outcome
    return outcome


def only_error_message(verdict: Invalid) -> str:
    (error,) = verdict.errors
    return error.message


# --- enforce ------------------------------------------------------------------------------------


def test_valid_records_are_forwarded_as_their_original_bytes(
    make_config: ConfigFactory,
    schemas: dict[SchemaRef, CompiledSchema],
    valid_event: dict[str, Any],
) -> None:
    value = encode(valid_event) + b"\n"  # re-encoding would drop the newline
    outcome = RecordEvaluator(make_config(), schemas).evaluate(value, [])
    assert outcome == Forward(value=value, schema_ref=EVENT_REF, verdict=VALID, shadow=None)
    assert isinstance(outcome, Forward)
    assert outcome.value is value


def test_undecodable_bytes_are_quarantined_with_reason(
    make_config: ConfigFactory, schemas: dict[SchemaRef, CompiledSchema]
) -> None:
    outcome = quarantined(RecordEvaluator(make_config(), schemas).evaluate(b"\x00\xffgarbage"))
    assert outcome.schema_ref == EVENT_REF
    assert outcome.verdict.error_type is ErrorType.DESERIALIZATION_ERROR
    (error,) = outcome.verdict.errors
    assert (error.path, error.keyword, error.schema_path) == ("", "decode", "")
    assert error.message.startswith("not valid JSON: ")


@pytest.mark.parametrize(("value", "reason"), [(None, "tombstone"), (b"", "empty (0 bytes)")])
def test_tombstones_and_empty_values_are_quarantined_with_distinct_reasons(
    make_config: ConfigFactory,
    schemas: dict[SchemaRef, CompiledSchema],
    value: bytes | None,
    reason: str,
) -> None:
    outcome = quarantined(RecordEvaluator(make_config(), schemas).evaluate(value))
    assert outcome.verdict.error_type is ErrorType.DESERIALIZATION_ERROR
    assert reason in only_error_message(outcome.verdict)


def test_schema_violations_are_quarantined_with_errors_capped_by_the_pipeline(
    make_config: ConfigFactory,
    schemas: dict[SchemaRef, CompiledSchema],
    valid_event: dict[str, Any],
) -> None:
    valid_event["tags"] = list(range(8))
    evaluator = RecordEvaluator(make_config(max_errors_per_record=3), schemas)
    outcome = quarantined(evaluator.evaluate(encode(valid_event)))
    assert outcome.schema_ref == EVENT_REF
    assert outcome.verdict.error_type is ErrorType.SCHEMA_VIOLATION
    assert [error.path for error in outcome.verdict.errors] == ["/tags/0", "/tags/1", "/tags/2"]


def test_rule_violations_are_quarantined(
    make_config: ConfigFactory,
    schemas: dict[SchemaRef, CompiledSchema],
    valid_event: dict[str, Any],
) -> None:
    valid_event["amount"] = 0
    outcome = quarantined(RecordEvaluator(make_config(), schemas).evaluate(encode(valid_event)))
    assert outcome.verdict.error_type is ErrorType.RULE_VIOLATION


def test_a_5_mb_record_is_quarantined_with_a_short_message(
    make_config: ConfigFactory,
    schemas: dict[SchemaRef, CompiledSchema],
    valid_event: dict[str, Any],
) -> None:
    valid_event["note"] = "x" * (5 * 1024 * 1024)
    outcome = quarantined(RecordEvaluator(make_config(), schemas).evaluate(encode(valid_event)))
    assert outcome.verdict.error_type is ErrorType.SCHEMA_VIOLATION
    assert len(outcome.verdict.message) < 400


# --- remediation --------------------------------------------------------------------------------


def test_fixable_records_are_remediated_when_the_pipeline_enables_it(
    make_config: ConfigFactory,
    schemas: dict[SchemaRef, CompiledSchema],
    valid_event: dict[str, Any],
) -> None:
    valid_event.update(quantity="3", occurred_at=1_714_564_800_000)
    del valid_event["channel"]
    evaluator = RecordEvaluator(make_config(remediation_enabled=True), schemas)

    outcome = evaluator.evaluate(encode(valid_event))

    assert isinstance(outcome, Remediated)
    assert outcome.schema_ref == EVENT_REF
    assert outcome.fixes == (
        "/occurred_at: converted epoch milliseconds to RFC 3339",
        "/channel: filled default",
        "/quantity: coerced string to integer",
    )
    assert outcome.verdict.error_type is ErrorType.SCHEMA_VIOLATION
    fixed = orjson.loads(outcome.value)
    assert (fixed["quantity"], fixed["occurred_at"], fixed["channel"]) == (
        3,
        "2024-05-01T12:00:00Z",
        "web",
    )


def test_records_are_not_remediated_unless_the_pipeline_enables_it(
    make_config: ConfigFactory,
    schemas: dict[SchemaRef, CompiledSchema],
    valid_event: dict[str, Any],
) -> None:
    valid_event["quantity"] = "3"
    quarantined(RecordEvaluator(make_config(), schemas).evaluate(encode(valid_event)))


def test_records_that_stay_invalid_after_fixes_are_quarantined_with_the_original_errors(
    make_config: ConfigFactory,
    schemas: dict[SchemaRef, CompiledSchema],
    valid_event: dict[str, Any],
) -> None:
    valid_event.update(quantity="3", currency="euro")
    evaluator = RecordEvaluator(make_config(remediation_enabled=True), schemas)
    outcome = quarantined(evaluator.evaluate(encode(valid_event)))
    assert {error.path for error in outcome.verdict.errors} == {"/quantity", "/currency"}


def test_rule_violations_that_no_fix_repairs_stay_quarantined(
    make_config: ConfigFactory,
    schemas: dict[SchemaRef, CompiledSchema],
    valid_event: dict[str, Any],
) -> None:
    # Cancelled orders need a note: `note` has no default, so nothing can repair that one.
    valid_event.update(event_type="order.cancelled")
    del valid_event["note"]
    evaluator = RecordEvaluator(make_config(remediation_enabled=True), schemas)
    outcome = quarantined(evaluator.evaluate(encode(valid_event)))
    assert outcome.verdict.error_type is ErrorType.RULE_VIOLATION


# --- observe ------------------------------------------------------------------------------------


def test_observe_mode_forwards_invalid_records_with_their_verdict(
    make_config: ConfigFactory,
    schemas: dict[SchemaRef, CompiledSchema],
    valid_event: dict[str, Any],
) -> None:
    valid_event["quantity"] = "3"
    value = encode(valid_event)
    evaluator = RecordEvaluator(make_config(mode=Mode.OBSERVE, remediation_enabled=True), schemas)
    outcome = evaluator.evaluate(value)
    assert isinstance(outcome, Forward)
    assert outcome.value is value
    assert isinstance(outcome.verdict, Invalid)
    assert outcome.verdict.error_type is ErrorType.SCHEMA_VIOLATION


@pytest.mark.parametrize("value", [b"not json", None])
def test_observe_mode_forwards_undecodable_records_and_tombstones(
    make_config: ConfigFactory, schemas: dict[SchemaRef, CompiledSchema], value: bytes | None
) -> None:
    outcome = RecordEvaluator(make_config(mode=Mode.OBSERVE), schemas).evaluate(value)
    assert isinstance(outcome, Forward)
    assert outcome.value is value
    assert isinstance(outcome.verdict, Invalid)
    assert outcome.verdict.error_type is ErrorType.DESERIALIZATION_ERROR


# --- shadow -------------------------------------------------------------------------------------


def shadow_config(make_config: ConfigFactory, candidate: SchemaRef) -> Any:
    selection = SchemaSelection(default=EVENT_REF, candidate=candidate)
    return make_config(mode=Mode.SHADOW, schema_selection=selection)


def test_shadow_mode_reports_when_the_candidate_disagrees_and_routes_by_the_live_schema(
    make_config: ConfigFactory,
    schemas: dict[SchemaRef, CompiledSchema],
    valid_event: dict[str, Any],
) -> None:
    evaluator = RecordEvaluator(shadow_config(make_config, STRICT_REF), schemas)
    outcome = evaluator.evaluate(encode(valid_event))  # the note is too long for version 2
    assert isinstance(outcome, Forward)
    assert outcome.verdict is VALID
    assert outcome.shadow is not None
    assert outcome.shadow.candidate == STRICT_REF
    assert outcome.shadow.disagrees
    assert isinstance(outcome.shadow.verdict, Invalid)
    assert outcome.shadow.verdict.errors[0].path == "/note"


def test_shadow_mode_reports_agreement(
    make_config: ConfigFactory,
    schemas: dict[SchemaRef, CompiledSchema],
    valid_event: dict[str, Any],
) -> None:
    evaluator = RecordEvaluator(shadow_config(make_config, STRICT_REF), schemas)
    valid_event["note"] = "ok"
    outcome = evaluator.evaluate(encode(valid_event))
    assert outcome.shadow is not None
    assert (outcome.shadow.verdict, outcome.shadow.disagrees) == (VALID, False)
    valid_event["currency"] = "euro"
    outcome = quarantined(evaluator.evaluate(encode(valid_event)))
    assert outcome.shadow is not None
    assert isinstance(outcome.shadow.verdict, Invalid)
    assert not outcome.shadow.disagrees


def test_shadow_mode_reuses_the_decode_failure_for_a_json_candidate(
    make_config: ConfigFactory, schemas: dict[SchemaRef, CompiledSchema]
) -> None:
    outcome = quarantined(
        RecordEvaluator(shadow_config(make_config, STRICT_REF), schemas).evaluate(b"[")
    )
    assert outcome.shadow is not None
    assert outcome.shadow.verdict == outcome.verdict
    assert not outcome.shadow.disagrees


def test_shadow_mode_with_a_candidate_that_is_not_loaded_reports_an_unknown_schema(
    make_config: ConfigFactory,
    schemas: dict[SchemaRef, CompiledSchema],
    valid_event: dict[str, Any],
) -> None:
    missing = SchemaRef(name="order-event", version=9)
    outcome = RecordEvaluator(shadow_config(make_config, missing), schemas).evaluate(
        encode(valid_event)
    )
    assert outcome.shadow is not None
    assert isinstance(outcome.shadow.verdict, Invalid)
    assert outcome.shadow.verdict.error_type is ErrorType.UNKNOWN_SCHEMA
    assert outcome.shadow.disagrees


def test_a_candidate_is_ignored_outside_shadow_mode(
    make_config: ConfigFactory,
    schemas: dict[SchemaRef, CompiledSchema],
    valid_event: dict[str, Any],
) -> None:
    selection = SchemaSelection(default=EVENT_REF, candidate=STRICT_REF)
    evaluator = RecordEvaluator(make_config(schema_selection=selection), schemas)
    assert evaluator.evaluate(encode(valid_event)).shadow is None


# --- selection ----------------------------------------------------------------------------------


def test_records_are_validated_against_the_schema_their_header_selects(
    make_config: ConfigFactory,
    schemas: dict[SchemaRef, CompiledSchema],
    valid_event: dict[str, Any],
) -> None:
    selector = SchemaSelector(
        source=SelectorSource.HEADER, key="schema", mapping={"v1": EVENT_REF, "v2": STRICT_REF}
    )
    selection = SchemaSelection(default=EVENT_REF, selector=selector)
    evaluator = RecordEvaluator(make_config(schema_selection=selection), schemas)
    value = encode(valid_event)
    assert isinstance(evaluator.evaluate(value, [("schema", b"v1")]), Forward)
    assert quarantined(evaluator.evaluate(value, [("schema", b"v2")])).schema_ref == STRICT_REF
    unknown = quarantined(evaluator.evaluate(value, [("schema", b"v3")]))
    assert (unknown.schema_ref, unknown.verdict.error_type) == (None, ErrorType.UNKNOWN_SCHEMA)


def test_records_are_validated_against_the_schema_their_field_selects(
    make_config: ConfigFactory,
    schemas: dict[SchemaRef, CompiledSchema],
    valid_event: dict[str, Any],
) -> None:
    selector = SchemaSelector(
        source=SelectorSource.FIELD, key="/customer/tier", mapping={"gold": STRICT_REF}
    )
    selection = SchemaSelection(default=EVENT_REF, selector=selector)
    evaluator = RecordEvaluator(make_config(schema_selection=selection), schemas)
    assert quarantined(evaluator.evaluate(encode(valid_event))).schema_ref == STRICT_REF
    del valid_event["customer"]["tier"]
    assert isinstance(evaluator.evaluate(encode(valid_event)), Forward)
    valid_event["customer"]["tier"] = "silver"
    unknown = quarantined(evaluator.evaluate(encode(valid_event)))
    assert unknown.verdict.error_type is ErrorType.UNKNOWN_SCHEMA
    assert unknown.verdict.errors[0].path == "/customer/tier"
    undecodable = quarantined(evaluator.evaluate(b"{"))
    assert (undecodable.schema_ref, undecodable.verdict.error_type) == (
        None,
        ErrorType.DESERIALIZATION_ERROR,
    )


# --- Avro ---------------------------------------------------------------------------------------


def avro_config(make_config: ConfigFactory, framing: AvroFraming) -> Any:
    return make_config(schema_selection=SchemaSelection(default=AVRO_REF), avro_framing=framing)


def test_confluent_avro_records_are_forwarded_as_their_original_bytes(
    make_config: ConfigFactory, schemas: dict[SchemaRef, CompiledSchema]
) -> None:
    value = b"\x00" + struct.pack(">I", 17) + avro_body({"quantity": 2, "sku": "A-1"})
    evaluator = RecordEvaluator(avro_config(make_config, AvroFraming.CONFLUENT), schemas)
    outcome = evaluator.evaluate(value)
    assert isinstance(outcome, Forward)
    assert outcome.value is value
    assert outcome.schema_ref == AVRO_REF


def test_plain_avro_records_are_validated_when_the_pipeline_says_so(
    make_config: ConfigFactory, schemas: dict[SchemaRef, CompiledSchema]
) -> None:
    value = avro_body({"quantity": 2, "sku": "A-1"})
    plain = RecordEvaluator(avro_config(make_config, AvroFraming.PLAIN), schemas)
    assert isinstance(plain.evaluate(value), Forward)
    confluent = RecordEvaluator(avro_config(make_config, AvroFraming.CONFLUENT), schemas)
    outcome = quarantined(confluent.evaluate(value))
    assert "not Confluent-framed" in only_error_message(outcome.verdict)


def test_truncated_avro_records_are_quarantined_as_undecodable(
    make_config: ConfigFactory, schemas: dict[SchemaRef, CompiledSchema]
) -> None:
    value = avro_body({"quantity": 2, "sku": "A-1"})[:-1]
    outcome = quarantined(
        RecordEvaluator(avro_config(make_config, AvroFraming.PLAIN), schemas).evaluate(value)
    )
    assert outcome.verdict.error_type is ErrorType.DESERIALIZATION_ERROR
    assert "truncated" in only_error_message(outcome.verdict)


def test_avro_records_are_never_remediated(
    make_config: ConfigFactory, schemas: dict[SchemaRef, CompiledSchema]
) -> None:
    value = avro_body({"quantity": 2**40, "sku": "A-1"})
    config = avro_config(make_config, AvroFraming.PLAIN).model_copy(
        update={"remediation_enabled": True}
    )
    outcome = quarantined(RecordEvaluator(config, schemas).evaluate(value))
    assert outcome.verdict.error_type is ErrorType.SCHEMA_VIOLATION


# --- robustness ---------------------------------------------------------------------------------

HOSTILE_VALUES = [
    None,
    b"",
    b"not json",
    b'{"name": "\xff"}',
    b"[" * 10_000 + b"]" * 10_000,
    b"[" * 1024 + b"]" * 1024,
    b'{"amount": NaN}',
    b'{"amount": 1, "amount": "x"}',
    b'{"id": 18446744073709551616}',
    b'{"quantity": "' + b"9" * 5000 + b'", "occurred_at": "' + b"1" * 5000 + b'"}',
    b'{"quantity": "99999999999999999999999", "occurred_at": 1e300}',
    b'"just a string"',
    b"\x00\x00\x00\x00\x01\x02",
    orjson.dumps({"note": "x" * (5 * 1024 * 1024)}),
]


@pytest.mark.parametrize("mode", list(Mode))
def test_hostile_values_never_raise_in_any_mode(
    make_config: ConfigFactory, schemas: dict[SchemaRef, CompiledSchema], mode: Mode
) -> None:
    selection = SchemaSelection(default=EVENT_REF, candidate=STRICT_REF)
    config = make_config(mode=mode, remediation_enabled=True, schema_selection=selection)
    evaluator = RecordEvaluator(config, schemas)
    for value in HOSTILE_VALUES:
        outcome = evaluator.evaluate(value, [("schema", b"\xff")])
        assert isinstance(outcome, Quarantine if mode is not Mode.OBSERVE else Forward)
        assert isinstance(outcome.verdict, Invalid)


def test_a_remediated_record_that_cannot_be_encoded_is_quarantined(
    make_config: ConfigFactory, valid_event: dict[str, Any]
) -> None:
    document = copy.deepcopy(EVENT_SCHEMA)
    document["properties"]["serial"] = {"type": "integer", "default": 10**30}
    schemas = compile_schemas([json_version(document)])
    del valid_event["channel"]
    valid_event["quantity"] = "3"
    outcome = RecordEvaluator(make_config(remediation_enabled=True), schemas).evaluate(
        encode(valid_event)
    )
    assert quarantined(outcome).verdict.errors[0].path == "/quantity"
