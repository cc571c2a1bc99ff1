"""The command line says what the runner is, and the validator reads the address it injects."""

from __future__ import annotations

import pytest

from testenv.layout import Layout
from testenv.podrunner.cli import build_parser
from testenv.podrunner.materialising import BIND_ADDRESS_ENV
from validator_pod.settings import Settings


def test_help_says_it_is_dev_only_and_uses_the_admin_kubeconfig() -> None:
    layout = Layout.from_environment({"DQ_STATE": "/state", "DQ_CACHE": "/cache"})
    text = " ".join(build_parser(layout).format_help().split())

    assert "dev-only stand-in for the kubelet" in text
    assert "ADMIN kubeconfig (cluster-admin)" in text
    assert "Never use it where a kubelet runs pods" in text
    assert "default /state/kubeconfig" in text


def test_the_defaults_come_from_the_stack_layout() -> None:
    layout = Layout.from_environment({"DQ_STATE": "/state", "DQ_CACHE": "/cache"})

    args = build_parser(layout).parse_args(["-n", "shop"])

    assert (str(args.kubeconfig), str(args.state_dir)) == ("/state/kubeconfig", "/state")
    assert (args.namespace, args.node_name) == ("shop", "dataquarantine-local")


def test_the_validator_and_api_bind_to_the_address_the_runner_injects(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(BIND_ADDRESS_ENV, raising=False)
    assert Settings().bind_address == "0.0.0.0"
    monkeypatch.setenv(BIND_ADDRESS_ENV, "127.0.0.7")

    assert Settings().bind_address == "127.0.0.7"
