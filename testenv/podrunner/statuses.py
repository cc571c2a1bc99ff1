"""What the runner reports to the API server, as a kubelet would: pure builders of JSON dicts.

A pod's status (phase, conditions, container status, addresses) is a function of what the
runner observed (`PodView`) and the status the pod had; the node, its heartbeat Lease and
Events are functions of their inputs. Times are whole-second RFC 3339 UTC, except the Lease's
MicroTime.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

NODE_NAME: Final = "dataquarantine-local"
NODE_LEASE_NAMESPACE: Final = "kube-node-lease"
COMPONENT: Final = "dataquarantine-podrunner"
RUNTIME: Final = "podrunner"
MAX_EVENT_MESSAGE: Final = 1024

POD_SCHEDULED: Final = "PodScheduled"
POD_READY_TO_START: Final = "PodReadyToStartContainers"
INITIALIZED: Final = "Initialized"
CONTAINERS_READY: Final = "ContainersReady"
READY: Final = "Ready"
OWNED_CONDITIONS: Final = (POD_SCHEDULED, POD_READY_TO_START, INITIALIZED, CONTAINERS_READY, READY)


def timestamp(moment: datetime) -> str:
    """RFC 3339 in UTC at whole seconds, as the API server stores metav1.Time."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def micro_timestamp(moment: datetime) -> str:
    """metav1.MicroTime (Lease renewals)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# --- Containers and pods --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Waiting:
    """Not running: being set up, refused, or backing off before a restart."""

    reason: str
    message: str = ""

    def to_api(self) -> dict[str, Any]:
        """containerStatus.state."""
        body: dict[str, Any] = {"reason": self.reason}
        if self.message:
            body["message"] = self.message
        return {"waiting": body}


@dataclass(frozen=True, slots=True)
class Running:
    """The process runs."""

    started_at: datetime

    def to_api(self) -> dict[str, Any]:
        """containerStatus.state."""
        return {"running": {"startedAt": timestamp(self.started_at)}}


@dataclass(frozen=True, slots=True)
class Terminated:
    """The process exited (or was stopped)."""

    exit_code: int
    started_at: datetime
    finished_at: datetime
    container_id: str
    signal: int | None = None

    @property
    def reason(self) -> str:
        """`Completed` for exit status 0, else `Error`, as a kubelet says."""
        return "Completed" if self.exit_code == 0 else "Error"

    def to_api(self) -> dict[str, Any]:
        """containerStatus.state or lastState."""
        body: dict[str, Any] = {
            "exitCode": self.exit_code,
            "reason": self.reason,
            "startedAt": timestamp(self.started_at),
            "finishedAt": timestamp(self.finished_at),
            "containerID": self.container_id,
        }
        if self.signal is not None:
            body["signal"] = self.signal
        return {"terminated": body}


ContainerState = Waiting | Running | Terminated


def exit_status(returncode: int) -> tuple[int, int | None]:
    """A Popen return code as (exit code, signal): killed by signal N is 128 + N, like a shell."""
    if returncode < 0:
        return 128 - returncode, -returncode
    return returncode, None


@dataclass(frozen=True, slots=True)
class PodView:
    """What the runner knows about one pod's single container."""

    container: str
    image: str
    state: ContainerState
    last_state: Terminated | None
    ready: bool
    started: bool
    restart_count: int
    container_id: str | None
    pod_ip: str | None
    host_ip: str
    start_time: datetime
    sandbox_ready: bool
    """The pod's directory and address exist (PodReadyToStartContainers)."""


def phase(view: PodView) -> str:
    """Pending until the container first ran; then Running (restartPolicy Always: a crashed
    container is restarted, the pod stays Running)."""
    ever_ran = isinstance(view.state, Running) or view.restart_count > 0
    return "Running" if ever_ran else "Pending"


