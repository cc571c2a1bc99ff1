"""JSON log lines on stderr: one object per record, context from `extra`, never payloads."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Final, TextIO

import orjson

# Attributes every LogRecord has; anything else on a record came from `extra`.
_STANDARD_ATTRIBUTES: Final = frozenset(
    vars(logging.LogRecord("", logging.INFO, "", 0, "", None, None)).keys()
) | {"message", "asctime", "taskName"}


_MAX_REMEMBERED: Final = 1000


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON object: time, level, logger, message, the `extra` fields,
    and `exception` (the formatted traceback) when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        """The JSON line for `record` (without the newline)."""
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update(
            (key, value)
            for key, value in vars(record).items()
            if key not in _STANDARD_ATTRIBUTES and not key.startswith("_")
        )
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return orjson.dumps(entry, default=str).decode()


class RepeatFilter(logging.Filter):
    """Lets each (logger, message template) of the loggers under `name` through at most once
    per `interval` seconds; other records pass.

    aiokafka logs every reconnection attempt (ten a second while a broker is down); the state
    change is what matters, and the process reports it itself on /readyz and in its own logs.
    """

    def __init__(
        self, name: str, interval: float = 60.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        """`clock` returns seconds (monotonic)."""
        super().__init__(name)
        self._interval = interval
        self._clock = clock
        self._last: dict[tuple[str, object], float] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        """True unless this template was logged in the last `interval` seconds."""
        if not super().filter(record):
            return True
        key = (record.name, record.msg)
        now = self._clock()
        last = self._last.get(key)
        if last is not None and now - last < self._interval:
            return False
        if len(self._last) > _MAX_REMEMBERED:
            self._last.clear()
        self._last[key] = now
        return True


def configure_logging(level: str, stream: TextIO | None = None) -> None:
    """Send every logger's records at `level` and above to `stream` (stderr) as JSON lines.
    aiokafka's own INFO chatter (group joins) is dropped, and its repeated warnings and errors
    (one per reconnection attempt) are logged once a minute."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    # On the handler: a logger's own filters do not apply to its children's records.
    handler.addFilter(RepeatFilter("aiokafka"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("aiokafka").setLevel(max(logging.WARNING, root.level))
