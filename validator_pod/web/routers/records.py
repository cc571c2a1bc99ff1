"""/api/v1/quarantine/records: list, inspect, reprocess and discard quarantined records."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Body, Path, Query

from validator_pod.adapters.errors import ObjectStoreError
from validator_pod.adapters.quarantine_queries import (
    REPLAYABLE_STATUSES,
    Event,
    NewEvent,
    StoredRecord,
)
from validator_pod.domain.records import RecordStatus
from validator_pod.web.dependencies import Admin, Reader, Services, StrictQueryRoute
from validator_pod.web.errors import ApiError, error_responses
from validator_pod.web.models import (
    BulkDiscardRequest,
    BulkDiscardResult,
    DiscardRequest,
    DiscardResult,
    EncodedBytes,
    EventOut,
    HeaderOut,
    RecordDetail,
    RecordListParams,
    RecordPage,
    RecordSummary,
    ReprocessOutcome,
    ReprocessRequest,
    ReprocessResult,
    SchemaRefOut,
    StorageLocation,
    payload_of,
)
from validator_pod.web.paging import decode_cursor, encode_cursor
from validator_pod.web.replaying import ACTION_REPROCESS

router = APIRouter(prefix="/api/v1/quarantine", tags=["records"], route_class=StrictQueryRoute)

RecordId = Annotated[UUID, Path(description="The quarantine record's id.")]


def summary_of(stored: StoredRecord) -> RecordSummary:
    """The listing's view of a record."""
    record = stored.record
    return RecordSummary(
        id=record.id,
        source_topic=record.source_topic,
        kafka_partition=record.kafka_partition,
        kafka_offset=record.kafka_offset,
        kafka_timestamp=record.kafka_timestamp,
        key=None if record.record_key is None else EncodedBytes.of(record.record_key),
        schema_name=record.schema_name,
        schema_version=record.schema_version,
        error_type=record.error_type,
        error_message=record.error_message,
        errors=list(record.errors),
        status=record.status,
        replay_count=record.replay_count,
        replay_in_progress=stored.replay_attempt is not None,
        created_at=record.created_at,
        updated_at=record.updated_at,
    )


def event_of(event: Event) -> EventOut:
    """An audit trail entry."""
    return EventOut(
        id=event.id,
        record_id=event.record_id,
        replay_id=event.replay_id,
        actor=event.actor,
        action=event.action,
        result=event.result,
        created_at=event.created_at,
    )


async def _record(services: Services, record_id: UUID, *, replayable: bool = False) -> StoredRecord:
    """The pipeline's record, or 404 `record_not_found` (also for another pipeline's record);
    when `replayable`, 409 unless it may be replayed or discarded now."""
    stored = await services.queries.fetch_record(record_id)
    if stored is None:
        raise ApiError(404, "record_not_found", f"no quarantined record {record_id}")
    if not replayable:
        return stored
    record = stored.record
    if record.status.value not in REPLAYABLE_STATUSES:
        raise ApiError(
            409,
            "record_not_replayable",
            f"the record is {record.status.value}; only quarantined or remediated records can "
            "be replayed or discarded",
            {"status": record.status.value},
        )
    if stored.replay_attempt is not None:
        raise ApiError(409, "replay_in_progress", "a replay of this record is in progress")
    return stored


@router.get(
    "/records",
    summary="List quarantined records",
    response_model=RecordPage,
    responses=error_responses(401, 422, 503),
)
async def list_records(
    _: Reader, services: Services, params: Annotated[RecordListParams, Query()]
) -> RecordPage:
    """Records matching every given filter, oldest first ((created_at, id) order), with a true
    total. Follow `next_cursor` for the next page: a traversal is a snapshot at its first page
    (`as_of`), so records quarantined meanwhile neither shift pages nor join it."""
    record_filter = params.to_filter()
    as_of = after = None
    if params.cursor is not None:
        as_of, after = decode_cursor(params.cursor, record_filter)
    rows, total, as_of = await services.queries.list_records(
        record_filter, limit=params.limit + 1, after=after, as_of=as_of
    )
    page = rows[: params.limit]
    more = len(rows) > params.limit
    return RecordPage(
        items=[summary_of(stored) for stored in page],
        total=total,
        limit=params.limit,
        next_cursor=encode_cursor(as_of, page[-1].keyset, record_filter) if more else None,
        as_of=as_of,
    )


@router.get(
    "/records/{record_id}",
    summary="Show one record with its payload",
    response_model=RecordDetail,
    responses=error_responses(401, 404, 422, 503),
)
async def show_record(_: Reader, services: Services, record_id: RecordId) -> RecordDetail:
    """Metadata, structured errors, original headers, the payload (read from S3 with a ranged
    GET: decoded JSON when it is JSON, else base64) and the record's history."""
    stored = await _record(services, record_id)
    record = stored.record
    payload = None
    payload_error = None
    try:
        value = await services.replayer.read_payload(stored)
    except ObjectStoreError as exc:
        payload_error = f"S3 is unavailable: {exc}"
    else:
        if value is None:
            payload_error = "the payload is no longer in S3"
        else:
            payload = payload_of(value)
    events = await services.queries.record_events(record_id)
    return RecordDetail(
        **summary_of(stored).model_dump(),
        storage=StorageLocation(
            uri=record.storage_uri, byte_offset=record.byte_offset, byte_length=record.byte_length
        ),
        headers=None
        if stored.headers is None
        else [
            HeaderOut(name=name, value=None if value is None else EncodedBytes.of(value))
            for name, value in stored.headers
        ],
        payload=payload,
        payload_error=payload_error,
        events=[event_of(event) for event in events],
    )


