"""Request and response models of the REST API.

Request models forbid unknown fields (`StrictModel`), and so do the query models: an unknown
query parameter is a 422 `unknown_query_parameter`, not silently ignored. Text that reaches
PostgreSQL may not contain NUL characters (PostgreSQL text cannot hold them).
"""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Final, Literal
from uuid import UUID

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    JsonValue,
    field_validator,
)

from validator_pod.adapters.quarantine_queries import RecordFilter
from validator_pod.domain.records import ErrorType, FieldError, RecordStatus
from validator_pod.domain.schemas import SchemaType
from validator_pod.validation.decoding import Decoded, decode_json

MAX_PAGE: Final = 1000
INT32_MAX: Final = 2**31 - 1

_NO_NUL: Final = r"^[^\x00]*$"
_RFC3339_START: Final = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}")

TopicName = Annotated[
    str, Field(min_length=1, max_length=249, pattern=r"^[A-Za-z0-9._-]+$", examples=["orders"])
]
SchemaName = Annotated[
    str,
    Field(
        min_length=1,
        max_length=253,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$",
        examples=["order-event"],
    ),
]
Version = Annotated[int, Field(ge=1, le=INT32_MAX)]


def _json_integer(value: object) -> object:
    # Bodies are JSON: an integer must be a JSON number (pydantic's lax mode would take "1" or
    # true); 2.0 is an integer in JSON Schema and stays accepted. Query parameters stay lax.
    if isinstance(value, bool | str | bytes):
        raise ValueError("give a JSON integer")  # noqa: TRY004 - pydantic reports ValueError
    return value


BodyVersion = Annotated[int, BeforeValidator(_json_integer), Field(ge=1, le=INT32_MAX)]
Flag = Annotated[bool, Field(strict=True)]
JsonPointerText = Annotated[
    str,
    Field(
        max_length=1024,
        pattern=r"^(/[^\x00]*)?$",
        description="A JSON pointer (RFC 6901): empty for the record itself, else `/a/0/b`.",
        examples=["/amount"],
    ),
]


def _text_time(value: object) -> object:
    # Lax pydantic reads numbers (and numeric text) as Unix times; the API documents RFC 3339.
    if isinstance(value, datetime) or (isinstance(value, str) and _RFC3339_START.match(value)):
        return value
    raise ValueError("give an RFC 3339 time with a zone, e.g. 2026-01-02T03:04:05Z")


Time = Annotated[AwareDatetime, BeforeValidator(_text_time)]
SearchText = Annotated[str, Field(min_length=1, max_length=200, pattern=_NO_NUL)]
Reason = Annotated[str, Field(min_length=1, max_length=1000, pattern=_NO_NUL)]


class StrictModel(BaseModel):
    """A request model: unknown fields are refused."""

    model_config = ConfigDict(extra="forbid")


# -- filters ------------------------------------------------------------------------------------


