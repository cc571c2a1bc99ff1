"""The background offset committer: one commit at a time, later offsets merged, nothing handed
over is dropped unless its partition was revoked."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

import pytest

from validator_pod.adapters.errors import PartitionsRevokedError
from validator_pod.adapters.kafka import TopicPartition
from validator_pod.pipeline.committing import OffsetCommitter

A = TopicPartition("orders", 0)
B = TopicPartition("orders", 1)


class RecordingCommit:
    """A commit that records what it was given and finishes when released."""

    def __init__(self) -> None:
        self.calls: list[dict[TopicPartition, int]] = []
        self.release = asyncio.Event()
        self.in_flight = 0
        self.most_in_flight = 0
        self.failures: list[BaseException] = []

    async def __call__(self, offsets: Mapping[TopicPartition, int]) -> None:
        self.calls.append(dict(offsets))
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            await self.release.wait()
            if self.failures:
                raise self.failures.pop(0)
        finally:
            self.in_flight -= 1


async def test_offsets_handed_over_during_a_commit_are_merged_into_the_next_one() -> None:
    commit = RecordingCommit()
    committer = OffsetCommitter(commit)

    committer.hand_over({A: 10})
    await asyncio.sleep(0)
    committer.hand_over({A: 20, B: 5})
    committer.hand_over({A: 30})
    commit.release.set()
    await committer.flush()

    assert commit.calls == [{A: 10}, {A: 30, B: 5}]
    assert commit.most_in_flight == 1


async def test_flush_returns_only_after_everything_handed_over_is_committed() -> None:
    commit = RecordingCommit()
    committer = OffsetCommitter(commit)
    committer.hand_over({A: 7})

    flushing = asyncio.create_task(committer.flush())
    await asyncio.sleep(0.01)
    assert not flushing.done()

    commit.release.set()
    await asyncio.wait_for(flushing, 1)
    assert commit.calls == [{A: 7}]


async def test_a_revoked_commit_is_dropped_and_later_offsets_are_still_committed() -> None:
    commit = RecordingCommit()
    commit.failures.append(PartitionsRevokedError("the group moved on"))
    committer = OffsetCommitter(commit)

    committer.hand_over({A: 1})
    await asyncio.sleep(0)
    committer.hand_over({B: 2})
    commit.release.set()
    await committer.flush()

    assert commit.calls == [{A: 1}, {B: 2}]


async def test_an_unexpected_commit_failure_is_raised_to_the_loop() -> None:
    commit = RecordingCommit()
    commit.failures.append(RuntimeError("bug"))
    commit.release.set()
    committer = OffsetCommitter(commit)

    committer.hand_over({A: 1})
    with pytest.raises(RuntimeError, match="bug"):
        await committer.flush()
    with pytest.raises(RuntimeError, match="bug"):
        committer.hand_over({A: 2})


async def test_forgotten_partitions_are_not_committed() -> None:
    commit = RecordingCommit()
    committer = OffsetCommitter(commit)
    committer.hand_over({A: 1})
    await asyncio.sleep(0)
    committer.hand_over({A: 2, B: 3})

    committer.forget({B})
    commit.release.set()
    await committer.flush()

    assert commit.calls == [{A: 1}, {A: 2}]


async def test_cancel_stops_the_commit_in_flight_and_drops_what_is_pending() -> None:
    commit = RecordingCommit()
    committer = OffsetCommitter(commit)
    committer.hand_over({A: 1})
    await asyncio.sleep(0)
    committer.hand_over({A: 2})

    await committer.cancel()
    await committer.flush()

    assert commit.calls == [{A: 1}]
    assert commit.in_flight == 0
