"""Pure decisions for a QuarantinePipeline: from its spec and what exists, what to apply, what to
delete, and the status that tells the truth.

    raw spec ──check_pipeline──▶ spec, or InvalidSpec problems
    spec + schema versions + Secret key names ──find_reference_problems──▶ SchemaNotFound,
                                                                           SecretNotFound
    spec + versions + existing children ──plan_children──▶ objects to apply and to delete,
                                                          or ResourceConflict (a name is taken)
    validator Deployment ──deployment_rollout──▶ available | progressing | failed
    ──paused_status / stalled_status / converging_status──▶ the status patch to write

Any problem stalls the pipeline (Ready=False, Stalled=True) and leaves its children as they are:
a running workload keeps running with its last good configuration.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Final

from quarantine_operator.api.v1alpha1 import (
    PAUSE_RECONCILIATION_ANNOTATION,
    PipelineState,
    QuarantinePipelineSpec,
)
from quarantine_operator.checks import (
    Problem,
    find_schema_problems,
    find_secret_problems,
    find_spec_problems,
    parse_spec,
    summarize,
)
from quarantine_operator.render import (
    ChildKind,
    Owner,
    RenderedPipeline,
    api_endpoint,
    api_name,
    build_pipeline_config,
    controller_uid,
    render_pipeline,
    resolve_schema_selection,
    validator_replicas,
    validator_selector,
)
from quarantine_operator.status import (
    Reason,
    dump_conditions,
    load_conditions,
    mark_ready,
    mark_reconciliation_paused,
    mark_reconciling,
    mark_stalled,
)
from validator_pod.domain.pipeline_config import SchemaRef
from validator_pod.domain.schemas import SchemaVersion

SchemaVersions = Mapping[str, Sequence[SchemaVersion] | None]
"""ValidationSchema name → its published versions; None when the ValidationSchema is missing."""
SecretKeys = Mapping[str, Collection[str] | None]
"""Secret name → the key names it holds; None when the Secret is missing."""
ChildKey = tuple[ChildKind, str]

# Problems that a change of other objects solves (a Secret or schema appears, a conflicting
# object goes away): worth checking again without waiting for the user to edit the pipeline.
WAITING_REASONS: Final = frozenset(
    {Reason.SCHEMA_NOT_FOUND, Reason.SECRET_NOT_FOUND, Reason.RESOURCE_CONFLICT}
)


def is_reconciliation_paused(annotations: Mapping[str, str] | None) -> bool:
    """Whether the pause annotation asks the operator to leave the pipeline alone."""
    value = (annotations or {}).get(PAUSE_RECONCILIATION_ANNOTATION, "")
    return value.strip().lower() == "true"


def check_pipeline(name: str, raw_spec: Any) -> tuple[QuarantinePipelineSpec | None, list[Problem]]:
    """The parsed spec, or the InvalidSpec problems that prevent using it."""
    spec, problems = parse_spec(QuarantinePipelineSpec, raw_spec)
    if spec is None:
        return None, problems
    problems = find_spec_problems(name, spec)
    return (None, problems) if problems else (spec, [])


def find_reference_problems(
    spec: QuarantinePipelineSpec, schemas: SchemaVersions, secrets: SecretKeys
) -> list[Problem]:
    """Referenced ValidationSchemas or versions that are missing, and Secrets that are missing
    or lack a required key."""
    published = {
        name: [version.version for version in versions]
        for name, versions in schemas.items()
        if versions is not None
    }
    existing = {name: keys for name, keys in secrets.items() if keys is not None}
    return find_schema_problems(spec, published) + find_secret_problems(spec, existing)


# --- Children ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ChildrenPlan:
    """What to write: objects to apply (in order), children to delete (kind, name, uid), or
    the problems that forbid writing anything."""

    rendered: RenderedPipeline | None
    apply: tuple[dict[str, Any], ...] = ()
    delete: tuple[tuple[ChildKind, str, str], ...] = ()
    problems: tuple[Problem, ...] = ()


def _key(obj: Mapping[str, Any]) -> ChildKey:
    return ChildKind(obj["kind"]), str(obj["metadata"]["name"])


def plan_children(
    owner: Owner,
    spec: QuarantinePipelineSpec,
    schemas: SchemaVersions,
    observed: Mapping[ChildKey, Mapping[str, Any] | None],
    *,
    default_image: str,
) -> ChildrenPlan:
    """The children to apply and delete, given the published versions of every referenced
    schema (`find_reference_problems` found none missing) and the children that exist now.

    An existing object with a child's name that this pipeline does not control is a conflict:
    the operator never takes over somebody else's object.
    """
    published = {name: [v.version for v in versions or ()] for name, versions in schemas.items()}
    selection = resolve_schema_selection(spec, published)
    config = build_pipeline_config(owner, spec, selection)
    by_ref = {
        SchemaRef(name=version.name, version=version.version): version
        for versions in schemas.values()
        for version in versions or ()
    }
    versions = [by_ref[ref] for ref in config.referenced_schemas()]
    rendered = render_pipeline(owner, spec, config, versions, default_image=default_image)
    conflicts = []
    for obj in rendered.objects():
        existing = observed.get(_key(obj))
        if existing is not None and controller_uid(existing) != owner.uid:
            kind, name = _key(obj)
            conflicts.append(
                Problem(
                    Reason.RESOURCE_CONFLICT,
                    f"{kind} {name!r} already exists and is not controlled by this pipeline: "
                    "delete or rename it",
                )
            )
    if conflicts:
        return ChildrenPlan(rendered=None, problems=tuple(conflicts))
    delete: list[tuple[ChildKind, str, str]] = []
    if not spec.api.enabled:
        for kind in (ChildKind.DEPLOYMENT, ChildKind.SERVICE):
            existing = observed.get((kind, api_name(owner.name)))
            uid = (existing or {}).get("metadata", {}).get("uid")
            if existing is not None and uid and controller_uid(existing) == owner.uid:
                delete.append((kind, api_name(owner.name), str(uid)))
    return ChildrenPlan(rendered=rendered, apply=rendered.objects(), delete=tuple(delete))


# --- Rollout ----------------------------------------------------------------------------------


class RolloutState(StrEnum):
    """Where the validator Deployment stands."""

    AVAILABLE = "available"
    PROGRESSING = "progressing"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class Rollout:
    """The validator Deployment's progress towards `desired` ready pods."""

    state: RolloutState
    replicas: int
    ready_replicas: int
    message: str


