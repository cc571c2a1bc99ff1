"""The validator loop: fetch a batch, plan it, write its outputs, commit its offsets, repeat.

Order of a batch's writes, and why:
1. valid records go to the valid topic straight away (they depend on nothing), each batch's
   after the previous batch's are queued (partition order);
2. the records it quarantines go to the quarantine writer (`quarantine_writing`), which writes
   those of several batches together: S3 segments first, then (concurrently) the PostgreSQL
   rows and the dead letters, which both point into the segments;
3. the source offsets: at-least-once hands them to a background committer (`committing`) once
   every send and write of the batch, and of every batch before it, is acknowledged;
   exactly-once writes its own S3 segments and PostgreSQL rows first, then puts the valid and
   dead-letter sends and the offsets in one Kafka transaction.
A step that fails is retried with capped exponential backoff (the process reports not-ready and
logs once per state change); nothing is committed until every step has succeeded. A batch that
cannot finish in time for a rebalance or a shutdown is abandoned: its offsets are not committed,
so its records are read again.

Reading records again is harmless because every write is idempotent: row ids are uuid5 of
(namespace, pipeline, topic, partition, offset) and rows are inserted ON CONFLICT DO NOTHING;
a segment key names its first and last offsets, so the same records rewrite the same object
with the same bytes. If the records are fetched in other batches the second time, new segments
get other keys: the rows written the first time keep pointing at the first segment, which
exists (it was written before them), and the new segment holds a redundant copy that no row
references. The API's retention purge works from expired rows and never sees such a segment; a
bucket lifecycle rule that expires objects some time after the retention period removes it.
With at-least-once delivery the sinks may hold duplicates after such a retry; with exactly-once
they do not.

The invalid-ratio breaker with action `pause` latches: consumption stays paused, with the reason
on /readyz and `dataquarantine_breaker_open` = 1, until the process restarts — which a new
pipeline configuration (a fixed schema, a disabled breaker) or `kubectl rollout restart` does.
Resuming by itself would only quarantine the flood after a delay; a person should look first.
With action `alert` the metric and a log line follow the ratio and consumption continues.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final, TypeVar

from validator_pod.adapters.errors import (
    AdapterError,
    KafkaClientError,
    PartitionsRevokedError,
    ProducerFencedError,
)
from validator_pod.adapters.kafka import (
    ConsumerRecord,
    Delivery,
    OutgoingRecord,
    RebalanceHandler,
    RecordProducer,
    SourceConsumer,
    TopicPartition,
)
from validator_pod.adapters.metadata_db import MetadataDb
from validator_pod.adapters.object_store import ObjectStore
from validator_pod.domain.pipeline_config import Delivery as DeliveryMode
from validator_pod.domain.pipeline_config import PipelineConfig
from validator_pod.health import Readiness
from validator_pod.metrics import ValidatorMetrics
from validator_pod.pipeline.backoff import Backoff
from validator_pod.pipeline.breaker import InvalidRatioBreaker
from validator_pod.pipeline.committing import OffsetCommitter
from validator_pod.pipeline.planning import BatchPlan, BatchPlanner, Held, QuarantineLayout
from validator_pod.pipeline.quarantine_writing import (
    EarlierFlushFailedError,
    QuarantineWriter,
    Turn,
)
from validator_pod.pipeline.waiting import set_before_end
from validator_pod.validation.evaluating import Outcome

logger = logging.getLogger(__name__)

T = TypeVar("T")

BREAKER: Final = "breaker"
"""The readiness component reported while the breaker holds consumption paused."""
_PLAN_SLICE: Final = 200


@dataclass(frozen=True, slots=True)
class LoopTuning:
    """Timing of the loop (seconds)."""

    shutdown_grace: float = 20.0
    """On SIGTERM, how long the in-flight batch may take to finish before it is abandoned."""
    rebalance_grace: float = 10.0
    """On a rebalance, the same (keep it below the consumer's rebalance timeout)."""
    commit_timeout: float = 15.0
    """aiokafka retries a commit forever while the coordinator is unreachable; give up and
    report after this long (the batch is retried)."""
    lag_interval: float = 1.0
    """While no records arrive, how often the brokers are asked for the partitions' end offsets
    (the lag metric, and the only way an idle loop notices that Kafka is unreachable)."""
    probe_timeout: float = 5.0
    """How long that request may take before Kafka is reported unreachable."""
    full_batches_in_flight: int = 4
    """At-least-once: the records of batches whose outputs are being written at once are
    capped at this many times `batching.maxRecords` (memory grows with it). Quarantine writes
    take longer than planning when many records are invalid; letting batches overlap keeps the
    process busy. Exactly-once always runs one transaction at a time."""
    quarantine_linger: float = 0.1
    """At-least-once: how long the records that batches quarantine may wait to be written
    together with later batches' (at most `batching.maxRecords` of them wait; see
    `quarantine_writing`). Valid records never wait for it."""
    max_batches_in_flight: int = 64
    """At-least-once: at most this many batches in flight, however small. Under light load
    batches are small and each one with an invalid record waits for an S3 upload and a
    PostgreSQL COPY; counting records rather than batches keeps such waits from holding back
    the next fetch (and so the valid records' latency)."""


async def until_stopped(operation: Awaitable[T], stopping: asyncio.Event) -> tuple[bool, T | None]:
    """Run `operation` unless `stopping` is set first, in which case it is cancelled; return
    (finished, result)."""
    task = asyncio.ensure_future(operation)
    stop = asyncio.ensure_future(stopping.wait())
    try:
        await asyncio.wait({task, stop}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stop.cancel()
        if not task.done():
            task.cancel()
            await asyncio.wait({task})
    if task.cancelled():
        return False, None
    return True, task.result()


class Retrier:
    """Retries an infrastructure call until it succeeds, reporting readiness and failures."""

    def __init__(
        self,
        readiness: Readiness,
        metrics: ValidatorMetrics,
        backoff: Callable[[], Backoff] = Backoff,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        """`backoff` makes a fresh policy per call."""
        self._readiness = readiness
        self._metrics = metrics
        self._backoff = backoff
        self._sleep = sleep

    async def call(self, operation: Callable[[], Awaitable[T]]) -> T:
        """`await operation()` until it returns; retriable `AdapterError`s mark their service
        not-ready, count a write failure and wait, others propagate."""
        backoff = self._backoff()
        failing: set[str] = set()
        while True:
            try:
                result = await operation()
            except AdapterError as exc:
                if not exc.retriable:
                    raise
                self.failed(exc)
                failing.add(exc.target)
                await self._sleep(backoff.next_delay())
                continue
            for target in failing:
                self._readiness.clear(target)
            return result

    def new_backoff(self) -> Backoff:
        """A fresh backoff policy, for loops that retry by themselves."""
        return self._backoff()

    def failed(self, exc: AdapterError) -> None:
        """Report one failed attempt against `exc.target`."""
        self._readiness.set_problem(exc.target, str(exc))
        self._metrics.write_failed(exc.target)


class VoidBatchError(Exception):
    """A batch was not committed because an earlier one was not: its offsets would skip the
    earlier batch's records."""


@dataclass(eq=False, slots=True)
class _InFlight:
    """A batch whose outputs are being written; `valid_queued` is set once its valid records
    are queued (the next batch's may then be queued, keeping each partition's order)."""

    task: asyncio.Task[None]
    valid_queued: asyncio.Event
    records: int

    async def valid_records_queued(self) -> None:
        """Wait until this batch's valid records are queued; raise `VoidBatchError` when it
        ended without (it failed: no later record may overtake its records)."""
        if not await set_before_end(self.valid_queued, self.task):
            raise VoidBatchError("an earlier batch did not send its records")


_NOT_COMMITTED: Final = (
    PartitionsRevokedError,
    VoidBatchError,
    EarlierFlushFailedError,
    ProducerFencedError,
)
"""Why a batch may end uncommitted without anything being wrong with the process. A fenced
producer is among them: after a broker restart the idempotent producer's sequence numbers can
be out of step (`OutOfOrderSequenceNumber`); the producer is replaced and the batch read again."""


class ValidatorLoop(RebalanceHandler):
    """Runs one pipeline: owns the consumer and the producer, borrows the store and database.

    Batches go through two stages. The loop fetches and plans batch N+1 (CPU) while batch N's
    outputs are written (a task, mostly waiting for S3, PostgreSQL and Kafka). Batch N+1's
    valid records are queued once batch N's are, its quarantined records are written in the
    same or a later flush of the quarantine writer (so a slow S3 upload does not hold back
    valid records), and its offsets are handed to the committer only after batch N's. A batch
    that fails voids every later one: they are cancelled or dropped and the consumer rewinds to
    the committed offsets, so no record is skipped.
    """

    def __init__(
        self,
        *,
        config: PipelineConfig,
        planner: BatchPlanner,
        start_consumer: Callable[[RebalanceHandler], Awaitable[SourceConsumer]],
        start_producer: Callable[[], Awaitable[RecordProducer]],
        store: ObjectStore,
        db: MetadataDb,
        metrics: ValidatorMetrics,
        readiness: Readiness,
        retrier: Retrier,
        tuning: LoopTuning = LoopTuning(),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Wire the loop; nothing starts before `run`."""
        self._config = config
        self._planner = planner
        self._start_consumer = start_consumer
        self._start_producer = start_producer
        self._store = store
        self._db = db
        self._metrics = metrics
        self._readiness = readiness
        self._retrier = retrier
        self._tuning = tuning
        self._clock = clock
        self._exactly_once = config.delivery is DeliveryMode.EXACTLY_ONCE
        self._breaker = InvalidRatioBreaker(config.breaker) if config.breaker.enabled else None
        self._breaker_open = False
        self._paused_by_breaker = False
        self._consumer: SourceConsumer | None = None
        self._producer: RecordProducer | None = None
        self._inflight: list[_InFlight] = []
        self._generation = 0
        self._positions: dict[TopicPartition, int] = {}
        self._keep_partitions: dict[tuple[str, str], bool] = {}
        self._lag_refreshed = 0.0
        self._context = {"pipeline": config.name}
        self._committer = OffsetCommitter(
            lambda offsets: self._retrier.call(lambda: self._commit(offsets))
        )
        self._quarantine: QuarantineWriter[Held, QuarantineLayout] = QuarantineWriter(
            planner.lay_out,
            self._store_quarantine,
            linger=tuning.quarantine_linger,
            max_records=config.batching.max_records,
        )

    @property
    def consumer(self) -> SourceConsumer:
        """The source consumer (once `run` has started it)."""
        if self._consumer is None:
            raise RuntimeError("the validator loop has not started its consumer")
        return self._consumer

    @property
    def producer(self) -> RecordProducer:
        """The sink producer (once `run` has started it)."""
        if self._producer is None:
            raise RuntimeError("the validator loop has not started its producer")
        return self._producer

    # -- lifecycle -----------------------------------------------------------------------

    async def run(self, stopping: asyncio.Event) -> None:
        """Consume until `stopping` is set; then finish (or, after the grace period, abandon)
        the batches in flight, leave the group and stop the clients."""
        watchdog = asyncio.create_task(self._abandon_after_grace(stopping))
        try:
            started, _ = await until_stopped(self._start_clients(), stopping)
            if not started:
                return
            self._readiness.clear("starting")
            logger.info("consuming", extra={**self._context, "topics": self._config.topics.sources})
            await self._consume(stopping)
        finally:
            watchdog.cancel()
            await self._stop_clients()

    async def _consume(self, stopping: asyncio.Event) -> None:
        while not stopping.is_set():
            generation = self._generation
            batch = await self._fetch()
            if not batch:
                if not await self._reap():
                    await self._rewind()
                await self._probe_while_idle()
                continue
            fetched_at = time.perf_counter()
            plan = await self._plan(batch)
            self._metrics.observe_validation(time.perf_counter() - fetched_at)
            if stopping.is_set():
                break
            if not await self._make_room(plan.records) or generation != self._generation:
                # An earlier batch was not committed, or a rebalance happened since the fetch:
                # this plan might skip or repeat records. Drop it and fetch again.
                await self._rewind()
                continue
            valid_queued = asyncio.Event()
            previous = self._inflight[-1] if self._inflight else None
            task = asyncio.create_task(self._execute(plan, fetched_at, previous, valid_queued))
            self._inflight.append(_InFlight(task, valid_queued, plan.records))
        if self._inflight:
            self._quarantine.hurry()
            await asyncio.wait([entry.task for entry in self._inflight])
        await self._reap()
        await self._committer.flush()

    async def _start_clients(self) -> None:
        self._producer = await self._retrier.call(self._start_producer)
        self._consumer = await self._retrier.call(lambda: self._start_consumer(self))

    async def _abandon_after_grace(self, stopping: asyncio.Event) -> None:
        await stopping.wait()
        self._readiness.set_problem("stopping", "shutting down")
        await asyncio.sleep(self._tuning.shutdown_grace)
        await self._abandon_inflight("shutdown grace period exceeded")
        await self._quarantine.cancel()
        await self._committer.cancel()

    async def _stop_clients(self) -> None:
        await self._abandon_inflight("stopping")
        await self._quarantine.cancel()
        await self._committer.cancel()
        if self._consumer is not None:
            with contextlib.suppress(Exception):
                await self._consumer.stop()
        if self._producer is not None:
            if self._exactly_once:
                with contextlib.suppress(AdapterError, TimeoutError):
                    await asyncio.wait_for(self._producer.abort_transaction(), 10)
            with contextlib.suppress(Exception):
                await self._producer.stop()

    # -- rebalance -----------------------------------------------------------------------

    async def partitions_revoked(self, revoked: frozenset[TopicPartition]) -> None:
        """Finish the batches in flight and commit their offsets within the rebalance grace
        period, or abandon them; a batch planned but not started is dropped (its records are
        fetched again)."""
        self._generation += 1
        deadline = self._clock() + self._tuning.rebalance_grace
        pending = [entry.task for entry in self._inflight if not entry.task.done()]
        if pending:
            self._quarantine.hurry()
            _, late = await asyncio.wait(pending, timeout=self._tuning.rebalance_grace)
            if late:
                await self._abandon_inflight("rebalance grace period exceeded")
        try:
            await asyncio.wait_for(self._committer.flush(), max(0.0, deadline - self._clock()))
        except TimeoutError:
            logger.warning("offsets not committed before the rebalance", extra=self._context)
            await self._committer.cancel()
        self._committer.forget(revoked)
        for tp in revoked:
            self._positions.pop(tp, None)
        self._metrics.forget_partitions(revoked)
        if revoked:
            logger.info(
                "partitions revoked", extra={**self._context, "partitions": _describe(revoked)}
            )

    async def partitions_assigned(self, assigned: frozenset[TopicPartition]) -> None:
        """Forget cached partition counts; keep new partitions paused if the breaker is open."""
        self._generation += 1
        self._keep_partitions.clear()
        if self._paused_by_breaker and self._consumer is not None:
            self._consumer.pause(assigned)
        logger.info(
            "partitions assigned", extra={**self._context, "partitions": _describe(assigned)}
        )

    async def _abandon_inflight(self, why: str) -> None:
        pending = [entry.task for entry in self._inflight if not entry.task.done()]
        if not pending:
            return
        logger.warning(
            "abandoning %d batch(es) in flight: %s", len(pending), why, extra=self._context
        )
        for task in pending:
            task.cancel()
        await asyncio.wait(pending)

    # -- batches -------------------------------------------------------------------------

    async def _fetch(self) -> dict[TopicPartition, list[ConsumerRecord]]:
        batching = self._config.batching
        try:
            batch = await self.consumer.getmany(
                max_records=batching.max_records, timeout_ms=batching.max_wait_ms or 1
            )
        except KafkaClientError as exc:
            self._retrier.failed(exc)
            await asyncio.sleep(1.0)
            return {}
        if batch:
            # an empty fetch proves nothing: aiokafka returns one while the brokers are down
            self._readiness.clear("kafka")
        return batch

    async def _plan(self, batch: Mapping[TopicPartition, Sequence[ConsumerRecord]]) -> BatchPlan:
        """Plan the batch, yielding to the event loop every `_PLAN_SLICE` records so that the
        batch in flight keeps moving (its acknowledgements are handled, its next step starts)."""
        planner = self._planner
        plan = BatchPlan()
        for tp, records in batch.items():
            outcomes: list[Outcome] = []
            for start in range(0, len(records), _PLAN_SLICE):
                outcomes += planner.evaluate(records[start : start + _PLAN_SLICE])
                await asyncio.sleep(0)
            planner.add_partition(plan, tp, records, outcomes)
        return plan

    async def _make_room(self, records: int) -> bool:
        """Wait until a batch of `records` records may start: the records in flight within
        budget, fewer than `max_batches_in_flight` batches. False when a batch was not
        committed (and the later ones were voided)."""
        budget = self._tuning.full_batches_in_flight * self._config.batching.max_records
        while self._inflight and (
            len(self._inflight) >= self._tuning.max_batches_in_flight
            or sum(entry.records for entry in self._inflight) + records > budget
        ):
            self._quarantine.hurry()
            await asyncio.wait({self._inflight[0].task})
            if not await self._reap():
                return False
        return await self._reap()

    async def _reap(self) -> bool:
        """Forget finished batches; if one was not committed, void the rest and return False."""
        committed = True
        fenced = False
        running: list[_InFlight] = []
        for entry in self._inflight:
            if not entry.task.done():
                running.append(entry)
            elif not self._was_committed(entry.task):
                committed = False
                fenced = fenced or _fenced(entry.task)
        self._inflight = running
        self._committer.raise_failure()
        if not committed:
            await self._abandon_inflight("an earlier batch was not committed")
            self._inflight = []
            if self._exactly_once:
                await self._recover_producer()
            elif fenced:
                logger.warning("replacing the producer: it was fenced", extra=self._context)
                await self._retrier.call(self.producer.restart)
        return committed

    def _was_committed(self, task: asyncio.Task[None]) -> bool:
        if task.cancelled():
            return False
        exc = task.exception()
        if exc is None:
            return True
        if isinstance(exc, BaseExceptionGroup):
            _, unexpected = exc.split(_NOT_COMMITTED)
            if unexpected is not None:
                raise exc
        elif not isinstance(exc, _NOT_COMMITTED):
            raise exc
        logger.info("batch not committed: %s", exc, extra=self._context)
        return False

    async def _rewind(self) -> None:
        """Back to the committed offsets, once what was handed over is committed (so that no
        acknowledged record is read again needlessly)."""
        await self._committer.flush()
        await self._retrier.call(self.consumer.rewind)

    async def _execute(
        self,
        plan: BatchPlan,
        fetched_at: float,
        previous: _InFlight | None,
        valid_queued: asyncio.Event,
    ) -> None:
        if self._exactly_once:
            # Transactions are sequential: the next batch waits for this one to finish.
            if previous is not None:
                await self._follow(previous.task)
            layout = self._planner.lay_out(plan.held)
            await self._store_quarantine(layout)
            await self._send_and_commit_transactionally(plan, layout)
        else:
            # Valid records depend on nothing; the held records go with other batches' ones.
            async with asyncio.TaskGroup() as group:
                group.create_task(self._send_valid(plan, previous, valid_queued))
                group.create_task(self._quarantine.write(plan.held))
            if previous is not None:
                await self._follow(previous.task)
            self._committer.hand_over(plan.next_offsets)
        self._positions.update(plan.next_offsets)
        self._metrics.observe_batch(time.perf_counter() - fetched_at)
        self._account(plan)

    @staticmethod
    async def _follow(previous: asyncio.Task[None]) -> None:
        """Wait for the previous batch; raise `VoidBatchError` unless it committed."""
        await asyncio.wait({previous})
        if previous.cancelled() or previous.exception() is not None:
            raise VoidBatchError("an earlier batch was not committed")

    async def _store_quarantine(self, layout: QuarantineLayout, turn: Turn | None = None) -> None:
        """Segments first, then (concurrently) the rows and, given a `turn`, the dead letters,
        which point to them (in their turn); each step retried until it succeeds."""
        if layout.rows:
            await self._retrier.call(_segments_writer(self._store, layout))
        async with asyncio.TaskGroup() as group:
            if layout.rows:
                group.create_task(
                    self._retrier.call(lambda: self._db.insert_quarantine_records(layout.rows))
                )
            if turn is not None:
                group.create_task(self._send_dead_letters(layout, turn))

    async def _send_dead_letters(self, layout: QuarantineLayout, turn: Turn) -> None:
        await turn.wait()
        sink = self._config.topics.quarantine
        await self._retrier.call(lambda: self._send_outputs(layout.dead_letters, sink, turn.done))

    async def _send_valid(
        self, plan: BatchPlan, previous: _InFlight | None, queued: asyncio.Event
    ) -> None:
        """Send the valid records, retried, once `previous` has queued its own."""
        if previous is not None:
            await previous.valid_records_queued()
        valid = self._config.topics.valid
        await self._retrier.call(lambda: self._send_outputs(plan.valid, valid, queued.set))

    async def _send_outputs(
        self,
        outputs: Mapping[str, Sequence[OutgoingRecord]],
        sink: str,
        on_queued: Callable[[], None] | None = None,
    ) -> None:
        """Send records grouped by source topic to `sink`; call `on_queued` once they are
        queued; return when all are acknowledged."""
        deliveries: list[Delivery] = []
        try:
            for source, records in outputs.items():
                if records:
                    deliveries += await self._send(source, sink, records)
        except BaseException:
            # settle what was queued so that no delivery failure goes unobserved
            await asyncio.gather(*deliveries, return_exceptions=True)
            raise
        if on_queued is not None:
            on_queued()
        await self.producer.wait_delivered(deliveries)

    async def _send(
        self, source: str, sink: str, records: Sequence[OutgoingRecord]
    ) -> list[Delivery]:
        keep = self._keep_partitions.get((source, sink))
        if keep is None:
            keep = self.consumer.partition_count(source) == (
                await self.producer.partition_count(sink)
            )
            self._keep_partitions[source, sink] = keep
        return await self.producer.send(sink, records, keep_partitions=keep)

    async def _commit(self, offsets: Mapping[TopicPartition, int]) -> None:
        try:
            await asyncio.wait_for(self.consumer.commit(offsets), self._tuning.commit_timeout)
        except TimeoutError as exc:
            raise KafkaClientError("commit: the group coordinator did not answer") from exc

    async def _send_and_commit_transactionally(
        self, plan: BatchPlan, layout: QuarantineLayout
    ) -> None:
        backoff = self._retrier.new_backoff()
        while True:
            try:
                topics = self._config.topics
                await self.producer.begin_transaction()
                await self._send_outputs(plan.valid, topics.valid)
                await self._send_outputs(layout.dead_letters, topics.quarantine)
                await self.producer.send_offsets_to_transaction(
                    plan.next_offsets, self.consumer.group_id
                )
                await self.producer.commit_transaction()
            except KafkaClientError as exc:
                self._retrier.failed(exc)
                await self._recover_producer()
                if await self._retrier.call(lambda: self._committed_already(plan)):
                    break
                await asyncio.sleep(backoff.next_delay())
                continue
            break
        self._readiness.clear("kafka")

    async def _recover_producer(self) -> None:
        """Abort the open transaction; replace the producer if that is not possible (a new
        producer with the same transactional id settles whatever the old one left open)."""
        producer = self.producer
        try:
            await asyncio.wait_for(producer.abort_transaction(), self._tuning.commit_timeout)
        except (AdapterError, TimeoutError):
            await self._retrier.call(producer.restart)

    async def _committed_already(self, plan: BatchPlan) -> bool:
        """Whether a transaction reported as failed did commit (its offsets are the group's)."""
        for tp, offset in plan.next_offsets.items():
            try:
                committed = await asyncio.wait_for(
                    self.consumer.committed(tp), self._tuning.commit_timeout
                )
            except TimeoutError as exc:
                raise KafkaClientError("committed offsets: the coordinator did not answer") from exc
            if committed is None or committed < offset:
                return False
        return True

    # -- accounting ----------------------------------------------------------------------
    # -- accounting ----------------------------------------------------------------------

    def _account(self, plan: BatchPlan) -> None:
        metrics = self._metrics
        metrics.count_records(plan.results)
        metrics.count_quarantined(plan.quarantined)
        metrics.count_shadow_disagreements(plan.shadow_disagreements)
        if plan.invalid:
            metrics.saw_invalid(time.time())
        for tp, offset in plan.next_offsets.items():
            end = self.consumer.end_offset(tp)
            if end is not None:
                metrics.set_lag(tp.topic, tp.partition, max(0, end - offset))
        if self._breaker is not None:
            self._feed_breaker(self._breaker, plan)

    async def _probe_while_idle(self) -> None:
        """Every `lag_interval` while no records arrive, ask the brokers for the assigned
        partitions' end offsets: the lag metric stays current, and Kafka being unreachable
        shows on /readyz even when there is nothing to send or commit."""
        now = self._clock()
        partitions = self.consumer.assignment()
        if now - self._lag_refreshed < self._tuning.lag_interval or not partitions:
            return
        self._lag_refreshed = now
        try:
            ends = await asyncio.wait_for(
                self.consumer.end_offsets(partitions), self._tuning.probe_timeout
            )
        except (KafkaClientError, TimeoutError) as exc:
            reason = str(exc) or f"no answer within {self._tuning.probe_timeout:g}s"
            self._readiness.set_problem(KafkaClientError.target, f"end offsets: {reason}")
            return
        self._readiness.clear(KafkaClientError.target)
        for tp, end in ends.items():
            position = self._positions.get(tp)
            if position is not None:
                self._metrics.set_lag(tp.topic, tp.partition, max(0, end - position))

    def _feed_breaker(self, breaker: InvalidRatioBreaker, plan: BatchPlan) -> None:
        spec = self._config.breaker
        state = breaker.observe(self._clock(), plan.records, plan.invalid)
        if state.over_threshold == self._breaker_open:
            return
        if spec.action == "alert":
            self._breaker_open = state.over_threshold
            self._metrics.set_breaker_open(state.over_threshold)
            logger.warning(
                "invalid ratio %.1f%% over the last %ss is %s the threshold %.1f%%",
                state.ratio * 100,
                spec.window.total_seconds(),
                "above" if state.over_threshold else "back below",
                spec.threshold * 100,
                extra=self._context,
            )
            return
        if not state.over_threshold:
            return
        self._breaker_open = True
        self._paused_by_breaker = True
        self.consumer.pause(self.consumer.assignment())
        self._metrics.set_breaker_open(True)
        reason = (
            f"invalid-ratio breaker open: {state.invalid} of {state.records} records "
            f"({state.ratio:.1%}) in the last {spec.window.total_seconds():g}s were invalid, "
            f"above {spec.threshold:.1%}; consumption is paused until the pipeline restarts"
        )
        self._readiness.set_problem(BREAKER, reason)


def _fenced(task: asyncio.Task[None]) -> bool:
    """Whether a finished batch failed because the producer was fenced."""
    if task.cancelled():
        return False
    exc = task.exception()
    if isinstance(exc, BaseExceptionGroup):
        return exc.subgroup(ProducerFencedError) is not None
    return isinstance(exc, ProducerFencedError)


def _segments_writer(store: ObjectStore, layout: QuarantineLayout) -> Callable[[], Awaitable[None]]:
    """Writes the layout's segments concurrently; a retry skips the ones already written."""
    written: set[str] = set()

    async def write(key: str, data: bytes) -> None:
        await store.put(key, data)
        written.add(key)

    async def write_all() -> None:
        pending = [s for s in layout.segments if s.key not in written]
        results = await asyncio.gather(
            *(write(s.key, s.data) for s in pending), return_exceptions=True
        )
        for result in results:
            if isinstance(result, BaseException):
                raise result

    return write_all


def _describe(partitions: frozenset[TopicPartition]) -> list[str]:
    return sorted(f"{tp.topic}/{tp.partition}" for tp in partitions)
