"""One thread per pod, as a kubelet's pod workers: admit, bind, set up, run, probe, restart,
report, and on deletion stop the process and finalise the pod.

A worker only acts on the newest pod object the watch handed it; it sleeps until the next
probe, restart or retry is due, or until the watch wakes it. API failures are logged and
retried on the next turn; only a bug ends a worker early, and the runner records it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any, Final

from quarantine_operator.render import MANAGED_BY
from testenv.podrunner.addresses import LoopbackPool
from testenv.podrunner.containers import (
    ContainerProcess,
    clean_pod_dir,
    kill_session,
    leftover_processes,
    prepare_pod_dir,
)
from testenv.podrunner.kube import ApiError, Kube, NamespaceSources
from testenv.podrunner.materialising import (
    LOG_FILE,
    Identity,
    PodRefusedError,
    SetupError,
    VolumePlan,
    container_ports,
    declared_ports,
    directories_to_create,
    plan_process,
    plan_volumes,
    pod_directory,
    the_container,
)
from testenv.podrunner.options import MANAGED_BY_LABEL, RunnerOptions
from testenv.podrunner.probing import Probe, ProbeTracker, check
from testenv.podrunner.statuses import (
    OWNED_CONDITIONS,
    ContainerState,
    PodView,
    Running,
    Terminated,
    Waiting,
    event_body,
    exit_status,
    pod_status,
)

logger = logging.getLogger(__name__)

HOST_IP: Final = "127.0.0.1"
EXIT_POLL: Final = 0.5
"""Seconds between two checks of whether the process has exited."""
IDLE: Final = 30.0
"""Seconds a refused pod's worker sleeps (an update of the pod wakes it)."""
DEFAULT_GRACE: Final = 30.0
GONE_GRACE: Final = 5.0
"""Grace for the process of a pod that vanished from the API without a graceful deletion."""
PROBES: Final = (
    ("startup", "startupProbe"),
    ("liveness", "livenessProbe"),
    ("readiness", "readinessProbe"),
)


@dataclass(frozen=True, slots=True)
class WorkerContext:
    """What every worker of a runner shares."""

    kube: Kube
    options: RunnerOptions
    state_dir: Path
    pool: LoopbackPool
    report_failure: Callable[[str], None]


@dataclass(frozen=True, slots=True)
class PodProcess:
    """A pod this runner runs, as tests and the demo see it."""

    namespace: str
    name: str
    address: str | None
    pid: int | None
    ready: bool


def grace_period(pod: Mapping[str, Any]) -> float:
    """The pod's deletion grace period (or its spec's terminationGracePeriodSeconds)."""
    seconds = pod["metadata"].get("deletionGracePeriodSeconds")
    if seconds is None:
        seconds = (pod.get("spec") or {}).get("terminationGracePeriodSeconds", DEFAULT_GRACE)
    return float(seconds)


