"""The app factory: the composition root of the API process.

`create_app` reads the pipeline's config directory and the tokens (failing fast on either), and
returns a FastAPI app whose lifespan builds the services (`ApiServices`) and tears them down.
The Prometheus registry is injected, never global.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Final

from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from validator_pod.pipeline.config_loading import ConfigError, load_pipeline
from validator_pod.settings import Settings
from validator_pod.web.auth import TokenRegistry
from validator_pod.web.errors import install_error_handlers
from validator_pod.web.limits import BodySizeLimit
from validator_pod.web.metrics import ApiMetrics, RequestCounting
from validator_pod.web.routers import health, records, replays, schemas, stats
from validator_pod.web.services import ApiServices
from validator_pod.web.settings import ApiSettings

API_VERSION: Final = "1.0.0"

_DESCRIPTION: Final = """\
Inspect, reprocess, replay and discard the records one DataQuarantine pipeline quarantined.

Every route but `/healthz`, `/readyz` and `/metrics` needs `Authorization: Bearer <token>`
(tokens from `DQ_API_TOKENS`, one `name:role:token` per line); mutations need role `admin`.
Every error is JSON `{"code", "message", "details"}` with a stable `code`.
"""


def create_app(
    settings: Settings,
    api_settings: ApiSettings | None = None,
    *,
    config_dir: Path | None = None,
    registry: CollectorRegistry | None = None,
) -> FastAPI:
    """The REST API of the pipeline in `config_dir` (default `settings.config_dir`).

    Raise `ConfigError` when the config directory is invalid or a required setting is missing,
    and `TokenConfigError` when `DQ_API_TOKENS` is malformed.
    """
    api_settings = api_settings or ApiSettings()
    config_dir = config_dir or settings.config_dir
    config = load_pipeline(config_dir).config
    missing = settings.missing("postgres_dsn", "s3_access_key", "s3_secret_key")
    if missing:
        raise ConfigError(f"the API needs {', '.join(missing)}")
    tokens = TokenRegistry(settings.api_tokens)
    registry = registry if registry is not None else CollectorRegistry()
    metrics = ApiMetrics(registry, config.name)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        services = await ApiServices.start(
            settings=settings,
            api_settings=api_settings,
            config=config,
            config_dir=config_dir,
            metrics=metrics,
        )
        app.state.services = services
        try:
            yield
        finally:
            app.state.services = None
            await services.stop()

    app = FastAPI(
        title=f"DataQuarantine API ({config.namespace}/{config.name})",
        version=API_VERSION,
        description=_DESCRIPTION,
        lifespan=lifespan,
        openapi_tags=[
            {"name": "records", "description": "Quarantined records."},
            {"name": "replays", "description": "Bulk replays to the valid topic."},
            {"name": "stats", "description": "Counts of the quarantine."},
            {"name": "retention", "description": "Deleting expired records."},
            {"name": "schemas", "description": "Schema versions and ad-hoc validation."},
            {"name": "health", "description": "Probes and metrics."},
        ],
    )
    app.state.tokens = tokens
    app.state.registry = registry
    app.state.services = None
    install_error_handlers(app)
    app.add_middleware(BodySizeLimit, max_bytes=api_settings.max_body_bytes)
    app.add_middleware(RequestCounting, metrics=metrics)
    routers = [module.router for module in (health, records, replays, stats, schemas)]
    for router in routers:
        app.include_router(router)
    app.state.api_routes = [route for router in routers for route in router.routes]
    return app
