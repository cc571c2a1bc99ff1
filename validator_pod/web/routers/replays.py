"""/api/v1/quarantine/replays: bulk replays by filter, with dry runs, rate limits and progress."""

from __future__ import annotations

import uuid
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Path, Query, status

from validator_pod.adapters.quarantine_queries import Replay
from validator_pod.domain.pipeline_config import SchemaRef
from validator_pod.web.dependencies import Admin, Reader, Services, StrictQueryRoute
from validator_pod.web.errors import ApiError, error_responses
from validator_pod.web.models import (
    ReplayCounts,
    ReplayList,
    ReplayListParams,
    ReplayOut,
    ReplayRequest,
    ReplayState,
)

router = APIRouter(prefix="/api/v1/quarantine", tags=["replays"], route_class=StrictQueryRoute)

ReplayId = Annotated[UUID, Path(description="The replay's id.")]


def replay_of(replay: Replay) -> ReplayOut:
    """The API's view of a replay."""
    counts = ReplayCounts.model_validate(replay.counts)
    progress = 1.0 if counts.total == 0 else min(1.0, counts.processed / counts.total)
    return ReplayOut(
        id=replay.id,
        state=ReplayState(replay.state),
        dry_run=replay.dry_run,
        rate_limit=replay.rate_limit,
        schema_version=replay.schema_version,
        filter=replay.filter,
        counts=counts,
        progress=progress,
        error=replay.error,
        created_by=replay.created_by,
        created_at=replay.created_at,
        updated_at=replay.updated_at,
        started_at=replay.started_at,
        finished_at=replay.finished_at,
    )


@router.post(
    "/replays",
    summary="Start a bulk replay by filter",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=ReplayOut,
    responses=error_responses(401, 403, 413, 422, 503),
)
async def create_replay(caller: Admin, services: Services, request: ReplayRequest) -> ReplayOut:
    """Replay every quarantined or remediated record that matches the filter (quarantined up to
    now) and passes validation now: in chunks, at most `rate_limit` records per second, each
    record once. A dry run only counts would-pass and still-invalid records (by error type) and
    changes no record. Runs in the background: poll `GET /replays/{id}` for progress. Survives
    API restarts (it resumes from its last recorded chunk)."""
    record_filter = request.filter.to_filter()
    if record_filter.is_empty and not request.all:
        raise ApiError(422, "filter_required", "give a filter, or all: true to replay every record")
    if request.schema_version is not None:
        name = request.filter.schema_name or services.catalog.config().schema_selection.default.name
        ref = SchemaRef(name=name, version=request.schema_version)
        if services.catalog.compiled(ref) is None:
            raise ApiError(
                422,
                "schema_version_not_found",
                f"schema {name} has no version {request.schema_version}",
            )
    replay = await services.queries.create_replay(
        uuid.uuid4(),
        filter_document=request.filter.model_dump(mode="json", exclude_defaults=True),
        dry_run=request.dry_run,
        rate_limit=request.rate_limit,
        schema_version=request.schema_version,
        created_by=caller.name,
        record_filter=record_filter,
    )
    services.supervisor.wake()
    return replay_of(replay)


@router.get(
    "/replays",
    summary="List bulk replays",
    response_model=ReplayList,
    responses=error_responses(401, 422, 503),
)
async def list_replays(
    _: Reader, services: Services, params: Annotated[ReplayListParams, Query()]
) -> ReplayList:
    """The latest replays, newest first."""
    replays = await services.queries.list_replays(limit=params.limit)
    return ReplayList(items=[replay_of(replay) for replay in replays])


@router.get(
    "/replays/{replay_id}",
    summary="Show a bulk replay's state and progress",
    response_model=ReplayOut,
    responses=error_responses(401, 404, 422, 503),
)
async def show_replay(_: Reader, services: Services, replay_id: ReplayId) -> ReplayOut:
    """State, counts so far and progress (processed / total)."""
    replay = await services.queries.fetch_replay(replay_id)
    if replay is None:
        raise ApiError(404, "replay_not_found", f"no replay {replay_id}")
    return replay_of(replay)


@router.post(
    "/replays/{replay_id}/cancel",
    summary="Cancel a bulk replay",
    response_model=ReplayOut,
    responses=error_responses(401, 403, 404, 409, 413, 422, 503),
)
async def cancel_replay(_: Admin, services: Services, replay_id: ReplayId) -> ReplayOut:
    """Stop a pending or running replay after its current chunk (records already replayed
    stay replayed)."""
    replay = await services.queries.finish_replay(replay_id, state=ReplayState.CANCELLED)
    if replay is not None:
        return replay_of(replay)
    existing = await services.queries.fetch_replay(replay_id)
    if existing is None:
        raise ApiError(404, "replay_not_found", f"no replay {replay_id}")
    raise ApiError(
        409,
        "replay_not_cancellable",
        f"the replay is {existing.state}",
        {"state": existing.state},
    )