def _count(status: Mapping[str, Any], key: str) -> int:
    value = status.get(key)
    return int(value) if isinstance(value, int) else 0


def deployment_rollout(deployment: Mapping[str, Any], desired: int) -> Rollout:
    """How far the Deployment is, read as `kubectl rollout status` reads it."""
    metadata = deployment.get("metadata") or {}
    status = deployment.get("status") or {}
    replicas = _count(status, "replicas")
    ready = _count(status, "readyReplicas")
    updated = _count(status, "updatedReplicas")
    available = _count(status, "availableReplicas")
    pods = f"{ready}/{desired} validator pods ready"

    def rollout(state: RolloutState, message: str) -> Rollout:
        return Rollout(state, replicas, ready, message)

    if _count(status, "observedGeneration") < _count(metadata, "generation"):
        return rollout(RolloutState.PROGRESSING, f"{pods}; the new spec is not observed yet")
    for condition in status.get("conditions") or ():
        if condition.get("type") == "Progressing" and (
            condition.get("reason") == "ProgressDeadlineExceeded"
        ):
            return rollout(
                RolloutState.FAILED,
                f"{pods}; Deployment {metadata.get('name')} exceeded its progress deadline",
            )
    if updated < desired:
        return rollout(RolloutState.PROGRESSING, f"{pods}; {updated}/{desired} updated")
    if replicas > updated:
        return rollout(RolloutState.PROGRESSING, f"{pods}; {replicas - updated} old pods left")
    if available < updated or ready < desired:
        return rollout(RolloutState.PROGRESSING, pods)
    return rollout(RolloutState.AVAILABLE, pods)


