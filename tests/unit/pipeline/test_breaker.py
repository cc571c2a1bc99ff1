from __future__ import annotations

from datetime import timedelta

from validator_pod.domain.pipeline_config import Breaker
from validator_pod.pipeline.breaker import InvalidRatioBreaker


def breaker(**fields: object) -> InvalidRatioBreaker:
    spec = {"enabled": True, "window": timedelta(seconds=10), "threshold": 0.5, "min_records": 100}
    spec.update(fields)
    return InvalidRatioBreaker(Breaker.model_validate(spec))


def test_a_ratio_above_the_threshold_over_enough_records_trips() -> None:
    state = breaker().observe(0.0, records=100, invalid=51)
    assert state.over_threshold
    assert state.ratio == 0.51


def test_too_few_records_never_trip_whatever_the_ratio() -> None:
    assert not breaker().observe(0.0, records=99, invalid=99).over_threshold


def test_a_ratio_equal_to_the_threshold_does_not_trip() -> None:
    assert not breaker().observe(0.0, records=100, invalid=50).over_threshold


def test_batches_within_the_window_add_up() -> None:
    b = breaker()
    assert not b.observe(0.0, records=60, invalid=60).over_threshold
    state = b.observe(9.9, records=40, invalid=0)
    assert (state.records, state.invalid, state.over_threshold) == (100, 60, True)


def test_batches_older_than_the_window_are_forgotten() -> None:
    b = breaker()
    b.observe(0.0, records=1000, invalid=1000)
    state = b.observe(10.0, records=100, invalid=0)
    assert (state.records, state.invalid, state.over_threshold) == (100, 0, False)


def test_the_breaker_closes_when_the_flood_ends() -> None:
    b = breaker()
    assert b.observe(0.0, records=200, invalid=200).over_threshold
    assert not b.observe(20.0, records=200, invalid=10).over_threshold


def test_an_empty_window_has_a_zero_ratio() -> None:
    assert breaker().observe(0.0, records=0, invalid=0).ratio == 0.0
