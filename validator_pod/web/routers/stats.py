"""/api/v1/quarantine/stats and the retention purge."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Query

from validator_pod.web.dependencies import Admin, Reader, Services, StrictQueryRoute
from validator_pod.web.errors import error_responses
from validator_pod.web.models import (
    FieldPathCount,
    PurgeRequest,
    PurgeResult,
    SchemaVersionCount,
    StatsOut,
    StatsParams,
)

router = APIRouter(prefix="/api/v1/quarantine", tags=["stats"], route_class=StrictQueryRoute)


@router.get(
    "/stats",
    summary="Counts of the quarantine",
    response_model=StatsOut,
    responses=error_responses(401, 422, 503),
)
async def stats(_: Reader, services: Services, params: Annotated[StatsParams, Query()]) -> StatsOut:
    """Counts by status (all records), and by error type, field path and schema version (the
    records in `status`, default quarantined); the oldest quarantined record's age; records
    quarantined in the last hour and their rate."""
    statuses = sorted({status.value for status in params.status})
    counted = await services.queries.stats(
        statuses=statuses, field_path_limit=services.settings.field_path_limit
    )
    oldest = counted.oldest_quarantined_at
    services.metrics.set_oldest(oldest, counted.now)
    return StatsOut(
        statuses=params.status,
        by_status={c.keys[0]: c.count for c in counted.by_status},
        by_error_type={c.keys[0]: c.count for c in counted.by_error_type},
        by_field_path=[
            FieldPathCount(path=c.keys[0], records=c.count) for c in counted.by_field_path
        ],
        by_schema_version=[
            SchemaVersionCount(schema_name=c.keys[0], schema_version=c.keys[1], records=c.count)
            for c in counted.by_schema_version
        ],
        total=counted.total,
        oldest_quarantined_at=oldest,
        oldest_quarantined_age_seconds=None
        if oldest is None
        else max(0.0, (counted.now - oldest).total_seconds()),
        created_last_hour=counted.created_last_hour,
        rate_per_second_last_hour=counted.created_last_hour / 3600,
        as_of=counted.now,
    )


@router.post(
    "/retention/purge",
    summary="Purge records older than the retention now",
    tags=["retention"],
    response_model=PurgeResult,
    responses=error_responses(401, 403, 413, 422, 503),
)
async def purge(
    caller: Admin,
    services: Services,
    request: Annotated[PurgeRequest | None, Body()] = None,
) -> PurgeResult:
    """Delete records created more than the pipeline's `retention` ago and the S3 segments no
    remaining record points into (also done periodically). A dry run only counts records."""
    options = request or PurgeRequest()
    purged = await services.purger.purge(actor=caller.name, dry_run=options.dry_run)
    return PurgeResult(
        older_than=purged.older_than,
        records_deleted=purged.records_deleted,
        segments_removed=purged.segments_removed,
        dry_run=options.dry_run,
    )
