"""Story: records were quarantined for a value the schema did not know yet; the user publishes
a compatible fix, the pods roll onto it, and the records are reprocessed and replayed through
the REST API onto the valid topic, each exactly once."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from testenv.demo.cluster import Kubectl
from testenv.demo.events import Fault
from testenv.podrunner import PodRunner
from tests.e2e.conftest import Setting
from tests.e2e.flows import (
    apply_samples,
    produce_events,
    sample_events,
    samples,
    topic_records,
    wait_for_outputs,
)
from tests.integration.validator.harness import header
from tests.support.e2e import (
    api_get,
    api_post,
    deployment_config_hash,
    eventually,
)


def fixed_schema(kubectl: Kubectl, setting: Setting) -> dict[str, Any]:
    """The sample ValidationSchema with `order.shipped` added to `event_type` (BACKWARD
    compatible: the new version reads every record the old one accepted)."""
    (schema,) = [doc for doc in samples(kubectl, setting) if doc["kind"] == "ValidationSchema"]
    schema["spec"]["schema"]["properties"]["event_type"]["enum"].append("order.shipped")
    return dict(schema)


async def test_a_compatible_schema_fix_rolls_the_pods_and_replays_the_records_exactly_once(
    kubectl: Kubectl, namespace: str, pods: PodRunner | None, setting: Setting
) -> None:
    pipeline = apply_samples(kubectl, namespace, setting)
    events = sample_events(120, seed=2, broken_share=0.25)
    valid = [event for event in events if event.fault is None]
    broken = [event for event in events if event.fault is not None]
    shipped = sorted(event.value for event in broken if event.fault is Fault.BAD_ENUM)
    assert len(shipped) >= 3
    await produce_events(setting, events)
    await wait_for_outputs(setting, len(valid), len(broken))

    validator = f"{setting.name}-validator"
    old_pods = {pod["metadata"]["name"] for pod in pipeline.pods("validator")}
    old_api_pods = {pod["metadata"]["name"] for pod in pipeline.pods("api")}
    old_hash = deployment_config_hash(kubectl, namespace, validator)
    kubectl.apply([fixed_schema(kubectl, setting)], namespace)

    eventually(
        lambda: (
            kubectl.json("get", "vs", "order-event", "-n", namespace)["status"].get("latestVersion")
            == 2
        ),
        what="the schema's version 2",
    )
    eventually(
        lambda: deployment_config_hash(kubectl, namespace, validator) != old_hash,
        what="a new config hash on the validator's pod template",
    )
    eventually(
        lambda: (
            pipeline.ready_with(1)
            and (names := {pod["metadata"]["name"] for pod in pipeline.pods("validator")})
            and not names & old_pods
        ),
        what="the validator pods to roll (new pod names, Ready again)",
        timeout=90,
    )
    assert [entry["version"] for entry in pipeline.status()["schemas"]] == [2]

    # The API rolls too: talk to it once its rollout is complete.
    kubectl("rollout", "status", f"deployment/{setting.name}-api", "-n", namespace, "--timeout=90s")
    assert not {pod["metadata"]["name"] for pod in pipeline.pods("api")} & old_api_pods
    async with pipeline.api(setting.token) as api:
        page = await api_get(api, "/api/v1/quarantine/records", field_path="/event_type")
        ids = [item["id"] for item in page["items"]]
        assert len(ids) == len(shipped)

        first = await api_post(api, f"/api/v1/quarantine/records/{ids[0]}/reprocess", {})
        assert (first["outcome"], first["status"]) == ("replayed", "replayed"), first
        assert first["schema_ref"]["version"] == 2
        again = await api.post(f"/api/v1/quarantine/records/{ids[0]}/reprocess", json={})
        assert again.status_code in (200, 409), again.text

        replay = await api_post(
            api,
            "/api/v1/quarantine/replays",
            {"filter": {"error_type": ["schema_violation"]}},
            expect=202,
        )

        async def finished() -> dict[str, Any] | None:
            found = await api_get(api, f"/api/v1/quarantine/replays/{replay['id']}")
            return found if found["state"] in ("succeeded", "failed", "cancelled") else None

        deadline = time.monotonic() + 60
        outcome = await finished()
        while outcome is None and time.monotonic() < deadline:
            await asyncio.sleep(0.3)
            outcome = await finished()
        assert outcome is not None, "the replay did not finish within 60 s"
        assert outcome["state"] == "succeeded", outcome
        assert outcome["counts"]["replayed"] == len(shipped) - 1

    await wait_for_outputs(setting, len(valid) + len(shipped), len(broken))
    forwarded = await topic_records(setting, setting.topics.valid)
    replayed = [r for r in forwarded if header(r, "dataquarantine.replayed-from") is not None]
    assert sorted(record.value for record in replayed) == shipped
    assert len(forwarded) == len(valid) + len(shipped)
