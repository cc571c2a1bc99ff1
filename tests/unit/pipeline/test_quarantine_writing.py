"""The quarantine writer: batches' held records written together, in order, one flush at a time."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence

import pytest

from validator_pod.adapters.kafka import TopicPartition
from validator_pod.pipeline.quarantine_writing import (
    EarlierFlushFailedError,
    QuarantineWriter,
    Turn,
)

A = TopicPartition("orders", 0)
B = TopicPartition("orders", 1)

Layout = dict[TopicPartition, list[str]]


def lay_out(held: Mapping[TopicPartition, Sequence[str]]) -> Layout:
    return {tp: list(entries) for tp, entries in held.items()}


class RecordingWrite:
    """A write that stores a layout (held by `gate` until released; `failures` fail it), then
    queues its "dead letters" in turn: `layouts` lists them in the order they were queued."""

    def __init__(self) -> None:
        self.layouts: list[Layout] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.failures: list[Exception] = []
        self.running = 0
        self.most_running = 0

    async def __call__(self, layout: Layout, turn: Turn) -> None:
        self.running += 1
        self.most_running = max(self.most_running, self.running)
        try:
            await self.gate.wait()
            if self.failures:
                raise self.failures.pop(0)
            await turn.wait()
            self.layouts.append(layout)
            turn.done()
        finally:
            self.running -= 1


def writer(
    write: RecordingWrite, *, linger: float = 0.05, max_records: int = 100
) -> QuarantineWriter[str, Layout]:
    return QuarantineWriter(lay_out, write, linger=linger, max_records=max_records)


async def test_batches_arriving_within_the_linger_are_written_together_in_arrival_order() -> None:
    write = RecordingWrite()
    quarantine = writer(write)

    await asyncio.gather(
        quarantine.write({A: ["a1"], B: ["b1"]}),
        quarantine.write({A: ["a2"]}),
    )

    assert write.layouts == [{A: ["a1", "a2"], B: ["b1"]}]


async def test_enough_waiting_records_are_written_without_waiting_for_the_linger() -> None:
    write = RecordingWrite()
    quarantine = writer(write, linger=60, max_records=3)

    await asyncio.wait_for(
        asyncio.gather(quarantine.write({A: ["a1", "a2"]}), quarantine.write({A: ["a3"]})), 1
    )

    assert write.layouts == [{A: ["a1", "a2", "a3"]}]


async def test_hurry_writes_what_is_waiting_now() -> None:
    write = RecordingWrite()
    quarantine = writer(write, linger=60)

    waiting = asyncio.create_task(quarantine.write({A: ["a1"]}))
    await asyncio.sleep(0)
    quarantine.hurry()

    await asyncio.wait_for(waiting, 1)
    assert write.layouts == [{A: ["a1"]}]


async def test_flushes_overlap_up_to_the_limit_and_queue_their_dead_letters_in_order() -> None:
    write = RecordingWrite()
    write.gate.clear()
    quarantine = QuarantineWriter(lay_out, write, linger=0, max_records=100, max_flushes=2)

    batches = []
    for name in ("a1", "a2", "a3"):
        batches.append(asyncio.create_task(quarantine.write({A: [name]})))
        await asyncio.sleep(0.01)
    assert write.running == 2
    write.gate.set()
    await asyncio.wait_for(asyncio.gather(*batches), 1)

    assert write.layouts == [{A: ["a1"]}, {A: ["a2"]}, {A: ["a3"]}]
    assert write.most_running == 2


async def test_a_flush_waits_for_the_earlier_flush_to_queue_its_dead_letters() -> None:
    order: list[str] = []
    slow = asyncio.Event()

    async def write(layout: Layout, turn: Turn) -> None:
        if layout == {A: ["a1"]}:
            await slow.wait()
        await turn.wait()
        order.append(layout[A][0])
        turn.done()

    quarantine = QuarantineWriter(lay_out, write, linger=0, max_records=100)
    first = asyncio.create_task(quarantine.write({A: ["a1"]}))
    await asyncio.sleep(0.01)
    second = asyncio.create_task(quarantine.write({A: ["a2"]}))
    await asyncio.sleep(0.01)
    assert order == []
    slow.set()
    await asyncio.wait_for(asyncio.gather(first, second), 1)

    assert order == ["a1", "a2"]


async def test_a_flush_behind_a_failed_one_fails_too_and_a_later_one_starts_afresh() -> None:
    write = RecordingWrite()
    write.gate.clear()
    write.failures.append(RuntimeError("S3 said no"))
    quarantine = writer(write, linger=0)

    first = asyncio.create_task(quarantine.write({A: ["a1"]}))
    await asyncio.sleep(0.01)
    second = asyncio.create_task(quarantine.write({A: ["a2"]}))
    await asyncio.sleep(0.01)
    write.gate.set()
    results = await asyncio.gather(first, second, return_exceptions=True)
    await asyncio.wait_for(quarantine.write({A: ["a3"]}), 1)

    assert isinstance(results[0], RuntimeError)
    assert isinstance(results[1], EarlierFlushFailedError)
    assert write.layouts == [{A: ["a3"]}]


async def test_a_failed_flush_fails_every_batch_in_it_and_the_next_flush_still_runs() -> None:
    write = RecordingWrite()
    write.failures.append(RuntimeError("S3 said no"))
    quarantine = writer(write, linger=0.01)

    results = await asyncio.gather(
        quarantine.write({A: ["a1"]}), quarantine.write({A: ["a2"]}), return_exceptions=True
    )
    await quarantine.write({A: ["a3"]})

    assert [str(result) for result in results] == ["S3 said no", "S3 said no"]
    assert write.layouts[-1] == {A: ["a3"]}


async def test_a_batch_cancelled_before_its_flush_is_left_out_of_it() -> None:
    write = RecordingWrite()
    quarantine = writer(write, linger=0.05)

    cancelled = asyncio.create_task(quarantine.write({A: ["a1"]}))
    kept = asyncio.create_task(quarantine.write({A: ["a2"]}))
    await asyncio.sleep(0)
    cancelled.cancel()
    await asyncio.wait_for(kept, 1)

    with pytest.raises(asyncio.CancelledError):
        await cancelled
    assert write.layouts == [{A: ["a2"]}]


async def test_a_batch_with_nothing_held_does_not_wait() -> None:
    write = RecordingWrite()
    quarantine = writer(write, linger=60)

    await asyncio.wait_for(quarantine.write({A: []}), 1)

    assert write.layouts == []


async def test_cancel_stops_the_writer_and_cancels_the_batches_waiting() -> None:
    write = RecordingWrite()
    quarantine = writer(write, linger=60)
    waiting = asyncio.create_task(quarantine.write({A: ["a1"]}))
    await asyncio.sleep(0)

    await quarantine.cancel()

    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert write.layouts == []
