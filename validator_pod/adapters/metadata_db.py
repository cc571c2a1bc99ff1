"""PostgreSQL: versioned migrations and the quarantine tables, through an asyncpg pool.

`MetadataDb` is shared by the validator (batched, idempotent inserts) and the REST API (queries
through `MetadataDb.pool`, rows read back with `quarantine_record_from_row`). Every asyncpg or
network failure leaves this module as a `MetadataDbError`.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from typing import Any, Final, NamedTuple
from uuid import UUID

import asyncpg
import orjson

from validator_pod.adapters.errors import MetadataDbError, MigrationError
from validator_pod.domain.records import ErrorType, FieldError, QuarantineRecord, RecordStatus

MIGRATIONS_PACKAGE: Final = "validator_pod.adapters.migrations"
# pg_advisory_lock key shared by every process that migrates ("dqmigrat" in ASCII).
MIGRATION_LOCK_KEY: Final = 0x64716D6967726174
_MIGRATION_FILE: Final = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")

_INCOMING_TABLE: Final = "quarantine_records_incoming"

_CREATE_MIGRATIONS_TABLE: Final = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    integer     PRIMARY KEY,
    name       text        NOT NULL,
    checksum   text        NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)
"""

# A per-connection staging table for COPY; rows vanish at commit.
_CREATE_INCOMING: Final = """
CREATE TEMP TABLE IF NOT EXISTS quarantine_records_incoming (
    id uuid, pipeline text, namespace text, source_topic text, kafka_partition integer,
    kafka_offset bigint, kafka_timestamp timestamptz, record_key bytea, schema_name text,
    schema_version integer, error_type text, error_message text, errors jsonb,
    storage_uri text, byte_offset bigint, byte_length integer, status text, record_headers jsonb
) ON COMMIT DELETE ROWS
"""


class QuarantineRow(NamedTuple):
    """A new `quarantine_records` row, in COPY column order (the database fills replay_count,
    created_at, updated_at and the replay columns). `errors_json` is the JSON list of
    `FieldError` objects; `record_headers_json` the record's headers in order, a JSON list of
    [name, base64 value or null] (migration 0002)."""

    id: UUID
    pipeline: str
    namespace: str
    source_topic: str
    kafka_partition: int
    kafka_offset: int
    kafka_timestamp: datetime | None
    record_key: bytes | None
    schema_name: str | None
    schema_version: int | None
    error_type: str
    error_message: str
    errors_json: str
    storage_uri: str
    byte_offset: int
    byte_length: int
    status: str
    record_headers_json: str | None


_COLUMNS: Final = (
    "id",
    "pipeline",
    "namespace",
    "source_topic",
    "kafka_partition",
    "kafka_offset",
    "kafka_timestamp",
    "record_key",
    "schema_name",
    "schema_version",
    "error_type",
    "error_message",
    "errors",
    "storage_uri",
    "byte_offset",
    "byte_length",
    "status",
    "record_headers",
)
_INSERT_FROM_INCOMING: Final = """
INSERT INTO quarantine_records (
    id, pipeline, namespace, source_topic, kafka_partition, kafka_offset, kafka_timestamp,
    record_key, schema_name, schema_version, error_type, error_message, errors, storage_uri,
    byte_offset, byte_length, status, record_headers)
SELECT
    id, pipeline, namespace, source_topic, kafka_partition, kafka_offset, kafka_timestamp,
    record_key, schema_name, schema_version, error_type, error_message, errors, storage_uri,
    byte_offset, byte_length, status, record_headers
FROM quarantine_records_incoming
ON CONFLICT (namespace, pipeline, source_topic, kafka_partition, kafka_offset) DO NOTHING
"""


@dataclass(frozen=True, slots=True)
class Migration:
    """One versioned SQL file; `checksum` detects a file edited after it was applied."""

    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        """sha256 of the SQL text."""
        return hashlib.sha256(self.sql.encode()).hexdigest()


def load_migrations() -> tuple[Migration, ...]:
    """The packaged migrations, ordered by version (file names `NNNN_name.sql`)."""
    found: list[Migration] = []
    for entry in resources.files(MIGRATIONS_PACKAGE).iterdir():
        match = _MIGRATION_FILE.match(entry.name)
        if match is None:
            continue
        found.append(Migration(int(match[1]), match[2], entry.read_text(encoding="utf-8")))
    found.sort(key=lambda migration: migration.version)
    versions = [migration.version for migration in found]
    if len(set(versions)) != len(versions):
        raise MigrationError(f"two migration files share a version: {versions}")
    return tuple(found)


