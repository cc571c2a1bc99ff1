"""The validator's Prometheus metrics, registered in an injected `CollectorRegistry`.

Labels stay low-cardinality: pipeline, topic, partition, result, reason, target — never a record
key or id. `dataquarantine_oldest_quarantined_age_seconds` is computed from PostgreSQL and is
exported by the API process, which queries the database anyway; the validator never reads it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Final

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

PREFIX: Final = "dataquarantine"

RESULT_VALID: Final = "valid"
RESULT_INVALID: Final = "invalid"
RESULT_REMEDIATED: Final = "remediated"
RESULT_UNDECODABLE: Final = "undecodable"

_BATCH_BUCKETS: Final = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class ValidatorMetrics:
    """Every metric of one validator process, for one pipeline."""

    def __init__(self, registry: CollectorRegistry, pipeline: str) -> None:
        """Register the metrics in `registry` (once per registry)."""
        self._pipeline = pipeline
        self.records = Counter(
            f"{PREFIX}_records",
            "Records read from the source topics, by outcome.",
            ["pipeline", "topic", "result"],
            registry=registry,
        )
        self.quarantined = Counter(
            f"{PREFIX}_quarantined",
            "Records written to the quarantine (S3, PostgreSQL, dead-letter topic), by reason.",
            ["pipeline", "reason"],
            registry=registry,
        )
        self.batch_duration = Histogram(
            f"{PREFIX}_batch_duration_seconds",
            "Time from fetching a batch to every output of it acknowledged (its offsets then go "
            "to the background committer).",
            ["pipeline"],
            buckets=_BATCH_BUCKETS,
            registry=registry,
        )
        self.validation_duration = Histogram(
            f"{PREFIX}_validation_duration_seconds",
            "Time to decode, validate and route one batch (CPU only, no I/O).",
            ["pipeline"],
            buckets=_BATCH_BUCKETS,
            registry=registry,
        )
        self.consumer_lag = Gauge(
            f"{PREFIX}_consumer_lag",
            "Records between the committed position and the end of a source partition.",
            ["pipeline", "topic", "partition"],
            registry=registry,
        )
        self.write_failures = Counter(
            f"{PREFIX}_quarantine_write_failures",
            "Failed attempts to write outputs (each is retried), by target: s3, postgres, kafka.",
            ["target"],
            registry=registry,
        )
        self.last_invalid = Gauge(
            f"{PREFIX}_last_invalid_timestamp_seconds",
            "Unix time at which the last invalid or undecodable record was seen.",
            ["pipeline"],
            registry=registry,
        )
        self.breaker_open = Gauge(
            f"{PREFIX}_breaker_open",
            "1 while the invalid-ratio breaker holds consumption paused (or alerts), else 0.",
            ["pipeline"],
            registry=registry,
        )
        self.shadow_disagreements = Counter(
            f"{PREFIX}_shadow_disagreements",
            "Shadow mode: records whose candidate-schema verdict differs from the live one.",
            ["pipeline"],
            registry=registry,
        )
        self.breaker_open.labels(pipeline).set(0)
        for target in ("s3", "postgres", "kafka"):
            self.write_failures.labels(target)

    def count_records(self, counts: Mapping[tuple[str, str], int]) -> None:
        """Add per-(topic, result) counts of one batch."""
        for (topic, result), count in counts.items():
            if count:
                self.records.labels(self._pipeline, topic, result).inc(count)

    def count_quarantined(self, counts: Mapping[str, int]) -> None:
        """Add per-reason (error type) counts of one batch."""
        for reason, count in counts.items():
            if count:
                self.quarantined.labels(self._pipeline, reason).inc(count)

    def observe_batch(self, seconds: float) -> None:
        """One batch took `seconds` from fetch to its outputs acknowledged."""
        self.batch_duration.labels(self._pipeline).observe(seconds)

    def observe_validation(self, seconds: float) -> None:
        """Evaluating one batch took `seconds`."""
        self.validation_duration.labels(self._pipeline).observe(seconds)

    def set_lag(self, topic: str, partition: int, lag: int) -> None:
        """The lag of one source partition."""
        self.consumer_lag.labels(self._pipeline, topic, str(partition)).set(lag)

    def forget_partitions(self, partitions: Iterable[tuple[str, int]]) -> None:
        """Drop the lag series of partitions this process no longer owns."""
        for topic, partition in partitions:
            try:
                self.consumer_lag.remove(self._pipeline, topic, str(partition))
            except KeyError:
                continue

    def write_failed(self, target: str) -> None:
        """One attempt to write to `target` failed."""
        self.write_failures.labels(target).inc()

    def saw_invalid(self, unix_time: float) -> None:
        """An invalid record was seen at `unix_time`."""
        self.last_invalid.labels(self._pipeline).set(unix_time)

    def set_breaker_open(self, is_open: bool) -> None:
        """Whether the breaker is open."""
        self.breaker_open.labels(self._pipeline).set(1 if is_open else 0)

    def count_shadow_disagreements(self, count: int) -> None:
        """Add the shadow disagreements of one batch."""
        if count:
            self.shadow_disagreements.labels(self._pipeline).inc(count)
