"""The API process's resources: built by the app's lifespan, handed to routes by dependencies.

Start-up connects nothing eagerly that may be down: the asyncpg pool and the S3 client connect
lazily and Kafka on first use, so the API starts (and answers /healthz, and /readyz with the
reason) while a dependency is unavailable. Migrations are retried in the background; the
periodic work (bulk replays, settling abandoned claims, retention) starts once they are applied.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from validator_pod.adapters.errors import AdapterError
from validator_pod.adapters.metadata_db import MetadataDb
from validator_pod.adapters.quarantine_queries import QuarantineQueries
from validator_pod.adapters.segment_store import SegmentStore
from validator_pod.domain.pipeline_config import PipelineConfig
from validator_pod.pipeline.backoff import Backoff
from validator_pod.pipeline.config_loading import ConfigError
from validator_pod.settings import Settings
from validator_pod.web.catalog import SchemaCatalog
from validator_pod.web.metrics import ApiMetrics
from validator_pod.web.replay_runner import ReplaySupervisor
from validator_pod.web.replaying import KafkaClients, Replayer
from validator_pod.web.retention import RetentionPurger
from validator_pod.web.settings import ApiSettings

logger = logging.getLogger(__name__)

_PROBE_TIMEOUT = 3.0


@dataclass(slots=True)
class ApiServices:
    """Everything the routes use, for one pipeline."""

    config: PipelineConfig
    settings: ApiSettings
    db: MetadataDb
    queries: QuarantineQueries
    store: SegmentStore
    kafka: KafkaClients
    catalog: SchemaCatalog
    replayer: Replayer
    supervisor: ReplaySupervisor
    purger: RetentionPurger
    metrics: ApiMetrics
    migrated: asyncio.Event = field(default_factory=asyncio.Event)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    @classmethod
    async def start(
        cls,
        *,
        settings: Settings,
        api_settings: ApiSettings,
        config: PipelineConfig,
        config_dir: Path,
        metrics: ApiMetrics,
    ) -> ApiServices:
        """Build the adapters and start the background work (inside a running loop)."""
        dsn = settings.postgres_dsn
        access_key = settings.s3_access_key
        secret_key = settings.s3_secret_key
        if dsn is None or access_key is None or secret_key is None:
            raise ConfigError("the API needs DQ_POSTGRES_DSN, DQ_S3_ACCESS_KEY, DQ_S3_SECRET_KEY")
        db = await MetadataDb.connect(dsn.get_secret_value(), max_size=api_settings.db_pool_size)
        storage = config.storage
        store = SegmentStore.connect(
            endpoint=storage.endpoint,
            access_key=access_key.get_secret_value(),
            secret_key=secret_key.get_secret_value(),
            bucket=storage.bucket,
            secure=storage.secure,
            region=storage.region,
        )
        queries = QuarantineQueries(db.pool, namespace=config.namespace, pipeline=config.name)
        kafka = KafkaClients(
            settings.kafka_connection(config.kafka.bootstrap_servers),
            client_id=f"dataquarantine-api-{config.namespace}-{config.name}",
        )
        catalog = SchemaCatalog(config_dir, config)
        replayer = Replayer(
            config=config,
            queries=queries,
            store=store,
            kafka=kafka,
            catalog=catalog,
            metrics=metrics,
            settings=api_settings,
        )
        services = cls(
            config=config,
            settings=api_settings,
            db=db,
            queries=queries,
            store=store,
            kafka=kafka,
            catalog=catalog,
            replayer=replayer,
            supervisor=ReplaySupervisor(queries=queries, replayer=replayer, settings=api_settings),
            purger=RetentionPurger(
                queries=queries,
                store=store,
                catalog=catalog,
                metrics=metrics,
                settings=api_settings,
            ),
            metrics=metrics,
        )
        services._spawn(services._migrate_then_work(), "migrate")
        return services

    def _spawn(self, work: Awaitable[None], name: str) -> None:
        async def guarded() -> None:
            try:
                await work
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("background task %s crashed", name)
                raise

        self._tasks.append(asyncio.create_task(guarded(), name=f"dq-api-{name}"))

    async def _migrate_then_work(self) -> None:
        backoff = Backoff(initial=0.5, maximum=30.0)
        while True:
            try:
                applied = await self.db.migrate()
                break
            except AdapterError as exc:
                if not exc.retriable:
                    raise
                delay = backoff.next_delay()
                logger.warning("migrations not applied, retrying in %.1fs: %s", delay, exc)
                await asyncio.sleep(delay)
        if applied:
            logger.info("applied migrations %s", list(applied))
        self.migrated.set()
        self._spawn(self.supervisor.run(), "replays")
        self._spawn(
            self._every(self.settings.recovery_interval.total_seconds(), self._settle), "settle"
        )
        if self.settings.retention_interval.total_seconds() > 0:
            self._spawn(self.purger.run(), "retention")

    async def _settle(self) -> None:
        await self.replayer.settle_abandoned()

    async def _every(self, seconds: float, work: Callable[[], Awaitable[object]]) -> None:
        while True:
            try:
                await work()
            except AdapterError as exc:
                logger.warning("periodic work failed, retried later: %s", exc)
            await asyncio.sleep(seconds)

    async def stop(self) -> None:
        """Stop the background work and close the clients."""
        await self.supervisor.stop()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        with contextlib.suppress(Exception):
            await self.kafka.close()
        await self.store.close()
        await self.db.close()

    async def readiness(self) -> dict[str, str]:
        """ "ok" or the reason, for PostgreSQL (and its migrations) and S3."""
        checks: dict[str, str] = {}
        for name, probe in (("postgres", self.db.ping), ("s3", self.store.check)):
            try:
                async with asyncio.timeout(_PROBE_TIMEOUT):
                    await probe()
            except AdapterError as exc:
                checks[name] = str(exc)
            except TimeoutError:
                checks[name] = f"no answer within {_PROBE_TIMEOUT:g}s"
            else:
                checks[name] = "ok"
        checks["migrations"] = "ok" if self.migrated.is_set() else "not applied yet"
        return checks

    async def refresh_oldest_age(self) -> None:
        """Update `dataquarantine_oldest_quarantined_age_seconds` from PostgreSQL."""
        async with asyncio.timeout(_PROBE_TIMEOUT):
            oldest, now = await self.queries.oldest_quarantined()
        self.metrics.set_oldest(oldest, now)
