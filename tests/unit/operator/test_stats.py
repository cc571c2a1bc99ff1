"""Live statistics come from the validator pods' counters: rates between scrapes, and a
quarantined total that neither loses nor double-counts records across operator restarts."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest

from quarantine_operator.api.v1alpha1 import PipelineStats
from quarantine_operator.scraping import metrics_urls
from quarantine_operator.stats import (
    Counted,
    PodSample,
    Scrape,
    counted_from_status,
    next_stats,
    parse_pod_sample,
)

NOW = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


def exposition(valid: int, invalid: int, quarantined: int, lag: int) -> str:
    """What a validator pod serves (the names and labels of DESIGN.md's metrics)."""
    registry = CollectorRegistry()
    records = Counter(
        "dataquarantine_records", "", ["pipeline", "topic", "result"], registry=registry
    )
    records.labels("orders", "orders.raw", "valid").inc(valid - 1)
    records.labels("orders", "orders.raw", "remediated").inc(1)
    records.labels("orders", "orders.raw", "invalid").inc(invalid - 1)
    records.labels("orders", "orders.raw", "undecodable").inc(1)
    quarantine = Counter(
        "dataquarantine_quarantined", "", ["pipeline", "reason"], registry=registry
    )
    quarantine.labels("orders", "schema_violation").inc(quarantined)
    lags = Gauge(
        "dataquarantine_consumer_lag", "", ["pipeline", "topic", "partition"], registry=registry
    )
    lags.labels("orders", "orders.raw", "0").set(lag - 1)
    lags.labels("orders", "orders.raw", "1").set(1)
    return generate_latest(registry).decode()


def test_a_pods_metrics_are_summed_by_outcome() -> None:
    sample = parse_pod_sample(exposition(valid=10, invalid=4, quarantined=4, lag=7))
    assert sample == PodSample(valid=10, invalid=4, quarantined=4, lag=7)


def test_text_that_is_not_prometheus_is_refused() -> None:
    with pytest.raises(ValueError, match="could not convert"):
        parse_pod_sample("this is { not metrics\n")


def test_the_pods_of_a_new_pipeline_count_from_zero() -> None:
    current = Scrape(at=100.0, pods={"a": PodSample(valid=50, invalid=5, quarantined=5, lag=3)})
    stats = next_stats(None, current, counted=counted_from_status(None), existing={"a"}, now=NOW)
    assert stats == {
        "validPerSecond": 0.0,
        "invalidPerSecond": 0.0,
        "quarantinedTotal": 5,
        "consumerLag": 3,
        "updatedAt": "2026-03-01T12:00:00Z",
        "pods": [{"name": "a", "quarantined": 5}],
    }


def test_after_an_operator_restart_a_counted_pod_counts_on_and_a_new_one_from_zero() -> None:
    status = {"quarantinedTotal": 12, "pods": [{"name": "a", "quarantined": 5}]}
    current = Scrape(at=100.0, pods={"a": PodSample(quarantined=8), "b": PodSample(quarantined=2)})
    stats = next_stats(
        None, current, counted=counted_from_status(status), existing={"a", "b"}, now=NOW
    )
    assert stats["quarantinedTotal"] == 12 + 3 + 2
    assert stats["pods"] == [{"name": "a", "quarantined": 8}, {"name": "b", "quarantined": 2}]
    assert (stats["validPerSecond"], stats["invalidPerSecond"]) == (0.0, 0.0)


def test_a_scrape_counted_again_after_a_restart_adds_nothing() -> None:
    current = Scrape(at=100.0, pods={"a": PodSample(quarantined=7), "b": PodSample()})
    first = next_stats(None, current, counted=Counted(), existing={"a", "b"}, now=NOW)
    again = next_stats(None, current, counted=counted_from_status(first), existing={"a"}, now=NOW)
    assert first["quarantinedTotal"] == again["quarantinedTotal"] == 7


def test_a_status_without_pod_counters_takes_the_current_counters_as_the_baseline() -> None:
    # Written by an operator that kept its baselines in memory: its pods are counted already.
    status = {"quarantinedTotal": 12, "consumerLag": 0}
    current = Scrape(at=100.0, pods={"a": PodSample(quarantined=5, lag=3)})
    stats = next_stats(None, current, counted=counted_from_status(status), existing={"a"}, now=NOW)
    assert stats["quarantinedTotal"] == 12
    assert stats["pods"] == [{"name": "a", "quarantined": 5}]


def test_a_silent_pod_keeps_its_counter_and_a_deleted_pod_is_forgotten() -> None:
    counted = Counted(total=20, pods={"a": 5, "b": 7, "gone": 8})
    current = Scrape(at=100.0, pods={"a": PodSample(quarantined=6)})
    stats = next_stats(None, current, counted=counted, existing={"a", "b"}, now=NOW)
    assert stats["quarantinedTotal"] == 21
    assert stats["pods"] == [{"name": "a", "quarantined": 6}, {"name": "b", "quarantined": 7}]

    later = Scrape(at=110.0, pods={"a": PodSample(quarantined=6), "b": PodSample(quarantined=9)})
    stats = next_stats(
        current, later, counted=counted_from_status(stats), existing={"a", "b"}, now=NOW
    )
    assert stats["quarantinedTotal"] == 23


def test_rates_are_counter_increases_over_time_summed_over_pods() -> None:
    before = Scrape(
        at=100.0,
        pods={"a": PodSample(valid=100, invalid=10, quarantined=10), "b": PodSample(valid=50)},
    )
    after = Scrape(
        at=110.0,
        pods={
            "a": PodSample(valid=200, invalid=30, quarantined=30, lag=4),
            "b": PodSample(valid=100, lag=6),
        },
    )
    counted = Counted(total=1000, pods={"a": 10, "b": 0})
    stats = next_stats(before, after, counted=counted, existing={"a", "b"}, now=NOW)
    assert stats["validPerSecond"] == 15.0
    assert stats["invalidPerSecond"] == 2.0
    assert stats["quarantinedTotal"] == 1020
    assert stats["consumerLag"] == 10


def test_a_restarted_or_new_pod_counts_from_zero() -> None:
    before = Scrape(at=0.0, pods={"a": PodSample(valid=500, quarantined=50)})
    after = Scrape(
        at=10.0,
        pods={"a": PodSample(valid=20, quarantined=2), "c": PodSample(valid=30, quarantined=3)},
    )
    counted = Counted(total=50, pods={"a": 50})
    stats = next_stats(before, after, counted=counted, existing={"a", "c"}, now=NOW)
    assert stats["validPerSecond"] == 5.0
    assert stats["quarantinedTotal"] == 55


def test_the_stats_are_a_valid_status_of_the_custom_resource() -> None:
    current = Scrape(at=1.0, pods={"a": PodSample(valid=3, invalid=1, quarantined=1, lag=2)})
    stats = next_stats(None, current, counted=Counted(), existing={"a"}, now=NOW)
    parsed = PipelineStats.model_validate(stats)
    assert parsed.model_dump(mode="json", by_alias=True, exclude_none=True) == stats


def test_only_running_pods_with_an_ip_are_scraped() -> None:
    pods = [
        {"metadata": {"name": "a"}, "status": {"phase": "Running", "podIP": "10.1.2.3"}},
        {"metadata": {"name": "b"}, "status": {"phase": "Pending"}},
        {"metadata": {"name": "c"}, "status": {"phase": "Running", "podIP": "fd00::7"}},
        {"metadata": {"name": "d"}, "status": {"phase": "Running"}},
    ]
    assert metrics_urls(pods) == {
        "a": "http://10.1.2.3:9400/metrics",
        "c": "http://[fd00::7]:9400/metrics",
    }
