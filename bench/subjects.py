"""The processes under test: the real validator, the passthrough baseline, the original design.

Each runs as its own child process pinned to one core with `taskset`, writes its output to a log
file, and stops on SIGTERM. The harness reads its CPU time and peak memory from /proc.
"""

from __future__ import annotations

import enum
import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

from bench.environment import REPO, BenchError, Endpoints
from bench.procstat import cpu_seconds, memory_kib
from bench.workload import (
    EVENT_SCHEMA,
    RULE_EXPRESSION,
    RULE_MESSAGE,
    RULE_NAME,
    SCHEMA_NAME,
    SCHEMA_VERSION,
)
from validator_pod.domain.pipeline_config import (
    Batching,
    KafkaBinding,
    ObjectStorage,
    PipelineConfig,
    SchemaRef,
    SchemaSelection,
    Topics,
    schema_file_name,
)
from validator_pod.domain.schemas import Rule, SchemaType, SchemaVersion


class Kind(enum.StrEnum):
    """What runs in the process under test."""

    PIPELINE = "pipeline"
    PASSTHROUGH = "passthrough"
    ORIGINAL = "original"
    FLOOR = "floor"
    """No process: the paced producer's topic is read back directly (what the harness, the
    broker and the machine add to every latency figure)."""


@dataclass(frozen=True, slots=True)
class Names:
    """One scenario's fresh Kafka topics, consumer group and pipeline name."""

    pipeline: str
    source: str
    valid: str
    dlq: str
    group: str

    @classmethod
    def fresh(cls, run_id: str, scenario: str) -> Names:
        """Names unique to this run and scenario."""
        base = f"bench-{run_id}-{scenario}"
        return cls(base, f"{base}.raw", f"{base}.valid", f"{base}.dlq", f"dq-{base}")

    @property
    def topics(self) -> tuple[str, str, str]:
        """Source, valid and dead-letter topics."""
        return (self.source, self.valid, self.dlq)


def write_pipeline_config(
    config_dir: Path, names: Names, endpoints: Endpoints, bucket: str, batching: Batching
) -> PipelineConfig:
    """pipeline.yaml and the event schema (with its rule), as the operator renders them."""
    ref = SchemaRef(name=SCHEMA_NAME, version=SCHEMA_VERSION)
    config = PipelineConfig(
        name=names.pipeline,
        namespace="bench",
        kafka=KafkaBinding(bootstrap_servers=endpoints.kafka_bootstrap, consumer_group=names.group),
        topics=Topics(sources=(names.source,), valid=names.valid, quarantine=names.dlq),
        schema_selection=SchemaSelection(default=ref),
        storage=ObjectStorage(endpoint=endpoints.s3_endpoint, bucket=bucket),
        batching=batching,
    )
    config_dir.mkdir(parents=True, exist_ok=True)
    (config_dir / "pipeline.yaml").write_text(
        yaml.safe_dump(config.model_dump(mode="json", by_alias=True))
    )
    schema = SchemaVersion(
        name=SCHEMA_NAME,
        version=SCHEMA_VERSION,
        type=SchemaType.JSON_SCHEMA,
        schema_=EVENT_SCHEMA,
        rules=(Rule(name=RULE_NAME, expression=RULE_EXPRESSION, message=RULE_MESSAGE),),
    )
    path = config_dir / schema_file_name(ref)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(schema.model_dump_json(by_alias=True))
    return config


