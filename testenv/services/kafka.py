"""Apache Kafka in KRaft mode (one combined broker+controller) from Maven Central jars."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import shutil
import uuid
from pathlib import Path
from typing import Final

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from testenv.advertising import LOOPBACK
from testenv.errors import StackError
from testenv.layout import Layout
from testenv.processes import run_checked, spawn, wait_until
from testenv.progress import step
from testenv.services.base import Context

KAFKA_VERSION = "4.1.1"
POM = Path(__file__).resolve().parent.parent / "kafka" / "pom.xml"
MAVEN_DEPENDENCY_PLUGIN = "org.apache.maven.plugins:maven-dependency-plugin:3.8.1"


class Kafka:
    """Single-node KRaft cluster; every replication factor is 1 so transactions work."""

    name = "kafka"
    version = KAFKA_VERSION
    port_names: dict[str, int | None] = {"port": None, "controller": None}
    stop_timeout = 30.0

    def libs(self, layout: Layout) -> Path:
        """Folder with the broker's runtime jars."""
        return layout.cache / "kafka" / KAFKA_VERSION / "libs"

    def install(self, layout: Layout) -> None:
        """Collect the broker's jars with Maven (cached; a few seconds warm, ~1 min cold)."""
        libs = self.libs(layout)
        if (libs / f"kafka_2.13-{KAFKA_VERSION}.jar").exists():
            return
        if shutil.which("mvn") is None or shutil.which("java") is None:
            raise StackError("Kafka needs Java 17+ and Maven: apt-get install -y maven default-jdk")
        partial = libs.with_name("libs.partial")
        shutil.rmtree(partial, ignore_errors=True)
        with step(f"kafka {KAFKA_VERSION}: resolving jars from Maven Central"):
            run_checked(
                ["mvn", "-B", "-q", "-f", str(POM), f"-Dkafka.version={KAFKA_VERSION}"]
                + [f"{MAVEN_DEPENDENCY_PLUGIN}:copy-dependencies", "-DincludeScope=runtime"]
                + [f"-DoutputDirectory={partial}"],
                what="mvn copy-dependencies",
            )
        shutil.rmtree(libs, ignore_errors=True)
        partial.rename(libs)

    def start(self, ctx: Context) -> int:
        """Format the data dir once, start the broker, wait until it lists topics."""
        home = ctx.layout.service_dir(self.name)
        home.mkdir(parents=True, exist_ok=True)
        props = home / "server.properties"
        props.write_text(
            server_properties(home, ctx.ports["port"], ctx.ports["controller"], host=ctx.host)
        )
        classpath = f"{self.libs(ctx.layout)}/*"
        if not (home / "data" / "meta.properties").exists():
            cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
            with step("kafka: formatting storage"):
                run_checked(
                    storage_format_command(classpath, props, cluster_id),
                    what="kafka storage format",
                )
        log = ctx.layout.log_file(self.name)
        pid = spawn(
            ["java", "-Xms256m", "-Xmx768m", "-XX:+UseG1GC", "-Djava.awt.headless=true"]
            + ["-Dorg.slf4j.simpleLogger.defaultLogLevel=warn", "-cp", classpath]
            + ["kafka.Kafka", str(props)],
            log_file=log,
            cwd=home,
        )
        bootstrap = f"{ctx.host}:{ctx.ports['port']}"
        wait_until(
            lambda: asyncio.run(_accepts_writes(bootstrap)),
            what="kafka",
            timeout=90,
            pid=pid,
            log_file=log,
            interval=0.5,
        )
        return pid

    def env(self, ctx: Context) -> dict[str, str]:
        """Bootstrap servers of the broker."""
        return {"DQ_KAFKA_BOOTSTRAP": f"{ctx.host}:{ctx.ports['port']}"}


def server_properties(home: Path, port: int, controller: int, *, host: str = LOOPBACK) -> str:
    """server.properties of the single KRaft node: clients connect to `host` (the broker
    listens there and advertises it); the controller stays on loopback, only the node uses it."""
    settings = {
        "process.roles": "broker,controller",
        "node.id": "1",
        "controller.quorum.voters": f"1@{LOOPBACK}:{controller}",
        "listeners": f"PLAINTEXT://{host}:{port},CONTROLLER://{LOOPBACK}:{controller}",
        "advertised.listeners": f"PLAINTEXT://{host}:{port}",
        "controller.listener.names": "CONTROLLER",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "inter.broker.listener.name": "PLAINTEXT",
        "log.dirs": str(home / "data"),
        "num.partitions": "1",
        "default.replication.factor": "1",
        "offsets.topic.replication.factor": "1",
        "offsets.topic.num.partitions": "1",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "transaction.state.log.num.partitions": "1",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        "group.initial.rebalance.delay.ms": "0",
        "auto.create.topics.enable": "true",
        "log.flush.interval.messages": "9223372036854775807",
        "log.segment.bytes": "67108864",
        "log.retention.hours": "24",
        "message.max.bytes": "16777216",
        "replica.fetch.max.bytes": "16777216",
    }
    return "".join(f"{key}={value}\n" for key, value in settings.items())


READY_TOPIC: Final = "dataquarantine-testenv-ready"
"""A one-partition topic that the readiness probe writes to."""


async def _accepts_writes(bootstrap: str) -> bool:
    """Whether the broker serves clients: the probe topic exists (created on the first start)
    and takes an acknowledged write. Listing topics is not enough: a restarted broker answers
    metadata requests before it is unfenced, while new topics still get no leader."""
    # aiokafka logs every refused connection at ERROR while the broker boots: expected here.
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    try:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=3000)
        await admin.start()
        try:
            if READY_TOPIC not in await admin.list_topics():
                with contextlib.suppress(TopicAlreadyExistsError):
                    await admin.create_topics([NewTopic(READY_TOPIC, 1, 1)])
        finally:
            await admin.close()
        producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap, acks="all", request_timeout_ms=3000
        )
        await producer.start()
        try:
            await asyncio.wait_for(producer.send_and_wait(READY_TOPIC, b"ready"), 5)
        finally:
            await producer.stop()
    finally:
        logging.getLogger("aiokafka").setLevel(logging.NOTSET)
    return True


def storage_format_command(classpath: str, props: Path, cluster_id: str) -> list[str]:
    """`kafka-storage format`, options in `--name=value` form: a random base64url cluster id can
    start with `-`, which the tool's argument parser would take for an option."""
    return ["java", "-cp", classpath, "kafka.tools.StorageTool", "format"] + [
        f"--cluster-id={cluster_id}",
        f"--config={props}",
        "--ignore-formatted",
    ]
