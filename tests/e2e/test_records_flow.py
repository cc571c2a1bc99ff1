"""Story: a user applies the sample schema and pipeline; records flow; the valid topic and the
quarantine hold exactly what they should; `kubectl get qp` shows Ready and the counts."""

from __future__ import annotations

from collections import Counter

from testenv.demo.cluster import Kubectl
from testenv.demo.events import EXPECTED_ERROR_TYPE
from testenv.podrunner import PodRunner
from tests.e2e.conftest import Setting
from tests.e2e.flows import (
    apply_samples,
    produce_events,
    sample_events,
    topic_records,
    wait_for_outputs,
)
from tests.integration.validator.harness import header
from tests.support.argocd import evaluate_health
from tests.support.e2e import api_get, eventually


async def test_valid_records_are_forwarded_and_broken_ones_quarantined_with_their_reasons(
    kubectl: Kubectl, namespace: str, pods: PodRunner | None, setting: Setting
) -> None:
    pipeline = apply_samples(kubectl, namespace, setting)
    events = sample_events(200, seed=1, broken_share=0.1)
    valid = [event for event in events if event.fault is None]
    broken = [event for event in events if event.fault is not None]
    assert {event.fault for event in broken} == set(EXPECTED_ERROR_TYPE)

    await produce_events(setting, events)
    await wait_for_outputs(setting, len(valid), len(broken))

    forwarded = await topic_records(setting, setting.topics.valid)
    assert sorted(record.value for record in forwarded) == sorted(event.value for event in valid)
    quarantined = await topic_records(setting, setting.topics.quarantine)
    assert sorted(
        (record.value, header(record, "dataquarantine.error.type")) for record in quarantined
    ) == sorted(
        (event.value, EXPECTED_ERROR_TYPE[event.fault].encode())
        for event in broken
        if event.fault is not None
    )

    expected_types = Counter(
        EXPECTED_ERROR_TYPE[event.fault] for event in broken if event.fault is not None
    )
    async with pipeline.api(setting.token) as api:
        page = await api_get(api, "/api/v1/quarantine/records", limit=1000)
        assert page["total"] == len(broken)
        assert sorted(item["key"]["value"].encode() for item in page["items"]) == sorted(
            event.key for event in broken
        )
        stats = await api_get(api, "/api/v1/quarantine/stats")
        assert stats["by_error_type"] == dict(expected_types)

    eventually(
        lambda: pipeline.column("QUARANTINED") == str(len(broken)),
        what=f"kubectl get qp to show {len(broken)} quarantined (the operator's stats scrape)",
    )
    assert pipeline.column("READY") == "True"
    assert pipeline.column("REPLICAS") == "1"
    assert evaluate_health(pipeline.get()).status == "Healthy"
