"""`dataquarantine records ...` against a stubbed API: tables, --json, errors and exit codes."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from typing import Any

import httpx

from validator_pod.cli import main as dataquarantine
from validator_pod.records_cli import main

RECORD = {
    "id": "1192dc33-74b3-5e26-9022-9acba96b6774",
    "source_topic": "orders.raw",
    "kafka_partition": 0,
    "kafka_offset": 3,
    "kafka_timestamp": "2026-01-01T00:00:00Z",
    "key": {"encoding": "utf-8", "value": "k3"},
    "schema_name": "orders",
    "schema_version": 1,
    "error_type": "schema_violation",
    "error_message": '/currency: "GBP" is not one of "EUR" or "USD"',
    "errors": [
        {
            "path": "/currency",
            "keyword": "enum",
            "schema_path": "/properties/currency/enum",
            "message": '"GBP" is not one of "EUR" or "USD"',
        }
    ],
    "status": "quarantined",
    "replay_count": 0,
    "replay_in_progress": False,
    "created_at": "2026-01-01T00:00:01.5Z",
    "updated_at": "2026-01-01T00:00:01.5Z",
}
REPLAY = {
    "id": "5c4cd82d-47c6-44b0-89cf-da96e8f5a767",
    "state": "running",
    "dry_run": False,
    "rate_limit": 10,
    "schema_version": None,
    "filter": {"field_path": "/currency"},
    "counts": {
        "total": 4,
        "processed": 2,
        "replayed": 1,
        "would_pass": 0,
        "still_invalid": {"schema_violation": 1},
        "unreadable": 0,
        "skipped": 0,
    },
    "progress": 0.5,
    "error": None,
    "created_by": "alice",
    "created_at": "2026-01-01T00:00:00Z",
    "updated_at": "2026-01-01T00:00:00Z",
    "started_at": None,
    "finished_at": None,
}

Handler = Callable[[httpx.Request], httpx.Response]


def run(handler: Handler, *argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(
        list(argv),
        transport=httpx.MockTransport(handler),
        environ={"DQ_API_URL": "http://api", "DQ_API_TOKEN": "secret-token"},
        stdout=out,
        stderr=err,
    )
    return code, out.getvalue(), err.getvalue()


def test_list_prints_a_table_and_sends_filters_and_the_token() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        page = {"items": [RECORD], "total": 7, "limit": 1, "next_cursor": "abc", "as_of": "x"}
        return httpx.Response(200, json=page)

    code, out, _ = run(
        handler,
        "list",
        "--error-type",
        "schema_violation",
        "--status",
        "quarantined",
        "--limit",
        "1",
    )
    assert code == 0
    (request,) = seen
    assert request.headers["authorization"] == "Bearer secret-token"
    assert request.url.path == "/api/v1/quarantine/records"
    assert request.url.params.multi_items() == [
        ("error_type", "schema_violation"),
        ("status", "quarantined"),
        ("limit", "1"),
    ]
    header, row, _, summary = out.splitlines()
    assert header.split() == [
        "ID",
        "QUARANTINED",
        "SOURCE",
        "SCHEMA",
        "ERROR",
        "TYPE",
        "STATUS",
        "MESSAGE",
    ]
    assert row.startswith(f"{RECORD['id']}   2026-01-01 00:00:01   orders.raw/0@3   orders:1")
    assert summary == "1 of 7 records; next page: --cursor abc"


def test_json_prints_the_apis_answer() -> None:
    page = {"items": [RECORD], "total": 1, "limit": 50, "next_cursor": None, "as_of": "x"}
    code, out, _ = run(lambda _: httpx.Response(200, json=page), "--json", "list")
    assert code == 0
    assert json.loads(out) == page


def test_show_prints_errors_and_the_payload() -> None:
    detail = {
        **RECORD,
        "storage": {"uri": "s3://b/k.seg", "byte_offset": 0, "byte_length": 9},
        "headers": [{"name": "trace", "value": {"encoding": "utf-8", "value": "t-1"}}],
        "payload": {"encoding": "json", "value": {"currency": "GBP"}, "size_bytes": 19},
        "payload_error": None,
        "events": [
            {
                "id": 1,
                "record_id": RECORD["id"],
                "replay_id": None,
                "actor": "alice",
                "action": "reprocess",
                "result": {"outcome": "still_invalid"},
                "created_at": "2026-01-01T00:00:02Z",
            }
        ],
    }
    code, out, _ = run(lambda _: httpx.Response(200, json=detail), "show", RECORD["id"])
    assert code == 0
    assert "/currency   enum" in out
    assert '"currency": "GBP"' in out
    assert "trace   t-1" in out
    assert "alice   reprocess" in out


def test_reprocess_says_what_happened() -> None:
    bodies: list[Any] = []

    def handler(request: httpx.Request) -> httpx.Response:
        bodies.append(json.loads(request.content))
        return httpx.Response(
            200,
            json={
                "record_id": RECORD["id"],
                "outcome": "still_invalid",
                "dry_run": True,
                "schema_ref": {"name": "orders", "version": 2},
                "error_type": "schema_violation",
                "message": "m",
                "errors": RECORD["errors"],
                "status": "quarantined",
            },
        )

    code, out, _ = run(handler, "reprocess", RECORD["id"], "--dry-run", "--schema-version", "2")
    assert code == 0
    assert bodies == [{"dry_run": True, "schema_version": 2}]
    assert out.startswith("still invalid against orders version 2: schema_violation")


def test_replay_waits_until_the_replay_finishes() -> None:
    states = iter(["running", "succeeded"])
    requests: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(f"{request.method} {request.url.path}")
        if request.method == "POST":
            assert json.loads(request.content) == {
                "filter": {"field_path": "/currency", "error_type": ["schema_violation"]},
                "dry_run": False,
                "all": False,
                "rate_limit": 10,
            }
            return httpx.Response(202, json=REPLAY)
        return httpx.Response(200, json={**REPLAY, "state": next(states)})

    code, out, _ = run(
        handler,
        "replay",
        "--field-path",
        "/currency",
        "--error-type",
        "schema_violation",
        "--rate-limit",
        "10",
        "--wait",
        "--poll",
        "0",
    )
    assert code == 0
    assert requests == [
        "POST /api/v1/quarantine/replays",
        f"GET /api/v1/quarantine/replays/{REPLAY['id']}",
        f"GET /api/v1/quarantine/replays/{REPLAY['id']}",
    ]
    assert "state           succeeded" in out
    assert "still invalid   schema_violation=1" in out


def test_api_errors_exit_1_with_their_code() -> None:
    def refuse(_: httpx.Request) -> httpx.Response:
        return httpx.Response(
            403, json={"code": "forbidden", "message": "read-only token", "details": None}
        )

    code, out, err = run(refuse, "discard", RECORD["id"])
    assert (code, out) == (1, "")
    assert err == "error (403): forbidden: read-only token\n"

    def unreachable(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    code, _, err = run(unreachable, "stats")
    assert code == 1
    assert err.startswith("error: unreachable: connection refused")


def test_bad_arguments_exit_2() -> None:
    code, _, _ = run(lambda _: httpx.Response(500), "list", "--limit", "many")
    assert code == 2


def test_the_dataquarantine_command_dispatches_records(capsys: Any) -> None:
    assert dataquarantine(["records", "--help"]) == 0
    assert "dataquarantine records" in capsys.readouterr().out
