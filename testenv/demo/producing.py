"""The demo's producer and counters: events at a steady rate, topic end offsets."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from testenv.demo.events import Fault, event_stream


async def create_topics(bootstrap: str, topics: Sequence[str], partitions: int) -> None:
    """Create the topics that do not exist yet."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [NewTopic(t, partitions, 1) for t in topics if t not in existing]
        if missing:
            with contextlib.suppress(TopicAlreadyExistsError):  # another process was quicker
                await admin.create_topics(missing)
    finally:
        await admin.close()


async def end_offsets(bootstrap: str, topics: Sequence[str]) -> dict[str, int]:
    """The sum of each topic's end offsets (how many records it ever received)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        described = await admin.describe_topics(list(topics))
    finally:
        await admin.close()
    partitions = [
        TopicPartition(entry["topic"], part["partition"])
        for entry in described
        for part in entry["partitions"]
    ]
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await consumer.start()
    try:
        ends = await consumer.end_offsets(partitions)
    finally:
        await consumer.stop()
    result = dict.fromkeys(topics, 0)
    for tp, end in ends.items():
        result[tp.topic] += end
    return result


@dataclass
class Produced:
    """What the producer has sent so far."""

    total: int = 0
    faults: Counter[Fault] = field(default_factory=Counter)

    @property
    def broken(self) -> int:
        """Records sent broken on purpose."""
        return sum(self.faults.values())


async def produce_forever(
    bootstrap: str, topic: str, rate: float, broken_share: float, produced: Produced, seed: int
) -> None:
    """Send about `rate` events per second (acknowledged, in batches of a tenth of a second)
    until cancelled; count them in `produced`."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    await producer.start()
    try:
        events = event_stream(seed=seed, broken_share=broken_share)
        tick = 0.1
        per_tick = max(1, round(rate * tick))
        next_tick = time.monotonic()
        while True:
            batch = [next(events) for _ in range(per_tick)]
            futures = [await producer.send(topic, e.value, key=e.key) for e in batch]
            await asyncio.gather(*futures)
            for event in batch:
                produced.total += 1
                if event.fault is not None:
                    produced.faults[event.fault] += 1
            next_tick += tick
            await asyncio.sleep(max(0.0, next_tick - time.monotonic()))
    finally:
        await producer.stop()
