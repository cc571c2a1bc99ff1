from __future__ import annotations

import io
import struct
from typing import Any

import orjson
import pytest
from fastavro import parse_schema, schemaless_writer

from validator_pod.domain.pipeline_config import AvroFraming
from validator_pod.validation.decoding import (
    Decoded,
    DecodeFailure,
    decode_avro,
    decode_json,
)

ORDER_AVRO: dict[str, Any] = {
    "type": "record",
    "name": "Order",
    "namespace": "shop",
    "fields": [
        {"name": "quantity", "type": "int"},
        {"name": "sku", "type": "string"},
        {"name": "amount", "type": "double"},
        {"name": "note", "type": ["null", "string"], "default": None},
    ],
}
ORDER = {"quantity": 3, "sku": "A-1", "amount": 12.5, "note": None}


def avro_body(datum: dict[str, Any], schema: dict[str, Any] = ORDER_AVRO) -> bytes:
    buffer = io.BytesIO()
    schemaless_writer(buffer, parse_schema(schema), datum)
    return buffer.getvalue()


def confluent(body: bytes, schema_id: int = 42) -> bytes:
    return b"\x00" + struct.pack(">I", schema_id) + body


def failure_message(result: Decoded | DecodeFailure) -> str:
    assert isinstance(result, DecodeFailure), result
    return result.message


# --- JSON: the hostile corpus ---------------------------------------------------------------


def test_json_objects_decode() -> None:
    assert decode_json(b'{"a": [1, 2.5, "x", true, null]}') == Decoded(
        {"a": [1, 2.5, "x", True, None]}
    )


def test_bytes_that_are_not_json_fail_to_decode() -> None:
    assert "not valid JSON" in failure_message(decode_json(b"hello, world"))


def test_invalid_utf8_fails_to_decode() -> None:
    assert "UTF-8" in failure_message(decode_json(b'{"name": "\xff\xfe"}'))


def test_lone_surrogate_escapes_fail_to_decode() -> None:
    assert "surrogate" in failure_message(decode_json(b'{"name": "\\ud800"}'))


@pytest.mark.parametrize("literal", [b"NaN", b"Infinity", b"-Infinity"])
def test_nan_and_infinity_literals_fail_to_decode(literal: bytes) -> None:
    assert "not valid JSON" in failure_message(decode_json(b'{"amount": ' + literal + b"}"))


def test_numbers_too_large_for_a_double_fail_to_decode() -> None:
    assert "infinity" in failure_message(decode_json(b'{"amount": 1e400}'))


@pytest.mark.parametrize(
    "literal", [b"18446744073709551616", b"-9223372036854775809", b"123456789012345678901234567890"]
)
def test_integers_beyond_64_bits_fail_to_decode_instead_of_losing_precision(literal: bytes) -> None:
    message = failure_message(decode_json(b'{"id": ' + literal + b"}"))
    assert "outside the 64-bit range" in message
    assert literal.decode()[:20] in message


@pytest.mark.parametrize(
    ("literal", "value"),
    [(b"18446744073709551615", 2**64 - 1), (b"-9223372036854775808", -(2**63))],
)
def test_integers_at_the_64_bit_limits_decode_exactly(literal: bytes, value: int) -> None:
    assert decode_json(b"[" + literal + b"]") == Decoded([value])


def test_long_digit_runs_inside_strings_and_decimals_are_not_integers() -> None:
    document = (
        b'{"id": "18446744073709551616123", "x": 1.8446744073709551616, "e": 1234567890123456789e2}'
    )
    decoded = decode_json(document)
    assert isinstance(decoded, Decoded)
    assert decoded.value["id"] == "18446744073709551616123"


def test_escaped_quotes_do_not_hide_an_oversized_integer() -> None:
    document = b'{"a": "say \\"hi\\"", "b": 99999999999999999999}'
    assert "outside the 64-bit range" in failure_message(decode_json(document))


def test_nesting_deeper_than_1024_fails_to_decode() -> None:
    assert "depth limit" in failure_message(decode_json(b"[" * 10_000 + b"]" * 10_000))


def test_nesting_of_exactly_1024_decodes() -> None:
    assert isinstance(decode_json(b"[" * 1024 + b"]" * 1024), Decoded)


def test_duplicate_keys_decode_and_the_last_one_wins() -> None:
    # orjson keeps the last value; the decoded object is what gets validated, so a schema sees
    # {"amount": 2}. Producers that rely on the first value are not protected against.
    assert decode_json(b'{"amount": 1, "amount": 2}') == Decoded({"amount": 2})


