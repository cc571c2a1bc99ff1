"""One reconciliation per object at a time, with the triggers that arrive meanwhile collapsed.

A pipeline is reconciled from several places: its own kopf handlers, events of its children
and of schema versions, and the periodic recheck. kopf serialises handlers per object, not
across kinds, so these could overlap. `Coalescer` runs at most one job per key; a trigger that
arrives while it runs asks for exactly one more run afterwards (which sees everything that
changed), and returns at once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)


@dataclass
class _Slot:
    running: bool = False
    again: bool = False


class Coalescer(Generic[K]):
    """Runs jobs per key one at a time, collapsing the triggers that arrive meanwhile."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._slots: dict[K, _Slot] = {}

    def run(self, key: K, job: Callable[[], object]) -> bool:
        """Run `job` now, or (when a job for `key` is running) make that one run once more.

        Returns whether this call ran the job. An exception from the job propagates to the
        caller that was running it; a requested extra run is then dropped with it (the caller
        is expected to schedule a retry).
        """
        with self._guard:
            slot = self._slots.setdefault(key, _Slot())
            if slot.running:
                slot.again = True
                return False
            slot.running = True
        try:
            while True:
                job()
                with self._guard:
                    if not slot.again:
                        # Released under the same lock that decided: no trigger can be lost.
                        del self._slots[key]
                        return True
                    slot.again = False
        except BaseException:
            with self._guard:
                del self._slots[key]
            raise


@dataclass
class KeySet(Generic[K]):
    """A thread-safe set of keys (pipelines to check again)."""

    _keys: set[K] = field(default_factory=set)
    _guard: threading.Lock = field(default_factory=threading.Lock)

    def add(self, key: K) -> None:
        """Remember `key`."""
        with self._guard:
            self._keys.add(key)

    def discard(self, key: K) -> None:
        """Forget `key`."""
        with self._guard:
            self._keys.discard(key)

    def snapshot(self) -> list[K]:
        """The keys now, in a stable order."""
        with self._guard:
            return sorted(self._keys, key=repr)
