from __future__ import annotations

import random

import pytest

from validator_pod.pipeline.backoff import Backoff


def test_delays_double_from_the_initial_one_up_to_the_cap() -> None:
    backoff = Backoff(initial=0.1, maximum=5.0, jitter=0.0)
    delays = [backoff.next_delay() for _ in range(9)]
    assert delays == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 5.0, 5.0, 5.0])
    assert backoff.attempt == 9


def test_jitter_only_shortens_a_delay_by_at_most_its_share() -> None:
    backoff = Backoff(initial=1.0, maximum=1.0, jitter=0.2, rng=random.Random(7))
    delays = [backoff.next_delay() for _ in range(200)]
    assert all(0.8 <= d <= 1.0 for d in delays)
    assert len(set(delays)) > 100


def test_reset_starts_again_from_the_initial_delay() -> None:
    backoff = Backoff(initial=0.5, maximum=4.0, jitter=0.0)
    backoff.next_delay()
    backoff.next_delay()
    backoff.reset()
    assert backoff.next_delay() == 0.5


def test_very_many_attempts_stay_at_the_cap() -> None:
    backoff = Backoff(initial=0.1, maximum=5.0, jitter=0.0)
    for _ in range(2000):
        delay = backoff.next_delay()
    assert delay == 5.0


@pytest.mark.parametrize(
    ("initial", "maximum", "factor", "jitter"),
    [(0, 1, 2, 0), (2, 1, 2, 0), (0.1, 1, 0.5, 0), (0.1, 1, 2, 1.0)],
)
def test_nonsensical_policies_are_refused(
    initial: float, maximum: float, factor: float, jitter: float
) -> None:
    with pytest.raises(ValueError, match="backoff needs"):
        Backoff(initial=initial, maximum=maximum, factor=factor, jitter=jitter)
