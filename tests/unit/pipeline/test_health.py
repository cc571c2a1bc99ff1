from __future__ import annotations

import asyncio
import logging

import orjson
import pytest
from prometheus_client import CollectorRegistry

from validator_pod.health import HealthServer, Readiness
from validator_pod.metrics import ValidatorMetrics


def test_readiness_logs_a_problem_once_and_its_recovery_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    readiness = Readiness({"pipeline": "orders"})
    with caplog.at_level(logging.INFO, logger="validator_pod.health"):
        for attempt in range(5):
            readiness.set_problem("postgres", f"connection refused ({attempt})")
        assert not readiness.ready
        assert readiness.problems == {"postgres": "connection refused (4)"}
        readiness.clear("postgres")
        readiness.clear("postgres")
    assert readiness.ready
    assert [r.getMessage() for r in caplog.records] == [
        "not ready: postgres: connection refused (0)",
        "recovered: postgres",
    ]
    assert caplog.records[0].pipeline == "orders"  # type: ignore[attr-defined]


def test_probes_answer_ready_not_ready_alive_and_metrics() -> None:
    registry = CollectorRegistry()
    ValidatorMetrics(registry, "orders")
    readiness = Readiness()
    server = HealthServer(readiness, registry)

    assert server.respond("GET", "/readyz") == (
        200,
        "application/json",
        b'{"ready":true,"problems":{}}',
    )
    readiness.set_problem("s3", "timed out")
    status, _, body = server.respond("GET", "/readyz")
    assert (status, orjson.loads(body)) == (503, {"ready": False, "problems": {"s3": "timed out"}})
    assert server.respond("GET", "/healthz")[0] == 200
    status, content_type, body = server.respond("GET", "/metrics?x=1")
    assert status == 200
    assert content_type.startswith("text/plain")
    assert b"dataquarantine_breaker_open" in body
    assert server.respond("GET", "/nope")[0] == 404
    assert server.respond("POST", "/readyz")[0] == 405


def test_liveness_follows_the_alive_callback() -> None:
    server = HealthServer(Readiness(), CollectorRegistry(), alive=lambda: False)
    assert server.respond("GET", "/healthz")[0] == 503


async def test_the_server_speaks_http_on_a_real_socket() -> None:
    readiness = Readiness()
    readiness.set_problem("starting", "connecting")
    server = HealthServer(readiness, CollectorRegistry())
    (port,) = await server.start("127.0.0.1", 0)
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n")
        response = await reader.read()
        writer.close()
        await writer.wait_closed()
    finally:
        await server.stop()
    head, _, body = response.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 503 ")
    assert b"Content-Length: %d" % len(body) in head
    assert orjson.loads(body)["problems"] == {"starting": "connecting"}
