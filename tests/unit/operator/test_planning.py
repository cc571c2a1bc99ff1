"""Given a pipeline's spec and what exists, the plan says what to write and the status tells the
truth."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from quarantine_operator.api.v1alpha1 import PAUSE_RECONCILIATION_ANNOTATION
from quarantine_operator.checks import Problem
from quarantine_operator.planning import (
    ChildKey,
    RolloutState,
    check_pipeline,
    converging_status,
    deployment_rollout,
    find_reference_problems,
    is_reconciliation_paused,
    paused_status,
    plan_children,
    stalled_status,
    status_differs,
)
from quarantine_operator.render import ChildKind, Owner, child_names
from quarantine_operator.status import Reason, load_conditions
from validator_pod.domain.schemas import SchemaVersion

from .builders import pipeline_document, pipeline_spec, schema_version

T0 = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
IMAGE = "registry.local/dataquarantine:test"
SECRETS = {
    "kafka-creds": {"sasl.username"},
    "s3-creds": {"accessKey", "secretKey"},
    "pg-creds": {"dsn"},
    "api-tokens": {"tokens"},
}
SCHEMAS: dict[str, list[SchemaVersion] | None] = {
    "orders": [schema_version("orders", 1), schema_version("orders", 2, note={"type": "string"})]
}


def nothing_exists(pipeline: str = "orders") -> dict[ChildKey, dict[str, Any] | None]:
    return dict.fromkeys(child_names(pipeline))


def controlled(kind: ChildKind, name: str, uid: str, own_uid: str = "child-uid") -> dict[str, Any]:
    return {
        "kind": kind.value,
        "metadata": {
            "name": name,
            "uid": own_uid,
            "ownerReferences": [{"uid": uid, "controller": True, "name": "orders"}],
        },
    }


def deployment(
    *, desired: int, replicas: int, ready: int, updated: int | None = None, **status: Any
) -> dict[str, Any]:
    updated = desired if updated is None else updated
    return {
        "metadata": {"name": "orders-validator", "generation": 2},
        "status": {
            "observedGeneration": 2,
            "replicas": replicas,
            "readyReplicas": ready,
            "updatedReplicas": updated,
            "availableReplicas": ready,
            **status,
        },
    }


def conditions_of(status: dict[str, Any]) -> dict[str, tuple[str, str, str]]:
    return {
        c.type: (c.status.value, c.reason, c.message) for c in load_conditions(status["conditions"])
    }


# --- Spec and references ----------------------------------------------------------------------


def test_a_sound_spec_parses_without_problems() -> None:
    spec, problems = check_pipeline("orders", pipeline_document())
    assert spec is not None
    assert problems == []


def test_an_unparsable_spec_and_a_bad_name_are_invalid_specs() -> None:
    spec, problems = check_pipeline("orders", pipeline_document(replicas=-1))
    assert spec is None
    assert [p.reason for p in problems] == [Reason.INVALID_SPEC]
    spec, problems = check_pipeline("Orders_1", pipeline_document())
    assert spec is None
    assert "must be a DNS label" in problems[0].message


def test_missing_schemas_and_secrets_are_both_reported() -> None:
    problems = find_reference_problems(
        pipeline_spec(), {"orders": None}, {**SECRETS, "pg-creds": None, "s3-creds": {"x"}}
    )
    assert [p.reason for p in problems] == [
        Reason.SCHEMA_NOT_FOUND,
        Reason.SECRET_NOT_FOUND,
        Reason.SECRET_NOT_FOUND,
    ]
    assert "ValidationSchema 'orders' does not exist" in problems[0].message


def test_a_schema_without_versions_is_not_found_yet() -> None:
    (problem,) = find_reference_problems(pipeline_spec(), {"orders": []}, SECRETS)
    assert problem.message.endswith("has no published version yet")


@pytest.mark.parametrize(
    ("value", "paused"),
    [("true", True), ("True", True), (" true ", True), ("false", False), ("", False)],
)
def test_only_a_true_annotation_pauses_reconciliation(value: str, paused: bool) -> None:
    assert is_reconciliation_paused({PAUSE_RECONCILIATION_ANNOTATION: value}) is paused
    assert is_reconciliation_paused(None) is False


# --- Children ---------------------------------------------------------------------------------


def test_a_new_pipeline_applies_its_four_children_with_the_latest_version(owner: Owner) -> None:
    plan = plan_children(owner, pipeline_spec(), SCHEMAS, nothing_exists(), default_image=IMAGE)
    assert plan.problems == ()
    assert plan.delete == ()
    assert [(o["kind"], o["metadata"]["name"]) for o in plan.apply] == [
        ("ConfigMap", "orders-config"),
        ("Deployment", "orders-validator"),
        ("Deployment", "orders-api"),
        ("Service", "orders-api"),
    ]
    assert plan.rendered is not None
    assert plan.rendered.schemas_status() == [{"name": "orders", "version": 2}]
    validator = plan.apply[1]["spec"]["template"]["spec"]["containers"][0]
    assert validator["image"] == IMAGE


def test_a_pinned_version_is_used_even_when_a_newer_one_exists(owner: Owner) -> None:
    spec = pipeline_spec(schemaSelection={"schemaRef": {"name": "orders", "version": 1}})
    plan = plan_children(owner, spec, SCHEMAS, nothing_exists(), default_image=IMAGE)
    assert plan.rendered is not None
    assert plan.rendered.schemas_status() == [{"name": "orders", "version": 1}]


def test_a_new_latest_version_changes_the_config_hash(owner: Owner) -> None:
    older = {"orders": [schema_version("orders", 1)]}
    before = plan_children(owner, pipeline_spec(), older, nothing_exists(), default_image=IMAGE)
    after = plan_children(owner, pipeline_spec(), SCHEMAS, nothing_exists(), default_image=IMAGE)
    assert before.rendered is not None
    assert after.rendered is not None
    assert before.rendered.config_hash != after.rendered.config_hash


def test_children_the_pipeline_controls_are_applied_again(owner: Owner) -> None:
    observed = {key: controlled(key[0], key[1], owner.uid) for key in child_names(owner.name)}
    plan = plan_children(owner, pipeline_spec(), SCHEMAS, observed, default_image=IMAGE)
    assert plan.problems == ()
    assert len(plan.apply) == 4


def test_an_object_of_someone_else_with_a_childs_name_is_a_conflict(owner: Owner) -> None:
    observed = nothing_exists()
    observed[(ChildKind.DEPLOYMENT, "orders-validator")] = controlled(
        ChildKind.DEPLOYMENT, "orders-validator", "another-owner"
    )
    observed[(ChildKind.SERVICE, "orders-api")] = {"kind": "Service", "metadata": {"name": "x"}}
    plan = plan_children(owner, pipeline_spec(), SCHEMAS, observed, default_image=IMAGE)
    assert plan.apply == ()
    assert [p.reason for p in plan.problems] == [Reason.RESOURCE_CONFLICT] * 2
    assert "Deployment 'orders-validator' already exists" in plan.problems[0].message


def test_turning_the_api_off_deletes_its_deployment_and_service(owner: Owner) -> None:
    spec = pipeline_spec(api={"enabled": False})
    observed = nothing_exists()
    observed[(ChildKind.DEPLOYMENT, "orders-api")] = controlled(
        ChildKind.DEPLOYMENT, "orders-api", owner.uid, own_uid="api-uid"
    )
    observed[(ChildKind.SERVICE, "orders-api")] = controlled(
        ChildKind.SERVICE, "orders-api", "someone-else"
    )
    plan = plan_children(owner, spec, SCHEMAS, observed, default_image=IMAGE)
    assert [o["kind"] for o in plan.apply] == ["ConfigMap", "Deployment"]
    # Only what the pipeline controls is deleted.
    assert plan.delete == ((ChildKind.DEPLOYMENT, "orders-api", "api-uid"),)


# --- Rollout ----------------------------------------------------------------------------------


def test_a_deployment_with_every_pod_ready_is_available() -> None:
    rollout = deployment_rollout(deployment(desired=3, replicas=3, ready=3), 3)
    assert (rollout.state, rollout.message) == (
        RolloutState.AVAILABLE,
        "3/3 validator pods ready",
    )


@pytest.mark.parametrize(
    ("found", "message"),
    [
        (deployment(desired=1, replicas=1, ready=0), "0/1 validator pods ready"),
        (
            deployment(desired=2, replicas=3, ready=1, updated=1),
            "1/2 validator pods ready; 1/2 updated",
        ),
        (
            deployment(desired=2, replicas=3, ready=2, updated=2),
            "2/2 validator pods ready; 1 old pods left",
        ),
        (
            {**deployment(desired=1, replicas=1, ready=1), "metadata": {"generation": 3}},
            "1/1 validator pods ready; the new spec is not observed yet",
        ),
    ],
)
def test_a_deployment_on_its_way_is_progressing(found: dict[str, Any], message: str) -> None:
    rollout = deployment_rollout(found, 2 if "/2" in message else 1)
    assert (rollout.state, rollout.message) == (RolloutState.PROGRESSING, message)


def test_a_deployment_past_its_progress_deadline_has_failed() -> None:
    stuck = deployment(
        desired=1,
        replicas=1,
        ready=0,
        conditions=[
            {"type": "Available", "status": "False"},
            {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"},
        ],
    )
    rollout = deployment_rollout(stuck, 1)
    assert rollout.state is RolloutState.FAILED
    assert "exceeded its progress deadline" in rollout.message


def test_a_deployment_without_status_yet_is_progressing_with_zero_pods() -> None:
    rollout = deployment_rollout({"metadata": {"generation": 1}}, 1)
    assert (rollout.state, rollout.replicas, rollout.ready_replicas) == (
        RolloutState.PROGRESSING,
        0,
        0,
    )


# --- Status -----------------------------------------------------------------------------------


def converged(owner: Owner, validator: dict[str, Any], **spec: Any) -> dict[str, Any]:
    parsed = pipeline_spec(**spec)
    plan = plan_children(owner, parsed, SCHEMAS, nothing_exists(), default_image=IMAGE)
    assert plan.rendered is not None
    return converging_status(
        {},
        owner=owner,
        spec=parsed,
        rendered=plan.rendered,
        validator=validator,
        generation=2,
        now=T0,
    )


def test_a_running_pipeline_with_ready_pods_is_ready_and_reports_everything(
    owner: Owner,
) -> None:
    status = converged(owner, deployment(desired=1, replicas=1, ready=1))
    assert conditions_of(status) == {
        "Ready": ("True", "Available", "1/1 validator pods ready"),
        "Reconciling": ("False", "Converged", ""),
        "Stalled": ("False", "Converged", ""),
    }
    assert status["observedGeneration"] == 2
    assert (status["replicas"], status["readyReplicas"]) == (1, 1)
    assert status["selector"] == (
        "app.kubernetes.io/component=validator,app.kubernetes.io/instance=orders,"
        "app.kubernetes.io/name=dataquarantine"
    )
    assert status["schemas"] == [{"name": "orders", "version": 2}]
    assert status["apiEndpoint"] == "http://orders-api.shop.svc"
    assert len(status["configHash"]) == 64


def test_a_running_pipeline_without_ready_pods_is_reconciling_with_deployment_unavailable(
    owner: Owner,
) -> None:
    status = converged(owner, deployment(desired=1, replicas=1, ready=0))
    assert conditions_of(status)["Ready"] == (
        "False",
        "DeploymentUnavailable",
        "0/1 validator pods ready",
    )
    assert conditions_of(status)["Reconciling"][0] == "True"
    assert conditions_of(status)["Stalled"][0] == "False"


def test_a_rollout_with_enough_ready_pods_is_progressing(owner: Owner) -> None:
    status = converged(owner, deployment(desired=1, replicas=2, ready=1, updated=1))
    assert conditions_of(status)["Ready"][:2] == ("False", "Progressing")


def test_a_failed_rollout_stalls_the_pipeline(owner: Owner) -> None:
    stuck = deployment(
        desired=1,
        replicas=1,
        ready=0,
        conditions=[{"type": "Progressing", "reason": "ProgressDeadlineExceeded"}],
    )
    status = converged(owner, stuck)
    assert conditions_of(status)["Stalled"][:2] == ("True", "DeploymentUnavailable")


@pytest.mark.parametrize(
    ("state", "reason", "words"),
    [("paused", "PipelinePaused", "paused"), ("stopped", "PipelineStopped", "stopped")],
)
def test_a_paused_or_stopped_pipeline_is_ready_once_scaled_to_zero(
    owner: Owner, state: str, reason: str, words: str
) -> None:
    scaling = converged(owner, deployment(desired=0, replicas=1, ready=1, updated=0), state=state)
    assert conditions_of(scaling)["Ready"] == (
        "False",
        reason,
        "scaling the validators to zero: 1 pods left",
    )
    scaled = converged(owner, deployment(desired=0, replicas=0, ready=0), state=state)
    ready = conditions_of(scaled)["Ready"]
    assert ready[:2] == ("True", reason)
    assert words in ready[2]


def test_a_pipeline_without_api_has_no_endpoint(owner: Owner) -> None:
    status = converged(owner, deployment(desired=1, replicas=1, ready=1), api={"enabled": False})
    assert status["apiEndpoint"] is None


def test_a_stalled_pipeline_reports_every_problem_and_nothing_else(owner: Owner) -> None:
    problems = [
        Problem(Reason.SECRET_NOT_FOUND, "kafka.secretRef: Secret 'k' does not exist"),
        Problem(Reason.SCHEMA_NOT_FOUND, "schemaSelection.schemaRef: missing"),
    ]
    status = stalled_status({"replicas": 1}, problems, generation=3, now=T0)
    assert set(status) == {"observedGeneration", "conditions"}
    assert conditions_of(status)["Ready"] == (
        "False",
        "SecretNotFound",
        "kafka.secretRef: Secret 'k' does not exist; schemaSelection.schemaRef: missing",
    )
    assert conditions_of(status)["Stalled"][0] == "True"


def test_a_paused_pipeline_keeps_its_ready_condition(owner: Owner) -> None:
    before = converged(owner, deployment(desired=1, replicas=1, ready=1))
    status = paused_status(before, generation=3, now=T0)
    assert set(status) == {"observedGeneration", "conditions"}
    conditions = conditions_of(status)
    assert conditions["Ready"][:2] == ("True", "Available")
    assert conditions["ReconciliationPaused"][:2] == ("True", "ReconciliationPaused")
    assert conditions["Reconciling"][0] == "False"


def test_resuming_drops_the_paused_condition(owner: Owner) -> None:
    paused = paused_status({}, generation=3, now=T0)
    parsed = pipeline_spec()
    plan = plan_children(owner, parsed, SCHEMAS, nothing_exists(), default_image=IMAGE)
    assert plan.rendered is not None
    status = converging_status(
        paused,
        owner=owner,
        spec=parsed,
        rendered=plan.rendered,
        validator=deployment(desired=1, replicas=1, ready=1),
        generation=3,
        now=T0,
    )
    assert "ReconciliationPaused" not in conditions_of(status)


def test_a_status_is_written_only_when_it_changes() -> None:
    current = {"replicas": 1, "apiEndpoint": "http://x", "stats": {"quarantinedTotal": 3}}
    assert not status_differs(current, {"replicas": 1, "apiEndpoint": "http://x"})
    assert status_differs(current, {"replicas": 2})
    assert status_differs(current, {"apiEndpoint": None})
    assert not status_differs({}, {"apiEndpoint": None})
