"""Pure arithmetic of a pipeline's live statistics from its validator pods' `/metrics` text.

    metrics text ──parse_pod_sample──▶ PodSample (counter totals and lag of one pod)
    previous samples + new samples ──next_stats──▶ rates, quarantined total, lag (status.stats)

Rates are per-pod counter increases over the time between two scrapes, summed over pods; a
counter that went down belongs to a restarted pod and counts from zero. The quarantined total
accumulates those increases on top of the total already in the status, so it keeps counting
across pod restarts; after an operator restart the first scrape only sets the baseline.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from prometheus_client.parser import text_string_to_metric_families

RECORDS_TOTAL: Final = "dataquarantine_records_total"
QUARANTINED_TOTAL: Final = "dataquarantine_quarantined_total"
CONSUMER_LAG: Final = "dataquarantine_consumer_lag"
VALID_RESULTS: Final = frozenset({"valid", "remediated"})
INVALID_RESULTS: Final = frozenset({"invalid", "undecodable"})


@dataclass(frozen=True, slots=True)
class PodSample:
    """One scrape of one validator pod: counter totals since the pod started, and its lag."""

    valid: float = 0.0
    invalid: float = 0.0
    quarantined: float = 0.0
    lag: float = 0.0


def parse_pod_sample(text: str) -> PodSample:
    """The totals in a pod's Prometheus text exposition (summed over topics and reasons).

    Raises ValueError when the text is not the Prometheus exposition format.
    """
    valid = invalid = quarantined = lag = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == RECORDS_TOTAL:
                result = sample.labels.get("result")
                if result in VALID_RESULTS:
                    valid += sample.value
                elif result in INVALID_RESULTS:
                    invalid += sample.value
            elif sample.name == QUARANTINED_TOTAL:
                quarantined += sample.value
            elif sample.name == CONSUMER_LAG:
                lag += sample.value
    return PodSample(valid=valid, invalid=invalid, quarantined=quarantined, lag=lag)


@dataclass(frozen=True, slots=True)
class Scrape:
    """The samples of every reachable pod at one moment (monotonic seconds)."""

    at: float
    pods: Mapping[str, PodSample]


def _increase(previous: float | None, current: float) -> float:
    if previous is None or current < previous:
        return current
    return current - previous


def next_stats(
    previous: Scrape | None,
    current: Scrape,
    *,
    quarantined_before: int,
    now: datetime,
) -> dict[str, Any]:
    """`status.stats` after `current`, given the scrape before it (None after an operator
    restart: no rates yet) and the quarantined total the status holds."""
    valid_rate = invalid_rate = 0.0
    quarantined = float(quarantined_before)
    if previous is not None and current.at > previous.at:
        elapsed = current.at - previous.at
        valid = invalid = 0.0
        for pod, sample in current.pods.items():
            before = previous.pods.get(pod)
            valid += _increase(before.valid if before else None, sample.valid)
            invalid += _increase(before.invalid if before else None, sample.invalid)
            quarantined += _increase(before.quarantined if before else None, sample.quarantined)
        valid_rate = valid / elapsed
        invalid_rate = invalid / elapsed
    return {
        "validPerSecond": round(valid_rate, 3),
        "invalidPerSecond": round(invalid_rate, 3),
        "quarantinedTotal": int(quarantined),
        "consumerLag": int(sum(sample.lag for sample in current.pods.values())),
        "updatedAt": now.isoformat().replace("+00:00", "Z"),
    }
