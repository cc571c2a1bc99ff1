"""PostgreSQL, then S3, stopped for 20 s each during a stream: the validator stops committing,
reports not-ready, resumes by itself when they are back, and loses nothing."""

from __future__ import annotations

import asyncio
import sys
import time

from tests.integration.validator.conftest import PipelineFactory, ProcessFactory
from tests.integration.validator.harness import (
    REPO,
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
