"""Reading a topic outside any consumer group: its end offsets, and which records carry a header.

The REST API settles a replay claim whose produce outcome is unknown (the process died between
producing and recording it) by scanning the valid topic from the end offsets noted before the
produce: a record whose `dataquarantine.replayed-from` header names the claimed record proves the
produce happened. Every aiokafka failure leaves this module as a `KafkaClientError`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Collection, Iterable, Mapping
from contextlib import asynccontextmanager
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from validator_pod.adapters.errors import KafkaClientError
from validator_pod.adapters.kafka import KafkaConnection


@asynccontextmanager
async def _translated_errors(what: str) -> AsyncIterator[None]:
    try:
        yield
    except KafkaClientError:
        raise
    except (KafkaError, OSError, TimeoutError, AssertionError) as exc:
        raise KafkaClientError(f"{what}: {type(exc).__name__}: {exc}") from exc


class TopicScanner:
    """A group-less consumer that reads end offsets and scans partition ranges."""

    def __init__(self, consumer: AIOKafkaConsumer) -> None:
        """Wrap a started consumer; prefer `TopicScanner.start`."""
        self._consumer = consumer
        self._lock = asyncio.Lock()

    @classmethod
    async def start(
        cls, connection: KafkaConnection, *, client_id: str | None = None
    ) -> TopicScanner:
        """Connect without joining a group (nothing is ever committed)."""
        consumer = AIOKafkaConsumer(
            **connection.client_options(),
            group_id=None,
            client_id=client_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            isolation_level="read_committed",
            max_partition_fetch_bytes=1024 * 1024,
            fetch_max_bytes=8 * 1024 * 1024,
        )
        async with _translated_errors("start topic scanner"):
            try:
                await consumer.start()
            except BaseException:
                await consumer.stop()
                raise
        return cls(consumer)

    async def stop(self) -> None:
        """Close the connections."""
        await self._consumer.stop()

    async def end_offsets(self, topic: str, partitions: Iterable[int]) -> dict[int, int]:
        """The next offset to be written in each of `partitions` of `topic`."""
        wanted = [TopicPartition(topic, partition) for partition in partitions]
        async with self._lock, _translated_errors(f"end offsets of {topic}"):
            ends: dict[TopicPartition, int] = await self._consumer.end_offsets(wanted)
        return {tp.partition: offset for tp, offset in ends.items()}

    async def find_header_values(
        self,
        topic: str,
        start_offsets: Mapping[int, int],
        header: str,
        wanted: Collection[bytes],
        *,
        within: float = 60.0,
    ) -> dict[bytes, tuple[int, int]]:
        """Scan the partitions of `topic` listed in `start_offsets`, each from its start offset
        to its end offset as of now; return where each value of `wanted` was found in `header`,
        as (partition, offset). Raise `KafkaClientError` when the scan cannot finish
        within `within` seconds: the answer would be incomplete."""
        remaining = set(wanted)
        found: dict[bytes, tuple[int, int]] = {}
        if not remaining:
            return found
        async with self._lock, _translated_errors(f"scan {topic}"):
            partitions = [TopicPartition(topic, partition) for partition in start_offsets]
            ends: dict[TopicPartition, int] = await self._consumer.end_offsets(partitions)
            todo = {tp: end for tp, end in ends.items() if start_offsets[tp.partition] < end}
            if not todo:
                return found
            self._consumer.assign(list(todo))
            for tp in todo:
                self._consumer.seek(tp, start_offsets[tp.partition])
            try:
                async with asyncio.timeout(within):
                    while todo and remaining:
                        batch = await self._consumer.getmany(*todo, timeout_ms=500)
                        for tp, records in batch.items():
                            for record in records:
                                value = _header(record.headers, header)
                                if value in remaining:
                                    remaining.discard(value)
                                    found[value] = (tp.partition, record.offset)
                        for tp in list(todo):
                            if await self._consumer.position(tp) >= todo[tp]:
                                del todo[tp]
            finally:
                self._consumer.assign([])
        return found


def _header(headers: Any, name: str) -> bytes | None:
    value: bytes | None = None
    for key, header_value in headers or ():
        if key == name:
            value = header_value
    return value
