"""`kubectl port-forward` to a free local port: the port kubectl picked is read from its output,
kubectl is stopped afterwards, and a failure says why (a stand-in kubectl plays the part)."""

from __future__ import annotations

from pathlib import Path

import pytest

from testenv.demo.cluster import Kubectl, KubectlError, forwarded_port, port_forward
from testenv.processes import is_alive


def stand_in_kubectl(tmp_path: Path, script: str) -> Kubectl:
    """A `kubectl` that runs a shell script (its pid in `pid`, its arguments in `args`)."""
    binary = tmp_path / "kubectl"
    binary.write_text(
        f'#!/bin/sh\necho $$ > "{tmp_path}/pid"\necho "$@" > "{tmp_path}/args"\n{script}'
    )
    binary.chmod(0o755)
    return Kubectl(binary, tmp_path / "kubeconfig")


def test_the_local_port_is_read_from_the_ipv4_forwarding_line() -> None:
    assert forwarded_port("Forwarding from 127.0.0.1:40123 -> 8080\n") == 40123
    assert forwarded_port("Forwarding from [::1]:40123 -> 8080\n") is None
    assert forwarded_port("Handling connection for 40123\n") is None


def test_the_forward_yields_the_port_kubectl_picked_and_stops_kubectl_afterwards(
    tmp_path: Path,
) -> None:
    kubectl = stand_in_kubectl(
        tmp_path,
        'echo "Forwarding from 127.0.0.1:40123 -> 8080"\n'
        'echo "Forwarding from [::1]:40123 -> 8080"\n'
        "exec sleep 60\n",
    )
    with port_forward(kubectl, "shop", "svc/orders-api", 80) as port:
        assert port == 40123
        pid = int((tmp_path / "pid").read_text())
        assert is_alive(pid)
    assert not is_alive(pid)
    assert (tmp_path / "args").read_text().split() == [
        f"--kubeconfig={tmp_path / 'kubeconfig'}",
        "port-forward",
        "-n",
        "shop",
        "--address",
        "127.0.0.1",
        "svc/orders-api",
        ":80",
    ]


def test_a_forward_that_kubectl_refuses_fails_with_its_message(tmp_path: Path) -> None:
    kubectl = stand_in_kubectl(
        tmp_path, "echo 'error: unable to forward port because pod is not running' >&2\nexit 1\n"
    )
    with (
        pytest.raises(KubectlError, match="pod is not running"),
        port_forward(kubectl, "shop", "svc/orders-api", 80),
    ):
        pytest.fail("no port was forwarded")


def test_a_forward_that_never_starts_times_out(tmp_path: Path) -> None:
    kubectl = stand_in_kubectl(tmp_path, "exec sleep 60\n")
    with (
        pytest.raises(KubectlError, match="svc/orders-api"),
        port_forward(kubectl, "shop", "svc/orders-api", 80, timeout=0.5),
    ):
        pytest.fail("no port was forwarded")
    assert not is_alive(int((tmp_path / "pid").read_text()))
