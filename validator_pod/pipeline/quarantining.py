"""What a quarantined record becomes: its id, its bytes in a segment, its dead-letter headers.

Pure functions of the record and the verdict, so that a batch retried after a crash produces the
same id, the same segment key and bytes, and the same headers.
"""

from __future__ import annotations

import uuid
from base64 import b64encode
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final

import orjson

from validator_pod.domain import headers as names
from validator_pod.domain.pipeline_config import SchemaRef
from validator_pod.domain.records import ErrorType, FieldError, Invalid

QUARANTINE_ID_NAMESPACE: Final = uuid.UUID("4ce6a4ed-ad44-4f82-9750-6614010db1d6")
"""uuid5 namespace of quarantine record ids (never change it: ids are stored everywhere)."""

ERRORS_HEADER_LIMIT: Final = 8192
"""Most bytes of the `dataquarantine.errors` header; further errors are left out (the row has
them all)."""

MESSAGE_HEADER_LIMIT: Final = 1024
"""Most characters of `__connect.errors.exception.message`."""

STAGE_VALUE_CONVERTER: Final = "VALUE_CONVERTER"
STAGE_TRANSFORMATION: Final = "TRANSFORMATION"

Header = tuple[str, bytes]


@dataclass(frozen=True, slots=True)
class FailureKind:
    """How Kafka Connect's error headers describe one error type."""

    stage: str
    class_name: str
    exception_class: str


FAILURE_KINDS: Final = {
    ErrorType.DESERIALIZATION_ERROR: FailureKind(
        STAGE_VALUE_CONVERTER,
        "validator_pod.validation.decoding",
        "dataquarantine.errors.DeserializationError",
    ),
    ErrorType.UNKNOWN_SCHEMA: FailureKind(
        STAGE_VALUE_CONVERTER,
        "validator_pod.validation.selecting",
        "dataquarantine.errors.UnknownSchemaError",
    ),
    ErrorType.SCHEMA_VIOLATION: FailureKind(
        STAGE_TRANSFORMATION,
        "validator_pod.validation.validating",
        "dataquarantine.errors.SchemaViolationError",
    ),
    ErrorType.RULE_VIOLATION: FailureKind(
        STAGE_TRANSFORMATION,
        "validator_pod.validation.validating",
        "dataquarantine.errors.RuleViolationError",
    ),
}

# Header names we set on dead-letter records; an original header of the same name is dropped.
_DEAD_LETTER_NAMES: Final = frozenset(
    {
        names.CONNECT_TOPIC,
        names.CONNECT_PARTITION,
        names.CONNECT_OFFSET,
        names.CONNECT_CONNECTOR_NAME,
        names.CONNECT_TASK_ID,
        names.CONNECT_STAGE,
        names.CONNECT_CLASS_NAME,
        names.CONNECT_EXCEPTION_CLASS,
        names.CONNECT_EXCEPTION_MESSAGE,
        names.DQ_ID,
        names.DQ_SCHEMA,
        names.DQ_SCHEMA_VERSION,
        names.DQ_ERROR_TYPE,
        names.DQ_ERRORS,
        names.DQ_OBJECT,
    }
)
_REMEDIATED_NAMES: Final = frozenset({names.DQ_REMEDIATED, names.DQ_ID})


def quarantine_record_id(
    namespace: str, pipeline: str, topic: str, partition: int, offset: int
) -> uuid.UUID:
    """The id of the quarantine record of one pipeline (namespace and name) for one source
    offset: the same on every retry. Records stored before the namespace was part of it keep
    their ids (uuid5 of `pipeline/topic/partition/offset`); Kubernetes and Kafka topic names
    cannot contain a `/`, so the two forms never meet."""
    return uuid.uuid5(
        QUARANTINE_ID_NAMESPACE, f"{namespace}/{pipeline}/{topic}/{partition}/{offset}"
    )


def segment_key(
    namespace: str, pipeline: str, topic: str, partition: int, first: int, last: int
) -> str:
    """`<namespace>/<pipeline>/<topic>/<partition>/<first>-<last>.seg` (first and last offsets
    of the records the segment holds)."""
    return f"{namespace}/{pipeline}/{topic}/{partition}/{first}-{last}.seg"


@dataclass(frozen=True, slots=True)
class Segment:
    """One S3 object: the values of one partition's quarantined records of a batch, back to
    back; `slices[i]` is (byte offset, byte length) of the i-th value (0 bytes for a null)."""

    key: str
    data: bytes
    slices: tuple[tuple[int, int], ...]


def build_segment(key: str, values: Sequence[bytes | None]) -> Segment:
    """Concatenate `values` (None counts as empty) and record where each one lies."""
    slices: list[tuple[int, int]] = []
    position = 0
    for value in values:
        length = 0 if value is None else len(value)
        slices.append((position, length))
        position += length
    data = b"".join(value for value in values if value)
    return Segment(key=key, data=data, slices=tuple(slices))


def errors_json(errors: Iterable[FieldError]) -> bytes:
    """FieldErrors as a JSON list of {path, keyword, schema_path, message}."""
    return orjson.dumps(
        [
            {
                "path": error.path,
                "keyword": error.keyword,
                "schema_path": error.schema_path,
                "message": error.message,
            }
            for error in errors
        ]
    )


