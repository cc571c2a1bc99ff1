"""Valid records reach the valid topic untouched; invalid ones land in S3, PostgreSQL and the
dead-letter topic with exactly the headers, rows and bytes the contract promises."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

from tests.conftest import StackEnv
from tests.integration.validator.conftest import PipelineFactory, ProcessFactory
from tests.integration.validator.harness import (
    Produced,
    order,
    produce,
    quarantine_rows,
    ranged_get,
    read_topic,
    wait_for_count,
)

TIMESTAMP_MS = 1_767_225_600_123  # 2026-01-01T00:00:00.123Z


async def test_valid_and_invalid_records_land_with_exact_headers_rows_and_segment_bytes(
    stack_env: StackEnv, make_pipeline: PipelineFactory, start_validator: ProcessFactory
) -> None:
    pipeline = await make_pipeline()
    headers = [("trace", b"abc"), ("trace", b"def"), ("empty", b"")]
    records = [
        Produced(order(0), key=b"k0", headers=headers, timestamp_ms=TIMESTAMP_MS),
        Produced(order(1, amount=-5), key=b"k1", headers=headers, timestamp_ms=TIMESTAMP_MS),
        Produced(order(2), key=None, timestamp_ms=TIMESTAMP_MS),
        Produced(b"{not json", key=b"k3", timestamp_ms=TIMESTAMP_MS),
        Produced(order(13), key=b"k4", timestamp_ms=TIMESTAMP_MS),
        Produced(order(5), key=b"k5", headers=headers, timestamp_ms=TIMESTAMP_MS),
    ]
    await produce(stack_env.kafka_bootstrap, pipeline.source, records)

    validator = start_validator(pipeline, "pod-a")
    await validator.wait_ready()
    try:
        await wait_for_count(
            stack_env.kafka_bootstrap, [pipeline.valid, pipeline.quarantine], 1, 6, within=30
        )
    except AssertionError as exc:
        raise AssertionError(f"{exc}\nvalidator log:\n{validator.tail(60)}") from None
    assert validator.terminate() == 0

    valid = await read_topic(stack_env.kafka_bootstrap, pipeline.valid, 1)
    assert [(r.key, r.value, list(r.headers), r.timestamp) for r in valid] == [
        (b"k0", order(0), headers, TIMESTAMP_MS),
        (None, order(2), [], TIMESTAMP_MS),
        (b"k5", order(5), headers, TIMESTAMP_MS),
    ]

    rows = await quarantine_rows(stack_env.postgres_dsn, pipeline.name)
    assert [row["kafka_offset"] for row in rows] == [1, 3, 4]
    segment_prefix = f"s3://{pipeline.bucket}/tests/{pipeline.name}/{pipeline.source}/0/"
    ids = [
        uuid.uuid5(_ID_NAMESPACE, f"{pipeline.namespace}/{pipeline.name}/{pipeline.source}/0/{o}")
        for o in (1, 3, 4)
    ]
    amount_error = {
        "path": "/amount",
        "keyword": "minimum",
        "schema_path": "/properties/amount/minimum",
        "message": "-5 is less than the minimum of 0",
    }
    rule_error = {
        "path": "",
        "keyword": "rule",
        "schema_path": "/rules/not-thirteen",
        "message": "id 13 is unlucky",
    }
    common = {
        "pipeline": pipeline.name,
        "namespace": "tests",
        "source_topic": pipeline.source,
        "kafka_partition": 0,
        "kafka_timestamp": datetime(2026, 1, 1, 0, 0, 0, 123000, tzinfo=UTC),
        "status": "quarantined",
        "replay_count": 0,
        "replay_attempt": None,
        "replay_claimed_at": None,
        "replay_claim": None,
    }
    decode_message = json.loads(rows[1]["errors"])[0]["message"]
    decode_errors = [
        {"path": "", "keyword": "decode", "schema_path": "", "message": decode_message}
    ]
    expected_rows = [
        {
            **common,
            "id": ids[0],
            "kafka_offset": 1,
            "record_key": b"k1",
            "record_headers": [["trace", "YWJj"], ["trace", "ZGVm"], ["empty", ""]],
            "schema_name": "orders",
            "schema_version": 1,
            "error_type": "schema_violation",
            "error_message": "/amount: -5 is less than the minimum of 0",
            "errors": [amount_error],
            "byte_length": len(order(1, amount=-5)),
        },
        {
            **common,
            "id": ids[1],
            "kafka_offset": 3,
            "record_key": b"k3",
            "record_headers": [],
            "schema_name": "orders",
            "schema_version": 1,
            "error_type": "deserialization_error",
            "error_message": decode_message,
            "errors": decode_errors,
            "byte_length": len(b"{not json"),
        },
        {
            **common,
            "id": ids[2],
            "kafka_offset": 4,
            "record_key": b"k4",
            "record_headers": [],
            "schema_name": "orders",
            "schema_version": 1,
            "error_type": "rule_violation",
            "error_message": "id 13 is unlucky",
            "errors": [rule_error],
            "byte_length": len(order(13)),
        },
    ]
    # Segment boundaries follow the batches the validator happened to fetch: check each row's
    # object name and bytes rather than assume one segment.
    actual_rows = []
    for row, original in zip(rows, [order(1, amount=-5), b"{not json", order(13)], strict=True):
        actual = dict(row)
        assert actual.pop("created_at") == actual.pop("updated_at")
        uri, byte_offset = actual.pop("storage_uri"), actual.pop("byte_offset")
        first, last = uri.removeprefix(segment_prefix).removesuffix(".seg").split("-")
        assert int(first) <= row["kafka_offset"] <= int(last)
        assert await ranged_get(stack_env, uri, byte_offset, row["byte_length"]) == original
        actual["errors"] = json.loads(actual["errors"])
        actual["record_headers"] = json.loads(actual["record_headers"])
        actual_rows.append(actual)
    assert actual_rows == expected_rows
    assert decode_message.startswith("not valid JSON")

    dead = await read_topic(stack_env.kafka_bootstrap, pipeline.quarantine, 1)
    assert [(r.key, r.value, r.timestamp) for r in dead] == [
        (b"k1", order(1, amount=-5), TIMESTAMP_MS),
        (b"k3", b"{not json", TIMESTAMP_MS),
        (b"k4", order(13), TIMESTAMP_MS),
    ]

    def context(
        offset: int, stage: str, cls: str, exc: str, message: str
    ) -> list[tuple[str, bytes]]:
        return [
            ("__connect.errors.topic", pipeline.source.encode()),
            ("__connect.errors.partition", b"0"),
            ("__connect.errors.offset", str(offset).encode()),
            ("__connect.errors.connector.name", pipeline.name.encode()),
            ("__connect.errors.task.id", b"pod-a"),
            ("__connect.errors.stage", stage.encode()),
            ("__connect.errors.class.name", cls.encode()),
            ("__connect.errors.exception.class.name", exc.encode()),
            ("__connect.errors.exception.message", message.encode()),
        ]

    def ours(index: int, error_type: str, errors: list[dict[str, str]]) -> list[tuple[str, bytes]]:
        return [
            ("dataquarantine.id", str(ids[index]).encode()),
            ("dataquarantine.schema", b"orders"),
            ("dataquarantine.schema.version", b"1"),
            ("dataquarantine.error.type", error_type.encode()),
            ("dataquarantine.errors", json.dumps(errors, separators=(",", ":")).encode()),
            ("dataquarantine.object", rows[index]["storage_uri"].encode()),
        ]

    actual_headers = [list(r.headers) for r in dead]
    expected_headers = [
        headers
        + context(
            1,
            "TRANSFORMATION",
            "validator_pod.validation.validating",
            "dataquarantine.errors.SchemaViolationError",
            "/amount: -5 is less than the minimum of 0",
        )
        + ours(0, "schema_violation", [amount_error]),
        context(
            3,
            "VALUE_CONVERTER",
            "validator_pod.validation.decoding",
            "dataquarantine.errors.DeserializationError",
            decode_message,
        )
        + ours(1, "deserialization_error", decode_errors),
        context(
            4,
            "TRANSFORMATION",
            "validator_pod.validation.validating",
            "dataquarantine.errors.RuleViolationError",
            "id 13 is unlucky",
        )
        + ours(2, "rule_violation", [rule_error]),
    ]
    assert actual_headers == expected_headers


_ID_NAMESPACE = uuid.UUID("4ce6a4ed-ad44-4f82-9750-6614010db1d6")