def test_a_5_mb_record_decodes() -> None:
    note = "x" * (5 * 1024 * 1024)
    decoded = decode_json(orjson.dumps({"note": note}))
    assert isinstance(decoded, Decoded)
    assert len(decoded.value["note"]) == len(note)


def test_an_empty_value_fails_with_its_own_message() -> None:
    assert "empty (0 bytes)" in failure_message(decode_json(b""))


def test_a_tombstone_fails_with_its_own_message() -> None:
    assert "tombstone" in failure_message(decode_json(None))


@pytest.mark.parametrize(
    ("data", "reason"),
    [(b"   ", "empty"), (b"{} x", "after document"), (b"\xef\xbb\xbf{}", "BOM")],
)
def test_whitespace_trailing_garbage_and_byte_order_marks_fail_to_decode(
    data: bytes, reason: str
) -> None:
    assert reason in failure_message(decode_json(data))


# --- Avro --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def order_avro() -> Any:
    return parse_schema(ORDER_AVRO)


def test_confluent_framed_avro_decodes(order_avro: Any) -> None:
    data = confluent(avro_body(ORDER))
    assert decode_avro(data, order_avro, AvroFraming.CONFLUENT) == Decoded(ORDER)


def test_plain_avro_decodes(order_avro: Any) -> None:
    assert decode_avro(avro_body(ORDER), order_avro, AvroFraming.PLAIN) == Decoded(ORDER)


def test_plain_avro_starting_with_a_zero_byte_decodes_as_plain(order_avro: Any) -> None:
    datum = dict(ORDER, quantity=0)  # zigzag 0 is the byte 0x00, like Confluent's magic byte
    data = avro_body(datum)
    assert data[0] == 0
    assert decode_avro(data, order_avro, AvroFraming.PLAIN) == Decoded(datum)


@pytest.mark.parametrize("data", [b"\x06A-1", b"\x00\x00\x00"])
def test_unframed_avro_fails_when_confluent_framing_is_configured(
    order_avro: Any, data: bytes
) -> None:
    message = failure_message(decode_avro(data, order_avro, AvroFraming.CONFLUENT))
    assert "not Confluent-framed" in message


@pytest.mark.parametrize("framing", list(AvroFraming))
def test_truncated_avro_fails_to_decode(order_avro: Any, framing: AvroFraming) -> None:
    body = avro_body(dict(ORDER, quantity=7))
    data = confluent(body) if framing is AvroFraming.CONFLUENT else body
    for cut in range(1, len(data)):
        result = decode_avro(data[:cut], order_avro, framing)
        assert isinstance(result, DecodeFailure), cut


def test_truncated_confluent_avro_says_it_is_truncated(order_avro: Any) -> None:
    data = confluent(avro_body(ORDER), schema_id=7)
    message = failure_message(decode_avro(data[:-3], order_avro, AvroFraming.CONFLUENT))
    assert message.startswith("Confluent Avro (schema id 7) is truncated")


def test_avro_with_trailing_bytes_fails_to_decode(order_avro: Any) -> None:
    data = confluent(avro_body(ORDER)) + b"\x01\x02"
    message = failure_message(decode_avro(data, order_avro, AvroFraming.CONFLUENT))
    assert "2 trailing byte(s)" in message


def test_avro_strings_that_are_not_utf8_fail_to_decode(order_avro: Any) -> None:
    body = bytearray(avro_body(dict(ORDER, quantity=7, sku="AB")))
    body[2:4] = b"\xff\xfe"  # the two bytes of "AB", after quantity and the string length
    message = failure_message(decode_avro(bytes(body), order_avro, AvroFraming.PLAIN))
    assert "does not decode" in message
    assert "UnicodeDecodeError" in message


def test_avro_union_branches_out_of_range_fail_to_decode(order_avro: Any) -> None:
    body = avro_body(dict(ORDER, quantity=7))
    corrupted = body[:-1] + b"\x08"  # union branch 4 of a two-branch union
    assert isinstance(decode_avro(corrupted, order_avro, AvroFraming.PLAIN), DecodeFailure)


@pytest.mark.parametrize("value", [None, b""])
def test_avro_tombstones_and_empty_values_fail_to_decode(
    order_avro: Any, value: bytes | None
) -> None:
    assert "no record to validate" in failure_message(decode_avro(value, order_avro))
