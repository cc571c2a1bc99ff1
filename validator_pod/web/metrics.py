"""The REST API's Prometheus metrics, registered in an injected `CollectorRegistry`.

Labels stay low-cardinality: the route is its template (`/api/v1/quarantine/records/{record_id}`),
never a concrete path, and no label carries a record id or key.
"""

from __future__ import annotations

from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, Gauge
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from validator_pod.metrics import PREFIX


class ApiMetrics:
    """Every metric of one API process, for one pipeline."""

    def __init__(self, registry: CollectorRegistry, pipeline: str) -> None:
        """Register the metrics in `registry` (once per registry)."""
        self._pipeline = pipeline
        self.oldest_quarantined_age = Gauge(
            f"{PREFIX}_oldest_quarantined_age_seconds",
            "Age of the oldest record still quarantined (0 when there is none).",
            ["pipeline"],
            registry=registry,
        )
        self.requests = Counter(
            f"{PREFIX}_api_requests",
            "API requests by method, route template and status code.",
            ["method", "route", "status"],
            registry=registry,
        )
        self.replayed = Counter(
            f"{PREFIX}_api_replayed_records",
            "Records produced to the valid topic by reprocess and bulk replays.",
            ["pipeline"],
            registry=registry,
        )
        self.discarded = Counter(
            f"{PREFIX}_api_discarded_records",
            "Records discarded through the API.",
            ["pipeline"],
            registry=registry,
        )
        self.purged = Counter(
            f"{PREFIX}_api_purged_records",
            "Records deleted by the retention purge.",
            ["pipeline"],
            registry=registry,
        )
        self.oldest_quarantined_age.labels(pipeline).set(0)
        for counter in (self.replayed, self.discarded, self.purged):
            counter.labels(pipeline)

    def set_oldest(self, oldest: datetime | None, now: datetime) -> None:
        """The oldest quarantined record was created at `oldest` (None: there is none)."""
        age = 0.0 if oldest is None else max(0.0, (now - oldest).total_seconds())
        self.oldest_quarantined_age.labels(self._pipeline).set(age)

    def count_replayed(self, count: int) -> None:
        """`count` records were produced."""
        if count:
            self.replayed.labels(self._pipeline).inc(count)

    def count_discarded(self, count: int) -> None:
        """`count` records were discarded."""
        if count:
            self.discarded.labels(self._pipeline).inc(count)

    def count_purged(self, count: int) -> None:
        """`count` records were purged."""
        if count:
            self.purged.labels(self._pipeline).inc(count)


class RequestCounting:
    """ASGI middleware counting responses by method, route template and status."""

    def __init__(self, app: ASGIApp, metrics: ApiMetrics) -> None:
        """Wrap `app`."""
        self._app = app
        self._metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Count the response of an HTTP request."""
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        status = 500

        async def counting_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self._app(scope, receive, counting_send)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            self._metrics.requests.labels(scope["method"], template, str(status)).inc()