class Subject:
    """A process under test, started pinned to `core`."""

    def __init__(
        self,
        label: str,
        argv: list[str],
        env: dict[str, str],
        log_path: Path,
        core: int,
        metrics_port: int | None = None,
        cwd: Path = REPO,
    ) -> None:
        """Nothing starts before `start`; `metrics_port` serves /metrics (the validator); the
        code runs from `cwd` (`python -m` puts it first on the import path)."""
        self.label = label
        self.metrics_port = metrics_port
        self.cwd = cwd
        self.argv = argv
        self.env = env
        self.log_path = log_path
        self.core = core
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def command(self) -> list[str]:
        """The full command line, taskset included."""
        return ["taskset", "-c", str(self.core), *self.argv]

    def start(self) -> None:
        """Start the process; its stdout and stderr go to the log file."""
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                self.command, cwd=self.cwd, env=self.env, stdout=log, stderr=subprocess.STDOUT
            )

    @property
    def pid(self) -> int:
        """The process id (taskset execs the command, so it is the command's)."""
        if self._process is None:
            raise BenchError(f"{self.label} was not started")
        return self._process.pid

    def check_alive(self) -> None:
        """Raise `BenchError` with the log's tail when the process has exited."""
        if self._process is not None and self._process.poll() is not None:
            raise BenchError(
                f"{self.label} exited with status {self._process.returncode}:\n{self.log_tail()}"
            )

    def cpu_seconds(self) -> float:
        """User + system CPU time so far."""
        return cpu_seconds(self.pid)

    def peak_rss_bytes(self) -> int:
        """Peak resident set size so far (VmHWM)."""
        return memory_kib(self.pid, "VmHWM") * 1024

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM, wait; SIGKILL after `timeout`. Return the exit status."""
        process = self._process
        if process is None:
            return 0
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        return process.returncode

    def log_tail(self, lines: int = 15) -> str:
        """The last lines of the log."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


def _python_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DQ_")}
    env["PYTHONUNBUFFERED"] = "1"
    return env


def pipeline_subject(
    *,
    config_dir: Path,
    endpoints: Endpoints,
    names: Names,
    log_path: Path,
    core: int,
    metrics_port: int,
    profile_path: Path | None = None,
    cwd: Path = REPO,
) -> Subject:
    """`python -m validator_pod run --config-dir DIR`, optionally under cProfile with the
    garbage collector's pauses timed (`bench.profiling`; GC times go to PROFILE.gc.json)."""
    env = _python_env()
    env.update(
        DQ_CONFIG_DIR=str(config_dir),
        DQ_POSTGRES_DSN=endpoints.postgres_dsn,
        DQ_S3_ACCESS_KEY=endpoints.s3_access_key,
        DQ_S3_SECRET_KEY=endpoints.s3_secret_key,
        DQ_POD_NAME=f"{names.pipeline}-0",
        DQ_METRICS_PORT=str(metrics_port),
        DQ_LOG_LEVEL="INFO",
    )
    command = ["validator_pod", "run", "--config-dir", str(config_dir)]
    if profile_path is None:
        argv = [sys.executable, "-m", *command]
    else:
        gc_path = profile_path.with_suffix(".gc.json")
        argv = [sys.executable, "-m", "bench.profiling", str(profile_path), str(gc_path), *command]
    return Subject("validator", argv, env, log_path, core, metrics_port, cwd)


def passthrough_subject(
    *,
    endpoints: Endpoints,
    names: Names,
    batching: Batching,
    log_path: Path,
    core: int,
    cwd: Path = REPO,
) -> Subject:
    """`python -m bench.passthrough` from the source to the valid topic."""
    argv = [
        sys.executable,
        "-m",
        "bench.passthrough",
        "--bootstrap",
        endpoints.kafka_bootstrap,
        "--source",
        names.source,
        "--sink",
        names.valid,
        "--group",
        names.group,
        "--max-records",
        str(batching.max_records),
        "--max-wait-ms",
        str(batching.max_wait_ms),
    ]
    return Subject("passthrough", argv, _python_env(), log_path, core, cwd=cwd)


def original_subject(
    *, endpoints: Endpoints, names: Names, log_path: Path, core: int, cwd: Path = REPO
) -> Subject:
    """`python -m bench.original`: per-record validate, send_and_wait and commit."""
    argv = [
        sys.executable,
        "-m",
        "bench.original",
        "--bootstrap",
        endpoints.kafka_bootstrap,
        "--source",
        names.source,
        "--valid",
        names.valid,
        "--dlq",
        names.dlq,
        "--group",
        names.group,
    ]
    return Subject("original", argv, _python_env(), log_path, core, cwd=cwd)
