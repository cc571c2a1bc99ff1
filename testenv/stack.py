"""The local stack as a whole: install, start in order, record PIDs, write env files, stop."""

from __future__ import annotations

import fcntl
import json
import secrets
import shutil
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from testenv.advertising import LOOPBACK, Advertised, advertised
from testenv.errors import StackError
from testenv.layout import Layout
from testenv.ports import pick_free, require_free
from testenv.processes import is_alive, reap, rss_bytes, stop
from testenv.progress import say, step
from testenv.services.base import Context, Service, ServiceState, StackSecrets
from testenv.services.kafka import Kafka
from testenv.services.kubernetes import Etcd, KubeApiserver, KubeControllerManager
from testenv.services.postgres import Postgres
from testenv.services.seaweedfs import SeaweedFS

GROUPS: dict[str, tuple[str, ...]] = {
    "postgres": ("postgres",),
    "s3": ("s3",),
    "kafka": ("kafka",),
    "kube": ("etcd", "kube-apiserver", "kube-controller-manager"),
}


def all_services() -> list[Service]:
    """Every service in start order (dependencies first)."""
    return [Postgres(), SeaweedFS(), Kafka(), Etcd(), KubeApiserver(), KubeControllerManager()]


@dataclass
class StackState:
    """Contents of the state file: what runs, on which ports, with which credentials, and at
    which address (None: 127.0.0.1)."""

    services: dict[str, ServiceState]
    secrets: StackSecrets
    advertised: Advertised | None = None

    def to_json(self) -> str:
        """Serialise for the state file."""
        return json.dumps(asdict(self), indent=2)

    @classmethod
    def from_json(cls, text: str) -> StackState:
        """Parse the state file."""
        raw = json.loads(text)
        recorded = raw.get("advertised")
        return cls(
            services={name: ServiceState(**entry) for name, entry in raw["services"].items()},
            secrets=StackSecrets(**raw["secrets"]),
            advertised=Advertised(**recorded) if recorded else None,
        )

    @classmethod
    def fresh(cls) -> StackState:
        """A new stack with newly generated credentials."""
        return cls(
            services={},
            secrets=StackSecrets(
                s3_access_key="dq" + secrets.token_hex(8),
                s3_secret_key=secrets.token_urlsafe(24),
                kube_admin_token=secrets.token_urlsafe(32),
            ),
        )


@dataclass(frozen=True)
class ServiceStatus:
    """What `status` reports for one service."""

    name: str
    version: str
    pid: int | None
    alive: bool
    ports: dict[str, int]
    rss_bytes: int


