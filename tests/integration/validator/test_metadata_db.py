"""The PostgreSQL adapter: migrations apply once, inserts are idempotent per source offset of one
pipeline (namespace and name), and rows written before the namespace mattered get theirs."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import orjson
import pytest

from tests.conftest import StackEnv
from tests.support.databases import scratch_database
from validator_pod.adapters.metadata_db import MetadataDb, QuarantineRow, load_migrations
from validator_pod.domain.records import ErrorType, FieldError, RecordStatus
from validator_pod.pipeline.quarantining import errors_json, quarantine_record_id

ERROR = FieldError(path="/a", keyword="type", schema_path="/properties/a/type", message="bad")


def row(
    pipeline: str, offset: int, *, uri: str = "s3://b/first.seg", namespace: str = "ns"
) -> QuarantineRow:
    return QuarantineRow(
        id=_id(pipeline, offset, namespace),
        pipeline=pipeline,
        namespace=namespace,
        source_topic="t",
        kafka_partition=0,
        kafka_offset=offset,
        kafka_timestamp=datetime(2026, 1, 1, tzinfo=UTC),
        record_key=b"k",
        schema_name="s",
        schema_version=1,
        error_type="schema_violation",
        error_message="/a: bad",
        errors_json=errors_json([ERROR]).decode(),
        storage_uri=uri,
        byte_offset=offset * 10,
        byte_length=10,
        status="quarantined",
        record_headers_json=orjson.dumps([["h", "dg=="]]).decode(),
    )


def _id(pipeline: str, offset: int, namespace: str = "ns") -> UUID:
    return quarantine_record_id(namespace, pipeline, "t", 0, offset)


@pytest.fixture
async def fresh_dsn(stack_env: StackEnv) -> AsyncIterator[str]:
    """A database of this test's own, with no migrations applied."""
    async with scratch_database(stack_env.postgres_dsn, "dq_migrations") as dsn:
        yield dsn


async def test_migrations_run_once_even_when_processes_start_together(fresh_dsn: str) -> None:
    dbs = [await MetadataDb.connect(fresh_dsn) for _ in range(3)]
    try:
        await asyncio.gather(*(db.migrate() for db in dbs))
        assert await dbs[0].migrate() == ()
        async with dbs[0].pool.acquire() as conn:
            versions = await conn.fetch("SELECT version FROM schema_migrations ORDER BY version")
        assert [r["version"] for r in versions] == [m.version for m in load_migrations()]
    finally:
        await asyncio.gather(*(db.close() for db in dbs))


async def test_rows_already_stored_are_kept_and_only_new_ones_are_inserted(
    stack_env: StackEnv, unique_name: str
) -> None:
    db = await MetadataDb.connect(stack_env.postgres_dsn)
    try:
        await db.migrate()
        assert await db.insert_quarantine_records([row(unique_name, 1), row(unique_name, 2)]) == 2
        retried = [row(unique_name, o, uri="s3://b/second.seg") for o in (1, 2, 3)]
        assert await db.insert_quarantine_records(retried) == 1
        assert await db.insert_quarantine_records([]) == 0

        first = await db.fetch_quarantine_record("ns", unique_name, _id(unique_name, 1))
        third = await db.fetch_quarantine_record("ns", unique_name, _id(unique_name, 3))
        assert first is not None
        assert third is not None
        assert (first.storage_uri, third.storage_uri) == ("s3://b/first.seg", "s3://b/second.seg")
        assert first.errors == (ERROR,)
        assert (first.error_type, first.status) == (
            ErrorType.SCHEMA_VIOLATION,
            RecordStatus.QUARANTINED,
        )
        assert first.kafka_timestamp == datetime(2026, 1, 1, tzinfo=UTC)
        assert await db.fetch_quarantine_record("ns", unique_name, _id(unique_name, 9)) is None
    finally:
        async with db.pool.acquire() as conn:
            await conn.execute("DELETE FROM quarantine_records WHERE pipeline = $1", unique_name)
        await db.close()


