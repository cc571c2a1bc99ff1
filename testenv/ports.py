"""Free ports on the stack's addresses, and a clear error when a requested one is taken."""

from __future__ import annotations

import random
import socket
from collections.abc import Sequence

from testenv.errors import StackError

LOOPBACK_ONLY = ("127.0.0.1",)


def is_free(port: int, hosts: Sequence[str] = LOOPBACK_ONLY) -> bool:
    """True when nothing listens on port of any of `hosts` and it can be bound there."""
    for host in hosts:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((host, port))
            except OSError:
                return False
    return True


def pick_free(
    *, taken: set[int], grpc_offset: int | None = None, hosts: Sequence[str] = LOOPBACK_ONLY
) -> int:
    """A free port in 20000-40000 not in `taken`; with `grpc_offset`, port+offset is free too."""
    for _ in range(1000):
        port = random.randint(20000, 40000)  # noqa: S311 - not security relevant
        companions = [port] if grpc_offset is None else [port, port + grpc_offset]
        if any(p in taken for p in companions):
            continue
        if all(is_free(p, hosts) for p in companions):
            taken.update(companions)
            return port
    raise StackError(f"no free port found in 20000-40000 on {', '.join(hosts)}")


def require_free(port: int, *, service: str, hosts: Sequence[str] = LOOPBACK_ONLY) -> None:
    """Raise a clear error when a port the stack wants is already in use."""
    if not is_free(port, hosts):
        raise StackError(
            f"port {port} for {service} is already in use on {' or '.join(hosts)}; "
            "stop whatever listens there or choose another port"
        )
