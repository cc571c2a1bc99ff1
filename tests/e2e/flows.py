"""Steps the end-to-end stories share: apply the samples for a test's pipeline, produce the
sample events, read what came out, and check that it is exactly what went in."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Sequence
from typing import Any, Final

from aiokafka import ConsumerRecord

from testenv.demo.cluster import Kubectl, local_samples
from testenv.demo.events import Event, event_stream
from tests.e2e.conftest import Setting
from tests.integration.validator.harness import (
    Produced,
    committed_offsets,
    produce,
    read_topic,
    wait_for_count,
)
from tests.support.e2e import PipelineUnderTest, eventually

QUIET_PERIOD: Final = 3.0
"""Seconds a consumer, were one left running, would have to show itself: far more than the
validators need for a few dozen records."""


def samples(kubectl: Kubectl, setting: Setting, **pipeline_changes: Any) -> list[dict[str, Any]]:
    """manifests/samples for this test: its pipeline name, topics, bucket and token."""
    documents = local_samples(
        kubectl,
        setting.endpoints,
        setting.topics,
        api_tokens=f"e2e:admin:{setting.token}",
        pipeline_changes=pipeline_changes,
    )
    for document in documents:
        if document["kind"] == "QuarantinePipeline":
            document["metadata"]["name"] = setting.name
    return documents


def apply_samples(
    kubectl: Kubectl, namespace: str, setting: Setting, *, replicas: int = 1, **changes: Any
) -> PipelineUnderTest:
    """`kubectl apply` the samples and wait until the pipeline is Ready."""
    kubectl.apply(samples(kubectl, setting, replicas=replicas, **changes), namespace)
    pipeline = PipelineUnderTest(kubectl, namespace, setting.name)
    eventually(
        lambda: pipeline.ready_with(replicas),
        what=f"the pipeline to be Ready with {replicas} ready validators",
        timeout=90,
    )
    return pipeline


def sample_events(count: int, *, seed: int, broken_share: float, start: int = 0) -> list[Event]:
    """`count` sample order events, reproducibly."""
    stream = event_stream(seed=seed, broken_share=broken_share, start=start)
    return list(itertools.islice(stream, count))


async def produce_events(setting: Setting, events: list[Event], *, offset: int = 0) -> None:
    """Produce the events to the source topic, spread over its partitions."""
    await produce(
        setting.endpoints.kafka_bootstrap,
        setting.topics.source,
        [
            Produced(event.value, key=event.key, partition=(offset + i) % setting.partitions)
            for i, event in enumerate(events)
        ],
    )


async def wait_for_outputs(setting: Setting, valid: int, quarantined: int) -> None:
    """Wait until the valid and quarantine topics hold at least this many records."""
    bootstrap = setting.endpoints.kafka_bootstrap
    await wait_for_count(bootstrap, [setting.topics.valid], setting.partitions, valid, 60)
    await wait_for_count(
        bootstrap, [setting.topics.quarantine], setting.partitions, quarantined, 60
    )


async def topic_records(setting: Setting, topic: str) -> list[ConsumerRecord]:
    """Every record of one of the pipeline's topics (committed ones only)."""
    return await read_topic(
        setting.endpoints.kafka_bootstrap, topic, setting.partitions, read_committed=True
    )


def outcomes(events: Sequence[Event]) -> tuple[list[bytes], list[bytes]]:
    """The values the valid topic and the quarantine topic must hold for these events, sorted."""
    valid = sorted(event.value for event in events if event.fault is None)
    broken = sorted(event.value for event in events if event.fault is not None)
    return valid, broken


async def consumed(setting: Setting, pipeline: PipelineUnderTest) -> int:
    """Source records the pipeline's consumer group has committed (the topic starts at 0)."""
    offsets = await committed_offsets(
        setting.endpoints.kafka_bootstrap,
        pipeline.consumer_group(),
        setting.topics.source,
        setting.partitions,
    )
    return sum(offsets.values())


async def wait_until_processed(
    setting: Setting, pipeline: PipelineUnderTest, events: Sequence[Event]
) -> None:
    """Wait until the pipeline has routed and committed these events (all produced so far) and
    `kubectl get qp` counts the quarantined ones."""
    valid, broken = outcomes(events)
    await wait_for_outputs(setting, len(valid), len(broken))
    deadline = time.monotonic() + 60
    while (committed := await consumed(setting, pipeline)) < len(events):
        assert time.monotonic() < deadline, f"{committed} of {len(events)} offsets committed"
        await asyncio.sleep(0.3)
    assert committed == len(events)
    eventually(
        lambda: pipeline.column("QUARANTINED") == str(len(broken)),
        what=f"kubectl get qp to show {len(broken)} quarantined",
    )


async def assert_not_consumed(
    setting: Setting, pipeline: PipelineUnderTest, consumed_before: Sequence[Event]
) -> None:
    """Nothing produced since `consumed_before` is consumed: after a quiet period the consumer
    group's offsets, the valid and quarantine topics and the quarantined count are where they
    were."""
    await asyncio.sleep(QUIET_PERIOD)
    valid, broken = outcomes(consumed_before)
    assert await consumed(setting, pipeline) == len(consumed_before)
    assert len(await topic_records(setting, setting.topics.valid)) == len(valid)
    assert len(await topic_records(setting, setting.topics.quarantine)) == len(broken)
    assert pipeline.column("QUARANTINED") == str(len(broken))


async def assert_routed(setting: Setting, events: Sequence[Event]) -> None:
    """Every event came out exactly once where it belongs: valid ones on the valid topic,
    broken ones on the quarantine topic, nothing lost or repeated."""
    valid, broken = outcomes(events)
    await wait_for_outputs(setting, len(valid), len(broken))
    forwarded = await topic_records(setting, setting.topics.valid)
    quarantined = await topic_records(setting, setting.topics.quarantine)
    assert sorted(record.value for record in forwarded) == valid
    assert sorted(record.value for record in quarantined) == broken


async def assert_delivered(
    setting: Setting, pipeline: PipelineUnderTest, events: Sequence[Event]
) -> None:
    """`assert_routed`, and the pipeline has committed every event and `kubectl get qp`
    counts the quarantined ones."""
    await assert_routed(setting, events)
    await wait_until_processed(setting, pipeline, events)
