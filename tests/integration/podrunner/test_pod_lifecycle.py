"""What the runner does as a kubelet would, for Deployments made by hand (no operator): refuse,
restart with back-off, wait for Secrets, restart on liveness failures, leave others' pods alone."""

from __future__ import annotations

import copy
import time
from typing import Any

from kubernetes import client

from quarantine_operator.render import MANAGED_BY
from tests.conftest import PodRunnerFactory
from tests.integration.operator.cluster import Cluster
from tests.support.polling import eventually
from tests.unit.podrunner.builders import rendered_objects

LABELS = {"app.kubernetes.io/name": "dataquarantine", "app.kubernetes.io/managed-by": MANAGED_BY}
CRASHING = ["python", "-m", "validator_pod", "run", "--config-dir", "/etc/nowhere"]


def deploy(
    cluster: Cluster,
    namespace: str,
    name: str,
    container: dict[str, Any],
    *,
    labels: dict[str, str] | None = None,
    volumes: list[dict[str, Any]] | None = None,
) -> None:
    """A one-replica Deployment of this container, labelled as the operator labels its own."""
    labels = dict(labels if labels is not None else LABELS)
    selector = {"app.kubernetes.io/instance": name}
    template_labels = {**LABELS, **selector}
    body = {
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": selector},
            "template": {
                "metadata": {"labels": template_labels},
                "spec": {
                    "terminationGracePeriodSeconds": 2,
                    "containers": [{"name": "main", "image": "dataquarantine:dev", **container}],
                    "volumes": volumes or [],
                },
            },
        },
    }
    cluster.apps.create_namespaced_deployment(namespace, body)


def pod_of(cluster: Cluster, namespace: str, name: str) -> client.V1Pod | None:
    """The (first) pod of a Deployment made by `deploy`."""
    pods = cluster.core.list_namespaced_pod(
        namespace, label_selector=f"app.kubernetes.io/instance={name}"
    ).items
    return pods[0] if pods else None


def container_status(
    cluster: Cluster, namespace: str, name: str
) -> client.V1ContainerStatus | None:
    """The pod's container status, once reported."""
    pod = pod_of(cluster, namespace, name)
    statuses = (pod.status.container_statuses if pod and pod.status else None) or []
    return statuses[0] if statuses else None


def waiting_reason(cluster: Cluster, namespace: str, name: str) -> str | None:
    """The reason the pod's container waits, if it does."""
    status = container_status(cluster, namespace, name)
    waiting = status.state.waiting if status and status.state else None
    return waiting.reason if waiting else None


def event_reasons(cluster: Cluster, namespace: str) -> set[str]:
    """The reasons of the runner's Events in the namespace."""
    events = cluster.core.list_namespaced_event(namespace).items
    return {
        e.reason for e in events if e.source and e.source.component == "dataquarantine-podrunner"
    }


def test_any_other_command_is_refused_with_an_event_and_never_started(
    namespace: str, cluster: Cluster, pod_runner: PodRunnerFactory
) -> None:
    runner = pod_runner(namespace)
    deploy(cluster, namespace, "shell", {"command": ["sh", "-c", "echo pwned"]})

    eventually(
        lambda: waiting_reason(cluster, namespace, "shell") == "Refused",
        what="the pod to be refused",
    )
    status = container_status(cluster, namespace, "shell")
    assert status is not None
    assert "only `python -m validator_pod ...`" in status.state.waiting.message
    assert not status.ready
    pod = pod_of(cluster, namespace, "shell")
    assert pod is not None
    assert pod.status.phase == "Pending"
    assert "Refused" in event_reasons(cluster, namespace)
    assert [p.pid for p in runner.pods()] == [None]


def test_a_crashing_process_is_restarted_with_back_off(
    namespace: str, cluster: Cluster, pod_runner: PodRunnerFactory
) -> None:
    pod_runner(namespace)
    deploy(cluster, namespace, "crash", {"command": CRASHING})

    status = eventually(
        lambda: (
            (found := container_status(cluster, namespace, "crash"))
            and found.restart_count >= 2
            and found
        ),
        what="two restarts",
    )
    assert status.last_state.terminated.exit_code == 2  # the validator's "bad configuration"
    assert not status.ready
    pod = pod_of(cluster, namespace, "crash")
    assert pod is not None
    assert pod.status.phase == "Running"
    assert {"Scheduled", "Started", "BackOff"} <= event_reasons(cluster, namespace)


