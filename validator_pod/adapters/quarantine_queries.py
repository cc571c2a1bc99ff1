"""The REST API's PostgreSQL queries: filtered listing, replay claims, discards, replays, stats
and retention.

Every value reaches PostgreSQL as a bind parameter: `_Where` appends fixed SQL fragments with
numbered placeholders and collects the values beside them. Every query is scoped to one pipeline:
its namespace and its name (two pipelines of one name in different namespaces may share the
database).
Failures leave this module as `MetadataDbError` (through `metadata_db.translated_errors`).
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final
from uuid import UUID, uuid5

import asyncpg
import orjson
from asyncpg.pool import PoolConnectionProxy

from validator_pod.adapters.metadata_db import quarantine_record_from_row, translated_errors
from validator_pod.domain.records import QuarantineRecord, RecordStatus

Connection = PoolConnectionProxy
Keyset = tuple[datetime, UUID]
"""A position in the stable order of records: (created_at, id)."""
Header = tuple[str, bytes | None]

REPLAYABLE_STATUSES: Final = (RecordStatus.QUARANTINED.value, RecordStatus.REMEDIATED.value)
"""Records in these states may be replayed or discarded; the others are settled."""

_LOCK_NAMESPACE: Final = UUID("0b7f5a52-52a4-4c55-a1d6-1b0fd0ab1c6e")

REPLAY_STATES_ACTIVE: Final = ("pending", "running")
REPLAY_STATES_FINAL: Final = ("succeeded", "failed", "cancelled")


@dataclass(frozen=True, slots=True)
class RecordFilter:
    """Which records a listing, a bulk replay or a bulk discard is about; empty means all.

    `created_after` is inclusive, `created_before` exclusive; `field_path` matches records with
    an error at that JSON pointer; `text` is a case-insensitive substring of the error message.
    """

    source_topic: str | None = None
    schema_name: str | None = None
    schema_version: int | None = None
    error_types: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()
    created_after: datetime | None = None
    created_before: datetime | None = None
    field_path: str | None = None
    text: str | None = None

    @property
    def is_empty(self) -> bool:
        """True when the filter matches every record of the pipeline."""
        return self == RecordFilter()


@dataclass(frozen=True, slots=True)
class StoredRecord:
    """A `quarantine_records` row: the domain record plus what only the API reads."""

    record: QuarantineRecord
    headers: tuple[Header, ...] | None
    """The original Kafka headers; None when the writer did not record them."""
    replay_attempt: UUID | None
    replay_claimed_at: datetime | None

    @property
    def keyset(self) -> Keyset:
        """The record's position in the stable order."""
        return (self.record.created_at, self.record.id)


@dataclass(frozen=True, slots=True)
class ReplayClaim:
    """A claim on records about to be produced: the valid topic and its partitions' end offsets
    before the first send (a lower bound of where the records can land)."""

    attempt: UUID
    topic: str
    start_offsets: Mapping[int, int]
    actor: str
    replay_id: UUID | None = None

    def to_json(self) -> str:
        """The `replay_claim` column's JSON text."""
        return orjson.dumps(
            {
                "topic": self.topic,
                "start_offsets": {str(p): o for p, o in self.start_offsets.items()},
                "actor": self.actor,
                "replay_id": None if self.replay_id is None else str(self.replay_id),
            }
        ).decode()

    @classmethod
    def from_row(cls, attempt: UUID, document: Any) -> ReplayClaim:
        """Read a claim back from `replay_attempt` and `replay_claim`."""
        data = _json(document)
        replay_id = data.get("replay_id")
        return cls(
            attempt=attempt,
            topic=data["topic"],
            start_offsets={int(p): int(o) for p, o in data["start_offsets"].items()},
            actor=data["actor"],
            replay_id=None if replay_id is None else UUID(replay_id),
        )


@dataclass(frozen=True, slots=True)
class ClaimedRecord:
    """A record whose claim is older than the lease: its produce may or may not have happened."""

    record_id: UUID
    claim: ReplayClaim
    claimed_at: datetime


@dataclass(frozen=True, slots=True)
class Event:
    """A row of the append-only `quarantine_events` table."""

    id: int
    record_id: UUID | None
    replay_id: UUID | None
    actor: str
    action: str
    result: dict[str, Any]
    created_at: datetime


