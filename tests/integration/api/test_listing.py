"""Listing records the real validator quarantined: filters, true totals, and pages that neither
skip nor repeat rows while new records keep arriving."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg

from tests.integration.api.conftest import PipelineFactory
from tests.integration.api.support import READER, ValidatorRun, running_api, wait_for_rows
from tests.integration.validator.harness import Produced, order, produce

RECORDS = "/api/v1/quarantine/records"


def invalid_mix(start: int, count: int) -> list[Produced]:
    """`count` invalid records of four kinds, ids from `start`, keyed by their id."""
    kinds = [
        lambda i: order(i, currency="GBP"),
        lambda i: order(i, amount=-5),
        lambda i: order(i, note="x" * 101),
        lambda i: b"{broken",
    ]
    return [
        Produced(kinds[n % 4](start + n), key=f"k{start + n}".encode(), partition=n % 2)
        for n in range(count)
        if start + n != 13
    ]


async def _ids(dsn: str, sql: str, *args: Any) -> list[str]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(sql, *args)
    finally:
        await conn.close()
    return [str(row["id"]) for row in rows]


async def _all_pages(client: Any, params: dict[str, Any]) -> tuple[list[str], set[int]]:
    seen: list[str] = []
    totals: set[int] = set()
    cursor = None
    while True:
        query = {**params, **({"cursor": cursor} if cursor else {})}
        reply = await client.get(RECORDS, params=query, headers=READER)
        assert reply.status_code == 200, reply.text
        page = reply.json()
        assert len(page["items"]) <= params["limit"]
        seen += [item["id"] for item in page["items"]]
        totals.add(page["total"])
        cursor = page["next_cursor"]
        if cursor is None:
            return seen, totals


async def test_filters_select_what_the_database_holds_with_true_totals(
    make_pipeline: PipelineFactory, validator_runs: list[ValidatorRun], tmp_path: Path
) -> None:
    pipeline = await make_pipeline(partitions=2)
    run = ValidatorRun(pipeline, tmp_path)
    validator_runs.append(run)
    records = invalid_mix(100, 40) + [Produced(order(i), partition=i % 2) for i in range(5)]
    await run.quarantine(records, expected_rows=40)
    dsn, name = pipeline.dsn, pipeline.name
    base = "SELECT id FROM quarantine_records WHERE pipeline = $1"
    order_by = " ORDER BY created_at, id"
    cases: list[tuple[dict[str, Any], str, tuple[Any, ...]]] = [
        ({}, "", ()),
        ({"error_type": "schema_violation"}, " AND error_type = $2", ("schema_violation",)),
        (
            {"error_type": ["schema_violation", "deserialization_error"]},
            " AND error_type IN ($2, $3)",
            ("schema_violation", "deserialization_error"),
        ),
        ({"field_path": "/currency"}, ' AND errors @> \'[{"path": "/currency"}]\'', ()),
        ({"field_path": "/note"}, ' AND errors @> \'[{"path": "/note"}]\'', ()),
        ({"q": "NOT VALID JSON"}, " AND error_message ILIKE '%not valid json%'", ()),
        ({"source_topic": pipeline.source, "schema_name": "orders", "schema_version": 1}, "", ()),
        ({"status": "quarantined"}, "", ()),
        ({"status": "replayed"}, " AND FALSE", ()),
        ({"source_topic": "elsewhere"}, " AND FALSE", ()),
    ]
    async with running_api(pipeline) as api:
        for params, where, args in cases:
            expected = await _ids(dsn, base + where + order_by, name, *args)
            reply = await api.client.get(RECORDS, params={**params, "limit": 1000}, headers=READER)
            assert reply.status_code == 200, (params, reply.text)
            page = reply.json()
            assert page["total"] == len(expected), params
            assert [item["id"] for item in page["items"]] == expected, params
            seen, totals = await _all_pages(api.client, {**params, "limit": 7})
            assert seen == expected, params
            assert totals == {len(expected)}, params
        now = datetime.now(UTC)
        window = {
            "created_after": (now - timedelta(hours=1)).isoformat(),
            "created_before": (now + timedelta(hours=1)).isoformat(),
            "limit": 5,
        }
        reply = await api.client.get(RECORDS, params=window, headers=READER)
        assert reply.json()["total"] == 40
        reply = await api.client.get(
            RECORDS,
            params={"created_after": (now + timedelta(hours=1)).isoformat()},
            headers=READER,
        )
        assert reply.json()["total"] == 0


async def test_pages_neither_skip_nor_repeat_rows_while_new_records_arrive(
    make_pipeline: PipelineFactory, validator_runs: list[ValidatorRun], tmp_path: Path
) -> None:
    pipeline = await make_pipeline(partitions=2)
    run = ValidatorRun(pipeline, tmp_path)
    validator_runs.append(run)
    await run.quarantine(invalid_mix(1000, 60), expected_rows=60)
    before = set(
        await _ids(
            pipeline.dsn, "SELECT id FROM quarantine_records WHERE pipeline = $1", pipeline.name
        )
    )
    arriving = asyncio.create_task(_keep_quarantining(pipeline))
    try:
        async with running_api(pipeline) as api:
            seen: list[str] = []
            totals: set[int] = set()
            cursor = None
            while True:
                params: dict[str, Any] = {"limit": 4, **({"cursor": cursor} if cursor else {})}
                page = (await api.client.get(RECORDS, params=params, headers=READER)).json()
                seen += [item["id"] for item in page["items"]]
                totals.add(page["total"])
                cursor = page["next_cursor"]
                await asyncio.sleep(0.02)  # let the validator quarantine more meanwhile
                if cursor is None:
                    break
    finally:
        arriving.cancel()
        await asyncio.gather(arriving, return_exceptions=True)
    after = await _ids(
        pipeline.dsn, "SELECT id FROM quarantine_records WHERE pipeline = $1", pipeline.name
    )
    assert len(after) > len(before), "no record arrived while paging"
    assert len(seen) == len(set(seen)), "a row was repeated"
    assert before <= set(seen), "a row was skipped"
    assert set(seen) <= set(after)
    assert totals == {len(seen)}, "the total changed while paging"


async def _keep_quarantining(pipeline: Any) -> None:
    start = 5000
    while True:
        await produce(pipeline.stack.kafka_bootstrap, pipeline.source, invalid_mix(start, 4))
        start += 4
        await wait_for_rows(pipeline, 0)
        await asyncio.sleep(0.05)