class PodWorker:
    """The thread that runs one pod (one uid)."""

    def __init__(self, pod: Mapping[str, Any], context: WorkerContext) -> None:
        metadata = pod["metadata"]
        self.uid: str = metadata["uid"]
        self.namespace: str = metadata["namespace"]
        self.name: str = metadata["name"]
        self._context = context
        self._kube = context.kube
        self._options = context.options
        self._pod_dir = pod_directory(context.state_dir, self.namespace, self.name)
        self._log = {"pod": f"{self.namespace}/{self.name}", "node": context.options.node_name}

        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._pod: Mapping[str, Any] = pod
        self._deleted = False
        self._shutting_down = False
        self._thread = threading.Thread(
            target=self._run, name=f"podrunner {self.namespace}/{self.name}", daemon=True
        )

        self._container: Mapping[str, Any] | None = None
        self._refusal: str | None = None
        self._address: str | None = None
        self._volumes: VolumePlan | None = None
        self._process: ContainerProcess | None = None
        self._container_id: str | None = None
        self._state: ContainerState = Waiting("ContainerCreating")
        self._last_state: Terminated | None = None
        self._restarts = 0
        self._exits = 0
        self._restart_at = 0.0
        self._retry_at = 0.0
        self._probes: dict[str, ProbeTracker] = {}
        self._started = False
        self._ready = False
        self._start_time = datetime.now(UTC)
        self._reported: dict[str, Any] | None = None
        self._warned: set[tuple[str, str]] = set()

    # --- Driven by the runner ---

    def start(self) -> None:
        """Start the thread."""
        self._thread.start()

    def update(self, pod: Mapping[str, Any]) -> None:
        """A newer version of the pod (from the watch)."""
        with self._lock:
            self._pod = pod
        self._wake.set()

    def deleted(self) -> None:
        """The pod is gone from the API."""
        with self._lock:
            self._deleted = True
        self._wake.set()

    def shut_down(self) -> None:
        """The runner stops: stop the process and report the pod not ready."""
        with self._lock:
            self._shutting_down = True
        self._wake.set()

    def join(self, timeout: float) -> None:
        """Wait for the thread to end."""
        if self._thread.ident is not None:
            self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        """Whether the thread still runs."""
        return self._thread.is_alive()

    def snapshot(self) -> PodProcess:
        """What runs for this pod now."""
        process = self._process
        return PodProcess(
            namespace=self.namespace,
            name=self.name,
            address=self._address,
            pid=process.pid if process is not None else None,
            ready=self._ready,
        )

    # --- The thread ---

    def _run(self) -> None:
        try:
            if self._admitted():
                self._loop()
        except Exception as exc:
            logger.exception("pod worker failed", extra=self._log)
            self._context.report_failure(f"{self.namespace}/{self.name}: {exc!r}")
        finally:
            self._stop_process(GONE_GRACE)
            self._release_address()

    def _read(self) -> tuple[Mapping[str, Any], bool, bool]:
        with self._lock:
            return self._pod, self._deleted, self._shutting_down

    def _loop(self) -> None:
        while True:
            self._wake.clear()
            pod, deleted, shutting_down = self._read()
            if shutting_down:
                self._halt(pod, min(grace_period(pod), self._options.shutdown_grace))
                self._report(pod)
                self._clean()
                return
            if deleted:
                self._halt(pod, GONE_GRACE)
                self._clean()
                return
            if pod["metadata"].get("deletionTimestamp"):
                self._halt(pod, grace_period(pod))
                self._clean()
                self._finalise(pod)
                return
            self._step(pod, time.monotonic())
            self._report(pod)
            self._wake.wait(self._sleep(time.monotonic()))

    def _finalise(self, pod: Mapping[str, Any]) -> None:
        """Delete the pod for good, retrying until the API server takes it (or the runner
        stops, or the pod is gone anyway)."""
        while not self._call(partial(self._kube.finalise_deletion, pod)):
            self._wake.wait(self._options.setup_retry)
            self._wake.clear()
            _, deleted, shutting_down = self._read()
            if deleted or shutting_down:
                return
        logger.info("pod deleted", extra=self._log)

    def _call(self, action: Callable[[], object]) -> bool:
        """Run an API call; False (logged) when it failed."""
        try:
            action()
        except ApiError as exc:
            logger.warning("%s", exc, extra=self._log)
            return False
        return True

    def _admitted(self) -> bool:
        """Whether this is a DataQuarantine workload for this node; binds it when unbound."""
        while True:
            pod, deleted, shutting_down = self._read()
            if deleted or shutting_down:
                return False
            try:
                return self._admit(pod)
            except ApiError as exc:
                logger.warning("%s", exc, extra=self._log)
            self._wake.wait(self._options.setup_retry)
            self._wake.clear()

    def _admit(self, pod: Mapping[str, Any]) -> bool:
        node = self._options.node_name
        bound_to = (pod.get("spec") or {}).get("nodeName")
        if bound_to:
            # Bound here (by this runner, or by an earlier one): run it, as a kubelet would.
            return bool(bound_to == node)
        if pod["metadata"].get("deletionTimestamp"):
            return False
        deployment = self._kube.owning_deployment(pod)
        labels = (deployment or {}).get("metadata", {}).get("labels") or {}
        if labels.get(MANAGED_BY_LABEL) != MANAGED_BY:
            logger.info(
                "ignoring the pod: no Deployment managed by %s owns it", MANAGED_BY, extra=self._log
            )
            return False
        if not self._kube.bind(pod, node):
            return False
        self._event(
            pod,
            "Normal",
            "Scheduled",
            f"Successfully assigned {self.namespace}/{self.name} to {node}",
        )
        return True

    # --- One turn ---

    def _step(self, pod: Mapping[str, Any], now: float) -> None:
        if self._refusal is not None:
            return
        try:
            if self._container is None:
                self._container = the_container(pod)
            if self._volumes is None:
                if now < self._retry_at:
                    return
                self._set_up(pod, self._container)
            if self._process is None:
                if now >= max(self._restart_at, self._retry_at):
                    self._start(pod, self._container, now)
                return
        except PodRefusedError as exc:
            self._refuse(pod, str(exc))
            return
        except SetupError as exc:
            self._setup_failed(pod, exc, now)
            return
        returncode = self._process.poll()
        if returncode is not None:
            self._exited(pod, returncode, now)
        else:
            self._run_probes(pod, now)

    def _refuse(self, pod: Mapping[str, Any], message: str) -> None:
        self._refusal = message
        self._state = Waiting(PodRefusedError.reason, message)
        logger.warning("refusing the pod: %s", message, extra=self._log)
        self._event(pod, "Warning", PodRefusedError.reason, message)

    def _setup_failed(self, pod: Mapping[str, Any], exc: SetupError, now: float) -> None:
        self._retry_at = now + self._options.setup_retry
        waiting = (
            "CreateContainerConfigError"
            if exc.reason == "CreateContainerConfigError"
            else "ContainerCreating"
        )
        self._state = Waiting(waiting, exc.message)
        if (exc.reason, exc.message) not in self._warned:
            self._warned.add((exc.reason, exc.message))
            logger.warning("cannot start yet: %s", exc.message, extra=self._log)
            event_reason = "Failed" if waiting == "CreateContainerConfigError" else exc.reason
            self._event(pod, "Warning", event_reason, f"Error: {exc.message}")

    def _set_up(self, pod: Mapping[str, Any], container: Mapping[str, Any]) -> None:
        """The sandbox: no leftovers, an address, the pod directory with its volumes."""
        for pid in leftover_processes(self._pod_dir):
            logger.warning("killing session %d left by an earlier runner", pid, extra=self._log)
            kill_session(pid)
        volumes = plan_volumes(
            pod, container, NamespaceSources(self._kube, self.namespace), self._pod_dir
        )
        if self._address is None:
            self._address = self._context.pool.acquire(declared_ports(container))
        prepare_pod_dir(self._pod_dir, volumes)
        self._volumes = volumes

    def _start(self, pod: Mapping[str, Any], container: Mapping[str, Any], now: float) -> None:
        assert self._volumes is not None
        assert self._address is not None
        plan = plan_process(
            pod,
            container,
            NamespaceSources(self._kube, self.namespace),
            identity=Identity(self._address, HOST_IP, self._options.node_name),
            volumes=self._volumes,
            pod_dir=self._pod_dir,
            python=self._options.python,
            base_env=self._options.base_env,
        )
        for directory in directories_to_create(plan, self._pod_dir):
            directory.mkdir(parents=True, exist_ok=True)
        process = ContainerProcess.start(
            plan,
            self._pod_dir / LOG_FILE,
            note=f"starting container {container['name']} on {self._address} "
            f"(restart {self._restarts})",
        )
        self._process = process
        self._container_id = f"podrunner://{self.uid[:8]}-{process.pid}"
        self._state = Running(process.started_at)
        ports = container_ports(container)
        self._probes = {
            kind: ProbeTracker(
                Probe.from_spec(container[field], ports), now, healthy=kind == "liveness"
            )
            for kind, field in PROBES
            if container.get(field)
        }
        self._started = "startup" not in self._probes
        self._ready = self._started and "readiness" not in self._probes
        logger.info("started pid %d on %s", process.pid, self._address, extra=self._log)
        self._event(
            pod,
            "Normal",
            "Started",
            f"Started container {container['name']} (pid {process.pid}, {self._address})",
        )

    def _exited(self, pod: Mapping[str, Any], returncode: int, now: float) -> None:
        """The process ended: remember how, and schedule the restart with back-off."""
        assert self._process is not None
        ran = (datetime.now(UTC) - self._process.started_at).total_seconds()
        self._record_exit(returncode)
        self._restarts += 1
        self._exits = 1 if ran >= self._options.backoff_reset else self._exits + 1
        delay = self._options.restart_delay(self._exits)
        self._restart_at = now + delay
        name = self._container["name"] if self._container else "?"
        message = f"back-off {delay:.0f}s restarting failed container={name} pod={self.name}"
        self._state = Waiting("CrashLoopBackOff", message)
        logger.warning("process exited with %d; %s", returncode, message, extra=self._log)
        self._event(pod, "Warning", "BackOff", message)

    def _record_exit(self, returncode: int) -> None:
        assert self._process is not None
        code, signal_number = exit_status(returncode)
        self._last_state = Terminated(
            exit_code=code,
            started_at=self._process.started_at,
            finished_at=datetime.now(UTC),
            container_id=self._container_id or "",
            signal=signal_number,
        )
        self._process = None
        self._ready = False
        self._started = False
        self._probes = {}

    def _run_probes(self, pod: Mapping[str, Any], now: float) -> None:
        assert self._address is not None
        startup = self._probes.get("startup")
        if startup is not None and not self._started:
            if startup.is_due(now):
                ok, why = check(startup.probe, self._address)
                startup.record(ok, now)
                self._started = startup.healthy
                self._ready = self._started and "readiness" not in self._probes
                if not ok and startup.exhausted:
                    self._restart_unhealthy(pod, "Startup", why, now)
            return
        liveness = self._probes.get("liveness")
        if liveness is not None and liveness.is_due(now):
            ok, why = check(liveness.probe, self._address)
            if liveness.record(ok, now) and not liveness.healthy:
                self._restart_unhealthy(pod, "Liveness", why, now)
                return
        readiness = self._probes.get("readiness")
        if readiness is not None and readiness.is_due(now):
            ok, why = check(readiness.probe, self._address)
            if readiness.record(ok, now) and not readiness.healthy:
                self._event(pod, "Warning", "Unhealthy", f"Readiness probe failed: {why}")
            self._ready = readiness.healthy

    def _restart_unhealthy(self, pod: Mapping[str, Any], probe: str, why: str, now: float) -> None:
        name = self._container["name"] if self._container else "?"
        self._event(pod, "Warning", "Unhealthy", f"{probe} probe failed: {why}")
        self._event(
            pod,
            "Normal",
            "Killing",
            f"Container {name} failed {probe.lower()} probe, will be restarted",
        )
        assert self._process is not None
        self._exited(pod, self._process.stop(grace_period(pod)), now)

    def _sleep(self, now: float) -> float:
        """Seconds until something is due."""
        if self._refusal is not None:
            return IDLE
        if self._volumes is None or self._process is None:
            due = max(self._restart_at, self._retry_at)
            return max(0.0, due - now) if due > now else EXIT_POLL
        next_probe = min(
            (tracker.due for tracker in self._probes.values()), default=now + EXIT_POLL
        )
        return max(0.0, min(next_probe - now, EXIT_POLL))

    # --- Reporting ---

    def _report(self, pod: Mapping[str, Any]) -> None:
        """Patch the pod's status when it differs from what was last reported."""
        spec = pod.get("spec") or {}
        containers = spec.get("containers") or [{}]
        view = PodView(
            container=str(containers[0].get("name", "")),
            image=str(containers[0].get("image", "")),
            state=self._state,
            last_state=self._last_state,
            ready=self._ready,
            started=self._started and self._process is not None,
            restart_count=self._restarts,
            container_id=self._container_id,
            pod_ip=self._address,
            host_ip=HOST_IP,
            start_time=self._start_time,
            sandbox_ready=self._volumes is not None,
        )
        status = pod_status(view, spec, self._previous_status(pod), datetime.now(UTC))
        if status == self._reported:
            return
        try:
            if self._kube.patch_pod_status(pod, status):
                self._reported = status
        except ApiError as exc:
            logger.warning("%s", exc, extra=self._log)

    def _previous_status(self, pod: Mapping[str, Any]) -> dict[str, Any]:
        """The pod's status with this worker's own last conditions (the watch may lag)."""
        current = dict(pod.get("status") or {})
        if self._reported is None:
            return current
        own = [c for c in self._reported["conditions"] if c["type"] in OWNED_CONDITIONS]
        foreign = [
            c for c in current.get("conditions") or () if c.get("type") not in OWNED_CONDITIONS
        ]
        return {**current, "conditions": [*own, *foreign]}

    def _event(self, pod: Mapping[str, Any], type_: str, reason: str, message: str) -> None:
        body = event_body(
            pod,
            node=self._options.node_name,
            type_=type_,
            reason=reason,
            message=message,
            now=datetime.now(UTC),
        )
        self._call(partial(self._kube.post_event, body))

    # --- Stopping ---

    def _halt(self, pod: Mapping[str, Any], grace: float) -> None:
        """Stop the process (SIGTERM, `grace`, SIGKILL) and record it as terminated."""
        process = self._process
        if process is None:
            self._ready = False
            return
        name = self._container["name"] if self._container else "?"
        self._event(pod, "Normal", "Killing", f"Stopping container {name}")
        self._record_exit(process.stop(grace))
        self._state = self._last_state or self._state
        logger.info("stopped", extra=self._log)

    def _stop_process(self, grace: float) -> None:
        process, self._process = self._process, None
        if process is not None:
            process.stop(grace)

    def _clean(self) -> None:
        self._release_address()
        clean_pod_dir(self._pod_dir)

    def _release_address(self) -> None:
        address, self._address = self._address, None
        if address is not None:
            self._context.pool.release(address)
