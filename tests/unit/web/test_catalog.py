"""The schema catalog follows the config directory; reprocessing validates original bytes only."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from uuid import uuid4

import orjson
import pytest

from tests.unit.web.conftest import ORDER_SCHEMA, write_pipeline, write_schema
from validator_pod.adapters.quarantine_queries import StoredRecord
from validator_pod.domain.headers import DQ_REPLAYED_FROM
from validator_pod.domain.pipeline_config import Mode, SchemaRef
from validator_pod.domain.records import ErrorType, QuarantineRecord, RecordStatus
from validator_pod.pipeline.config_loading import load_pipeline
from validator_pod.validation.evaluating import Forward, Quarantine
from validator_pod.web.catalog import SchemaCatalog, SchemaFileError, for_replay
from validator_pod.web.replaying import replayed_headers, timestamp_ms

GBP = orjson.dumps({"id": 1, "currency": "GBP"})
FIXED = {
    **ORDER_SCHEMA,
    "properties": {**ORDER_SCHEMA["properties"], "currency": {"type": "string"}},
}


def catalog(config_dir: Path) -> SchemaCatalog:
    return SchemaCatalog(config_dir, load_pipeline(config_dir).config)


def _touch_later(path: Path) -> None:
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))


def test_versions_are_listed_and_the_current_one_follows_pipeline_yaml(config_dir: Path) -> None:
    schemas = catalog(config_dir)
    write_schema(config_dir, 2, FIXED)
    assert schemas.names() == ["orders"]
    assert schemas.versions("orders") == [1, 2]
    assert schemas.versions("../etc") == []
    assert schemas.current_version("orders") == 1
    evaluator = schemas.evaluator()
    assert evaluator is not None
    assert isinstance(evaluator.evaluate(GBP), Quarantine)

    write_pipeline(config_dir, 2)
    _touch_later(config_dir / "pipeline.yaml")
    assert schemas.current_version("orders") == 2
    evaluator = schemas.evaluator()
    assert evaluator is not None
    assert isinstance(evaluator.evaluate(GBP), Forward)


def test_a_requested_version_is_used_alone_and_a_missing_one_is_none(config_dir: Path) -> None:
    schemas = catalog(config_dir)
    write_schema(config_dir, 2, FIXED)
    evaluator = schemas.evaluator(SchemaRef(name="orders", version=2))
    assert evaluator is not None
    assert isinstance(evaluator.evaluate(GBP), Forward)
    assert schemas.evaluator(SchemaRef(name="orders", version=3)) is None
    assert schemas.compiled(SchemaRef(name="orders", version=3)) is None


def test_an_unreadable_version_file_is_an_error_and_a_bad_pipeline_keeps_the_last_good(
    config_dir: Path,
) -> None:
    schemas = catalog(config_dir)
    broken = config_dir / "schemas" / "orders" / "4.json"
    broken.write_text("{not json")
    with pytest.raises(SchemaFileError, match=r"4\.json"):
        schemas.compiled(SchemaRef(name="orders", version=4))
    (config_dir / "pipeline.yaml").write_text("name: [")
    _touch_later(config_dir / "pipeline.yaml")
    assert schemas.config().name == "orders"


def test_reprocessing_validates_in_enforce_mode_without_remediation(config_dir: Path) -> None:
    config = load_pipeline(config_dir).config.model_copy(
        update={"mode": Mode.OBSERVE, "remediation_enabled": True}
    )
    replaying = for_replay(config)
    assert (replaying.mode, replaying.remediation_enabled) == (Mode.ENFORCE, False)


def _stored(headers: tuple[tuple[str, bytes | None], ...] | None) -> StoredRecord:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    record = QuarantineRecord(
        id=uuid4(),
        pipeline="p",
        namespace="n",
        source_topic="t",
        kafka_partition=0,
        kafka_offset=0,
        kafka_timestamp=now,
        record_key=None,
        schema_name="orders",
        schema_version=1,
        error_type=ErrorType.SCHEMA_VIOLATION,
        error_message="m",
        errors=(),
        storage_uri="s3://b/k",
        byte_offset=0,
        byte_length=0,
        status=RecordStatus.QUARANTINED,
        replay_count=0,
        created_at=now,
        updated_at=now,
    )
    return StoredRecord(record, headers, None, None)


def test_replayed_records_keep_their_headers_and_name_their_origin_once() -> None:
    stored = _stored((("a", b"1"), (DQ_REPLAYED_FROM, b"old"), ("b", None)))
    assert replayed_headers(stored) == [
        ("a", b"1"),
        ("b", None),
        (DQ_REPLAYED_FROM, str(stored.record.id).encode()),
    ]
    bare = _stored(None)
    assert replayed_headers(bare) == [(DQ_REPLAYED_FROM, str(bare.record.id).encode())]


def test_timestamps_round_trip_to_kafka_milliseconds() -> None:
    assert timestamp_ms(None) is None
    assert timestamp_ms(datetime(2023, 11, 14, 22, 13, 20, 123000, tzinfo=UTC)) == 1_700_000_000_123
