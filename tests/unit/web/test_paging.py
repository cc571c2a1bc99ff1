"""Opaque cursors: they round-trip, and are refused when tampered with or used elsewhere."""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from validator_pod.adapters.quarantine_queries import RecordFilter
from validator_pod.web.errors import ApiError
from validator_pod.web.paging import decode_cursor, encode_cursor, filter_fingerprint

NOW = datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)


def test_a_cursor_round_trips_with_microseconds() -> None:
    record_filter = RecordFilter(statuses=("quarantined",), field_path="/a")
    after = (NOW - timedelta(seconds=1), uuid.uuid4())
    cursor = encode_cursor(NOW, after, record_filter)
    assert "=" not in cursor
    assert decode_cursor(cursor, record_filter) == (NOW, after)


def test_a_cursor_made_for_other_filters_is_refused() -> None:
    cursor = encode_cursor(NOW, (NOW, uuid.uuid4()), RecordFilter(text="a"))
    with pytest.raises(ApiError) as caught:
        decode_cursor(cursor, RecordFilter(text="b"))
    assert (caught.value.status, caught.value.code) == (422, "invalid_cursor")


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "%%%",
        base64.urlsafe_b64encode(b"[1, 2]").decode(),
        base64.urlsafe_b64encode(b'{"v": 2}').decode(),
        base64.urlsafe_b64encode(b'{"v": 1, "a": "x", "t": "y", "i": "z", "f": ""}').decode(),
        base64.urlsafe_b64encode(
            b'{"v": 1, "a": "2026-01-01T00:00:00", "t": "2026-01-01T00:00:00", '
            b'"i": "00000000-0000-0000-0000-000000000000", "f": ""}'
        ).decode(),
    ],
)
def test_garbage_is_refused_as_an_invalid_cursor(cursor: str) -> None:
    with pytest.raises(ApiError) as caught:
        decode_cursor(cursor, RecordFilter())
    assert caught.value.code == "invalid_cursor"


def test_the_fingerprint_depends_on_every_value() -> None:
    assert filter_fingerprint(RecordFilter()) == filter_fingerprint(RecordFilter())
    assert filter_fingerprint(RecordFilter(schema_version=1)) != filter_fingerprint(
        RecordFilter(schema_version=2)
    )
    assert filter_fingerprint(RecordFilter(created_after=NOW)) != filter_fingerprint(
        RecordFilter(created_before=NOW)
    )
