"""PostgreSQL databases of a test's own, on the local stack's server."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg


@asynccontextmanager
async def scratch_database(server_dsn: str, prefix: str) -> AsyncIterator[str]:
    """A new, empty database `<prefix>_<random>` on the server of `server_dsn`: yields its DSN,
    then drops it, connections and all."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    await _execute(server_dsn, f'CREATE DATABASE "{name}"')
    try:
        yield server_dsn.rsplit("/", 1)[0] + "/" + name
    finally:
        await _execute(server_dsn, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def _execute(dsn: str, statement: str) -> None:
    admin = await asyncpg.connect(dsn)
    try:
        await admin.execute(statement)
    finally:
        await admin.close()
