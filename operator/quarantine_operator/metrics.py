"""The operator's Prometheus metrics, registered in an injected `CollectorRegistry`."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from typing import Final
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server

PREFIX: Final = "dataquarantine_operator"

_DURATION_BUCKETS: Final = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


class Kind(StrEnum):
    """What was reconciled (the `kind` label)."""

    VALIDATION_SCHEMA = "ValidationSchema"
    QUARANTINE_PIPELINE = "QuarantinePipeline"


class Result(StrEnum):
    """How a reconciliation ended (the `result` label)."""

    SUCCESS = "success"
    """Converged, or converging as expected (a rollout in progress)."""
    STALLED = "stalled"
    """Stopped on a problem the user must fix (invalid spec, missing reference, refused schema)."""
    PAUSED = "paused"
    """Skipped: the pause annotation is set."""
    ERROR = "error"
    """Failed (the API server refused or was unreachable); retried."""


class OperatorMetrics:
    """Reconciliation counters and durations."""

    def __init__(self, registry: CollectorRegistry) -> None:
        """Register the metrics in `registry` (once per registry)."""
        self.reconciliations = Counter(
            f"{PREFIX}_reconciliations",
            "Reconciliations of custom resources, by kind and result.",
            ["kind", "result"],
            registry=registry,
        )
        self.duration = Histogram(
            f"{PREFIX}_reconciliation_duration_seconds",
            "Time one reconciliation took, API calls included.",
            ["kind"],
            buckets=_DURATION_BUCKETS,
            registry=registry,
        )
        for kind in Kind:
            for result in Result:
                self.reconciliations.labels(kind.value, result.value)

    @contextmanager
    def timed(self, kind: Kind) -> Iterator[None]:
        """Observe the duration of the enclosed reconciliation."""
        started = time.perf_counter()
        try:
            yield
        finally:
            self.duration.labels(kind.value).observe(time.perf_counter() - started)

    def count(self, kind: Kind, result: Result) -> None:
        """One reconciliation of `kind` ended with `result`."""
        self.reconciliations.labels(kind.value, result.value).inc()


@dataclass(frozen=True, slots=True)
class MetricsServer:
    """The `/metrics` HTTP endpoint, served from a daemon thread."""

    server: WSGIServer
    thread: threading.Thread

    @property
    def port(self) -> int:
        """The bound port (useful when 0 asked for any free port)."""
        return int(self.server.server_port)

    def stop(self) -> None:
        """Stop serving and release the socket."""
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def serve(registry: CollectorRegistry, port: int, address: str = "0.0.0.0") -> MetricsServer:  # noqa: S104 (a pod's metrics port listens on every interface)
    """Serve `registry` on `http://<address>:<port>/metrics`."""
    server, thread = start_http_server(port, addr=address, registry=registry)
    return MetricsServer(server, thread)
