"""What the runner reports: pod status like a kubelet's, the node, its Lease, Events."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from testenv.podrunner.statuses import (
    NodeFacts,
    PodView,
    Running,
    Terminated,
    Waiting,
    event_body,
    exit_status,
    lease_body,
    node_body,
    node_conditions,
    phase,
    pod_status,
)

T0 = datetime(2026, 1, 2, 3, 4, 5, 678_000, tzinfo=UTC)
T1 = T0 + timedelta(seconds=30)
T2 = T1 + timedelta(seconds=30)

RUNNING = PodView(
    container="validator",
    image="ghcr.io/dataquarantine/dataquarantine:0.1.0",
    state=Running(T0),
    last_state=None,
    ready=True,
    started=True,
    restart_count=0,
    container_id="podrunner://9d0c3b7e-4242",
    pod_ip="127.0.0.7",
    host_ip="127.0.0.1",
    start_time=T0,
    sandbox_ready=True,
)
CRASHED = Terminated(
    exit_code=1, started_at=T0, finished_at=T1, container_id="podrunner://9d0c3b7e-4242"
)


def conditions(status: dict[str, Any]) -> dict[str, tuple[str, str | None]]:
    return {c["type"]: (c["status"], c.get("reason")) for c in status["conditions"]}


def test_a_ready_pod_is_running_with_every_condition_true_and_its_own_address() -> None:
    status = pod_status(RUNNING, {}, {}, T1)

    assert status["phase"] == "Running"
    assert conditions(status) == {
        "PodScheduled": ("True", None),
        "PodReadyToStartContainers": ("True", None),
        "Initialized": ("True", None),
        "ContainersReady": ("True", None),
        "Ready": ("True", None),
    }
    assert status["podIP"] == "127.0.0.7"
    assert status["podIPs"] == [{"ip": "127.0.0.7"}]
    assert status["hostIP"] == "127.0.0.1"
    assert status["startTime"] == "2026-01-02T03:04:05Z"
    assert status["containerStatuses"] == [
        {
            "name": "validator",
            "image": "ghcr.io/dataquarantine/dataquarantine:0.1.0",
            "imageID": "",
            "containerID": "podrunner://9d0c3b7e-4242",
            "ready": True,
            "started": True,
            "restartCount": 0,
            "state": {"running": {"startedAt": "2026-01-02T03:04:05Z"}},
            "lastState": {},
        }
    ]


def test_a_running_pod_that_fails_readiness_is_not_ready_and_says_which_container() -> None:
    status = pod_status(replace(RUNNING, ready=False), {}, {}, T1)

    ready = next(c for c in status["conditions"] if c["type"] == "Ready")
    assert ready == {
        "type": "Ready",
        "status": "False",
        "lastTransitionTime": "2026-01-02T03:04:35Z",
        "reason": "ContainersNotReady",
        "message": "containers with unready status: [validator]",
    }


def test_a_pod_waiting_for_its_secret_is_pending_with_the_reason() -> None:
    view = replace(
        RUNNING,
        state=Waiting("CreateContainerConfigError", 'secret "pg" not found'),
        ready=False,
        started=False,
        container_id=None,
    )

    status = pod_status(view, {}, {}, T1)

    assert status["phase"] == "Pending"
    (container,) = status["containerStatuses"]
    assert container["state"] == {
        "waiting": {"reason": "CreateContainerConfigError", "message": 'secret "pg" not found'}
    }
    assert "containerID" not in container


def test_a_crash_looping_pod_stays_running_and_shows_the_last_exit() -> None:
    view = replace(
        RUNNING,
        state=Waiting("CrashLoopBackOff", "back-off 2s"),
        last_state=CRASHED,
        ready=False,
        started=False,
        restart_count=2,
    )

    status = pod_status(view, {}, {}, T2)

    assert phase(view) == "Running"
    (container,) = status["containerStatuses"]
    assert container["restartCount"] == 2
    assert container["lastState"] == {
        "terminated": {
            "exitCode": 1,
            "reason": "Error",
            "startedAt": "2026-01-02T03:04:05Z",
            "finishedAt": "2026-01-02T03:04:35Z",
            "containerID": "podrunner://9d0c3b7e-4242",
        }
    }


def test_transition_times_change_only_with_the_status() -> None:
    first = pod_status(replace(RUNNING, ready=False), {}, {}, T0)
    same = pod_status(replace(RUNNING, ready=False), {}, first, T1)
    ready = pod_status(RUNNING, {}, same, T2)

    def since(status: dict[str, Any], type_: str) -> str:
        return next(c["lastTransitionTime"] for c in status["conditions"] if c["type"] == type_)

    assert since(same, "Ready") == since(first, "Ready") == "2026-01-02T03:04:05Z"
    assert since(ready, "Ready") == "2026-01-02T03:05:05Z"
    assert since(ready, "PodScheduled") == "2026-01-02T03:04:05Z"


def test_conditions_of_other_controllers_are_kept_and_readiness_gates_count() -> None:
    spec = {"readinessGates": [{"conditionType": "example.com/LoadBalanced"}]}
    gate = {"type": "example.com/LoadBalanced", "status": "False"}

    status = pod_status(RUNNING, spec, {"conditions": [gate]}, T1)

    assert gate in status["conditions"]
    assert conditions(status)["ContainersReady"] == ("True", None)
    assert conditions(status)["Ready"] == ("False", "ReadinessGatesNotReady")

    status = pod_status(RUNNING, spec, {"conditions": [dict(gate, status="True")]}, T1)
    assert conditions(status)["Ready"] == ("True", None)


def test_exit_statuses_read_like_a_shells() -> None:
    assert exit_status(0) == (0, None)
    assert exit_status(2) == (2, None)
    assert exit_status(-15) == (143, 15)
    assert exit_status(-9) == (137, 9)


def test_a_clean_exit_is_completed_and_a_kill_is_an_error_with_its_signal() -> None:
    assert replace(CRASHED, exit_code=0).reason == "Completed"
    killed = replace(CRASHED, exit_code=137, signal=9).to_api()["terminated"]
    assert (killed["reason"], killed["signal"]) == ("Error", 9)


# --- Node, Lease, Events ----------------------------------------------------------------------

FACTS = NodeFacts(
    cpus=2,
    memory_bytes=8 * 2**30,
    architecture="amd64",
    kernel="6.1.0",
    os_image="Debian GNU/Linux 12",
    machine_id="abc123",
    boot_id="b007",
    version="v1.34.4-podrunner",
    max_pods=110,
)


def test_the_node_is_ready_on_127_0_0_1_with_the_machines_capacity() -> None:
    node = node_body("dataquarantine-local", FACTS, T0)

    assert node["metadata"]["name"] == "dataquarantine-local"
    assert node["metadata"]["labels"]["kubernetes.io/hostname"] == "dataquarantine-local"
    status = node["status"]
    assert status["capacity"] == {"cpu": "2", "memory": "8388608Ki", "pods": "110"}
    assert status["addresses"][0] == {"type": "InternalIP", "address": "127.0.0.1"}
    ready = next(c for c in status["conditions"] if c["type"] == "Ready")
    assert (ready["status"], ready["reason"]) == ("True", "KubeletReady")
    assert status["nodeInfo"]["kubeletVersion"] == "v1.34.4-podrunner"
    assert status["nodeInfo"]["containerRuntimeVersion"] == "podrunner://v1.34.4-podrunner"


def test_a_node_heartbeat_refreshes_heartbeat_times_but_keeps_transition_times() -> None:
    first = node_conditions(T0)
    later = node_conditions(T1, first)

    assert {c["lastTransitionTime"] for c in later} == {"2026-01-02T03:04:05Z"}
    assert {c["lastHeartbeatTime"] for c in later} == {"2026-01-02T03:04:35Z"}


def test_the_lease_is_owned_by_the_node_and_renewed_with_microseconds() -> None:
    lease = lease_body("dataquarantine-local", "node-uid", 40, T0)

    assert lease["metadata"]["namespace"] == "kube-node-lease"
    assert lease["metadata"]["ownerReferences"] == [
        {"apiVersion": "v1", "kind": "Node", "name": "dataquarantine-local", "uid": "node-uid"}
    ]
    assert lease["spec"] == {
        "holderIdentity": "dataquarantine-local",
        "leaseDurationSeconds": 40,
        "renewTime": "2026-01-02T03:04:05.678000Z",
    }


def test_events_name_the_pods_container_and_this_node_and_long_messages_are_cut() -> None:
    pod = {
        "metadata": {"name": "p", "namespace": "shop", "uid": "u"},
        "spec": {"containers": [{"name": "validator"}]},
    }

    event = event_body(pod, node="n", type_="Warning", reason="Refused", message="x" * 5000, now=T0)

    assert event["involvedObject"] == {
        "apiVersion": "v1",
        "kind": "Pod",
        "name": "p",
        "namespace": "shop",
        "uid": "u",
        "fieldPath": "spec.containers{validator}",
    }
    assert event["source"] == {"component": "dataquarantine-podrunner", "host": "n"}
    assert len(event["message"]) == 1024