class RecordFilterModel(StrictModel):
    """Which quarantined records: every given criterion must hold (lists: any of the values)."""

    source_topic: TopicName | None = Field(default=None, description="Source topic.")
    schema_name: SchemaName | None = Field(
        default=None, description="Schema the record was validated against."
    )
    schema_version: Version | None = Field(default=None, description="Schema version.")
    error_type: list[ErrorType] = Field(default_factory=list, max_length=8)
    status: list[RecordStatus] = Field(default_factory=list, max_length=8)
    created_after: Time | None = Field(
        default=None, description="Quarantined at or after this time (RFC 3339, with zone)."
    )
    created_before: Time | None = Field(
        default=None, description="Quarantined before this time (RFC 3339, with zone)."
    )
    field_path: JsonPointerText | None = Field(
        default=None, description="Records with an error at this JSON pointer."
    )
    q: SearchText | None = Field(
        default=None, description="Case-insensitive text searched in the error message."
    )

    @field_validator("created_after", "created_before")
    @classmethod
    def _in_utc(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        try:
            return value.astimezone(UTC)
        except OverflowError as exc:
            raise ValueError("time out of range") from exc

    def to_filter(self) -> RecordFilter:
        """The adapter's filter."""
        return RecordFilter(
            source_topic=self.source_topic,
            schema_name=self.schema_name,
            schema_version=self.schema_version,
            error_types=tuple(sorted({value.value for value in self.error_type})),
            statuses=tuple(sorted({value.value for value in self.status})),
            created_after=self.created_after,
            created_before=self.created_before,
            field_path=self.field_path,
            text=self.q,
        )


class RecordFilterBody(RecordFilterModel):
    """A filter in a request body."""

    schema_version: BodyVersion | None = Field(default=None, description="Schema version.")


class RecordListParams(RecordFilterModel):
    """Query parameters of the record listing."""

    limit: int = Field(default=100, ge=1, le=MAX_PAGE, description="Page size (at most 1000).")
    cursor: str | None = Field(
        default=None,
        max_length=2048,
        pattern=r"^[A-Za-z0-9_-]+$",
        description="`next_cursor` of the previous page (opaque).",
    )


class StatsParams(StrictModel):
    """Query parameters of /stats."""

    status: list[RecordStatus] = Field(
        default_factory=lambda: [RecordStatus.QUARANTINED],
        max_length=8,
        description="Statuses counted by error type, field path and schema version.",
    )


class ReplayListParams(StrictModel):
    """Query parameters of the replay listing."""

    limit: int = Field(default=50, ge=1, le=MAX_PAGE)


# -- records ------------------------------------------------------------------------------------


class EncodedBytes(BaseModel):
    """Bytes as UTF-8 text when they are text, else base64."""

    encoding: Literal["utf-8", "base64"]
    value: str

    @classmethod
    def of(cls, data: bytes) -> EncodedBytes:
        """Encode `data` readably."""
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            return cls(encoding="base64", value=base64.b64encode(data).decode())
        if any(ord(char) < 32 and char not in "\t\n\r" for char in text):
            return cls(encoding="base64", value=base64.b64encode(data).decode())
        return cls(encoding="utf-8", value=text)


class HeaderOut(BaseModel):
    """One original Kafka header (a null value is `null`)."""

    name: str
    value: EncodedBytes | None


class Payload(BaseModel):
    """The original record value, read from S3: the decoded JSON when it is JSON, else base64."""

    encoding: Literal["json", "base64"]
    value: JsonValue
    size_bytes: int


class StorageLocation(BaseModel):
    """Where the payload lies: a segment object and a byte range in it."""

    uri: str
    byte_offset: int
    byte_length: int


class EventOut(BaseModel):
    """One entry of the audit trail."""

    id: int
    record_id: UUID | None
    replay_id: UUID | None
    actor: str
    action: str
    result: dict[str, JsonValue]
    created_at: datetime


class RecordSummary(BaseModel):
    """A quarantined record's metadata and errors."""

    id: UUID
    source_topic: str
    kafka_partition: int
    kafka_offset: int
    kafka_timestamp: datetime | None
    key: EncodedBytes | None
    schema_name: str | None
    schema_version: int | None
    error_type: ErrorType
    error_message: str
    errors: list[FieldError]
    status: RecordStatus
    replay_count: int
    replay_in_progress: bool = Field(
        description="A replay has claimed the record and is producing it."
    )
    created_at: datetime
    updated_at: datetime


class RecordDetail(RecordSummary):
    """A record with its original headers, payload and history."""

    storage: StorageLocation
    headers: list[HeaderOut] | None = Field(
        description="Original headers; null when the validator did not record them."
    )
    payload: Payload | None
    payload_error: str | None = Field(
        default=None, description="Why the payload could not be read, when it could not."
    )
    events: list[EventOut]


class RecordPage(BaseModel):
    """One page of records, in (created_at, id) order."""

    items: list[RecordSummary]
    total: int = Field(description="All records matching the filters (not just this page).")
    limit: int
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null at the end."
    )
    as_of: datetime = Field(
        description="Snapshot time of the traversal: records quarantined later are not listed."
    )


# -- reprocess, discard ---------------------------------------------------------------------------


class ReprocessRequest(StrictModel):
    """Re-validate one record and, unless `dry_run`, replay it when it passes."""

    dry_run: Flag = Field(default=False, description="Only say whether it would pass now.")
    schema_version: BodyVersion | None = Field(
        default=None,
        description="Validate against this version of the record's schema instead of the "
        "pipeline's current selection.",
    )


class ReprocessOutcome(StrEnum):
    """What reprocessing did."""

    WOULD_PASS = "would_pass"  # noqa: S105 - an outcome, not a password
    REPLAYED = "replayed"
    STILL_INVALID = "still_invalid"


class SchemaRefOut(BaseModel):
    """A schema version."""

    name: str
    version: int


class ReprocessResult(BaseModel):
    """The verdict, and what happened to the record."""

    record_id: UUID
    outcome: ReprocessOutcome
    dry_run: bool
    schema_ref: SchemaRefOut | None = Field(description="The schema version validated against.")
    error_type: ErrorType | None
    message: str | None
    errors: list[FieldError]
    status: RecordStatus


class DiscardRequest(StrictModel):
    """Discard one record (kept for the audit trail; never replayed)."""

    reason: Reason | None = None


class DiscardResult(BaseModel):
    """The discarded record."""

    record_id: UUID
    status: RecordStatus


class BulkSelection(StrictModel):
    """Records chosen by filter; an empty filter needs `all: true`."""

    filter: RecordFilterBody = Field(default_factory=RecordFilterBody)
    all: Flag = Field(default=False, description="Confirm that an empty filter means every record.")
    dry_run: Flag = False


class BulkDiscardRequest(BulkSelection):
    """Discard every replayable record the filter matches."""

    reason: Reason | None = None


class BulkDiscardResult(BaseModel):
    """How many records matched and were discarded."""

    matched: int
    discarded: int
    dry_run: bool


# -- replays --------------------------------------------------------------------------------------


