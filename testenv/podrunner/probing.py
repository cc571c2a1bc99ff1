"""Probes as a kubelet runs them: a pure tracker of results against thresholds and schedule,
and the one HTTP GET or TCP connect that produces a result.

Readiness starts failed (not ready until the first success), liveness starts healthy, a startup
probe holds the other two back until it succeeds. HTTP status 200-399 is a success.
"""

from __future__ import annotations

import http.client
import socket
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal

from testenv.podrunner.materialising import PodRefusedError

ProbeKind = Literal["http", "tcp"]


@dataclass(frozen=True, slots=True)
class Probe:
    """One probe of the container spec, its port resolved to a number."""

    kind: ProbeKind
    port: int
    path: str = "/"
    scheme: str = "HTTP"
    headers: tuple[tuple[str, str], ...] = ()
    initial_delay: float = 0.0
    period: float = 10.0
    timeout: float = 1.0
    success_threshold: int = 1
    failure_threshold: int = 3

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any], ports: Mapping[str, int]) -> Probe:
        """From a container's `livenessProbe`/`readinessProbe`/`startupProbe`, with the
        Kubernetes defaults; refuses exec and gRPC probes."""
        timed = cls(
            kind="tcp",
            port=0,
            initial_delay=float(spec.get("initialDelaySeconds", 0)),
            period=float(spec.get("periodSeconds", 10)),
            timeout=float(spec.get("timeoutSeconds", 1)),
            success_threshold=int(spec.get("successThreshold", 1)),
            failure_threshold=int(spec.get("failureThreshold", 3)),
        )
        if "httpGet" in spec:
            action = spec["httpGet"]
            return replace(
                timed,
                kind="http",
                port=_port(action["port"], ports),
                path=action.get("path", "/"),
                scheme=action.get("scheme", "HTTP"),
                headers=tuple((h["name"], h["value"]) for h in action.get("httpHeaders") or ()),
            )
        if "tcpSocket" in spec:
            return replace(timed, port=_port(spec["tcpSocket"]["port"], ports))
        kinds = ", ".join(kind for kind in ("exec", "grpc") if kind in spec) or "no action"
        raise PodRefusedError(f"probe ({kinds}) is not supported: only httpGet and tcpSocket")


def _port(port: int | str, ports: Mapping[str, int]) -> int:
    if isinstance(port, int) or port.isdigit():
        return int(port)
    if port not in ports:
        raise PodRefusedError(f"probe port {port!r} is not a named port of the container")
    return ports[port]


class ProbeTracker:
    """Consecutive results of one probe against its thresholds, and when it is next due.
    Times are monotonic seconds."""

    def __init__(self, probe: Probe, started: float, *, healthy: bool) -> None:
        """`started`: when the container started; `healthy`: the verdict before any result."""
        self.probe = probe
        self.healthy = healthy
        self.due = started + probe.initial_delay
        self._successes = 0
        self._failures = 0

    @property
    def exhausted(self) -> bool:
        """Whether the latest failures reached the failure threshold (a startup probe that
        never succeeded restarts the container then)."""
        return self._failures >= self.probe.failure_threshold

    def is_due(self, now: float) -> bool:
        """Whether the probe should run now."""
        return now >= self.due

    def record(self, success: bool, now: float) -> bool:
        """Count a result and schedule the next probe; True when the verdict changed."""
        self.due = now + self.probe.period
        if success:
            self._successes += 1
            self._failures = 0
            if not self.healthy and self._successes >= self.probe.success_threshold:
                self.healthy = True
                return True
        else:
            self._failures += 1
            self._successes = 0
            if self.healthy and self._failures >= self.probe.failure_threshold:
                self.healthy = False
                return True
        return False


def check(probe: Probe, host: str) -> tuple[bool, str]:
    """Run the probe once against `host`; (success, what failed)."""
    try:
        if probe.kind == "tcp":
            with socket.create_connection((host, probe.port), timeout=probe.timeout):
                return True, ""
        return _http_get(probe, host)
    except (OSError, http.client.HTTPException) as exc:
        return False, f"{probe.kind} probe of {host}:{probe.port} failed: {exc}"


def _http_get(probe: Probe, host: str) -> tuple[bool, str]:
    connection: http.client.HTTPConnection
    if probe.scheme.upper() == "HTTPS":
        # A kubelet does not verify the certificate of an HTTPS probe either.
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        connection = http.client.HTTPSConnection(
            host, probe.port, timeout=probe.timeout, context=context
        )
    else:
        connection = http.client.HTTPConnection(host, probe.port, timeout=probe.timeout)
    try:
        connection.request("GET", probe.path, headers=dict(probe.headers))
        response = connection.getresponse()
        response.read()
    finally:
        connection.close()
    if 200 <= response.status < 400:
        return True, ""
    return False, f"HTTP probe failed with statuscode: {response.status}"
