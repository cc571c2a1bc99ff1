"""Readiness bookkeeping and a tiny HTTP server for /healthz, /readyz and /metrics.

The `run` process has no web framework: a few lines of asyncio serve the probes and the
Prometheus text format. `Readiness` collects the reasons the process is not ready (a service it
cannot reach, the breaker, start-up, shutdown) and logs each change once, not every retry.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from typing import Final

import orjson
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

logger = logging.getLogger(__name__)

_READ_TIMEOUT: Final = 5.0
_REASONS: Final = {200: "OK", 404: "Not Found", 405: "Method Not Allowed", 503: "Unavailable"}


class Readiness:
    """Named reasons for not being ready; ready when there are none."""

    def __init__(self, context: Mapping[str, str] | None = None) -> None:
        """`context` is added to the log lines (e.g. the pipeline)."""
        self._problems: dict[str, str] = {}
        self._context = dict(context or {})

    @property
    def ready(self) -> bool:
        """True when nothing is wrong."""
        return not self._problems

    @property
    def problems(self) -> dict[str, str]:
        """Reason by component (a copy)."""
        return dict(self._problems)

    def set_problem(self, component: str, reason: str) -> None:
        """Mark `component` as the cause of not being ready; logs only when this is new."""
        if component not in self._problems:
            logger.warning(
                "not ready: %s: %s",
                component,
                reason,
                extra={**self._context, "component": component},
            )
        self._problems[component] = reason

    def clear(self, component: str) -> None:
        """`component` is fine again; logs only when it was not."""
        if self._problems.pop(component, None) is not None:
            logger.info("recovered: %s", component, extra={**self._context, "component": component})


class HealthServer:
    """Serves /healthz (the event loop answers), /readyz (`Readiness`) and /metrics."""

    def __init__(
        self,
        readiness: Readiness,
        registry: CollectorRegistry,
        *,
        alive: Callable[[], bool] = lambda: True,
    ) -> None:
        """`alive` returns False when the process should be restarted (its loop has died)."""
        self._readiness = readiness
        self._registry = registry
        self._alive = alive
        self._servers: list[asyncio.Server] = []

    async def start(self, host: str, *ports: int) -> list[int]:
        """Listen on each distinct port (0 picks a free one); return the bound ports."""
        bound: list[int] = []
        for port in dict.fromkeys(ports):
            server = await asyncio.start_server(self._serve, host, port)
            self._servers.append(server)
            bound.append(server.sockets[0].getsockname()[1])
        return bound

    async def stop(self) -> None:
        """Stop listening and close open connections."""
        for server in self._servers:
            server.close()
        for server in self._servers:
            await server.wait_closed()
        self._servers.clear()

    def respond(self, method: str, path: str) -> tuple[int, str, bytes]:
        """Status, content type and body for a request (the routing, free of I/O)."""
        route = path.split("?", 1)[0]
        if route not in ("/healthz", "/readyz", "/metrics"):
            return 404, "text/plain", b"not found\n"
        if method not in ("GET", "HEAD"):
            return 405, "text/plain", b"method not allowed\n"
        if route == "/metrics":
            return 200, CONTENT_TYPE_LATEST, generate_latest(self._registry)
        if route == "/healthz":
            alive = self._alive()
            return (200 if alive else 503), "text/plain", b"ok\n" if alive else b"dead\n"
        problems = self._readiness.problems
        body = orjson.dumps({"ready": not problems, "problems": problems})
        return (200 if not problems else 503), "application/json", body

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), _READ_TIMEOUT)
            method, path, _ = head.split(b"\r\n", 1)[0].decode().split(" ", 2)
            status, content_type, body = self.respond(method, path)
            writer.write(
                (
                    f"HTTP/1.1 {status} {_REASONS.get(status, '')}\r\n"
                    f"Content-Type: {content_type}\r\n"
                    f"Content-Length: {len(body)}\r\n"
                    "Connection: close\r\n\r\n"
                ).encode()
                + (b"" if method == "HEAD" else body)
            )
            await writer.drain()
        except (
            TimeoutError,
            ValueError,
            ConnectionError,
            asyncio.IncompleteReadError,
            asyncio.LimitOverrunError,
        ):
            pass  # a probe that hung up or spoke gibberish gets no answer
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()
