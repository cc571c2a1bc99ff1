"""Where the stack keeps its caches (outside the repo) and its runtime state (per checkout)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Layout:
    """Cache and state directories of one local stack."""

    cache: Path
    state: Path

    @classmethod
    def from_environment(cls, environ: dict[str, str] | None = None) -> Layout:
        """`DQ_CACHE` (default ~/.cache/dataquarantine) and `DQ_STATE` (default <repo>/.testenv)."""
        env = dict(os.environ) if environ is None else environ
        cache = Path(env.get("DQ_CACHE") or Path.home() / ".cache" / "dataquarantine")
        state = Path(env.get("DQ_STATE") or REPO_ROOT / ".testenv")
        return cls(cache=cache, state=state)

    @property
    def bin(self) -> Path:
        """Built binaries (etcd, kube-apiserver, kube-controller-manager, kubectl)."""
        return self.cache / "bin"

    @property
    def state_file(self) -> Path:
        """JSON record of the running services: PIDs, ports, endpoints."""
        return self.state / "stack.json"

    @property
    def env_file(self) -> Path:
        """Shell-sourceable `KEY=value` lines describing the running stack."""
        return self.state / "env"

    @property
    def kubeconfig(self) -> Path:
        """Admin kubeconfig for the local kube-apiserver."""
        return self.state / "kubeconfig"

    def service_dir(self, name: str) -> Path:
        """Runtime directory (data, logs, config) of one service."""
        return self.state / name

    def log_file(self, name: str) -> Path:
        """Combined stdout/stderr of one service."""
        return self.state / "logs" / f"{name}.log"
