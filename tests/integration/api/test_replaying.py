"""Fixing a schema, then reprocessing and bulk-replaying: each fixed record reaches the valid topic
exactly once, with its original key, value, headers and timestamp; dry runs change nothing."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import asyncpg

from tests.integration.api.conftest import PipelineFactory
from tests.integration.api.support import (
    ADMIN,
    FIXED_SCHEMA,
    READER,
    ApiPipeline,
    ValidatorRun,
    database_state,
    running_api,
    wait_for_replay,
)
from tests.integration.validator.harness import Produced, header, order, read_topic
from validator_pod.adapters.quarantine_queries import ReplayClaim
from validator_pod.domain.headers import DQ_REPLAYED_FROM

RECORDS = "/api/v1/quarantine/records"
REPLAYS = "/api/v1/quarantine/replays"
BASE_TIME_MS = 1_700_000_000_000


def mix() -> list[Produced]:
    """3 valid orders, 6 in GBP (fixed by version 2), 2 with a negative amount, 1 with the
    unlucky id 13 (a rule violation) and 1 that is not JSON; keys, headers and timestamps set."""
    records = [
        Produced(order(i), key=f"ok-{i}".encode(), timestamp_ms=BASE_TIME_MS + i) for i in range(3)
    ]
    records += [
        Produced(
            order(i, currency="GBP"),
            key=f"gbp-{i}".encode(),
            headers=[("trace-id", f"t-{i}".encode()), ("source", b"shop")],
            timestamp_ms=BASE_TIME_MS + i,
        )
        for i in range(30, 36)
    ]
    records += [
        Produced(order(i, amount=-1), key=f"neg-{i}".encode(), timestamp_ms=BASE_TIME_MS + i)
        for i in (20, 21)
    ]
    records.append(Produced(order(13), key=b"unlucky", timestamp_ms=BASE_TIME_MS + 13))
    records.append(Produced(b"\xff not json", key=b"garbage", timestamp_ms=BASE_TIME_MS + 99))
    return records


async def _quarantined(
    make_pipeline: PipelineFactory, validator_runs: list[ValidatorRun], tmp_path: Path
) -> ApiPipeline:
    pipeline = await make_pipeline()
    run = ValidatorRun(pipeline, tmp_path)
    validator_runs.append(run)
    await run.quarantine(mix(), expected_rows=10)
    run.close()
    return pipeline


async def _rows_by_key(pipeline: ApiPipeline) -> dict[bytes, asyncpg.Record]:
    conn = await asyncpg.connect(pipeline.dsn)
    try:
        rows = await conn.fetch(
            "SELECT * FROM quarantine_records WHERE pipeline = $1", pipeline.name
        )
    finally:
        await conn.close()
    return {row["record_key"]: row for row in rows}


async def _events(pipeline: ApiPipeline) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(pipeline.dsn)
    try:
        return await conn.fetch(
            "SELECT * FROM quarantine_events WHERE pipeline = $1 ORDER BY id", pipeline.name
        )
    finally:
        await conn.close()


async def _replayed_on_valid_topic(pipeline: ApiPipeline) -> list[Any]:
    records = await read_topic(pipeline.stack.kafka_bootstrap, pipeline.valid, 1)
    return [record for record in records if header(record, DQ_REPLAYED_FROM) is not None]


async def test_fixed_records_are_replayed_once_with_their_original_bytes_key_and_timestamp(
    make_pipeline: PipelineFactory, validator_runs: list[ValidatorRun], tmp_path: Path
) -> None:
    pipeline = await _quarantined(make_pipeline, validator_runs, tmp_path)
    originals = {record.key: record for record in mix()}
    rows = await _rows_by_key(pipeline)
    gbp = sorted(key for key in rows if key.startswith(b"gbp-"))
    first = str(rows[gbp[0]]["id"])

    async with running_api(pipeline) as api:
        client = api.client
        before = await database_state(pipeline.dsn, pipeline.name)
        reply = await client.post(
            f"{RECORDS}/{first}/reprocess", json={"dry_run": True}, headers=ADMIN
        )
        assert reply.status_code == 200, reply.text
        assert reply.json()["outcome"] == "still_invalid"
        assert reply.json()["errors"][0]["path"] == "/currency"

        pipeline.add_schema_version(2, FIXED_SCHEMA, select=True)

        reply = await client.post(
            f"{RECORDS}/{first}/reprocess", json={"dry_run": True}, headers=ADMIN
        )
        assert reply.json()["outcome"] == "would_pass"
        assert reply.json()["schema_ref"] == {"name": "orders", "version": 2}
        reply = await client.post(
            f"{RECORDS}/{first}/reprocess",
            json={"dry_run": True, "schema_version": 1},
            headers=ADMIN,
        )
        assert reply.json()["outcome"] == "still_invalid"
        dry = await client.post(REPLAYS, json={"all": True, "dry_run": True}, headers=ADMIN)
        assert dry.status_code == 202, dry.text
        finished = await wait_for_replay(client, dry.json()["id"])
        assert finished["state"] == "succeeded"
        assert finished["counts"]["total"] == 10
        assert finished["counts"]["would_pass"] == 6
        assert finished["counts"]["still_invalid"] == {
            "schema_violation": 2,
            "rule_violation": 1,
            "deserialization_error": 1,
        }
        assert finished["counts"]["replayed"] == 0
        assert await database_state(pipeline.dsn, pipeline.name) == before
        assert await _replayed_on_valid_topic(pipeline) == []

        reply = await client.post(f"{RECORDS}/{first}/reprocess", headers=ADMIN)
        assert reply.status_code == 200, reply.text
        assert reply.json()["outcome"] == "replayed"
        assert reply.json()["status"] == "replayed"
        again = await client.post(f"{RECORDS}/{first}/reprocess", headers=ADMIN)
        assert again.status_code == 409
        assert again.json()["code"] == "record_not_replayable"

        bulk = await client.post(REPLAYS, json={"all": True, "rate_limit": 50}, headers=ADMIN)
        assert bulk.status_code == 202, bulk.text
        finished = await wait_for_replay(client, bulk.json()["id"])
        assert finished["state"] == "succeeded", finished
        assert finished["counts"]["total"] == 9
        assert finished["counts"]["replayed"] == 5
        assert finished["counts"]["still_invalid"] == {
            "schema_violation": 2,
            "rule_violation": 1,
            "deserialization_error": 1,
        }
        assert finished["progress"] == 1.0
        assert finished["created_by"] == "alice"

        again = await client.post(REPLAYS, json={"all": True}, headers=ADMIN)
        finished_again = await wait_for_replay(client, again.json()["id"])
        assert finished_again["counts"]["replayed"] == 0
        assert finished_again["counts"]["total"] == 4

    replayed = await _replayed_on_valid_topic(pipeline)
    assert sorted(record.key for record in replayed) == gbp
    rows = await _rows_by_key(pipeline)
    for record in replayed:
        original = originals[record.key]
        assert record.value == original.value
        assert record.timestamp == original.timestamp_ms
        assert header(record, DQ_REPLAYED_FROM) == str(rows[record.key]["id"]).encode()
        assert list(record.headers) == [
            *original.headers,
            (DQ_REPLAYED_FROM, str(rows[record.key]["id"]).encode()),
        ]
    for key, row in rows.items():
        expected = "replayed" if key.startswith(b"gbp-") else "quarantined"
        assert (key, row["status"], row["replay_count"]) == (
            key,
            expected,
            int(expected == "replayed"),
        )
        assert row["replay_attempt"] is None

    events = await _events(pipeline)
    replay_events = [(e["action"], e["record_id"], e["actor"]) for e in events]
    gbp_ids = {rows[key]["id"] for key in gbp}
    assert ("reprocess", rows[gbp[0]]["id"], "alice") in replay_events
    replayed_events = [e for e in events if '"replayed"' in e["result"]]
    assert {e["record_id"] for e in replayed_events} == gbp_ids
    assert len(replayed_events) == len(gbp_ids)
    still_invalid = [e for e in events if '"still_invalid"' in e["result"]]
    assert len(still_invalid) == 2 * 4  # both bulk replays met the four invalid records


async def test_concurrent_reprocess_requests_produce_the_record_once(
    make_pipeline: PipelineFactory, validator_runs: list[ValidatorRun], tmp_path: Path
) -> None:
    pipeline = await _quarantined(make_pipeline, validator_runs, tmp_path)
    pipeline.add_schema_version(2, FIXED_SCHEMA, select=True)
    rows = await _rows_by_key(pipeline)
    target = str(rows[b"gbp-30"]["id"])
    async with running_api(pipeline) as api:
        replies = await asyncio.gather(
            *(api.client.post(f"{RECORDS}/{target}/reprocess", headers=ADMIN) for _ in range(6))
        )
        discard = await api.client.post(f"{RECORDS}/{target}/discard", headers=ADMIN)
    statuses = sorted(reply.status_code for reply in replies)
    assert statuses == [200, 409, 409, 409, 409, 409], [reply.text for reply in replies]
    assert {reply.json()["code"] for reply in replies if reply.status_code == 409} <= {
        "record_not_replayable",
        "replay_in_progress",
    }
    assert discard.status_code == 409
    replayed = await _replayed_on_valid_topic(pipeline)
    assert [record.key for record in replayed] == [b"gbp-30"]


async def test_a_bulk_replay_resumes_after_the_api_restarts(
    make_pipeline: PipelineFactory, validator_runs: list[ValidatorRun], tmp_path: Path
) -> None:
    pipeline = await _quarantined(make_pipeline, validator_runs, tmp_path)
    pipeline.add_schema_version(2, FIXED_SCHEMA, select=True)
    async with running_api(pipeline, replay_chunk_size=1, replay_lease=2) as api:
        reply = await api.client.post(
            REPLAYS,
            json={"filter": {"field_path": "/currency"}, "rate_limit": 4},
            headers=ADMIN,
        )
        replay_id = reply.json()["id"]
        while True:
            progress = await api.client.get(f"{REPLAYS}/{replay_id}", headers=READER)
            if progress.json()["counts"]["replayed"] >= 2:
                break
            await asyncio.sleep(0.05)
    # The API stopped mid-replay (its run was cancelled, possibly between produce and record).
    async with running_api(pipeline, replay_lease=2) as api:
        finished = await wait_for_replay(api.client, replay_id)
        assert finished["state"] == "succeeded", finished
        assert finished["counts"]["replayed"] == 6
    replayed = await _replayed_on_valid_topic(pipeline)
    assert sorted(record.key for record in replayed) == [f"gbp-{i}".encode() for i in range(30, 36)]
    rows = await _rows_by_key(pipeline)
    assert all(rows[f"gbp-{i}".encode()]["status"] == "replayed" for i in range(30, 36))


async def test_abandoned_claims_are_settled_by_what_the_valid_topic_holds(
    make_pipeline: PipelineFactory, validator_runs: list[ValidatorRun], tmp_path: Path
) -> None:
    pipeline = await _quarantined(make_pipeline, validator_runs, tmp_path)
    pipeline.add_schema_version(2, FIXED_SCHEMA, select=True)
    rows = await _rows_by_key(pipeline)
    produced_id, lost_id = rows[b"gbp-30"]["id"], rows[b"gbp-31"]["id"]
    async with running_api(
        pipeline, replay_lease=1, produce_timeout=0.5, recovery_interval=3600
    ) as api:
        services = api.services
        replayer = services.replayer
        # A process claimed both, produced one, and died before recording anything.
        claim = ReplayClaim(uuid.uuid4(), pipeline.valid, await replayer.end_offsets(), "alice")
        claimed = await services.queries.claim([produced_id, lost_id], claim)
        assert sorted(claimed) == sorted([produced_id, lost_id])
        stored = await services.queries.fetch_record(produced_id)
        assert stored is not None
        value = await replayer.read_payload(stored)
        assert value is not None
        await replayer._send([(stored, value)])
        blocked = await api.client.post(f"{RECORDS}/{lost_id}/reprocess", headers=ADMIN)
        assert blocked.status_code == 409
        assert blocked.json()["code"] == "replay_in_progress"
        await asyncio.sleep(1.2)
        settled = await replayer.settle_abandoned()
        assert settled.replayed == [produced_id]
        assert settled.released == [lost_id]
        reply = await api.client.post(f"{RECORDS}/{lost_id}/reprocess", headers=ADMIN)
        assert reply.json()["outcome"] == "replayed"
    replayed = await _replayed_on_valid_topic(pipeline)
    assert sorted(record.key for record in replayed) == [b"gbp-30", b"gbp-31"]
    rows = await _rows_by_key(pipeline)
    assert rows[b"gbp-30"]["status"] == rows[b"gbp-31"]["status"] == "replayed"
    events = [(e["action"], e["record_id"], e["result"]) for e in await _events(pipeline)]
    assert any(r == produced_id and '"recovered": true' in res for _, r, res in events)
    assert any(r == lost_id and "not_produced" in res for _, r, res in events)
