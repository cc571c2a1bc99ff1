"""The original design's approach, for comparison: one record at a time.

Per record: `json.loads`, the pure-Python `jsonschema` validator (built once, with a format
checker; the original rebuilt nothing per record either, which makes this the generous reading),
the business rule as plain Python, `send_and_wait` to the valid or dead-letter topic, then a
commit of that record's offset. The dead letter carries the errors in one header; there is no S3
segment and no PostgreSQL row, so this approach does strictly less work per invalid record than
the pipeline. Run it as `python -m bench.original --help`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
from collections.abc import Sequence
from typing import Any

import jsonschema  # type: ignore[import-untyped]
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from bench.workload import EVENT_SCHEMA, RULE_MESSAGE


def errors_of(validator: jsonschema.protocols.Validator, value: bytes | None) -> list[str]:
    """The reasons a record is invalid (empty when it is valid)."""
    try:
        record: Any = json.loads(value or b"")
    except ValueError as exc:
        return [f"not JSON: {exc}"]
    errors = [error.message for error in validator.iter_errors(record)]
    if not errors and record.get("channel") == "pos" and record.get("payment_method") == "paypal":
        errors.append(RULE_MESSAGE)
    return errors


async def run(args: argparse.Namespace) -> None:
    """Consume, validate, send_and_wait, commit: one record at a time, until cancelled."""
    validator = jsonschema.Draft202012Validator(
        EVENT_SCHEMA, format_checker=jsonschema.FormatChecker()
    )
    consumer = AIOKafkaConsumer(
        args.source,
        bootstrap_servers=args.bootstrap,
        group_id=args.group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    producer = AIOKafkaProducer(bootstrap_servers=args.bootstrap, acks="all")
    await producer.start()
    await consumer.start()
    try:
        while True:
            message = await consumer.getone()
            errors = errors_of(validator, message.value)
            headers = list(message.headers)
            if errors:
                headers.append(("errors", json.dumps(errors).encode()))
                await producer.send_and_wait(
                    args.dlq, message.value, key=message.key, headers=headers
                )
            else:
                await producer.send_and_wait(
                    args.valid, message.value, key=message.key, headers=headers
                )
            await consumer.commit(
                {TopicPartition(message.topic, message.partition): message.offset + 1}
            )
    finally:
        await consumer.stop()
        await producer.stop()


def build_parser() -> argparse.ArgumentParser:
    """The command line."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.original",
        description="The original design's per-record loop (json + jsonschema, send_and_wait "
        "and a commit per record), for comparison. Stops on SIGTERM/SIGINT.",
    )
    parser.add_argument("--bootstrap", required=True, help="Kafka bootstrap servers")
    parser.add_argument("--source", required=True, help="topic to consume")
    parser.add_argument("--valid", required=True, help="topic for valid records")
    parser.add_argument("--dlq", required=True, help="topic for invalid records")
    parser.add_argument("--group", required=True, help="consumer group")
    return parser


async def _main(args: argparse.Namespace) -> None:
    task = asyncio.ensure_future(run(args))
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, task.cancel)
    with contextlib.suppress(asyncio.CancelledError):
        await task


def main(argv: Sequence[str] | None = None) -> int:
    """Run until SIGTERM/SIGINT; exit 0."""
    asyncio.run(_main(build_parser().parse_args(argv)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
