"""The local Kafka broker works with aiokafka the way the validator uses it."""

from __future__ import annotations

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from tests.conftest import StackEnv


async def _create_topic(bootstrap: str, topic: str, partitions: int = 1) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, partitions, 1)])
    finally:
        await admin.close()


async def _drain(consumer: AIOKafkaConsumer, expected: int) -> list[bytes]:
    values: list[bytes] = []
    for _ in range(50):
        batches = await consumer.getmany(timeout_ms=200)
        for records in batches.values():
            values.extend(r.value for r in records if r.value is not None)
        if len(values) >= expected:
            break
    return values


async def test_a_consumer_group_resumes_after_its_last_manual_commit(
    stack_env: StackEnv, unique_name: str
) -> None:
    topic = f"smoke-{unique_name}"
    await _create_topic(stack_env.kafka_bootstrap, topic)
    producer = AIOKafkaProducer(bootstrap_servers=stack_env.kafka_bootstrap)
    await producer.start()
    try:
        for i in range(10):
            await producer.send(topic, f"m{i}".encode(), headers=[("h", b"v")])
        await producer.flush()
    finally:
        await producer.stop()

    def consumer() -> AIOKafkaConsumer:
        return AIOKafkaConsumer(
            topic,
            bootstrap_servers=stack_env.kafka_bootstrap,
            group_id=f"g-{unique_name}",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
        )

    first = consumer()
    await first.start()
    try:
        tp = TopicPartition(topic, 0)
        batch = await first.getmany(tp, timeout_ms=5000, max_records=4)
        seen = [r.value for r in batch[tp]]
        assert seen == [b"m0", b"m1", b"m2", b"m3"]
        assert batch[tp][0].headers == (("h", b"v"),)
        await first.commit({tp: batch[tp][-1].offset + 1})
    finally:
        await first.stop()

    second = consumer()
    await second.start()
    try:
        rest = await _drain(second, expected=6)
    finally:
        await second.stop()
    assert rest == [f"m{i}".encode() for i in range(4, 10)]


async def test_read_committed_consumers_see_committed_transactions_and_not_aborted_ones(
    stack_env: StackEnv, unique_name: str
) -> None:
    topic = f"smoke-tx-{unique_name}"
    await _create_topic(stack_env.kafka_bootstrap, topic)
    producer = AIOKafkaProducer(
        bootstrap_servers=stack_env.kafka_bootstrap, transactional_id=f"tx-{unique_name}"
    )
    await producer.start()
    try:
        async with producer.transaction():
            await producer.send(topic, b"committed-1")
            await producer.send(topic, b"committed-2")
        await producer.begin_transaction()
        await producer.send(topic, b"aborted")
        await producer.abort_transaction()
        async with producer.transaction():
            await producer.send(topic, b"committed-3")
    finally:
        await producer.stop()

    committed = AIOKafkaConsumer(
        topic,
        bootstrap_servers=stack_env.kafka_bootstrap,
        isolation_level="read_committed",
        auto_offset_reset="earliest",
    )
    uncommitted = AIOKafkaConsumer(
        topic,
        bootstrap_servers=stack_env.kafka_bootstrap,
        isolation_level="read_uncommitted",
        auto_offset_reset="earliest",
    )
    await committed.start()
    await uncommitted.start()
    try:
        assert await _drain(committed, expected=3) == [
            b"committed-1",
            b"committed-2",
            b"committed-3",
        ]
        assert b"aborted" in await _drain(uncommitted, expected=4)
    finally:
        await committed.stop()
        await uncommitted.stop()
