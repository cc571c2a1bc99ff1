"""Drives a real validator process against the local stack: topics, config, produce, read back."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import yaml
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError
from miniopy_async.api import Minio
from miniopy_async.deleteobjects import DeleteObject

from tests.conftest import StackEnv
from validator_pod.domain.pipeline_config import (
    Batching,
    Breaker,
    Delivery,
    KafkaBinding,
    ObjectStorage,
    PipelineConfig,
    SchemaRef,
    SchemaSelection,
    Topics,
    schema_file_name,
)
from validator_pod.domain.schemas import Rule, SchemaType, SchemaVersion

REPO = Path(__file__).resolve().parents[3]

ORDER_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["id", "amount", "currency"],
    "properties": {
        "id": {"type": "integer", "minimum": 0},
        "amount": {"type": "number", "minimum": 0},
        "currency": {"type": "string", "enum": ["EUR", "USD"]},
        "note": {"type": "string", "maxLength": 100},
        "items": {"type": "array"},
    },
}
ORDER_RULES = (Rule(name="not-thirteen", expression="record.id != 13", message="id 13 is unlucky"),)


def order(i: int, **changes: Any) -> bytes:
    """A valid order as JSON bytes, with `changes` applied."""
    document: dict[str, Any] = {"id": i, "amount": 10.5, "currency": "EUR", **changes}
    return json.dumps(document).encode()


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Pipeline:
    """One test's pipeline: its topics, bucket, config directory and process environment."""

    stack: StackEnv
    name: str
    namespace: str
    source: str
    valid: str
    quarantine: str
    bucket: str
    group: str
    config_dir: Path
    partitions: int
    delivery: Delivery
    config: PipelineConfig = field(init=False)

    def write_config(
        self, *, breaker: Breaker | None = None, batching: Batching | None = None
    ) -> None:
        """Write pipeline.yaml and the order schema into the config directory."""
        ref = SchemaRef(name="orders", version=1)
        self.config = PipelineConfig(
            name=self.name,
            namespace=self.namespace,
            kafka=KafkaBinding(
                bootstrap_servers=self.stack.kafka_bootstrap, consumer_group=self.group
            ),
            topics=Topics(sources=(self.source,), valid=self.valid, quarantine=self.quarantine),
            schema_selection=SchemaSelection(default=ref),
            delivery=self.delivery,
            storage=ObjectStorage(endpoint=self.stack.s3_endpoint, bucket=self.bucket),
            breaker=breaker or Breaker(),
            batching=batching or Batching(max_records=500, max_wait_ms=5),
        )
        self.config_dir.mkdir(parents=True, exist_ok=True)
        (self.config_dir / "pipeline.yaml").write_text(
            yaml.safe_dump(self.config.model_dump(mode="json", by_alias=True))
        )
        schema = SchemaVersion(
            name="orders",
            version=1,
            type=SchemaType.JSON_SCHEMA,
            schema=ORDER_SCHEMA,
            rules=ORDER_RULES,
        )
        path = self.config_dir / schema_file_name(ref)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(schema.model_dump_json(by_alias=True))

    def environ(self, pod: str, metrics_port: int) -> dict[str, str]:
        """The validator's environment, as the operator would render it."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("DQ_")}
        env.update(
            DQ_CONFIG_DIR=str(self.config_dir),
            DQ_POSTGRES_DSN=self.stack.postgres_dsn,
            DQ_S3_ACCESS_KEY=self.stack.s3_access_key,
            DQ_S3_SECRET_KEY=self.stack.s3_secret_key,
            DQ_POD_NAME=pod,
            DQ_METRICS_PORT=str(metrics_port),
            DQ_LOG_LEVEL="INFO",
        )
        return env

    async def create_topics(self, *, max_message_bytes: int | None = None) -> None:
        """Source with `partitions` partitions; sinks with as many."""
        configs = {} if max_message_bytes is None else {"max.message.bytes": str(max_message_bytes)}
        admin = AIOKafkaAdminClient(bootstrap_servers=self.stack.kafka_bootstrap)
        await admin.start()
        try:
            await admin.create_topics(
                [
                    NewTopic(topic, self.partitions, 1, topic_configs=configs)
                    for topic in (self.source, self.valid, self.quarantine)
                ]
            )
        finally:
            await admin.close()

    async def delete_topics(self) -> None:
        """Delete the pipeline's topics (best effort)."""
        admin = AIOKafkaAdminClient(bootstrap_servers=self.stack.kafka_bootstrap)
        await admin.start()
        try:
            await admin.delete_topics([self.source, self.valid, self.quarantine])
        except KafkaError:
            pass
        finally:
            await admin.close()

    async def delete_bucket(self) -> None:
        """Delete the pipeline's bucket and its objects, if it exists."""
        client = s3_client(self.stack)
        try:
            if not await client.bucket_exists(self.bucket):
                return
            names = [
                DeleteObject(item.object_name)
                async for item in client.list_objects(self.bucket, recursive=True)
            ]
            if names:
                async for error in client.remove_objects(self.bucket, names):
                    raise AssertionError(f"could not delete {error}")
            await client.remove_bucket(self.bucket)
        finally:
            await client.close_session()


