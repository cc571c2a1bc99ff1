"""The harness's Kafka side: topics, pre-loading, committed offsets, paced load and latency.

Everything here runs in the harness process, pinned to its own core, never in the process under
test. Producing goes through the validator's own `RecordProducer` (batches, no per-record
futures), so the harness stays cheap enough to offer 10k records/s while it also consumes.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError

from bench.workload import EventPool
from validator_pod.adapters.kafka import KafkaConnection, OutgoingRecord, RecordProducer

SENT_HEADER: Final = "bench.sent-ns"
"""Header stamped by the paced producer: time.monotonic_ns() when the record was handed to the
client (the harness produces and consumes, so one clock serves both ends)."""

PRELOAD_CHUNK: Final = 20_000


async def create_topics(bootstrap: str, names: Sequence[str], partitions: int) -> None:
    """Create `names`, each with `partitions` partitions and replication factor 1, and wait
    until every partition has a leader."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, partitions, 1) for name in names])
        deadline = time.monotonic() + 30
        while not await _have_leaders(admin, names, partitions):
            if time.monotonic() > deadline:
                raise TimeoutError(f"topics {list(names)} did not get partition leaders")
            await asyncio.sleep(0.1)
    finally:
        await admin.close()


async def _have_leaders(admin: AIOKafkaAdminClient, names: Sequence[str], partitions: int) -> bool:
    described = await admin.describe_topics(list(names))
    return len(described) == len(names) and all(
        topic["error_code"] == 0
        and len(topic["partitions"]) == partitions
        and all(p["leader"] >= 0 for p in topic["partitions"])
        for topic in described
    )


async def delete_topics(bootstrap: str, names: Sequence[str]) -> None:
    """Delete `names` (best effort: cleanup must not hide a result)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.delete_topics(list(names))
    except KafkaError:
        pass
    finally:
        await admin.close()


def _key(index: int) -> bytes:
    return b"ORD-%010d" % index


async def preload(
    connection: KafkaConnection,
    topic: str,
    pool: EventPool,
    *,
    count: int,
    share: float,
    progress: Callable[[int], None] | None = None,
) -> tuple[int, int]:
    """Produce records 0 .. count-1 to `topic` as fast as batches go; return (valid, invalid)."""
    producer = await RecordProducer.start(connection, linger_ms=0, client_id="bench-preload")
    invalid = 0
    try:
        for start in range(0, count, PRELOAD_CHUNK):
            records: list[OutgoingRecord] = []
            now_ms = int(time.time() * 1000)
            for index, value, bad in pool.stream(start, min(PRELOAD_CHUNK, count - start), share):
                invalid += bad
                records.append(OutgoingRecord(_key(index), value, [], now_ms))
            await producer.send_and_wait(topic, records)
            if progress is not None:
                progress(start + len(records))
    finally:
        await producer.stop()
    return count - invalid, invalid


class CommitWatcher:
    """Reads a consumer group's committed offsets on a topic (sum over partitions)."""

    def __init__(self, bootstrap: str, group: str, topic: str) -> None:
        """Nothing connects before `start`."""
        self._admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        self._group = group
        self._topic = topic
        self._coordinator: int | None = None

    async def start(self, patience: float = 30.0) -> None:
        """Connect and find the group's coordinator (on a fresh broker it appears only once
        the offsets topic exists)."""
        await self._admin.start()
        deadline = time.monotonic() + patience
        while self._coordinator is None:
            try:
                self._coordinator = await self._admin.find_coordinator(self._group)
            except KafkaError:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.2)

    async def stop(self) -> None:
        """Disconnect."""
        await self._admin.close()

    async def committed(self) -> int | None:
        """Records committed so far by the group on the topic (0 before the first commit);
        None when the coordinator did not answer this time."""
        try:
            offsets = await self._admin.list_consumer_group_offsets(
                self._group, group_coordinator_id=self._coordinator
            )
        except KafkaError:
            return None
        total: int = sum(
            meta.offset
            for tp, meta in offsets.items()
            if tp.topic == self._topic and meta.offset > 0
        )
        return total


