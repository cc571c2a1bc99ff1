"""Probes: the spec's defaults and named ports, thresholds, schedule, and one real check."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from testenv.podrunner.materialising import PodRefusedError
from testenv.podrunner.options import RunnerOptions
from testenv.podrunner.probing import Probe, ProbeTracker, check

PORTS = {"metrics": 9400, "http": 8080}


def test_an_http_probe_resolves_its_named_port_and_keeps_its_timing() -> None:
    spec = {
        "httpGet": {"path": "/readyz", "port": "metrics"},
        "initialDelaySeconds": 2,
        "periodSeconds": 5,
        "timeoutSeconds": 3,
        "failureThreshold": 3,
    }

    probe = Probe.from_spec(spec, PORTS)

    assert probe == Probe(
        kind="http",
        port=9400,
        path="/readyz",
        initial_delay=2.0,
        period=5.0,
        timeout=3.0,
        success_threshold=1,
        failure_threshold=3,
    )


def test_kubernetes_defaults_apply_and_tcp_probes_work_too() -> None:
    probe = Probe.from_spec({"tcpSocket": {"port": 8080}}, PORTS)

    assert probe == Probe(kind="tcp", port=8080, period=10.0, timeout=1.0, failure_threshold=3)


@pytest.mark.parametrize(
    "spec",
    [
        {"exec": {"command": ["true"]}},
        {"grpc": {"port": 9000}},
        {"httpGet": {"path": "/", "port": "nope"}},
    ],
)
def test_exec_grpc_and_unknown_ports_are_refused(spec: dict[str, object]) -> None:
    with pytest.raises(PodRefusedError):
        Probe.from_spec(spec, PORTS)


def test_readiness_waits_for_the_initial_delay_then_for_a_success() -> None:
    probe = Probe(kind="http", port=1, initial_delay=2, period=5, success_threshold=2)
    tracker = ProbeTracker(probe, started=100.0, healthy=False)

    assert not tracker.is_due(101.9)
    assert tracker.is_due(102.0)
    assert not tracker.record(True, 102.0)
    assert tracker.due == 107.0
    assert tracker.record(True, 107.0)
    assert tracker.healthy


def test_liveness_fails_only_after_consecutive_failures_reach_the_threshold() -> None:
    probe = Probe(kind="http", port=1, failure_threshold=3)
    tracker = ProbeTracker(probe, started=0.0, healthy=True)

    assert not tracker.record(False, 1)
    assert not tracker.record(False, 2)
    assert not tracker.record(True, 3)
    assert not tracker.record(False, 4)
    assert not tracker.record(False, 5)
    assert not tracker.exhausted
    assert tracker.record(False, 6)
    assert not tracker.healthy
    assert tracker.exhausted


def test_restarts_back_off_exponentially_up_to_the_cap() -> None:
    options = RunnerOptions(backoff_initial=1.0, backoff_cap=30.0)

    assert [options.restart_delay(n) for n in (1, 2, 3, 5, 6, 20)] == [1, 2, 4, 16, 30, 30]


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/healthz" else 503)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[int]:
    """An HTTP server on 127.0.0.3: /healthz is 200, anything else 503."""
    httpd = ThreadingHTTPServer(("127.0.0.3", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield int(httpd.server_address[1])
    httpd.shutdown()
    httpd.server_close()
    thread.join()


def test_a_check_reaches_the_pods_own_address(server: int) -> None:
    assert check(Probe(kind="http", port=server, path="/healthz"), "127.0.0.3") == (True, "")
    assert check(Probe(kind="http", port=server, path="/readyz"), "127.0.0.3") == (
        False,
        "HTTP probe failed with statuscode: 503",
    )
    assert check(Probe(kind="tcp", port=server), "127.0.0.3") == (True, "")
    ok, why = check(Probe(kind="http", port=server, path="/healthz"), "127.0.0.4")
    assert not ok
    assert "refused" in why
