"""The pod directory on disk, and processes that start, crash and stop like containers."""

from __future__ import annotations

import os
import stat
import sys
import time
from pathlib import Path

from testenv.podrunner.containers import (
    ContainerProcess,
    clean_pod_dir,
    leftover_processes,
    prepare_pod_dir,
)
from testenv.podrunner.materialising import PodFile, ProcessPlan, VolumePlan
from testenv.processes import is_alive


def test_the_pod_directory_holds_volumes_links_and_private_secrets(tmp_path: Path) -> None:
    pod_dir = tmp_path / "pods/shop/p"
    (pod_dir / "volumes/old").mkdir(parents=True)
    (pod_dir / "log").write_text("earlier output\n")
    config, secret = pod_dir / "volumes/config", pod_dir / "volumes/creds"
    plan = VolumePlan(
        directories=(config, secret),
        files=(
            PodFile(config / "schemas/orders/1.json", b"{}", 0o644),
            PodFile(secret / "ca.crt", b"PEM", 0o600),
        ),
        links=((pod_dir / "etc/dq", config), (pod_dir / "var/run/creds", secret)),
        mounts={},
    )

    prepare_pod_dir(pod_dir, plan)

    assert (pod_dir / "etc/dq/schemas/orders/1.json").read_bytes() == b"{}"
    assert stat.S_IMODE((pod_dir / "var/run/creds/ca.crt").stat().st_mode) == 0o600
    assert not (pod_dir / "volumes/old").exists()
    assert (pod_dir / "log").read_text() == "earlier output\n"

    clean_pod_dir(pod_dir)
    assert [entry.name for entry in pod_dir.iterdir()] == ["log"]


def _plan(tmp_path: Path, code: str) -> ProcessPlan:
    return ProcessPlan(
        argv=(sys.executable, "-c", code, f"{tmp_path}/marker"),
        env={"PATH": "/usr/bin:/bin"},
        cwd=tmp_path,
    )


def test_a_process_logs_its_output_and_stops_on_sigterm(tmp_path: Path) -> None:
    code = "import signal, sys, time; print('hello', flush=True); time.sleep(60)"
    process = ContainerProcess.start(_plan(tmp_path, code), tmp_path / "log", note="starting")
    assert os.getsid(process.pid) == process.pid
    time.sleep(0.5)
    assert process.poll() is None

    assert process.stop(grace=5) == -15

    assert not is_alive(process.pid)
    log = (tmp_path / "log").read_text()
    assert "podrunner: starting" in log
    assert "hello" in log


def test_a_process_that_ignores_sigterm_is_killed_after_the_grace_period(tmp_path: Path) -> None:
    code = (
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN);"
        "print('ready', flush=True); time.sleep(60)"
    )
    process = ContainerProcess.start(_plan(tmp_path, code), tmp_path / "log", note="starting")
    deadline = time.monotonic() + 10
    while "ready" not in (tmp_path / "log").read_text() and time.monotonic() < deadline:
        time.sleep(0.05)

    started = time.monotonic()
    assert process.stop(grace=0.5) == -9
    assert 0.5 <= time.monotonic() - started < 5


def test_a_crash_is_seen_with_its_exit_status(tmp_path: Path) -> None:
    process = ContainerProcess.start(
        _plan(tmp_path, "raise SystemExit(3)"), tmp_path / "log", note="starting"
    )
    deadline = time.monotonic() + 10
    while (code := process.poll()) is None and time.monotonic() < deadline:
        time.sleep(0.05)

    assert code == 3
    assert process.stop(grace=1) == 3


def test_processes_left_by_a_killed_runner_are_found_by_their_pod_directory(
    tmp_path: Path,
) -> None:
    pod_dir = tmp_path / "pods/shop/p"
    pod_dir.mkdir(parents=True)
    plan = ProcessPlan(
        argv=(sys.executable, "-c", "import time; time.sleep(60)", f"{pod_dir}/etc/dq"),
        env={},
        cwd=pod_dir,
    )
    process = ContainerProcess.start(plan, pod_dir / "log", note="starting")
    try:
        # Right after exec the kernel may show an empty command line for a moment.
        deadline = time.monotonic() + 5
        while not leftover_processes(pod_dir) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert leftover_processes(pod_dir) == [process.pid]
        assert leftover_processes(tmp_path / "pods/shop/other") == []
        assert leftover_processes(tmp_path / "pods/shop/") == [process.pid]
    finally:
        process.stop(grace=5)
