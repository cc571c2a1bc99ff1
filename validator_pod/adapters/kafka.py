"""Kafka (aiokafka): a manually committed source consumer and a batching record producer.

The producer fills aiokafka's `BatchBuilder`s itself, one per destination partition, instead of
calling `send()` per record: `send()` costs a future and a task switch per record, a batch costs
one future per partition. Every aiokafka failure leaves this module as a `KafkaClientError`.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Final, Literal, NamedTuple, Protocol

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.errors import (
    CommitFailedError,
    IllegalGenerationError,
    IllegalOperation,
    IllegalStateError,
    InvalidProducerEpoch,
    KafkaError,
    OutOfOrderSequenceNumber,
    ProducerFenced,
    RebalanceInProgressError,
    UnknownMemberIdError,
)
from aiokafka.helpers import create_ssl_context
from aiokafka.partitioner import murmur2
from aiokafka.producer.transaction_manager import TransactionState

from validator_pod.adapters.errors import (
    KafkaClientError,
    PartitionsRevokedError,
    ProducerFencedError,
)

__all__ = [
    "ConsumerRecord",
    "KafkaConnection",
    "OutgoingRecord",
    "RebalanceHandler",
    "RecordProducer",
    "SourceConsumer",
    "TopicPartition",
]

SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]

_REVOKED_ERRORS: Final = (
    CommitFailedError,
    IllegalGenerationError,
    UnknownMemberIdError,
    RebalanceInProgressError,
    IllegalStateError,
)
_FENCED_ERRORS: Final = (ProducerFenced, InvalidProducerEpoch, OutOfOrderSequenceNumber)


@dataclass(frozen=True, slots=True)
class KafkaConnection:
    """How to reach the brokers: address, security protocol and SASL credentials."""

    bootstrap_servers: str
    security_protocol: SecurityProtocol = "PLAINTEXT"
    sasl_mechanism: SaslMechanism = "PLAIN"
    sasl_username: str | None = None
    sasl_password: str | None = field(default=None, repr=False)
    ssl_ca_file: str | None = None

    def client_options(self) -> dict[str, Any]:
        """Keyword arguments shared by aiokafka's consumer, producer and admin client."""
        options: dict[str, Any] = {
            "bootstrap_servers": self.bootstrap_servers,
            "security_protocol": self.security_protocol,
        }
        if self.security_protocol in ("SSL", "SASL_SSL"):
            context: ssl.SSLContext = create_ssl_context(cafile=self.ssl_ca_file)
            options["ssl_context"] = context
        if self.security_protocol.startswith("SASL"):
            options["sasl_mechanism"] = self.sasl_mechanism
            options["sasl_plain_username"] = self.sasl_username
            options["sasl_plain_password"] = self.sasl_password
        return options


class OutgoingRecord(NamedTuple):
    """A record to produce (a tuple: cheap to build, one per forwarded record).

    `partition` None means: `source_partition` when the caller asks to keep partitions (and the
    topic has that partition), else by key with Kafka's murmur2 (as the Java client does), or,
    without a key, `source_partition` modulo the topic's partition count.
    """

    key: bytes | None
    value: bytes | None
    headers: Sequence[tuple[str, bytes]]
    timestamp_ms: int | None
    partition: int | None = None
    source_partition: int = 0


class RebalanceHandler(Protocol):
    """What the consumer calls around a rebalance (aiokafka waits for both)."""

    async def partitions_revoked(self, revoked: frozenset[TopicPartition]) -> None:
        """Before the partitions move: finish or abandon work on them."""

    async def partitions_assigned(self, assigned: frozenset[TopicPartition]) -> None:
        """After the new assignment, before fetching resumes."""


class _Listener(ConsumerRebalanceListener):  # type: ignore[misc] # aiokafka is untyped
    def __init__(self, handler: RebalanceHandler) -> None:
        self._handler = handler

    async def on_partitions_revoked(self, revoked: Iterable[TopicPartition]) -> None:
        await self._handler.partitions_revoked(frozenset(revoked))

    async def on_partitions_assigned(self, assigned: Iterable[TopicPartition]) -> None:
        await self._handler.partitions_assigned(frozenset(assigned))


