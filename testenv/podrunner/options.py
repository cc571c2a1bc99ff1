"""How the runner behaves: node identity, timings, restart back-off. Defaults suit the demo and
the tests; every field can be changed by the caller (the command line sets a few)."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Final

from quarantine_operator.render import MANAGED_BY
from testenv.podrunner.addresses import DEFAULT_LOCK_DIR, FIRST_HOST, LAST_HOST
from testenv.podrunner.statuses import NODE_NAME

MANAGED_BY_LABEL: Final = "app.kubernetes.io/managed-by"
POD_SELECTOR: Final = f"{MANAGED_BY_LABEL}={MANAGED_BY}"
"""The pods a runner considers; their Deployment must carry the label too."""
BASE_ENV: Final[Mapping[str, str]] = MappingProxyType(
    {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8"}
)


@dataclass(frozen=True, slots=True)
class RunnerOptions:
    """Settings of one PodRunner."""

    node_name: str = NODE_NAME
    """The Node this runner registers and binds pods to."""

    python: str = field(default_factory=lambda: sys.executable)
    """The interpreter that replaces the pods' `python` (the project's virtualenv)."""

    base_env: Mapping[str, str] = field(default_factory=lambda: BASE_ENV)
    """Variables every process gets before the container's own (an image would set these)."""

    watch_timeout: int = 60
    """Seconds the API server keeps one pod watch open before the runner renews it."""

    lease_duration: int = 40
    """The node Lease's duration in seconds (the node-lifecycle controller's grace period)."""

    heartbeat_interval: float = 10.0
    """Seconds between two renewals of the node Lease."""

    node_status_interval: float = 60.0
    """Seconds between two heartbeats in the Node's status conditions."""

    setup_retry: float = 2.0
    """Seconds before retrying a pod whose Secret, ConfigMap or address is not available."""

    backoff_initial: float = 1.0
    """Seconds before restarting a container after its first exit; doubled for each further
    exit (a kubelet starts at 10 s; a dev loop wants it quicker)."""

    backoff_cap: float = 30.0
    """Longest restart back-off in seconds."""

    backoff_reset: float = 60.0
    """A container that ran this many seconds before exiting starts its back-off afresh."""

    shutdown_grace: float = 10.0
    """Longest SIGTERM grace per process when the runner itself stops."""

    lock_dir: Path = DEFAULT_LOCK_DIR
    """Where the per-address lock files live (shared by every runner on the machine)."""

    first_host: int = FIRST_HOST
    """Pods get 127.0.0.<first_host> .. 127.0.0.<last_host>."""

    last_host: int = LAST_HOST
    """See first_host."""

    def restart_delay(self, exits: int) -> float:
        """The back-off before the restart that follows the `exits`-th consecutive exit."""
        return min(self.backoff_cap, self.backoff_initial * 2.0 ** max(0, exits - 1))
