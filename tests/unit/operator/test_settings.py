"""Start-up settings come from DQ_OPERATOR_* and the command line overrides them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydantic import ValidationError

from quarantine_operator.__main__ import build_parser, settings_from
from quarantine_operator.api.v1alpha1 import DEFAULT_IMAGE
from quarantine_operator.settings import OperatorSettings


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No DQ_OPERATOR_* from the shell or from a session fixture that runs the operator."""
    for name in list(os.environ):
        if name == "KUBECONFIG" or name.startswith("DQ_OPERATOR_"):
            monkeypatch.delenv(name)


def test_the_defaults_watch_every_namespace_with_both_endpoints_on() -> None:
    settings = OperatorSettings()
    assert settings.clusterwide is True
    assert settings.image == DEFAULT_IMAGE
    assert settings.metrics_port == 8080
    assert settings.liveness_endpoint == "http://0.0.0.0:8081/healthz"
    assert settings.kubeconfig is None


def test_namespaces_are_read_from_a_comma_or_space_separated_list(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DQ_OPERATOR_NAMESPACES", "shop, team-* billing")
    settings = OperatorSettings()
    assert settings.namespaces == ("shop", "team-*", "billing")
    assert settings.clusterwide is False


def test_kubeconfig_is_also_read_from_the_standard_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("KUBECONFIG", "/etc/kube/config")
    assert OperatorSettings().kubeconfig == Path("/etc/kube/config")
    monkeypatch.setenv("DQ_OPERATOR_KUBECONFIG", "/etc/operator/config")
    assert OperatorSettings().kubeconfig == Path("/etc/operator/config")


def test_port_zero_turns_the_liveness_endpoint_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DQ_OPERATOR_LIVENESS_PORT", "0")
    assert OperatorSettings().liveness_endpoint is None


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("DQ_OPERATOR_METRICS_PORT", "70000"),
        ("DQ_OPERATOR_STATS_INTERVAL", "0"),
        ("DQ_OPERATOR_LOG_LEVEL", "LOUD"),
    ],
)
def test_nonsense_is_refused_at_start(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValidationError):
        OperatorSettings()


def test_the_command_line_overrides_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DQ_OPERATOR_NAMESPACES", "shop")
    monkeypatch.setenv("DQ_OPERATOR_METRICS_PORT", "9000")
    args = build_parser().parse_args(
        ["-n", "a", "--namespace", "b-*", "--liveness-port", "0", "--log-level", "DEBUG"]
    )
    settings = settings_from(args)
    assert settings.namespaces == ("a", "b-*")
    assert settings.metrics_port == 9000
    assert settings.liveness_endpoint is None
    assert settings.log_level == "DEBUG"


def test_all_namespaces_overrides_a_configured_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DQ_OPERATOR_NAMESPACES", "shop")
    assert settings_from(build_parser().parse_args(["-A"])).clusterwide is True
    with pytest.raises(SystemExit):
        build_parser().parse_args(["-A", "-n", "shop"])