def s3_client(stack: StackEnv) -> Minio:
    """A client of the stack's S3 server."""
    return Minio(
        stack.s3_endpoint,
        access_key=stack.s3_access_key,
        secret_key=stack.s3_secret_key,
        secure=False,
    )


async def ranged_get(stack: StackEnv, uri: str, offset: int, length: int) -> bytes:
    """`length` bytes at `offset` of the object at an s3:// URI."""
    bucket, key = uri.removeprefix("s3://").split("/", 1)
    client = s3_client(stack)
    try:
        response = await client.get_object(bucket, key, offset=offset, length=length)
        try:
            data: bytes = await response.read()
            return data
        finally:
            response.release()
    finally:
        await client.close_session()


class ValidatorProcess:
    """`python -m validator_pod run` as a child process, with its own probe port and log."""

    def __init__(self, pipeline: Pipeline, pod: str, log_dir: Path) -> None:
        self.pipeline = pipeline
        self.pod = pod
        self.port = free_port()
        self.log_path = log_dir / f"{pod}.log"
        self._log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "validator_pod",
                "run",
                "--config-dir",
                str(pipeline.config_dir),
            ],
            cwd=REPO,
            env=pipeline.environ(pod, self.port),
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def probe(self, path: str) -> tuple[int, bytes]:
        """GET a probe path; (0, b"") when the server does not answer."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=2) as reply:
                return reply.status, reply.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()
        except OSError:
            return 0, b""

    def readiness(self) -> tuple[int, dict[str, Any]]:
        """/readyz status and body."""
        status, body = self.probe("/readyz")
        return status, json.loads(body) if body else {}

    async def wait_ready(self, within: float = 30.0) -> None:
        """Wait until /readyz says ready; fail with the log tail otherwise."""
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"validator exited {self.process.returncode}:\n{self.tail()}")
            if (await asyncio.to_thread(self.readiness))[0] == 200:
                return
            await asyncio.sleep(0.2)
        raise AssertionError(f"validator not ready after {within}s:\n{self.tail()}")

    def terminate(self, timeout: float = 40.0) -> int:
        """SIGTERM, then wait for the exit status."""
        self.process.send_signal(signal.SIGTERM)
        return self.wait(timeout)

    def kill(self) -> None:
        """SIGKILL (kill -9)."""
        self.process.kill()
        self.process.wait(10)

    def wait(self, timeout: float) -> int:
        """The exit status (fails with the log tail on timeout)."""
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired as exc:
            self.process.kill()
            self.process.wait(10)
            raise AssertionError(f"validator did not exit in {timeout}s:\n{self.tail()}") from exc

    def close(self) -> None:
        """Kill if still running; close the log."""
        if self.process.poll() is None:
            self.kill()
        self._log.close()

    def tail(self, lines: int = 40) -> str:
        """The end of the process's log."""
        self._log.flush()
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def log_lines(self) -> list[dict[str, Any]]:
        """The JSON log lines so far."""
        self._log.flush()
        lines = self.log_path.read_text(errors="replace").splitlines()
        return [json.loads(line) for line in lines if line.startswith("{")]


@dataclass(frozen=True)
class Produced:
    """A record to produce: key, value, headers, partition."""

    value: bytes | None
    key: bytes | None = None
    headers: Sequence[tuple[str, bytes]] = ()
    partition: int = 0
    timestamp_ms: int | None = None


async def produce(
    bootstrap: str, topic: str, records: Iterable[Produced], *, max_request_size: int = 1048576
) -> None:
    """Produce records in order per partition, acknowledged, using batches."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        max_batch_size=256 * 1024,
        max_request_size=max_request_size,
        linger_ms=5,
    )
    await producer.start()
    try:
        await asyncio.gather(*await send_each(producer, topic, records))
    finally:
        await producer.stop()


async def send_each(
    producer: AIOKafkaProducer, topic: str, records: Iterable[Produced]
) -> list[asyncio.Future[Any]]:
    """Queue every record (key, headers, partition and timestamp kept), in order; each future
    settles when the record is acknowledged."""
    return [
        await producer.send(
            topic,
            record.value,
            key=record.key,
            headers=list(record.headers),
            partition=record.partition,
            timestamp_ms=record.timestamp_ms,
        )
        for record in records
    ]


async def read_topic(
    bootstrap: str,
    topic: str,
    partitions: int,
    *,
    read_committed: bool = False,
    within: float = 60.0,
) -> list[ConsumerRecord]:
    """Every record of `topic` up to its current end (last stable offset when read_committed)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        isolation_level="read_committed" if read_committed else "read_uncommitted",
        max_partition_fetch_bytes=8 * 1024 * 1024,
        fetch_max_bytes=64 * 1024 * 1024,
    )
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        records: list[ConsumerRecord] = []
        deadline = time.monotonic() + within
        while True:
            positions = {tp: await consumer.position(tp) for tp in tps}
            if all(positions[tp] >= ends[tp] for tp in tps):
                return records
            if time.monotonic() > deadline:
                raise AssertionError(f"reading {topic}: at {positions}, end {ends}")
            batch = await consumer.getmany(timeout_ms=200, max_records=10_000)
            for tp_records in batch.values():
                records.extend(tp_records)
    finally:
        await consumer.stop()