def quarantine_record_from_row(row: asyncpg.Record | dict[str, Any]) -> QuarantineRecord:
    """A `quarantine_records` row (all columns, `SELECT *`) as the domain model."""
    errors = row["errors"]
    if isinstance(errors, str):
        errors = orjson.loads(errors)
    return QuarantineRecord(
        id=row["id"],
        pipeline=row["pipeline"],
        namespace=row["namespace"],
        source_topic=row["source_topic"],
        kafka_partition=row["kafka_partition"],
        kafka_offset=row["kafka_offset"],
        kafka_timestamp=row["kafka_timestamp"],
        record_key=row["record_key"],
        schema_name=row["schema_name"],
        schema_version=row["schema_version"],
        error_type=ErrorType(row["error_type"]),
        error_message=row["error_message"],
        errors=tuple(FieldError(**error) for error in errors),
        storage_uri=row["storage_uri"],
        byte_offset=row["byte_offset"],
        byte_length=row["byte_length"],
        status=RecordStatus(row["status"]),
        replay_count=row["replay_count"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


@asynccontextmanager
async def translated_errors(what: str) -> AsyncIterator[None]:
    """Turn asyncpg and network failures inside the block into `MetadataDbError`.
    `InternalClientError` is among them: when the server goes away while a pool connection is
    being reset, asyncpg reports its protocol state machine's confusion that way."""
    try:
        yield
    except MetadataDbError:
        raise
    except (
        asyncpg.PostgresError,
        asyncpg.InterfaceError,
        asyncpg.InternalClientError,
        OSError,
        TimeoutError,
    ) as exc:
        raise MetadataDbError(f"{what}: {type(exc).__name__}: {exc}") from exc


class MetadataDb:
    """The quarantine database: migrations, batched inserts, and the pool for queries."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        """Wrap a pool made by `MetadataDb.connect` (its connections have the staging table)."""
        self._pool = pool

    @classmethod
    async def connect(
        cls,
        dsn: str,
        *,
        max_size: int = 4,
        connect_timeout: float = 5.0,
        command_timeout: float = 30.0,
    ) -> MetadataDb:
        """A pool that connects lazily: creating it succeeds while PostgreSQL is down, and each
        call reconnects as needed."""
        pool = await asyncpg.create_pool(
            dsn,
            min_size=0,
            max_size=max_size,
            timeout=connect_timeout,
            command_timeout=command_timeout,
            init=_init_connection,
        )
        return cls(pool)

    @property
    def pool(self) -> asyncpg.Pool:
        """The asyncpg pool, for queries of the REST API; wrap calls in `translated_errors`."""
        return self._pool

    async def close(self) -> None:
        """Close every connection (waits at most 10 s for calls in progress)."""
        try:
            await asyncio.wait_for(self._pool.close(), timeout=10)
        except TimeoutError:
            self._pool.terminate()

    async def ping(self) -> None:
        """Raise `MetadataDbError` unless PostgreSQL answers."""
        async with translated_errors("ping"), self._pool.acquire() as conn:
            await conn.fetchval("SELECT 1")

    async def migrate(self) -> tuple[int, ...]:
        """Apply the migrations this database lacks, each in its own transaction, under an
        advisory lock (several processes may start at once); return the versions applied."""
        migrations = load_migrations()
        applied_now: list[int] = []
        async with translated_errors("migrate"), self._pool.acquire() as conn:
            await conn.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK_KEY)
            try:
                await conn.execute(_CREATE_MIGRATIONS_TABLE)
                rows = await conn.fetch("SELECT version, checksum FROM schema_migrations")
                applied = {row["version"]: row["checksum"] for row in rows}
                _check_history(applied, migrations)
                for migration in migrations:
                    if migration.version in applied:
                        continue
                    async with conn.transaction():
                        await conn.execute(migration.sql)
                        await conn.execute(
                            "INSERT INTO schema_migrations (version, name, checksum) "
                            "VALUES ($1, $2, $3)",
                            migration.version,
                            migration.name,
                            migration.checksum,
                        )
                    applied_now.append(migration.version)
            finally:
                await conn.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK_KEY)
        return tuple(applied_now)

    async def insert_quarantine_records(self, rows: Sequence[QuarantineRow]) -> int:
        """Insert rows with one COPY, or, when some exist already (same namespace, pipeline,
        topic, partition and offset), with a COPY into a staging table and one INSERT … ON
        CONFLICT DO NOTHING in a transaction, leaving existing rows as they are. Return how many
        rows were new."""
        if not rows:
            return 0
        async with translated_errors("insert quarantine records"), self._pool.acquire() as conn:
            # Rows are new unless a batch is being retried: COPY them straight into the table,
            # and only when one exists already go through a staging table and ON CONFLICT.
            try:
                await conn.copy_records_to_table(
                    "quarantine_records", records=rows, columns=_COLUMNS
                )
            except asyncpg.UniqueViolationError:
                pass
            else:
                return len(rows)
            async with conn.transaction():
                await conn.copy_records_to_table(_INCOMING_TABLE, records=rows, columns=_COLUMNS)
                status = await conn.execute(_INSERT_FROM_INCOMING)
        return int(status.rsplit(" ", 1)[-1])

    async def fetch_quarantine_record(
        self, namespace: str, pipeline: str, record_id: UUID
    ) -> QuarantineRecord | None:
        """One quarantined record of the pipeline `namespace`/`pipeline` by id, or None."""
        async with translated_errors("fetch quarantine record"), self._pool.acquire() as conn:
            row = await conn.fetchrow(
                "SELECT * FROM quarantine_records "
                "WHERE namespace = $1 AND pipeline = $2 AND id = $3",
                namespace,
                pipeline,
                record_id,
            )
        return None if row is None else quarantine_record_from_row(row)


async def _init_connection(conn: asyncpg.Connection) -> None:
    await conn.execute(_CREATE_INCOMING)


def _check_history(applied: dict[int, str], migrations: Sequence[Migration]) -> None:
    # Versions this release does not know come from a newer release; migrations are additive,
    # so an older release (a rollback, a rolling update) keeps working on the newer schema.
    # Except: an API older than 0003 cannot write replays or events (their namespace is
    # required); its validator keeps working.
    for migration in migrations:
        checksum = applied.get(migration.version)
        if checksum is not None and checksum != migration.checksum:
            raise MigrationError(
                f"migration {migration.version:04d}_{migration.name}.sql was changed after it "
                "was applied; add a new migration instead of editing an applied one"
            )
