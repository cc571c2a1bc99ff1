"""The operator's rendered workloads run for real under the dev-only pod runner: the sample
schema and pipeline, pointed at the local stack, become Ready with real pod readiness, route
records, scale, and leave nothing behind when deleted."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import yaml
from kopf.testing import KopfRunner

from quarantine_operator.api.v1alpha1 import QUARANTINE_PIPELINE, VALIDATION_SCHEMA
from quarantine_operator.render import CONFIG_HASH_ANNOTATION
from testenv.podrunner import PodRunner
from testenv.processes import is_alive
from tests.conftest import PodRunnerFactory, StackEnv
from tests.integration.operator.cluster import Cluster, condition, has_condition
from tests.integration.validator.harness import (
    Pipeline,
    Produced,
    header,
    produce,
    read_topic,
    wait_for_count,
)
from tests.support.polling import eventually

SAMPLES = Path(__file__).resolve().parents[3] / "manifests" / "samples"
VALIDATOR_PODS = "app.kubernetes.io/instance=orders,app.kubernetes.io/component=validator"


def sample(file: str) -> list[dict[str, Any]]:
    """The documents of a sample manifest."""
    return [doc for doc in yaml.safe_load_all((SAMPLES / file).read_text()) if doc]


def create_secrets(cluster: Cluster, namespace: str, stack: StackEnv) -> None:
    """The samples' Secrets, with the local stack's S3 keys and PostgreSQL DSN."""
    values = {
        "orders-s3": {"accessKey": stack.s3_access_key, "secretKey": stack.s3_secret_key},
        "orders-postgres": {"dsn": stack.postgres_dsn},
        "orders-api-tokens": {"tokens": f"ops:admin:{uuid.uuid4().hex}"},
    }
    for secret in sample("secrets.yaml"):
        name = secret["metadata"]["name"]
        cluster.create_secret(namespace, name, values.get(name, secret["stringData"]))


def pipeline_spec(stack: StackEnv, topics: Pipeline) -> dict[str, Any]:
    """The sample pipeline, on this test's topics and bucket and the local stack."""
    (document,) = sample("quarantinepipeline.yaml")
    spec: dict[str, Any] = document["spec"]
    spec["kafka"]["bootstrapServers"] = stack.kafka_bootstrap
    spec["source"]["topics"] = [topics.source]
    spec["sinks"] = {"validTopic": topics.valid, "quarantineTopic": topics.quarantine}
    storage = spec["quarantine"]["storage"]
    storage.update(endpoint=stack.s3_endpoint, bucket=topics.bucket, secure=False)
    return spec


def order_event(**changes: Any) -> bytes:
    """An order event that the sample schema accepts, with `changes` applied."""
    event: dict[str, Any] = {
        "event_id": str(uuid.uuid4()),
        "event_type": "order.created",
        "occurred_at": "2026-01-02T03:04:05Z",
        "customer": {"id": "c-1", "email": "ada@example.com"},
        "amount": 42.5,
        "currency": "EUR",
        "items": [{"sku": "BOOK-1", "qty": 1, "price": 42.5}],
    }
    event.update(changes)
    return json.dumps(event).encode()


def validator_pods(cluster: Cluster, namespace: str) -> list[Any]:
    """The validator pods, oldest first."""
    pods = cluster.core.list_namespaced_pod(namespace, label_selector=VALIDATOR_PODS).items
    return sorted(pods, key=lambda pod: pod.metadata.creation_timestamp)


def ready_pipeline(cluster: Cluster, namespace: str, replicas: int) -> dict[str, Any] | None:
    """The pipeline once it is Ready with `replicas` ready validators."""
    found = cluster.pipeline(namespace, "orders")
    status = (found or {}).get("status") or {}
    if has_condition(found, "Ready", "True") and status.get("readyReplicas") == replicas:
        return found
    return None


def stats(cluster: Cluster, namespace: str) -> dict[str, Any]:
    """The pipeline's live statistics, once the operator has scraped a pod."""
    status = (cluster.pipeline(namespace, "orders") or {}).get("status") or {}
    return dict(status.get("stats") or {})


def running_validators(runner: PodRunner, namespace: str) -> dict[str, tuple[str, int]]:
    """Validator pod name → (address, pid) of the processes that run and are ready."""
    return {
        pod.name: (pod.address, pod.pid)
        for pod in runner.pods()
        if pod.namespace == namespace
        and "-validator-" in pod.name
        and pod.ready
        and pod.pid is not None
        and pod.address is not None
        and is_alive(pod.pid)
    }


