"""A fetched batch to a plan: what to forward, what to quarantine, and which offsets to commit;
held records to a quarantine layout: S3 segments, PostgreSQL rows and dead letters.

Pure: the plan is a function of the records and the configuration, the layout a function of the
held records. Executing them (S3, Postgres, Kafka, the commit) is `running`'s job; planning the
same records again yields the same plan, which is what makes a retried batch idempotent. The
records a plan holds are laid out separately because the loop lays out those of several
batches together (`quarantine_writing`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

from validator_pod.adapters.kafka import OutgoingRecord, TopicPartition
from validator_pod.adapters.metadata_db import QuarantineRow
from validator_pod.domain.pipeline_config import PipelineConfig, SchemaRef
from validator_pod.domain.records import ErrorType, Invalid, RecordStatus, Valid
from validator_pod.metrics import (
    RESULT_INVALID,
    RESULT_REMEDIATED,
    RESULT_UNDECODABLE,
    RESULT_VALID,
)
from validator_pod.pipeline.quarantining import (
    DeadLetterHeaders,
    Segment,
    build_segment,
    errors_json,
    headers_json,
    quarantine_record_id,
    remediated_headers,
    segment_key,
)
from validator_pod.validation.evaluating import (
    Forward,
    Outcome,
    Quarantine,
    RecordEvaluator,
    Remediated,
)


class SourceRecord(Protocol):
    """The fields of a consumed record that planning reads (aiokafka's ConsumerRecord)."""

    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...
    @property
    def timestamp(self) -> int: ...
    @property
    def key(self) -> bytes | None: ...
    @property
    def value(self) -> bytes | None: ...
    @property
    def headers(self) -> Sequence[tuple[str, bytes]]: ...


@dataclass(frozen=True, slots=True)
class Held:
    """A record to keep in the quarantine store, and why."""

    record: SourceRecord
    verdict: Invalid
    schema_ref: SchemaRef | None
    status: RecordStatus


@dataclass(slots=True)
class BatchPlan:
    """Everything one batch produces. Records are grouped by source topic so that each group
    can keep its partitions when the sink has as many as the source."""

    valid: dict[str, list[OutgoingRecord]] = field(default_factory=dict)
    held: dict[TopicPartition, list[Held]] = field(default_factory=dict)
    """Records to keep in the quarantine store, per partition in offset order."""
    next_offsets: dict[TopicPartition, int] = field(default_factory=dict)
    results: Counter[tuple[str, str]] = field(default_factory=Counter)
    """Records by (source topic, result): valid, invalid, remediated, undecodable."""
    quarantined: Counter[str] = field(default_factory=Counter)
    """Dead-lettered records by reason (error type)."""
    records: int = 0
    invalid: int = 0
    """Records found invalid or undecodable and not remediated (the breaker's numerator)."""
    shadow_disagreements: int = 0


@dataclass(slots=True)
class QuarantineLayout:
    """What storing held records takes: S3 segments, then PostgreSQL rows and dead letters
    (grouped by source topic) that point into them."""

    segments: list[Segment] = field(default_factory=list)
    rows: list[QuarantineRow] = field(default_factory=list)
    dead_letters: dict[str, list[OutgoingRecord]] = field(default_factory=dict)


class BatchPlanner:
    """Evaluates every record of a batch and lays out the batch's outputs."""

    def __init__(
        self, config: PipelineConfig, evaluator: RecordEvaluator, *, task_id: str, bucket: str
    ) -> None:
        """`task_id` is this process's name (the Connect `task.id` header); segments are
        written to `bucket`."""
        self._pipeline = config.name
        self._namespace = config.namespace
        self._evaluate = evaluator.evaluate
        self._bucket = bucket
        self._dead_letter_headers = DeadLetterHeaders(pipeline=config.name, task_id=task_id)

    def plan(self, batch: Mapping[TopicPartition, Sequence[SourceRecord]]) -> BatchPlan:
        """The plan for records fetched from several partitions, each list in offset order."""
        plan = BatchPlan()
        for tp, records in batch.items():
            self.add_partition(plan, tp, records, self.evaluate(records))
        return plan

    def evaluate(self, records: Sequence[SourceRecord]) -> list[Outcome]:
        """Where each record goes (the CPU-heavy part; callers may do it in slices)."""
        evaluate = self._evaluate
        return [evaluate(record.value, record.headers) for record in records]

    def add_partition(
        self,
        plan: BatchPlan,
        tp: TopicPartition,
        records: Sequence[SourceRecord],
        outcomes: Sequence[Outcome],
    ) -> None:
        """Lay out one partition's records, given their outcomes (same order), into `plan`."""
        if not records:
            return
        topic, partition = tp
        forward = plan.valid.setdefault(topic, []).append
        held: list[Held] = []
        remedies: list[tuple[SourceRecord, Remediated]] = []
        valid = invalid = undecodable = disagreements = 0
        for record, outcome in zip(records, outcomes, strict=True):
            shadow = outcome.shadow
            if shadow is not None and shadow.disagrees:
                disagreements += 1
            if isinstance(outcome, Forward):
                verdict = outcome.verdict
                if isinstance(verdict, Valid):
                    valid += 1
                elif verdict.error_type is ErrorType.DESERIALIZATION_ERROR:
                    undecodable += 1
                else:
                    invalid += 1
                forward(
                    OutgoingRecord(
                        record.key, record.value, record.headers, record.timestamp, None, partition
                    )
                )
            elif isinstance(outcome, Quarantine):
                if outcome.verdict.error_type is ErrorType.DESERIALIZATION_ERROR:
                    undecodable += 1
                else:
                    invalid += 1
                held.append(
                    Held(record, outcome.verdict, outcome.schema_ref, RecordStatus.QUARANTINED)
                )
                plan.quarantined[outcome.verdict.error_type.value] += 1
            else:
                remedies.append((record, outcome))
                held.append(
                    Held(record, outcome.verdict, outcome.schema_ref, RecordStatus.REMEDIATED)
                )
                # the fixed record keeps its place among the valid ones
                forward(
                    OutgoingRecord(
                        record.key,
                        outcome.value,
                        remediated_headers(
                            record.headers,
                            fixes=outcome.fixes,
                            record_id=quarantine_record_id(
                                self._namespace, self._pipeline, topic, partition, record.offset
                            ),
                        ),
                        record.timestamp,
                        None,
                        partition,
                    )
                )
        plan.next_offsets[tp] = records[-1].offset + 1
        plan.records += len(records)
        plan.invalid += invalid + undecodable
        plan.shadow_disagreements += disagreements
        results = plan.results
        results[topic, RESULT_VALID] += valid
        results[topic, RESULT_INVALID] += invalid
        results[topic, RESULT_UNDECODABLE] += undecodable
        results[topic, RESULT_REMEDIATED] += len(remedies)
        if held:
            plan.held[tp] = held

    def lay_out(self, held: Mapping[TopicPartition, Sequence[Held]]) -> QuarantineLayout:
        """Segments, rows and dead letters for held records: one segment per partition."""
        layout = QuarantineLayout()
        for (topic, partition), entries in held.items():
            if entries:
                self._lay_out_partition(layout, topic, partition, entries)
        return layout

    def _lay_out_partition(
        self, layout: QuarantineLayout, topic: str, partition: int, held: Sequence[Held]
    ) -> None:
        key = segment_key(
            self._namespace,
            self._pipeline,
            topic,
            partition,
            held[0].record.offset,
            held[-1].record.offset,
        )
        segment = build_segment(key, [entry.record.value for entry in held])
        layout.segments.append(segment)
        uri = f"s3://{self._bucket}/{key}"
        dead_letters = layout.dead_letters.setdefault(topic, [])
        for entry, (byte_offset, byte_length) in zip(held, segment.slices, strict=True):
            record, verdict, schema_ref = entry.record, entry.verdict, entry.schema_ref
            record_id = quarantine_record_id(
                self._namespace, self._pipeline, topic, partition, record.offset
            )
            encoded_errors = errors_json(verdict.errors)
            message = verdict.message
            layout.rows.append(
                QuarantineRow(
                    id=record_id,
                    pipeline=self._pipeline,
                    namespace=self._namespace,
                    source_topic=topic,
                    kafka_partition=partition,
                    kafka_offset=record.offset,
                    kafka_timestamp=_timestamp(record.timestamp),
                    record_key=record.key,
                    schema_name=None if schema_ref is None else schema_ref.name,
                    schema_version=None if schema_ref is None else schema_ref.version,
                    error_type=verdict.error_type.value,
                    error_message=message,
                    errors_json=encoded_errors.decode(),
                    storage_uri=uri,
                    byte_offset=byte_offset,
                    byte_length=byte_length,
                    status=entry.status.value,
                    record_headers_json=headers_json(record.headers),
                )
            )
            if entry.status is not RecordStatus.QUARANTINED:
                continue
            dead_letters.append(
                OutgoingRecord(
                    record.key,
                    record.value,
                    self._dead_letter_headers.for_record(
                        record.headers,
                        topic=topic,
                        partition=partition,
                        offset=record.offset,
                        record_id=record_id,
                        verdict=verdict,
                        schema_ref=schema_ref,
                        object_uri=uri,
                        message=message,
                        encoded_errors=encoded_errors,
                    ),
                    record.timestamp,
                    None,
                    partition,
                )
            )


def _timestamp(milliseconds: int) -> datetime | None:
    """A Kafka timestamp (ms since the epoch; -1 when absent) as an aware datetime."""
    if milliseconds < 0:
        return None
    return datetime.fromtimestamp(milliseconds / 1000, UTC)
