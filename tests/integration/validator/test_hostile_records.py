"""Records built to break decoders are each routed with a reason; the loop keeps going."""

from __future__ import annotations

import json

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

FIVE_MB = 5 * 1024 * 1024
TOPIC_LIMIT = 8 * 1024 * 1024

HOSTILE: list[tuple[bytes | None, str | None]] = [
    (b"this is not json", "deserialization_error"),
    (b'{"id": 1, "amount": 1, "currency": "\xff\xfe"}', "deserialization_error"),
    (
        json.dumps({"id": 2, "amount": 1, "currency": "EUR", "note": "x" * FIVE_MB}).encode(),
        "schema_violation",
    ),
    (b'{"id": 3, "items": ' + b"[" * 10_000 + b"]" * 10_000 + b"}", "deserialization_error"),
    (b'{"id": 4, "amount": NaN, "currency": "EUR"}', "deserialization_error"),
    (b'{"id": 5, "amount": Infinity, "currency": "EUR"}', "deserialization_error"),
    (b'{"id": 6, "amount": 1, "currency": "EUR", "currency": "USD"}', None),
    (b'{"id": 18446744073709551616, "amount": 1, "currency": "EUR"}', "deserialization_error"),
    (b"", "deserialization_error"),
    (None, "deserialization_error"),
    (order(7), None),
]


async def test_a_hostile_corpus_is_routed_record_by_record_with_a_reason(
    make_pipeline: PipelineFactory, start_validator: ProcessFactory
) -> None:
    pipeline = await make_pipeline(max_message_bytes=TOPIC_LIMIT)
    bootstrap = pipeline.stack.kafka_bootstrap
    records = [Produced(value, key=f"k{i}".encode()) for i, (value, _) in enumerate(HOSTILE)]
    await produce(bootstrap, pipeline.source, records, max_request_size=TOPIC_LIMIT)

    validator = start_validator(pipeline, "pod-h")
    await validator.wait_ready()
    await wait_for_count(bootstrap, [pipeline.valid, pipeline.quarantine], 1, len(HOSTILE), 60)
    assert validator.process.poll() is None, validator.tail()
    assert validator.terminate() == 0

    valid = await read_topic(bootstrap, pipeline.valid, 1)
    assert [(r.key, r.value) for r in valid] == [
        (f"k{i}".encode(), value) for i, (value, reason) in enumerate(HOSTILE) if reason is None
    ]
    rows = await quarantine_rows(pipeline.stack.postgres_dsn, pipeline.name)
    quarantined = [(i, reason) for i, (_, reason) in enumerate(HOSTILE) if reason is not None]
    assert [(row["kafka_offset"], row["error_type"]) for row in rows] == quarantined
    assert all(row["error_message"] for row in rows)
    for row in rows:
        original = HOSTILE[row["kafka_offset"]][0] or b""
        assert row["byte_length"] == len(original)
        stored = (
            await ranged_get(
                pipeline.stack, row["storage_uri"], row["byte_offset"], row["byte_length"]
            )
            if original
            else b""
        )
        assert stored == original
    dead = await read_topic(bootstrap, pipeline.quarantine, 1)
    assert [(r.offset, r.key, r.value) for r in dead] == [
        (n, f"k{i}".encode(), HOSTILE[i][0]) for n, (i, _) in enumerate(quarantined)
    ]
