"""What every service of the local stack provides."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from testenv.advertising import LOOPBACK, Advertised
from testenv.layout import Layout


@dataclass
class StackSecrets:
    """Credentials generated once per stack and kept in its state file."""

    s3_access_key: str
    s3_secret_key: str
    kube_admin_token: str


@dataclass
class ServiceState:
    """A started service: its PID and the ports it listens on."""

    pid: int
    ports: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Context:
    """Everything a service needs to start: where to live, its ports, the stack's secrets, the
    ports of the services it depends on, and the address the data services are reachable at."""

    layout: Layout
    ports: dict[str, int]
    secrets: StackSecrets
    all_ports: dict[str, dict[str, int]]
    #: set by `up --advertise HOST`; None keeps every service on 127.0.0.1
    advertised: Advertised | None = None

    @property
    def host(self) -> str:
        """The address a data service listens on and names to its clients."""
        return self.advertised.address if self.advertised else LOOPBACK


class Service(Protocol):
    """A server of the local stack."""

    name: str
    version: str
    #: port names, each with the offset of a companion port that must stay free (or None)
    port_names: dict[str, int | None]
    #: seconds to wait after SIGTERM before SIGKILL
    stop_timeout: float

    def install(self, layout: Layout) -> None:
        """Obtain binaries into the cache; fast no-op when cached."""

    def start(self, ctx: Context) -> int:
        """Start the server, wait until it is ready, return its PID."""

    def env(self, ctx: Context) -> dict[str, str]:
        """Entries of the stack's env file that describe this service."""
