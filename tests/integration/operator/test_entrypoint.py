"""`python -m quarantine_operator`, the image's entrypoint, runs as a process: it reconciles,
answers its liveness probe and metrics, logs JSON lines, and stops cleanly on SIGTERM."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from kubernetes import client

from quarantine_operator.api.v1alpha1 import VALIDATION_SCHEMA
from tests.support.polling import eventually

from .cluster import REPO, Cluster, has_condition, order_schema, schema_spec


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def own_namespace(cluster: Cluster, unique_name: str, installed: str) -> Iterator[str]:
    """A namespace outside `dqop-*`, so that the in-process operator leaves it alone."""
    name = f"dqentry-{unique_name}"
    cluster.core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    yield name
    cluster.core.delete_namespace(name)


def _healthy(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def test_the_operator_process_reconciles_serves_probes_and_logs_json(
    own_namespace: str, cluster: Cluster, operator_kubeconfig: Path, tmp_path: Path
) -> None:
    metrics_port, liveness_port = _free_port(), _free_port()
    stderr = tmp_path / "stderr"
    with stderr.open("w") as errors:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "quarantine_operator",
                "--kubeconfig",
                str(operator_kubeconfig),
                "--namespace",
                own_namespace,
                "--metrics-port",
                str(metrics_port),
                "--liveness-port",
                str(liveness_port),
            ],
            cwd=REPO,
            stdout=subprocess.DEVNULL,
            stderr=errors,
        )
        try:
            eventually(lambda: _healthy(liveness_port), what="the liveness endpoint")
            cluster.create(VALIDATION_SCHEMA, own_namespace, "orders", schema_spec(order_schema()))
            eventually(
                lambda: has_condition(
                    cluster.schema(own_namespace, "orders"), "Ready", "True", "SchemaPublished"
                ),
                what="the operator process to publish the schema",
            )
            metrics = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5).text
            assert (
                'dataquarantine_operator_reconciliations_total{kind="ValidationSchema",'
                'result="success"} 1.0' in metrics
            )
        finally:
            process.send_signal(signal.SIGTERM)
            exit_code = process.wait(timeout=30)
    assert exit_code == 0
    lines = [json.loads(line) for line in stderr.read_text().splitlines() if line.strip()]
    messages = [line["message"] for line in lines]
    assert "operator started" in messages
    assert any(
        message.startswith("published version 1 of ValidationSchema") for message in messages
    )
