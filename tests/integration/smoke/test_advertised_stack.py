"""A stack brought up with `--advertise HOST` serves Kafka, PostgreSQL and S3 clients at HOST, this
machine's non-loopback IPv4 address (kind's pods reach the gateway of Docker's bridge the same
way), and keeps HOST when one stopped service is started again.

It runs a private stack (kafka, postgres, s3) in a state directory of its own, never the shared
one, and stops it at the end.
"""

from __future__ import annotations

import asyncio
import io
import os
import shutil
import socket
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from miniopy_async import Minio

from testenv.advertising import local_interfaces
from testenv.errors import StackError
from testenv.layout import REPO_ROOT, Layout
from testenv.stack import Stack

SERVICES = ["postgres", "s3", "kafka"]


def non_loopback_ipv4() -> str | None:
    """The first IPv4 address of this machine outside 127.0.0.0/8 (`ip -o -4 addr show`)."""
    for interface in local_interfaces():
        if not interface.ip.is_loopback:
            return str(interface.ip)
    return None


@dataclass(frozen=True)
class AdvertisedStack:
    """The private stack, the address it was brought up at, and its env file."""

    stack: Stack
    host: str
    env: dict[str, str]


@pytest.fixture(scope="module")
def advertised_stack() -> Iterator[AdvertisedStack]:
    host = non_loopback_ipv4()
    if host is None:
        pytest.skip("this machine has no non-loopback IPv4 address to advertise")
    # mkdtemp is private to its creator; PostgreSQL runs as the postgres user and must reach
    # its data directory below it
    state = Path(tempfile.mkdtemp(prefix="dq-advertised-"))
    state.chmod(0o755)
    stack = Stack(Layout(cache=Layout.from_environment().cache, state=state / "stack"))
    try:
        try:
            stack.up(SERVICES, advertise=host)
        except StackError as exc:
            pytest.fail(f"the advertised stack could not start: {exc}", pytrace=False)
        yield AdvertisedStack(stack=stack, host=host, env=stack.env())
    finally:
        stack.down()
        shutil.rmtree(state, ignore_errors=True)


def refuses(host: str, port: int) -> bool:
    """True when nothing accepts connections at host:port."""
    try:
        socket.create_connection((host, port), timeout=2).close()
    except ConnectionRefusedError:
        return True
    return False


def test_the_env_file_names_the_advertised_address_for_every_data_service(
    advertised_stack: AdvertisedStack,
) -> None:
    host, env = advertised_stack.host, advertised_stack.env

    assert env["DQ_KAFKA_BOOTSTRAP"].startswith(f"{host}:")
    assert env["DQ_POSTGRES_DSN"].startswith(f"postgresql://postgres@{host}:")
    assert env["DQ_S3_ENDPOINT"].startswith(f"{host}:")
    # Kafka listens at the advertised address only, not on every interface
    kafka_port = int(env["DQ_KAFKA_BOOTSTRAP"].rsplit(":", 1)[1])
    assert refuses("127.0.0.1", kafka_port)


async def test_kafka_clients_produce_and_consume_through_the_advertised_bootstrap(
    advertised_stack: AdvertisedStack, unique_name: str
) -> None:
    bootstrap, host = advertised_stack.env["DQ_KAFKA_BOOTSTRAP"], advertised_stack.host
    topic = f"advertised-{unique_name}"
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(topic, b"through-the-advertised-listener")
        # the broker the metadata names, which clients connect to next, is at HOST too
        assert {broker.host for broker in producer.client.cluster.brokers()} == {host}
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=unique_name
    )
    await consumer.start()
    try:
        record = await asyncio.wait_for(consumer.getone(), timeout=30)
    finally:
        await consumer.stop()
    assert record.value == b"through-the-advertised-listener"


async def test_asyncpg_connects_through_the_advertised_dsn(
    advertised_stack: AdvertisedStack,
) -> None:
    conn = await asyncpg.connect(advertised_stack.env["DQ_POSTGRES_DSN"])
    try:
        server, client = await conn.fetchrow(
            "SELECT host(inet_server_addr()), host(inet_client_addr())"
        )
    finally:
        await conn.close()
    # a TCP connection to HOST, admitted by the pg_hba entry for HOST's network
    assert (server, client) == (advertised_stack.host, advertised_stack.host)


async def test_s3_objects_are_written_and_read_through_the_advertised_endpoint(
    advertised_stack: AdvertisedStack, unique_name: str
) -> None:
    env = advertised_stack.env
    client = Minio(
        env["DQ_S3_ENDPOINT"],
        access_key=env["DQ_S3_ACCESS_KEY"],
        secret_key=env["DQ_S3_SECRET_KEY"],
        secure=False,
    )
    bucket = unique_name[:63]
    payload = b"segment-through-the-advertised-endpoint" * 100
    try:
        await client.make_bucket(bucket)
        await client.put_object(bucket, "p0/0-99.seg", io.BytesIO(payload), len(payload))
        response = await client.get_object(bucket, "p0/0-99.seg")
        try:
            assert await response.read() == payload
        finally:
            response.release()
        await client.remove_object(bucket, "p0/0-99.seg")
        await client.remove_bucket(bucket)
    finally:
        await client.close_session()


async def test_a_stopped_service_started_again_without_the_option_keeps_the_address(
    advertised_stack: AdvertisedStack,
) -> None:
    stack, host = advertised_stack.stack, advertised_stack.host
    stack.stop_service("postgres")

    # what fault tests run: `python -m testenv up postgres`, without --advertise
    environ = {**os.environ, "DQ_STATE": str(stack.layout.state)}
    environ.pop("DQ_ADVERTISE_HOST", None)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "testenv",
        "up",
        "postgres",
        cwd=REPO_ROOT,
        env=environ,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await process.communicate()

    assert process.returncode == 0, stderr.decode()
    assert f"address: {host} " in stdout.decode()
    assert stack.env() == advertised_stack.env
    conn = await asyncpg.connect(stack.env()["DQ_POSTGRES_DSN"])
    try:
        assert await conn.fetchval("SELECT host(inet_server_addr())") == host
    finally:
        await conn.close()