class Stack:
    """Starts and stops exactly the processes it recorded in its state file."""

    def __init__(self, layout: Layout, services: Sequence[Service] | None = None) -> None:
        self.layout = layout
        self.services = list(services) if services is not None else all_services()

    # -- queries -------------------------------------------------------------------------

    def status(self) -> list[ServiceStatus]:
        """One entry per known service, alive or not."""
        state = self._load()
        result = []
        for service in self.services:
            entry = state.services.get(service.name)
            pid = entry.pid if entry else None
            alive = pid is not None and is_alive(pid)
            result.append(
                ServiceStatus(
                    name=service.name,
                    version=service.version,
                    pid=pid,
                    alive=alive,
                    ports=dict(entry.ports) if entry else {},
                    rss_bytes=rss_bytes(pid) if alive and pid else 0,
                )
            )
        return result

    def advertised(self) -> Advertised | None:
        """The address the data services listen on and name to their clients, as recorded by
        `up --advertise`; None when they are on 127.0.0.1 only."""
        return self._load().advertised

    def is_running(self, names: Sequence[str] | None = None) -> bool:
        """True when every selected service is recorded and alive."""
        wanted = set(self._select(names))
        return all(s.alive for s in self.status() if s.name in wanted)

    def env(self) -> dict[str, str]:
        """The env entries of the running services (as written to the env file)."""
        if not self.layout.env_file.exists():
            raise StackError("the local stack is not running: start it with `python -m testenv up`")
        return read_env_file(self.layout.env_file)

    # -- commands ------------------------------------------------------------------------

    def install(self, names: Sequence[str] | None = None) -> None:
        """Obtain every selected service's binaries into the cache."""
        for service in self._services(names):
            service.install(self.layout)

    def up(
        self,
        names: Sequence[str] | None = None,
        *,
        fixed_ports: dict[str, int] | None = None,
        advertise: str | None = None,
    ) -> list[str]:
        """Install and start the selected services; those already running are left alone.

        `advertise` (an address or name of this machine) makes Kafka, PostgreSQL and S3
        reachable there instead of on 127.0.0.1 only; it is recorded, so that a later `up`
        without it (of one stopped service, say) keeps the address. Returns the names of the
        services this call started."""
        with self._locked():
            state = self._load()
            target = state.advertised = self._settle_address(state, advertise)
            self.install(names)
            # a port must be free on every address its server binds
            hosts = [LOOPBACK] if target is None else [LOOPBACK, target.address]
            started: list[str] = []
            for service in self._services(names):
                entry = state.services.get(service.name)
                if entry and is_alive(entry.pid):
                    say(f"{service.name} already running (pid {entry.pid})")
                    continue
                ports = self._ports_for(service, state, entry, fixed_ports or {}, hosts)
                with step(f"starting {service.name} {service.version}"):
                    pid = service.start(self._context(ports, state))
                state.services[service.name] = ServiceState(pid=pid, ports=ports)
                self._save(state)
                started.append(service.name)
            self._write_env(state)
            if not started:
                say("the local stack was already running; nothing to start")
            return started

    def down(self, names: Sequence[str] | None = None) -> None:
        """Stop the selected (default: every) recorded process, newest first; say so when nothing
        was running."""
        with self._locked():
            state = self._load()
            if not state.services:
                say("the local stack is not running; nothing to stop")
                return
            for service in reversed(self._services(names)):
                entry = state.services.pop(service.name, None)
                if entry is None:
                    continue
                if is_alive(entry.pid):
                    with step(f"stopping {service.name} (pid {entry.pid})"):
                        stop(entry.pid, timeout=service.stop_timeout)
                else:
                    reap(entry.pid)
                    say(f"{service.name} (pid {entry.pid}) had already exited")
                self._save(state)
            if state.services:
                self._write_env(state)
            else:
                # the address belongs to the running stack: the next `up` starts from 127.0.0.1
                state.advertised = None
                self._save(state)
                self.layout.env_file.unlink(missing_ok=True)

    def stop_service(self, name: str) -> None:
        """Stop one service but keep its ports and data, for fault-injection tests."""
        with self._locked():
            state = self._load()
            entry = state.services.get(name)
            if entry is None:
                raise StackError(f"{name} is not part of the running stack")
            service = self._services([name])[0]
            stop(entry.pid, timeout=service.stop_timeout)

    def start_service(self, name: str) -> None:
        """Start a stopped service again on the same ports."""
        self.up([name])

    def purge(self) -> None:
        """Stop everything and delete the runtime state (data, logs); caches are kept."""
        self.down()
        shutil.rmtree(self.layout.state, ignore_errors=True)

    # -- internals -----------------------------------------------------------------------

    def _select(self, names: Sequence[str] | None) -> list[str]:
        if not names:
            return [s.name for s in self.services]
        selected: list[str] = []
        for name in names:
            members = GROUPS.get(name, (name,))
            for member in members:
                if member not in {s.name for s in self.services}:
                    known = ", ".join(sorted({*GROUPS, *(s.name for s in self.services)}))
                    raise StackError(f"unknown service {name!r}; known: {known}")
                selected.append(member)
        return selected

    def _services(self, names: Sequence[str] | None) -> list[Service]:
        wanted = set(self._select(names))
        return [s for s in self.services if s.name in wanted]

    @staticmethod
    def _settle_address(state: StackState, requested: str | None) -> Advertised | None:
        """The address for this `up`: the requested one, else the recorded one (re-checked, as
        the interface may be gone); one address per stack while any of it runs."""
        recorded = state.advertised
        if requested is None:
            if recorded is None:
                return None
            try:
                return advertised(recorded.address)
            except StackError as exc:
                raise StackError(
                    f"this stack was brought up at {recorded.address} (`up --advertise`), but "
                    f"now {exc}; stop it with `python -m testenv down` and start it again"
                ) from exc
        wanted = advertised(requested)
        before = recorded.address if recorded else LOOPBACK
        now = wanted.address if wanted else LOOPBACK
        running = sorted(name for name, entry in state.services.items() if is_alive(entry.pid))
        if now != before and running:
            raise StackError(
                f"the running services ({', '.join(running)}) are reachable at {before}; "
                f"stop them with `python -m testenv down` before bringing the stack up at {now}"
            )
        return wanted

    def _ports_for(
        self,
        service: Service,
        state: StackState,
        entry: ServiceState | None,
        fixed: dict[str, int],
        hosts: Sequence[str],
    ) -> dict[str, int]:
        taken = {port for other in state.services.values() for port in other.ports.values()}
        ports: dict[str, int] = {}
        for port_name, companion in service.port_names.items():
            key = f"{service.name}.{port_name}"
            previous = entry.ports.get(port_name) if entry else None
            if key in fixed or (port_name == "port" and service.name in fixed):
                port = fixed.get(key, fixed.get(service.name, 0))
                require_free(port, service=service.name, hosts=hosts)
            elif isinstance(previous, int):
                require_free(previous, service=service.name, hosts=hosts)
                port = previous
            else:
                port = pick_free(taken=taken, grpc_offset=companion, hosts=hosts)
            taken.add(port)
            ports[port_name] = port
        return ports

    def _context(self, ports: dict[str, int], state: StackState) -> Context:
        return Context(
            layout=self.layout,
            ports=ports,
            secrets=state.secrets,
            all_ports={name: dict(entry.ports) for name, entry in state.services.items()},
            advertised=state.advertised,
        )

    def _write_env(self, state: StackState) -> None:
        env: dict[str, str] = {"DQ_STACK_STATE": str(self.layout.state)}
        for service in self.services:
            entry = state.services.get(service.name)
            if entry is not None:
                env.update(service.env(self._context(dict(entry.ports), state)))
        self.layout.env_file.parent.mkdir(parents=True, exist_ok=True)
        self.layout.env_file.write_text("".join(f"{k}={v}\n" for k, v in sorted(env.items())))

    def _load(self) -> StackState:
        path = self.layout.state_file
        return StackState.from_json(path.read_text()) if path.exists() else StackState.fresh()

    def _save(self, state: StackState) -> None:
        self.layout.state.mkdir(parents=True, exist_ok=True)
        tmp = self.layout.state_file.with_suffix(".tmp")
        tmp.write_text(state.to_json())
        tmp.chmod(0o600)
        tmp.replace(self.layout.state_file)

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self.layout.state.mkdir(parents=True, exist_ok=True)
        self.layout.state.chmod(0o755)
        with (self.layout.state / ".lock").open("w") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                say("another testenv command holds the lock; waiting for it")
                fcntl.flock(lock, fcntl.LOCK_EX)
            yield


def read_env_file(path: Path) -> dict[str, str]:
    """Parse `KEY=value` lines."""
    env: dict[str, str] = {}
    for line in path.read_text().splitlines():
        if line and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            env[key] = value
    return env
