"""PostgreSQL, then S3, then Kafka stopped for 20 s each during a stream: the validator stops
committing, reports not-ready, resumes by itself when they are back, and loses nothing."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass

from aiokafka import AIOKafkaProducer

from tests.integration.validator.conftest import PipelineFactory, ProcessFactory
from tests.integration.validator.harness import (
    REPO,
    Outputs,
    Produced,
    ValidatorProcess,
    numbered,
    send_each,
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
                futures = await send_each(producer, topic, records[start : start + chunk])
                results = await asyncio.gather(*futures, return_exceptions=True)
                if not any(isinstance(result, BaseException) for result in results):
                    break
                await asyncio.sleep(0.5)
            await asyncio.sleep(max(0.0, 0.1 - (time.monotonic() - began)))
    finally:
        await producer.stop()


@dataclass
class OutageRun:
    """A stream of numbered orders through a validator while services were stopped in turn."""

    validator: ValidatorProcess
    records: int
    found: Outputs
    readiness: list[tuple[float, int, dict[str, str]]]
    """/readyz every 0.2 s: (time, status, problems)."""
    outages: dict[str, tuple[float, float]]
    """When each service was down."""

    def assert_every_record_was_routed_once_where_it_belongs(self) -> None:
        invalid = {i for i in range(self.records) if i % 10 == 0} | {13}  # 13: ORDER_RULES
        assert set(self.found.dead) == invalid
        assert set(self.found.valid) == set(range(self.records)) - invalid

    def assert_not_ready_during_each_outage_and_ready_after(self) -> None:
        for service, (began, ended) in self.outages.items():
            during = [
                (status, problems) for t, status, problems in self.readiness if began < t < ended
            ]
            assert any(status == 503 and service in problems for status, problems in during), (
                service,
                during[-3:],
            )
        assert self.readiness[-1][1] == 200, self.readiness[-1]


async def stream_through_outages(
    make_pipeline: PipelineFactory,
    start_validator: ProcessFactory,
    services: Sequence[str],
    *,
    records: int,
) -> OutageRun:
    """Produce `records` orders at 400/s while each of `services` is stopped for
    OUTAGE_SECONDS in turn; wait until every order came out; stop the validator (exit 0)."""
    partitions = 2
    pipeline = await make_pipeline(partitions=partitions, batching=Batching(max_records=200))
    stack = pipeline.stack.stack
    orders = numbered(0, records, partitions=partitions, invalid_every=10)
    validator = start_validator(pipeline, "pod-o")
    await validator.wait_ready()
    stream = asyncio.create_task(
        produce_through_an_outage(
            pipeline.stack.kafka_bootstrap, pipeline.source, orders, per_second=400
        )
    )
    readiness: list[tuple[float, int, dict[str, str]]] = []
    watcher = asyncio.create_task(watch_readiness(validator, readiness))
    outages: dict[str, tuple[float, float]] = {}
    try:
        for service in services:
            await asyncio.sleep(2)
            began = time.monotonic()
            await asyncio.to_thread(stack.stop_service, service)
            try:
                await asyncio.sleep(OUTAGE_SECONDS)
            finally:
                await start_service(service)
            outages[service] = (began, time.monotonic())
            await wait_ready_again(validator, within=90)
        await stream
        found = await wait_for_ids(pipeline, set(range(records)), within=90)
    finally:
        stream.cancel()
        watcher.cancel()
    assert validator.process.poll() is None, validator.tail()
    assert validator.terminate() == 0
    return OutageRun(validator, records, found, readiness, outages)


async def test_postgres_and_s3_outages_stop_commits_report_not_ready_and_lose_nothing(
    make_pipeline: PipelineFactory, start_validator: ProcessFactory
) -> None:
    run = await stream_through_outages(
        make_pipeline, start_validator, ("postgres", "s3"), records=24_000
    )

    run.assert_every_record_was_routed_once_where_it_belongs()
    run.assert_not_ready_during_each_outage_and_ready_after()
    log = run.validator.log_lines()
    changes = [line for line in log if line["message"].startswith("not ready")]
    assert len(changes) < 10, "readiness changes are logged once, not per retry"


async def test_a_kafka_outage_reports_not_ready_and_the_loop_resumes_by_itself_losing_nothing(
    make_pipeline: PipelineFactory, start_validator: ProcessFactory
) -> None:
    run = await stream_through_outages(make_pipeline, start_validator, ("kafka",), records=12_000)

    run.assert_every_record_was_routed_once_where_it_belongs()
    run.assert_not_ready_during_each_outage_and_ready_after()
