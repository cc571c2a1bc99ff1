"""Replaying quarantined records to the valid topic, each at most once (exactly once when it
passes and Kafka and PostgreSQL come back).

The order, for one record or a chunk of a bulk replay:

1. note the valid topic's end offsets (a lower bound of where the records will land);
2. claim the records in PostgreSQL (`replay_attempt`, committed): only replayable, unclaimed
   records are claimed, so of two racing replays, or a replay and a discard, exactly one wins;
3. produce the original key, value, headers and timestamp, plus `dataquarantine.replayed-from:
   <record id>`, with the idempotent producer (acks=all; broker-side retries never duplicate);
4. in one transaction: status `replayed`, replay_count + 1, claim cleared, one event per record
   (and a bulk replay's counts and cursor).

A crash or failure between 2 and 4 leaves the claim: the record is neither replayable again nor
lost. Once the claim is older than the lease (longer than any produce can still be in flight),
`settle_abandoned` scans the valid topic from the noted offsets for the record's
`replayed-from` header: found means step 3 happened (finish step 4), not found means it did not
(release the claim; the record can be replayed again). Either way the record reaches the valid
topic at most once, and exactly once after a successful replay.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final, cast
from uuid import UUID

from miniopy_async.error import S3Error

from validator_pod.adapters.errors import KafkaClientError, MetadataDbError, ObjectStoreError
from validator_pod.adapters.kafka import KafkaConnection, OutgoingRecord, RecordProducer
from validator_pod.adapters.quarantine_queries import (
    ClaimedRecord,
    Keyset,
    NewEvent,
    QuarantineQueries,
    ReplayClaim,
    StoredRecord,
)
from validator_pod.adapters.segment_store import SegmentStore
from validator_pod.adapters.topic_scanning import TopicScanner
from validator_pod.domain import headers as names
from validator_pod.domain.pipeline_config import PipelineConfig, SchemaRef
from validator_pod.domain.records import Invalid
from validator_pod.pipeline.backoff import Backoff
from validator_pod.validation.evaluating import Forward, Quarantine
from validator_pod.web.catalog import SchemaCatalog
from validator_pod.web.metrics import ApiMetrics
from validator_pod.web.settings import ApiSettings

logger = logging.getLogger(__name__)

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MISSING_OBJECT_CODES: Final = frozenset({"NoSuchKey", "NoSuchBucket", "InvalidRange"})
ACTION_REPROCESS: Final = "reprocess"
ACTION_REPLAY: Final = "replay"

ProgressAfter = Callable[[int], tuple[dict[str, Any], Keyset | None]]
"""A bulk replay's counts and cursor once a chunk's `n` claimed records are replayed."""


class KafkaClients:
    """The API's producer and topic scanner, started on first use: the API serves reads while
    Kafka is down, and a failed start is retried by the next call."""

    def __init__(self, connection: KafkaConnection, *, client_id: str) -> None:
        """Connect to the brokers of `connection` when first needed."""
        self._connection = connection
        self._client_id = client_id
        self._lock = asyncio.Lock()
        self._producer: RecordProducer | None = None
        self._scanner: TopicScanner | None = None

    async def producer(self) -> RecordProducer:
        """The idempotent producer (acks=all)."""
        async with self._lock:
            if self._producer is None:
                self._producer = await RecordProducer.start(
                    self._connection, client_id=f"{self._client_id}-replay"
                )
            return self._producer

    async def scanner(self) -> TopicScanner:
        """The group-less scanner of the valid topic."""
        async with self._lock:
            if self._scanner is None:
                self._scanner = await TopicScanner.start(
                    self._connection, client_id=f"{self._client_id}-scan"
                )
            return self._scanner

    async def close(self) -> None:
        """Stop whatever was started."""
        async with self._lock:
            if self._producer is not None:
                await self._producer.stop()
                self._producer = None
            if self._scanner is not None:
                await self._scanner.stop()
                self._scanner = None


@dataclass(frozen=True, slots=True)
class Judgement:
    """The verdict on a record's original bytes: `verdict` None means it passes."""

    schema_ref: SchemaRef | None
    verdict: Invalid | None

    @property
    def passes(self) -> bool:
        """True when the record is valid now."""
        return self.verdict is None


@dataclass(frozen=True, slots=True)
class Produced:
    """What a produce step did: `replayed` records are on the valid topic and marked; `skipped`
    ones were claimed or settled by someone else first."""

    replayed: list[UUID]
    skipped: list[UUID]


@dataclass(frozen=True, slots=True)
class Settled:
    """Abandoned claims settled: records found on the valid topic (now marked replayed), and
    records not found (released)."""

    replayed: list[UUID]
    released: list[UUID]


