from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest

from tests.unit.pipeline.conftest import ORDERS, ConfigFactory, Record, order
from validator_pod.adapters.kafka import OutgoingRecord, TopicPartition
from validator_pod.domain import headers as names
from validator_pod.domain.pipeline_config import Mode
from validator_pod.domain.schemas import SchemaVersion
from validator_pod.pipeline.planning import BatchPlan, BatchPlanner, Held, QuarantineLayout
from validator_pod.pipeline.quarantining import quarantine_record_id
from validator_pod.validation.compiling import compile_schemas
from validator_pod.validation.evaluating import RecordEvaluator

RAW = "orders.raw"
P0 = TopicPartition(RAW, 0)
P1 = TopicPartition(RAW, 1)


@pytest.fixture
def planner(make_config: ConfigFactory, order_version: SchemaVersion) -> BatchPlanner:
    config = make_config()
    evaluator = RecordEvaluator(config, compile_schemas([order_version]))
    return BatchPlanner(config, evaluator, task_id="pod-7", bucket="quarantine")


def mixed_batch() -> dict[TopicPartition, list[Record]]:
    return {
        P0: [
            Record(RAW, 0, 10, order(1), key=b"a", headers=[("h", b"1")]),
            Record(RAW, 0, 11, order(2, amount=-1), key=b"b", headers=[("h", b"2")]),
            Record(RAW, 0, 12, b"{oops", key=b"c"),
            Record(RAW, 0, 13, order(3), key=None),
        ],
        P1: [
            Record(RAW, 1, 5, order(5000), key=b"d"),
            Record(RAW, 1, 6, None, key=b"e"),
        ],
    }


def test_valid_records_are_forwarded_as_their_original_bytes_key_headers_and_timestamp(
    planner: BatchPlanner,
) -> None:
    plan = planner.plan(mixed_batch())
    assert plan.valid == {
        RAW: [
            OutgoingRecord(b"a", order(1), [("h", b"1")], 1_700_000_000_000, None, 0),
            OutgoingRecord(None, order(3), (), 1_700_000_000_000, None, 0),
        ]
    }


def test_offsets_to_commit_follow_the_last_record_of_each_partition(planner: BatchPlanner) -> None:
    assert planner.plan(mixed_batch()).next_offsets == {P0: 14, P1: 7}


def laid_out(planner: BatchPlanner, *plans: BatchPlan) -> QuarantineLayout:
    """The quarantine layout of the records the plans hold, laid out together."""
    held: dict[TopicPartition, list[Held]] = {}
    for plan in plans:
        for tp, entries in plan.held.items():
            held.setdefault(tp, []).extend(entries)
    return planner.lay_out(held)


def test_each_partition_gets_one_segment_of_its_quarantined_values(planner: BatchPlanner) -> None:
    layout = laid_out(planner, planner.plan(mixed_batch()))
    assert [(s.key, s.data) for s in layout.segments] == [
        ("shop/orders/orders.raw/0/11-12.seg", order(2, amount=-1) + b"{oops"),
        ("shop/orders/orders.raw/1/5-6.seg", order(5000)),
    ]


def test_records_held_by_consecutive_batches_share_one_segment_per_partition(
    planner: BatchPlanner,
) -> None:
    first = planner.plan({P0: [Record(RAW, 0, 11, order(2, amount=-1), key=b"b")]})
    second = planner.plan({P0: [Record(RAW, 0, 12, b"{oops", key=b"c")]})

    layout = laid_out(planner, first, second)

    assert [(s.key, s.data) for s in layout.segments] == [
        ("shop/orders/orders.raw/0/11-12.seg", order(2, amount=-1) + b"{oops"),
    ]
    assert [(r.kafka_offset, r.byte_offset) for r in layout.rows] == [
        (11, 0),
        (12, len(order(2, amount=-1))),
    ]
    assert [d.value for d in layout.dead_letters[RAW]] == [order(2, amount=-1), b"{oops"]


def test_rows_point_into_the_segments_and_carry_the_reason(planner: BatchPlanner) -> None:
    layout = laid_out(planner, planner.plan(mixed_batch()))
    first = layout.rows[0]
    assert first._asdict() | {"errors_json": orjson.loads(first.errors_json)} == {
        "id": quarantine_record_id("shop", "orders", RAW, 0, 11),
        "pipeline": "orders",
        "namespace": "shop",
        "source_topic": RAW,
        "kafka_partition": 0,
        "kafka_offset": 11,
        "kafka_timestamp": datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC),
        "record_key": b"b",
        "schema_name": "orders",
        "schema_version": 3,
        "error_type": "schema_violation",
        "error_message": "/amount: -1 is less than the minimum of 0",
        "errors_json": [
            {
                "path": "/amount",
                "keyword": "minimum",
                "schema_path": "/properties/amount/minimum",
                "message": "-1 is less than the minimum of 0",
            }
        ],
        "storage_uri": "s3://quarantine/shop/orders/orders.raw/0/11-12.seg",
        "byte_offset": 0,
        "byte_length": len(order(2, amount=-1)),
        "status": "quarantined",
        "record_headers_json": '[["h","Mg=="]]',
    }
    assert [(r.kafka_offset, r.error_type, r.byte_offset, r.byte_length) for r in layout.rows] == [
        (11, "schema_violation", 0, len(order(2, amount=-1))),
        (12, "deserialization_error", len(order(2, amount=-1)), 5),
        (5, "rule_violation", 0, len(order(5000))),
        (6, "deserialization_error", len(order(5000)), 0),
    ]


