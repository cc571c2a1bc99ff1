"""A flood of invalid records opens the breaker: consumption pauses, /readyz and the metric say
why, and records that arrive later stay on the source topic."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from tests.integration.validator.conftest import PipelineFactory, ProcessFactory
from tests.integration.validator.harness import (
    committed_offsets,
    numbered,
    produce,
    sink_count,
    wait_until_sinks_hold,
)
from validator_pod.domain.pipeline_config import Batching, Breaker


async def test_a_flood_of_invalid_records_pauses_consumption_and_reports_why(
    make_pipeline: PipelineFactory, start_validator: ProcessFactory
) -> None:
    pipeline = await make_pipeline(
        breaker=Breaker(enabled=True, window=timedelta(seconds=30), threshold=0.5, min_records=200),
        batching=Batching(max_records=100),
    )
    bootstrap = pipeline.stack.kafka_bootstrap
    validator = start_validator(pipeline, "pod-b")
    await validator.wait_ready()

    await produce(bootstrap, pipeline.source, numbered(0, 1_000, partitions=1, invalid_every=1))
    await wait_until_sinks_hold(pipeline, 200)
    for _ in range(100):
        status, body = await asyncio.to_thread(validator.readiness)
        if status == 503:
            break
        await asyncio.sleep(0.1)
    assert status == 503
    assert "invalid-ratio breaker open" in body["problems"]["breaker"]
    _, metrics = await asyncio.to_thread(validator.probe, "/metrics")
    assert f'dataquarantine_breaker_open{{pipeline="{pipeline.name}"}} 1.0'.encode() in metrics

    settled = await sink_count(pipeline)
    await produce(bootstrap, pipeline.source, numbered(1_000, 500, partitions=1, invalid_every=0))
    await asyncio.sleep(2)
    assert await sink_count(pipeline) == settled, "consumption stays paused"
    assert settled < 1_500
    committed = await committed_offsets(bootstrap, pipeline.group, pipeline.source, 1)
    assert committed[0] <= settled  # nothing is committed that was not written
    assert validator.terminate() == 0
