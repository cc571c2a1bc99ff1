"""/healthz, /readyz and /metrics."""

from __future__ import annotations

import contextlib
import logging

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from validator_pod.adapters.errors import AdapterError
from validator_pod.web.auth import TokenRegistry
from validator_pod.web.dependencies import Services, StrictQueryRoute, authenticated, bearer
from validator_pod.web.errors import error_responses
from validator_pod.web.models import Health, Readiness

logger = logging.getLogger(__name__)

router = APIRouter(tags=["health"], route_class=StrictQueryRoute)


@router.get("/healthz", summary="Liveness", response_model=Health)
async def healthz() -> Health:
    """The process answers (no dependency is checked)."""
    return Health()


@router.get(
    "/readyz",
    summary="Readiness",
    response_model=Readiness,
    responses={503: {"model": Readiness, "description": "PostgreSQL or S3 is unavailable."}},
)
async def readyz(services: Services) -> JSONResponse:
    """Ready when PostgreSQL and S3 answer and the migrations are applied."""
    checks = await services.readiness()
    ready = all(value == "ok" for value in checks.values())
    body = Readiness(ready=ready, checks=checks).model_dump(mode="json")
    return JSONResponse(body, status_code=200 if ready else 503)


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={
        200: {"content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}}},
        **error_responses(401),
    },
)
async def metrics(request: Request, services: Services) -> Response:
    """The process's metrics in the Prometheus text format, including
    `dataquarantine_oldest_quarantined_age_seconds` (refreshed from PostgreSQL)."""
    if services.settings.metrics_require_token:
        tokens: TokenRegistry = request.app.state.tokens
        authenticated(tokens, await bearer(request))
    with contextlib.suppress(AdapterError, TimeoutError):
        await services.refresh_oldest_age()
    registry: CollectorRegistry = request.app.state.registry
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
