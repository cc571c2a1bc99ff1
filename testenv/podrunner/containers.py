"""The local side of a pod: its directory (volumes, mount links, log) and its process.

Each container run is a process in its own session, so that SIGTERM and SIGKILL reach
everything it started; its output is appended to `<pod dir>/log`, one header line per start.
The leader is never reaped before its session has been swept, so a recycled PID is never
signalled by mistake.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

from testenv.podrunner.materialising import LOG_FILE, ProcessPlan, VolumePlan

POLL_INTERVAL: Final = 0.05
KILL_TIMEOUT: Final = 10.0


def prepare_pod_dir(pod_dir: Path, volumes: VolumePlan) -> None:
    """Lay out a fresh pod directory (an earlier pod's volumes are removed, its log kept)."""
    clean_pod_dir(pod_dir)
    pod_dir.mkdir(parents=True, exist_ok=True)
    for directory in volumes.directories:
        directory.mkdir(parents=True, exist_ok=True)
    for file in volumes.files:
        file.path.parent.mkdir(parents=True, exist_ok=True)
        file.path.write_bytes(file.content)
        file.path.chmod(file.mode)
    for link, target in volumes.links:
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(target, target_is_directory=True)


def clean_pod_dir(pod_dir: Path) -> None:
    """Remove everything of the pod but its log (Secrets' files included)."""
    if not pod_dir.is_dir():
        return
    for entry in pod_dir.iterdir():
        if entry.name == LOG_FILE:
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()


def leftover_processes(pod_dir: Path) -> list[int]:
    """Sessions started for this pod directory by an earlier runner that was killed outright
    (their command line names a path in the pod directory)."""
    marker = f"{pod_dir}/".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            pid = int(entry.name)
            if marker in (entry / "cmdline").read_bytes() and os.getsid(pid) == pid:
                found.append(pid)
    return found


def kill_session(pid: int) -> None:
    """SIGKILL a whole session (nothing happens when it is gone)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


class ContainerProcess:
    """One run of a container: a process and the session it leads."""

    def __init__(self, popen: subprocess.Popen[bytes], started_at: datetime) -> None:
        self._popen = popen
        self.started_at = started_at

    @classmethod
    def start(cls, plan: ProcessPlan, log_file: Path, *, note: str) -> ContainerProcess:
        """Start the planned command; `note` heads its output in the log."""
        started_at = datetime.now(UTC)
        with log_file.open("ab") as log:
            log.write(f"==> {started_at.isoformat()} podrunner: {note}\n".encode())
            log.flush()
            popen = subprocess.Popen(
                list(plan.argv),
                cwd=plan.cwd,
                env=dict(plan.env),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return cls(popen, started_at)

    @property
    def pid(self) -> int:
        """The process ID (and session ID)."""
        return self._popen.pid

    def _exited(self) -> bool:
        if self._popen.returncode is not None:
            return True
        try:
            # WNOWAIT: look without reaping, so the PID stays ours until the sweep.
            found = os.waitid(os.P_PID, self.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            return True
        return found is not None

    def _finish(self) -> int:
        if self._popen.returncode is None:
            kill_session(self.pid)  # whatever it left behind in its session
        return self._popen.wait()

    def poll(self) -> int | None:
        """The return code once the process has exited (negative: killed by that signal)."""
        return self._finish() if self._exited() else None

    def stop(self, grace: float) -> int:
        """SIGTERM the session, SIGKILL it after `grace` seconds; the return code."""
        if not self._exited():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.pid, signal.SIGTERM)
            if not self._wait(grace):
                kill_session(self.pid)
                self._wait(KILL_TIMEOUT)
        return self._finish()

    def _wait(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while not self._exited():
            if time.monotonic() >= deadline:
                return False
            time.sleep(POLL_INTERVAL)
        return True
