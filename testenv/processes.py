"""Starting, watching and stopping the stack's server processes by PID."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from testenv.errors import StackError


def spawn(
    argv: Sequence[str],
    *,
    log_file: Path,
    cwd: Path,
    env: Mapping[str, str] | None = None,
) -> int:
    """Start a detached server in its own session and return its PID.

    A short-lived `sh` starts the server in the background and exits, so the server is not our
    child: it outlives this Python process, Ctrl-C on the caller does not reach it, and no Popen
    object is left to warn that it is still running. `setsid` execs in place (the background job
    is not a process-group leader), so the PID printed is the server's own.
    """
    log_file.parent.mkdir(parents=True, exist_ok=True)
    launcher = 'setsid "$@" </dev/null >>"$DQ_SPAWN_LOG" 2>&1 & echo $!'
    launch_env = {**(os.environ if env is None else env), "DQ_SPAWN_LOG": str(log_file)}
    result = subprocess.run(
        ["sh", "-c", launcher, "sh", *argv],
        cwd=cwd,
        env=launch_env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=False,
    )
    pid = result.stdout.strip()
    if result.returncode != 0 or not pid.isdigit():
        raise StackError(f"could not start {argv[0]}: {result.stderr.strip() or 'no PID'}")
    return int(pid)


def is_alive(pid: int) -> bool:
    """True while the process exists and is not a zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def reap(pid: int) -> None:
    """Collect an exited child so it does not linger as a zombie (no-op for non-children)."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def stop(pid: int, *, timeout: float = 20.0) -> None:
    """SIGTERM the process (and its session), then SIGKILL after `timeout`; wait until gone."""
    if not is_alive(pid):
        reap(pid)
        return
    _signal_group(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        reap(pid)
        if not is_alive(pid):
            return
        time.sleep(0.05)
    _signal_group(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        reap(pid)
        if not is_alive(pid):
            return
        time.sleep(0.05)
    raise StackError(f"process {pid} did not exit after SIGKILL")


def _signal_group(pid: int, sig: signal.Signals) -> None:
    try:
        if os.getpgid(pid) == pid:
            os.killpg(pid, sig)
        else:
            os.kill(pid, sig)
    except ProcessLookupError:
        pass


def rss_bytes(pid: int) -> int:
    """Resident set size of a process, 0 when it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return 0
    return 0


def wait_until(
    check: Callable[[], bool],
    *,
    what: str,
    timeout: float,
    pid: int | None = None,
    log_file: Path | None = None,
    interval: float = 0.1,
) -> None:
    """Poll `check` until true; fail early with the log tail if the process `pid` exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pid is not None and not is_alive(pid):
            reap(pid)
            raise StackError(f"{what}: the process exited during start-up{_tail(log_file)}")
        try:
            if check():
                return
        except Exception:  # noqa: BLE001, S110 - any failure of a probe means "not ready yet"
            pass
        time.sleep(interval)
    raise StackError(f"{what}: not ready after {timeout:.0f}s{_tail(log_file)}")


def _tail(log_file: Path | None, lines: int = 25) -> str:
    if log_file is None or not log_file.exists():
        return ""
    text = log_file.read_text(errors="replace").splitlines()[-lines:]
    return f"\n--- last lines of {log_file} ---\n" + "\n".join(text)


def run_checked(argv: Sequence[str], *, what: str, env: Mapping[str, str] | None = None) -> str:
    """Run a short command; raise StackError with its output when it fails."""
    result = subprocess.run(list(argv), capture_output=True, text=True, env=env, check=False)
    if result.returncode != 0:
        raise StackError(
            f"{what} failed (exit {result.returncode}):\n{result.stdout}{result.stderr}"
        )
    return result.stdout
