"""The figures: throughput and CPU per record over a committed-offset window, latency
percentiles at a fixed offered load, and a check that every record went where it should."""

from __future__ import annotations

import asyncio
import math
import time
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Final

import asyncpg

from bench.environment import BenchError
from bench.kafka_io import CommitWatcher, LatencySample, end_offsets, paced_latency
from bench.procstat import CoreTimes
from bench.subjects import Names, Subject
from bench.workload import EventPool
from validator_pod.adapters.kafka import KafkaConnection


@dataclass(frozen=True, slots=True)
class Throughput:
    """Records committed per second, and what it cost, between two committed offsets."""

    records: int
    seconds: float
    records_per_second: float
    cpu_seconds: float
    cpu_us_per_record: float
    records_per_cpu_second: float
    """1 / CPU time per record: the rate on a core of its own (a ceiling, not a measurement)."""
    subject_core_share: float
    """CPU time of the process under test / wall time: near 1.0 means it was CPU-bound."""
    core_utilisation: list[float]
    """Busy fraction of each core during the window (everything on the machine)."""
    startup_seconds: float
    """From process start to the end of the warm-up (group join, connections, warm-up records)."""


@dataclass(frozen=True, slots=True)
class Latency:
    """End-to-end latency (send to the source topic → receipt from the sink topic)."""

    offered_per_second: float
    achieved_per_second: float
    seconds: float
    expected: int
    received: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    p999_ms: float
    max_ms: float
    mean_ms: float
    subject_core_share: float
    """CPU time of the process under test / wall time while the load was offered."""
    max_schedule_slip_ms: float
    """How late the paced producer ever was against its schedule (harness health)."""


async def measure_throughput(
    subject: Subject,
    watcher: CommitWatcher,
    *,
    warmup: int,
    records: int,
    started_at: float,
    stall_seconds: float = 30.0,
    poll_seconds: float = 0.01,
    progress: Callable[[int], None] | None = None,
    on_open: Callable[[], None] | None = None,
) -> Throughput:
    """Poll the group's committed offset; the window opens at the first reading >= `warmup`
    and closes at the first reading >= `warmup + records`. CPU time is read at both ends;
    `on_open` is called when the window opens."""
    target = warmup + records
    opened: tuple[float, int, float, CoreTimes] | None = None
    last_seen, last_change = -1, time.monotonic()
    reported = 0.0
    while True:
        subject.check_alive()
        reading = await watcher.committed()  # None: the coordinator did not answer this time
        now = time.perf_counter()
        if reading is not None:
            cpu = subject.cpu_seconds()
            if opened is None and reading >= warmup:
                opened = (now, reading, cpu, CoreTimes.read())
                if on_open is not None:
                    on_open()
            if opened is not None and reading >= target:
                cores = CoreTimes.read().utilisation_since(opened[3])
                committed = reading
                break
            if reading != last_seen:
                last_seen, last_change = reading, time.monotonic()
        if time.monotonic() - last_change > stall_seconds:
            raise BenchError(
                f"{subject.label} made no progress for {stall_seconds:.0f} s at committed offset "
                f"{last_seen} of {target}:\n{subject.log_tail()}"
            )
        if progress is not None and now - reported > 2.0:
            reported = now
            progress(max(0, last_seen))
        await asyncio.sleep(poll_seconds)
    t0, c0, cpu0, _ = opened
    seconds = now - t0
    done = committed - c0
    if done <= 0 or seconds <= 0:
        raise BenchError(
            f"{subject.label}: the measured window is empty (committed {c0} → {committed}); "
            "use more --records"
        )
    return Throughput(
        records=done,
        seconds=seconds,
        records_per_second=done / seconds,
        cpu_seconds=cpu - cpu0,
        cpu_us_per_record=(cpu - cpu0) / done * 1e6,
        records_per_cpu_second=done / (cpu - cpu0) if cpu > cpu0 else math.nan,
        subject_core_share=(cpu - cpu0) / seconds,
        core_utilisation=cores,
        startup_seconds=t0 - started_at,
    )


