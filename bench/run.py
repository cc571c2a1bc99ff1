"""`python -m bench`: the validator against a passthrough baseline and the original design, on
the real broker, side by side, in one run.

For each scenario: fresh topics and consumer group; the source topic is pre-loaded with
warm-up + N records; the process under test starts pinned to one core; throughput and CPU per
record are taken between the committed offsets `warm-up` and `warm-up + N`; outputs are counted;
then a paced producer offers a fixed load and a consumer on the sink times every record; peak RSS
is read last. The harness (pre-loading, paced producer, latency consumer, offset polling) runs
pinned to the other core.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import logging
import os
import pstats
import shutil
import socket
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from bench import report
from bench.cleanup import delete_bucket, delete_rows
from bench.environment import (
    REPO,
    BenchError,
    Endpoints,
    check_cores,
    machine,
    package_versions,
    postgres_version,
    snapshot,
    source_revision,
    stack_endpoints,
)
from bench.kafka_io import CommitWatcher, create_topics, delete_topics, preload
from bench.measuring import (
    as_dict,
    batch_breakdown,
    check_outputs,
    measure_latency,
    measure_throughput,
    scrape,
)
from bench.procstat import CoreTimes
from bench.subjects import (
    Kind,
    Names,
    Subject,
    original_subject,
    passthrough_subject,
    pipeline_subject,
    write_pipeline_config,
)
from bench.workload import EVENT_SCHEMA, RULE_EXPRESSION, EventPool
from validator_pod.adapters.kafka import KafkaConnection
from validator_pod.domain.pipeline_config import Batching

SCENARIOS: Final = (
    report.FLOOR,
    report.PASSTHROUGH,
    report.PIPELINE,
    report.ALL_INVALID,
    report.ORIGINAL,
)
SLIP_WARNING_MS: Final = 10.0
"""A paced producer this late (the p99 target) skews the latency figures."""
DEFAULT_OUT: Final = REPO / "bench" / "results" / "latest.json"
ORIGINAL_WARMUP: Final = 100

DESCRIPTION = """\
Benchmark the validator (python -m validator_pod run, the real process) against the real local
stack, side by side with
  floor                 no process: the paced producer's topic read back directly (what the
                        harness, the broker and the machine add to every latency figure)
  passthrough           the same Kafka client and batching, no decoding or validation
  pipeline              the validator, --invalid-share invalid records
  pipeline-all-invalid  the validator, every record invalid (S3 segments + Postgres rows + DLQ)
  original              the original design: per-record send_and_wait and commit, pure-Python
                        jsonschema (bounded by --original-records)

Figures: records/s on one core and µs CPU per record (between committed offsets warm-up and
warm-up + N, after pre-loading the source topic), p50/p99/max end-to-end latency at a fixed
offered load (paced producer → source, consumer on the sink), peak RSS (VmHWM). The process under
test is pinned to --subject-core with taskset; the harness to --harness-core.

Needs Kafka, PostgreSQL and S3: the running local stack (.venv/bin/python -m testenv up kafka
postgres s3; DQ_STATE selects another stack), or all of DQ_KAFKA_BOOTSTRAP, DQ_POSTGRES_DSN,
DQ_S3_ENDPOINT, DQ_S3_ACCESS_KEY and DQ_S3_SECRET_KEY when set.
"""

EPILOG = """\
examples:
  python -m bench                                   everything, defaults (4-6 minutes)
  python -m bench --commit HEAD                     the committed code, not the working tree
  python -m bench --records 50000 --no-latency      a quick throughput check
  python -m bench --scenarios pipeline,passthrough  only these two
  python -m bench --scenarios pipeline,pipeline-all-invalid --profile
                                                    cProfile + GC pauses of the validator

columns: records/s between the committed offsets; latency percentiles at --latency-rate;
peak RSS (VmHWM); µs CPU/record = (user + sys) / records over the same window, the most
repeatable figure; records/CPU-s = its inverse, the rate on a core of its own (a ceiling);
core busy = the process's CPU time / wall time (well below 100% while the core was busy means
other processes took it); (!) marks a row with warnings, listed under the table.