async def test_the_pipelines_pods_run_route_records_scale_and_go_away_with_the_pipeline(
    operator: KopfRunner,
    namespace: str,
    cluster: Cluster,
    stack_env: StackEnv,
    topics: Pipeline,
    pod_runner: PodRunnerFactory,
) -> None:
    runner = pod_runner(namespace)
    create_secrets(cluster, namespace, stack_env)
    (schema,) = sample("validationschema.yaml")
    cluster.create(VALIDATION_SCHEMA, namespace, "order-event", schema["spec"])
    cluster.create(QUARANTINE_PIPELINE, namespace, "orders", pipeline_spec(stack_env, topics))

    # The validator pod is bound to the runner's node, runs, and its readiness probe passes:
    # the Deployment's readyReplicas, and so the pipeline's Ready condition, are real.
    pipeline = eventually(
        lambda: ready_pipeline(cluster, namespace, 1),
        what="the pipeline to be Ready with one ready validator",
        timeout=90,
    )
    assert pipeline["status"]["replicas"] == 1
    assert "1/1 validator pods ready" in condition(pipeline, "Ready")["message"]  # type: ignore[index]
    (pod,) = validator_pods(cluster, namespace)
    assert pod.spec.node_name == runner.node_name
    assert pod.status.phase == "Running"
    assert pod.status.pod_ip.startswith("127.0.0.")
    assert pod.status.container_statuses[0].ready
    api = eventually(
        lambda: [p for p in runner.pods() if "-api-" in p.name and p.ready],
        what="the API pod to be ready",
    )
    assert api[0].address != pod.status.pod_ip

    # Records flow through the validator process the operator's Deployment describes. They are
    # produced at once, before the operator's first scrape of the pod: a pod it has not counted
    # yet counts from zero, so the quarantined total still comes out exact.
    valid = [order_event(), order_event(amount="17.25")]  # the second one is remediated
    invalid = [order_event(currency="euro"), b"{not json"]
    await produce(
        stack_env.kafka_bootstrap,
        topics.source,
        [
            Produced(value, key=f"k{i}".encode(), partition=i % topics.partitions)
            for i, value in enumerate(valid + invalid)
        ],
    )
    await wait_for_count(stack_env.kafka_bootstrap, [topics.valid], 2, len(valid), within=60)
    await wait_for_count(stack_env.kafka_bootstrap, [topics.quarantine], 2, len(invalid), 60)
    forwarded = await read_topic(stack_env.kafka_bootstrap, topics.valid, 2)
    quarantined = await read_topic(stack_env.kafka_bootstrap, topics.quarantine, 2)
    assert sorted(record.key for record in forwarded) == [b"k0", b"k1"]
    assert json.loads(next(r.value for r in forwarded if r.key == b"k1"))["amount"] == 17.25
    assert sorted(record.key for record in quarantined) == [b"k2", b"k3"]
    assert {header(record, "dataquarantine.error.type") for record in quarantined} == {
        b"schema_violation",
        b"deserialization_error",
    }
    assert {header(record, "__connect.errors.task.id") for record in quarantined} == {
        pod.metadata.name.encode()
    }
    eventually(
        lambda: stats(cluster, namespace).get("quarantinedTotal") == len(invalid),
        what=f"the operator's stats to count {len(invalid)} quarantined records",
    )
    assert stats(cluster, namespace)["pods"] == [
        {"name": pod.metadata.name, "quarantined": len(invalid)}
    ]

    # Scaling the pipeline starts a second process on an address of its own.
    cluster.patch(QUARANTINE_PIPELINE, namespace, "orders", {"spec": {"replicas": 2}})
    eventually(
        lambda: ready_pipeline(cluster, namespace, 2),
        what="the pipeline to be Ready with two ready validators",
        timeout=60,
    )
    processes = eventually(
        lambda: (found := running_validators(runner, namespace)) and len(found) == 2 and found,
        what="two running validator processes",
    )
    addresses = {address for address, _ in processes.values()}
    assert len(addresses) == 2
    assert {pod.status.pod_ip for pod in validator_pods(cluster, namespace)} == addresses

    # A compatible schema change rolls the pods (new config hash): the ReplicaSet controller
    # creates new pods and deletes the old ones, and the runner follows.
    old_hash = cluster.config_hash(namespace, "orders-validator")
    coupon = {"properties": {"coupon": {"type": "string", "maxLength": 32}}}
    cluster.patch(VALIDATION_SCHEMA, namespace, "order-event", {"spec": {"schema": coupon}})
    new_hash = eventually(
        lambda: (found := cluster.config_hash(namespace, "orders-validator")) != old_hash and found,
        what="the new schema version to change the validators' config hash",
    )
    eventually(
        lambda: (
            ready_pipeline(cluster, namespace, 2)
            and {
                pod.metadata.annotations[CONFIG_HASH_ANNOTATION]
                for pod in validator_pods(cluster, namespace)
            }
            == {new_hash}
            and len(running_validators(runner, namespace)) == 2
        ),
        what="the rollout to replace both validators",
        timeout=60,
    )
    assert not [pid for _, pid in processes.values() if is_alive(pid)]

    # Deleting the pipeline deletes its pods; the runner stops their processes and finalises.
    pids = [pod.pid for pod in runner.pods() if pod.pid is not None]
    assert len(pids) >= 3  # two validators and the API (maybe two: its config changed too)
    cluster.delete(QUARANTINE_PIPELINE, namespace, "orders")
    eventually(
        lambda: not cluster.core.list_namespaced_pod(namespace).items and not runner.pods(),
        what="every pod of the pipeline to be gone",
        timeout=60,
    )
    assert not [pid for pid in pids if is_alive(pid)]
    on_node = cluster.core.list_pod_for_all_namespaces(
        field_selector=f"spec.nodeName={runner.node_name}"
    )
    assert on_node.items == []
