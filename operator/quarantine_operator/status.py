"""Pure condition bookkeeping for both custom resources (`metav1.Condition` semantics).

`Ready` is the summary; `Reconciling` is true while the operator converges; `Stalled` is true when
it cannot converge without a change by the user (kstatus conventions). The clock is an argument:
nothing here reads the time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from pydantic import ValidationError

from quarantine_operator.api.v1alpha1 import Condition, ConditionStatus


class ConditionType(StrEnum):
    """The condition types the operator writes."""

    READY = "Ready"
    RECONCILING = "Reconciling"
    STALLED = "Stalled"
    RECONCILIATION_PAUSED = "ReconciliationPaused"


class Reason(StrEnum):
    """Why a condition has its status (CamelCase, stable: alerts and tools match on them)."""

    AVAILABLE = "Available"
    PROGRESSING = "Progressing"
    PIPELINE_PAUSED = "PipelinePaused"
    PIPELINE_STOPPED = "PipelineStopped"
    SCHEMA_PUBLISHED = "SchemaPublished"
    INVALID_SPEC = "InvalidSpec"
    SCHEMA_NOT_FOUND = "SchemaNotFound"
    SECRET_NOT_FOUND = "SecretNotFound"  # noqa: S105 (a reason, not a password)
    DEPLOYMENT_UNAVAILABLE = "DeploymentUnavailable"
    INCOMPATIBLE_SCHEMA = "IncompatibleSchema"
    INVALID_SCHEMA = "InvalidSchema"
    RECONCILIATION_PAUSED = "ReconciliationPaused"
    RECONCILIATION_RESUMED = "ReconciliationResumed"
    RESOURCE_CONFLICT = "ResourceConflict"
    APPLY_FAILED = "ApplyFailed"
    CONVERGED = "Converged"


def rfc3339_now(now: datetime) -> datetime:
    """`now` in UTC at whole seconds, as `metav1.Time` stores it; refuses naive datetimes."""
    if now.tzinfo is None:
        raise ValueError("the clock must return timezone-aware datetimes")
    return now.astimezone(UTC).replace(microsecond=0)


def find_condition(conditions: Sequence[Condition], type_: str) -> Condition | None:
    """The condition of this type, if any."""
    return next((condition for condition in conditions if condition.type == type_), None)


def is_true(conditions: Sequence[Condition], type_: str) -> bool:
    """Whether the condition of this type exists with status True."""
    condition = find_condition(conditions, type_)
    return condition is not None and condition.status is ConditionStatus.TRUE


def set_condition(
    conditions: Sequence[Condition],
    type_: str,
    status: ConditionStatus,
    reason: str,
    message: str,
    *,
    generation: int | None,
    now: datetime,
) -> tuple[Condition, ...]:
    """Conditions with `type_` set (added at the end, or replaced in place).

    `lastTransitionTime` moves only when the status changes, as `meta.SetStatusCondition` does.
    """
    previous = find_condition(conditions, type_)
    transition = (
        previous.last_transition_time
        if previous is not None and previous.status is status
        else rfc3339_now(now)
    )
    updated = Condition(
        type=type_,
        status=status,
        reason=reason,
        message=message,
        observed_generation=generation,
        last_transition_time=transition,
    )
    if previous is None:
        return (*conditions, updated)
    return tuple(updated if condition.type == type_ else condition for condition in conditions)


def remove_condition(conditions: Sequence[Condition], type_: str) -> tuple[Condition, ...]:
    """Conditions without `type_`."""
    return tuple(condition for condition in conditions if condition.type != type_)


def _summarise(
    conditions: Sequence[Condition],
    *,
    ready: ConditionStatus,
    reconciling: bool,
    stalled: bool,
    reason: str,
    message: str,
    generation: int | None,
    now: datetime,
) -> tuple[Condition, ...]:
    result = remove_condition(conditions, ConditionType.RECONCILIATION_PAUSED)
    result = set_condition(
        result, ConditionType.READY, ready, reason, message, generation=generation, now=now
    )
    # An inactive abnormal-true condition says why it is inactive: converged, or the summary's
    # reason (Stalled=False because the operator is still Progressing, and vice versa).
    inactive_reason = Reason.CONVERGED if ready is ConditionStatus.TRUE else reason
    for type_, active in (
        (ConditionType.RECONCILING, reconciling),
        (ConditionType.STALLED, stalled),
    ):
        result = set_condition(
            result,
            type_,
            ConditionStatus.TRUE if active else ConditionStatus.FALSE,
            reason if active else inactive_reason,
            message if active else "",
            generation=generation,
            now=now,
        )
    return result


def mark_ready(
    conditions: Sequence[Condition],
    *,
    generation: int | None,
    now: datetime,
    message: str,
    reason: str = Reason.AVAILABLE,
) -> tuple[Condition, ...]:
    """Converged: Ready=True, Reconciling=False, Stalled=False."""
    return _summarise(
        conditions,
        ready=ConditionStatus.TRUE,
        reconciling=False,
        stalled=False,
        reason=reason,
        message=message,
        generation=generation,
        now=now,
    )


def mark_reconciling(
    conditions: Sequence[Condition],
    *,
    generation: int | None,
    now: datetime,
    message: str,
    reason: str = Reason.PROGRESSING,
) -> tuple[Condition, ...]:
    """Converging (e.g. a rollout in progress): Ready=False, Reconciling=True, Stalled=False."""
    return _summarise(
        conditions,
        ready=ConditionStatus.FALSE,
        reconciling=True,
        stalled=False,
        reason=reason,
        message=message,
        generation=generation,
        now=now,
    )


def mark_stalled(
    conditions: Sequence[Condition],
    *,
    generation: int | None,
    now: datetime,
    reason: str,
    message: str,
) -> tuple[Condition, ...]:
    """Cannot converge until the user changes something (an invalid spec, a missing Secret or
    schema, a refused schema change): Ready=False, Reconciling=False, Stalled=True."""
    return _summarise(
        conditions,
        ready=ConditionStatus.FALSE,
        reconciling=False,
        stalled=True,
        reason=reason,
        message=message,
        generation=generation,
        now=now,
    )


def mark_reconciliation_paused(
    conditions: Sequence[Condition], *, generation: int | None, now: datetime
) -> tuple[Condition, ...]:
    """The pause annotation is set: the operator leaves the workload as it is.

    Ready keeps its last value (the workload still runs as it was); Reconciling turns False.
    """
    message = "the annotation dataquarantine.io/pause-reconciliation is 'true'"
    result = set_condition(
        conditions,
        ConditionType.RECONCILIATION_PAUSED,
        ConditionStatus.TRUE,
        Reason.RECONCILIATION_PAUSED,
        message,
        generation=generation,
        now=now,
    )
    return set_condition(
        result,
        ConditionType.RECONCILING,
        ConditionStatus.FALSE,
        Reason.RECONCILIATION_PAUSED,
        message,
        generation=generation,
        now=now,
    )


def dump_conditions(conditions: Sequence[Condition]) -> list[dict[str, object]]:
    """Conditions as the JSON the status subresource stores."""
    return [
        condition.model_dump(mode="json", by_alias=True, exclude_none=True)
        for condition in conditions
    ]


def load_conditions(raw: object) -> tuple[Condition, ...]:
    """Conditions from an object's status; malformed entries (edited by hand) are dropped."""
    if not isinstance(raw, list):
        return ()
    loaded: list[Condition] = []
    for entry in raw:
        try:
            loaded.append(Condition.model_validate(entry))
        except ValidationError:
            continue
    return tuple(loaded)