@dataclass(frozen=True, slots=True)
class NewEvent:
    """An event to append for one record."""

    record_id: UUID | None
    result: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Replay:
    """A row of `replays`: a bulk replay's request, state and progress."""

    id: UUID
    namespace: str
    pipeline: str
    filter: dict[str, Any]
    dry_run: bool
    rate_limit: int | None
    schema_version: int | None
    state: str
    counts: dict[str, Any]
    cursor: Keyset | None
    error: str | None
    created_by: str
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


@dataclass(frozen=True, slots=True)
class Counted:
    """A count by one or two keys."""

    keys: tuple[Any, ...]
    count: int


@dataclass(frozen=True, slots=True)
class Stats:
    """Counts of a pipeline's records."""

    by_status: list[Counted]
    by_error_type: list[Counted]
    by_field_path: list[Counted]
    by_schema_version: list[Counted]
    total: int
    oldest_quarantined_at: datetime | None
    created_last_hour: int
    now: datetime


@dataclass(slots=True)
class _Where:
    """A WHERE clause built from fixed fragments; values only ever become `$n` parameters."""

    params: list[Any] = field(default_factory=list)
    clauses: list[str] = field(default_factory=list)

    def bind(self, value: Any) -> str:
        self.params.append(value)
        return f"${len(self.params)}"

    def add(self, clause: str) -> None:
        self.clauses.append(clause)

    def add_replayable(self) -> None:
        """Only records that may be replayed or discarded now: in a replayable state and
        unclaimed."""
        self.add(f"status = ANY({self.bind(list(REPLAYABLE_STATUSES))}::text[])")
        self.add("replay_attempt IS NULL")

    @property
    def sql(self) -> str:
        return " AND ".join(self.clauses) if self.clauses else "TRUE"


def _scope_where(namespace: str, pipeline: str) -> _Where:
    where = _Where()
    where.add(f"namespace = {where.bind(namespace)}")
    where.add(f"pipeline = {where.bind(pipeline)}")
    return where


def _record_where(
    scope: tuple[str, str],
    record_filter: RecordFilter,
    *,
    as_of: datetime | None = None,
    after: Keyset | None = None,
    replayable_only: bool = False,
) -> _Where:
    where = _scope_where(*scope)
    f = record_filter
    if f.source_topic is not None:
        where.add(f"source_topic = {where.bind(f.source_topic)}")
    if f.schema_name is not None:
        where.add(f"schema_name = {where.bind(f.schema_name)}")
    if f.schema_version is not None:
        where.add(f"schema_version = {where.bind(f.schema_version)}")
    if f.error_types:
        where.add(f"error_type = ANY({where.bind(list(f.error_types))}::text[])")
    if f.statuses:
        where.add(f"status = ANY({where.bind(list(f.statuses))}::text[])")
    if f.created_after is not None:
        where.add(f"created_at >= {where.bind(f.created_after)}")
    if f.created_before is not None:
        where.add(f"created_at < {where.bind(f.created_before)}")
    if f.field_path is not None:
        # jsonb containment uses the GIN index on errors (jsonb_path_ops).
        path = where.bind(f.field_path)
        where.add(f"errors @> jsonb_build_array(jsonb_build_object('path', {path}::text))")
    if f.text is not None:
        where.add(f"strpos(lower(error_message), lower({where.bind(f.text)}::text)) > 0")
    if as_of is not None:
        where.add(f"created_at <= {where.bind(as_of)}")
    if after is not None:
        where.add(f"(created_at, id) > ({where.bind(after[0])}, {where.bind(after[1])}::uuid)")
    if replayable_only:
        where.add_replayable()
    return where


def _json(value: Any) -> Any:
    return orjson.loads(value) if isinstance(value, str | bytes) else value


def headers_from_json(document: Any) -> tuple[Header, ...] | None:
    """The `record_headers` column as (name, value) pairs; None when it is NULL."""
    if document is None:
        return None
    return tuple(
        (name, None if value is None else base64.b64decode(value))
        for name, value in _json(document)
    )


def headers_to_json(headers: Iterable[Header]) -> str:
    """Headers as the `record_headers` column's JSON text (values in base64)."""
    return orjson.dumps(
        [
            [name, None if value is None else base64.b64encode(value).decode()]
            for name, value in headers
        ]
    ).decode()


def stored_record_from_row(row: asyncpg.Record) -> StoredRecord:
    """A full `quarantine_records` row (`SELECT *`) as a `StoredRecord`."""
    return StoredRecord(
        record=quarantine_record_from_row(row),
        headers=headers_from_json(row["record_headers"]),
        replay_attempt=row["replay_attempt"],
        replay_claimed_at=row["replay_claimed_at"],
    )


