"""One reconciliation per pipeline at a time; triggers arriving meanwhile make exactly one more."""

from __future__ import annotations

import threading

import pytest

from quarantine_operator.coalescing import Coalescer, KeySet


def test_a_job_runs_at_once_when_nothing_else_runs() -> None:
    runs: list[str] = []
    assert Coalescer[str]().run("a", lambda: runs.append("a")) is True
    assert runs == ["a"]


def test_triggers_during_a_run_collapse_into_one_more_run() -> None:
    coalescer = Coalescer[str]()
    started = threading.Event()
    release = threading.Event()
    runs: list[int] = []

    def job() -> None:
        runs.append(len(runs))
        if len(runs) == 1:
            started.set()
            release.wait(5)

    first = threading.Thread(target=coalescer.run, args=("a", job))
    first.start()
    assert started.wait(5)
    assert coalescer.run("a", job) is False
    assert coalescer.run("a", job) is False
    release.set()
    first.join(5)
    assert runs == [0, 1]
    assert coalescer.run("a", job) is True
    assert runs == [0, 1, 2]


def test_other_keys_do_not_wait() -> None:
    coalescer = Coalescer[str]()
    inner: list[bool] = []
    coalescer.run("a", lambda: inner.append(coalescer.run("b", lambda: None)))
    assert inner == [True]


def test_a_failing_job_propagates_and_frees_its_key() -> None:
    coalescer = Coalescer[str]()

    def fail() -> None:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        coalescer.run("a", fail)
    assert coalescer.run("a", lambda: None) is True


def test_a_key_set_remembers_and_forgets() -> None:
    keys = KeySet[tuple[str, str]]()
    keys.add(("ns", "b"))
    keys.add(("ns", "a"))
    keys.add(("ns", "a"))
    keys.discard(("ns", "b"))
    keys.discard(("ns", "missing"))
    assert keys.snapshot() == [("ns", "a")]
