"""The invalid-ratio breaker: is the share of invalid records in a sliding window too high?

The window is kept as per-second buckets of (records, invalid), so memory is bounded by the
window's length in seconds whatever the throughput.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

from validator_pod.domain.pipeline_config import Breaker


@dataclass(frozen=True, slots=True)
class BreakerState:
    """The window's totals when the breaker was last fed."""

    records: int
    invalid: int
    over_threshold: bool

    @property
    def ratio(self) -> float:
        """Invalid share of the window (0 when it is empty)."""
        return self.invalid / self.records if self.records else 0.0


class InvalidRatioBreaker:
    """Over the last `window`: were at least `min_records` records seen, and more than
    `threshold` of them invalid? Whether an excess latches (pause) is the caller's choice."""

    def __init__(self, spec: Breaker) -> None:
        """Use the pipeline's breaker settings (`enabled` is the caller's concern)."""
        self._window = max(1, math.ceil(spec.window.total_seconds()))
        self._threshold = spec.threshold
        self._min_records = spec.min_records
        self._buckets: deque[list[int]] = deque()  # [second, records, invalid]
        self._records = 0
        self._invalid = 0

    def observe(self, now: float, records: int, invalid: int) -> BreakerState:
        """Add a batch seen at `now` (seconds, monotonic; never decreasing) and return the
        window's totals and whether they exceed the threshold."""
        second = int(now)
        self._expire(second)
        if self._buckets and self._buckets[-1][0] == second:
            bucket = self._buckets[-1]
            bucket[1] += records
            bucket[2] += invalid
        else:
            self._buckets.append([second, records, invalid])
        self._records += records
        self._invalid += invalid
        over = (
            self._records >= self._min_records and self._invalid > self._threshold * self._records
        )
        return BreakerState(self._records, self._invalid, over)

    def _expire(self, second: int) -> None:
        oldest = second - self._window + 1
        while self._buckets and self._buckets[0][0] < oldest:
            _, records, invalid = self._buckets.popleft()
            self._records -= records
            self._invalid -= invalid