@router.post(
    "/records/{record_id}/reprocess",
    summary="Re-validate one record and replay it if it passes",
    response_model=ReprocessResult,
    responses=error_responses(401, 403, 404, 409, 413, 422, 503),
)
async def reprocess_record(
    caller: Admin,
    services: Services,
    record_id: RecordId,
    request: Annotated[ReprocessRequest | None, Body()] = None,
) -> ReprocessResult:
    """Validate the original bytes against the pipeline's current schema selection (or
    `schema_version` of the record's schema). Still invalid: the new errors, the record stays
    quarantined. Valid and not a dry run: the original key, value, headers and timestamp are
    produced to the valid topic with a `dataquarantine.replayed-from` header, once, and the
    record becomes `replayed`. A dry run changes nothing."""
    options = request or ReprocessRequest()
    stored = await _record(services, record_id, replayable=not options.dry_run)
    record = stored.record
    value = await services.replayer.read_payload(stored)
    if value is None:
        raise ApiError(409, "payload_missing", "the record's payload is no longer in S3")
    judgement = services.replayer.judge(stored, value, options.schema_version)
    if judgement is None:
        raise ApiError(
            422,
            "schema_version_not_found",
            f"schema version {options.schema_version} does not exist",
        )
    schema_ref = (
        None
        if judgement.schema_ref is None
        else SchemaRefOut(name=judgement.schema_ref.name, version=judgement.schema_ref.version)
    )
    verdict = judgement.verdict
    if verdict is not None:
        if not options.dry_run:
            await services.queries.append_events(
                [
                    NewEvent(
                        record_id,
                        {
                            "outcome": ReprocessOutcome.STILL_INVALID.value,
                            "error_type": verdict.error_type.value,
                            "message": verdict.message,
                        },
                    )
                ],
                actor=caller.name,
                action=ACTION_REPROCESS,
            )
        return ReprocessResult(
            record_id=record_id,
            outcome=ReprocessOutcome.STILL_INVALID,
            dry_run=options.dry_run,
            schema_ref=schema_ref,
            error_type=verdict.error_type,
            message=verdict.message,
            errors=list(verdict.errors),
            status=record.status,
        )
    if options.dry_run:
        return ReprocessResult(
            record_id=record_id,
            outcome=ReprocessOutcome.WOULD_PASS,
            dry_run=True,
            schema_ref=schema_ref,
            error_type=None,
            message=None,
            errors=[],
            status=record.status,
        )
    produced = await services.replayer.produce(
        [(stored, value)], actor=caller.name, action=ACTION_REPROCESS
    )
    if not produced.replayed:
        raise ApiError(
            409,
            "replay_in_progress",
            "another replay or a discard took the record first",
        )
    return ReprocessResult(
        record_id=record_id,
        outcome=ReprocessOutcome.REPLAYED,
        dry_run=False,
        schema_ref=schema_ref,
        error_type=None,
        message=None,
        errors=[],
        status=RecordStatus.REPLAYED,
    )


@router.post(
    "/records/{record_id}/discard",
    summary="Discard one record",
    response_model=DiscardResult,
    responses=error_responses(401, 403, 404, 409, 413, 422, 503),
)
async def discard_record(
    caller: Admin,
    services: Services,
    record_id: RecordId,
    request: Annotated[DiscardRequest | None, Body()] = None,
) -> DiscardResult:
    """Mark a quarantined (or remediated) record `discarded`: it is kept for the audit trail
    until retention removes it, and never replayed."""
    options = request or DiscardRequest()
    if not await services.queries.discard(
        record_id, actor=caller.name, result={"reason": options.reason}
    ):
        await _record(services, record_id, replayable=True)
        raise ApiError(409, "replay_in_progress", "the record changed meanwhile; try again")
    services.metrics.count_discarded(1)
    return DiscardResult(record_id=record_id, status=RecordStatus.DISCARDED)


@router.post(
    "/discards",
    summary="Discard every record a filter matches",
    response_model=BulkDiscardResult,
    responses=error_responses(401, 403, 413, 422, 503),
)
async def discard_records(
    caller: Admin, services: Services, request: BulkDiscardRequest
) -> BulkDiscardResult:
    """Discard every quarantined or remediated record matching the filter (quarantined up to
    now), one event each. An empty filter needs `all: true`. A dry run only counts."""
    record_filter = request.filter.to_filter()
    if record_filter.is_empty and not request.all:
        raise ApiError(
            422, "filter_required", "give a filter, or all: true to discard every record"
        )
    as_of = await services.queries.database_now()
    matched = await services.queries.count_replayable(record_filter, as_of=as_of)
    if request.dry_run:
        return BulkDiscardResult(matched=matched, discarded=0, dry_run=True)
    discarded = await services.queries.discard_matching(
        record_filter, as_of=as_of, actor=caller.name, result={"reason": request.reason}
    )
    services.metrics.count_discarded(discarded)
    return BulkDiscardResult(matched=matched, discarded=discarded, dry_run=False)
