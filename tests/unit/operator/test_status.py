"""Conditions follow metav1.Condition and kstatus: Ready summarises, Reconciling/Stalled explain."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from quarantine_operator.api.v1alpha1 import Condition, ConditionStatus
from quarantine_operator.status import (
    ConditionEvent,
    ConditionType,
    EventType,
    Reason,
    condition_events,
    dump_conditions,
    find_condition,
    is_true,
    load_conditions,
    mark_ready,
    mark_reconciliation_paused,
    mark_reconciling,
    mark_stalled,
    remove_condition,
    set_condition,
)

T0 = datetime(2026, 1, 2, 3, 4, 5, 678_000, tzinfo=UTC)
T1 = T0 + timedelta(minutes=5)


def statuses(conditions: tuple[Condition, ...]) -> dict[str, tuple[str, str]]:
    return {c.type: (c.status.value, c.reason) for c in conditions}


def test_setting_a_new_condition_appends_it_with_the_current_time_at_whole_seconds() -> None:
    conditions = set_condition(
        (), "Ready", ConditionStatus.TRUE, "Available", "ok", generation=3, now=T0
    )
    (ready,) = conditions
    assert ready.last_transition_time == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert ready.observed_generation == 3
    assert (ready.reason, ready.message) == ("Available", "ok")


def test_the_transition_time_stays_when_the_status_does_not_change() -> None:
    first = set_condition(
        (), "Ready", ConditionStatus.FALSE, "Progressing", "a", generation=1, now=T0
    )
    second = set_condition(
        first, "Ready", ConditionStatus.FALSE, "DeploymentUnavailable", "b", generation=2, now=T1
    )
    (ready,) = second
    assert ready.last_transition_time == first[0].last_transition_time
    assert (ready.reason, ready.message, ready.observed_generation) == (
        "DeploymentUnavailable",
        "b",
        2,
    )


def test_the_transition_time_moves_when_the_status_changes() -> None:
    first = set_condition(
        (), "Ready", ConditionStatus.FALSE, "Progressing", "", generation=1, now=T0
    )
    second = set_condition(
        first, "Ready", ConditionStatus.TRUE, "Available", "", generation=1, now=T1
    )
    assert second[0].last_transition_time == T1.replace(microsecond=0)


def test_setting_a_condition_keeps_the_order_of_the_others() -> None:
    conditions = mark_ready((), generation=1, now=T0, message="ok")
    updated = set_condition(
        conditions, "Reconciling", ConditionStatus.TRUE, "Progressing", "", generation=2, now=T1
    )
    assert [c.type for c in updated] == [c.type for c in conditions]


def test_a_naive_clock_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        set_condition(
            (),
            "Ready",
            ConditionStatus.TRUE,
            "Available",
            "",
            generation=1,
            now=datetime(2026, 1, 1),
        )


def test_other_timezones_are_stored_in_utc() -> None:
    local = datetime(2026, 1, 1, 12, 0, tzinfo=timezone(timedelta(hours=2)))
    (ready,) = set_condition(
        (), "Ready", ConditionStatus.TRUE, "Available", "", generation=1, now=local
    )
    assert ready.last_transition_time == datetime(2026, 1, 1, 10, 0, tzinfo=UTC)


def test_ready_means_not_reconciling_and_not_stalled() -> None:
    conditions = mark_ready((), generation=4, now=T0, message="2/2 validator pods ready")
    assert statuses(conditions) == {
        "Ready": ("True", "Available"),
        "Reconciling": ("False", "Converged"),
        "Stalled": ("False", "Converged"),
    }
    assert all(c.observed_generation == 4 for c in conditions)


def test_a_rollout_in_progress_is_reconciling_and_not_ready() -> None:
    conditions = mark_reconciling(
        (), generation=2, now=T0, reason=Reason.DEPLOYMENT_UNAVAILABLE, message="0/1 ready"
    )
    assert statuses(conditions) == {
        "Ready": ("False", "DeploymentUnavailable"),
        "Reconciling": ("True", "DeploymentUnavailable"),
        "Stalled": ("False", "DeploymentUnavailable"),
    }


@pytest.mark.parametrize(
    "reason",
    [
        Reason.SCHEMA_NOT_FOUND,
        Reason.SECRET_NOT_FOUND,
        Reason.INVALID_SPEC,
        Reason.INCOMPATIBLE_SCHEMA,
        Reason.INVALID_SCHEMA,
    ],
)
def test_a_problem_only_the_user_can_fix_stalls_the_object(reason: Reason) -> None:
    conditions = mark_stalled((), generation=7, now=T0, reason=reason, message="details")
    assert statuses(conditions) == {
        "Ready": ("False", reason.value),
        "Reconciling": ("False", reason.value),
        "Stalled": ("True", reason.value),
    }
    stalled = find_condition(conditions, ConditionType.STALLED)
    assert stalled is not None
    assert stalled.message == "details"


def test_recovering_from_a_stall_moves_every_transition_time() -> None:
    stalled = mark_stalled((), generation=1, now=T0, reason=Reason.SECRET_NOT_FOUND, message="")
    ready = mark_ready(stalled, generation=2, now=T1, message="ok")
    times = {c.type: c.last_transition_time for c in ready}
    assert times["Ready"] == T1.replace(microsecond=0)
    assert times["Stalled"] == T1.replace(microsecond=0)
    # Reconciling was False and stays False: its transition time is kept.
    assert times["Reconciling"] == T0.replace(microsecond=0)


def test_the_pause_annotation_adds_reconciliation_paused_and_keeps_ready() -> None:
    ready = mark_ready((), generation=1, now=T0, message="ok")
    paused = mark_reconciliation_paused(ready, generation=2, now=T1)

    assert is_true(paused, ConditionType.RECONCILIATION_PAUSED)
    assert statuses(paused)["Ready"] == ("True", "Available")
    assert statuses(paused)["Reconciling"] == ("False", "ReconciliationPaused")


def test_resuming_reconciliation_removes_the_paused_condition() -> None:
    paused = mark_reconciliation_paused((), generation=1, now=T0)
    resumed = mark_ready(paused, generation=1, now=T1, message="ok")
    assert find_condition(resumed, ConditionType.RECONCILIATION_PAUSED) is None


def test_conditions_round_trip_through_the_status_json() -> None:
    conditions = mark_stalled((), generation=1, now=T0, reason=Reason.INVALID_SPEC, message="x")
    dumped = dump_conditions(conditions)
    assert dumped[0] == {
        "type": "Ready",
        "status": "False",
        "observedGeneration": 1,
        "lastTransitionTime": "2026-01-02T03:04:05Z",
        "reason": "InvalidSpec",
        "message": "x",
    }
    assert load_conditions(dumped) == conditions


def test_malformed_conditions_in_a_status_are_ignored() -> None:
    good = dump_conditions(mark_ready((), generation=1, now=T0, message=""))
    assert len(load_conditions([*good, {"type": "Broken"}, "nonsense"])) == 3
    assert load_conditions(None) == ()


def test_removing_an_absent_condition_changes_nothing() -> None:
    conditions = mark_ready((), generation=1, now=T0, message="")
    assert remove_condition(conditions, "Nope") == conditions


def test_every_reason_is_camel_case() -> None:
    for reason in Reason:
        assert reason.value[0].isupper()
        assert reason.value.isalnum()


class TestConditionEvents:
    """Only the transitions worth a Kubernetes Event become one."""

    def test_becoming_ready_is_a_normal_event(self) -> None:
        before = mark_reconciling((), generation=1, now=T0, message="0/1 ready")
        after = mark_ready(before, generation=1, now=T1, message="1/1 ready")
        assert condition_events(before, after) == [
            ConditionEvent(EventType.NORMAL, "Available", "1/1 ready")
        ]

    def test_staying_ready_with_another_message_is_no_event(self) -> None:
        before = mark_ready((), generation=1, now=T0, message="1/1 ready")
        after = mark_ready(before, generation=2, now=T1, message="3/3 ready")
        assert condition_events(before, after) == []

    def test_ready_for_another_reason_is_an_event(self) -> None:
        before = mark_ready((), generation=1, now=T0, message="1/1 ready")
        after = mark_ready(
            before, generation=2, now=T1, reason=Reason.PIPELINE_PAUSED, message="paused"
        )
        assert condition_events(before, after) == [
            ConditionEvent(EventType.NORMAL, "PipelinePaused", "paused")
        ]

    def test_progress_is_no_event(self) -> None:
        before = mark_reconciling((), generation=1, now=T0, message="0/2 ready")
        after = mark_reconciling(before, generation=1, now=T1, message="1/2 ready")
        assert condition_events((), before) == []
        assert condition_events(before, after) == []

    def test_stalling_is_a_warning_and_stalling_anew_another(self) -> None:
        first = mark_stalled(
            (), generation=1, now=T0, reason=Reason.SECRET_NOT_FOUND, message="no s3"
        )
        same = mark_stalled(
            first, generation=1, now=T1, reason=Reason.SECRET_NOT_FOUND, message="no s3"
        )
        other = mark_stalled(
            same, generation=2, now=T1, reason=Reason.SCHEMA_NOT_FOUND, message="no schema"
        )
        assert condition_events((), first) == [
            ConditionEvent(EventType.WARNING, "SecretNotFound", "no s3")
        ]
        assert condition_events(first, same) == []
        assert condition_events(same, other) == [
            ConditionEvent(EventType.WARNING, "SchemaNotFound", "no schema")
        ]

    def test_pausing_and_resuming_reconciliation_are_events(self) -> None:
        ready = mark_ready((), generation=1, now=T0, message="ok")
        paused = mark_reconciliation_paused(ready, generation=1, now=T1)
        resumed = mark_ready(paused, generation=1, now=T1, message="ok")
        (pause,) = condition_events(ready, paused)
        assert (pause.type, pause.reason) == (EventType.NORMAL, "ReconciliationPaused")
        (resume,) = condition_events(paused, resumed)
        assert (resume.type, resume.reason) == (EventType.NORMAL, "ReconciliationResumed")
