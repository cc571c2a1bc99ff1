"""The local PostgreSQL works with asyncpg (COPY, jsonb, unique constraints)."""

from __future__ import annotations

import asyncpg

from tests.conftest import StackEnv


async def test_asyncpg_copies_rows_and_enforces_a_unique_key(
    stack_env: StackEnv, unique_name: str
) -> None:
    table = "smoke_" + unique_name.replace("-", "_")
    conn = await asyncpg.connect(stack_env.postgres_dsn)
    try:
        await conn.execute(f"CREATE TABLE {table} (k int PRIMARY KEY, doc jsonb NOT NULL, t text)")
        await conn.copy_records_to_table(
            table, records=[(1, '{"a": 1}', "x"), (2, '{"a": 2}', "y")], columns=["k", "doc", "t"]
        )
        inserted = await conn.execute(
            f"INSERT INTO {table} VALUES (2, '{{}}', 'dup'), (3, '{{}}', 'z') "
            "ON CONFLICT (k) DO NOTHING"
        )
        rows = await conn.fetch(f"SELECT k, doc->>'a' AS a FROM {table} ORDER BY k")
        await conn.execute(f"DROP TABLE {table}")
    finally:
        await conn.close()
    assert inserted == "INSERT 0 1"
    assert [(r["k"], r["a"]) for r in rows] == [(1, "1"), (2, "2"), (3, None)]
