"""Passthrough baseline: consume and produce with the validator's own Kafka adapters and batching,
without decoding or validating anything.

Same client (aiokafka through `SourceConsumer` and `RecordProducer`, with their defaults), same
batch size and wait (`Batching` defaults unless told otherwise), same shape of loop as the
validator's at-least-once mode: batches are delivered concurrently within the validator's
`LoopTuning` limits (records in flight at most `full_batches_in_flight` full batches, at most
`max_batches_in_flight` batches), and each batch, once it and every batch before it is
acknowledged, hands its offsets to the validator's background committer (`OffsetCommitter`).
What is left out is exactly the validator's own work: decoding, schema selection, validation,
rules and the quarantine writes. Prints its settings as one JSON line on start. Run it as
`python -m bench.passthrough --help`.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import signal
import sys
from collections import deque
from collections.abc import Mapping, Sequence

from validator_pod.adapters.kafka import (
    Delivery,
    KafkaConnection,
    OutgoingRecord,
    RecordProducer,
    SourceConsumer,
    TopicPartition,
)
from validator_pod.domain.pipeline_config import Batching
from validator_pod.pipeline.committing import OffsetCommitter
from validator_pod.pipeline.running import LoopTuning
from validator_pod.pipeline.service import GC_THRESHOLDS


class Passthrough:
    """Forwards every record of `source` to `sink` in batches; hands offsets over in order,
    each batch's after its delivery."""

    def __init__(
        self,
        connection: KafkaConnection,
        *,
        source: str,
        sink: str,
        group: str,
        batching: Batching,
        tuning: LoopTuning,
    ) -> None:
        """Nothing connects before `run`."""
        self._connection = connection
        self._source = source
        self._sink = sink
        self._group = group
        self._batching = batching
        self._tuning = tuning
        self._inflight: deque[tuple[asyncio.Task[None], int]] = deque()
        self._committer: OffsetCommitter | None = None

    async def partitions_revoked(self, revoked: frozenset[TopicPartition]) -> None:
        """Let the batches in flight finish and commit before the partitions move."""
        if self._inflight:
            await asyncio.wait([task for task, _ in self._inflight])
        if self._committer is not None:
            await self._committer.flush()

    async def partitions_assigned(self, assigned: frozenset[TopicPartition]) -> None:
        """Nothing to do."""

    async def run(self, stopping: asyncio.Event) -> None:
        """Forward until `stopping` is set, then finish the batches in flight."""
        producer = await RecordProducer.start(self._connection, client_id="bench-passthrough")
        consumer = await SourceConsumer.start(
            self._connection,
            topics=[self._source],
            group_id=self._group,
            handler=self,
            client_id="bench-passthrough",
        )
        self._committer = OffsetCommitter(consumer.commit)
        try:
            await self._forward_all(consumer, producer, self._committer, stopping)
        finally:
            if self._inflight:
                await asyncio.wait([task for task, _ in self._inflight])
            await self._committer.flush()
            await consumer.stop()
            await producer.stop()

    async def _forward_all(
        self,
        consumer: SourceConsumer,
        producer: RecordProducer,
        committer: OffsetCommitter,
        stopping: asyncio.Event,
    ) -> None:
        keep = consumer.partition_count(self._source) == await producer.partition_count(self._sink)
        batching = self._batching
        inflight = self._inflight
        budget = self._tuning.full_batches_in_flight * batching.max_records
        while not stopping.is_set():
            batch = await consumer.getmany(
                max_records=batching.max_records, timeout_ms=batching.max_wait_ms or 1
            )
            while inflight and inflight[0][0].done():
                inflight.popleft()[0].result()  # a failed batch stops the baseline
            if not batch:
                continue
            outgoing: list[OutgoingRecord] = []
            offsets: dict[TopicPartition, int] = {}
            for tp, records in batch.items():
                if not records:
                    continue
                partition = tp.partition
                outgoing += [
                    OutgoingRecord(r.key, r.value, r.headers, r.timestamp, None, partition)
                    for r in records
                ]
                offsets[tp] = records[-1].offset + 1
            while inflight and (
                len(inflight) >= self._tuning.max_batches_in_flight
                or sum(records for _, records in inflight) + len(outgoing) > budget
            ):
                await inflight.popleft()[0]
            deliveries = await producer.send(self._sink, outgoing, keep_partitions=keep)
            previous = inflight[-1][0] if inflight else None
            task = asyncio.create_task(_settle(committer, producer, deliveries, offsets, previous))
            inflight.append((task, len(outgoing)))


async def _settle(
    committer: OffsetCommitter,
    producer: RecordProducer,
    deliveries: Sequence[Delivery],
    offsets: Mapping[TopicPartition, int],
    previous: asyncio.Task[None] | None,
) -> None:
    """Wait for this batch's acknowledgements and the previous batch's; hand the offsets over."""
    await producer.wait_delivered(deliveries)
    if previous is not None:
        await previous
    committer.hand_over(offsets)


def build_parser() -> argparse.ArgumentParser:
    """The command line."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.passthrough",
        description="Forward SOURCE to SINK in batches with the validator's Kafka adapters, "
        "without decoding or validation (the benchmark's baseline). Stops on SIGTERM/SIGINT.",
    )
    defaults = Batching()
    parser.add_argument("--bootstrap", required=True, help="Kafka bootstrap servers")
    parser.add_argument("--source", required=True, help="topic to consume")
    parser.add_argument("--sink", required=True, help="topic to produce to")
    parser.add_argument("--group", required=True, help="consumer group")
    parser.add_argument(
        "--max-records",
        type=int,
        default=defaults.max_records,
        help="records per batch (default: the pipeline's, %(default)s)",
    )
    parser.add_argument(
        "--max-wait-ms",
        type=int,
        default=defaults.max_wait_ms,
        help="longest wait for a batch's first record (default: the pipeline's, %(default)s)",
    )
    tuning = LoopTuning()
    parser.add_argument(
        "--full-batches-in-flight",
        type=int,
        default=tuning.full_batches_in_flight,
        help="records being delivered at once, in full batches (default: the validator's, "
        "%(default)s)",
    )
    parser.add_argument(
        "--max-batches-in-flight",
        type=int,
        default=tuning.max_batches_in_flight,
        help="batches being delivered at once (default: the validator's, %(default)s)",
    )
    return parser


async def _main(args: argparse.Namespace) -> None:
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    batching = Batching(max_records=args.max_records, max_wait_ms=args.max_wait_ms)
    tuning = LoopTuning(
        full_batches_in_flight=args.full_batches_in_flight,
        max_batches_in_flight=args.max_batches_in_flight,
    )
    in_flight = {
        "full_batches_in_flight": tuning.full_batches_in_flight,
        "max_batches_in_flight": tuning.max_batches_in_flight,
    }
    print(json.dumps({**batching.model_dump(), **in_flight}), flush=True)
    passthrough = Passthrough(
        KafkaConnection(bootstrap_servers=args.bootstrap),
        source=args.source,
        sink=args.sink,
        group=args.group,
        batching=batching,
        tuning=tuning,
    )
    # the validator's runtime settings too, so that the baseline differs only by the work
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
    await passthrough.run(stopping)


def main(argv: Sequence[str] | None = None) -> int:
    """Run until SIGTERM/SIGINT; exit 0."""
    asyncio.run(_main(build_parser().parse_args(argv)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
