"""Bulk replays: a state machine in the `replays` table, run by whichever API process holds the
replay's advisory lock.

States: `pending` (created) → `running` (a process took it) → `succeeded` (no record left) |
`failed` (a permanent error, in `error`) | `cancelled` (by a user). Each chunk of records is
judged, produced and recorded with the replay's counts and cursor in one transaction (see
`replaying`), so a replay resumes after a restart from its last recorded chunk: the supervisor
of every API process looks for pending and running replays at start-up and every poll interval,
and the PostgreSQL session lock of a replay (released when its process dies) lets exactly one
process run it. A resumed replay first settles the claims its previous run left behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Sequence
from typing import Any
from uuid import UUID

from validator_pod.adapters.errors import AdapterError
from validator_pod.adapters.quarantine_queries import (
    Keyset,
    NewEvent,
    QuarantineQueries,
    Replay,
    StoredRecord,
    advisory_key,
)
from validator_pod.pipeline.backoff import Backoff
from validator_pod.web.models import RecordFilterModel, ReplayCounts, ReplayState
from validator_pod.web.replaying import ACTION_REPLAY, Replayer
from validator_pod.web.settings import ApiSettings

logger = logging.getLogger(__name__)


class ReplayFailedError(Exception):
    """A replay cannot go on (its schema version is gone, its filter is unreadable)."""


class ReplayRun:
    """One run of one replay, from its saved cursor to the end (or a cancel)."""

    def __init__(
        self,
        replay_id: UUID,
        *,
        queries: QuarantineQueries,
        replayer: Replayer,
        settings: ApiSettings,
    ) -> None:
        """Run replay `replay_id`; call `execute` while holding its advisory lock."""
        self._id = replay_id
        self._queries = queries
        self._replayer = replayer
        self._settings = settings

    async def execute(self) -> None:
        """Run the replay until it succeeds, fails or is cancelled; infrastructure failures
        are retried with backoff (progress is saved per chunk)."""
        replay = await self._queries.start_replay(self._id)
        if replay is None:
            return
        extra = {
            "replay_id": str(self._id),
            "namespace": replay.namespace,
            "pipeline": replay.pipeline,
        }
        logger.info("replay running", extra={**extra, "dry_run": replay.dry_run})
        backoff = Backoff(initial=0.5, maximum=30.0)
        try:
            record_filter = RecordFilterModel.model_validate(replay.filter).to_filter()
        except ValueError as exc:
            await self._queries.finish_replay(self._id, state="failed", error=f"bad filter: {exc}")
            return
        while True:
            try:
                current = await self._queries.fetch_replay(self._id)
                if current is None or current.state != ReplayState.RUNNING:
                    logger.info(
                        "replay stopped", extra={**extra, "state": current and current.state}
                    )
                    return
                if not current.dry_run and await self._settle_own_claims(current):
                    continue
                started = time.monotonic()
                chunk = await self._queries.replay_chunk(
                    record_filter,
                    after=current.cursor,
                    as_of=current.created_at,
                    limit=self._chunk_size(current),
                )
                if not chunk:
                    await self._queries.finish_replay(self._id, state=ReplayState.SUCCEEDED)
                    logger.info("replay succeeded", extra={**extra, "counts": current.counts})
                    return
                await self._process(current, chunk)
                backoff.reset()
            except AdapterError as exc:
                delay = backoff.next_delay()
                logger.warning("replay step failed, retrying in %.1fs: %s", delay, exc, extra=extra)
                with contextlib.suppress(AdapterError):
                    await self._queries.note_replay_error(self._id, str(exc))
                await asyncio.sleep(delay)
                continue
            except ReplayFailedError as exc:
                await self._queries.finish_replay(self._id, state="failed", error=str(exc))
                logger.warning("replay failed: %s", exc, extra=extra)
                return
            if current.rate_limit is not None:
                pause = len(chunk) / current.rate_limit - (time.monotonic() - started)
                if pause > 0:
                    await asyncio.sleep(pause)

    def _chunk_size(self, replay: Replay) -> int:
        size = self._settings.replay_chunk_size
        return size if replay.rate_limit is None else max(1, min(size, replay.rate_limit))

    async def _settle_own_claims(self, replay: Replay) -> bool:
        """Settle claims a previous run of this replay left (a crash between produce and
        record); wait for them to pass the lease first. True when there were any."""
        if not await self._queries.claims_of_replay(self._id):
            return False
        settled = await self._replayer.settle_abandoned(replay_id=self._id)
        if settled.replayed:
            counts = ReplayCounts.model_validate(replay.counts)
            counts.processed += len(settled.replayed)
            counts.replayed += len(settled.replayed)
            await self._queries.save_replay_progress(
                self._id, counts.model_dump(mode="json"), replay.cursor
            )
        if not (settled.replayed or settled.released):
            await asyncio.sleep(min(1.0, self._settings.replay_lease.total_seconds() / 4))
        return True

    async def _process(self, replay: Replay, chunk: Sequence[StoredRecord]) -> None:
        counts = ReplayCounts.model_validate(replay.counts)
        passing: list[tuple[StoredRecord, bytes]] = []
        events: list[NewEvent] = []
        for stored in chunk:
            counts.processed += 1
            value = await self._replayer.read_payload(stored)
            if value is None:
                counts.unreadable += 1
                events.append(NewEvent(stored.record.id, {"outcome": "unreadable"}))
                continue
            judgement = self._replayer.judge(stored, value, replay.schema_version)
            if judgement is None:
                raise ReplayFailedError(
                    f"schema version {replay.schema_version} of "
                    f"{stored.record.schema_name or 'the default schema'} does not exist"
                )
            if judgement.verdict is None:
                if replay.dry_run:
                    counts.would_pass += 1
                else:
                    passing.append((stored, value))
                continue
            error_type = judgement.verdict.error_type.value
            counts.still_invalid[error_type] = counts.still_invalid.get(error_type, 0) + 1
            events.append(
                NewEvent(
                    stored.record.id,
                    {
                        "outcome": "still_invalid",
                        "error_type": error_type,
                        "message": judgement.verdict.message,
                    },
                )
            )
        cursor = chunk[-1].keyset
        if replay.dry_run:
            await self._queries.save_replay_progress(
                self._id, counts.model_dump(mode="json"), cursor
            )
            return

        def progress(claimed: int) -> tuple[dict[str, Any], Keyset | None]:
            after = counts.model_copy(deep=True)
            after.replayed += claimed
            after.skipped += len(passing) - claimed
            return after.model_dump(mode="json"), cursor

        await self._replayer.produce(
            passing,
            actor=replay.created_by,
            action=ACTION_REPLAY,
            replay_id=self._id,
            more_events=events,
            progress=progress,
        )


class ReplaySupervisor:
    """Starts the runs of pending and running replays, at most `max_concurrent_replays` at once."""

    def __init__(
        self,
        *,
        queries: QuarantineQueries,
        replayer: Replayer,
        settings: ApiSettings,
    ) -> None:
        """Supervise the replays of the pipeline of `queries`."""
        self._queries = queries
        self._replayer = replayer
        self._settings = settings
        self._tasks: dict[UUID, asyncio.Task[None]] = {}
        self._wakeup = asyncio.Event()

    def wake(self) -> None:
        """Look for replays to run now (one was just created)."""
        self._wakeup.set()

    @property
    def running(self) -> frozenset[UUID]:
        """Replays this process is running."""
        return frozenset(self._tasks)

    async def run(self) -> None:
        """Poll for replays to run until cancelled."""
        poll = self._settings.replay_poll_interval.total_seconds()
        while True:
            self._wakeup.clear()
            try:
                await self._start_active()
            except AdapterError as exc:
                logger.warning("cannot look for replays to run: %s", exc)
            # asyncio.timeout, not wait_for: Python 3.11's wait_for can swallow a cancellation
            # that arrives as the event is set (as `stop` does), and the task never ends.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(poll):
                    await self._wakeup.wait()

    async def _start_active(self) -> None:
        for replay_id in await self._queries.active_replay_ids():
            if replay_id in self._tasks:
                continue
            if len(self._tasks) >= self._settings.max_concurrent_replays:
                return
            task = asyncio.create_task(self._run_locked(replay_id), name=f"replay-{replay_id}")
            self._tasks[replay_id] = task
            task.add_done_callback(functools.partial(self._finished, replay_id))

    def _finished(self, replay_id: UUID, _: asyncio.Task[None]) -> None:
        self._tasks.pop(replay_id, None)
        self._wakeup.set()

    async def _run_locked(self, replay_id: UUID) -> None:
        try:
            async with self._queries.advisory_lock(advisory_key("replay", replay_id)) as locked:
                if locked:
                    run = ReplayRun(
                        replay_id,
                        queries=self._queries,
                        replayer=self._replayer,
                        settings=self._settings,
                    )
                    await run.execute()
        except AdapterError as exc:
            logger.warning(
                "replay interrupted, resumed at the next poll: %s",
                exc,
                extra={"replay_id": str(replay_id)},
            )
        except Exception:
            logger.exception("replay crashed", extra={"replay_id": str(replay_id)})
            with contextlib.suppress(AdapterError):
                await self._queries.finish_replay(
                    replay_id, state="failed", error="internal error; see the API's log"
                )

    async def stop(self) -> None:
        """Cancel the runs (each resumes from its last saved chunk elsewhere or later)."""
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()
