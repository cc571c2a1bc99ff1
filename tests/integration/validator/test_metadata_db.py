"""The PostgreSQL adapter: migrations apply once, inserts are idempotent per source offset."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import orjson

from tests.conftest import StackEnv
from validator_pod.adapters.metadata_db import MetadataDb, QuarantineRow, load_migrations
from validator_pod.domain.records import ErrorType, FieldError, RecordStatus
from validator_pod.pipeline.quarantining import errors_json, quarantine_record_id

ERROR = FieldError(path="/a", keyword="type", schema_path="/properties/a/type", message="bad")


def row(pipeline: str, offset: int, *, uri: str = "s3://b/first.seg") -> QuarantineRow:
    return QuarantineRow(
        id=quarantine_record_id(pipeline, "t", 0, offset),
        pipeline=pipeline,
        namespace="ns",
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


async def test_migrations_run_once_even_when_processes_start_together(stack_env: StackEnv) -> None:
    dbs = [await MetadataDb.connect(stack_env.postgres_dsn) for _ in range(3)]
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

        first = await db.fetch_quarantine_record(quarantine_record_id(unique_name, "t", 0, 1))
        third = await db.fetch_quarantine_record(quarantine_record_id(unique_name, "t", 0, 3))
        assert first is not None
        assert third is not None
        assert (first.storage_uri, third.storage_uri) == ("s3://b/first.seg", "s3://b/second.seg")
        assert first.errors == (ERROR,)
        assert (first.error_type, first.status) == (
            ErrorType.SCHEMA_VIOLATION,
            RecordStatus.QUARANTINED,
        )
        assert first.kafka_timestamp == datetime(2026, 1, 1, tzinfo=UTC)
        assert (
            await db.fetch_quarantine_record(quarantine_record_id(unique_name, "t", 0, 9)) is None
        )
    finally:
        async with db.pool.acquire() as conn:
            await conn.execute("DELETE FROM quarantine_records WHERE pipeline = $1", unique_name)
        await db.close()
