"""The demo command, the way a newcomer runs it: from nothing (no stack running) it starts the
local stack, reaches "pipeline Ready", shows quarantined records with their reasons, and when
told to stop (SIGTERM, or Ctrl-C) stops everything it started."""

from __future__ import annotations

import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from testenv.layout import REPO_ROOT

START_WITHIN = 300.0
"""Seconds for a cold stack start (warm caches) plus the demo's own set-up and first reports."""


@pytest.fixture
def state() -> Iterator[Path]:
    """A fresh DQ_STATE directory the PostgreSQL server's own user can enter (pytest's
    tmp_path is private to the user running the tests)."""
    path = Path(tempfile.mkdtemp(prefix="dq-demo-test-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_the_demo_from_nothing_reaches_ready_shows_reasons_and_stops_what_it_started(
    state: Path,
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DQ_") and k != "KUBECONFIG"}
    env |= {"DQ_STATE": str(state), "PYTHONUNBUFFERED": "1"}
    if "DQ_CACHE" in os.environ:
        env["DQ_CACHE"] = os.environ["DQ_CACHE"]
    demo = subprocess.Popen(
        # started the way a shell starts a background job (`scripts/demo &`): SIGINT ignored
        [
            "sh",
            "-c",
            'trap "" INT; exec "$0" -m testenv.demo --rate 100 --interval 2',
            sys.executable,
        ],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    output: list[str] = []
    assert demo.stdout is not None
    stream = demo.stdout

    def pump() -> None:
        for line in stream:
            lines.put(line)

    reader = threading.Thread(target=pump)
    reader.start()
    try:
        ready = reasons = None
        deadline = time.monotonic() + START_WITHIN
        while reasons is None and time.monotonic() < deadline and demo.poll() is None:
            try:
                line = lines.get(timeout=1)
            except queue.Empty:
                continue
            output.append(line)
            if "pipeline Ready" in line:
                ready = line
            if ready and line.startswith("top quarantine reasons") and "schema_violation" in line:
                reasons = line
        transcript = "".join(output[-40:])
        assert ready is not None, transcript
        assert reasons is not None, transcript
    finally:
        demo.send_signal(signal.SIGTERM)
        try:
            exit_code = demo.wait(timeout=180)
        except subprocess.TimeoutExpired:
            demo.kill()
            raise
        reader.join(timeout=10)
        stream.close()
    while not lines.empty():
        output.append(lines.get())
    transcript = "".join(output[-40:])

    assert exit_code == 0, transcript
    assert "stopping the stack services this demo started" in transcript, transcript
    status = subprocess.run(
        [sys.executable, "-m", "testenv", "status"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert " up " not in status.stdout, status.stdout
    leftovers = subprocess.run(["pgrep", "-f", str(state)], capture_output=True, text=True)
    assert leftovers.stdout == "", f"processes of the demo's stack still run: {leftovers.stdout}"
