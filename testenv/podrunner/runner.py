"""The runner: a Node with its heartbeat, a pod watch, and one worker thread per pod.

    PodRunner.start() ── register Node + Lease ──▶ heartbeat thread (Lease, Node conditions)
                     └─ list + watch pods ───────▶ PodWorker per pod uid (workers.py)
    PodRunner.stop()  ── stop the watch, stop every worker (their processes, pods not ready),
                         delete the Node and its Lease, close the client

Usable as a context manager, from tests (the `pod_runner` fixture) and from the command line
(`python -m testenv.podrunner`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import platform
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Final

from kubernetes import client
from kubernetes.watch import Watch

from testenv.podrunner.addresses import LoopbackPool
from testenv.podrunner.kube import ApiError, Kube, load_configuration
from testenv.podrunner.options import POD_SELECTOR, RunnerOptions
from testenv.podrunner.statuses import NodeFacts, lease_body, node_body, node_status
from testenv.podrunner.workers import PodProcess, PodWorker, WorkerContext
from testenv.services.kubernetes import KUBE_VERSION

logger = logging.getLogger(__name__)

START_TIMEOUT: Final = 30.0
RETRY_DELAY: Final = 1.0
MAX_PODS: Final = 110


def machine_facts() -> NodeFacts:
    """This machine, as a Node's capacity and system info."""
    machine = platform.machine()
    return NodeFacts(
        cpus=os.cpu_count() or 1,
        memory_bytes=os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"),
        architecture={"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine),
        kernel=platform.release(),
        os_image=_os_image(),
        machine_id=_read("/etc/machine-id"),
        boot_id=_read("/proc/sys/kernel/random/boot_id"),
        version=f"{KUBE_VERSION}-podrunner",
        max_pods=MAX_PODS,
    )


def _read(path: str) -> str:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return ""


def _os_image() -> str:
    for line in _read("/etc/os-release").splitlines():
        key, _, value = line.partition("=")
        if key == "PRETTY_NAME":
            return value.strip('"')
    return platform.system()


class PodRunner:
    """A dev-only kubelet stand-in for the local stack: runs the DataQuarantine pods that the
    Deployment controller creates as local processes (see the package docstring)."""

    def __init__(
        self,
        kubeconfig: Path,
        state_dir: Path,
        namespace: str | None = None,
        *,
        options: RunnerOptions | None = None,
    ) -> None:
        """`kubeconfig`: the stack's admin kubeconfig; `state_dir`: pods live in
        `<state_dir>/pods/<namespace>/<pod>/`; `namespace`: only this one (None: every one)."""
        self.kubeconfig = kubeconfig
        self.state_dir = state_dir
        self.namespace = namespace
        self.options = options or RunnerOptions()
        self._pool = LoopbackPool(
            self.options.lock_dir, self.options.first_host, self.options.last_host
        )
        self._api: client.ApiClient | None = None
        self._kube: Kube | None = None
        self._stopping = threading.Event()
        self._synced = threading.Event()
        self._lock = threading.Lock()
        self._workers: dict[str, PodWorker] = {}
        self._watch: Watch | None = None
        self._watcher = threading.Thread(
            target=self._watch_pods, name="podrunner watch", daemon=True
        )
        self._heartbeater = threading.Thread(
            target=self._heartbeat, name="podrunner heartbeat", daemon=True
        )
        self._failures: list[str] = []
        self._node_uid = ""
        self._node_status: dict[str, Any] = {}
        self._facts = machine_facts()

    @property
    def node_name(self) -> str:
        """The Node this runner registers."""
        return self.options.node_name

    @property
    def failures(self) -> tuple[str, ...]:
        """Unexpected errors of the runner's threads (bugs, not API hiccups)."""
        with self._lock:
            return tuple(self._failures)

    def pods(self) -> list[PodProcess]:
        """The pods this runner runs, with their addresses, PIDs and readiness."""
        with self._lock:
            workers = list(self._workers.values())
        return [worker.snapshot() for worker in workers if worker.alive]

    def __enter__(self) -> PodRunner:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # --- Starting and stopping ---

    def start(self) -> None:
        """Register the node and start following pods; returns once the existing pods have
        been listed. Raises ApiError when the API server refuses the node."""
        self._api = client.ApiClient(load_configuration(self.kubeconfig))
        self._kube = Kube(self._api)
        try:
            self._register()
        except BaseException:
            self._api.close()  # type: ignore[no-untyped-call]
            self._api = self._kube = None
            raise
        self._watcher.start()
        self._heartbeater.start()
        self._synced.wait(START_TIMEOUT)
        logger.info(
            "node %s ready, running pods of %s",
            self.node_name,
            self.namespace or "every namespace",
        )

    def stop(self) -> None:
        """Stop every process this runner started, mark their pods not ready, delete the
        node. Safe to call twice."""
        if self._api is None or self._kube is None:
            return
        with self._lock:
            self._stopping.set()
            workers = list(self._workers.values())
        for worker in workers:
            worker.shut_down()
        self._end_watch()
        for worker in workers:
            worker.join(self.options.shutdown_grace + 15)
        self._heartbeater.join(self.options.heartbeat_interval + 5)
        try:
            self._kube.delete_node(self.node_name)
        except ApiError as exc:
            logger.warning("%s", exc)
        self._pool.close()
        self._api.close()  # type: ignore[no-untyped-call]
        self._api = self._kube = None
        logger.info("node %s removed", self.node_name)

    def _end_watch(self) -> None:
        """Interrupt the pod watch. A watch that is still connecting ignores a stop (its
        stream resets the flag), so ask until the thread is gone."""
        deadline = time.monotonic() + self.options.watch_timeout + 20
        while self._watcher.is_alive() and time.monotonic() < deadline:
            with self._lock:
                watch = self._watch
            if watch is not None:
                watch.stop()  # type: ignore[no-untyped-call]
            self._watcher.join(0.2)

    def _fail(self, what: str) -> None:
        with self._lock:
            self._failures.append(what)

    # --- The node ---

    def _register(self) -> None:
        assert self._kube is not None
        node = self._kube.register_node(node_body(self.node_name, self._facts, datetime.now(UTC)))
        self._node_uid = node["metadata"]["uid"]
        self._node_status = node.get("status") or {}
        self._renew_lease()

    def _renew_lease(self) -> None:
        assert self._kube is not None
        self._kube.renew_lease(
            lease_body(
                self.node_name, self._node_uid, self.options.lease_duration, datetime.now(UTC)
            )
        )

    def _heartbeat(self) -> None:
        """Renew the Lease often and the Node's conditions now and then, so that the
        node-lifecycle controller never marks the node unreachable; re-register the node
        when someone deleted it."""
        status_due = time.monotonic() + self.options.node_status_interval
        while not self._stopping.wait(self.options.heartbeat_interval):
            assert self._kube is not None
            try:
                if time.monotonic() >= status_due:
                    status_due = time.monotonic() + self.options.node_status_interval
                    self._node_status = (
                        self._kube.patch_node_status(
                            self.node_name,
                            node_status(self._facts, datetime.now(UTC), self._node_status),
                        ).get("status")
                        or {}
                    )
                self._renew_lease()
            except ApiError as exc:
                if exc.not_found:
                    logger.warning("node %s was deleted: registering it again", self.node_name)
                    with contextlib.suppress(ApiError):
                        self._register()
                else:
                    logger.warning("heartbeat: %s", exc)
            except Exception as exc:
                logger.exception("heartbeat failed")
                self._fail(f"heartbeat: {exc!r}")
                return

    # --- Pods ---

    def _watch_pods(self) -> None:
        """List, then watch from the list's resourceVersion; list again when the watch
        expires; back off briefly when the API server is unreachable."""
        try:
            while not self._stopping.is_set():
                try:
                    self._list_and_watch()
                except ApiError as exc:
                    if self._stopping.is_set():
                        return
                    if not exc.expired:
                        logger.warning("%s", exc)
                        self._stopping.wait(RETRY_DELAY)
        except Exception as exc:
            logger.exception("pod watch failed")
            self._fail(f"watch: {exc!r}")
        finally:
            self._synced.set()

    def _list_and_watch(self) -> None:
        assert self._kube is not None
        pods, version = self._kube.list_pods(self.namespace, POD_SELECTOR)
        listed = {pod["metadata"]["uid"] for pod in pods}
        with self._lock:
            vanished = [uid for uid in self._workers if uid not in listed]
        for uid in vanished:
            self._forget(uid)
        for pod in pods:
            self._follow(pod)
        self._synced.set()
        while not self._stopping.is_set():
            watch = Watch()  # type: ignore[no-untyped-call]
            with self._lock:
                if self._stopping.is_set():
                    return
                self._watch = watch
            for kind, obj in self._kube.watch_pods(
                watch, self.namespace, POD_SELECTOR, version, self.options.watch_timeout
            ):
                version = obj.get("metadata", {}).get("resourceVersion") or version
                if kind in ("ADDED", "MODIFIED"):
                    self._follow(obj)
                elif kind == "DELETED":
                    self._forget(obj["metadata"]["uid"])

    def _follow(self, pod: dict[str, Any]) -> None:
        """Hand the pod to its worker, starting one for a pod this node may run."""
        uid = pod["metadata"]["uid"]
        with self._lock:
            worker = self._workers.get(uid)
            if worker is None:
                if not self._may_run(pod) or self._stopping.is_set():
                    return
                worker = PodWorker(
                    pod,
                    WorkerContext(
                        kube=self._kube,  # type: ignore[arg-type]
                        options=self.options,
                        state_dir=self.state_dir,
                        pool=self._pool,
                        report_failure=self._fail,
                    ),
                )
                self._workers[uid] = worker
                worker.start()
                return
        worker.update(pod)

    def _may_run(self, pod: dict[str, Any]) -> bool:
        spec = pod.get("spec") or {}
        status = pod.get("status") or {}
        bound_to = spec.get("nodeName")
        if status.get("phase") in ("Succeeded", "Failed"):
            return False
        if bound_to:
            return bool(bound_to == self.node_name)
        return not pod["metadata"].get("deletionTimestamp")

    def _forget(self, uid: str) -> None:
        with self._lock:
            worker = self._workers.pop(uid, None)
        if worker is not None:
            worker.deleted()
