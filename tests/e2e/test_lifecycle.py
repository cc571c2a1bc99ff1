"""Stories: stopping a pipeline stops consumption and starting it again resumes without loss;
deleting a pipeline removes every object and process it had."""

from __future__ import annotations

from testenv.demo.cluster import Kubectl
from testenv.podrunner import PodRunner
from testenv.processes import is_alive
from tests.e2e.conftest import Setting
from tests.e2e.flows import (
    apply_samples,
    produce_events,
    sample_events,
    topic_records,
    wait_for_outputs,
)
from tests.support.e2e import eventually


async def test_a_stopped_pipeline_consumes_nothing_and_resumes_without_loss(
    kubectl: Kubectl, namespace: str, pods: PodRunner | None, setting: Setting
) -> None:
    pipeline = apply_samples(kubectl, namespace, setting)
    before = sample_events(60, seed=4, broken_share=0.0)
    await produce_events(setting, before)
    await wait_for_outputs(setting, len(before), 0)

    kubectl(
        "patch",
        "qp",
        setting.name,
        "-n",
        namespace,
        "--type=merge",
        "-p",
        '{"spec": {"state": "stopped"}}',
    )
    eventually(lambda: not pipeline.pods("validator"), what="the validator pods to stop")
    during = sample_events(60, seed=5, broken_share=0.0, start=1000)
    await produce_events(setting, during)
    assert len(await topic_records(setting, setting.topics.valid)) == len(before)

    kubectl(
        "patch",
        "qp",
        setting.name,
        "-n",
        namespace,
        "--type=merge",
        "-p",
        '{"spec": {"state": "running"}}',
    )
    eventually(lambda: pipeline.ready_with(1), what="the pipeline to run again", timeout=90)
    await wait_for_outputs(setting, len(before) + len(during), 0)
    forwarded = await topic_records(setting, setting.topics.valid)
    assert sorted(record.value for record in forwarded) == sorted(
        event.value for event in before + during
    )


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