def _condition(
    type_: str,
    status: bool,
    previous: Mapping[str, Mapping[str, Any]],
    now: datetime,
    reason: str | None = None,
    message: str | None = None,
) -> dict[str, Any]:
    value = "True" if status else "False"
    before = previous.get(type_)
    since = (
        before["lastTransitionTime"]
        if before and before.get("status") == value and before.get("lastTransitionTime")
        else timestamp(now)
    )
    condition: dict[str, Any] = {
        "type": type_,
        "status": value,
        "lastTransitionTime": since,
    }
    if not status and reason:
        condition["reason"] = reason
        condition["message"] = message or ""
    return condition


def gates_pass(spec: Mapping[str, Any], conditions: Sequence[Mapping[str, Any]]) -> bool:
    """Whether every readiness gate's condition is True."""
    by_type = {c.get("type"): c.get("status") for c in conditions}
    return all(
        by_type.get(gate.get("conditionType")) == "True"
        for gate in spec.get("readinessGates") or ()
    )


def pod_conditions(
    view: PodView, spec: Mapping[str, Any], previous: Sequence[Mapping[str, Any]], now: datetime
) -> list[dict[str, Any]]:
    """The five conditions a kubelet owns, keeping transition times that did not change, plus
    any other condition (set by other controllers) as it was."""
    before = {c["type"]: c for c in previous if c.get("type")}
    unready = f"containers with unready status: [{view.container}]"
    ready_reason = "ContainersNotReady"
    others = [dict(c) for c in previous if c.get("type") not in OWNED_CONDITIONS]
    gates = gates_pass(spec, others)
    if view.ready and not gates:
        ready_reason, unready = "ReadinessGatesNotReady", "the pod's readiness gates are not True"
    return [
        _condition(POD_SCHEDULED, True, before, now),
        _condition(POD_READY_TO_START, view.sandbox_ready, before, now),
        _condition(INITIALIZED, True, before, now),
        _condition(CONTAINERS_READY, view.ready, before, now, "ContainersNotReady", unready),
        _condition(READY, view.ready and gates, before, now, ready_reason, unready),
        *others,
    ]


def container_status(view: PodView) -> dict[str, Any]:
    """status.containerStatuses[0]."""
    status: dict[str, Any] = {
        "name": view.container,
        "image": view.image,
        "imageID": "",
        "ready": view.ready,
        "started": view.started,
        "restartCount": view.restart_count,
        "state": view.state.to_api(),
        "lastState": view.last_state.to_api() if view.last_state is not None else {},
    }
    if view.container_id is not None:
        status["containerID"] = view.container_id
    return status


def pod_status(
    view: PodView, spec: Mapping[str, Any], previous: Mapping[str, Any], now: datetime
) -> dict[str, Any]:
    """The pod's whole status, given its status so far (for transition times and foreign
    conditions). Sent as a merge patch: the lists replace what was there."""
    status: dict[str, Any] = {
        "phase": phase(view),
        "conditions": pod_conditions(view, spec, previous.get("conditions") or (), now),
        "containerStatuses": [container_status(view)],
        "hostIP": view.host_ip,
        "hostIPs": [{"ip": view.host_ip}],
        "startTime": timestamp(view.start_time),
    }
    if view.pod_ip is not None:
        status["podIP"] = view.pod_ip
        status["podIPs"] = [{"ip": view.pod_ip}]
    return status


# --- The node -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NodeFacts:
    """The machine the runner stands on."""

    cpus: int
    memory_bytes: int
    architecture: str
    kernel: str
    os_image: str
    machine_id: str
    boot_id: str
    version: str
    max_pods: int


