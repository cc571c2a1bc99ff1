"""Pure checks of a pipeline before rendering: each finding is a `Problem` for the user.

A problem stalls the pipeline (`Stalled=True`) with its reason: `InvalidSpec` for the spec itself,
`SchemaNotFound` for unpublished schema references, `SecretNotFound` for missing Secrets or keys.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from quarantine_operator import envvars
from quarantine_operator.api.v1alpha1 import (
    DNS_LABEL_PATTERN,
    LATEST,
    PIPELINE_NAME_MAX_LENGTH,
    QuarantinePipelineSpec,
    SchemaRefSpec,
    SecretReference,
    parse_duration,
)
from quarantine_operator.status import Reason
from validator_pod.domain.pipeline_config import Mode, SelectorSource

ModelT = TypeVar("ModelT", bound=BaseModel)


@dataclass(frozen=True, slots=True)
class Problem:
    """Something the user must change before the operator can converge."""

    reason: Reason
    message: str


def summarize(problems: Collection[Problem]) -> str:
    """One condition message for several problems."""
    return "; ".join(problem.message for problem in problems)


def parse_spec(model: type[ModelT], raw: Any) -> tuple[ModelT | None, list[Problem]]:
    """The spec as a model, or the reasons it is not one (as `InvalidSpec` problems)."""
    try:
        return model.model_validate(raw), []
    except ValidationError as exc:
        problems = [
            Problem(
                Reason.INVALID_SPEC,
                f"spec.{'.'.join(str(part) for part in error['loc'])}: {error['msg']}"
                if error["loc"]
                else f"spec: {error['msg']}",
            )
            for error in exc.errors(include_url=False)
        ]
        return None, problems


def find_spec_problems(name: str, spec: QuarantinePipelineSpec) -> list[Problem]:
    """What is wrong with a parsed pipeline spec (and name) regardless of other objects."""
    problems: list[str] = []
    if len(name) > PIPELINE_NAME_MAX_LENGTH or re.fullmatch(DNS_LABEL_PATTERN, name) is None:
        problems.append(
            f"the name {name!r} must be a DNS label of at most {PIPELINE_NAME_MAX_LENGTH} "
            "characters starting with a letter (it names the Service <name>-api)"
        )
    sources = set(spec.source.topics)
    for field, topic in (
        ("sinks.validTopic", spec.sinks.valid_topic),
        ("sinks.quarantineTopic", spec.sinks.quarantine_topic),
    ):
        if topic in sources:
            problems.append(f"{field} {topic!r} is also a source topic: records would loop")
    if spec.sinks.valid_topic == spec.sinks.quarantine_topic:
        problems.append("sinks.validTopic and sinks.quarantineTopic must differ")
    if parse_duration(spec.quarantine.retention).total_seconds() <= 0:
        problems.append("quarantine.retention must be longer than zero")
    window = spec.error_handling.window if spec.error_handling is not None else None
    if window is not None and parse_duration(window).total_seconds() <= 0:
        problems.append("errorHandling.window must be longer than zero")
    selection = spec.schema_selection
    if spec.mode is Mode.SHADOW and selection.candidate is None:
        problems.append("mode shadow needs schemaSelection.candidate: the version to evaluate")
    selector = selection.selector
    field_selector = selector is not None and selector.source is SelectorSource.FIELD
    if selector is not None and field_selector and not selector.key.startswith("/"):
        problems.append(
            f"schemaSelection.selector.key {selector.key!r} must be a JSON pointer "
            "such as /type when the source is field"
        )
    return [Problem(Reason.INVALID_SPEC, message) for message in problems]


def schema_references(spec: QuarantinePipelineSpec) -> Iterator[tuple[str, SchemaRefSpec]]:
    """Every schema reference the pipeline uses, with the field it is in. The candidate counts
    only in shadow mode."""
    selection = spec.schema_selection
    yield "schemaSelection.schemaRef", selection.schema_ref
    if selection.selector is not None:
        for value, ref in selection.selector.mapping.items():
            yield f"schemaSelection.selector.mapping[{value!r}]", ref
    if spec.mode is Mode.SHADOW and selection.candidate is not None:
        yield "schemaSelection.candidate", selection.candidate


def referenced_schema_names(spec: QuarantinePipelineSpec) -> tuple[str, ...]:
    """Names of the ValidationSchemas the pipeline needs, without duplicates."""
    return tuple(dict.fromkeys(ref.name for _, ref in schema_references(spec)))


def find_schema_problems(
    spec: QuarantinePipelineSpec, published: Mapping[str, Collection[int]]
) -> list[Problem]:
    """References to schemas that do not exist, have no version yet, or lack the pinned version.

    `published` maps each existing ValidationSchema to its published versions.
    """
    problems: list[Problem] = []
    for field, ref in schema_references(spec):
        versions = published.get(ref.name)
        if versions is None:
            message = f"{field}: ValidationSchema {ref.name!r} does not exist"
        elif not versions:
            message = f"{field}: ValidationSchema {ref.name!r} has no published version yet"
        elif ref.version != LATEST and ref.version not in versions:
            listed = ", ".join(str(version) for version in sorted(versions))
            message = (
                f"{field}: ValidationSchema {ref.name!r} has no version {ref.version} "
                f"(published: {listed})"
            )
        else:
            continue
        problems.append(Problem(Reason.SCHEMA_NOT_FOUND, message))
    return problems


@dataclass(frozen=True, slots=True)
class SecretUse:
    """A Secret the pipeline's pods read, and the keys it must hold."""

    field: str
    name: str
    required_keys: tuple[str, ...]


def secret_uses(spec: QuarantinePipelineSpec) -> tuple[SecretUse, ...]:
    """Every Secret the pipeline references."""
    uses: list[tuple[str, SecretReference | None, tuple[envvars.SecretKey, ...]]] = [
        ("kafka.secretRef", spec.kafka.secret_ref, envvars.KAFKA_SECRET_KEYS),
        (
            "quarantine.storage.secretRef",
            spec.quarantine.storage.secret_ref,
            envvars.STORAGE_SECRET_KEYS,
        ),
        (
            "quarantine.database.secretRef",
            spec.quarantine.database.secret_ref,
            envvars.DATABASE_SECRET_KEYS,
        ),
    ]
    if spec.api.enabled and spec.api.auth is not None:
        uses.append(("api.auth.secretRef", spec.api.auth.secret_ref, envvars.API_SECRET_KEYS))
    return tuple(
        SecretUse(field, ref.name, tuple(key.key for key in keys if key.required))
        for field, ref, keys in uses
        if ref is not None
    )


def find_secret_problems(
    spec: QuarantinePipelineSpec, secrets: Mapping[str, Collection[str]]
) -> list[Problem]:
    """Referenced Secrets that are missing or lack required keys.

    `secrets` maps each existing Secret of the namespace (at least the referenced ones) to the
    keys it holds; values are never needed.
    """
    problems: list[Problem] = []
    for use in secret_uses(spec):
        keys = secrets.get(use.name)
        if keys is None:
            problems.append(
                Problem(Reason.SECRET_NOT_FOUND, f"{use.field}: Secret {use.name!r} does not exist")
            )
            continue
        missing = [key for key in use.required_keys if key not in keys]
        if missing:
            problems.append(
                Problem(
                    Reason.SECRET_NOT_FOUND,
                    f"{use.field}: Secret {use.name!r} lacks the key(s) {', '.join(missing)}",
                )
            )
    return problems
