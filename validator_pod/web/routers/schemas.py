"""/api/v1/schemas: the schema versions of the pipeline's config directory, and ad-hoc
validation against them."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Path

from validator_pod.domain.pipeline_config import SchemaRef
from validator_pod.domain.records import Invalid
from validator_pod.validation.compiling import CompiledSchema
from validator_pod.validation.evaluating import Quarantine
from validator_pod.validation.validating import validate
from validator_pod.web.catalog import SchemaFileError
from validator_pod.web.dependencies import Reader, Services, StrictQueryRoute
from validator_pod.web.errors import ApiError, error_responses
from validator_pod.web.models import (
    INT32_MAX,
    SchemaList,
    SchemaRefOut,
    SchemaSummary,
    SchemaVersionOut,
    ValidateRecord,
    ValidateRequest,
    ValidateResult,
)

router = APIRouter(prefix="/api/v1/schemas", tags=["schemas"], route_class=StrictQueryRoute)

Name = Annotated[
    str,
    Path(
        min_length=1,
        max_length=253,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$",
        description="Schema subject name.",
    ),
]
VersionNumber = Annotated[int, Path(ge=1, le=INT32_MAX, description="Schema version.")]


def _compiled(services: Services, ref: SchemaRef) -> tuple[bool, CompiledSchema, SchemaVersionOut]:
    try:
        found = services.catalog.compiled(ref)
    except SchemaFileError as exc:
        raise ApiError(500, "schema_unreadable", str(exc)) from exc
    if found is None:
        raise ApiError(404, "schema_not_found", f"schema {ref.name} has no version {ref.version}")
    version, compiled = found
    current = services.catalog.current_version(ref.name) == ref.version
    document = version.model_dump(mode="json", by_alias=True)
    out = SchemaVersionOut(
        name=version.name,
        version=version.version,
        type=version.type,
        fingerprint=version.fingerprint,
        current=current,
        schema_=version.schema_,
        rules=document["rules"],
        remediation=document["remediation"],
    )
    return current, compiled, out


@router.get(
    "",
    summary="List schemas and their versions",
    response_model=SchemaList,
    responses=error_responses(401),
)
async def list_schemas(_: Reader, services: Services) -> SchemaList:
    """Schema subjects present in the config directory, their versions, and the version the
    pipeline selects by default."""
    catalog = services.catalog
    return SchemaList(
        items=[
            SchemaSummary(
                name=name,
                versions=catalog.versions(name),
                current_version=catalog.current_version(name),
            )
            for name in catalog.names()
        ]
    )


@router.get(
    "/{name}/versions/{version}",
    summary="Show one schema version",
    response_model=SchemaVersionOut,
    responses=error_responses(401, 404, 422),
)
async def show_schema_version(
    _: Reader, services: Services, name: Name, version: VersionNumber
) -> SchemaVersionOut:
    """The schema document, its rules and remediation, its fingerprint, and whether it is the
    pipeline's current default."""
    return _compiled(services, SchemaRef(name=name, version=version))[2]


@router.post(
    "/{name}/validate",
    summary="Validate an ad-hoc record",
    response_model=ValidateResult,
    responses=error_responses(401, 404, 413, 422),
)
async def validate_record(
    _: Reader, services: Services, name: Name, request: Annotated[ValidateRequest, Body()]
) -> ValidateResult:
    """Validate `record` (the decoded value), or `value_base64` (raw bytes, decoded as the
    pipeline decodes them), against a version of schema `name` (default: the pipeline's
    current one, else the latest) with its business rules. Changes nothing."""
    version = request.version or services.catalog.current_version(name)
    if version is None:
        versions = services.catalog.versions(name)
        if not versions:
            raise ApiError(404, "schema_not_found", f"no schema {name}")
        version = versions[-1]
    ref = SchemaRef(name=name, version=version)
    compiled = _compiled(services, ref)[1]
    raw = request.value()
    if raw is not None:
        evaluator = services.catalog.evaluator(ref)
        assert evaluator is not None  # the version exists: `_compiled` found it
        outcome = evaluator.evaluate(raw)
        verdict = outcome.verdict if isinstance(outcome, Quarantine) else None
    else:
        assert isinstance(request, ValidateRecord)
        judged = validate(compiled, request.record, services.config.max_errors_per_record)
        verdict = judged if isinstance(judged, Invalid) else None
    return ValidateResult(
        valid=verdict is None,
        schema_ref=SchemaRefOut(name=ref.name, version=ref.version),
        error_type=None if verdict is None else verdict.error_type,
        message=None if verdict is None else verdict.message,
        errors=[] if verdict is None else list(verdict.errors),
    )