class ReplayRequest(BulkSelection):
    """Replay every replayable record the filter matches that passes validation now."""

    rate_limit: Annotated[int, BeforeValidator(_json_integer), Field(ge=1, le=100_000)] | None = (
        Field(default=None, description="Most records per second.")
    )
    schema_version: BodyVersion | None = Field(
        default=None, description="Validate against this version of each record's schema."
    )


class ReplayState(StrEnum):
    """pending → running → succeeded | failed | cancelled."""

    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


class ReplayCounts(BaseModel):
    """Progress and results of a replay."""

    total: int = Field(default=0, description="Replayable records matched when it was created.")
    processed: int = 0
    replayed: int = 0
    would_pass: int = Field(default=0, description="Dry run: records that would pass now.")
    still_invalid: dict[str, int] = Field(
        default_factory=dict, description="Records still invalid, by error type."
    )
    unreadable: int = Field(default=0, description="Records whose payload is gone from S3.")
    skipped: int = Field(
        default=0, description="Records claimed or settled by someone else meanwhile."
    )


class ReplayOut(BaseModel):
    """A bulk replay."""

    id: UUID
    state: ReplayState
    dry_run: bool
    rate_limit: int | None
    schema_version: int | None
    filter: dict[str, JsonValue]
    counts: ReplayCounts
    progress: float = Field(description="processed / total (1.0 when total is 0).")
    error: str | None
    created_by: str
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class ReplayList(BaseModel):
    """Replays, newest first."""

    items: list[ReplayOut]


# -- stats, retention ----------------------------------------------------------------------------


class FieldPathCount(BaseModel):
    """Records with an error at a field path."""

    path: str
    records: int


class SchemaVersionCount(BaseModel):
    """Records per schema version (null: no schema could be chosen)."""

    schema_name: str | None
    schema_version: int | None
    records: int


class StatsOut(BaseModel):
    """Counts of the pipeline's quarantine."""

    statuses: list[RecordStatus]
    by_status: dict[str, int]
    by_error_type: dict[str, int]
    by_field_path: list[FieldPathCount]
    by_schema_version: list[SchemaVersionCount]
    total: int
    oldest_quarantined_at: datetime | None
    oldest_quarantined_age_seconds: float | None
    created_last_hour: int
    rate_per_second_last_hour: float
    as_of: datetime


class PurgeRequest(StrictModel):
    """Run the retention purge now."""

    dry_run: Flag = False


class PurgeResult(BaseModel):
    """What the purge deleted (or would delete)."""

    older_than: datetime
    records_deleted: int
    segments_removed: int
    dry_run: bool


# -- schemas --------------------------------------------------------------------------------------


class SchemaSummary(BaseModel):
    """A schema subject in the pipeline's config directory."""

    name: str
    versions: list[int]
    current_version: int | None = Field(
        description="The version the pipeline selects by default (null: not its default)."
    )


class SchemaList(BaseModel):
    """Schema subjects."""

    items: list[SchemaSummary]


class SchemaVersionOut(BaseModel):
    """One immutable schema version, as rendered by the operator."""

    name: str
    version: int
    type: SchemaType
    fingerprint: str
    current: bool
    schema_: dict[str, JsonValue] = Field(alias="schema")
    rules: list[dict[str, JsonValue]]
    remediation: dict[str, JsonValue]

    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)


class ValidateRecord(StrictModel):
    """An ad-hoc record as its decoded value (validated against the schema and rules)."""

    record: JsonValue = Field(description="The record as JSON (any JSON value, null included).")
    version: BodyVersion | None = Field(
        default=None, description="Schema version (default: current)."
    )

    def value(self) -> bytes | None:
        """No raw bytes: the record is already decoded."""
        return None


class ValidateBytes(StrictModel):
    """An ad-hoc record as raw bytes, decoded as the pipeline decodes them."""

    value_base64: str = Field(
        max_length=1_500_000,
        pattern=r"^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$",
        description="The record's raw bytes in (padded) base64.",
    )
    version: BodyVersion | None = Field(
        default=None, description="Schema version (default: current)."
    )

    def value(self) -> bytes | None:
        """The raw bytes."""
        return base64.b64decode(self.value_base64)


ValidateRequest = ValidateRecord | ValidateBytes
"""Exactly one of `record` and `value_base64` (each model refuses the other's field)."""


class ValidateResult(BaseModel):
    """The verdict on an ad-hoc record."""

    valid: bool
    schema_ref: SchemaRefOut
    error_type: ErrorType | None
    message: str | None
    errors: list[FieldError]


# -- health ---------------------------------------------------------------------------------------


class Health(BaseModel):
    """The process answers."""

    status: Literal["ok"] = "ok"


class Readiness(BaseModel):
    """Whether PostgreSQL and S3 answer (and migrations are applied)."""

    ready: bool
    checks: dict[str, str]


def payload_of(data: bytes) -> Payload:
    """The payload as its decoded JSON when it is JSON, else base64."""
    decoded = decode_json(data)
    if isinstance(decoded, Decoded):
        return Payload(encoding="json", value=decoded.value, size_bytes=len(data))
    return Payload(encoding="base64", value=base64.b64encode(data).decode(), size_bytes=len(data))
