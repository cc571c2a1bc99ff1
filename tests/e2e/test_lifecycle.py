"""Stories: pausing or stopping a pipeline stops consumption, and running it again resumes
without loss; the pause annotation holds the operator back, not the pipeline; deleting a
pipeline removes every object and process it had."""

from __future__ import annotations

from testenv.demo.cluster import Kubectl
from testenv.podrunner import PodRunner
from testenv.processes import is_alive
from tests.e2e.conftest import Setting
from tests.e2e.flows import (
    apply_samples,
    assert_delivered,
    assert_not_consumed,
    outcomes,
    produce_events,
    sample_events,
    wait_until_processed,
)
from tests.support.e2e import api_get, eventually


async def test_a_stopped_pipeline_consumes_nothing_and_resumes_without_loss(
    kubectl: Kubectl, namespace: str, pods: PodRunner | None, setting: Setting
) -> None:
    pipeline = apply_samples(kubectl, namespace, setting)
    before = sample_events(60, seed=4, broken_share=0.1)
    await produce_events(setting, before)
    await wait_until_processed(setting, pipeline, before)

    pipeline.patch_spec(state="stopped")
    eventually(
        lambda: pipeline.halted("PipelineStopped"), what="Ready=True PipelineStopped, no validators"
    )
    eventually(lambda: not pipeline.pods("api"), what="the API pods to stop too")
    assert (pipeline.column("READY"), pipeline.column("REPLICAS")) == ("True", "0")
    during = sample_events(60, seed=5, broken_share=0.1, start=1000)
    await produce_events(setting, during)
    await assert_not_consumed(setting, pipeline, before)

    pipeline.patch_spec(state="running")
    eventually(lambda: pipeline.ready_with(1), what="the pipeline to run again", timeout=90)
    await assert_delivered(setting, pipeline, before + during)


async def test_a_paused_pipeline_consumes_nothing_keeps_its_api_and_resumes_without_loss(
    kubectl: Kubectl, namespace: str, pods: PodRunner | None, setting: Setting
) -> None:
    pipeline = apply_samples(kubectl, namespace, setting)
    before = sample_events(60, seed=9, broken_share=0.2)
    await produce_events(setting, before)
    await wait_until_processed(setting, pipeline, before)

    pipeline.patch_spec(state="paused")
    paused = eventually(
        lambda: pipeline.halted("PipelinePaused"), what="Ready=True PipelinePaused, no validators"
    )
    (ready,) = [c for c in paused["status"]["conditions"] if c["type"] == "Ready"]
    assert ready["message"] == (
        "the pipeline is paused: its validators are scaled to zero, the API keeps serving"
    )
    assert (pipeline.column("READY"), pipeline.column("REPLICAS")) == ("True", "0")
    assert "PipelinePaused" in pipeline.event_reasons()
    during = sample_events(60, seed=10, broken_share=0.2, start=1000)
    await produce_events(setting, during)
    await assert_not_consumed(setting, pipeline, before)
    async with pipeline.api(setting.token) as api:
        page = await api_get(api, "/api/v1/quarantine/records", limit=1)
        assert page["total"] == len(outcomes(before)[1])

    pipeline.patch_spec(state="running")
    eventually(lambda: pipeline.ready_with(1), what="the pipeline to run again", timeout=90)
    await assert_delivered(setting, pipeline, before + during)


async def test_the_pause_annotation_holds_the_operator_back_not_the_records_until_removed(
    kubectl: Kubectl, namespace: str, pods: PodRunner | None, setting: Setting
) -> None:
    # dataquarantine.io/pause-reconciliation pauses reconciliation (like Cluster API's and
    # Flux's): the operator leaves the workload as it is, so records keep flowing and spec
    # changes wait until the annotation is removed.
    pipeline = apply_samples(kubectl, namespace, setting)
    before = sample_events(60, seed=11, broken_share=0.2)
    await produce_events(setting, before)
    await wait_until_processed(setting, pipeline, before)
    validators = {pod["metadata"]["name"] for pod in pipeline.pods("validator")}

    pipeline.pause_reconciliation(True)
    eventually(
        lambda: (pipeline.condition("ReconciliationPaused") or {}).get("status") == "True",
        what="the condition ReconciliationPaused=True",
    )
    pipeline.patch_spec(state="paused")
    generation = pipeline.get()["metadata"]["generation"]
    eventually(
        lambda: pipeline.status().get("observedGeneration") == generation,
        what="the operator to observe the paused spec",
    )
    reconciling = pipeline.condition("Reconciling") or {}
    assert (reconciling.get("status"), reconciling.get("reason")) == (
        "False",
        "ReconciliationPaused",
    )
    assert (pipeline.condition("Ready") or {}).get("status") == "True"
    assert pipeline.column("READY") == "True"
    validator = kubectl.json("get", "deployment", f"{setting.name}-validator", "-n", namespace)
    assert validator["spec"]["replicas"] == 1
    assert {pod["metadata"]["name"] for pod in pipeline.pods("validator")} == validators
    during = sample_events(60, seed=12, broken_share=0.2, start=1000)
    await produce_events(setting, during)
    await wait_until_processed(setting, pipeline, before + during)

    pipeline.pause_reconciliation(False)
    eventually(
        lambda: pipeline.halted("PipelinePaused"),
        what="the operator to apply the paused spec: Ready=True PipelinePaused, no validators",
    )
    assert pipeline.condition("ReconciliationPaused") is None
    assert {"ReconciliationPaused", "ReconciliationResumed"} <= pipeline.event_reasons()
    later = sample_events(60, seed=13, broken_share=0.2, start=2000)
    await produce_events(setting, later)
    await assert_not_consumed(setting, pipeline, before + during)

    pipeline.patch_spec(state="running")
    eventually(lambda: pipeline.ready_with(1), what="the pipeline to run again", timeout=90)
    await assert_delivered(setting, pipeline, before + during + later)


async def test_deleting_the_pipeline_removes_every_child_object_and_process(
    kubectl: Kubectl, namespace: str, pods: PodRunner | None, setting: Setting
) -> None:
    apply_samples(kubectl, namespace, setting)
    label = f"app.kubernetes.io/instance={setting.name}"
    kinds = "deployments,replicasets,pods,services,configmaps"
    assert kubectl("get", kinds, "-n", namespace, "-l", label, "-o", "name").split()
    pids = [pod.pid for pod in pods.pods() if pod.pid is not None] if pods else []

    kubectl("delete", "qp", setting.name, "-n", namespace, "--wait=true", timeout=90)
    eventually(
        lambda: not kubectl("get", kinds, "-n", namespace, "-l", label, "-o", "name").split(),
        what="every child of the pipeline to be gone",
    )
    assert kubectl("get", "pods", "-n", namespace, "-o", "name") == ""
    if pods is not None:
        eventually(lambda: not pods.pods(), what="the pod runner to forget every pod")
        assert not [pid for pid in pids if is_alive(pid)]
