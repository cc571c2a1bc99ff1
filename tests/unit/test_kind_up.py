"""scripts/kind-up cannot run here (no Docker engine), so what can be checked without one is:
it parses, it builds and loads the images under the references the manifests and the operator
use (else the kubelet would try to pull them), and it waits for what it installs."""

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
