"""SIGTERM stops a validator cleanly (exit 0) with nothing committed that was not written, and
partitions moving between two validators lose nothing."""

from __future__ import annotations

import asyncio

from tests.integration.validator.conftest import PipelineFactory, ProcessFactory
from tests.integration.validator.harness import (
    committed_offsets,
    numbered,
    outputs,
    produce,
    produce_slowly,
    wait_for_ids,
    wait_until_sinks_hold,
)
from validator_pod.domain.pipeline_config import Batching


async def test_sigterm_exits_0_and_commits_only_what_was_written(
    make_pipeline: PipelineFactory, start_validator: ProcessFactory
) -> None:
    partitions = 2
    pipeline = await make_pipeline(partitions=partitions, batching=Batching(max_records=500))
    records = numbered(0, 50_000, partitions=partitions, invalid_every=10)
    await produce(pipeline.stack.kafka_bootstrap, pipeline.source, records)

    validator = start_validator(pipeline, "pod-t")
    await validator.wait_ready()
    await wait_until_sinks_hold(pipeline, 5_000)
    assert validator.terminate() == 0
    assert any(line["message"] == "stopped" for line in validator.log_lines())

    committed = await committed_offsets(
        pipeline.stack.kafka_bootstrap, pipeline.group, pipeline.source, partitions
    )
    assert 0 < sum(committed.values()) < len(records), "stopped mid-stream"
    # every record below the committed offsets came out: no half batch was committed
    below = {i for i in range(len(records)) if i // partitions < committed[i % partitions]}
    assert below <= (await outputs(pipeline)).ids

    restarted = start_validator(pipeline, "pod-t")
    await wait_for_ids(pipeline, set(range(len(records))), within=60)
    assert restarted.terminate() == 0


async def test_partitions_moving_between_two_validators_lose_no_record(
    make_pipeline: PipelineFactory, start_validator: ProcessFactory
) -> None:
    partitions = 4
    pipeline = await make_pipeline(partitions=partitions, batching=Batching(max_records=500))
    records = numbered(0, 30_000, partitions=partitions, invalid_every=20)
    stream = asyncio.create_task(
        produce_slowly(pipeline.stack.kafka_bootstrap, pipeline.source, records, per_second=2_000)
    )
    try:
        first = start_validator(pipeline, "pod-1")
        await first.wait_ready()
        await asyncio.sleep(3)
        second = start_validator(pipeline, "pod-2")  # joins: partitions are split
        await second.wait_ready()
        await asyncio.sleep(4)
        assert first.terminate() == 0  # leaves: its partitions move to the second
        await stream
    finally:
        stream.cancel()
    found = await wait_for_ids(pipeline, set(range(len(records))), within=60)
    assert second.terminate() == 0
    assert len(found.valid) + len(found.dead) >= len(records)
    assert any(line["message"] == "partitions assigned" for line in second.log_lines())