async def wait_for_count(
    bootstrap: str, topics: Sequence[str], partitions: int, expected: int, within: float
) -> None:
    """Wait until the topics' end offsets add up to at least `expected`."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for topic in topics for p in range(partitions)]
        deadline = time.monotonic() + within
        while True:
            total = sum((await consumer.end_offsets(tps)).values())
            if total >= expected:
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"{topics}: {total} records after {within}s, want {expected}")
            await asyncio.sleep(0.25)
    finally:
        await consumer.stop()


async def committed_offsets(
    bootstrap: str, group: str, topic: str, partitions: int
) -> dict[int, int]:
    """The group's committed next-offsets per partition (0 when none)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False
    )
    await consumer.start()
    try:
        result = {}
        for p in range(partitions):
            committed = await consumer.committed(TopicPartition(topic, p))
            result[p] = committed or 0
        return result
    finally:
        await consumer.stop()


async def quarantine_rows(dsn: str, pipeline: str) -> list[asyncpg.Record]:
    """Every quarantine row of a pipeline, by partition and offset."""
    conn = await asyncpg.connect(dsn)
    try:
        return await conn.fetch(
            "SELECT * FROM quarantine_records WHERE pipeline = $1 "
            "ORDER BY kafka_partition, kafka_offset",
            pipeline,
        )
    finally:
        await conn.close()


def header(record: ConsumerRecord, name: str) -> bytes | None:
    """The last value of a header, or None."""
    found = None
    for key, value in record.headers:
        if key == name:
            found = value
    return found


def numbered(start: int, count: int, *, partitions: int, invalid_every: int) -> list[Produced]:
    """Orders with ids start…start+count-1, spread over partitions by id; every
    `invalid_every`-th one has a negative amount (a schema violation)."""
    return [
        Produced(
            order(i, amount=-1) if invalid_every and i % invalid_every == 0 else order(i),
            key=str(i).encode(),
            partition=i % partitions,
        )
        for i in range(start, start + count)
    ]


async def produce_slowly(
    bootstrap: str, topic: str, records: Sequence[Produced], *, per_second: float
) -> None:
    """Produce in chunks of a tenth of a second's worth, at about `per_second`."""
    chunk = max(1, int(per_second / 10))
    for start in range(0, len(records), chunk):
        began = time.monotonic()
        await produce(bootstrap, topic, records[start : start + chunk])
        await asyncio.sleep(max(0.0, 0.1 - (time.monotonic() - began)))


@dataclass(frozen=True)
class Outputs:
    """The order ids found on the valid and dead-letter topics."""

    valid: list[int]
    dead: list[int]

    @property
    def ids(self) -> set[int]:
        """Every id that came out."""
        return set(self.valid) | set(self.dead)


async def outputs(pipeline: Pipeline, *, read_committed: bool = False) -> Outputs:
    """The order ids on the pipeline's sinks (records that are not orders are ignored)."""
    found = []
    for topic in (pipeline.valid, pipeline.quarantine):
        records = await read_topic(
            pipeline.stack.kafka_bootstrap,
            topic,
            pipeline.partitions,
            read_committed=read_committed,
        )
        found.append([json.loads(r.value)["id"] for r in records])
    return Outputs(valid=found[0], dead=found[1])


async def sink_count(pipeline: Pipeline) -> int:
    """Records (and transaction markers) on both sinks: their end offsets added up."""
    consumer = AIOKafkaConsumer(bootstrap_servers=pipeline.stack.kafka_bootstrap)
    await consumer.start()
    try:
        tps = [
            TopicPartition(topic, p)
            for topic in (pipeline.valid, pipeline.quarantine)
            for p in range(pipeline.partitions)
        ]
        return sum((await consumer.end_offsets(tps)).values())
    finally:
        await consumer.stop()


async def wait_for_ids(
    pipeline: Pipeline, expected: set[int], within: float, *, read_committed: bool = False
) -> Outputs:
    """Wait until every expected id came out on the sinks."""
    deadline = time.monotonic() + within
    while True:
        if await sink_count(pipeline) >= len(expected):
            found = await outputs(pipeline, read_committed=read_committed)
            if expected <= found.ids:
                return found
        if time.monotonic() > deadline:
            found = await outputs(pipeline, read_committed=read_committed)
            missing = sorted(expected - found.ids)
            raise AssertionError(f"{len(missing)} ids missing after {within}s: {missing[:20]}")
        await asyncio.sleep(0.5)


async def wait_until_sinks_hold(
    pipeline: Pipeline, count: int, within: float = 60.0, *, poll: float = 0.02
) -> None:
    """Wait until the sinks hold at least `count` records (and markers)."""
    deadline = time.monotonic() + within
    while True:
        if await sink_count(pipeline) >= count:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"the sinks hold fewer than {count} records after {within}s")
        await asyncio.sleep(poll)
