"""Operator metrics live in an injected registry and are served over HTTP."""

from __future__ import annotations

import httpx
import pytest
from prometheus_client import CollectorRegistry

from quarantine_operator.metrics import Kind, OperatorMetrics, Result, serve


def test_every_kind_and_result_is_exported_from_the_start() -> None:
    registry = CollectorRegistry()
    OperatorMetrics(registry)
    for kind in Kind:
        for result in Result:
            labels = {"kind": kind.value, "result": result.value}
            value = registry.get_sample_value(
                "dataquarantine_operator_reconciliations_total", labels
            )
            assert value == 0.0


def test_a_timed_reconciliation_is_counted_and_observed() -> None:
    registry = CollectorRegistry()
    metrics = OperatorMetrics(registry)
    with metrics.timed(Kind.QUARANTINE_PIPELINE):
        metrics.count(Kind.QUARANTINE_PIPELINE, Result.STALLED)
    with pytest.raises(RuntimeError), metrics.timed(Kind.QUARANTINE_PIPELINE):
        raise RuntimeError("the duration is observed anyway")
    kind = {"kind": "QuarantinePipeline"}
    assert (
        registry.get_sample_value(
            "dataquarantine_operator_reconciliations_total", {**kind, "result": "stalled"}
        )
        == 1.0
    )
    assert (
        registry.get_sample_value(
            "dataquarantine_operator_reconciliation_duration_seconds_count", kind
        )
        == 2.0
    )


def test_the_registry_is_served_on_metrics() -> None:
    registry = CollectorRegistry()
    OperatorMetrics(registry)
    server = serve(registry, 0, address="127.0.0.1")
    try:
        response = httpx.get(f"http://127.0.0.1:{server.port}/metrics", timeout=5)
    finally:
        server.stop()
    assert response.status_code == 200
    assert "dataquarantine_operator_reconciliations_total" in response.text