async def end_offsets(bootstrap: str, topics: Sequence[str], partitions: int) -> dict[str, int]:
    """Per topic, the sum of its partitions' end offsets (its record count: nothing is deleted
    and the benchmark's producers are not transactional)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await consumer.start()
    try:
        ends = await consumer.end_offsets(
            [TopicPartition(topic, p) for topic in topics for p in range(partitions)]
        )
    finally:
        await consumer.stop()
    totals = dict.fromkeys(topics, 0)
    for tp, end in ends.items():
        totals[tp.topic] += end
    return totals


@dataclass(slots=True)
class LatencySample:
    """What a latency run observed."""

    offered_rate: float
    achieved_rate: float = 0.0
    sent: int = 0
    expected: int = 0
    received: int = 0
    latencies_ns: list[int] = field(default_factory=list)
    max_schedule_slip_ms: float = 0.0


@dataclass(frozen=True, slots=True)
class _Load:
    """What the paced producer offers, and when the measured window starts."""

    pool: EventPool
    share: float
    rate: float
    total: int
    first_index: int
    started: int
    measure_from: int
    reaches_sink: Callable[[bool], bool]


async def paced_latency(
    connection: KafkaConnection,
    *,
    source: str,
    sink: str,
    partitions: int,
    pool: EventPool,
    share: float,
    rate: float,
    warmup_seconds: float,
    seconds: float,
    first_index: int,
    reaches_sink: Callable[[bool], bool],
    drain_seconds: float = 5.0,
    on_measuring: Callable[[], None] | None = None,
) -> LatencySample:
    """Offer `rate` records/s to `source` for `warmup_seconds` + `seconds`, stamping each with
    its send time, and read `sink` from its end, computing receive - send per record. Records of
    the warm-up are not counted; after the load, stragglers are awaited until none arrived for
    `drain_seconds`. `reaches_sink(invalid)` says whether a record should arrive on `sink` (the
    valid topic receives the valid ones, the dead-letter topic the invalid ones)."""
    consumer = AIOKafkaConsumer(
        **connection.client_options(), enable_auto_commit=False, client_id="bench-latency"
    )
    await consumer.start()
    producer: RecordProducer | None = None
    try:
        tps = [TopicPartition(sink, p) for p in range(partitions)]
        consumer.assign(tps)
        await consumer.seek_to_end(*tps)
        for tp in tps:
            await consumer.position(tp)
        producer = await RecordProducer.start(connection, linger_ms=0, client_id="bench-paced")
        sample = LatencySample(offered_rate=rate)
        started = time.monotonic_ns()
        load = _Load(
            pool=pool,
            share=share,
            rate=rate,
            total=int(rate * (warmup_seconds + seconds)),
            first_index=first_index,
            started=started,
            measure_from=started + int(warmup_seconds * 1e9),
            reaches_sink=reaches_sink,
        )
        produced = asyncio.Event()
        complete = asyncio.Event()
        receiver = asyncio.create_task(
            _receive(consumer, sample, load.measure_from, produced, complete)
        )
        await _offer(producer, source, load, sample, on_measuring)
        produced.set()
        # wait for the stragglers while they keep coming (a backlog drains slowly)
        idle_since, seen = time.monotonic(), sample.received
        while not complete.is_set() and time.monotonic() - idle_since < drain_seconds:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(complete.wait(), 0.5)
            if sample.received != seen:
                idle_since, seen = time.monotonic(), sample.received
        receiver.cancel()
        await asyncio.gather(receiver, return_exceptions=True)
        return sample
    finally:
        if producer is not None:
            await producer.stop()
        await consumer.stop()


async def _offer(
    producer: RecordProducer,
    topic: str,
    load: _Load,
    sample: LatencySample,
    on_measuring: Callable[[], None] | None,
) -> None:
    """Each tick (about 1 ms), send the records due by now, all stamped with now; never wait
    for acknowledgements in between (an open-loop load)."""
    sent = 0
    measuring = False
    pending: list[asyncio.Future[Any]] = []
    while sent < load.total:
        now = time.monotonic_ns()
        due = min(load.total, int((now - load.started) * load.rate / 1e9))
        if due > sent:
            slip_ms = (now - load.started - (sent + 1) / load.rate * 1e9) / 1e6
            sample.max_schedule_slip_ms = max(sample.max_schedule_slip_ms, slip_ms)
            if not measuring and now >= load.measure_from:
                measuring = True
                if on_measuring is not None:
                    on_measuring()
            stamp = [(SENT_HEADER, str(now).encode())]
            records: list[OutgoingRecord] = []
            for index, value, bad in load.pool.stream(
                load.first_index + sent, due - sent, load.share
            ):
                records.append(OutgoingRecord(_key(index), value, stamp, None))
                if now >= load.measure_from and load.reaches_sink(bad):
                    sample.expected += 1
            pending += [asyncio.ensure_future(d) for d in await producer.send(topic, records)]
            sent = due
        done = [future for future in pending if future.done()]
        if done:
            await producer.wait_delivered(done)  # raises the first failure
            pending = [future for future in pending if not future.done()]
        await asyncio.sleep(0.0005)
    await producer.wait_delivered(pending)
    sample.sent = sent
    sample.achieved_rate = sent / ((time.monotonic_ns() - load.started) / 1e9)


async def _receive(
    consumer: AIOKafkaConsumer,
    sample: LatencySample,
    measure_from: int,
    produced: asyncio.Event,
    complete: asyncio.Event,
) -> None:
    """Time every stamped record of the measured window; set `complete` once the producer is
    done and every expected record has arrived."""
    latencies = sample.latencies_ns
    while True:
        if produced.is_set() and sample.received >= sample.expected:
            complete.set()
        batch = await consumer.getmany(timeout_ms=100, max_records=10_000)
        received_at = time.monotonic_ns()
        for records in batch.values():
            for record in records:
                for name, value in record.headers:
                    if name == SENT_HEADER:
                        sent_at = int(value)
                        if sent_at >= measure_from:
                            latencies.append(received_at - sent_at)
                            sample.received += 1
                        break