results: a Markdown table and pass/fail per target of issue 3 on stdout; JSON in --out and
in a timestamped file beside it (profiling runs write only the timestamped file).
"""


@dataclass(frozen=True, slots=True)
class Scenario:
    """One row of the table."""

    key: str
    kind: Kind
    invalid_share: float
    records: int
    warmup: int
    latency_sink: str | None
    """"valid" or "dlq": where latency is timed; None: no latency run."""

    @property
    def label(self) -> str:
        """The row's name in the table."""
        if self.kind is Kind.PIPELINE:
            return f"pipeline ({self.invalid_share:.0%} invalid)"
        if self.kind is Kind.ORIGINAL:
            return f"original design ({self.invalid_share:.0%} invalid)"
        if self.kind is Kind.FLOOR:
            return "harness floor (no process)"
        return "passthrough (no validation)"

    def reaches_sink(self, invalid: bool) -> bool:
        """Whether a record arrives on the latency sink."""
        if self.kind in (Kind.PASSTHROUGH, Kind.FLOOR):
            return True
        return invalid if self.latency_sink == "dlq" else not invalid


def build_parser() -> argparse.ArgumentParser:
    """The command line."""
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    batching = Batching()
    parser.add_argument(
        "--records", type=int, default=200_000, help="measured records per scenario (%(default)s)"
    )
    parser.add_argument(
        "--warmup",
        type=int,
        default=10_000,
        help="records consumed before the throughput window opens (%(default)s)",
    )
    parser.add_argument(
        "--invalid-share",
        type=float,
        default=0.05,
        help="share of invalid records in the pipeline, passthrough and original scenarios "
        "(%(default)s)",
    )
    parser.add_argument(
        "--scenarios",
        default=",".join(SCENARIOS),
        help=f"comma-separated, from {', '.join(SCENARIOS)} (default: all)",
    )
    parser.add_argument(
        "--original-records",
        type=int,
        default=3_000,
        help="measured records of the original design (~170 records/s; %(default)s)",
    )
    parser.add_argument(
        "--partitions", type=int, default=4, help="partitions of every topic (%(default)s)"
    )
    parser.add_argument(
        "--batch-records",
        type=int,
        default=batching.max_records,
        help="pipeline.yaml batching.maxRecords, also the passthrough's (%(default)s)",
    )
    parser.add_argument(
        "--batch-wait-ms",
        type=int,
        default=batching.max_wait_ms,
        help="pipeline.yaml batching.maxWaitMs, also the passthrough's (%(default)s)",
    )
    parser.add_argument(
        "--latency-rate",
        type=float,
        default=10_000,
        help="offered load of the latency runs, records/s (%(default)s)",
    )
    parser.add_argument(
        "--latency-seconds", type=float, default=20, help="measured seconds (%(default)s)"
    )
    parser.add_argument(
        "--latency-warmup",
        type=float,
        default=2,
        help="seconds of offered load before measuring (%(default)s)",
    )
    parser.add_argument("--no-latency", action="store_true", help="skip the latency runs")
    parser.add_argument(
        "--quiet-threshold",
        type=float,
        default=0.35,
        help="before each scenario, wait until no core is busier than this (%(default)s)",
    )
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=20,
        help="longest wait for a quiet machine, seconds; then run anyway and warn (%(default)s)",
    )
    parser.add_argument(
        "--subject-core", type=int, default=1, help="core of the process under test (1)"
    )
    parser.add_argument(
        "--harness-core", type=int, default=0, help="core of this harness process (0)"
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_OUT,
        help="JSON results (default bench/results/latest.json); a timestamped copy is "
        "written beside it",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="run the validator under cProfile and print its hotspots (figures are inflated "
        "by the profiler: --out is not written, latency is skipped)",
    )
    parser.add_argument(
        "--commit",
        metavar="REV",
        help="run the processes under test from this commit (extracted with git archive into "
        "the work directory, plus this checkout's bench/) instead of the working tree; use it "
        "for reproducible figures while the tree is being edited",
    )
    parser.add_argument(
        "--keep",
        action="store_true",
        help="keep the topics, quarantine rows, S3 segments and the work directory",
    )
    return parser


