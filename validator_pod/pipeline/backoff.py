"""Capped exponential backoff with jitter, for retrying a step against a service that is down."""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass(slots=True)
class Backoff:
    """Delays `initial`, `initial * factor`, … capped at `maximum`; each delay is drawn
    uniformly from [delay * (1 - jitter), delay] so that many pods do not retry in step.
    `reset` after a success starts again from `initial`."""

    initial: float = 0.1
    maximum: float = 5.0
    factor: float = 2.0
    jitter: float = 0.2
    rng: random.Random = field(default_factory=random.Random)
    _attempt: int = 0

    def __post_init__(self) -> None:
        if not 0 < self.initial <= self.maximum:
            raise ValueError("backoff needs 0 < initial <= maximum")
        if self.factor < 1 or not 0 <= self.jitter < 1:
            raise ValueError("backoff needs factor >= 1 and 0 <= jitter < 1")

    @property
    def attempt(self) -> int:
        """How many delays were handed out since the last reset."""
        return self._attempt

    def next_delay(self) -> float:
        """The delay before the next attempt, in seconds."""
        ceiling = min(self.maximum, self.initial * self.factor ** min(self._attempt, 64))
        self._attempt += 1
        return ceiling * (1 - self.jitter * self.rng.random())

    def reset(self) -> None:
        """The last attempt succeeded."""
        self._attempt = 0
