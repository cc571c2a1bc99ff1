"""scripts/kind-up cannot run here (no Docker engine), so what can be checked without one is:
it parses, it builds and loads the images under the references the manifests and the operator
use (else the kubelet would try to pull them), it waits for what it installs, and, run with
stand-ins for docker, kind, kubectl, ip and the venv's python, it brings the data services up
at the address the kind nodes reach this machine at."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import yaml

from quarantine_operator.api.v1alpha1 import DEFAULT_IMAGE
from quarantine_operator.crdgen import render_crds

REPO = Path(__file__).resolve().parents[2]
KIND_UP = REPO / "scripts" / "kind-up"


def script() -> str:
    return KIND_UP.read_text()


def assigned(name: str) -> str:
    """The value the script assigns to a shell variable (a plain `name=value` line)."""
    (value,) = re.findall(rf"^{name}=(\S+)$", script(), flags=re.MULTILINE)
    return value


def operator_container() -> dict[str, Any]:
    deployment = yaml.safe_load((REPO / "manifests/operator/deployment.yaml").read_text())
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return dict(container)


def test_the_script_parses_and_is_executable() -> None:
    done = subprocess.run(["bash", "-n", str(KIND_UP)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert KIND_UP.stat().st_mode & 0o111


def test_the_images_are_built_under_the_references_the_manifests_and_operator_use() -> None:
    container = operator_container()
    env = {entry["name"]: entry.get("value") for entry in container["env"]}
    assert assigned("operator_image") == container["image"]
    assert assigned("validator_image") == env["DQ_OPERATOR_IMAGE"] == DEFAULT_IMAGE
    for reference in (container["image"], DEFAULT_IMAGE):
        # IfNotPresent, the default for a tag other than latest, uses the loaded image.
        assert not reference.endswith(":latest")
        assert ":" in reference.rsplit("/", 1)[-1]
    assert container.get("imagePullPolicy", "IfNotPresent") == "IfNotPresent"


def test_each_dockerfile_is_built_and_each_image_loaded() -> None:
    text = script()
    assert 'docker build -f Dockerfile.operator -t "$operator_image" .' in text
    assert 'docker build -f Dockerfile.validator -t "$validator_image" .' in text
    assert 'for image in "$operator_image" "$validator_image"; do' in text
    assert 'kind load docker-image --name "$cluster" "$image"' in text


def test_it_waits_for_the_crds_and_operator_it_installs_and_prints_a_port_forward() -> None:
    text = script()
    kustomization = yaml.safe_load((REPO / "manifests/kustomization.yaml").read_text())
    assert assigned("operator_namespace") == kustomization["namespace"]
    assert "k apply -k manifests/" in text
    for name in render_crds():
        assert f"crd/{name.removesuffix('.yaml')}" in text
    assert "rollout status deployment/dataquarantine-operator" in text
    (pipeline,) = [
        doc
        for doc in yaml.safe_load_all(
            (REPO / "manifests/samples/quarantinepipeline.yaml").read_text()
        )
        if doc
    ]
    assert f"port-forward svc/{pipeline['metadata']['name']}-api 8080:80" in text
    assert "DQ_E2E_KUBECONFIG=" in text


def test_the_data_services_are_brought_up_advertised_before_the_images_are_built() -> None:
    text = script()
    gateway = 'docker network inspect "$kind_network" -f \'{{range .IPAM.Config}}'
    assert gateway in text
    up = 'DQ_STATE=$stack_state "$python" -m testenv up --advertise "$advertise" kafka postgres s3'
    assert up in text
    assert text.index("kind create cluster") < text.index(up) < text.index("docker build")
    assert "DQ_STATE=$stack_state DQ_E2E_KUBECONFIG=$PWD/$kubeconfig .venv/bin/pytest" in text


STAND_INS = {
    # docker: `network inspect kind -f FORMAT` answers from $GATEWAYS (a printf format) and an id
    "docker": """\
echo "docker $*" >>"$CALLS"
case "$1 $5" in
  "network "*Gateway*) printf "$GATEWAYS" ;;
  "network "*Id*) echo 1c2d3e4f5a6b7c8d9e0f1a2b ;;
esac
""",
    "kind": """\
echo "kind $*" >>"$CALLS"
case "$1 $2" in
  "get clusters") echo dataquarantine ;;
  "get kubeconfig") echo "apiVersion: v1" ;;