def _translate(what: str, exc: BaseException) -> KafkaClientError:
    if isinstance(exc, _FENCED_ERRORS):
        return ProducerFencedError(f"{what}: {exc}")
    return KafkaClientError(f"{what}: {type(exc).__name__}: {exc}")


@asynccontextmanager
async def _translated_errors(what: str) -> AsyncIterator[None]:
    try:
        yield
    except KafkaClientError:
        raise
    except (KafkaError, IllegalOperation, OSError, TimeoutError, AssertionError) as exc:
        # aiokafka asserts its transaction state machine's transitions.
        raise _translate(what, exc) from exc


class SourceConsumer:
    """A consumer-group member that never commits by itself."""

    def __init__(self, consumer: AIOKafkaConsumer, group_id: str) -> None:
        """Wrap a started consumer; prefer `SourceConsumer.start`."""
        self._consumer = consumer
        self._group_id = group_id

    @classmethod
    async def start(
        cls,
        connection: KafkaConnection,
        *,
        topics: Sequence[str],
        group_id: str,
        handler: RebalanceHandler,
        read_committed: bool = False,
        fetch_max_bytes: int = 16 * 1024 * 1024,
        max_partition_fetch_bytes: int = 1024 * 1024,
        session_timeout_ms: int = 10_000,
        rebalance_timeout_ms: int = 30_000,
        max_poll_interval_ms: int = 300_000,
        client_id: str | None = None,
    ) -> SourceConsumer:
        """Join `group_id` and subscribe to `topics`, starting at the earliest offset when the
        group has no committed one. Prefetch is capped by `fetch_max_bytes` (per fetch) and
        `max_partition_fetch_bytes` (per partition; a larger record still comes whole)."""
        consumer = AIOKafkaConsumer(
            **connection.client_options(),
            group_id=group_id,
            client_id=client_id or f"dataquarantine-{group_id}",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            isolation_level="read_committed" if read_committed else "read_uncommitted",
            fetch_max_bytes=fetch_max_bytes,
            max_partition_fetch_bytes=max_partition_fetch_bytes,
            session_timeout_ms=session_timeout_ms,
            rebalance_timeout_ms=rebalance_timeout_ms,
            max_poll_interval_ms=max_poll_interval_ms,
        )
        async with _translated_errors("start consumer"):
            try:
                await consumer.start()
            except BaseException:
                await consumer.stop()
                raise
        consumer.subscribe(list(topics), listener=_Listener(handler))
        return cls(consumer, group_id)

    @property
    def group_id(self) -> str:
        """The consumer group."""
        return self._group_id

    async def stop(self) -> None:
        """Leave the group without committing anything."""
        await self._consumer.stop()

    async def getmany(
        self, *, max_records: int, timeout_ms: int
    ) -> dict[TopicPartition, list[ConsumerRecord]]:
        """Up to `max_records` prefetched records, waiting at most `timeout_ms` for the first."""
        async with _translated_errors("fetch"):
            batch: dict[TopicPartition, list[ConsumerRecord]] = await self._consumer.getmany(
                timeout_ms=timeout_ms, max_records=max_records
            )
        return batch

    async def commit(self, offsets: Mapping[TopicPartition, int]) -> None:
        """Commit next-offsets; `PartitionsRevokedError` when the group has moved on."""
        try:
            await self._consumer.commit(dict(offsets))
        except _REVOKED_ERRORS as exc:
            raise PartitionsRevokedError(f"commit refused: {type(exc).__name__}") from exc
        except (KafkaError, OSError, TimeoutError) as exc:
            raise KafkaClientError(f"commit: {type(exc).__name__}: {exc}") from exc

    async def committed(self, partition: TopicPartition) -> int | None:
        """The group's committed next-offset for a partition, if any."""
        async with _translated_errors("committed offset"):
            offset: int | None = await self._consumer.committed(partition)
        return offset

    async def rewind(self) -> None:
        """Move every assigned partition back to the group's committed offset (the earliest
        offset when there is none), dropping prefetched records: what was fetched after the
        last commit will be fetched again. Partitions that move in the meantime are skipped
        (a new assignment starts from the committed offsets anyway)."""
        async with _translated_errors("rewind"):
            for tp in self._consumer.assignment():
                committed = await self._consumer.committed(tp)
                try:
                    if committed is None:
                        await self._consumer.seek_to_beginning(tp)
                    else:
                        self._consumer.seek(tp, committed)
                except IllegalStateError:
                    continue

    def assignment(self) -> frozenset[TopicPartition]:
        """The partitions this member owns now."""
        return frozenset(self._consumer.assignment())

    def pause(self, partitions: Iterable[TopicPartition]) -> None:
        """Stop fetching from these partitions (membership is unaffected)."""
        self._consumer.pause(*partitions)

    def resume(self, partitions: Iterable[TopicPartition]) -> None:
        """Fetch from these partitions again."""
        self._consumer.resume(*partitions)

    async def end_offsets(self, partitions: Iterable[TopicPartition]) -> dict[TopicPartition, int]:
        """The partitions' end offsets, asked of the brokers now (not the last fetch's)."""
        async with _translated_errors("end offsets"):
            ends: dict[TopicPartition, int] = await self._consumer.end_offsets(list(partitions))
        return ends

    def end_offset(self, partition: TopicPartition) -> int | None:
        """The partition's end as last seen by a fetch: the high watermark, or the last stable
        offset for a read_committed consumer; None before the first fetch."""
        end: int | None = self._consumer.last_stable_offset(partition)
        if end is None:
            end = self._consumer.highwater(partition)
        return end

    def partition_count(self, topic: str) -> int | None:
        """How many partitions `topic` has, per the consumer's metadata."""
        partitions = self._consumer.partitions_for_topic(topic)
        return None if partitions is None else len(partitions)


