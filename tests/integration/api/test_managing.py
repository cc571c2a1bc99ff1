"""Inspecting and managing quarantined records: payloads and headers, discards, stats, metrics,
schemas, and the retention purge."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import asyncpg
from miniopy_async import Minio

from tests.integration.api.conftest import PipelineFactory
from tests.integration.api.support import (
    ADMIN,
    FIXED_SCHEMA,
    READER,
    ApiPipeline,
    ValidatorRun,
    database_state,
    running_api,
)
from tests.integration.validator.harness import Produced, header, order, read_topic
from validator_pod.domain.headers import DQ_REPLAYED_FROM

RECORDS = "/api/v1/quarantine/records"
HEADERS = [("trace-id", b"abc-123"), ("binary", b"\x00\xff"), ("trace-id", b"second")]


async def _quarantine(
    pipeline: ApiPipeline, validator_runs: list[ValidatorRun], tmp_path: Path
) -> dict[bytes, asyncpg.Record]:
    run = ValidatorRun(pipeline, tmp_path)
    validator_runs.append(run)
    records = [
        Produced(
            order(1, currency="GBP"), key=b"gbp", headers=HEADERS, timestamp_ms=1_700_000_000_123
        ),
        Produced(order(2, amount=-1), key=b"negative"),
        Produced(order(3, amount=-2), key=b"negative-too"),
        Produced(b"\x00\x01 binary", key=b"\xfe\xff"),
        Produced(order(4, currency="GBP"), key=b"gbp-2"),
    ]
    await run.quarantine(records, expected_rows=5)
    run.close()
    conn = await asyncpg.connect(pipeline.dsn)
    try:
        rows = await conn.fetch(
            "SELECT * FROM quarantine_records WHERE pipeline = $1", pipeline.name
        )
    finally:
        await conn.close()
    return {row["record_key"]: row for row in rows}


async def test_a_record_shows_its_errors_headers_and_payload_and_replays_with_its_headers(
    make_pipeline: PipelineFactory, validator_runs: list[ValidatorRun], tmp_path: Path
) -> None:
    pipeline = await make_pipeline()
    rows = await _quarantine(pipeline, validator_runs, tmp_path)
    gbp, binary = str(rows[b"gbp"]["id"]), str(rows[b"\xfe\xff"]["id"])
    async with running_api(pipeline) as api:
        shown = (await api.client.get(f"{RECORDS}/{gbp}", headers=READER)).json()
        assert shown["payload"] == {
            "encoding": "json",
            "value": {"id": 1, "amount": 10.5, "currency": "GBP"},
            "size_bytes": len(order(1, currency="GBP")),
        }
        assert shown["key"] == {"encoding": "utf-8", "value": "gbp"}
        assert shown["headers"] == [
            {"name": "trace-id", "value": {"encoding": "utf-8", "value": "abc-123"}},
            {"name": "binary", "value": {"encoding": "base64", "value": "AP8="}},
            {"name": "trace-id", "value": {"encoding": "utf-8", "value": "second"}},
        ]
        assert shown["errors"][0]["path"] == "/currency"
        assert shown["kafka_timestamp"] == "2023-11-14T22:13:20.123000Z"
        assert shown["storage"]["uri"].startswith(f"s3://{pipeline.bucket}/")
        raw = (await api.client.get(f"{RECORDS}/{binary}", headers=READER)).json()
        assert raw["payload"]["encoding"] == "base64"
        assert base64.b64decode(raw["payload"]["value"]) == b"\x00\x01 binary"
        assert raw["key"] == {"encoding": "base64", "value": base64.b64encode(b"\xfe\xff").decode()}
        assert raw["headers"] == []

        pipeline.add_schema_version(2, FIXED_SCHEMA, select=True)
        reply = await api.client.post(f"{RECORDS}/{gbp}/reprocess", headers=ADMIN)
        assert reply.json()["outcome"] == "replayed"
        history = (await api.client.get(f"{RECORDS}/{gbp}", headers=READER)).json()["events"]
        assert [(e["actor"], e["action"], e["result"]["outcome"]) for e in history] == [
            ("alice", "reprocess", "replayed")
        ]
    (replayed,) = [
        r
        for r in await read_topic(pipeline.stack.kafka_bootstrap, pipeline.valid, 1)
        if header(r, DQ_REPLAYED_FROM) is not None
    ]
    assert replayed.key == b"gbp"
    assert replayed.value == order(1, currency="GBP")
    assert replayed.timestamp == 1_700_000_000_123
    assert list(replayed.headers) == [*HEADERS, (DQ_REPLAYED_FROM, gbp.encode())]


async def test_discards_are_recorded_and_a_dry_run_changes_nothing(
    make_pipeline: PipelineFactory, validator_runs: list[ValidatorRun], tmp_path: Path
) -> None:
    pipeline = await make_pipeline()
    rows = await _quarantine(pipeline, validator_runs, tmp_path)
    one = str(rows[b"negative"]["id"])
    async with running_api(pipeline) as api:
        client = api.client
        reply = await client.post(
            f"{RECORDS}/{one}/discard", json={"reason": "test data"}, headers=ADMIN
        )
        assert reply.json() == {"record_id": one, "status": "discarded"}
        again = await client.post(f"{RECORDS}/{one}/discard", headers=ADMIN)
        assert again.status_code == 409
        assert again.json()["code"] == "record_not_replayable"
        reprocess = await client.post(f"{RECORDS}/{one}/reprocess", headers=ADMIN)
        assert reprocess.json()["code"] == "record_not_replayable"

        before = await database_state(pipeline.dsn, pipeline.name)
        bulk = {"filter": {"field_path": "/amount"}, "dry_run": True, "reason": "negative"}
        dry = await client.post("/api/v1/quarantine/discards", json=bulk, headers=ADMIN)
        assert dry.json() == {"matched": 1, "discarded": 0, "dry_run": True}
        assert await database_state(pipeline.dsn, pipeline.name) == before

        done = await client.post(
            "/api/v1/quarantine/discards", json={**bulk, "dry_run": False}, headers=ADMIN
        )
        assert done.json() == {"matched": 1, "discarded": 1, "dry_run": False}
        listed = await client.get(RECORDS, params={"status": "discarded"}, headers=READER)
        assert listed.json()["total"] == 2
        shown = (await client.get(f"{RECORDS}/{one}", headers=READER)).json()
        assert [(e["actor"], e["action"], e["result"]) for e in shown["events"]] == [
            ("alice", "discard", {"reason": "test data"})
        ]


async def test_stats_count_what_the_database_holds_and_metrics_export_the_oldest_age(
    make_pipeline: PipelineFactory, validator_runs: list[ValidatorRun], tmp_path: Path
) -> None:
    pipeline = await make_pipeline()
    await _quarantine(pipeline, validator_runs, tmp_path)
    async with running_api(pipeline) as api:
        stats = (await api.client.get("/api/v1/quarantine/stats", headers=READER)).json()
        assert stats["by_status"] == {"quarantined": 5}
        assert stats["by_error_type"] == {"schema_violation": 4, "deserialization_error": 1}
        assert stats["by_field_path"] == [
            {"path": "/amount", "records": 2},
            {"path": "/currency", "records": 2},
            {"path": "", "records": 1},
        ]
        assert stats["by_schema_version"] == [
            {"schema_name": "orders", "schema_version": 1, "records": 5}
        ]
        assert stats["total"] == 5
        assert stats["created_last_hour"] == 5
        assert 0 <= stats["oldest_quarantined_age_seconds"] < 120
        conn = await asyncpg.connect(pipeline.dsn)
        try:
            await conn.execute(
                "UPDATE quarantine_records SET created_at = now() - interval '2 hours' "
                "WHERE pipeline = $1 AND record_key = 'negative'",
                pipeline.name,
            )
        finally:
            await conn.close()
        metrics = (await api.client.get("/metrics")).text
        line = next(
            line
            for line in metrics.splitlines()
            if line.startswith("dataquarantine_oldest_quarantined_age_seconds{")
        )
        assert f'pipeline="{pipeline.name}"' in line
        assert 7200 <= float(line.rsplit(" ", 1)[1]) < 7300
        stats = (
            await api.client.get(
                "/api/v1/quarantine/stats",
                params={"status": ["quarantined", "replayed"]},
                headers=READER,
            )
        ).json()
        assert stats["created_last_hour"] == 4
        assert stats["statuses"] == ["quarantined", "replayed"]


async def test_schemas_are_listed_shown_and_validate_ad_hoc_records(
    make_pipeline: PipelineFactory,
) -> None:
    pipeline = await make_pipeline()
    pipeline.add_schema_version(2, FIXED_SCHEMA, select=False)
    async with running_api(pipeline) as api:
        client = api.client
        listed = (await client.get("/api/v1/schemas", headers=READER)).json()
        assert listed == {"items": [{"name": "orders", "versions": [1, 2], "current_version": 1}]}
        shown = (await client.get("/api/v1/schemas/orders/versions/2", headers=READER)).json()
        assert shown["current"] is False
        assert shown["schema"]["properties"]["currency"]["enum"] == ["EUR", "USD", "GBP"]
        assert shown["rules"][0]["name"] == "not-thirteen"
        assert len(shown["fingerprint"]) == 64

        async def validate(body: dict[str, Any]) -> Any:
            reply = await client.post("/api/v1/schemas/orders/validate", json=body, headers=READER)
            assert reply.status_code == 200, reply.text
            return reply.json()

        gbp = {"id": 1, "amount": 1, "currency": "GBP"}
        invalid = await validate({"record": gbp})
        assert invalid["valid"] is False
        assert invalid["schema_ref"] == {"name": "orders", "version": 1}
        assert invalid["errors"][0]["path"] == "/currency"
        assert (await validate({"record": gbp, "version": 2}))["valid"] is True
        rule = await validate({"record": {"id": 13, "amount": 1, "currency": "EUR"}})
        assert (rule["error_type"], rule["errors"][0]["keyword"]) == ("rule_violation", "rule")
        raw = await validate({"value_base64": base64.b64encode(b"{nope").decode()})
        assert raw["error_type"] == "deserialization_error"
        fine = await validate({"value_base64": base64.b64encode(order(5)).decode()})
        assert fine["valid"] is True
        missing = await client.post(
            "/api/v1/schemas/nope/validate", json={"record": 1}, headers=READER
        )
        assert missing.json()["code"] == "schema_not_found"


async def test_retention_purges_old_records_and_segments_nothing_points_into(
    make_pipeline: PipelineFactory, validator_runs: list[ValidatorRun], tmp_path: Path
) -> None:
    pipeline = await make_pipeline()
    rows = await _quarantine(pipeline, validator_runs, tmp_path)
    segment = rows[b"gbp"]["storage_uri"]
    assert {row["storage_uri"] for row in rows.values()} == {segment}
    conn = await asyncpg.connect(pipeline.dsn)
    try:
        await conn.execute(
            "UPDATE quarantine_records SET created_at = now() - interval '8 days' "
            "WHERE pipeline = $1 AND record_key <> 'gbp-2'",
            pipeline.name,
        )
    finally:
        await conn.close()
    stack = pipeline.stack
    s3 = Minio(
        stack.s3_endpoint,
        access_key=stack.s3_access_key,
        secret_key=stack.s3_secret_key,
        secure=False,
    )
    key = segment.split("/", 3)[3]
    try:
        async with running_api(pipeline) as api:
            purge = "/api/v1/quarantine/retention/purge"
            dry = (await api.client.post(purge, json={"dry_run": True}, headers=ADMIN)).json()
            assert (dry["records_deleted"], dry["dry_run"]) == (4, True)
            first = (await api.client.post(purge, headers=ADMIN)).json()
            assert (first["records_deleted"], first["segments_removed"]) == (4, 0)
            await s3.stat_object(pipeline.bucket, key)  # gbp-2 still points into it
            remaining = (await api.client.get(RECORDS, headers=READER)).json()
            assert [item["key"]["value"] for item in remaining["items"]] == ["gbp-2"]

            conn = await asyncpg.connect(pipeline.dsn)
            try:
                await conn.execute(
                    "UPDATE quarantine_records SET created_at = now() - interval '8 days' "
                    "WHERE pipeline = $1",
                    pipeline.name,
                )
                events = await conn.fetch(
                    "SELECT actor, action, result FROM quarantine_events WHERE pipeline = $1",
                    pipeline.name,
                )
            finally:
                await conn.close()
            assert [(e["actor"], e["action"]) for e in events] == [("alice", "purge")]
            second = (await api.client.post(purge, headers=ADMIN)).json()
            assert (second["records_deleted"], second["segments_removed"]) == (1, 1)
            objects = [o async for o in s3.list_objects(pipeline.bucket, prefix=key)]
            assert objects == []
    finally:
        await s3.close_session()
