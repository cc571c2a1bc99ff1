"""PostgreSQL, then S3, then Kafka stopped for 20 s each during a stream: the validator stops
committing, reports not-ready, resumes by itself when they are back, and loses nothing."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Sequence

from aiokafka import AIOKafkaProducer

from tests.integration.validator.conftest import PipelineFactory, ProcessFactory
from tests.integration.validator.harness import (
    REPO,
    Produced,
    ValidatorProcess,
    numbered,
    produce_slowly,
    wait_for_ids,
)
from validator_pod.domain.pipeline_config import Batching

OUTAGE_SECONDS = 20


async def watch_readiness(
    validator: ValidatorProcess, seen: list[tuple[float, int, dict[str, str]]]
) -> None:
    """Record /readyz (time, status, problems) every 0.2 s until cancelled."""
    while True:
        status, body = await asyncio.to_thread(validator.readiness)
        seen.append((time.monotonic(), status, body.get("problems", {})))
        await asyncio.sleep(0.2)


async def start_service(service: str) -> None:
    """Start a stopped service again (same ports, same data) with `python -m testenv up`: the
    short-lived CLI process, not this session, owns the Popen object of the new server."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "testenv",
        "up",
        service,
        cwd=REPO,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await process.communicate()
    assert process.returncode == 0, output.decode(errors="replace")


async def wait_ready_again(validator: ValidatorProcess, within: float) -> None:
    deadline = time.monotonic() + within
    while (await asyncio.to_thread(validator.readiness))[0] != 200:
        assert time.monotonic() < deadline, f"not ready again after {within}s:\n{validator.tail()}"
        assert validator.process.poll() is None, validator.tail()
        await asyncio.sleep(0.2)


async def test_postgres_and_s3_outages_stop_commits_report_not_ready_and_lose_nothing(
    make_pipeline: PipelineFactory, start_validator: ProcessFactory
) -> None:
    partitions = 2
    pipeline = await make_pipeline(partitions=partitions, batching=Batching(max_records=200))
    stack = pipeline.stack.stack
    records = numbered(0, 24_000, partitions=partitions, invalid_every=10)
    validator = start_validator(pipeline, "pod-o")
    await validator.wait_ready()
    stream = asyncio.create_task(
        produce_slowly(pipeline.stack.kafka_bootstrap, pipeline.source, records, per_second=400)
    )
    seen: list[tuple[float, int, dict[str, str]]] = []
    watcher = asyncio.create_task(watch_readiness(validator, seen))
    outages: dict[str, tuple[float, float]] = {}
    try:
        for service in ("postgres", "s3"):
            await asyncio.sleep(2)
            began = time.monotonic()
            await asyncio.to_thread(stack.stop_service, service)
            try:
                await asyncio.sleep(OUTAGE_SECONDS)
            finally:
                await start_service(service)
            outages[service] = (began, time.monotonic())
            await wait_ready_again(validator, within=60)
        await stream
        found = await wait_for_ids(pipeline, set(range(len(records))), within=60)
    finally:
        stream.cancel()
        watcher.cancel()
    assert validator.process.poll() is None, validator.tail()
    assert validator.terminate() == 0

    assert len(found.dead) >= len(records) // 10
    for service, (began, ended) in outages.items():
        during = [(status, problems) for t, status, problems in seen if began < t < ended]
        assert any(status == 503 and service in problems for status, problems in during), (
            service,
            during[-3:],
        )
    changes = [line for line in validator.log_lines() if line["message"].startswith("not ready")]
    assert len(changes) < 10, "readiness changes are logged once, not per retry"


async def produce_through_an_outage(
    bootstrap: str, topic: str, records: Sequence[Produced], *, per_second: float
) -> None:
    """Produce in chunks of a tenth of a second's worth with one producer that outlives a broker
    outage: a chunk that fails is sent again (its ids may then appear twice; none is lost)."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", linger_ms=5, request_timeout_ms=90_000
    )
    await producer.start()
    try:
        chunk = max(1, int(per_second / 10))
        for start in range(0, len(records), chunk):
            began = time.monotonic()
            while True:
                futures = [
                    await producer.send(
                        topic,
                        record.value,
                        key=record.key,
                        headers=list(record.headers),
                        partition=record.partition,
                    )
                    for record in records[start : start + chunk]
                ]
                results = await asyncio.gather(*futures, return_exceptions=True)
                if not any(isinstance(result, BaseException) for result in results):
                    break
                await asyncio.sleep(0.5)
            await asyncio.sleep(max(0.0, 0.1 - (time.monotonic() - began)))
    finally:
        await producer.stop()


async def test_a_kafka_outage_reports_not_ready_and_the_loop_resumes_by_itself_losing_nothing(
    make_pipeline: PipelineFactory, start_validator: ProcessFactory
) -> None:
    partitions = 2
    pipeline = await make_pipeline(partitions=partitions, batching=Batching(max_records=200))
    stack = pipeline.stack.stack
    records = numbered(0, 12_000, partitions=partitions, invalid_every=10)
    validator = start_validator(pipeline, "pod-k")
    await validator.wait_ready()
    stream = asyncio.create_task(
        produce_through_an_outage(
            pipeline.stack.kafka_bootstrap, pipeline.source, records, per_second=400
        )
    )
    seen: list[tuple[float, int, dict[str, str]]] = []
    watcher = asyncio.create_task(watch_readiness(validator, seen))
    try:
        await asyncio.sleep(3)
        began = time.monotonic()
        await asyncio.to_thread(stack.stop_service, "kafka")
        try:
            await asyncio.sleep(OUTAGE_SECONDS)
        finally:
            await start_service("kafka")
        ended = time.monotonic()
        await wait_ready_again(validator, within=90)
        await stream
        found = await wait_for_ids(pipeline, set(range(len(records))), within=90)
    finally:
        stream.cancel()
        watcher.cancel()
    assert validator.process.poll() is None, validator.tail()
    assert validator.terminate() == 0

    invalid = {i for i in range(len(records)) if i % 10 == 0} | {13}  # 13: ORDER_RULES
    assert set(found.dead) == invalid
    assert set(found.valid) == set(range(len(records))) - invalid
    during = [(status, problems) for t, status, problems in seen if began < t < ended]
    assert any(status == 503 and "kafka" in problems for status, problems in during), during[-3:]
    assert seen[-1][1] == 200, seen[-1]
