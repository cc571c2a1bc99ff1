"""Outcomes of validation and the quarantine record that people inspect and replay."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from uuid import UUID

from pydantic import BaseModel, ConfigDict


class ErrorType(StrEnum):
    """Why a record was quarantined (stable values: used in metrics, headers, rows and the API)."""

    DESERIALIZATION_ERROR = "deserialization_error"
    SCHEMA_VIOLATION = "schema_violation"
    RULE_VIOLATION = "rule_violation"
    UNKNOWN_SCHEMA = "unknown_schema"


class RecordStatus(StrEnum):
    """Lifecycle of a quarantined record."""

    QUARANTINED = "quarantined"
    REMEDIATED = "remediated"
    REPLAYED = "replayed"
    RESOLVED = "resolved"
    DISCARDED = "discarded"


class FieldError(BaseModel):
    """One reason a record is invalid; `path` is a JSON pointer into the record."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    path: str
    keyword: str
    schema_path: str
    message: str


@dataclass(frozen=True, slots=True)
class Valid:
    """The record passed schema and rules."""


@dataclass(frozen=True, slots=True)
class Invalid:
    """The record failed; `errors` is never empty."""

    error_type: ErrorType
    errors: tuple[FieldError, ...]

    @property
    def message(self) -> str:
        """A one-line summary: the first error, and how many more there are."""
        first = self.errors[0]
        where = f"{first.path}: " if first.path else ""
        more = f" (+{len(self.errors) - 1} more)" if len(self.errors) > 1 else ""
        return f"{where}{first.message}{more}"


Verdict = Valid | Invalid

VALID = Valid()


class QuarantineRecord(BaseModel):
    """A row of `quarantine_records`: where a quarantined record came from and why."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: UUID
    pipeline: str
    namespace: str
    source_topic: str
    kafka_partition: int
    kafka_offset: int
    kafka_timestamp: datetime | None
    record_key: bytes | None
    schema_name: str | None
    schema_version: int | None
    error_type: ErrorType
    error_message: str
    errors: tuple[FieldError, ...]
    storage_uri: str
    byte_offset: int
    byte_length: int
    status: RecordStatus
    replay_count: int
    created_at: datetime
    updated_at: datetime