async def test_two_namespaces_keep_their_own_rows_of_the_same_source_offsets(
    stack_env: StackEnv, unique_name: str
) -> None:
    db = await MetadataDb.connect(stack_env.postgres_dsn)
    try:
        await db.migrate()
        shop = [row(unique_name, o, namespace="shop") for o in (1, 2)]
        lab = [row(unique_name, o, namespace="lab", uri="s3://b/lab.seg") for o in (1, 2)]
        assert await db.insert_quarantine_records(shop) == 2
        assert await db.insert_quarantine_records(lab) == 2
        retried = [row(unique_name, o, namespace="shop") for o in (1, 2, 3)]
        assert await db.insert_quarantine_records(retried) == 1

        ours = await db.fetch_quarantine_record("shop", unique_name, _id(unique_name, 1, "shop"))
        theirs = await db.fetch_quarantine_record("lab", unique_name, _id(unique_name, 1, "lab"))
        assert ours is not None
        assert theirs is not None
        assert ours.id != theirs.id
        assert (ours.namespace, ours.storage_uri) == ("shop", "s3://b/first.seg")
        assert (theirs.namespace, theirs.storage_uri) == ("lab", "s3://b/lab.seg")
        assert await db.fetch_quarantine_record("lab", unique_name, ours.id) is None
    finally:
        async with db.pool.acquire() as conn:
            await conn.execute("DELETE FROM quarantine_records WHERE pipeline = $1", unique_name)
        await db.close()


async def test_replays_and_events_written_before_namespaces_are_filled_with_their_namespace(
    fresh_dsn: str,
) -> None:
    db = await MetadataDb.connect(fresh_dsn)
    try:
        async with db.pool.acquire() as conn:
            await _apply_until(conn, 2)
            await db.insert_quarantine_records(
                [
                    row("orders", 1, namespace="shop"),
                    row("shared", 1, namespace="a"),
                    row("shared", 2, namespace="b"),
                ]
            )
            replays = {name: uuid4() for name in ("orders", "shared-b", "shared", "gone")}
            for name, replay_id in replays.items():
                await conn.execute(
                    "INSERT INTO replays (id, pipeline, created_by) VALUES ($1, $2, 'alice')",
                    replay_id,
                    name.removesuffix("-b"),
                )
            deleted_b = _id("shared", 9, "b")
            events = [
                ("shared", _id("shared", 1, "a"), None),  # its record says a
                ("shared", deleted_b, replays["shared-b"]),  # record gone: its replay says b
                ("shared", _id("shared", 2, "b"), replays["shared-b"]),
                ("orders", None, None),  # a purge: the pipeline's only namespace
                ("shared", None, None),  # a purge of a name two namespaces use
            ]
            await conn.executemany(
                "INSERT INTO quarantine_events (pipeline, record_id, replay_id, actor, action) "
                "VALUES ($1, $2, $3, 'alice', 'test')",
                events,
            )

        assert await db.migrate() == tuple(m.version for m in load_migrations()[2:])

        async with db.pool.acquire() as conn:
            filled = await conn.fetch("SELECT id, namespace FROM replays")
            assert {r["id"]: r["namespace"] for r in filled} == {
                replays["orders"]: "shop",
                replays["shared-b"]: "b",
                replays["shared"]: "default",
                replays["gone"]: "default",
            }
            filled = await conn.fetch("SELECT namespace FROM quarantine_events ORDER BY id")
            assert [r["namespace"] for r in filled] == ["a", "b", "b", "shop", "default"]
            with pytest.raises(asyncpg.RaiseError, match="append-only"):
                await conn.execute("UPDATE quarantine_events SET actor = 'mallory'")
            with pytest.raises(asyncpg.NotNullViolationError):
                await conn.execute(
                    "INSERT INTO replays (id, pipeline, created_by) VALUES ($1, 'x', 'alice')",
                    uuid4(),
                )
        assert await db.insert_quarantine_records([row("shared", 1, namespace="b")]) == 1
        assert await db.insert_quarantine_records([row("shared", 1, namespace="b")]) == 0
    finally:
        await db.close()


async def _apply_until(conn: Any, version: int) -> None:
    """Apply the migrations up to `version` and record them, as a release of that time did."""
    await conn.execute(
        "CREATE TABLE schema_migrations (version integer PRIMARY KEY, name text NOT NULL, "
        "checksum text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
    )
    for migration in load_migrations():
        if migration.version > version:
            break
        await conn.execute(migration.sql)
        await conn.execute(
            "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
            migration.version,
            migration.name,
            migration.checksum,
        )
