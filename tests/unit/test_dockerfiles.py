"""Both Dockerfiles copy files that exist and declare entrypoints that start in this venv.

No image is built here (no Docker in CI); the checks that can fail without one do: a COPY of a
missing path, an ENTRYPOINT/CMD naming a module or subcommand that does not exist, and the
operator's and pipelines' rendered commands drifting from what the images can run.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from quarantine_operator.render import (
    build_pipeline_config,
    pipeline_owner,
    render_pipeline,
    resolve_schema_selection,
)
from tests.unit.operator.builders import pipeline_spec, schema_version

REPO = Path(__file__).resolve().parents[2]
DOCKERFILES = ("Dockerfile.operator", "Dockerfile.validator")


def instructions(dockerfile: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order, continuation lines joined, comments dropped."""
    logical: list[str] = []
    pending = ""
    for line in (REPO / dockerfile).read_text().splitlines():
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        logical.append(pending + stripped)
        pending = ""
    parsed = []
    for entry in logical:
        keyword, _, arguments = entry.partition(" ")
        parsed.append((keyword.upper(), arguments.strip()))
    return parsed


def exec_form(dockerfile: str, keyword: str) -> list[str]:
    """The JSON (exec) form of the last ENTRYPOINT or CMD ([] when absent)."""
    found = [arguments for name, arguments in instructions(dockerfile) if name == keyword]
    if not found:
        return []
    value = json.loads(found[-1])
    assert isinstance(value, list), f"{dockerfile}: {keyword} must use the exec (JSON) form"
    return [str(part) for part in value]


def run_help(command: list[str]) -> subprocess.CompletedProcess[str]:
    """Run an image's `python ...` command with --help in this project's interpreter."""
    assert command[0] == "python", f"the images run python, not {command[0]!r}"
    return subprocess.run(
        [sys.executable, *command[1:], "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
        check=False,
    )


@pytest.mark.parametrize("dockerfile", DOCKERFILES)
def test_every_copy_source_exists(dockerfile: str) -> None:
    copies = [arguments for name, arguments in instructions(dockerfile) if name == "COPY"]
    assert copies
    for arguments in copies:
        parts = arguments.split()
        if any(part.startswith("--from=") for part in parts):
            continue
        sources = [part for part in parts if not part.startswith("--")][:-1]
        assert sources, f"{dockerfile}: COPY {arguments} has no source"
        for source in sources:
            assert (REPO / source).exists(), f"{dockerfile}: COPY source {source} is missing"


@pytest.mark.parametrize("dockerfile", DOCKERFILES)
def test_the_images_run_as_a_non_root_user_from_a_pinned_base(dockerfile: str) -> None:
    parsed = instructions(dockerfile)
    (user,) = [arguments for name, arguments in parsed if name == "USER"]
    assert user.split(":")[0] not in ("root", "0")
    bases = [arguments for name, arguments in parsed if name == "ARG" and "IMAGE=" in arguments]
    assert bases
    assert all(":" in base.split("=", 1)[1] for base in bases)
    assert not any(base.endswith(":latest") for base in bases)


def test_the_operator_image_entrypoint_starts() -> None:
    entrypoint = exec_form("Dockerfile.operator", "ENTRYPOINT")
    assert entrypoint == ["python", "-m", "quarantine_operator"]
    done = run_help(entrypoint)
    assert done.returncode == 0, done.stderr
    assert "usage: python -m quarantine_operator" in done.stdout


def test_the_validator_image_entrypoint_and_default_command_start() -> None:
    entrypoint = exec_form("Dockerfile.validator", "ENTRYPOINT")
    command = exec_form("Dockerfile.validator", "CMD")
    assert entrypoint == ["python", "-m", "validator_pod"]
    done = run_help(entrypoint)
    assert done.returncode == 0, done.stderr
    assert "usage: python -m validator_pod" in done.stdout
    subcommand = run_help([*entrypoint, *command[:1]])
    assert subcommand.returncode == 0, subcommand.stderr
    assert f"usage: python -m validator_pod {command[0]}" in subcommand.stdout


def _rendered_commands() -> list[list[str]]:
    owner = pipeline_owner("orders", "shop", "uid")
    spec = pipeline_spec()
    config = build_pipeline_config(owner, spec, resolve_schema_selection(spec, {"orders": [1]}))
    rendered = render_pipeline(owner, spec, config, [schema_version()])
    deployments: list[Any] = [rendered.validator, rendered.api_deployment]
    return [d["spec"]["template"]["spec"]["containers"][0]["command"] for d in deployments]


@pytest.mark.parametrize("command", _rendered_commands(), ids=lambda command: command[3])
def test_the_commands_the_operator_renders_exist_in_the_validator_image(
    command: list[str],
) -> None:
    # The operator overrides the image's command; the module and subcommand must exist.
    done = run_help(command[:4])
    assert done.returncode == 0, done.stderr


def test_the_operator_deployment_exposes_the_ports_the_image_declares() -> None:
    exposed = {
        int(port)
        for name, arguments in instructions("Dockerfile.operator")
        if name == "EXPOSE"
        for port in arguments.split()
    }
    deployment = yaml.safe_load((REPO / "manifests/operator/deployment.yaml").read_text())
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert {port["containerPort"] for port in container["ports"]} == exposed


def test_the_build_context_holds_what_the_images_copy_and_nothing_else() -> None:
    patterns = [
        line.strip()
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert patterns[0] == "*", "the context is an allow-list: exclude everything first"
    allowed = {pattern[1:].rstrip("/") for pattern in patterns if pattern.startswith("!")}
    for dockerfile in DOCKERFILES:
        for name, arguments in instructions(dockerfile):
            parts = arguments.split()
            if name != "COPY" or any(part.startswith("--from=") for part in parts):
                continue
            sources = [part.rstrip("/") for part in parts if not part.startswith("--")][:-1]
            assert set(sources) <= allowed, f"{dockerfile}: COPY {arguments} is not in the context"
