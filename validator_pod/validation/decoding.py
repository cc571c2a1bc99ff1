"""Record value bytes to a decoded value, or a `DecodeFailure` saying why they do not decode.

Nothing here raises for bad input: every decoder error becomes a `DecodeFailure`, which the caller
quarantines as `ErrorType.DESERIALIZATION_ERROR`.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from typing import Any, Final, NamedTuple

import orjson
from fastavro import schemaless_reader

from validator_pod.domain.pipeline_config import AvroFraming

CONFLUENT_MAGIC_BYTE: Final = 0
CONFLUENT_HEADER_SIZE: Final = 5

# orjson silently turns integer literals outside [-2**63, 2**64) into floats; such literals have
# at least 19 digits, so a cheap scan for a run of 19 digits (digits mapped to "0", all else to
# " ", then a substring search) guards the exact check below.
_DIGITS_AS_ZEROS: Final = bytes(0x30 if 0x30 <= byte <= 0x39 else 0x20 for byte in range(256))
_LONG_DIGIT_RUN: Final = b"0" * 19
_STRING_OR_NUMBER: Final = re.compile(
    rb'"(?:[^"\\]|\\.)*"|-?[0-9]+(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?'
)
_INT_RANGE: Final = range(-(2**63), 2**64)
_MAX_MESSAGE: Final = 300


class Decoded(NamedTuple):
    """A successfully decoded record value (JSON: dict, list or scalar; Avro: the datum).

    A named tuple rather than a frozen dataclass: it is built for every record, and a tuple
    costs a fifth as much to build."""

    value: Any


@dataclass(frozen=True, slots=True)
class DecodeFailure:
    """The value bytes could not be decoded; `message` says why, for people."""

    message: str


DecodeResult = Decoded | DecodeFailure


def absent_value(value: bytes | None) -> DecodeFailure:
    """The failure for a value without bytes: a tombstone (None) or an empty value."""
    if value is None:
        return DecodeFailure("record value is null (a tombstone): there is no record to validate")
    return DecodeFailure("record value is empty (0 bytes): there is no record to validate")


def decode_json(value: bytes | None) -> DecodeResult:
    """Decode a JSON document with orjson.

    Fails on a tombstone, empty value, invalid JSON or UTF-8, NaN/Infinity, nesting deeper than
    1024 and integers outside the 64-bit range. Duplicate keys are accepted: the last one wins
    (orjson's behaviour), and the decoded object is what gets validated.
    """
    if not value:
        return absent_value(value)
    try:
        decoded = orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        return DecodeFailure(f"not valid JSON: {exc}")
    if _LONG_DIGIT_RUN in value.translate(_DIGITS_AS_ZEROS):
        overflow = _integer_out_of_range(value)
        if overflow is not None:
            return overflow
    return Decoded(decoded)


def _integer_out_of_range(document: bytes) -> DecodeFailure | None:
    """A failure for the first integer literal outside [-2**63, 2**64) in a valid JSON document."""
    # The document is valid JSON, so scanning from the start meets every string at its opening
    # quote: numeric-looking text inside strings is skipped with the string.
    for match in _STRING_OR_NUMBER.finditer(document):
        token = match.group()
        if token[0] == 0x22 or len(token) < 19 or any(c in token for c in b".eE"):
            continue
        if int(token) not in _INT_RANGE:
            return DecodeFailure(
                f"not valid JSON for validation: integer {token[:40].decode()} at char "
                f"{match.start()} is outside the 64-bit range and would lose precision"
            )
    return None


def decode_avro(
    value: bytes | None, writer_schema: Any, framing: AvroFraming = AvroFraming.CONFLUENT
) -> DecodeResult:
    """Decode an Avro value with the parsed writer schema (`fastavro.parse_schema` output).

    The framing is configured, never guessed: plain bodies often start with the byte 0 too
    (an int 0, an empty string, the first branch of a union), and a truncated Confluent value
    can read as a different, plausible plain record. The Confluent schema id is not checked
    (the pipeline has no registry ids): the selected schema version is the writer schema.
    The body must be consumed exactly: truncated data and trailing bytes are failures.
    """
    if not value:
        return absent_value(value)
    if framing is AvroFraming.PLAIN:
        return _decode_avro_body(value, writer_schema, "plain Avro")
    if len(value) < CONFLUENT_HEADER_SIZE or value[0] != CONFLUENT_MAGIC_BYTE:
        return DecodeFailure(
            "not Confluent-framed Avro: expected magic byte 0, a 4-byte schema id and a body, "
            f"got {len(value)} byte(s) starting {value[:CONFLUENT_HEADER_SIZE].hex()}"
        )
    schema_id = int.from_bytes(value[1:CONFLUENT_HEADER_SIZE], "big")
    body = value[CONFLUENT_HEADER_SIZE:]
    return _decode_avro_body(body, writer_schema, f"Confluent Avro (schema id {schema_id})")


def _decode_avro_body(body: bytes, writer_schema: Any, what: str) -> DecodeResult:
    stream = io.BytesIO(body)
    try:
        datum = schemaless_reader(stream, writer_schema, None)
    except EOFError:
        return DecodeFailure(f"{what} is truncated: the data ended before the record did")
    except Exception as exc:  # noqa: BLE001 - any decoder error means undecodable bytes
        return DecodeFailure(f"{what} does not decode: {_describe(exc)}")
    consumed = stream.tell()
    if consumed != len(body):
        return DecodeFailure(
            f"{what} has {len(body) - consumed} trailing byte(s) after the record "
            f"({consumed} of {len(body)} bytes decoded)"
        )
    return Decoded(datum)


def _describe(exc: Exception) -> str:
    text = str(exc) or "no detail"
    if len(text) > _MAX_MESSAGE:
        text = text[:_MAX_MESSAGE] + "…"
    return f"{type(exc).__name__}: {text}"