Delivery = Awaitable[Any]


class RecordProducer:
    """Produces records in per-partition batches; optionally transactional."""

    def __init__(self, factory: Callable[[], AIOKafkaProducer], producer: AIOKafkaProducer) -> None:
        """Wrap a started producer and how to make another; prefer `RecordProducer.start`."""
        self._factory = factory
        self._producer = producer

    @classmethod
    async def start(
        cls,
        connection: KafkaConnection,
        *,
        transactional_id: str | None = None,
        max_batch_bytes: int = 512 * 1024,
        linger_ms: int = 0,
        request_timeout_ms: int = 30_000,
        transaction_timeout_ms: int = 60_000,
        compression: Literal["lz4", "zstd", "gzip", "snappy"] | None = None,
        client_id: str | None = None,
    ) -> RecordProducer:
        """An idempotent producer (acks=all); transactional when `transactional_id` is set.
        `max_batch_bytes` caps one partition batch; keep it at most the topics'
        max.message.bytes (a single larger record still gets a batch of its own). The
        producer's memory is bounded by the records the caller sends before waiting for them.
        No linger by default: `send` hands over batches that are already complete."""

        def factory() -> AIOKafkaProducer:
            return AIOKafkaProducer(
                **connection.client_options(),
                client_id=client_id,
                acks="all",
                enable_idempotence=True,
                transactional_id=transactional_id,
                transaction_timeout_ms=transaction_timeout_ms,
                max_batch_size=max_batch_bytes,
                linger_ms=linger_ms,
                request_timeout_ms=request_timeout_ms,
                compression_type=compression,
            )

        producer = factory()
        await cls._start(producer)
        return cls(factory, producer)

    @staticmethod
    async def _start(producer: AIOKafkaProducer) -> None:
        async with _translated_errors("start producer"):
            try:
                await producer.start()
            except BaseException:
                await producer.stop()
                raise

    async def stop(self) -> None:
        """Flush what is queued (bounded by the request timeout) and close."""
        await self._producer.stop()

    async def restart(self) -> None:
        """Replace the producer (after `ProducerFencedError`): a new transactional producer
        with the same id aborts the previous one's open transaction."""
        await self._producer.stop()
        producer = self._factory()
        await self._start(producer)
        self._producer = producer

    async def partition_count(self, topic: str) -> int:
        """How many partitions `topic` has (waits for its metadata)."""
        async with _translated_errors(f"metadata of {topic}"):
            partitions = await self._producer.partitions_for(topic)
        return len(partitions)

    async def send(
        self, topic: str, records: Iterable[OutgoingRecord], *, keep_partitions: bool = False
    ) -> list[Delivery]:
        """Queue records for `topic`, in order per partition; return one delivery awaitable per
        partition batch (await them with `wait_delivered`). With `keep_partitions`, a record
        without an explicit partition goes to its source partition's number: the right choice
        when the topic has as many partitions as the source, as it keeps each key's partition
        and order without hashing keys."""
        count = await self.partition_count(topic)
        builders: dict[int, Any] = {}
        deliveries: list[Delivery] = []
        async with _translated_errors(f"send to {topic}"):
            for record in records:
                partition = record.partition
                if partition is None:
                    source = record.source_partition
                    if (keep_partitions and source < count) or record.key is None:
                        partition = source % count
                    else:
                        partition = (murmur2(record.key) & 0x7FFFFFFF) % count
                builder = builders.get(partition)
                if builder is None:
                    builder = builders[partition] = self._producer.create_batch()
                if not _append(builder, record):
                    deliveries.append(
                        await self._producer.send_batch(builder, topic, partition=partition)
                    )
                    builder = builders[partition] = self._producer.create_batch()
                    _append(builder, record)  # an empty batch takes any one record
            for partition, builder in builders.items():
                deliveries.append(
                    await self._producer.send_batch(builder, topic, partition=partition)
                )
        return deliveries

    async def wait_delivered(self, deliveries: Sequence[Delivery]) -> None:
        """Wait for every delivery; raise the first failure after all have settled."""
        if not deliveries:
            return
        results = await asyncio.gather(*deliveries, return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise _translate("deliver", result) from result

    async def send_and_wait(
        self, topic: str, records: Iterable[OutgoingRecord], *, keep_partitions: bool = False
    ) -> None:
        """`send`, then `wait_delivered` (for callers without a transaction to manage)."""
        await self.wait_delivered(await self.send(topic, records, keep_partitions=keep_partitions))

    async def begin_transaction(self) -> None:
        """Start a transaction (transactional producers only)."""
        async with _translated_errors("begin transaction"):
            await self._producer.begin_transaction()

    async def send_offsets_to_transaction(
        self, offsets: Mapping[TopicPartition, int], group_id: str
    ) -> None:
        """Make committing the consumer group's next-offsets part of the transaction."""
        async with _translated_errors("send offsets to transaction"):
            await self._producer.send_offsets_to_transaction(dict(offsets), group_id)

    async def commit_transaction(self) -> None:
        """Commit the transaction: its records and offsets become visible together."""
        async with _translated_errors("commit transaction"):
            await self._producer.commit_transaction()

    async def abort_transaction(self) -> None:
        """Abort the open transaction, if any; `ProducerFencedError` when that is impossible."""
        # aiokafka has no public query for "a transaction is open or failed but abortable".
        state = getattr(self._producer._txn_manager, "state", None)
        if state not in (TransactionState.IN_TRANSACTION, TransactionState.ABORTABLE_ERROR):
            return
        async with _translated_errors("abort transaction"):
            await self._producer.abort_transaction()


def _append(builder: Any, record: OutgoingRecord) -> bool:
    headers = record.headers
    metadata = builder.append(
        timestamp=record.timestamp_ms,
        key=record.key,
        value=record.value,
        # aiokafka's C record builder accepts a list only
        headers=headers if type(headers) is list else list(headers),
    )
    return metadata is not None