def replayed_headers(stored: StoredRecord) -> list[tuple[str, bytes | None]]:
    """The original headers (without a previous `replayed-from`) plus `replayed-from`."""
    original = [h for h in stored.headers or () if h[0] != names.DQ_REPLAYED_FROM]
    return [*original, (names.DQ_REPLAYED_FROM, str(stored.record.id).encode())]


def timestamp_ms(moment: datetime | None) -> int | None:
    """A Kafka timestamp (ms since the epoch) from the row's `kafka_timestamp`."""
    if moment is None:
        return None
    return (moment - _EPOCH) // timedelta(milliseconds=1)


class Replayer:
    """Judges, produces and records replays of one pipeline's quarantined records."""

    def __init__(
        self,
        *,
        config: PipelineConfig,
        queries: QuarantineQueries,
        store: SegmentStore,
        kafka: KafkaClients,
        catalog: SchemaCatalog,
        metrics: ApiMetrics,
        settings: ApiSettings,
    ) -> None:
        """Replay to `config.topics.valid`; everything else is injected."""
        self._topic = config.topics.valid
        self._queries = queries
        self._store = store
        self._kafka = kafka
        self._catalog = catalog
        self._metrics = metrics
        self._settings = settings

    @property
    def valid_topic(self) -> str:
        """Where replayed records go."""
        return self._topic

    async def read_payload(self, stored: StoredRecord) -> bytes | None:
        """The record's original value bytes (a ranged GET of its segment); None when the
        segment or range is gone (retention, a deleted bucket). Raise `ObjectStoreError` when S3
        cannot answer."""
        record = stored.record
        try:
            return await self._store.get_range(
                record.storage_uri, record.byte_offset, record.byte_length
            )
        except ObjectStoreError as exc:
            cause = exc.__cause__
            if isinstance(cause, S3Error) and cause.code in _MISSING_OBJECT_CODES:
                return None
            raise

    def judge(
        self, stored: StoredRecord, value: bytes, schema_version: int | None
    ) -> Judgement | None:
        """Validate the original bytes against the pipeline's current selection, or against
        `schema_version` of the record's schema (the pipeline's default schema when the record
        has none); None when that version does not exist."""
        ref = None
        if schema_version is not None:
            name = stored.record.schema_name or self._catalog.config().schema_selection.default.name
            ref = SchemaRef(name=name, version=schema_version)
        evaluator = self._catalog.evaluator(ref)
        if evaluator is None:
            return None
        outcome = evaluator.evaluate(value, stored.headers or ())
        if isinstance(outcome, Quarantine):
            return Judgement(outcome.schema_ref, outcome.verdict)
        # enforce mode without remediation: anything not quarantined is forwarded as valid
        assert isinstance(outcome, Forward)
        return Judgement(outcome.schema_ref, None)

    async def produce(
        self,
        items: Sequence[tuple[StoredRecord, bytes]],
        *,
        actor: str,
        action: str,
        replay_id: UUID | None = None,
        more_events: Sequence[NewEvent] = (),
        progress: ProgressAfter | None = None,
    ) -> Produced:
        """Claim, produce and mark `items` (record, original value); see the module docstring.
        `more_events` (e.g. still-invalid records of the chunk) and a bulk replay's `progress`
        (a callable from the number replayed to (counts, cursor)) are saved with the marks.
        Raise `KafkaClientError` when the produce failed or timed out: the claims stay, and
        `settle_abandoned` decides after the lease."""
        by_id = {stored.record.id: (stored, value) for stored, value in items}
        attempt = uuid.uuid4()
        claimed: list[UUID] = []
        if by_id:
            offsets = await self.end_offsets()
            claim = ReplayClaim(attempt, self._topic, offsets, actor, replay_id)
            claimed = await self._queries.claim(list(by_id), claim)
        if claimed:
            await self._send([by_id[record_id] for record_id in claimed])
        marked = await self._finish(
            attempt,
            claimed,
            actor=actor,
            action=action,
            replay_id=replay_id,
            more_events=more_events,
            progress=None if progress is None else progress(len(claimed)),
        )
        self._metrics.count_replayed(len(marked))
        done = set(marked)
        return Produced(replayed=marked, skipped=[i for i in by_id if i not in done])

    async def end_offsets(self) -> dict[int, int]:
        """The valid topic's end offsets, every partition."""
        producer = await self._kafka.producer()
        count = await producer.partition_count(self._topic)
        scanner = await self._kafka.scanner()
        return await scanner.end_offsets(self._topic, range(count))

    async def _send(self, items: Sequence[tuple[StoredRecord, bytes]]) -> None:
        producer = await self._kafka.producer()
        by_source: dict[str, list[OutgoingRecord]] = defaultdict(list)
        for stored, value in items:
            record = stored.record
            by_source[record.source_topic].append(
                OutgoingRecord(
                    record.record_key,
                    value,
                    # aiokafka writes null header values as Kafka does
                    cast(list[tuple[str, bytes]], replayed_headers(stored)),
                    timestamp_ms(record.kafka_timestamp),
                    None,
                    record.kafka_partition,
                )
            )
        try:
            async with asyncio.timeout(self._settings.produce_timeout.total_seconds()):
                for source, records in by_source.items():
                    keep = await self._keeps_partitions(producer, source)
                    await producer.send_and_wait(self._topic, records, keep_partitions=keep)
        except TimeoutError as exc:
            raise KafkaClientError(
                f"produce to {self._topic}: no acknowledgement within "
                f"{self._settings.produce_timeout.total_seconds():g}s"
            ) from exc

    async def _keeps_partitions(self, producer: RecordProducer, source: str) -> bool:
        # As the validator: keep the source partition when the valid topic has as many.
        try:
            source_count = await producer.partition_count(source)
        except KafkaClientError:
            return False
        return source_count == await producer.partition_count(self._topic)

    async def _finish(
        self,
        attempt: UUID,
        record_ids: Sequence[UUID],
        *,
        actor: str,
        action: str,
        replay_id: UUID | None,
        more_events: Sequence[NewEvent],
        progress: tuple[dict[str, Any], Keyset | None] | None,
    ) -> list[UUID]:
        # The records are on the topic: keep trying to record it for as long as a live owner
        # may (the lease); after that the claims are settled by scanning instead.
        deadline = time.monotonic() + self._settings.replay_lease.total_seconds() / 2
        backoff = Backoff(initial=0.1, maximum=2.0)
        while True:
            try:
                return await self._queries.finish_replayed(
                    attempt,
                    record_ids,
                    actor=actor,
                    action=action,
                    replay_id=replay_id,
                    result={"outcome": "replayed", "topic": self._topic},
                    more_events=more_events,
                    replay_progress=progress,
                )
            except MetadataDbError as exc:
                delay = backoff.next_delay()
                if time.monotonic() + delay > deadline:
                    raise
                logger.warning(
                    "recording a replay failed, retrying: %s",
                    exc,
                    extra={"attempt": str(attempt), "records": len(record_ids)},
                )
                await asyncio.sleep(delay)

    async def settle_abandoned(self, *, replay_id: UUID | None = None) -> Settled:
        """Settle claims older than the lease (of one bulk replay, or all): mark replayed the
        records found on the valid topic, release the others. Raise `KafkaClientError` when the
        topic cannot be scanned (the claims stay for the next try)."""
        now = await self._queries.database_now()
        stale = await self._queries.stale_claims(
            claimed_before=now - self._settings.replay_lease, replay_id=replay_id
        )
        by_attempt: dict[UUID, list[ClaimedRecord]] = defaultdict(list)
        for claimed in stale:
            by_attempt[claimed.claim.attempt].append(claimed)
        replayed: list[UUID] = []
        released: list[UUID] = []
        for attempt, group in by_attempt.items():
            found, missing = await self._scan(group)
            claim = group[0].claim
            action = ACTION_REPLAY if claim.replay_id is not None else ACTION_REPROCESS
            if found:
                marked = await self._queries.finish_replayed(
                    attempt,
                    found,
                    actor=claim.actor,
                    action=action,
                    replay_id=claim.replay_id,
                    result={"outcome": "replayed", "topic": claim.topic, "recovered": True},
                )
                replayed.extend(marked)
            if missing:
                freed = await self._queries.release(attempt, missing)
                await self._queries.append_events(
                    [
                        NewEvent(record_id, {"outcome": "not_produced", "recovered": True})
                        for record_id in freed
                    ],
                    actor=claim.actor,
                    action=action,
                    replay_id=claim.replay_id,
                )
                released.extend(freed)
        if replayed or released:
            logger.info(
                "settled abandoned replay claims: %d found on the topic, %d released",
                len(replayed),
                len(released),
                extra={"topic": self._topic},
            )
        self._metrics.count_replayed(len(replayed))
        return Settled(replayed=replayed, released=released)

    async def _scan(self, group: Sequence[ClaimedRecord]) -> tuple[list[UUID], list[UUID]]:
        claim = group[0].claim
        wanted: Mapping[bytes, UUID] = {str(c.record_id).encode(): c.record_id for c in group}
        scanner = await self._kafka.scanner()
        found = await scanner.find_header_values(
            claim.topic,
            claim.start_offsets,
            names.DQ_REPLAYED_FROM,
            wanted.keys(),
            within=self._settings.replay_lease.total_seconds(),
        )
        produced = [wanted[value] for value in found]
        return produced, [record_id for value, record_id in wanted.items() if value not in found]