class EventType(StrEnum):
    """The type of a Kubernetes Event."""

    NORMAL = "Normal"
    WARNING = "Warning"


@dataclass(frozen=True, slots=True)
class ConditionEvent:
    """A Kubernetes Event worth posting for a change of conditions."""

    type: EventType
    reason: str
    message: str


def _changed(previous: Condition | None, current: Condition | None) -> bool:
    if current is None or current.status is not ConditionStatus.TRUE:
        return False
    return (
        previous is None
        or previous.status is not ConditionStatus.TRUE
        or (previous.reason, previous.message) != (current.reason, current.message)
    )


def condition_events(
    previous: Sequence[Condition], current: Sequence[Condition]
) -> list[ConditionEvent]:
    """The important transitions between two sets of conditions, as Events: becoming Ready
    (Normal), becoming Stalled or stalling for another reason (Warning), pausing and resuming
    reconciliation (Normal). Progress in between (Reconciling) is not worth an Event."""
    events: list[ConditionEvent] = []
    paused_before = find_condition(previous, ConditionType.RECONCILIATION_PAUSED)
    paused_now = find_condition(current, ConditionType.RECONCILIATION_PAUSED)
    if _changed(paused_before, paused_now):
        assert paused_now is not None
        events.append(ConditionEvent(EventType.NORMAL, paused_now.reason, paused_now.message))
    elif is_true(previous, ConditionType.RECONCILIATION_PAUSED) and paused_now is None:
        events.append(
            ConditionEvent(
                EventType.NORMAL,
                Reason.RECONCILIATION_RESUMED,
                "the pause annotation is gone: reconciling again",
            )
        )
    stalled_now = find_condition(current, ConditionType.STALLED)
    if _changed(find_condition(previous, ConditionType.STALLED), stalled_now):
        assert stalled_now is not None
        events.append(ConditionEvent(EventType.WARNING, stalled_now.reason, stalled_now.message))
    ready_now = find_condition(current, ConditionType.READY)
    ready_before = find_condition(previous, ConditionType.READY)
    became_ready = (
        ready_now is not None
        and ready_now.status is ConditionStatus.TRUE
        and (
            ready_before is None
            or ready_before.status is not ConditionStatus.TRUE
            or ready_before.reason != ready_now.reason
        )
    )
    if became_ready:
        assert ready_now is not None
        events.append(ConditionEvent(EventType.NORMAL, ready_now.reason, ready_now.message))
    return events