def _event_from_row(row: asyncpg.Record) -> Event:
    return Event(
        id=row["id"],
        record_id=row["record_id"],
        replay_id=row["replay_id"],
        actor=row["actor"],
        action=row["action"],
        result=_json(row["result"]),
        created_at=row["created_at"],
    )


def _replay_from_row(row: asyncpg.Record) -> Replay:
    cursor = _json(row["cursor"])
    return Replay(
        id=row["id"],
        namespace=row["namespace"],
        pipeline=row["pipeline"],
        filter=_json(row["filter"]),
        dry_run=row["dry_run"],
        rate_limit=row["rate_limit"],
        schema_version=row["schema_version"],
        state=row["state"],
        counts=_json(row["counts"]),
        cursor=None
        if cursor is None
        else (datetime.fromisoformat(cursor["created_at"]), UUID(cursor["id"])),
        error=row["error"],
        created_by=row["created_by"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
    )


def _keyset_json(keyset: Keyset | None) -> str | None:
    if keyset is None:
        return None
    return orjson.dumps({"created_at": keyset[0].isoformat(), "id": str(keyset[1])}).decode()


class QuarantineQueries:
    """The API's queries over one pipeline's quarantine tables, through an asyncpg pool."""

    def __init__(self, pool: asyncpg.Pool, *, namespace: str, pipeline: str) -> None:
        """Query the records of the pipeline `namespace`/`pipeline` through `pool` (see
        `MetadataDb.pool`)."""
        self._pool = pool
        self._namespace = namespace
        self._pipeline = pipeline
        # The first two parameters of every fixed query: `namespace = $1 AND pipeline = $2`.
        self._scope = (namespace, pipeline)

    @property
    def namespace(self) -> str:
        """The namespace of the pipeline every query is scoped to."""
        return self._namespace

    @property
    def pipeline(self) -> str:
        """The name of the pipeline every query is scoped to."""
        return self._pipeline

    # -- listing -------------------------------------------------------------------------------

    async def list_records(
        self,
        record_filter: RecordFilter,
        *,
        limit: int,
        after: Keyset | None,
        as_of: datetime | None,
    ) -> tuple[list[StoredRecord], int, datetime]:
        """A page of records in (created_at, id) order after `after`, the true total of records
        matching the filter, and the snapshot time `as_of` (now, on the first page) that bounds
        both, so that records quarantined while paging neither shift nor join the traversal.

        Page and total are read in one repeatable-read transaction: they agree with each other.
        """
        async with (
            translated_errors("list quarantine records"),
            self._pool.acquire() as conn,
            conn.transaction(isolation="repeatable_read", readonly=True),
        ):
            if as_of is None:
                as_of = await conn.fetchval("SELECT statement_timestamp()")
            assert as_of is not None
            counting = _record_where(self._scope, record_filter, as_of=as_of)
            total = await conn.fetchval(
                f"SELECT count(*) FROM quarantine_records WHERE {counting.sql}",  # noqa: S608
                *counting.params,
            )
            paging = _record_where(self._scope, record_filter, as_of=as_of, after=after)
            rows = await conn.fetch(
                f"SELECT * FROM quarantine_records WHERE {paging.sql} "  # noqa: S608
                f"ORDER BY created_at, id LIMIT {paging.bind(limit)}",
                *paging.params,
            )
        return [stored_record_from_row(row) for row in rows], int(total), as_of

    async def count_records(
        self, record_filter: RecordFilter, *, as_of: datetime | None = None
    ) -> int:
        """How many records match the filter (all of them, not a page)."""
        where = _record_where(self._scope, record_filter, as_of=as_of)
        async with translated_errors("count quarantine records"), self._pool.acquire() as conn:
            total = await conn.fetchval(
                f"SELECT count(*) FROM quarantine_records WHERE {where.sql}",  # noqa: S608
                *where.params,
            )
        return int(total)

    async def fetch_record(self, record_id: UUID) -> StoredRecord | None:
        """One record of this pipeline, or None."""
        async with translated_errors("fetch quarantine record"), self._pool.acquire() as conn:
            row = await conn.fetchrow(
                "SELECT * FROM quarantine_records "
                "WHERE namespace = $1 AND pipeline = $2 AND id = $3",
                *self._scope,
                record_id,
            )
        return None if row is None else stored_record_from_row(row)

    async def record_events(self, record_id: UUID, *, limit: int = 100) -> list[Event]:
        """The latest events of one record, oldest first."""
        async with translated_errors("fetch record events"), self._pool.acquire() as conn:
            rows = await conn.fetch(
                "SELECT * FROM (SELECT * FROM quarantine_events "
                "WHERE namespace = $1 AND pipeline = $2 AND record_id = $3 "
                "ORDER BY id DESC LIMIT $4) AS latest "
                "ORDER BY id",
                *self._scope,
                record_id,
                limit,
            )
        return [_event_from_row(row) for row in rows]

    async def replay_chunk(
        self, record_filter: RecordFilter, *, after: Keyset | None, as_of: datetime, limit: int
    ) -> list[StoredRecord]:
        """The next unclaimed, replayable records of a bulk replay, in the stable order."""
        where = _record_where(
            self._scope, record_filter, as_of=as_of, after=after, replayable_only=True
        )
        async with translated_errors("fetch replay chunk"), self._pool.acquire() as conn:
            rows = await conn.fetch(
                f"SELECT * FROM quarantine_records WHERE {where.sql} "  # noqa: S608
                f"ORDER BY created_at, id LIMIT {where.bind(limit)}",
                *where.params,
            )
        return [stored_record_from_row(row) for row in rows]

    async def count_replayable(self, record_filter: RecordFilter, *, as_of: datetime) -> int:
        """How many unclaimed, replayable records match the filter up to `as_of`."""
        where = _record_where(self._scope, record_filter, as_of=as_of, replayable_only=True)
        async with translated_errors("count replayable records"), self._pool.acquire() as conn:
            total = await conn.fetchval(
                f"SELECT count(*) FROM quarantine_records WHERE {where.sql}",  # noqa: S608
                *where.params,
            )
        return int(total)

    # -- replay claims ---------------------------------------------------------------------------

    def _records_where(self, record_ids: Sequence[UUID]) -> _Where:
        """This pipeline's records among `record_ids`."""
        where = _scope_where(*self._scope)
        where.add(f"id = ANY({where.bind(list(record_ids))}::uuid[])")
        return where

    async def claim(self, record_ids: Sequence[UUID], claim: ReplayClaim) -> list[UUID]:
        """Claim the records among `record_ids` that are replayable and unclaimed; return the ids
        claimed. The row-level update serialises with discards and other claims: of two racing
        requests exactly one sees the record unclaimed."""
        where = self._records_where(record_ids)
        where.add_replayable()
        async with translated_errors("claim records for replay"), self._pool.acquire() as conn:
            rows = await conn.fetch(
                "UPDATE quarantine_records "  # noqa: S608
                f"SET replay_attempt = {where.bind(claim.attempt)}, "
                "    replay_claimed_at = clock_timestamp(), "
                f"    replay_claim = {where.bind(claim.to_json())}::jsonb "
                f"WHERE {where.sql} RETURNING id",
                *where.params,
            )
        return [row["id"] for row in rows]

    async def finish_replayed(
        self,
        attempt: UUID,
        record_ids: Sequence[UUID],
        *,
        actor: str,
        action: str,
        replay_id: UUID | None,
        result: Mapping[str, Any],
        more_events: Sequence[NewEvent] = (),
        replay_progress: tuple[dict[str, Any], Keyset | None] | None = None,
    ) -> list[UUID]:
        """In one transaction: mark the records of `attempt` replayed (replay_count + 1, claim
        cleared), append one event per record (`result`) plus `more_events`, and, for a bulk
        replay, save its counts and cursor. Return the ids marked (a claim settled by someone
        else in the meantime is left alone)."""
        async with (
            translated_errors("finish replay"),
            self._pool.acquire() as conn,
            conn.transaction(),
        ):
            marked = await self._clear_claims(conn, attempt, record_ids, replayed=True)
            events = [NewEvent(record_id, result) for record_id in marked]
            await self._append_events(
                conn, [*events, *more_events], actor=actor, action=action, replay_id=replay_id
            )
            if replay_progress is not None and replay_id is not None:
                await self._save_progress(conn, replay_id, *replay_progress)
        return marked

    async def release(self, attempt: UUID, record_ids: Sequence[UUID]) -> list[UUID]:
        """Drop the claims of `attempt` on `record_ids` (the records were not produced)."""
        async with translated_errors("release replay claims"), self._pool.acquire() as conn:
            return await self._clear_claims(conn, attempt, record_ids, replayed=False)

    async def _clear_claims(
        self, conn: Connection, attempt: UUID, record_ids: Sequence[UUID], *, replayed: bool
    ) -> list[UUID]:
        """Clear the claims of `attempt` on `record_ids`, marking the records replayed
        (replay_count + 1) when `replayed`; return the ids cleared (a claim settled by someone
        else in the meantime is left alone)."""
        where = self._records_where(record_ids)
        where.add(f"replay_attempt = {where.bind(attempt)}")
        marking = "status = 'replayed', replay_count = replay_count + 1, " if replayed else ""
        rows = await conn.fetch(
            f"UPDATE quarantine_records SET {marking}"  # noqa: S608
            "replay_attempt = NULL, replay_claimed_at = NULL, replay_claim = NULL "
            f"WHERE {where.sql} RETURNING id",
            *where.params,
        )
        return [row["id"] for row in rows]

    async def stale_claims(
        self, *, claimed_before: datetime, replay_id: UUID | None = None, limit: int = 1000
    ) -> list[ClaimedRecord]:
        """Claims older than `claimed_before` (their owner is gone or past its produce timeout),
        optionally only those of one bulk replay."""
        where = _scope_where(*self._scope)
        where.add("replay_attempt IS NOT NULL")
        where.add(f"replay_claimed_at < {where.bind(claimed_before)}")
        if replay_id is not None:
            where.add(f"replay_claim->>'replay_id' = {where.bind(str(replay_id))}::text")
        async with translated_errors("find stale replay claims"), self._pool.acquire() as conn:
            rows = await conn.fetch(
                "SELECT id, replay_attempt, replay_claim, replay_claimed_at "  # noqa: S608
                f"FROM quarantine_records WHERE {where.sql} "
                f"ORDER BY replay_claimed_at LIMIT {where.bind(limit)}",
                *where.params,
            )
        return [
            ClaimedRecord(
                record_id=row["id"],
                claim=ReplayClaim.from_row(row["replay_attempt"], row["replay_claim"]),
                claimed_at=row["replay_claimed_at"],
            )
            for row in rows
        ]

    async def claims_of_replay(self, replay_id: UUID) -> int:
        """How many records a bulk replay holds claims on."""
        async with translated_errors("count replay claims"), self._pool.acquire() as conn:
            count = await conn.fetchval(
                "SELECT count(*) FROM quarantine_records WHERE namespace = $1 AND pipeline = $2 "
                "AND replay_attempt IS NOT NULL AND replay_claim->>'replay_id' = $3::text",
                *self._scope,
                str(replay_id),
            )
        return int(count)

    # -- events ---------------------------------------------------------------------------------

    async def append_events(
        self,
        events: Sequence[NewEvent],
        *,
        actor: str,
        action: str,
        replay_id: UUID | None = None,
    ) -> None:
        """Append events (one transaction)."""
        if not events:
            return
        async with translated_errors("append events"), self._pool.acquire() as conn:
            await self._append_events(conn, events, actor=actor, action=action, replay_id=replay_id)

    async def _append_events(
        self,
        conn: Connection,
        events: Sequence[NewEvent],
        *,
        actor: str,
        action: str,
        replay_id: UUID | None,
    ) -> None:
        if not events:
            return
        await conn.execute(
            "INSERT INTO quarantine_events "
            "(namespace, pipeline, record_id, replay_id, actor, action, result) "
            "SELECT $1, $2, e.record_id, $3, $4, $5, e.result "
            "FROM unnest($6::uuid[], $7::jsonb[]) AS e(record_id, result)",
            *self._scope,
            replay_id,
            actor,
            action,
            [event.record_id for event in events],
            [orjson.dumps(dict(event.result)).decode() for event in events],
        )

    # -- discards -------------------------------------------------------------------------------

    async def discard(self, record_id: UUID, *, actor: str, result: Mapping[str, Any]) -> bool:
        """Discard one replayable, unclaimed record and append its event; False when the record
        is not in such a state (the caller tells missing from settled)."""
        where = self._records_where([record_id])
        where.add_replayable()
        return await self._discard(where, actor=actor, result=result) == 1

    async def discard_matching(
        self,
        record_filter: RecordFilter,
        *,
        as_of: datetime,
        actor: str,
        result: Mapping[str, Any],
    ) -> int:
        """Discard every replayable, unclaimed record matching the filter up to `as_of`, with
        one event each; return how many were discarded."""
        where = _record_where(self._scope, record_filter, as_of=as_of, replayable_only=True)
        return await self._discard(where, actor=actor, result=result)

    async def _discard(self, where: _Where, *, actor: str, result: Mapping[str, Any]) -> int:
        """Discard the records `where` selects, with one event each, in one statement."""
        actor_param = where.bind(actor)
        result_param = where.bind(orjson.dumps(dict(result)).decode())
        async with translated_errors("discard records"), self._pool.acquire() as conn:
            status = await conn.execute(
                "WITH discarded AS ("  # noqa: S608
                f"  UPDATE quarantine_records SET status = 'discarded' WHERE {where.sql} "
                "  RETURNING namespace, pipeline, id) "
                "INSERT INTO quarantine_events "
                "(namespace, pipeline, record_id, actor, action, result) "
                f"SELECT namespace, pipeline, id, {actor_param}, 'discard', {result_param}::jsonb "
                "FROM discarded",
                *where.params,
            )
        return int(status.rsplit(" ", 1)[-1])

    # -- bulk replays ---------------------------------------------------------------------------

    async def create_replay(
        self,
        replay_id: UUID,
        *,
        filter_document: Mapping[str, Any],
        dry_run: bool,
        rate_limit: int | None,
        schema_version: int | None,
        created_by: str,
        record_filter: RecordFilter,
    ) -> Replay:
        """Insert a pending replay whose `counts.total` is the number of replayable records
        matching the filter now (the replay covers records up to its `created_at`)."""
        async with (
            translated_errors("create replay"),
            self._pool.acquire() as conn,
            conn.transaction(),
        ):
            row = await conn.fetchrow(
                "INSERT INTO replays (id, namespace, pipeline, filter, dry_run, rate_limit, "
                "schema_version, created_by) VALUES ($1, $2, $3, $4::jsonb, $5, $6, $7, $8) "
                "RETURNING *",
                replay_id,
                *self._scope,
                orjson.dumps(dict(filter_document)).decode(),
                dry_run,
                rate_limit,
                schema_version,
                created_by,
            )
            assert row is not None
            where = _record_where(
                self._scope, record_filter, as_of=row["created_at"], replayable_only=True
            )
            total = await conn.fetchval(
                f"SELECT count(*) FROM quarantine_records WHERE {where.sql}",  # noqa: S608
                *where.params,
            )
            row = await conn.fetchrow(
                "UPDATE replays SET counts = $2::jsonb WHERE id = $1 RETURNING *",
                replay_id,
                orjson.dumps({"total": int(total), "processed": 0}).decode(),
            )
        assert row is not None
        return _replay_from_row(row)

    async def fetch_replay(self, replay_id: UUID) -> Replay | None:
        """One replay of this pipeline, or None."""
        async with translated_errors("fetch replay"), self._pool.acquire() as conn:
            row = await conn.fetchrow(
                "SELECT * FROM replays WHERE namespace = $1 AND pipeline = $2 AND id = $3",
                *self._scope,
                replay_id,
            )
        return None if row is None else _replay_from_row(row)

    async def list_replays(self, *, limit: int) -> list[Replay]:
        """The latest replays, newest first."""
        async with translated_errors("list replays"), self._pool.acquire() as conn:
            rows = await conn.fetch(
                "SELECT * FROM replays WHERE namespace = $1 AND pipeline = $2 "
                "ORDER BY created_at DESC, id DESC LIMIT $3",
                *self._scope,
                limit,
            )
        return [_replay_from_row(row) for row in rows]

    async def active_replay_ids(self) -> list[UUID]:
        """Replays still to run or resume (pending or running), oldest first."""
        async with translated_errors("list active replays"), self._pool.acquire() as conn:
            rows = await conn.fetch(
                "SELECT id FROM replays "
                "WHERE namespace = $1 AND pipeline = $2 AND state = ANY($3::text[]) "
                "ORDER BY created_at, id",
                *self._scope,
                list(REPLAY_STATES_ACTIVE),
            )
        return [row["id"] for row in rows]

    async def start_replay(self, replay_id: UUID) -> Replay | None:
        """Move a pending or running replay to running (stamping `started_at` once); None when
        it is no longer active (finished or cancelled)."""
        async with translated_errors("start replay"), self._pool.acquire() as conn:
            row = await conn.fetchrow(
                "UPDATE replays SET state = 'running', "
                "started_at = coalesce(started_at, now()), error = NULL "
                "WHERE namespace = $1 AND pipeline = $2 AND id = $3 AND state = ANY($4::text[]) "
                "RETURNING *",
                *self._scope,
                replay_id,
                list(REPLAY_STATES_ACTIVE),
            )
        return None if row is None else _replay_from_row(row)

    async def save_replay_progress(
        self, replay_id: UUID, counts: Mapping[str, Any], cursor: Keyset | None
    ) -> None:
        """Save a replay's counts and cursor (a chunk with nothing to produce)."""
        async with translated_errors("save replay progress"), self._pool.acquire() as conn:
            await self._save_progress(conn, replay_id, counts, cursor)

    async def _save_progress(
        self,
        conn: Connection,
        replay_id: UUID,
        counts: Mapping[str, Any],
        cursor: Keyset | None,
    ) -> None:
        await conn.execute(
            "UPDATE replays SET counts = $4::jsonb, cursor = $5::jsonb "
            "WHERE namespace = $1 AND pipeline = $2 AND id = $3",
            *self._scope,
            replay_id,
            orjson.dumps(dict(counts)).decode(),
            _keyset_json(cursor),
        )

    async def note_replay_error(self, replay_id: UUID, error: str) -> None:
        """Record the last (retried) failure of a running replay."""
        async with translated_errors("note replay error"), self._pool.acquire() as conn:
            await conn.execute(
                "UPDATE replays SET error = $4 WHERE namespace = $1 AND pipeline = $2 AND id = $3",
                *self._scope,
                replay_id,
                error,
            )

    async def finish_replay(
        self, replay_id: UUID, *, state: str, error: str | None = None
    ) -> Replay | None:
        """Move an active replay to a final state; None when it was not active."""
        async with translated_errors("finish replay"), self._pool.acquire() as conn:
            row = await conn.fetchrow(
                "UPDATE replays SET state = $4, error = $5, finished_at = now() "
                "WHERE namespace = $1 AND pipeline = $2 AND id = $3 AND state = ANY($6::text[]) "
                "RETURNING *",
                *self._scope,
                replay_id,
                state,
                error,
                list(REPLAY_STATES_ACTIVE),
            )
        return None if row is None else _replay_from_row(row)

    # -- stats ----------------------------------------------------------------------------------

    async def stats(self, *, statuses: Sequence[str], field_path_limit: int) -> Stats:
        """Counts by status (all records), and by error type, field path and schema version
        (records in `statuses`); the oldest quarantined record; records created in the last hour.
        One repeatable-read snapshot, so the numbers agree."""
        scope = self._scope
        wanted = list(statuses)
        async with (
            translated_errors("quarantine stats"),
            self._pool.acquire() as conn,
            conn.transaction(isolation="repeatable_read", readonly=True),
        ):
            now = await conn.fetchval("SELECT statement_timestamp()")
            by_status = await conn.fetch(
                "SELECT status, count(*) AS n FROM quarantine_records "
                "WHERE namespace = $1 AND pipeline = $2 "
                "GROUP BY status ORDER BY status",
                *scope,
            )
            by_error_type = await conn.fetch(
                "SELECT error_type, count(*) AS n FROM quarantine_records "
                "WHERE namespace = $1 AND pipeline = $2 AND status = ANY($3::text[]) "
                "GROUP BY error_type ORDER BY n DESC, error_type",
                *scope,
                wanted,
            )
            by_field_path = await conn.fetch(
                "SELECT e.error->>'path' AS path, count(DISTINCT r.id) AS n "
                "FROM quarantine_records r "
                "CROSS JOIN LATERAL jsonb_array_elements(r.errors) AS e(error) "
                "WHERE r.namespace = $1 AND r.pipeline = $2 AND r.status = ANY($3::text[]) "
                "GROUP BY 1 ORDER BY n DESC, path LIMIT $4",
                *scope,
                wanted,
                field_path_limit,
            )
            by_schema_version = await conn.fetch(
                "SELECT schema_name, schema_version, count(*) AS n FROM quarantine_records "
                "WHERE namespace = $1 AND pipeline = $2 AND status = ANY($3::text[]) "
                "GROUP BY schema_name, schema_version "
                "ORDER BY n DESC, schema_name NULLS LAST, schema_version NULLS LAST",
                *scope,
                wanted,
            )
            oldest = await self._oldest_quarantined(conn)
            last_hour = await conn.fetchval(
                "SELECT count(*) FROM quarantine_records WHERE namespace = $1 AND pipeline = $2 "
                "AND created_at > statement_timestamp() - interval '1 hour'",
                *scope,
            )
        status_counts = [Counted((row["status"],), row["n"]) for row in by_status]
        return Stats(
            by_status=status_counts,
            by_error_type=[Counted((row["error_type"],), row["n"]) for row in by_error_type],
            by_field_path=[Counted((row["path"],), row["n"]) for row in by_field_path],
            by_schema_version=[
                Counted((row["schema_name"], row["schema_version"]), row["n"])
                for row in by_schema_version
            ],
            total=sum(counted.count for counted in status_counts),
            oldest_quarantined_at=oldest,
            created_last_hour=int(last_hour),
            now=now,
        )

    async def oldest_quarantined(self) -> tuple[datetime | None, datetime]:
        """When the oldest record still quarantined was created (None if there is none), and the
        database's current time."""
        async with translated_errors("oldest quarantined"), self._pool.acquire() as conn:
            now = await conn.fetchval("SELECT statement_timestamp()")
            oldest = await self._oldest_quarantined(conn)
        return oldest, now

    async def _oldest_quarantined(self, conn: Connection) -> datetime | None:
        oldest: datetime | None = await conn.fetchval(
            "SELECT min(created_at) FROM quarantine_records "
            "WHERE namespace = $1 AND pipeline = $2 AND status = 'quarantined'",
            *self._scope,
        )
        return oldest

    # -- retention ------------------------------------------------------------------------------

    async def database_now(self) -> datetime:
        """The database's clock (created_at comes from it)."""
        async with translated_errors("read clock"), self._pool.acquire() as conn:
            now: datetime = await conn.fetchval("SELECT statement_timestamp()")
        return now

    async def count_expired(self, older_than: datetime) -> int:
        """How many unclaimed records were created before `older_than`."""
        async with translated_errors("count expired records"), self._pool.acquire() as conn:
            count = await conn.fetchval(
                "SELECT count(*) FROM quarantine_records WHERE namespace = $1 AND pipeline = $2 "
                "AND created_at < $3 AND replay_attempt IS NULL",
                *self._scope,
                older_than,
            )
        return int(count)

    async def delete_expired(self, older_than: datetime, *, limit: int) -> tuple[int, set[str]]:
        """Delete up to `limit` unclaimed records created before `older_than`; return how many
        and the segments they pointed into."""
        async with (
            translated_errors("delete expired records"),
            self._pool.acquire() as conn,
            conn.transaction(),
        ):
            rows = await conn.fetch(
                "WITH doomed AS ("
                "  SELECT id FROM quarantine_records "
                "  WHERE namespace = $1 AND pipeline = $2 AND created_at < $3 "
                "    AND replay_attempt IS NULL "
                "  ORDER BY created_at, id LIMIT $4 FOR UPDATE SKIP LOCKED) "
                "DELETE FROM quarantine_records r USING doomed WHERE r.id = doomed.id "
                "RETURNING r.storage_uri",
                *self._scope,
                older_than,
                limit,
            )
        return len(rows), {row["storage_uri"] for row in rows}

    async def unreferenced_segments(self, uris: Iterable[str]) -> list[str]:
        """The URIs among `uris` that no record (of any pipeline) points into any more."""
        wanted = sorted(set(uris))
        if not wanted:
            return []
        async with translated_errors("find unreferenced segments"), self._pool.acquire() as conn:
            rows = await conn.fetch(
                "SELECT u.uri FROM unnest($1::text[]) AS u(uri) "
                "WHERE NOT EXISTS (SELECT 1 FROM quarantine_records r WHERE r.storage_uri = u.uri)",
                wanted,
            )
        return [row["uri"] for row in rows]

    # -- coordination ---------------------------------------------------------------------------

    @asynccontextmanager
    async def advisory_lock(self, key: int) -> AsyncIterator[bool]:
        """Hold PostgreSQL's session advisory lock `key` on a connection of its own while the
        block runs; yield False (and hold nothing) when another session has it. The lock goes
        with the session, so a process that dies releases it at once."""
        async with translated_errors("advisory lock"), self._pool.acquire() as conn:
            locked = bool(await conn.fetchval("SELECT pg_try_advisory_lock($1)", key))
            try:
                yield locked
            finally:
                if locked:
                    await conn.execute("SELECT pg_advisory_unlock($1)", key)


def advisory_key(name: str, ident: UUID | None = None) -> int:
    """A signed 64-bit advisory lock key for `name` (and an id): the first 8 bytes of a uuid5."""
    digest = uuid5(_LOCK_NAMESPACE, name if ident is None else f"{name}/{ident}")
    return int.from_bytes(digest.bytes[:8], "big", signed=True)