def test_a_missing_secret_holds_the_pod_until_the_secret_appears(
    namespace: str, cluster: Cluster, pod_runner: PodRunnerFactory
) -> None:
    runner = pod_runner(namespace)
    env = [{"name": "DQ_POSTGRES_DSN", "valueFrom": {"secretKeyRef": {"name": "pg", "key": "dsn"}}}]
    deploy(cluster, namespace, "late", {"command": CRASHING, "env": env})

    eventually(
        lambda: waiting_reason(cluster, namespace, "late") == "CreateContainerConfigError",
        what="the pod to wait for its Secret",
    )
    status = container_status(cluster, namespace, "late")
    assert status is not None
    assert status.state.waiting.message == 'secret "pg" not found'
    assert [p.pid for p in runner.pods()] == [None]

    cluster.create_secret(namespace, "pg", {"dsn": "postgresql://late@127.0.0.1/dq"})

    eventually(
        lambda: "Started" in event_reasons(cluster, namespace),
        what="the process to start once the Secret exists",
    )


def test_a_failing_liveness_probe_restarts_the_process_and_readiness_keeps_it_unready(
    namespace: str, cluster: Cluster, pod_runner: PodRunnerFactory
) -> None:
    pod_runner(namespace)
    config_map, validator, _ = rendered_objects()
    for obj in (config_map, validator):
        del obj["metadata"]["ownerReferences"]
        obj["metadata"]["namespace"] = namespace
    cluster.core.create_namespaced_config_map(namespace, config_map)
    for name, data in {
        "s3-creds": {"accessKey": "a", "secretKey": "b"},
        "pg-creds": {"dsn": "postgresql://nobody@127.0.0.1:1/none"},
    }.items():
        cluster.create_secret(namespace, name, data)
    container = copy.deepcopy(validator["spec"]["template"]["spec"]["containers"][0])
    container["livenessProbe"].update(
        httpGet={"path": "/not-here", "port": "metrics"},
        initialDelaySeconds=1,
        periodSeconds=1,
        failureThreshold=2,
    )
    deploy(
        cluster,
        namespace,
        "unhealthy",
        {
            k: container[k]
            for k in ("command", "env", "ports", "livenessProbe", "readinessProbe", "volumeMounts")
        },
        volumes=validator["spec"]["template"]["spec"]["volumes"],
    )

    status = eventually(
        lambda: (
            (found := container_status(cluster, namespace, "unhealthy"))
            and found.restart_count >= 1
            and found
        ),
        what="a restart after the liveness probe failed",
        timeout=60,
    )
    assert status.last_state.terminated is not None
    assert not status.ready  # /readyz: Kafka, S3 and PostgreSQL are unreachable
    assert {"Unhealthy", "Killing"} <= event_reasons(cluster, namespace)


def test_pods_of_deployments_the_operator_does_not_manage_are_left_alone(
    namespace: str, cluster: Cluster, pod_runner: PodRunnerFactory
) -> None:
    pod_runner(namespace)
    deploy(cluster, namespace, "foreign", {"command": CRASHING}, labels={"team": "other"})
    bare = {
        "metadata": {"name": "bare", "labels": LABELS},
        "spec": {"containers": [{"name": "main", "image": "x", "command": CRASHING}]},
    }
    cluster.core.create_namespaced_pod(namespace, bare)
    deploy(cluster, namespace, "ours", {"command": CRASHING})

    eventually(
        lambda: (pod := pod_of(cluster, namespace, "ours")) and pod.spec.node_name,
        what="the operator-managed pod to be bound",
    )
    time.sleep(1)  # the other pods' events came first; give their workers a moment
    foreign = pod_of(cluster, namespace, "foreign")
    assert foreign is not None
    assert foreign.spec.node_name is None
    assert cluster.core.read_namespaced_pod("bare", namespace).spec.node_name is None
