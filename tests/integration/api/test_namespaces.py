"""Two pipelines of the same name in different namespaces share one database, but not their
records: both keep the records of the same source offsets, and each one's API lists, shows,
counts, replays, discards and purges only its own."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import asyncpg
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from tests.integration.api.conftest import PipelineFactory
from tests.integration.api.support import (
    ADMIN,
    FIXED_SCHEMA,
    READER,
    Api,
    ApiPipeline,
    ValidatorRun,
    running_api,
    wait_for_replay,
    wait_for_rows,
)
from tests.integration.validator.harness import Produced, header, order, produce, read_topic
from validator_pod.domain.headers import DQ_REPLAYED_FROM
from validator_pod.pipeline.quarantining import quarantine_record_id

RECORDS = "/api/v1/quarantine/records"
REPLAYS = "/api/v1/quarantine/replays"
STATS = "/api/v1/quarantine/stats"
PURGE = "/api/v1/quarantine/retention/purge"

FIRST_RECORDS = [
    Produced(order(1, currency="GBP"), key=b"gbp-1"),
    Produced(order(2, currency="GBP"), key=b"gbp-2"),
    Produced(order(3, amount=-1), key=b"negative-3"),
    Produced(b"{broken", key=b"broken"),
    Produced(order(4), key=b"valid"),
]
"""Offsets 0-3 are quarantined by both pipelines, offset 4 is valid."""
LATER_RECORDS = [
    Produced(order(5, currency="GBP"), key=b"gbp-5"),
    Produced(order(6, amount=-1), key=b"negative-6"),
]
"""Offsets 5-6, produced after the first pipeline stopped: only the second one sees them."""


@dataclass(frozen=True)
class Twins:
    """Pipeline `first` quarantined offsets 0-3, pipeline `second` (same name, source topic
    and database, another namespace) offsets 0-3 and 5-6. Rows by record key."""

    first: ApiPipeline
    second: ApiPipeline
    first_rows: dict[bytes, asyncpg.Record]
    second_rows: dict[bytes, asyncpg.Record]


async def _rows(pipeline: ApiPipeline) -> dict[bytes, asyncpg.Record]:
    conn = await asyncpg.connect(pipeline.dsn)
    try:
        rows = await conn.fetch(
            "SELECT * FROM quarantine_records WHERE namespace = $1 AND pipeline = $2",
            pipeline.namespace,
            pipeline.name,
        )
    finally:
        await conn.close()
    return {row["record_key"]: row for row in rows}


async def _twins(
    make_pipeline: PipelineFactory, validator_runs: list[ValidatorRun], tmp_path: Path
) -> Twins:
    first = await make_pipeline(namespace="team-a")
    second = replace(
        first,
        namespace="team-b",
        valid=f"{first.name}.team-b.valid",
        quarantine=f"{first.name}.team-b.dlq",
        group=f"{first.group}-team-b",
        config_dir=tmp_path / "team-b" / "config",
    )
    admin = AIOKafkaAdminClient(bootstrap_servers=second.stack.kafka_bootstrap)
    await admin.start()
    try:
        await admin.create_topics(
            [NewTopic(topic, 1, 1) for topic in (second.valid, second.quarantine)]
        )
    finally:
        await admin.close()
    second.write_config()

    run = ValidatorRun(first, tmp_path, pod="validator-team-a")
    validator_runs.append(run)
    await run.quarantine(FIRST_RECORDS, expected_rows=4)
    run.close()
    await produce(first.stack.kafka_bootstrap, first.source, LATER_RECORDS)
    run = ValidatorRun(second, tmp_path, pod="validator-team-b")
    validator_runs.append(run)
    await run.process.wait_ready()
    await wait_for_rows(second, 6, tail=run.process.tail)
    run.close()
    return Twins(first, second, await _rows(first), await _rows(second))


@asynccontextmanager
async def _both_apis(twins: Twins) -> AsyncIterator[tuple[Api, Api]]:
    async with running_api(twins.first) as first, running_api(twins.second) as second:
        yield first, second


async def _get(api: Api, path: str, **params: Any) -> Any:
    reply = await api.client.get(path, params=params, headers=READER)
    assert reply.status_code == 200, reply.text
    return reply.json()


async def _listed_ids(api: Api) -> set[str]:
    page = await _get(api, RECORDS, limit=100)
    assert page["total"] == len(page["items"])
    return {item["id"] for item in page["items"]}


def _ids(rows: dict[bytes, asyncpg.Record]) -> set[str]:
    return {str(row["id"]) for row in rows.values()}


async def test_pipelines_of_one_name_in_two_namespaces_both_keep_the_records_of_the_same_offsets(
    make_pipeline: PipelineFactory, validator_runs: list[ValidatorRun], tmp_path: Path
) -> None:
    twins = await _twins(make_pipeline, validator_runs, tmp_path)
    first, second = twins.first_rows, twins.second_rows
    offsets = {key: row["kafka_offset"] for key, row in first.items()}
    assert sorted(offsets.values()) == [0, 1, 2, 3]
    assert {key: row["kafka_offset"] for key, row in second.items()} == {
        **offsets,
        b"gbp-5": 5,
        b"negative-6": 6,
    }
    assert not _ids(first) & _ids(second)
    for namespace, rows in (("team-a", first), ("team-b", second)):
        for row in rows.values():
            assert row["namespace"] == namespace
            assert row["id"] == quarantine_record_id(
                namespace, twins.first.name, twins.first.source, 0, row["kafka_offset"]
            )
    assert first[b"gbp-1"]["storage_uri"] != second[b"gbp-1"]["storage_uri"]


async def test_each_namespace_lists_shows_counts_and_discards_only_its_own_records(
    make_pipeline: PipelineFactory, validator_runs: list[ValidatorRun], tmp_path: Path
) -> None:
    twins = await _twins(make_pipeline, validator_runs, tmp_path)
    mine, theirs = twins.first_rows, twins.second_rows
    async with _both_apis(twins) as (first, second):
        assert await _listed_ids(first) == _ids(mine)
        assert await _listed_ids(second) == _ids(theirs)
        stats = await _get(first, STATS)
        assert (stats["total"], stats["by_status"]) == (4, {"quarantined": 4})
        assert (await _get(second, STATS))["total"] == 6

        shown = await _get(first, f"{RECORDS}/{mine[b'gbp-1']['id']}")
        assert shown["payload"]["value"] == {"id": 1, "amount": 10.5, "currency": "GBP"}
        for other in (theirs[b"gbp-1"]["id"], theirs[b"gbp-5"]["id"]):
            for method, path in (
                ("GET", f"{RECORDS}/{other}"),
                ("POST", f"{RECORDS}/{other}/reprocess"),
                ("POST", f"{RECORDS}/{other}/discard"),
            ):
                reply = await first.client.request(method, path, headers=ADMIN)
                assert reply.status_code == 404, (method, path, reply.text)
                assert reply.json()["code"] == "record_not_found"

        negative = mine[b"negative-3"]["id"]
        reply = await first.client.post(
            f"{RECORDS}/{negative}/discard", json={"reason": "bad"}, headers=ADMIN
        )
        assert reply.json() == {"record_id": str(negative), "status": "discarded"}
        theirs_negative = await _get(second, f"{RECORDS}/{theirs[b'negative-3']['id']}")
        assert (theirs_negative["status"], theirs_negative["events"]) == ("quarantined", [])

        bulk = {"filter": {"field_path": "/amount"}, "reason": "negative"}
        reply = await second.client.post("/api/v1/quarantine/discards", json=bulk, headers=ADMIN)
        assert reply.json() == {"matched": 2, "discarded": 2, "dry_run": False}
        assert (await _get(first, STATS))["by_status"] == {"quarantined": 3, "discarded": 1}
        assert (await _get(second, STATS))["by_status"] == {"quarantined": 4, "discarded": 2}
        history = (await _get(first, f"{RECORDS}/{negative}"))["events"]
        assert [(e["action"], e["result"]) for e in history] == [("discard", {"reason": "bad"})]


async def test_a_bulk_replay_and_a_purge_in_one_namespace_leave_the_other_untouched(
    make_pipeline: PipelineFactory, validator_runs: list[ValidatorRun], tmp_path: Path
) -> None:
    twins = await _twins(make_pipeline, validator_runs, tmp_path)
    mine = twins.first_rows
    # both select the fixed schema: the other namespace's records would pass if replayed
    twins.first.add_schema_version(2, FIXED_SCHEMA, select=True)
    twins.second.add_schema_version(2, FIXED_SCHEMA, select=True)
    async with _both_apis(twins) as (first, second):
        started = await first.client.post(REPLAYS, json={"all": True}, headers=ADMIN)
        assert started.status_code == 202, started.text
        replay = started.json()["id"]
        finished = await wait_for_replay(first.client, replay)
        assert finished["state"] == "succeeded", finished
        assert (finished["counts"]["total"], finished["counts"]["replayed"]) == (4, 2)

        assert (await _get(second, REPLAYS))["items"] == []
        for method, path in (
            ("GET", f"{REPLAYS}/{replay}"),
            ("POST", f"{REPLAYS}/{replay}/cancel"),
        ):
            reply = await second.client.request(method, path, headers=ADMIN)
            assert reply.status_code == 404, (method, path, reply.text)
            assert reply.json()["code"] == "replay_not_found"
        assert (await _get(second, STATS))["by_status"] == {"quarantined": 6}

        conn = await asyncpg.connect(twins.first.dsn)
        try:
            await conn.execute(
                "UPDATE quarantine_records SET created_at = now() - interval '8 days' "
                "WHERE pipeline = $1",
                twins.first.name,
            )
        finally:
            await conn.close()
        dry = (await second.client.post(PURGE, json={"dry_run": True}, headers=ADMIN)).json()
        assert dry["records_deleted"] == 6
        purged = (await first.client.post(PURGE, headers=ADMIN)).json()
        segments = {row["storage_uri"] for row in mine.values()}
        assert (purged["records_deleted"], purged["segments_removed"]) == (4, len(segments))
        assert await _listed_ids(first) == set()
        assert await _listed_ids(second) == _ids(twins.second_rows)
        shown = await _get(second, f"{RECORDS}/{twins.second_rows[b'gbp-1']['id']}")
        assert shown["payload"]["value"] == {"id": 1, "amount": 10.5, "currency": "GBP"}

    replayed = await read_topic(twins.first.stack.kafka_bootstrap, twins.first.valid, 1)
    assert sorted(
        header(record, DQ_REPLAYED_FROM) for record in replayed if record.key != b"valid"
    ) == sorted(str(mine[key]["id"]).encode() for key in (b"gbp-1", b"gbp-2"))
    untouched = await read_topic(twins.second.stack.kafka_bootstrap, twins.second.valid, 1)
    assert [header(record, DQ_REPLAYED_FROM) for record in untouched] == [None]
    assert {row["status"] for row in (await _rows(twins.second)).values()} == {"quarantined"}
