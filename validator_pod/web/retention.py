"""Retention: records older than the pipeline's `retention` are deleted from PostgreSQL, and their
segments from S3 once no row points into them any more.

Runs periodically in the API process and on demand (admin endpoint). A session advisory lock per
pipeline (namespace and name) keeps replicas from purging at the same time. Claimed records (a
replay in flight) are left for the next run. A crash between deleting rows and deleting their
segments leaves those segments behind; a bucket lifecycle rule that expires objects some time
after the retention is the backstop for that.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime

from validator_pod.adapters.errors import AdapterError
from validator_pod.adapters.quarantine_queries import NewEvent, QuarantineQueries, advisory_key
from validator_pod.adapters.segment_store import SegmentStore
from validator_pod.pipeline.backoff import Backoff
from validator_pod.web.catalog import SchemaCatalog
from validator_pod.web.metrics import ApiMetrics
from validator_pod.web.settings import ApiSettings

logger = logging.getLogger(__name__)

ACTION_PURGE = "purge"
RETENTION_ACTOR = "retention"


@dataclass(frozen=True, slots=True)
class Purged:
    """What one purge deleted (a dry run: what it would delete, segments not counted)."""

    older_than: datetime
    records_deleted: int
    segments_removed: int


class RetentionPurger:
    """Deletes one pipeline's expired records and emptied segments."""

    def __init__(
        self,
        *,
        queries: QuarantineQueries,
        store: SegmentStore,
        catalog: SchemaCatalog,
        metrics: ApiMetrics,
        settings: ApiSettings,
    ) -> None:
        """The retention is read from the pipeline's configuration at each run."""
        self._queries = queries
        self._store = store
        self._catalog = catalog
        self._metrics = metrics
        self._settings = settings

    async def purge(self, *, actor: str, dry_run: bool = False) -> Purged:
        """Delete records created more than the retention ago (by the database's clock) and
        the segments nothing points into any more; record one `purge` event when anything was
        deleted. Another process purging at the same time makes this one a no-op."""
        now = await self._queries.database_now()
        older_than = now - self._catalog.config().retention
        if dry_run:
            return Purged(older_than, await self._queries.count_expired(older_than), 0)
        lock = advisory_key(f"retention/{self._queries.namespace}/{self._queries.pipeline}")
        async with self._queries.advisory_lock(lock) as locked:
            if not locked:
                return Purged(older_than, 0, 0)
            deleted = 0
            uris: set[str] = set()
            batch = self._settings.retention_batch
            while True:
                count, segment_uris = await self._queries.delete_expired(older_than, limit=batch)
                deleted += count
                uris |= segment_uris
                if count < batch:
                    break
            removed = await self._store.remove(await self._queries.unreferenced_segments(uris))
        if deleted:
            await self._queries.append_events(
                [
                    NewEvent(
                        None,
                        {
                            "older_than": older_than.isoformat(),
                            "records_deleted": deleted,
                            "segments_removed": removed,
                        },
                    )
                ],
                actor=actor,
                action=ACTION_PURGE,
            )
            logger.info(
                "retention purge: %d records, %d segments",
                deleted,
                removed,
                extra={
                    "namespace": self._queries.namespace,
                    "pipeline": self._queries.pipeline,
                    "older_than": older_than.isoformat(),
                },
            )
        self._metrics.count_purged(deleted)
        return Purged(older_than, deleted, removed)

    async def run(self) -> None:
        """Purge every `retention_interval` until cancelled (failures are retried sooner)."""
        interval = self._settings.retention_interval.total_seconds()
        backoff = Backoff(initial=min(5.0, interval), maximum=interval)
        while True:
            try:
                await self.purge(actor=RETENTION_ACTOR)
            except AdapterError as exc:
                delay = backoff.next_delay()
                logger.warning("retention purge failed, retrying in %.0fs: %s", delay, exc)
                await asyncio.sleep(delay)
                continue
            backoff.reset()
            await asyncio.sleep(interval)
