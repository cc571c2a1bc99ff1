"""Waiting for a step of another task that may end without reaching it."""

from __future__ import annotations

import asyncio
from typing import Any


async def set_before_end(event: asyncio.Event, task: asyncio.Future[Any] | None) -> bool:
    """Wait until `event` is set or `task` has ended; whether `event` was set (False: the task
    ended without reaching that step, e.g. it failed)."""
    if event.is_set() or task is None:
        await event.wait()
        return True
    waiter = asyncio.ensure_future(event.wait())
    try:
        await asyncio.wait({waiter, task}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        waiter.cancel()
    return event.is_set()
