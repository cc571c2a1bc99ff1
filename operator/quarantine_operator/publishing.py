"""Pure decisions for a ValidationSchema: does its spec become a new version, or not?

    published versions (ConfigMaps) + spec ──decide_publication──▶ Publication
        unchanged  the spec holds the same content as a published version: nothing to create
        publish    version N+1 compiles and is compatible: create its immutable ConfigMap
        refuse     InvalidSchema (the schema or a CEL rule does not compile) or
                   IncompatibleSchema (it breaks `spec.compatibility`); the live version stays
    versions + publication ──schema_status──▶ status (latestVersion, versions[], conditions)

The version ConfigMaps are the history; the status is a view of them and can be rebuilt.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Final

from quarantine_operator.api.v1alpha1 import (
    SchemaVersionStatus,
    ValidationSchemaSpec,
    ValidationSchemaStatus,
)
from quarantine_operator.checks import Problem, summarize
from quarantine_operator.compatibility import InvalidSchemaError, check_compatibility
from quarantine_operator.render import (
    CREATED_AT_ANNOTATION,
    schema_version_from_config_map,
    schema_version_from_spec,
)
from quarantine_operator.status import Reason, load_conditions, mark_ready, mark_stalled
from validator_pod.domain.schemas import SchemaVersion
from validator_pod.validation.compiling import SchemaCompileError, compile_schema

# A refusal lists at most this many incompatibilities; the rest are counted.
MAX_LISTED_INCOMPATIBILITIES: Final = 10


@dataclass(frozen=True, slots=True)
class PublishedVersion:
    """A version kept in its ConfigMap, with its publication time."""

    schema: SchemaVersion
    created_at: datetime


def published_version_from_config_map(config_map: Mapping[str, Any]) -> PublishedVersion:
    """Read a version ConfigMap back (its created-at annotation, else its creation time)."""
    metadata = config_map["metadata"]
    created = (metadata.get("annotations") or {}).get(CREATED_AT_ANNOTATION) or metadata[
        "creationTimestamp"
    ]
    return PublishedVersion(
        schema=schema_version_from_config_map(config_map),
        created_at=datetime.fromisoformat(str(created).replace("Z", "+00:00")),
    )


class Outcome(StrEnum):
    """What becomes of a ValidationSchema's spec."""

    UNCHANGED = "unchanged"
    PUBLISH = "publish"
    REFUSE = "refuse"


@dataclass(frozen=True, slots=True)
class Publication:
    """The decision: the version to create (publish), the published version the spec matches
    (unchanged), or the reason for refusing it (refuse)."""

    outcome: Outcome
    version: SchemaVersion | None = None
    problem: Problem | None = None


def same_content(left: SchemaVersion, right: SchemaVersion) -> bool:
    """Whether two versions validate identically: same type, schema (by fingerprint), rules
    and remediation; names and numbers aside."""
    return (
        left.fingerprint == right.fingerprint
        and left.type is right.type
        and left.rules == right.rules
        and left.remediation == right.remediation
    )


def _incompatibility_message(spec: ValidationSchemaSpec, details: Sequence[str]) -> str:
    listed = "; ".join(details[:MAX_LISTED_INCOMPATIBILITIES])
    more = len(details) - MAX_LISTED_INCOMPATIBILITIES
    suffix = f" (and {more} more)" if more > 0 else ""
    return f"the change breaks {spec.compatibility} compatibility: {listed}{suffix}"


def decide_publication(
    name: str, spec: ValidationSchemaSpec, published: Sequence[SchemaVersion]
) -> Publication:
    """Whether `spec` is already published, becomes the next version, or is refused."""
    newest_first = sorted(published, key=lambda version: version.version, reverse=True)
    next_number = newest_first[0].version + 1 if newest_first else 1
    candidate = schema_version_from_spec(name, next_number, spec)
    for version in newest_first:
        if same_content(candidate, version):
            return Publication(Outcome.UNCHANGED, version=version)
    try:
        compile_schema(candidate)
        incompatibilities = check_compatibility(
            spec.type, spec.schema_, published, spec.compatibility
        )
    except (SchemaCompileError, InvalidSchemaError) as exc:
        problem = Problem(Reason.INVALID_SCHEMA, f"version {next_number} does not compile: {exc}")
        return Publication(Outcome.REFUSE, problem=problem)
    if incompatibilities:
        message = _incompatibility_message(spec, [str(found) for found in incompatibilities])
        return Publication(Outcome.REFUSE, problem=Problem(Reason.INCOMPATIBLE_SCHEMA, message))
    return Publication(Outcome.PUBLISH, version=candidate)


def _ready_message(publication: Publication, latest: int) -> str:
    assert publication.version is not None
    matched = publication.version.version
    if matched == latest:
        return f"version {latest} is live"
    return (
        f"the spec is identical to version {matched}, so no new version was published; "
        f"version {latest} stays the latest"
    )


def schema_status(
    *,
    published: Sequence[PublishedVersion],
    publication: Publication | None,
    problems: Sequence[Problem],
    previous_status: Mapping[str, Any],
    generation: int | None,
    now: datetime,
) -> dict[str, Any]:
    """The status to write: the version history, and Ready/Stalled for the latest spec.

    `publication` is None when the spec could not be parsed (`problems` say why);
    `published` already includes a version this reconciliation created.
    """
    ordered = sorted(published, key=lambda version: version.schema.version)
    latest = ordered[-1].schema.version if ordered else None
    conditions = load_conditions(previous_status.get("conditions"))
    refusal = list(problems)
    if publication is not None and publication.problem is not None:
        refusal.append(publication.problem)
    if refusal:
        conditions = mark_stalled(
            conditions,
            generation=generation,
            now=now,
            reason=refusal[0].reason,
            message=summarize(refusal),
        )
    else:
        assert publication is not None
        assert latest is not None
        conditions = mark_ready(
            conditions,
            generation=generation,
            now=now,
            reason=Reason.SCHEMA_PUBLISHED,
            message=_ready_message(publication, latest),
        )
    status = ValidationSchemaStatus(
        observed_generation=generation,
        conditions=list(conditions),
        latest_version=latest,
        versions=[
            SchemaVersionStatus(
                version=version.schema.version,
                fingerprint=version.schema.fingerprint,
                created_at=version.created_at,
            )
            for version in ordered
        ],
    )
    return status.model_dump(mode="json", by_alias=True, exclude_none=True)
