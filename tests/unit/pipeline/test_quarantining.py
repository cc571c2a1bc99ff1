from __future__ import annotations

import base64
import uuid

import orjson

from validator_pod.domain import headers as names
from validator_pod.domain.pipeline_config import SchemaRef
from validator_pod.domain.records import ErrorType, FieldError, Invalid
from validator_pod.pipeline.quarantining import (
    QUARANTINE_ID_NAMESPACE,
    DeadLetterHeaders,
    build_segment,
    capped_errors_json,
    errors_json,
    headers_json,
    quarantine_record_id,
    remediated_headers,
    segment_key,
)

AMOUNT = FieldError(
    path="/amount",
    keyword="minimum",
    schema_path="/properties/amount/minimum",
    message="-1 is less than the minimum of 0",
)


def test_the_record_id_is_the_uuid5_of_namespace_pipeline_topic_partition_and_offset() -> None:
    assert quarantine_record_id("shop", "p", "t", 1, 42) == uuid.uuid5(
        QUARANTINE_ID_NAMESPACE, "shop/p/t/1/42"
    )
    assert quarantine_record_id("shop", "p", "t", 1, 42) == quarantine_record_id(
        "shop", "p", "t", 1, 42
    )
    ids = {quarantine_record_id("shop", "p", "t", part, off) for part in (0, 1) for off in (0, 1)}
    assert len(ids) == 4


def test_pipelines_of_one_name_in_two_namespaces_get_different_record_ids() -> None:
    assert quarantine_record_id("shop", "p", "t", 1, 42) != quarantine_record_id(
        "lab", "p", "t", 1, 42
    )


def test_segment_keys_name_namespace_pipeline_topic_partition_and_offsets() -> None:
    assert (
        segment_key("shop", "orders", "orders.raw", 2, 10, 17)
        == "shop/orders/orders.raw/2/10-17.seg"
    )


def test_a_segment_holds_values_back_to_back_and_nulls_take_no_bytes() -> None:
    segment = build_segment("k", [b"abc", None, b"", b"de"])
    assert segment.data == b"abcde"
    assert segment.slices == ((0, 3), (3, 0), (3, 0), (3, 2))
    assert [segment.data[o : o + n] for o, n in segment.slices] == [b"abc", b"", b"", b"de"]


def test_errors_json_lists_path_keyword_schema_path_and_message() -> None:
    assert orjson.loads(errors_json([AMOUNT])) == [
        {
            "path": "/amount",
            "keyword": "minimum",
            "schema_path": "/properties/amount/minimum",
            "message": "-1 is less than the minimum of 0",
        }
    ]


def test_capped_errors_keep_the_leading_errors_that_fit_as_a_valid_list() -> None:
    errors = [AMOUNT.model_copy(update={"message": f"{i}:" + "x" * 500}) for i in range(40)]
    capped = capped_errors_json(errors, limit=2048)
    kept = orjson.loads(capped)
    assert len(capped) <= 2048
    assert 0 < len(kept) < 40
    assert [e["message"] for e in kept] == [e.message for e in errors[: len(kept)]]


def test_a_single_error_larger_than_the_cap_is_shortened() -> None:
    huge = AMOUNT.model_copy(update={"message": "y" * 10_000})
    capped = capped_errors_json([huge], limit=1024)
    assert len(capped) <= 1024
    (kept,) = orjson.loads(capped)
    assert kept["message"].startswith("yyy")
    assert kept["message"].endswith("…")


def test_small_error_lists_are_not_capped() -> None:
    assert capped_errors_json([AMOUNT]) == errors_json([AMOUNT])


def test_dead_letter_headers_follow_the_originals_with_connect_and_dataquarantine_context() -> None:
    record_id = uuid.UUID(int=7)
    headers = DeadLetterHeaders(pipeline="orders", task_id="orders-validator-abc").for_record(
        [("trace", b"1"), (names.DQ_ERRORS, b"stale"), ("trace", b"2")],
        topic="orders.raw",
        partition=3,
        offset=99,
        record_id=record_id,
        verdict=Invalid(ErrorType.SCHEMA_VIOLATION, (AMOUNT,)),
        schema_ref=SchemaRef(name="orders", version=3),
        object_uri="s3://b/k.seg",
    )
    assert headers == [
        ("trace", b"1"),
        ("trace", b"2"),
        ("__connect.errors.topic", b"orders.raw"),
        ("__connect.errors.partition", b"3"),
        ("__connect.errors.offset", b"99"),
        ("__connect.errors.connector.name", b"orders"),
        ("__connect.errors.task.id", b"orders-validator-abc"),
        ("__connect.errors.stage", b"TRANSFORMATION"),
        ("__connect.errors.class.name", b"validator_pod.validation.validating"),
        ("__connect.errors.exception.class.name", b"dataquarantine.errors.SchemaViolationError"),
        ("__connect.errors.exception.message", b"/amount: -1 is less than the minimum of 0"),
        ("dataquarantine.id", str(record_id).encode()),
        ("dataquarantine.schema", b"orders"),
        ("dataquarantine.schema.version", b"3"),
        ("dataquarantine.error.type", b"schema_violation"),
        ("dataquarantine.errors", errors_json([AMOUNT])),
        ("dataquarantine.object", b"s3://b/k.seg"),
    ]


def test_undecodable_records_are_a_converter_failure_without_schema_headers() -> None:
    failure = FieldError(path="", keyword="decode", schema_path="", message="not valid JSON")
    headers = dict(
        DeadLetterHeaders(pipeline="p", task_id="pod").for_record(
            [],
            topic="t",
            partition=0,
            offset=0,
            record_id=uuid.UUID(int=1),
            verdict=Invalid(ErrorType.DESERIALIZATION_ERROR, (failure,)),
            schema_ref=None,
            object_uri="s3://b/k",
        )
    )
    assert headers[names.CONNECT_STAGE] == b"VALUE_CONVERTER"
    assert headers[names.CONNECT_EXCEPTION_CLASS] == b"dataquarantine.errors.DeserializationError"
    assert names.DQ_SCHEMA not in headers
    assert names.DQ_SCHEMA_VERSION not in headers


def test_remediated_records_carry_their_fixes_and_the_id_of_the_kept_original() -> None:
    headers = remediated_headers(
        [("a", b"1"), (names.DQ_REMEDIATED, b"old")],
        fixes=["/amount: coerced string to number"],
        record_id=uuid.UUID(int=3),
    )
    assert headers == [
        ("a", b"1"),
        (names.DQ_REMEDIATED, b'["/amount: coerced string to number"]'),
        (names.DQ_ID, str(uuid.UUID(int=3)).encode()),
    ]


def test_record_headers_are_stored_in_order_with_base64_values() -> None:
    stored = orjson.loads(headers_json([("a", b"\xff\x00"), ("a", b""), ("n", None)]))
    assert stored == [["a", base64.b64encode(b"\xff\x00").decode()], ["a", ""], ["n", None]]