def test_dead_letters_keep_key_value_and_timestamp_and_point_to_their_row(
    planner: BatchPlanner,
) -> None:
    layout = laid_out(planner, planner.plan(mixed_batch()))
    dead = layout.dead_letters[RAW]
    assert [(d.key, d.value, d.timestamp_ms, d.source_partition) for d in dead] == [
        (b"b", order(2, amount=-1), 1_700_000_000_000, 0),
        (b"c", b"{oops", 1_700_000_000_000, 0),
        (b"d", order(5000), 1_700_000_000_000, 1),
        (b"e", None, 1_700_000_000_000, 1),
    ]
    for letter, row in zip(dead, layout.rows, strict=True):
        headers = dict(letter.headers)
        assert headers[names.DQ_ID] == str(row.id).encode()
        assert headers[names.DQ_OBJECT] == row.storage_uri.encode()
        assert headers[names.DQ_ERROR_TYPE] == row.error_type.encode()


def test_outcomes_are_counted_by_topic_and_result_and_reason(planner: BatchPlanner) -> None:
    plan = planner.plan(mixed_batch())
    assert {k: v for k, v in plan.results.items() if v} == {
        (RAW, "valid"): 2,
        (RAW, "invalid"): 2,
        (RAW, "undecodable"): 2,
    }
    assert plan.quarantined == {
        "schema_violation": 1,
        "deserialization_error": 2,
        "rule_violation": 1,
    }
    assert (plan.records, plan.invalid) == (6, 4)


def test_planning_the_same_records_again_gives_the_same_plan(planner: BatchPlanner) -> None:
    assert planner.plan(mixed_batch()) == planner.plan(mixed_batch())


def test_an_empty_batch_plans_nothing(planner: BatchPlanner) -> None:
    assert planner.plan({P0: []}) == BatchPlan()


def test_remediated_records_go_to_the_valid_topic_and_their_originals_are_kept(
    make_config: ConfigFactory, order_version: SchemaVersion
) -> None:
    config = make_config(remediation_enabled=True)
    evaluator = RecordEvaluator(config, compile_schemas([order_version]))
    planner = BatchPlanner(config, evaluator, task_id="pod", bucket="b")
    original = orjson.dumps({"id": 1, "amount": "7"})

    plan = planner.plan({P0: [Record(RAW, 0, 4, original, key=b"k", headers=[("h", b"v")])]})

    (forwarded,) = plan.valid[RAW]
    assert orjson.loads(forwarded.value or b"") == {"id": 1, "amount": 7}
    headers = dict(forwarded.headers)
    assert headers["h"] == b"v"
    assert orjson.loads(headers[names.DQ_REMEDIATED])
    assert headers[names.DQ_ID] == str(quarantine_record_id("shop", "orders", RAW, 0, 4)).encode()
    layout = laid_out(planner, plan)
    (row,) = layout.rows
    assert (row.status, row.error_type, row.kafka_offset) == ("remediated", "schema_violation", 4)
    assert layout.segments[0].data == original
    assert layout.dead_letters[RAW] == []
    assert plan.results[RAW, "remediated"] == 1
    assert plan.invalid == 0


def test_observe_mode_forwards_invalid_records_and_only_counts_them(
    make_config: ConfigFactory, order_version: SchemaVersion
) -> None:
    config = make_config(mode=Mode.OBSERVE)
    evaluator = RecordEvaluator(config, compile_schemas([order_version]))
    planner = BatchPlanner(config, evaluator, task_id="pod", bucket="b")

    plan = planner.plan(mixed_batch())

    assert [r.value for r in plan.valid[RAW]] == [
        order(1),
        order(2, amount=-1),
        b"{oops",
        order(3),
        order(5000),
        None,
    ]
    assert plan.held == {}
    assert laid_out(planner, plan) == QuarantineLayout()
    assert plan.invalid == 4


def test_a_missing_schema_quarantines_as_unknown_schema(make_config: ConfigFactory) -> None:
    config = make_config()
    planner = BatchPlanner(config, RecordEvaluator(config, {}), task_id="pod", bucket="b")
    plan = planner.plan({P0: [Record(RAW, 0, 0, order(1))]})
    (row,) = laid_out(planner, plan).rows
    assert (row.error_type, row.schema_name, row.schema_version) == ("unknown_schema", "orders", 3)
    assert ORDERS.name in row.error_message
