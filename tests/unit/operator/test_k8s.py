"""The API edge: errors become kopf's retriable or permanent errors; credentials reach kopf."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from pathlib import Path

import kopf
import pytest
import yaml
from kubernetes.client.exceptions import ApiException

from quarantine_operator.k8s import (
    ConflictError,
    connection_info,
    event_body,
    load_configuration,
    translate,
)


def api_error(status: int, message: str | None = None, **headers: str) -> ApiException:
    body = json.dumps({"kind": "Status", "message": message}) if message else "not json"
    exc = ApiException(status=status, reason="Reason", body=body)
    exc.headers = headers or None
    return exc


def test_a_conflict_is_retried_soon() -> None:
    error = translate(api_error(409, "the object has been modified"), "applying Deployment a/b")
    assert isinstance(error, ConflictError)
    assert isinstance(error, kopf.TemporaryError)
    assert str(error) == "applying Deployment a/b: the object has been modified"
    assert error.delay == 1.0


def test_throttling_is_retried_after_the_servers_delay() -> None:
    error = translate(api_error(429, "slow down", **{"Retry-After": "7"}), "reading")
    assert isinstance(error, kopf.TemporaryError)
    assert error.delay == 7.0


@pytest.mark.parametrize("status", [500, 503, 504])
def test_server_errors_are_retried(status: int) -> None:
    error = translate(api_error(status), "reading")
    assert isinstance(error, kopf.TemporaryError)
    assert str(error) == f"reading: HTTP {status} Reason"


@pytest.mark.parametrize("status", [400, 403, 404, 422])
def test_client_errors_are_permanent_and_quote_the_server(status: int) -> None:
    error = translate(api_error(status, "spec.replicas: Invalid value"), "applying")
    assert isinstance(error, kopf.PermanentError)
    assert str(error) == "applying: spec.replicas: Invalid value"


def test_an_event_points_at_its_object_and_keeps_messages_short() -> None:
    body = {
        "apiVersion": "dataquarantine.io/v1alpha1",
        "kind": "QuarantinePipeline",
        "metadata": {"name": "orders", "namespace": "shop", "uid": "u-1"},
    }
    event = event_body(
        body,
        type_="Warning",
        reason="SecretNotFound",
        message="x" * 5000,
        now=datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC),
    )
    assert event["metadata"] == {"generateName": "orders.", "namespace": "shop"}
    assert event["involvedObject"] == {
        "apiVersion": "dataquarantine.io/v1alpha1",
        "kind": "QuarantinePipeline",
        "name": "orders",
        "namespace": "shop",
        "uid": "u-1",
    }
    assert (event["type"], event["reason"]) == ("Warning", "SecretNotFound")
    assert len(event["message"]) == 1024
    assert event["firstTimestamp"] == event["lastTimestamp"] == "2026-03-01T12:00:00Z"


def test_a_kubeconfig_token_reaches_kopf_with_the_cluster_ca(tmp_path: Path) -> None:
    ca = b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [
                    {
                        "name": "c",
                        "cluster": {
                            "server": "https://127.0.0.1:6443",
                            "certificate-authority-data": base64.b64encode(ca).decode(),
                        },
                    }
                ],
                "users": [{"name": "u", "user": {"token": "s3cr3t-token"}}],
                "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "x",
            }
        )
    )
    info = connection_info(load_configuration(kubeconfig))
    assert info.server == "https://127.0.0.1:6443"
    assert info.token == "s3cr3t-token"
    assert info.scheme in (None, "Bearer")
    assert info.insecure is False
    assert info.ca_path is not None
    assert Path(str(info.ca_path)).read_bytes() == ca


def test_an_unreadable_kubeconfig_is_a_permanent_error(tmp_path: Path) -> None:
    with pytest.raises(kopf.PermanentError, match="cannot configure the Kubernetes client"):
        load_configuration(tmp_path / "missing")
