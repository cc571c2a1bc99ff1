"""Story: scaling an exactly-once pipeline to 3 replicas rebalances the consumer group without
losing or duplicating a record."""

from __future__ import annotations

from testenv.demo.cluster import Kubectl
from testenv.podrunner import PodRunner
from tests.e2e.conftest import Setting
from tests.e2e.flows import apply_samples, assert_routed, produce_events, sample_events
from tests.support.e2e import eventually


async def test_scaling_to_three_replicas_loses_and_duplicates_nothing_in_exactly_once_mode(
    kubectl: Kubectl, namespace: str, pods: PodRunner | None, setting: Setting
) -> None:
    pipeline = apply_samples(kubectl, namespace, setting, delivery="exactlyOnce")
    first = sample_events(150, seed=6, broken_share=0.1)
    await produce_events(setting, first)

    kubectl("scale", "qp", setting.name, "-n", namespace, "--replicas=3")
    second = sample_events(150, seed=7, broken_share=0.1, start=1000)
    await produce_events(setting, second, offset=1)
    eventually(lambda: pipeline.ready_with(3), what="three ready validators", timeout=90)
    third = sample_events(150, seed=8, broken_share=0.1, start=2000)
    await produce_events(setting, third, offset=2)

    await assert_routed(setting, first + second + third)
    assert len({pod["status"]["podIP"] for pod in pipeline.pods("validator")}) == 3