class Harness:
    """Runs the scenarios of one benchmark run."""

    def __init__(self, args: argparse.Namespace, endpoints: Endpoints, run_id: str) -> None:
        """Prepare the work directory and the workload."""
        self.args = args
        self.endpoints = endpoints
        self.run_id = run_id
        self.started = time.perf_counter()
        self.workdir = Path(tempfile.mkdtemp(prefix=f"dq-bench-{run_id}-"))
        self.bucket = f"dq-bench-{run_id}"
        self.connection = KafkaConnection(bootstrap_servers=endpoints.kafka_bootstrap)
        self.batching = Batching(max_records=args.batch_records, max_wait_ms=args.batch_wait_ms)
        self.pool = EventPool()
        self.topics: list[str] = []
        self.profiles: dict[str, str] = {}
        self.code = REPO
        self.commit: str | None = None
        if args.commit:
            self.code = self.workdir / "src"
            self.commit = snapshot(args.commit, self.code)

    def say(self, message: str) -> None:
        """One progress line, with the time since the start."""
        print(f"[{time.perf_counter() - self.started:6.1f}s] {message}", flush=True)

    def scenarios(self) -> list[Scenario]:
        """The scenarios asked for, in table order."""
        args = self.args
        wanted = [name.strip() for name in args.scenarios.split(",") if name.strip()]
        unknown = sorted(set(wanted) - set(SCENARIOS))
        if unknown:
            raise BenchError(f"unknown scenarios {unknown}; choose from {', '.join(SCENARIOS)}")
        latency = not (args.no_latency or args.profile)
        share, records, warmup = args.invalid_share, args.records, args.warmup
        valid = "valid" if latency else None
        every = {
            report.FLOOR: Scenario(report.FLOOR, Kind.FLOOR, share, 0, 0, valid),
            report.PASSTHROUGH: Scenario(
                report.PASSTHROUGH, Kind.PASSTHROUGH, share, records, warmup, valid
            ),
            report.PIPELINE: Scenario(
                report.PIPELINE, Kind.PIPELINE, share, records, warmup, valid
            ),
            report.ALL_INVALID: Scenario(
                report.ALL_INVALID, Kind.PIPELINE, 1.0, records, warmup, "dlq" if latency else None
            ),
            report.ORIGINAL: Scenario(
                report.ORIGINAL, Kind.ORIGINAL, share, args.original_records, ORIGINAL_WARMUP, None
            ),
        }
        chosen = [every[name] for name in SCENARIOS if name in wanted]
        return [s for s in chosen if s.kind is not Kind.FLOOR or s.latency_sink is not None]

    async def wait_for_quiet(self, key: str) -> list[float]:
        """Sample every core's load for a second until none is above --quiet-threshold (other
        work on this machine skews every figure) or --quiet-wait has passed; return the last
        sample."""
        args = self.args
        deadline = time.monotonic() + args.quiet_wait
        samples = 0
        while True:
            before = CoreTimes.read()
            await asyncio.sleep(1.0)
            busy = CoreTimes.read().utilisation_since(before)
            if max(busy) <= args.quiet_threshold or time.monotonic() >= deadline:
                return busy
            if samples % 5 == 0:
                self.say(
                    f"{key}: the machine is busy (cores {_percentages(busy)}); waiting up to "
                    f"{max(0.0, deadline - time.monotonic()):.0f} s for it to settle"
                )
            samples += 1

    def _subject(self, scenario: Scenario, names: Names) -> Subject:
        args = self.args
        log_path = self.workdir / f"{scenario.key}.log"
        if scenario.kind is Kind.PIPELINE:
            config_dir = self.workdir / scenario.key
            write_pipeline_config(config_dir, names, self.endpoints, self.bucket, self.batching)
            profile = self.workdir / f"{scenario.key}.prof" if args.profile else None
            if profile is not None:
                self.profiles[scenario.key] = str(profile)
            return pipeline_subject(
                config_dir=config_dir,
                endpoints=self.endpoints,
                names=names,
                log_path=log_path,
                core=args.subject_core,
                metrics_port=_free_port(),
                profile_path=profile,
                cwd=self.code,
            )
        if scenario.kind is Kind.PASSTHROUGH:
            return passthrough_subject(
                endpoints=self.endpoints,
                names=names,
                batching=self.batching,
                log_path=log_path,
                core=args.subject_core,
                cwd=self.code,
            )
        return original_subject(
            endpoints=self.endpoints,
            names=names,
            log_path=log_path,
            core=args.subject_core,
            cwd=self.code,
        )

    async def run_scenario(self, scenario: Scenario) -> dict[str, Any]:
        """Pre-load, start the process under test, measure, check, stop."""
        args = self.args
        key = scenario.key
        names = Names.fresh(self.run_id, key)
        bootstrap = self.endpoints.kafka_bootstrap
        topics = (names.source,) if scenario.kind is Kind.FLOOR else names.topics
        self.say(f"{key}: creating topics {', '.join(topics)} ({args.partitions} partitions)")
        await create_topics(bootstrap, topics, args.partitions)
        self.topics += topics
        result: dict[str, Any] = {
            "label": scenario.label,
            "kind": scenario.kind.value,
            "invalid_share": scenario.invalid_share,
            "topics": list(topics),
            "warnings": [],
        }
        if scenario.kind is Kind.FLOOR:
            result["background_core_busy"] = await self.wait_for_quiet(key)
            await self._measure_latency(scenario, names, None, names.source, 0, result)
            return result

        total = scenario.warmup + scenario.records
        self.say(
            f"{key}: pre-loading {total:,} records ({scenario.invalid_share:.0%} invalid, "
            f"{scenario.warmup:,} of them warm-up)"
        )
        loaded_at = time.perf_counter()
        valid, invalid = await preload(
            self.connection, names.source, self.pool, count=total, share=scenario.invalid_share
        )
        self.say(f"{key}: pre-loaded in {time.perf_counter() - loaded_at:.1f} s")
        result.update(records_preloaded=total, warmup_records=scenario.warmup)
        background = await self.wait_for_quiet(key)
        result["background_core_busy"] = background
        if max(background) > args.quiet_threshold:
            result["warnings"].append(
                f"the machine was busy before the start (cores {_percentages(background)})"
            )

        subject = self._subject(scenario, names)
        result["command"] = subject.command
        watcher = CommitWatcher(bootstrap, names.group, names.source)
        self.say(f"{key}: starting on core {subject.core}: {' '.join(subject.command)}")
        started_at = time.perf_counter()
        subject.start()
        port = subject.metrics_port
        scrapes: list[dict[str, float]] = []

        def scrape_metrics() -> None:
            if port is not None:
                scrapes.append(scrape(port))

        try:
            await watcher.start()
            throughput = await measure_throughput(
                subject,
                watcher,
                warmup=scenario.warmup,
                records=scenario.records,
                started_at=started_at,
                progress=lambda committed: self.say(f"{key}: committed {committed:,} / {total:,}"),
                on_open=scrape_metrics,
            )
            measured = result["throughput"] = as_dict(throughput)
            self.say(
                f"{key}: {throughput.records_per_second:,.0f} records/s over "
                f"{throughput.records:,} records in {throughput.seconds:.2f} s; "
                f"{throughput.cpu_us_per_record:.1f} µs CPU/record; process busy "
                f"{throughput.subject_core_share:.0%} of its core; cores busy "
                f"{_percentages(throughput.core_utilisation)}"
            )
            core_busy = throughput.core_utilisation[subject.core]
            if core_busy > 0.9 and throughput.subject_core_share < core_busy - 0.1:
                result["warnings"].append(
                    f"other processes used its core: {_percentages([core_busy])} busy, "
                    f"{_percentages([throughput.subject_core_share])} of it by the process "
                    "under test (records/s is low; µs CPU/record still holds)"
                )
            if scrapes and port is not None:
                measured["validator_batches"] = self._breakdown(key, scrapes[0], port, result)
            if scenario.kind is Kind.PASSTHROUGH:
                result["passthrough_settings"] = _first_json_line(subject.log_path)
            checks = await check_outputs(
                bootstrap,
                names,
                partitions=args.partitions,
                expected_valid=total if scenario.kind is Kind.PASSTHROUGH else valid,
                expected_invalid=0 if scenario.kind is Kind.PASSTHROUGH else invalid,
                postgres_dsn=self.endpoints.postgres_dsn
                if scenario.kind is Kind.PIPELINE
                else None,
                # pure-Python jsonschema skips `date-time` without the optional
                # rfc3339-validator package: the original lets those records through
                exact_split=scenario.kind is not Kind.ORIGINAL,
            )
            result["outputs"] = checks
            self.say(f"{key}: outputs {'OK' if checks['ok'] else 'MISMATCH'}: {checks}")
            if not checks["ok"]:
                result["warnings"].append(f"outputs do not match the input: {checks}")
            if scenario.latency_sink is not None:
                sink = names.valid if scenario.latency_sink == "valid" else names.dlq
                await self._measure_latency(
                    scenario, names, subject, sink, total, result, scrape_metrics
                )
                if len(scrapes) == 2 and port is not None:
                    result["latency"]["validator_batches"] = self._breakdown(
                        key, scrapes[1], port, result
                    )
            result["peak_rss_bytes"] = subject.peak_rss_bytes()
            self.say(f"{key}: peak RSS {result['peak_rss_bytes'] / 2**20:.0f} MB")
        finally:
            await watcher.stop()
            result["exit_status"] = subject.stop()
        if result["exit_status"] != 0:
            result["warnings"].append(f"exited with status {result['exit_status']}")
            self.say(f"{key}: exited with status {result['exit_status']}:\n{subject.log_tail()}")
        return result

    async def _measure_latency(
        self,
        scenario: Scenario,
        names: Names,
        subject: Subject | None,
        sink: str,
        first_index: int,
        result: dict[str, Any],
        on_measuring: Callable[[], None] | None = None,
    ) -> None:
        args = self.args
        key = scenario.key
        self.say(
            f"{key}: offering {args.latency_rate:,.0f} records/s for {args.latency_warmup:g} + "
            f"{args.latency_seconds:g} s, timing arrivals on {sink}"
        )
        latency = await measure_latency(
            subject,
            self.connection,
            names=names,
            sink=sink,
            partitions=args.partitions,
            pool=self.pool,
            share=scenario.invalid_share,
            rate=args.latency_rate,
            warmup_seconds=args.latency_warmup,
            seconds=args.latency_seconds,
            first_index=first_index,
            reaches_sink=scenario.reaches_sink,
            on_measuring=on_measuring,
        )
        measured = result["latency"] = as_dict(latency)
        measured["sink"] = scenario.latency_sink
        busy = (
            ""
            if subject is None
            else f"; process busy {_percentages([latency.subject_core_share])} of its core"
        )
        self.say(
            f"{key}: p50 {latency.p50_ms:.2f} ms, p99 {latency.p99_ms:.2f} ms, max "
            f"{latency.max_ms:.2f} ms over {latency.received:,}/{latency.expected:,} records; "
            f"offered {latency.achieved_per_second:,.0f}/s, at most "
            f"{latency.max_schedule_slip_ms:.1f} ms behind schedule{busy}"
        )
        if latency.received != latency.expected:
            result["warnings"].append(
                f"latency: {latency.expected - latency.received:,} of {latency.expected:,} "
                "records did not arrive in time"
            )
        if latency.max_schedule_slip_ms > SLIP_WARNING_MS:
            result["warnings"].append(
                f"latency: the paced producer fell up to {latency.max_schedule_slip_ms:.0f} ms "
                "behind its schedule (an overloaded harness core or a stalled broker)"
            )

    def _breakdown(
        self, key: str, before: dict[str, float], port: int, result: dict[str, Any]
    ) -> dict[str, Any]:
        breakdown = batch_breakdown(before, scrape(port))
        self.say(f"{key}: validator's own metrics: {breakdown}")
        if breakdown["write_failures"]:
            result["warnings"].append(
                f"the validator retried {breakdown['write_failures']} writes "
                "(S3, PostgreSQL or Kafka was unavailable)"
            )
        return breakdown

    async def cleanup(self) -> None:
        """Remove topics, rows, segments and the work directory (unless --keep)."""
        if self.args.keep:
            self.say(f"kept topics, rows, bucket {self.bucket} and {self.workdir}")
            return
        self.say("cleaning up topics, quarantine rows, S3 segments")
        if self.topics:
            await delete_topics(self.endpoints.kafka_bootstrap, self.topics)
        await delete_rows(self.endpoints, f"bench-{self.run_id}-")
        await delete_bucket(self.endpoints, self.bucket)
        if not self.args.profile:
            shutil.rmtree(self.workdir, ignore_errors=True)


