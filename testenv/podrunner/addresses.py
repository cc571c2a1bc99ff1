"""Pod addresses: one loopback address 127.0.0.N per pod (Linux routes all of 127.0.0.0/8 to
`lo`), so that two replicas listen on the same ports side by side.

An address is held with a lock file per address, so that several runners on one machine (tests
running in parallel, the demo) never hand out the same one, and it is given out only when the
pod's ports are free on it (a process left over from a killed runner may still listen there).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import socket
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Final

from testenv.podrunner.materialising import SetupError

DEFAULT_LOCK_DIR: Final = Path(tempfile.gettempdir()) / "dataquarantine-podrunner"
FIRST_HOST: Final = 2
"""127.0.0.1 is the node's (and the local stack's) address."""
LAST_HOST: Final = 254


def ports_free(address: str, ports: Sequence[int]) -> bool:
    """Whether every port can be bound on `address` (as a server would, with SO_REUSEADDR)."""
    for port in ports:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((address, port))
            except OSError as exc:
                if exc.errno == errno.EADDRINUSE:
                    return False
                raise
    return True


class LoopbackPool:
    """Hands out 127.0.0.<first>..<last>, lowest free first."""

    def __init__(
        self, lock_dir: Path = DEFAULT_LOCK_DIR, first: int = FIRST_HOST, last: int = LAST_HOST
    ) -> None:
        self._lock_dir = lock_dir
        self._hosts = range(first, last + 1)
        self._held: dict[str, int] = {}
        self._mutex = threading.Lock()

    def acquire(self, ports: Sequence[int]) -> str:
        """An address no other pod holds and on which `ports` are free.

        Raises SetupError (FailedCreatePodSandBox) when every address is taken.
        """
        self._lock_dir.mkdir(parents=True, exist_ok=True)
        with self._mutex:
            for host in self._hosts:
                address = f"127.0.0.{host}"
                fd = self._lock(address)
                if fd is None:
                    continue
                if ports_free(address, ports):
                    self._held[address] = fd
                    return address
                os.close(fd)
        raise SetupError(
            "FailedCreatePodSandBox",
            f"no free loopback address in 127.0.0.{self._hosts.start}-{self._hosts.stop - 1} "
            f"with ports {', '.join(map(str, ports)) or '(none)'} free",
        )

    def _lock(self, address: str) -> int | None:
        if address in self._held:
            return None
        fd = os.open(self._lock_dir / f"{address}.lock", os.O_CREAT | os.O_RDWR, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        return fd

    def release(self, address: str) -> None:
        """Give the address back (closing the lock file releases the lock)."""
        with self._mutex:
            fd = self._held.pop(address, None)
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)

    def held(self) -> tuple[str, ...]:
        """The addresses this pool has handed out."""
        with self._mutex:
            return tuple(self._held)

    def close(self) -> None:
        """Release every address."""
        for address in self.held():
            self.release(address)
