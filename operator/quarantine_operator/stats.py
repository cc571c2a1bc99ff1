"""Pure arithmetic of a pipeline's live statistics from its validator pods' `/metrics` text.

    metrics text ──parse_pod_sample──▶ PodSample (counter totals and lag of one pod)
    status.stats ──counted_from_status──▶ Counted (quarantined total, each pod's counted counter)
    previous scrape + new scrape + Counted ──next_stats──▶ the next status.stats

Rates are per-pod counter increases over the time between two scrapes of this operator process,
summed over pods. The quarantined total lives in the status with, per existing pod, the counter
value it has counted up to (`status.stats.pods`): a scrape adds only what each pod quarantined
since, so an operator restart neither loses nor double-counts records. A pod the status does not
list yet counts from zero (a new pipeline's first records count); a counter that went down
belongs to a restarted container and counts from zero too. What a pod quarantines after its last
scrape before it is deleted is not counted: its counters go with it.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
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


@dataclass(frozen=True, slots=True)
class Counted:
    """What the status has counted: the quarantined total and, per pod, the counter value it
    counted up to. `pods` is None for a status written before the operator kept them: the
    current counters of its pods are then the baseline (they were counted already)."""

    total: int = 0
    pods: Mapping[str, int] | None = field(default_factory=dict)


def counted_from_status(stats: Mapping[str, Any] | None) -> Counted:
    """What `status.stats` has counted (nothing, for a pipeline without stats yet)."""
    if not stats:
        return Counted()
    pods = stats.get("pods")
    return Counted(
        total=int(stats.get("quarantinedTotal") or 0),
        pods=None if pods is None else {entry["name"]: int(entry["quarantined"]) for entry in pods},
    )


def _increase(previous: float | None, current: float) -> float:
    if previous is None or current < previous:
        return current
    return current - previous


def next_stats(
    previous: Scrape | None,
    current: Scrape,
    *,
    counted: Counted,
    existing: Collection[str],
    now: datetime,
) -> dict[str, Any]:
    """`status.stats` after `current`, given the scrape before it (None after an operator
    restart: no rates yet), what the status has counted, and the names of the validator pods
    that exist (a pod that did not answer keeps its counter; one that is gone is forgotten)."""
    valid_rate = invalid_rate = 0.0
    if previous is not None and current.at > previous.at:
        elapsed = current.at - previous.at
        valid = invalid = 0.0
        for pod, sample in current.pods.items():
            before = previous.pods.get(pod)
            valid += _increase(before.valid if before else None, sample.valid)
            invalid += _increase(before.invalid if before else None, sample.invalid)
        valid_rate = valid / elapsed
        invalid_rate = invalid / elapsed
    baselines = counted.pods
    if baselines is None:
        baselines = {pod: int(sample.quarantined) for pod, sample in current.pods.items()}
    quarantined = float(counted.total)
    counters = {pod: value for pod, value in baselines.items() if pod in existing}
    for pod, sample in current.pods.items():
        quarantined += _increase(baselines.get(pod), sample.quarantined)
        counters[pod] = int(sample.quarantined)
    return {
        "validPerSecond": round(valid_rate, 3),
        "invalidPerSecond": round(invalid_rate, 3),
        "quarantinedTotal": int(quarantined),
        "consumerLag": int(sum(sample.lag for sample in current.pods.values())),
        "updatedAt": now.isoformat().replace("+00:00", "Z"),
        "pods": [{"name": pod, "quarantined": counters[pod]} for pod in sorted(counters)],
    }