def _first_json_line(path: Path) -> Any:
    """The JSON document on the first line of a log (None when there is none)."""
    try:
        with path.open(encoding="utf-8") as log:
            return json.loads(log.readline())
    except (OSError, ValueError):
        return None


def _percentages(values: Sequence[float]) -> str:
    return "/".join(f"{value:.0%}" for value in values)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def print_profile(
    path: str, records: int, say: Callable[[str], None], top: int = 30
) -> dict[str, Any]:
    """Print the top functions of a cProfile file by own and by cumulative time, and the
    garbage collector's pauses per record; return both for the JSON."""
    out = io.StringIO()
    stats = pstats.Stats(path, stream=out)
    stats.strip_dirs().sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(top)
    say(f"profile {path} (cProfile charges garbage collection to whatever function allocated)")
    print(out.getvalue(), flush=True)
    collected: dict[str, Any] = json.loads(Path(path).with_suffix(".gc.json").read_text())
    seconds = sum(collected["seconds"])
    collected["us_per_record"] = seconds / records * 1e6 if records else None
    say(
        f"garbage collection: {collected['collections']} collections (gen 0/1/2), "
        f"{seconds:.2f} s in all = {collected['us_per_record']:.1f} µs per record consumed "
        f"({records:,} records)"
    )
    return {"cprofile": out.getvalue(), "gc": collected}