def percentile(sorted_values: list[int], fraction: float) -> float:
    """Nearest-rank percentile of ascending values."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return float(sorted_values[rank - 1])


async def measure_latency(
    subject: Subject | None,
    connection: KafkaConnection,
    *,
    names: Names,
    sink: str,
    partitions: int,
    pool: EventPool,
    share: float,
    rate: float,
    warmup_seconds: float,
    seconds: float,
    first_index: int,
    reaches_sink: Callable[[bool], bool],
    on_measuring: Callable[[], None] | None = None,
) -> Latency:
    """Offer `rate` records/s to the source and time each record's arrival on `sink`;
    `on_measuring` is called when the measured window opens."""
    window: list[tuple[float, float]] = []

    def measuring() -> None:
        window.append((time.perf_counter(), 0.0 if subject is None else subject.cpu_seconds()))
        if on_measuring is not None:
            on_measuring()

    sample: LatencySample = await paced_latency(
        connection,
        source=names.source,
        sink=sink,
        partitions=partitions,
        pool=pool,
        share=share,
        rate=rate,
        warmup_seconds=warmup_seconds,
        seconds=seconds,
        first_index=first_index,
        reaches_sink=reaches_sink,
        on_measuring=measuring,
    )
    share_of_core = math.nan
    if subject is not None and window:
        subject.check_alive()
        t0, cpu0 = window[0]
        share_of_core = (subject.cpu_seconds() - cpu0) / (time.perf_counter() - t0)
    values = sorted(sample.latencies_ns)
    return Latency(
        offered_per_second=rate,
        achieved_per_second=sample.achieved_rate,
        seconds=seconds,
        expected=sample.expected,
        received=sample.received,
        p50_ms=percentile(values, 0.50) / 1e6,
        p90_ms=percentile(values, 0.90) / 1e6,
        p99_ms=percentile(values, 0.99) / 1e6,
        p999_ms=percentile(values, 0.999) / 1e6,
        max_ms=(values[-1] / 1e6) if values else math.nan,
        mean_ms=(sum(values) / len(values) / 1e6) if values else math.nan,
        subject_core_share=share_of_core,
        max_schedule_slip_ms=sample.max_schedule_slip_ms,
    )


async def check_outputs(
    bootstrap: str,
    names: Names,
    *,
    partitions: int,
    expected_valid: int,
    expected_invalid: int,
    postgres_dsn: str | None,
    exact_split: bool = True,
) -> dict[str, Any]:
    """Count what landed where: records on the valid and dead-letter topics and, for the
    pipeline, rows in PostgreSQL. `ok` is True when every count is the expected one; without
    `exact_split`, when the two topics hold every record between them."""
    counts = await end_offsets(bootstrap, [names.valid, names.dlq], partitions)
    found: dict[str, Any] = {
        "valid_topic": counts[names.valid],
        "dlq_topic": counts[names.dlq],
        "expected_valid": expected_valid,
        "expected_invalid": expected_invalid,
    }
    if exact_split:
        ok = counts[names.valid] == expected_valid and counts[names.dlq] == expected_invalid
    else:
        ok = counts[names.valid] + counts[names.dlq] == expected_valid + expected_invalid
    if postgres_dsn is not None:
        conn = await asyncpg.connect(postgres_dsn)
        try:
            rows = await conn.fetchval(
                "SELECT count(*) FROM quarantine_records WHERE pipeline = $1", names.pipeline
            )
            segments = await conn.fetchval(
                "SELECT count(DISTINCT storage_uri) FROM quarantine_records WHERE pipeline = $1",
                names.pipeline,
            )
        finally:
            await conn.close()
        found["postgres_rows"] = rows
        found["s3_segments"] = segments
        ok = ok and rows == expected_invalid
    found["ok"] = ok
    return found


_BATCH: Final = "dataquarantine_batch_duration_seconds"
_VALIDATION: Final = "dataquarantine_validation_duration_seconds"
_WRITE_FAILURES: Final = "dataquarantine_quarantine_write_failures_total"


def scrape(port: int) -> dict[str, float]:
    """The validator's /metrics, each metric summed over its series (blocking: a few ms)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as reply:
        text = reply.read().decode()
    totals: dict[str, float] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        series, _, value = line.rpartition(" ")
        name = series.split("{", 1)[0]
        totals[name] = totals.get(name, 0.0) + float(value)
    return totals


def batch_breakdown(before: dict[str, float], after: dict[str, float]) -> dict[str, Any]:
    """From two scrapes: batches, mean records per batch, mean time from fetch to commit and
    mean time spent planning (decode + validate + route, CPU only), and write failures."""

    def delta(name: str) -> float:
        return after.get(name, 0.0) - before.get(name, 0.0)

    batches = delta(f"{_BATCH}_count")
    records = delta("dataquarantine_records_total")
    return {
        "batches": int(batches),
        "records_per_batch": records / batches if batches else None,
        "mean_batch_ms": delta(f"{_BATCH}_sum") / batches * 1e3 if batches else None,
        "mean_planning_ms": (
            delta(f"{_VALIDATION}_sum") / delta(f"{_VALIDATION}_count") * 1e3
            if delta(f"{_VALIDATION}_count")
            else None
        ),
        "write_failures": int(delta(_WRITE_FAILURES)),
    }


def as_dict(value: Throughput | Latency) -> dict[str, Any]:
    """JSON-ready form (NaN becomes None)."""
    return {
        key: (None if isinstance(item, float) and math.isnan(item) else item)
        for key, item in asdict(value).items()
    }
