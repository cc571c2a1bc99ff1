"""The app without its services: OpenAPI document, auth before anything else, JSON errors."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client import CollectorRegistry
from pydantic import SecretStr

from tests.unit.web.conftest import ADMIN, READER
from validator_pod.pipeline.config_loading import ConfigError
from validator_pod.settings import Settings
from validator_pod.web.app import create_app
from validator_pod.web.auth import TokenConfigError
from validator_pod.web.settings import ApiSettings

UNAUTHENTICATED = {"/healthz", "/readyz", "/metrics"}


@pytest.fixture
async def client(app: FastAPI) -> Any:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        yield c


def _operations(app: FastAPI) -> list[tuple[str, str, dict[str, Any]]]:
    paths = app.openapi()["paths"]
    return [(path, method, op) for path, ops in paths.items() for method, op in ops.items()]


def test_the_openapi_document_has_every_route(app: FastAPI) -> None:
    routes = {(path, method) for path, method, _ in _operations(app)}
    assert routes == {
        ("/healthz", "get"),
        ("/readyz", "get"),
        ("/metrics", "get"),
        ("/api/v1/quarantine/records", "get"),
        ("/api/v1/quarantine/records/{record_id}", "get"),
        ("/api/v1/quarantine/records/{record_id}/reprocess", "post"),
        ("/api/v1/quarantine/records/{record_id}/discard", "post"),
        ("/api/v1/quarantine/discards", "post"),
        ("/api/v1/quarantine/replays", "get"),
        ("/api/v1/quarantine/replays", "post"),
        ("/api/v1/quarantine/replays/{replay_id}", "get"),
        ("/api/v1/quarantine/replays/{replay_id}/cancel", "post"),
        ("/api/v1/quarantine/stats", "get"),
        ("/api/v1/quarantine/retention/purge", "post"),
        ("/api/v1/schemas", "get"),
        ("/api/v1/schemas/{name}/versions/{version}", "get"),
        ("/api/v1/schemas/{name}/validate", "post"),
    }


def test_every_error_response_is_documented_with_the_error_model(app: FastAPI) -> None:
    document = app.openapi()
    assert "HTTPValidationError" not in document["components"]["schemas"]
    assert set(document["components"]["schemas"]["Error"]["properties"]) == {
        "code",
        "message",
        "details",
    }
    assert document["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    for path, method, operation in _operations(app):
        responses = operation["responses"]
        if path not in UNAUTHENTICATED:
            assert "401" in responses, (path, method)
        if method == "post" and not path.endswith("/validate"):  # validating changes nothing
            assert {"403", "413", "422"} <= set(responses), (path, method)
        if "{" in path:
            assert "404" in responses, (path, method)
        for status, response in responses.items():
            if status.startswith("4") or (status == "503" and path != "/readyz"):
                schema = response["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/Error"}, (path, status)


async def test_authentication_comes_before_anything_else(client: httpx.AsyncClient) -> None:
    reply = await client.get("/api/v1/quarantine/records")
    assert (reply.status_code, reply.json()["code"]) == (401, "unauthorized")
    reply = await client.post("/api/v1/quarantine/replays", json={"all": True}, headers=READER)
    assert (reply.status_code, reply.json()["code"]) == (403, "forbidden")
    reply = await client.get("/api/v1/quarantine/records", headers=READER)
    assert (reply.status_code, reply.json()["code"]) == (503, "unavailable")


async def test_bodies_over_the_limit_are_refused_before_a_route_reads_them(
    client: httpx.AsyncClient,
) -> None:
    reply = await client.post(
        "/api/v1/quarantine/replays",
        content=b"x" * 4096,
        headers={**ADMIN, "content-type": "application/json"},
    )
    assert reply.status_code == 413
    assert reply.json()["code"] == "payload_too_large"
    assert reply.json()["details"] == {"max_bytes": 2048}


async def test_routing_errors_are_json(client: httpx.AsyncClient) -> None:
    reply = await client.get("/api/v2/anything")
    assert (reply.status_code, reply.json()["code"]) == (404, "not_found")
    reply = await client.put("/healthz")
    assert (reply.status_code, reply.json()["code"]) == (405, "method_not_allowed")
    reply = await client.get("/healthz", params={"verbose": "1"})
    assert (reply.status_code, reply.json()["code"]) == (422, "unknown_query_parameter")
    assert (await client.get("/healthz")).json() == {"status": "ok"}


def test_bad_tokens_and_missing_settings_stop_the_app_from_being_built(
    settings: Settings,
) -> None:
    bad = (SecretStr("no-colons-here-0123456789"),)
    with pytest.raises(TokenConfigError):
        create_app(settings.model_copy(update={"api_tokens": bad}))
    with pytest.raises(ConfigError, match="DQ_POSTGRES_DSN"):
        create_app(settings.model_copy(update={"postgres_dsn": None}))
    with pytest.raises(ConfigError):
        create_app(settings, config_dir=settings.config_dir / "missing")


def test_metrics_are_registered_in_the_injected_registry(settings: Settings) -> None:
    registry = CollectorRegistry()
    create_app(settings, ApiSettings(), registry=registry)
    assert (
        registry.get_sample_value(
            "dataquarantine_oldest_quarantined_age_seconds", {"pipeline": "orders"}
        )
        == 0.0
    )
    create_app(settings, ApiSettings(), registry=CollectorRegistry())  # no global state


def test_the_lease_must_outlast_a_produce() -> None:
    with pytest.raises(ValueError, match="replay_lease"):
        ApiSettings(replay_lease=5, produce_timeout=10)
