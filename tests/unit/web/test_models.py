"""Request models: strict, bounded, and converted to the adapter's filter."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta, timezone

import pytest
from pydantic import TypeAdapter, ValidationError

from validator_pod.adapters.quarantine_queries import RecordFilter
from validator_pod.domain.records import ErrorType, RecordStatus
from validator_pod.web.models import (
    EncodedBytes,
    RecordFilterModel,
    ReplayRequest,
    ValidateRequest,
    payload_of,
)


def test_a_filter_model_becomes_the_adapters_filter_with_sorted_unique_lists() -> None:
    model = RecordFilterModel(
        source_topic="orders",
        error_type=[ErrorType.SCHEMA_VIOLATION, ErrorType.DESERIALIZATION_ERROR],
        status=[RecordStatus.QUARANTINED, RecordStatus.QUARANTINED],
        created_after=datetime(2026, 1, 1, 2, tzinfo=timezone(timedelta(hours=2))),
        field_path="",
        q="timeout",
    )
    assert model.to_filter() == RecordFilter(
        source_topic="orders",
        error_types=("deserialization_error", "schema_violation"),
        statuses=("quarantined",),
        created_after=datetime(2026, 1, 1, tzinfo=UTC),
        field_path="",
        text="timeout",
    )
    assert RecordFilterModel().to_filter().is_empty


@pytest.mark.parametrize(
    "fields",
    [
        {"colour": "blue"},
        {"schema_version": 0},
        {"schema_version": 2**31},
        {"field_path": "amount"},
        {"q": "nul\x00byte"},
        {"q": ""},
        {"created_after": "2026-01-01T00:00:00"},
        {"created_after": "0001-01-01T00:00:00+14:00"},
        {"source_topic": "has space"},
    ],
)
def test_filters_refuse_what_postgres_or_the_contract_cannot_take(
    fields: dict[str, object],
) -> None:
    with pytest.raises(ValidationError):
        RecordFilterModel.model_validate(fields)


def test_replay_requests_bound_the_rate() -> None:
    assert ReplayRequest.model_validate({"rate_limit": 5}).rate_limit == 5
    for bad in (0, 100_001):
        with pytest.raises(ValidationError):
            ReplayRequest.model_validate({"rate_limit": bad})


def test_validate_requests_take_exactly_one_of_record_and_value() -> None:
    requests: TypeAdapter[ValidateRequest] = TypeAdapter(ValidateRequest)
    assert requests.validate_python({"record": None}).value() is None
    assert requests.validate_python({"value_base64": "e30="}).value() == b"{}"
    for bad in (
        {},
        {"record": 1, "value_base64": "e30="},
        {"value_base64": "***"},
        {"value_base64": None},
        {"record": 1, "version": "2"},
    ):
        with pytest.raises(ValidationError):
            requests.validate_python(bad)


def test_bodies_take_json_types_only_and_queries_take_text() -> None:
    for bad in (
        {"dry_run": 0},
        {"dry_run": "true"},
        {"rate_limit": "5"},
        {"schema_version": "1"},
        {"filter": {"schema_version": "1"}},
        {"filter": {"created_after": 1700000000}},
    ):
        with pytest.raises(ValidationError):
            ReplayRequest.model_validate(bad)
    assert RecordFilterModel.model_validate({"schema_version": "3"}).schema_version == 3


def test_bytes_are_shown_as_text_when_they_are_printable_utf8() -> None:
    assert EncodedBytes.of("clé".encode()) == EncodedBytes(encoding="utf-8", value="clé")
    assert EncodedBytes.of(b"\xff").encoding == "base64"
    assert EncodedBytes.of(b"a\x00b") == EncodedBytes(
        encoding="base64", value=base64.b64encode(b"a\x00b").decode()
    )


def test_a_payload_is_json_when_it_decodes_else_base64() -> None:
    assert payload_of(b'{"a": [1, null]}').model_dump() == {
        "encoding": "json",
        "value": {"a": [1, None]},
        "size_bytes": 16,
    }
    assert payload_of(b"null").value is None
    assert payload_of(b"null").encoding == "json"
    assert payload_of(b"\x00\x01").model_dump() == {
        "encoding": "base64",
        "value": "AAE=",
        "size_bytes": 2,
    }