def node_conditions(now: datetime, previous: Sequence[Mapping[str, Any]] = ()) -> list[Any]:
    """Ready, and no pressure: a heartbeat refreshes lastHeartbeatTime."""
    before = {c.get("type"): c for c in previous}

    def condition(type_: str, status: str, reason: str, message: str) -> dict[str, Any]:
        old = before.get(type_)
        since = old.get("lastTransitionTime") if old and old.get("status") == status else None
        return {
            "type": type_,
            "status": status,
            "reason": reason,
            "message": message,
            "lastHeartbeatTime": timestamp(now),
            "lastTransitionTime": since or timestamp(now),
        }

    return [
        condition("MemoryPressure", "False", "KubeletHasSufficientMemory", "no memory pressure"),
        condition("DiskPressure", "False", "KubeletHasNoDiskPressure", "no disk pressure"),
        condition("PIDPressure", "False", "KubeletHasSufficientPID", "enough PIDs"),
        condition("Ready", "True", "KubeletReady", "the dev-only pod runner is posting status"),
    ]


def node_status(facts: NodeFacts, now: datetime, previous: Mapping[str, Any]) -> dict[str, Any]:
    """The node's status: capacity, conditions, address 127.0.0.1, system info."""
    resources = {
        "cpu": str(facts.cpus),
        "memory": f"{facts.memory_bytes // 1024}Ki",
        "pods": str(facts.max_pods),
    }
    return {
        "capacity": resources,
        "allocatable": resources,
        "conditions": node_conditions(now, previous.get("conditions") or ()),
        "addresses": [
            {"type": "InternalIP", "address": "127.0.0.1"},
            {"type": "Hostname", "address": "localhost"},
        ],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": 0}},
        "nodeInfo": {
            "architecture": facts.architecture,
            "bootID": facts.boot_id,
            "containerRuntimeVersion": f"{RUNTIME}://{facts.version}",
            "kernelVersion": facts.kernel,
            "kubeProxyVersion": "",
            "kubeletVersion": facts.version,
            "machineID": facts.machine_id,
            "operatingSystem": "linux",
            "osImage": facts.os_image,
            "systemUUID": facts.machine_id,
        },
    }


def node_body(name: str, facts: NodeFacts, now: datetime) -> dict[str, Any]:
    """The Node to register."""
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": {
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": facts.architecture,
                "dataquarantine.io/pod-runner": "true",
            },
            "annotations": {
                "dataquarantine.io/note": "dev-only pod runner: processes on 127.0.0.0/8, "
                "no containers, no kubelet"
            },
        },
        "spec": {},
        "status": node_status(facts, now, {}),
    }


def lease_body(node: str, node_uid: str, duration: int, now: datetime) -> dict[str, Any]:
    """The node's heartbeat Lease in kube-node-lease, owned by the Node (as a kubelet's)."""
    return {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {
            "name": node,
            "namespace": NODE_LEASE_NAMESPACE,
            "ownerReferences": [
                {"apiVersion": "v1", "kind": "Node", "name": node, "uid": node_uid}
            ],
        },
        "spec": {
            "holderIdentity": node,
            "leaseDurationSeconds": duration,
            "renewTime": micro_timestamp(now),
        },
    }


# --- Events ---------------------------------------------------------------------------------


def event_body(
    pod: Mapping[str, Any], *, node: str, type_: str, reason: str, message: str, now: datetime
) -> dict[str, Any]:
    """A core/v1 Event about the pod's container, reported by this node."""
    metadata = pod["metadata"]
    container = ((pod.get("spec") or {}).get("containers") or [{}])[0].get("name")
    if len(message) > MAX_EVENT_MESSAGE:
        message = message[: MAX_EVENT_MESSAGE - 1] + "…"
    involved: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Pod",
        "name": metadata["name"],
        "namespace": metadata["namespace"],
        "uid": metadata.get("uid"),
    }
    if container:
        involved["fieldPath"] = f"spec.containers{{{container}}}"
    stamp = timestamp(now)
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"generateName": f"{metadata['name']}.", "namespace": metadata["namespace"]},
        "involvedObject": involved,
        "type": type_,
        "reason": reason,
        "message": message,
        "source": {"component": COMPONENT, "host": node},
        "reportingComponent": COMPONENT,
        "reportingInstance": node,
        "firstTimestamp": stamp,
        "lastTimestamp": stamp,
        "count": 1,
    }
