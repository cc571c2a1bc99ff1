"""The composition root of `python -m validator_pod run`: settings in, a running validator out.

Builds, in order: the metrics registry and readiness, the probe server (so that probes answer
during start-up), the pipeline configuration and compiled schemas (a bad configuration exits
with status 2 and a message saying what is wrong), the S3 and PostgreSQL adapters, the migrations
and bucket (retried while the services are down), then the loop. SIGTERM or SIGINT stop it;
the exit status is 0 after a clean stop.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
from typing import Final

from prometheus_client import CollectorRegistry
from pydantic import SecretStr

from validator_pod.adapters.kafka import RebalanceHandler, RecordProducer, SourceConsumer
from validator_pod.adapters.metadata_db import MetadataDb
from validator_pod.adapters.object_store import ObjectStore
from validator_pod.domain.pipeline_config import Delivery, PipelineConfig
from validator_pod.health import HealthServer, Readiness
from validator_pod.metrics import ValidatorMetrics
from validator_pod.pipeline.config_loading import ConfigError, load_pipeline
from validator_pod.pipeline.planning import BatchPlanner
from validator_pod.pipeline.running import Retrier, ValidatorLoop, until_stopped
from validator_pod.settings import Settings
from validator_pod.validation.compiling import SchemaCompileError, compile_schemas
from validator_pod.validation.evaluating import RecordEvaluator

logger = logging.getLogger(__name__)

EXIT_OK: Final = 0
EXIT_CONFIG: Final = 2


def transactional_id(config: PipelineConfig, pod_name: str) -> str:
    """Stable per pod: a restarted pod with the same name fences its predecessor and settles
    the transaction it left open."""
    return f"{config.kafka.consumer_group}-{pod_name}"


async def run_validator(settings: Settings) -> int:
    """Run the validator until SIGTERM/SIGINT; return the process exit status."""
    try:
        loaded = load_pipeline(settings.config_dir)
        config = loaded.config
        evaluator = RecordEvaluator(config, compile_schemas(loaded.schemas))
    except (ConfigError, SchemaCompileError, ValueError) as exc:
        logger.error("invalid pipeline configuration: %s", exc)  # noqa: TRY400 - no traceback
        return EXIT_CONFIG
    missing = settings.missing("postgres_dsn", "s3_access_key", "s3_secret_key")
    if missing:
        logger.error("missing environment variables: %s", ", ".join(missing))
        return EXIT_CONFIG
    context = {"pipeline": config.name}

    registry = CollectorRegistry()
    metrics = ValidatorMetrics(registry, config.name)
    readiness = Readiness(context)
    readiness.set_problem("starting", "connecting to Kafka, S3 and PostgreSQL")
    health = HealthServer(readiness, registry)
    await health.start(settings.bind_address, settings.metrics_port)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)

    storage = config.storage
    store = ObjectStore.connect(
        endpoint=storage.endpoint,
        access_key=_secret(settings.s3_access_key),
        secret_key=_secret(settings.s3_secret_key),
        bucket=storage.bucket,
        secure=storage.secure,
        region=storage.region,
    )
    db = await MetadataDb.connect(_secret(settings.postgres_dsn))
    retrier = Retrier(readiness, metrics)
    connection = settings.kafka_connection(config.kafka.bootstrap_servers)
    exactly_once = config.delivery is Delivery.EXACTLY_ONCE

    async def start_consumer(handler: RebalanceHandler) -> SourceConsumer:
        return await SourceConsumer.start(
            connection,
            topics=config.topics.sources,
            group_id=config.kafka.consumer_group,
            handler=handler,
            read_committed=exactly_once,
            client_id=f"dataquarantine-{config.name}-{settings.pod_name}",
        )

    async def start_producer() -> RecordProducer:
        return await RecordProducer.start(
            connection,
            transactional_id=transactional_id(config, settings.pod_name) if exactly_once else None,
            client_id=f"dataquarantine-{config.name}-{settings.pod_name}",
        )

    validator = ValidatorLoop(
        config=config,
        planner=BatchPlanner(config, evaluator, task_id=settings.pod_name, bucket=storage.bucket),
        start_consumer=start_consumer,
        start_producer=start_producer,
        store=store,
        db=db,
        metrics=metrics,
        readiness=readiness,
        retrier=retrier,
    )
    # Everything built so far lives as long as the process: keep it out of the collector's
    # full collections, which otherwise scan it over and over under a flood of invalid records.
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
    try:
        prepared, _ = await until_stopped(_prepare_storage(retrier, db, store), stopping)
        if prepared:
            logger.info(
                "starting",
                extra={**context, "pod": settings.pod_name, "delivery": config.delivery.value},
            )
            await validator.run(stopping)
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
        await db.close()
        await store.close()
        await health.stop()
    logger.info("stopped", extra=context)
    return EXIT_OK


GC_THRESHOLDS: Final = (100_000, 20, 10)
"""The cycle collector's thresholds while the loop runs (CPython's default is 700, 10, 10).
A batch in flight keeps tens of thousands of young objects alive (decoded records, outcomes,
outgoing records); with the default, every collection scanned them and promoted them, so
they were scanned again in older generations. Collecting young objects every 100,000
allocations lets most of a batch die by reference counting first. Measured with
`python -m bench --profile` (50,000 records): GC 27 µs → 3 µs per record at 100% invalid,
5.8 → 2.3 µs at 5% invalid; peak RSS unchanged (190 MB)."""


async def _prepare_storage(retrier: Retrier, db: MetadataDb, store: ObjectStore) -> None:
    applied = await retrier.call(db.migrate)
    if applied:
        logger.info("applied database migrations %s", list(applied))
    await retrier.call(store.ensure_bucket)


def _secret(value: SecretStr | None) -> str:
    return "" if value is None else value.get_secret_value()