# --- Status -----------------------------------------------------------------------------------


def paused_status(
    previous_status: Mapping[str, Any], *, generation: int | None, now: datetime
) -> dict[str, Any]:
    """The pause annotation is set: say so, touch nothing else."""
    conditions = mark_reconciliation_paused(
        load_conditions(previous_status.get("conditions")), generation=generation, now=now
    )
    return {"observedGeneration": generation, "conditions": dump_conditions(conditions)}


def stalled_status(
    previous_status: Mapping[str, Any],
    problems: Sequence[Problem],
    *,
    generation: int | None,
    now: datetime,
) -> dict[str, Any]:
    """The pipeline cannot converge until the user acts: the first problem is the reason, the
    message lists them all. The rest of the status still describes what runs."""
    conditions = mark_stalled(
        load_conditions(previous_status.get("conditions")),
        generation=generation,
        now=now,
        reason=problems[0].reason,
        message=summarize(problems),
    )
    return {"observedGeneration": generation, "conditions": dump_conditions(conditions)}


_STATE_REASONS: Final = {
    PipelineState.PAUSED: (
        Reason.PIPELINE_PAUSED,
        "the pipeline is paused: its validators are scaled to zero, the API keeps serving",
    ),
    PipelineState.STOPPED: (
        Reason.PIPELINE_STOPPED,
        "the pipeline is stopped: every pod is scaled to zero",
    ),
}


def converging_status(
    previous_status: Mapping[str, Any],
    *,
    owner: Owner,
    spec: QuarantinePipelineSpec,
    rendered: RenderedPipeline,
    validator: Mapping[str, Any],
    generation: int | None,
    now: datetime,
) -> dict[str, Any]:
    """The children are applied: Ready follows the validator Deployment (ready pods against
    the desired count); paused and stopped pipelines are Ready once scaled to zero."""
    conditions = load_conditions(previous_status.get("conditions"))
    desired = validator_replicas(spec)
    rollout = deployment_rollout(validator, desired)
    state_reason = _STATE_REASONS.get(spec.state)
    if state_reason is not None:
        reason, message = state_reason
        if rollout.state is RolloutState.AVAILABLE:
            conditions = mark_ready(
                conditions, generation=generation, now=now, reason=reason, message=message
            )
        else:
            conditions = mark_reconciling(
                conditions,
                generation=generation,
                now=now,
                reason=reason,
                message=f"scaling the validators to zero: {rollout.replicas} pods left",
            )
    elif rollout.state is RolloutState.AVAILABLE:
        conditions = mark_ready(conditions, generation=generation, now=now, message=rollout.message)
    elif rollout.state is RolloutState.FAILED:
        conditions = mark_stalled(
            conditions,
            generation=generation,
            now=now,
            reason=Reason.DEPLOYMENT_UNAVAILABLE,
            message=rollout.message,
        )
    else:
        reason = (
            Reason.DEPLOYMENT_UNAVAILABLE
            if rollout.ready_replicas < desired
            else Reason.PROGRESSING
        )
        conditions = mark_reconciling(
            conditions, generation=generation, now=now, reason=reason, message=rollout.message
        )
    return {
        "observedGeneration": generation,
        "conditions": dump_conditions(conditions),
        "replicas": rollout.replicas,
        "readyReplicas": rollout.ready_replicas,
        "selector": validator_selector(owner.name),
        "schemas": rendered.schemas_status(),
        "apiEndpoint": api_endpoint(owner) if spec.api.enabled else None,
        "configHash": rendered.config_hash,
    }


def status_differs(current: Mapping[str, Any], patch: Mapping[str, Any]) -> bool:
    """Whether merging `patch` (None removes a field) would change `current`."""
    return any(current.get(key) != value for key, value in patch.items())
