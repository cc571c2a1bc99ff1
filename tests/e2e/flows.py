"""Steps the end-to-end stories share: apply the samples for a test's pipeline, produce the
sample events, read what came out."""

from __future__ import annotations

import itertools
from typing import Any

from aiokafka import ConsumerRecord

from testenv.demo.cluster import Kubectl, local_samples
from testenv.demo.events import Event, event_stream
from tests.e2e.conftest import Setting
from tests.integration.validator.harness import Produced, produce, read_topic, wait_for_count
from tests.support.e2e import PipelineUnderTest, eventually


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
