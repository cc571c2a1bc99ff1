"""`python -m validator_pod api`: the REST API under uvicorn on DQ_HTTP_PORT."""

from __future__ import annotations

import logging
import signal
from typing import Final

import uvicorn
from pydantic import ValidationError

from validator_pod.pipeline.config_loading import ConfigError
from validator_pod.settings import Settings
from validator_pod.web.app import create_app
from validator_pod.web.auth import TokenConfigError
from validator_pod.web.settings import ApiSettings

logger = logging.getLogger(__name__)

EXIT_OK: Final = 0
EXIT_CONFIG: Final = 2
_STOPS: Final = (signal.SIGTERM, signal.SIGINT)


def run_api(settings: Settings) -> int:
    """Serve the API until SIGTERM/SIGINT (uvicorn drains requests, the lifespan stops the
    background work); return the exit status: 0 after a clean stop, 2 for a bad configuration."""
    try:
        app = create_app(settings, ApiSettings())
    except (ConfigError, TokenConfigError, ValidationError) as exc:
        logger.error("invalid API configuration: %s", exc)  # noqa: TRY400 - no traceback needed
        return EXIT_CONFIG
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host=settings.bind_address,  # the pod's address (DQ_BIND_ADDRESS, default 0.0.0.0)
            port=settings.http_port,
            log_config=None,  # keep the process's JSON logging
            access_log=False,
            server_header=False,
            lifespan="on",
            timeout_graceful_shutdown=20,
        )
    )
    # uvicorn shuts down gracefully on SIGTERM/SIGINT, then raises the signal again for the
    # handlers it found installed: these note it, so a clean stop exits 0 (as `run` does).
    stops: list[int] = []
    previous = {sig: signal.signal(sig, lambda number, _: stops.append(number)) for sig in _STOPS}
    try:
        server.run()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    logger.info("stopped", extra={"signals": stops})
    return EXIT_OK if server.started else 1
