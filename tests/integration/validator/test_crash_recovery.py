"""A validator killed with SIGKILL in the middle of a stream loses nothing once restarted; with
exactly-once delivery it also duplicates nothing on the sinks (read with read_committed)."""

from __future__ import annotations

import pytest

from tests.integration.validator.conftest import PipelineFactory, ProcessFactory
from tests.integration.validator.harness import (
    numbered,
    produce,
    quarantine_rows,
    sink_count,
    wait_for_ids,
    wait_until_sinks_hold,
)
from validator_pod.domain.pipeline_config import Batching, Delivery

RECORDS = 100_000
PARTITIONS = 3
INVALID_EVERY = 20  # 5% invalid


@pytest.mark.parametrize("delivery", [Delivery.AT_LEAST_ONCE, Delivery.EXACTLY_ONCE])
async def test_a_validator_killed_mid_stream_loses_nothing_after_a_restart(
    delivery: Delivery, make_pipeline: PipelineFactory, start_validator: ProcessFactory
) -> None:
    pipeline = await make_pipeline(
        partitions=PARTITIONS, delivery=delivery, batching=Batching(max_records=2000)
    )
    records = numbered(0, RECORDS, partitions=PARTITIONS, invalid_every=INVALID_EVERY)
    await produce(pipeline.stack.kafka_bootstrap, pipeline.source, records)

    first = start_validator(pipeline, "pod-0")
    await first.wait_ready()
    await wait_until_sinks_hold(pipeline, RECORDS // 4)
    first.kill()
    assert await sink_count(pipeline) < RECORDS, "the stream was over before the kill"

    second = start_validator(pipeline, "pod-0")  # same pod name: same transactional id
    exactly_once = delivery is Delivery.EXACTLY_ONCE
    found = await wait_for_ids(
        pipeline, set(range(RECORDS)), within=90, read_committed=exactly_once
    )
    assert second.terminate() == 0

    invalid = {i for i in range(RECORDS) if i % INVALID_EVERY == 0} | {13}  # 13: a rule
    assert set(found.valid) == set(range(RECORDS)) - invalid
    assert set(found.dead) == invalid
    rows = await quarantine_rows(pipeline.stack.postgres_dsn, pipeline.name)
    assert len(rows) == len(invalid)  # one row per quarantined offset, whatever was retried
    if exactly_once:
        assert len(found.valid) == len(set(found.valid))
        assert len(found.dead) == len(set(found.dead))
