"""Tokens, roles and input checking: every refusal is a JSON error with a stable code."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.integration.api.conftest import PipelineFactory
from tests.integration.api.support import ADMIN, READER, Api, running_api
from validator_pod.adapters.quarantine_queries import RecordFilter
from validator_pod.web.paging import encode_cursor

RECORD = f"/api/v1/quarantine/records/{uuid.uuid4()}"

READ_ROUTES = [
    ("GET", "/api/v1/quarantine/records", None),
    ("GET", RECORD, None),
    ("GET", "/api/v1/quarantine/stats", None),
    ("GET", "/api/v1/quarantine/replays", None),
    ("GET", f"/api/v1/quarantine/replays/{uuid.uuid4()}", None),
    ("GET", "/api/v1/schemas", None),
    ("GET", "/api/v1/schemas/orders/versions/1", None),
    ("POST", "/api/v1/schemas/orders/validate", {"record": {"id": 1}}),
]
ADMIN_ROUTES = [
    ("POST", f"{RECORD}/reprocess", {"dry_run": True}),
    ("POST", f"{RECORD}/discard", {}),
    ("POST", "/api/v1/quarantine/discards", {"all": True, "dry_run": True}),
    ("POST", "/api/v1/quarantine/replays", {"all": True, "dry_run": True}),
    ("POST", f"/api/v1/quarantine/replays/{uuid.uuid4()}/cancel", None),
    ("POST", "/api/v1/quarantine/retention/purge", {"dry_run": True}),
]


@pytest.fixture
async def api(make_pipeline: PipelineFactory) -> Any:
    pipeline = await make_pipeline()
    async with running_api(pipeline, max_body_bytes=4096) as running:
        yield running


def _error(reply: Any, status: int, code: str) -> None:
    assert reply.status_code == status, reply.text
    body = reply.json()
    assert set(body) == {"code", "message", "details"}, body
    assert body["code"] == code, body
    assert body["message"]


async def test_missing_and_invalid_tokens_are_refused_with_401(api: Api) -> None:
    for method, path, body in READ_ROUTES + ADMIN_ROUTES:
        for headers in (
            {},
            {"Authorization": "Bearer not-a-token-at-all-1234"},
            {"Authorization": "Basic eDp5"},
        ):
            reply = await api.client.request(method, path, json=body, headers=headers)
            _error(reply, 401, "unauthorized")
            assert reply.headers["www-authenticate"] == "Bearer"


async def test_read_only_tokens_read_but_cannot_change_anything(api: Api) -> None:
    for method, path, body in READ_ROUTES:
        reply = await api.client.request(method, path, json=body, headers=READER)
        assert reply.status_code in (200, 404), (path, reply.text)
    for method, path, body in ADMIN_ROUTES:
        _error(await api.client.request(method, path, json=body, headers=READER), 403, "forbidden")
        reply = await api.client.request(method, path, json=body, headers=ADMIN)
        assert reply.status_code in (200, 202, 404), (path, reply.text)


async def test_health_probes_and_metrics_need_no_token(api: Api) -> None:
    assert (await api.client.get("/healthz")).json() == {"status": "ok"}
    ready = await api.client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {
        "ready": True,
        "checks": {"postgres": "ok", "s3": "ok", "migrations": "ok"},
    }
    metrics = await api.client.get("/metrics")
    assert "dataquarantine_oldest_quarantined_age_seconds" in metrics.text


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"status": "lost"}, "validation_error"),
        ({"error_type": "typo"}, "validation_error"),
        ({"limit": "1001"}, "validation_error"),
        ({"limit": "0"}, "validation_error"),
        ({"created_after": "yesterday"}, "validation_error"),
        ({"created_after": "2024-01-01T00:00:00"}, "validation_error"),
        ({"schema_version": "0"}, "validation_error"),
        ({"schema_version": "99999999999"}, "validation_error"),
        ({"field_path": "amount"}, "validation_error"),
        ({"source_topic": "a b"}, "validation_error"),
        ({"q": "\x00"}, "validation_error"),
        ({"cursor": "not-a-cursor"}, "invalid_cursor"),
        ({"cursor": "eyJ2IjoxfQ"}, "invalid_cursor"),
        ({"colour": "blue"}, "unknown_query_parameter"),
    ],
)
async def test_malformed_filters_are_refused_with_a_code(
    api: Api, params: dict[str, str], code: str
) -> None:
    reply = await api.client.get("/api/v1/quarantine/records", params=params, headers=READER)
    _error(reply, 422, code)


async def test_a_cursor_is_refused_with_other_filters(api: Api) -> None:
    now = datetime.now(UTC)
    cursor = encode_cursor(now, (now, uuid.uuid4()), RecordFilter())
    reply = await api.client.get(
        "/api/v1/quarantine/records", params={"cursor": cursor}, headers=READER
    )
    assert reply.status_code == 200, reply.text
    reply = await api.client.get(
        "/api/v1/quarantine/records",
        params={"cursor": cursor, "status": "quarantined"},
        headers=READER,
    )
    _error(reply, 422, "invalid_cursor")


async def test_unknown_fields_oversized_bodies_and_bad_json_are_refused(api: Api) -> None:
    replay = "/api/v1/quarantine/replays"
    _error(
        await api.client.post(replay, json={"all": True, "colour": 1}, headers=ADMIN),
        422,
        "unknown_field",
    )
    _error(
        await api.client.post(replay, json={"filter": {"colour": "x"}, "all": True}, headers=ADMIN),
        422,
        "unknown_field",
    )
    _error(
        await api.client.post(replay, json={"rate_limit": 0, "all": True}, headers=ADMIN),
        422,
        "validation_error",
    )
    _error(await api.client.post(replay, json={}, headers=ADMIN), 422, "filter_required")
    _error(
        await api.client.post(replay, json={"all": True, "schema_version": 7}, headers=ADMIN),
        422,
        "schema_version_not_found",
    )
    _error(
        await api.client.post(
            replay, content=b"{not json", headers={**ADMIN, "content-type": "application/json"}
        ),
        422,
        "validation_error",
    )
    big = {"all": True, "filter": {"q": "x" * 200}, "padding": "y" * 5000}
    _error(await api.client.post(replay, json=big, headers=ADMIN), 413, "payload_too_large")

    async def chunks() -> Any:
        for _ in range(10):
            yield b" " * 1000

    streamed = await api.client.post(
        replay, content=chunks(), headers={**ADMIN, "content-type": "application/json"}
    )
    _error(streamed, 413, "payload_too_large")
    _error(
        await api.client.post(f"{RECORD}/reprocess", json={"dry_run": True, "x": 1}, headers=ADMIN),
        422,
        "unknown_field",
    )
    _error(
        await api.client.post(
            "/api/v1/schemas/orders/validate",
            json={"record": {}, "value_base64": "AA=="},
            headers=READER,
        ),
        422,
        "unknown_field",
    )


async def test_routing_errors_are_json_with_a_code(api: Api) -> None:
    _error(await api.client.get("/nowhere", headers=READER), 404, "not_found")
    _error(
        await api.client.delete("/api/v1/quarantine/records", headers=ADMIN),
        405,
        "method_not_allowed",
    )
    _error(await api.client.get(RECORD, headers=READER), 404, "record_not_found")
    _error(
        await api.client.get("/api/v1/quarantine/records/123", headers=READER),
        422,
        "validation_error",
    )
    _error(
        await api.client.get("/api/v1/schemas/orders/versions/9", headers=READER),
        404,
        "schema_not_found",
    )
    _error(await api.client.get("/api/v1/schemas/../versions/1", headers=READER), 404, "not_found")
    _error(await api.client.get("/healthz", params={"x": "1"}), 422, "unknown_query_parameter")