def headers_json(headers: Iterable[tuple[str, bytes | None]]) -> str:
    """A record's headers, in order, as the `record_headers` column's JSON text: a list of
    [name, base64 value or null]."""
    return orjson.dumps(
        [[name, None if value is None else b64encode(value).decode()] for name, value in headers]
    ).decode()


def capped_errors_json(
    errors: Sequence[FieldError], limit: int = ERRORS_HEADER_LIMIT, *, encoded: bytes | None = None
) -> bytes:
    """`errors_json` of as many leading errors as fit in `limit` bytes (always a valid list;
    a single oversized error has its message shortened). `encoded` is `errors_json(errors)`,
    when the caller has it already."""
    if encoded is None:
        encoded = errors_json(errors)
    if len(encoded) <= limit:
        return encoded
    kept: list[FieldError] = []
    for error in errors:
        candidate = errors_json([*kept, error])
        if len(candidate) > limit:
            break
        kept.append(error)
    if kept:
        return errors_json(kept)
    first = errors[0]
    budget = max(0, limit - len(errors_json([first.model_copy(update={"message": ""})])) - 8)
    return errors_json([first.model_copy(update={"message": _shorten(first.message, budget)})])


class DeadLetterHeaders:
    """Builds dead-letter headers for one pipeline and task: the original headers (less any of
    the names we set) followed by Kafka Connect's error context and ours. Everything that does
    not change from record to record is encoded once (a flood of invalid records builds
    thousands of these a second)."""

    def __init__(self, *, pipeline: str, task_id: str) -> None:
        """`pipeline` is the Connect connector name, `task_id` this process's name."""
        connector = (names.CONNECT_CONNECTOR_NAME, pipeline.encode())
        task = (names.CONNECT_TASK_ID, task_id.encode())
        self._failures: dict[ErrorType, tuple[Header, ...]] = {
            error_type: (
                connector,
                task,
                (names.CONNECT_STAGE, kind.stage.encode()),
                (names.CONNECT_CLASS_NAME, kind.class_name.encode()),
                (names.CONNECT_EXCEPTION_CLASS, kind.exception_class.encode()),
            )
            for error_type, kind in FAILURE_KINDS.items()
        }
        self._error_types = {
            error_type: (names.DQ_ERROR_TYPE, error_type.value.encode()) for error_type in ErrorType
        }
        self._sources: dict[tuple[str, int], tuple[Header, Header]] = {}
        self._schemas: dict[SchemaRef, tuple[Header, Header]] = {}

    def for_record(
        self,
        original: Sequence[Header],
        *,
        topic: str,
        partition: int,
        offset: int,
        record_id: uuid.UUID,
        verdict: Invalid,
        schema_ref: SchemaRef | None,
        object_uri: str,
        message: str | None = None,
        encoded_errors: bytes | None = None,
    ) -> list[Header]:
        """The headers of one dead letter. `dataquarantine.schema*` are left out when no schema
        was chosen. `message` is `verdict.message` and `encoded_errors` is
        `errors_json(verdict.errors)`, when the caller has them already."""
        headers = [header for header in original if header[0] not in _DEAD_LETTER_NAMES]
        source = self._sources.get((topic, partition))
        if source is None:
            source = (
                (names.CONNECT_TOPIC, topic.encode()),
                (
                    names.CONNECT_PARTITION,
                    str(partition).encode(),
                ),
            )
            self._sources[topic, partition] = source
        headers += source
        headers.append((names.CONNECT_OFFSET, str(offset).encode()))
        headers += self._failures[verdict.error_type]
        if message is None:
            message = verdict.message
        headers.append(
            (names.CONNECT_EXCEPTION_MESSAGE, _shorten(message, MESSAGE_HEADER_LIMIT).encode())
        )
        headers.append((names.DQ_ID, str(record_id).encode()))
        if schema_ref is not None:
            schema = self._schemas.get(schema_ref)
            if schema is None:
                schema = (
                    (names.DQ_SCHEMA, schema_ref.name.encode()),
                    (
                        names.DQ_SCHEMA_VERSION,
                        str(schema_ref.version).encode(),
                    ),
                )
                self._schemas[schema_ref] = schema
            headers += schema
        headers.append(self._error_types[verdict.error_type])
        headers.append(
            (names.DQ_ERRORS, capped_errors_json(verdict.errors, encoded=encoded_errors))
        )
        headers.append((names.DQ_OBJECT, object_uri.encode()))
        return headers


def remediated_headers(
    original: Sequence[Header], *, fixes: Sequence[str], record_id: uuid.UUID
) -> list[Header]:
    """The original headers plus `dataquarantine.remediated` (the fixes, a JSON list of
    strings, capped like the errors) and `dataquarantine.id` (where the original is kept)."""
    headers = [header for header in original if header[0] not in _REMEDIATED_NAMES]
    headers += [
        (names.DQ_REMEDIATED, _capped_strings_json(fixes, ERRORS_HEADER_LIMIT)),
        (names.DQ_ID, str(record_id).encode()),
    ]
    return headers


def _capped_strings_json(items: Sequence[str], limit: int) -> bytes:
    encoded = orjson.dumps(list(items))
    count = len(items)
    while len(encoded) > limit and count > 0:
        count -= 1
        encoded = orjson.dumps(list(items[:count]))
    return encoded


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: max(0, limit - 1)] + "…"
