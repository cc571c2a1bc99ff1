"""Reconciliation of both kinds: read what exists (`k8s`), decide (`publishing`, `planning`),
write, and report (status, Events, metrics).

Every method reads the object afresh, so it does not matter what triggered it (its own kopf
handler, a child's event, a new schema version, the periodic recheck): reconciliation is
level-based and idempotent. The methods are synchronous (the Kubernetes client is) and run in
kopf's thread pool.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import kopf

from quarantine_operator.api.v1alpha1 import (
    QUARANTINE_PIPELINE,
    VALIDATION_SCHEMA,
    ResourceNames,
    ValidationSchemaSpec,
)
from quarantine_operator.checks import Problem, parse_spec, referenced_schema_names, secret_uses
from quarantine_operator.k8s import ConflictError, Kubernetes, event_body
from quarantine_operator.metrics import Kind, OperatorMetrics, Result
from quarantine_operator.planning import (
    WAITING_REASONS,
    ChildKey,
    SchemaVersions,
    check_pipeline,
    converging_status,
    find_reference_problems,
    is_reconciliation_paused,
    paused_status,
    plan_children,
    stalled_status,
    status_differs,
)
from quarantine_operator.publishing import (
    Outcome,
    PublishedVersion,
    decide_publication,
    published_version_from_config_map,
    schema_status,
)
from quarantine_operator.render import (
    ChildKind,
    Owner,
    child_names,
    controller_uid,
    render_schema_version_config_map,
    schema_owner,
    schema_versions_selector,
    validator_name,
    validator_selector,
)
from quarantine_operator.scraping import Scraper, metrics_urls
from quarantine_operator.stats import Scrape, counted_from_status, next_stats
from quarantine_operator.status import (
    ConditionEvent,
    EventType,
    Reason,
    condition_events,
    load_conditions,
    rfc3339_now,
)
from validator_pod.domain.schemas import SchemaVersion

logger = logging.getLogger(__name__)

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """The wall clock, timezone-aware."""
    return datetime.now(UTC)


def _timestamp(moment: datetime) -> str:
    return rfc3339_now(moment).isoformat().replace("+00:00", "Z")


def _live(body: dict[str, Any] | None) -> dict[str, Any] | None:
    """The object, unless it is missing or being deleted (its children go with it)."""
    if body is None or body["metadata"].get("deletionTimestamp"):
        return None
    return body


@dataclass(frozen=True, slots=True)
class Reconciled:
    """How a reconciliation ended, and whether to check the object again soon (it waits for
    another object to appear or change)."""

    result: Result
    recheck: bool = False


class Reconciler:
    """Reconciles ValidationSchemas and QuarantinePipelines through one API client."""

    def __init__(
        self,
        kube: Kubernetes,
        metrics: OperatorMetrics,
        scraper: Scraper,
        *,
        image: str,
        clock: Clock = utc_now,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._kube = kube
        self._metrics = metrics
        self._scraper = scraper
        self._image = image
        self._clock = clock
        self._monotonic = monotonic

    # --- Shared ---

    def _measured(self, kind: Kind, reconcile: Callable[[], Reconciled]) -> Reconciled:
        with self._metrics.timed(kind):
            try:
                outcome = reconcile()
            except BaseException:
                self._metrics.count(kind, Result.ERROR)
                raise
        self._metrics.count(kind, outcome.result)
        return outcome

    def _post(self, body: Mapping[str, Any], event: ConditionEvent) -> None:
        """Post an Event; a failure is logged, never fatal (Events are informational)."""
        try:
            self._kube.create_event(
                event_body(
                    body,
                    type_=event.type.value,
                    reason=event.reason,
                    message=event.message,
                    now=self._clock(),
                )
            )
        except (kopf.TemporaryError, kopf.PermanentError) as exc:
            logger.warning(
                "could not post an Event: %s",
                exc,
                extra={"namespace": body["metadata"]["namespace"], "reason": event.reason},
            )

    def _write_status(
        self,
        resource: ResourceNames,
        body: Mapping[str, Any],
        status: Mapping[str, Any],
        *,
        events: Callable[[list[ConditionEvent]], list[ConditionEvent]] = lambda found: found,
    ) -> None:
        """Write the status if it changed, then post the Events its transitions deserve."""
        previous = body.get("status") or {}
        if not status_differs(previous, status):
            return
        metadata = body["metadata"]
        if not self._kube.patch_custom_status(
            resource, metadata["namespace"], metadata["name"], status
        ):
            return
        transitions = condition_events(
            load_conditions(previous.get("conditions")),
            load_conditions(status.get("conditions")),
        )
        for event in events(transitions):
            self._post(body, event)

    # --- ValidationSchema ---

    def reconcile_schema(self, namespace: str, name: str) -> Reconciled:
        """Publish the spec as a new version, or refuse it, and report the history."""
        return self._measured(
            Kind.VALIDATION_SCHEMA, lambda: self._reconcile_schema(namespace, name)
        )

    def _reconcile_schema(self, namespace: str, name: str) -> Reconciled:
        body = _live(self._kube.get_custom_object(VALIDATION_SCHEMA, namespace, name))
        if body is None:
            return Reconciled(Result.SUCCESS)
        metadata = body["metadata"]
        uid = str(metadata["uid"])
        published = [
            published_version_from_config_map(config_map)
            for config_map in self._kube.list_config_maps(
                namespace, schema_versions_selector([name])
            )
            if controller_uid(config_map) == uid
        ]
        spec, problems = parse_spec(ValidationSchemaSpec, body.get("spec"))
        publication = None
        if spec is not None:
            publication = decide_publication(name, spec, [entry.schema for entry in published])
        now = rfc3339_now(self._clock())
        if publication is not None and publication.outcome is Outcome.PUBLISH:
            version = publication.version
            assert version is not None
            config_map = render_schema_version_config_map(
                schema_owner(name, namespace, uid), version, _timestamp(now)
            )
            if not self._kube.create_config_map(config_map):
                raise ConflictError(
                    f"ConfigMap {namespace}/{config_map['metadata']['name']} already exists: "
                    "reading the versions again",
                    delay=2.0,
                )
            published.append(PublishedVersion(version, now))
            logger.info(
                "published version %d of ValidationSchema %s/%s",
                version.version,
                namespace,
                name,
                extra={"namespace": namespace, "schema": name, "version": version.version},
            )
            self._post(
                body,
                ConditionEvent(
                    EventType.NORMAL,
                    "SchemaPublished",
                    f"published version {version.version} (sha256 {version.fingerprint[:12]})",
                ),
            )
        status = schema_status(
            published=published,
            publication=publication,
            problems=problems,
            previous_status=body.get("status") or {},
            generation=metadata.get("generation"),
            now=now,
        )
        # Publishing has its own Event above; only refusals are announced from conditions.
        self._write_status(
            VALIDATION_SCHEMA,
            body,
            status,
            events=lambda found: [e for e in found if e.type is EventType.WARNING],
        )
        refused = bool(problems) or (publication is not None and publication.problem is not None)
        return Reconciled(Result.STALLED if refused else Result.SUCCESS)

    # --- QuarantinePipeline ---

    def reconcile_pipeline(self, namespace: str, name: str) -> Reconciled:
        """Apply the pipeline's children, or report why not, and tell the truth in status."""
        return self._measured(
            Kind.QUARANTINE_PIPELINE, lambda: self._reconcile_pipeline(namespace, name)
        )

    def _schema_versions(self, namespace: str, names: Collection[str]) -> SchemaVersions:
        """Published versions of each named ValidationSchema (None for a missing one)."""
        uids: dict[str, str] = {}
        versions: dict[str, list[SchemaVersion] | None] = {}
        for name in names:
            schema = _live(self._kube.get_custom_object(VALIDATION_SCHEMA, namespace, name))
            if schema is None:
                versions[name] = None
            else:
                uids[str(schema["metadata"]["uid"])] = name
                versions[name] = []
        if uids:
            selector = schema_versions_selector(list(uids.values()))
            for config_map in self._kube.list_config_maps(namespace, selector):
                owner = uids.get(controller_uid(config_map) or "")
                found = versions.get(owner or "")
                if found is not None:
                    found.append(published_version_from_config_map(config_map).schema)
        return versions

    def _stall(self, body: Mapping[str, Any], problems: list[Problem], now: datetime) -> Reconciled:
        status = stalled_status(
            body.get("status") or {},
            problems,
            generation=body["metadata"].get("generation"),
            now=now,
        )
        self._write_status(QUARANTINE_PIPELINE, body, status)
        return Reconciled(Result.STALLED, recheck=problems[0].reason in WAITING_REASONS)

    def _reconcile_pipeline(self, namespace: str, name: str) -> Reconciled:
        body = _live(self._kube.get_custom_object(QUARANTINE_PIPELINE, namespace, name))
        if body is None:
            return Reconciled(Result.SUCCESS)
        metadata = body["metadata"]
        generation = metadata.get("generation")
        previous_status = body.get("status") or {}
        now = rfc3339_now(self._clock())
        if is_reconciliation_paused(metadata.get("annotations")):
            status = paused_status(previous_status, generation=generation, now=now)
            self._write_status(QUARANTINE_PIPELINE, body, status)
            return Reconciled(Result.PAUSED)
        spec, problems = check_pipeline(name, body.get("spec"))
        if spec is None:
            return self._stall(body, problems, now)
        schemas = self._schema_versions(namespace, referenced_schema_names(spec))
        secrets = {
            use.name: self._kube.read_secret_keys(namespace, use.name) for use in secret_uses(spec)
        }
        problems = find_reference_problems(spec, schemas, secrets)
        if problems:
            return self._stall(body, problems, now)
        owner = Owner.from_body(body)
        observed: dict[ChildKey, dict[str, Any] | None] = {
            (kind, child): self._kube.read(kind, namespace, child)
            for kind, child in child_names(name)
        }
        plan = plan_children(owner, spec, schemas, observed, default_image=self._image)
        if plan.problems or plan.rendered is None:
            return self._stall(body, list(plan.problems), now)
        try:
            applied = {
                (ChildKind(obj["kind"]), obj["metadata"]["name"]): self._kube.apply(obj)
                for obj in plan.apply
            }
            for kind, child, uid in plan.delete:
                self._kube.delete(kind, namespace, child, uid)
        except kopf.PermanentError as exc:
            return self._stall(body, [Problem(Reason.APPLY_FAILED, str(exc))], now)
        validator = applied[(ChildKind.DEPLOYMENT, validator_name(name))]
        status = converging_status(
            previous_status,
            owner=owner,
            spec=spec,
            rendered=plan.rendered,
            validator=validator,
            generation=generation,
            now=now,
        )
        old_hash = previous_status.get("configHash")
        if old_hash and old_hash != plan.rendered.config_hash:
            in_use = ", ".join(
                f"{entry['name']} v{entry['version']}" for entry in plan.rendered.schemas_status()
            )
            self._post(
                body,
                ConditionEvent(
                    EventType.NORMAL,
                    "ConfigUpdated",
                    f"configuration {plan.rendered.config_hash[:12]} (schemas {in_use}) "
                    "rolls the pods",
                ),
            )
        self._write_status(QUARANTINE_PIPELINE, body, status)
        return Reconciled(Result.SUCCESS)

    # --- Live statistics ---

    def refresh_stats(self, namespace: str, name: str, previous: Scrape | None) -> Scrape | None:
        """Scrape the validator pods that answer and write `status.stats`; returns the scrape
        to compare the next one with (None when no pod answered: nothing is written)."""
        body = _live(self._kube.get_custom_object(QUARANTINE_PIPELINE, namespace, name))
        if body is None:
            return None
        pods = self._kube.list_pods(namespace, validator_selector(name))
        urls = metrics_urls(pods)
        samples = self._scraper.scrape(urls) if urls else {}
        if not samples:
            return None
        current = Scrape(at=self._monotonic(), pods=samples)
        patch = next_stats(
            previous,
            current,
            counted=counted_from_status((body.get("status") or {}).get("stats")),
            existing={pod["metadata"]["name"] for pod in pods},
            now=rfc3339_now(self._clock()),
        )
        self._kube.patch_custom_status(QUARANTINE_PIPELINE, namespace, name, {"stats": patch})
        return current
