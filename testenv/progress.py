"""Progress output on stderr: one line per step, with elapsed time."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager


def say(message: str) -> None:
    """Print one progress line to stderr."""
    print(f"[testenv] {message}", file=sys.stderr, flush=True)


@contextmanager
def step(description: str) -> Iterator[None]:
    """Announce a step, then report how long it took (or that it failed)."""
    say(f"{description} ...")
    started = time.monotonic()
    try:
        yield
    except BaseException:
        say(f"{description}: failed after {time.monotonic() - started:.1f}s")
        raise
    say(f"{description}: done in {time.monotonic() - started:.1f}s")