esac
""",
    "kubectl": 'echo "kubectl $*" >>"$CALLS"\n',
    # ip: the bridge of the network id above carries $BRIDGE, if set
    "ip": """\
echo "ip $*" >>"$CALLS"
if [ -z "$BRIDGE" ] || [ "$6" != br-1c2d3e4f5a6b ]; then
  echo "Device \\"$6\\" does not exist." >&2
  exit 1
fi
echo "9: br-1c2d3e4f5a6b    inet $BRIDGE/16 brd 172.18.255.255 scope global br-1c2d3e4f5a6b"
""",
}


def run_with_stand_ins(
    tmp_path: Path, *, gateways: str, bridge: str = "", **environ: str
) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    """Run a copy of the script in an empty checkout (tmp_path) with stand-ins for docker, kind,
    kubectl, ip and .venv/bin/python that log their calls; returns the run and the calls."""
    (tmp_path / "scripts").mkdir()
    copy = tmp_path / "scripts" / "kind-up"
    copy.write_text(script())
    stand_ins = tmp_path / "bin"
    stand_ins.mkdir()
    python = tmp_path / ".venv" / "bin" / "python"
    python.parent.mkdir(parents=True)
    scripts = {stand_ins / name: body for name, body in STAND_INS.items()}
    scripts[python] = 'echo "python DQ_STATE=$DQ_STATE $*" >>"$CALLS"\n'
    for path, body in scripts.items():
        path.write_text(f"#!/bin/sh\n{body}")
        path.chmod(0o755)
    calls = tmp_path / "calls"
    done = subprocess.run(
        ["bash", str(copy)],
        env={
            "PATH": f"{stand_ins}:/usr/bin:/bin",
            "HOME": str(tmp_path),
            "CALLS": str(calls),
            "GATEWAYS": gateways,
            "BRIDGE": bridge,
            **environ,
        },
        capture_output=True,
        text=True,
        check=False,
    )
    return done, calls.read_text().splitlines() if calls.exists() else []


def stack_calls(calls: list[str]) -> list[str]:
    return [call for call in calls if call.startswith("python ")]


def test_the_data_services_come_up_at_the_ipv4_gateway_of_the_kind_network(
    tmp_path: Path,
) -> None:
    done, calls = run_with_stand_ins(tmp_path, gateways="172.18.0.1\\nfc00:f853:ccd:e793::1\\n")

    assert done.returncode == 0, done.stderr
    state = tmp_path / ".testenv" / "kind" / "stack"
    assert stack_calls(calls) == [
        f"python DQ_STATE={state} -m testenv up --advertise 172.18.0.1 kafka postgres s3"
    ]
    assert f"DQ_STATE={state} DQ_E2E_KUBECONFIG=" in done.stderr
    assert "at 172.18.0.1" in done.stderr


def test_without_a_gateway_in_the_ipam_config_the_bridge_address_is_used_and_said(
    tmp_path: Path,
) -> None:
    done, calls = run_with_stand_ins(tmp_path, gateways="\\n\\n", bridge="172.19.0.1")

    assert done.returncode == 0, done.stderr
    assert "names no IPv4 gateway; using its bridge's address 172.19.0.1" in done.stderr
    assert stack_calls(calls)[0].endswith("up --advertise 172.19.0.1 kafka postgres s3")


def test_without_any_address_on_the_kind_network_it_stops_before_building_and_says_why(
    tmp_path: Path,
) -> None:
    done, calls = run_with_stand_ins(tmp_path, gateways="")

    assert done.returncode == 1
    assert "set DQ_ADVERTISE_HOST to an address of this machine" in done.stderr
    assert stack_calls(calls) == []
    assert not [call for call in calls if call.startswith("docker build")]


def test_dq_advertise_host_and_dq_state_choose_the_address_and_the_stack(tmp_path: Path) -> None:
    done, calls = run_with_stand_ins(
        tmp_path, gateways="172.18.0.1\\n", DQ_ADVERTISE_HOST="10.0.0.5", DQ_STATE="/srv/dq"
    )

    assert done.returncode == 0, done.stderr
    assert stack_calls(calls) == [
        "python DQ_STATE=/srv/dq -m testenv up --advertise 10.0.0.5 kafka postgres s3"
    ]
    assert not [call for call in calls if call.startswith("docker network")]