async def run(args: argparse.Namespace) -> int:
    """One benchmark run; exit status 0 when every scenario ran, 1 otherwise."""
    # aiokafka logs each retried produce to a just-created topic (NotLeaderForPartition)
    logging.getLogger("aiokafka").setLevel(logging.ERROR)
    check_cores(args.harness_core, args.subject_core)
    os.sched_setaffinity(0, {args.harness_core})
    endpoints = stack_endpoints(os.environ)
    run_id = time.strftime("%Y%m%d-%H%M%S")
    harness = Harness(args, endpoints, run_id)
    scenarios = harness.scenarios()
    harness.say(
        f"run {run_id}: {', '.join(s.key for s in scenarios)}; harness on core "
        f"{args.harness_core}, process under test on core {args.subject_core}; "
        f"mean event {harness.pool.mean_size(args.invalid_share):.0f} bytes; "
        f"code under test: {harness.commit or 'the working tree'}; services: "
        f"{endpoints.origin}; work dir {harness.workdir}"
    )
    document: dict[str, Any] = {
        "run_id": run_id,
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "profiled": args.profile,
        "machine": machine(),
        "source": {
            **source_revision(),
            "benchmarked": f"commit {harness.commit}" if harness.commit else "working tree",
        },
        "versions": {
            **package_versions(),
            **endpoints.service_versions,
            "postgres": await postgres_version(endpoints.postgres_dsn),
        },
        "services": endpoints.origin,
        "settings": {
            "records": args.records,
            "warmup_records": args.warmup,
            "invalid_share": args.invalid_share,
            "original_records": args.original_records,
            "partitions": args.partitions,
            "batching": harness.batching.model_dump(by_alias=True),
            "latency_rate": args.latency_rate,
            "latency_seconds": args.latency_seconds,
            "latency_warmup_seconds": args.latency_warmup,
            "subject_core": args.subject_core,
            "harness_core": args.harness_core,
        },
        "workload": {
            "schema_properties": len(EVENT_SCHEMA["properties"]),
            "rule": RULE_EXPRESSION,
            "mean_event_bytes": round(harness.pool.mean_size(args.invalid_share), 1),
            "mean_invalid_event_bytes": round(harness.pool.mean_size(1.0), 1),
            "distinct_valid_events": len(harness.pool.valid),
            "distinct_invalid_events": len(harness.pool.invalid),
        },
        "scenarios": {},
    }
    failed = False
    try:
        for scenario in scenarios:
            try:
                result = await harness.run_scenario(scenario)
            except Exception as exc:  # a failed scenario must not lose the others' results
                failed = True
                error = str(exc) if isinstance(exc, BenchError) else f"{type(exc).__name__}: {exc}"
                harness.say(f"{scenario.key}: FAILED: {error}")
                result = {"label": scenario.label, "kind": scenario.kind.value, "error": error}
            document["scenarios"][scenario.key] = result
    finally:
        try:
            await harness.cleanup()
        except Exception as exc:
            harness.say(f"cleanup failed (results are unaffected): {exc}")
    scenarios_done: dict[str, Any] = document["scenarios"]
    report.ratios(scenarios_done)
    targets = report.evaluate_targets(scenarios_done, args.invalid_share)
    document["targets"] = [target.as_dict() for target in targets]
    document["duration_seconds"] = round(time.perf_counter() - harness.started, 1)
    if args.profile:
        document["profiles"] = {
            key: print_profile(
                path,
                scenarios_done.get(key, {}).get("records_preloaded", 0),
                harness.say,
            )
            for key, path in harness.profiles.items()
        }
    print()
    print(report.table(scenarios_done))
    print()
    notes = report.warnings(scenarios_done)
    if notes:
        print()
        print(notes)
    print()
    print(report.targets_table(targets))
    print()
    stamped = args.out.parent / f"{'profile-' if args.profile else ''}{run_id}.json"
    paths = [stamped] if args.profile else [stamped, args.out]
    report.write_json(document, *paths)
    harness.say(f"wrote {', '.join(str(p) for p in paths)}")
    return 1 if failed else 0


def main(argv: Sequence[str] | None = None) -> int:
    """Parse arguments and run; 2 when the benchmark cannot start."""
    args = build_parser().parse_args(argv)
    try:
        return asyncio.run(run(args))
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
