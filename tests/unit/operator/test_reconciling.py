"""The reconciler's I/O shell against an in-memory API: what it writes, posts and counts.

The real API server runs in tests/integration/operator; these cover the branches that are hard
to provoke there (a refused apply, a version name already taken, a vanished object).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import kopf
import pytest
from prometheus_client import CollectorRegistry

from quarantine_operator.api.v1alpha1 import QUARANTINE_PIPELINE, VALIDATION_SCHEMA, ResourceNames
from quarantine_operator.metrics import OperatorMetrics, Result
from quarantine_operator.reconciling import Reconciled, Reconciler
from quarantine_operator.render import ChildKind
from quarantine_operator.scraping import Scraper
from quarantine_operator.stats import PodSample

from .builders import pipeline_document

NOW = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
SCHEMA = {
    "type": "JSON_SCHEMA",
    "schema": {"type": "object", "properties": {"id": {"type": "string"}}},
}
SECRETS = {"kafka-creds": set(), "s3-creds": {"accessKey", "secretKey"}, "pg-creds": {"dsn"}}


class FakeKube:
    """Just enough of `k8s.Kubernetes`, in memory."""

    def __init__(self) -> None:
        self.custom: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.children: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.secrets: dict[tuple[str, str], set[str]] = {}
        self.events: list[dict[str, Any]] = []
        self.pods: list[dict[str, Any]] = []
        self.refuse_apply: str | None = None
        self.status_writes = 0
        self._uids = 0

    def uid(self) -> str:
        self._uids += 1
        return f"uid-{self._uids}"

    def add(self, resource: ResourceNames, name: str, spec: Any) -> None:
        self.custom[(resource.plural, "shop", name)] = {
            "apiVersion": "dataquarantine.io/v1alpha1",
            "kind": resource.kind,
            "metadata": {"name": name, "namespace": "shop", "uid": self.uid(), "generation": 1},
            "spec": spec,
        }

    def get_custom_object(
        self, resource: ResourceNames, namespace: str, name: str
    ) -> dict[str, Any] | None:
        found = self.custom.get((resource.plural, namespace, name))
        return copy.deepcopy(found)

    def patch_custom_status(
        self, resource: ResourceNames, namespace: str, name: str, status: Mapping[str, Any]
    ) -> bool:
        found = self.custom.get((resource.plural, namespace, name))
        if found is None:
            return False
        self.status_writes += 1
        merged = {**found.get("status", {}), **copy.deepcopy(dict(status))}
        found["status"] = {key: value for key, value in merged.items() if value is not None}
        return True

    def list_config_maps(self, namespace: str, label_selector: str) -> list[dict[str, Any]]:
        match = re.search(r"instance in \(([^)]*)\)", label_selector)
        assert match is not None
        names = set(match.group(1).split(","))
        return [
            copy.deepcopy(obj)
            for (kind, ns, _), obj in self.children.items()
            if kind == "ConfigMap"
            and ns == namespace
            and obj["metadata"]["labels"].get("app.kubernetes.io/component") == "schema-version"
            and obj["metadata"]["labels"].get("app.kubernetes.io/instance") in names
        ]

    def create_config_map(self, body: Mapping[str, Any]) -> bool:
        key = ("ConfigMap", body["metadata"]["namespace"], body["metadata"]["name"])
        if key in self.children:
            return False
        self.children[key] = {**copy.deepcopy(dict(body)), "metadata": {**body["metadata"]}}
        self.children[key]["metadata"]["uid"] = self.uid()
        return True

    def read_secret_keys(self, namespace: str, name: str) -> frozenset[str] | None:
        keys = self.secrets.get((namespace, name))
        return None if keys is None else frozenset(keys)

    def read(self, kind: ChildKind, namespace: str, name: str) -> dict[str, Any] | None:
        return copy.deepcopy(self.children.get((kind.value, namespace, name)))

    def apply(self, body: Mapping[str, Any]) -> dict[str, Any]:
        if self.refuse_apply == body["kind"]:
            raise kopf.PermanentError(f"applying {body['kind']}: spec.template: Invalid value")
        key = (body["kind"], body["metadata"]["namespace"], body["metadata"]["name"])
        applied = copy.deepcopy(dict(body))
        applied["metadata"]["uid"] = (
            self.children.get(key, {}).get("metadata", {}).get("uid") or self.uid()
        )
        applied["metadata"]["generation"] = 1
        self.children[key] = applied
        return copy.deepcopy(applied)

    def delete(self, kind: ChildKind, namespace: str, name: str, uid: str) -> None:
        self.children.pop((kind.value, namespace, name), None)

    def create_event(self, body: Mapping[str, Any]) -> None:
        self.events.append(dict(body))

    def list_pods(self, namespace: str, label_selector: str) -> list[dict[str, Any]]:
        return self.pods


class FakeScraper(Scraper):
    def __init__(self, samples: dict[str, PodSample]) -> None:
        self.samples = samples

    def scrape(self, urls: Mapping[str, str]) -> dict[str, PodSample]:
        return {pod: sample for pod, sample in self.samples.items() if pod in urls}

    def close(self) -> None:
        return None


@pytest.fixture
def kube() -> FakeKube:
    return FakeKube()


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def reconciler(kube: FakeKube, registry: CollectorRegistry) -> Reconciler:
    return Reconciler(
        kube,  # type: ignore[arg-type]
        OperatorMetrics(registry),
        FakeScraper({}),
        image="registry.local/dq:test",
        clock=lambda: NOW,
        monotonic=lambda: 100.0,
    )


def events(kube: FakeKube) -> list[tuple[str, str]]:
    return [(event["type"], event["reason"]) for event in kube.events]


def count(registry: CollectorRegistry, kind: str, result: str) -> float | None:
    return registry.get_sample_value(
        "dataquarantine_operator_reconciliations_total", {"kind": kind, "result": result}
    )


def ready(kube: FakeKube, resource: ResourceNames, name: str) -> tuple[str, str]:
    found = kube.custom[(resource.plural, "shop", name)]
    (condition,) = [c for c in found["status"]["conditions"] if c["type"] == "Ready"]
    return condition["status"], condition["reason"]


def test_a_new_schema_is_published_once_with_an_event(
    kube: FakeKube, reconciler: Reconciler, registry: CollectorRegistry
) -> None:
    kube.add(VALIDATION_SCHEMA, "orders", SCHEMA)
    assert reconciler.reconcile_schema("shop", "orders") == Reconciled(Result.SUCCESS)
    assert reconciler.reconcile_schema("shop", "orders") == Reconciled(Result.SUCCESS)

    assert ("ConfigMap", "shop", "orders-v1") in kube.children
    assert ("ConfigMap", "shop", "orders-v2") not in kube.children
    assert events(kube) == [("Normal", "SchemaPublished")]
    assert ready(kube, VALIDATION_SCHEMA, "orders") == ("True", "SchemaPublished")
    assert kube.status_writes == 1  # the second pass found nothing to change
    assert count(registry, "ValidationSchema", "success") == 2.0


def test_a_version_name_taken_by_another_object_is_retried(
    kube: FakeKube, reconciler: Reconciler, registry: CollectorRegistry
) -> None:
    kube.add(VALIDATION_SCHEMA, "orders", SCHEMA)
    kube.children[("ConfigMap", "shop", "orders-v1")] = {
        "metadata": {"name": "orders-v1", "labels": {}, "uid": "somebody-elses"}
    }
    with pytest.raises(kopf.TemporaryError, match="orders-v1 already exists"):
        reconciler.reconcile_schema("shop", "orders")
    assert count(registry, "ValidationSchema", "error") == 1.0


def test_a_refused_schema_posts_one_warning(kube: FakeKube, reconciler: Reconciler) -> None:
    rules = [{"name": "broken", "expression": "record.id ==", "message": "m"}]
    kube.add(VALIDATION_SCHEMA, "orders", {**SCHEMA, "rules": rules})
    assert reconciler.reconcile_schema("shop", "orders").result is Result.STALLED
    assert reconciler.reconcile_schema("shop", "orders").result is Result.STALLED
    assert events(kube) == [("Warning", "InvalidSchema")]
    assert ready(kube, VALIDATION_SCHEMA, "orders") == ("False", "InvalidSchema")


def test_a_vanished_object_is_left_alone(kube: FakeKube, reconciler: Reconciler) -> None:
    assert reconciler.reconcile_schema("shop", "gone") == Reconciled(Result.SUCCESS)
    assert reconciler.reconcile_pipeline("shop", "gone") == Reconciled(Result.SUCCESS)
    kube.add(QUARANTINE_PIPELINE, "leaving", pipeline_document())
    kube.custom[("quarantinepipelines", "shop", "leaving")]["metadata"]["deletionTimestamp"] = "x"
    assert reconciler.reconcile_pipeline("shop", "leaving") == Reconciled(Result.SUCCESS)
    assert kube.children == {}
    assert kube.status_writes == 0


def pipeline_ready_to_apply(kube: FakeKube, reconciler: Reconciler) -> None:
    kube.add(VALIDATION_SCHEMA, "orders", SCHEMA)
    reconciler.reconcile_schema("shop", "orders")
    kube.secrets.update({("shop", name): keys for name, keys in SECRETS.items()})
    kube.add(QUARANTINE_PIPELINE, "orders", pipeline_document(api={"enabled": False}))


def test_a_pipeline_with_everything_in_place_is_applied(
    kube: FakeKube, reconciler: Reconciler
) -> None:
    pipeline_ready_to_apply(kube, reconciler)
    assert reconciler.reconcile_pipeline("shop", "orders") == Reconciled(Result.SUCCESS)
    assert ("ConfigMap", "shop", "orders-config") in kube.children
    assert ("Deployment", "shop", "orders-validator") in kube.children
    assert ready(kube, QUARANTINE_PIPELINE, "orders") == ("False", "DeploymentUnavailable")


def test_a_missing_secret_stalls_the_pipeline_and_asks_for_a_recheck(
    kube: FakeKube, reconciler: Reconciler
) -> None:
    pipeline_ready_to_apply(kube, reconciler)
    del kube.secrets[("shop", "pg-creds")]
    outcome = reconciler.reconcile_pipeline("shop", "orders")
    assert outcome == Reconciled(Result.STALLED, recheck=True)
    assert ready(kube, QUARANTINE_PIPELINE, "orders") == ("False", "SecretNotFound")
    assert ("Warning", "SecretNotFound") in events(kube)
    assert ("Deployment", "shop", "orders-validator") not in kube.children


def test_an_invalid_spec_stalls_without_a_recheck(kube: FakeKube, reconciler: Reconciler) -> None:
    kube.add(QUARANTINE_PIPELINE, "orders", pipeline_document(replicas=-3))
    outcome = reconciler.reconcile_pipeline("shop", "orders")
    assert outcome == Reconciled(Result.STALLED, recheck=False)
    assert ready(kube, QUARANTINE_PIPELINE, "orders") == ("False", "InvalidSpec")


def test_an_apply_the_api_server_refuses_stalls_the_pipeline(
    kube: FakeKube, reconciler: Reconciler
) -> None:
    pipeline_ready_to_apply(kube, reconciler)
    kube.refuse_apply = "Deployment"
    assert reconciler.reconcile_pipeline("shop", "orders").result is Result.STALLED
    found = kube.custom[("quarantinepipelines", "shop", "orders")]
    (condition,) = [c for c in found["status"]["conditions"] if c["type"] == "Ready"]
    assert condition["reason"] == "ApplyFailed"
    assert "spec.template: Invalid value" in condition["message"]


def test_a_new_configuration_is_announced_when_the_pods_roll(
    kube: FakeKube, reconciler: Reconciler
) -> None:
    pipeline_ready_to_apply(kube, reconciler)
    reconciler.reconcile_pipeline("shop", "orders")
    kube.custom[("validationschemas", "shop", "orders")]["spec"]["schema"]["required"] = []
    reconciler.reconcile_schema("shop", "orders")
    reconciler.reconcile_pipeline("shop", "orders")
    assert events(kube)[-1] == ("Normal", "ConfigUpdated")
    assert "schemas orders v2" in kube.events[-1]["message"]


def test_the_pause_annotation_writes_only_the_status(
    kube: FakeKube, reconciler: Reconciler
) -> None:
    pipeline_ready_to_apply(kube, reconciler)
    metadata = kube.custom[("quarantinepipelines", "shop", "orders")]["metadata"]
    metadata["annotations"] = {"dataquarantine.io/pause-reconciliation": "true"}
    assert reconciler.reconcile_pipeline("shop", "orders") == Reconciled(Result.PAUSED)
    assert [key for key in kube.children if key[0] != "ConfigMap"] == []
    assert ("Normal", "ReconciliationPaused") in events(kube)


def test_stats_are_written_only_when_a_pod_answers(
    kube: FakeKube, registry: CollectorRegistry
) -> None:
    scraper = FakeScraper({"pod-a": PodSample(valid=10, invalid=2, quarantined=2, lag=5)})
    reconciler = Reconciler(
        kube,  # type: ignore[arg-type]
        OperatorMetrics(registry),
        scraper,
        image="registry.local/dq:test",
        clock=lambda: NOW,
        monotonic=lambda: 100.0,
    )
    kube.add(QUARANTINE_PIPELINE, "orders", pipeline_document())
    assert reconciler.refresh_stats("shop", "orders", None) is None
    assert kube.status_writes == 0

    kube.pods = [
        {"metadata": {"name": "pod-a"}, "status": {"phase": "Running", "podIP": "10.0.0.9"}}
    ]
    scrape = reconciler.refresh_stats("shop", "orders", None)
    assert scrape is not None
    stats = kube.custom[("quarantinepipelines", "shop", "orders")]["status"]["stats"]
    assert stats["consumerLag"] == 5
    assert stats["updatedAt"] == "2026-03-01T12:00:00Z"


def test_stats_count_a_new_pods_records_from_zero_and_survive_an_operator_restart(
    kube: FakeKube,
) -> None:
    def operator_process(samples: dict[str, PodSample]) -> Reconciler:
        return Reconciler(
            kube,  # type: ignore[arg-type]
            OperatorMetrics(CollectorRegistry()),
            FakeScraper(samples),
            image="registry.local/dq:test",
            clock=lambda: NOW,
            monotonic=lambda: 100.0,
        )

    kube.add(QUARANTINE_PIPELINE, "orders", pipeline_document())
    kube.pods = [
        {"metadata": {"name": "pod-a"}, "status": {"phase": "Running", "podIP": "10.0.0.9"}}
    ]
    operator_process({"pod-a": PodSample(quarantined=3)}).refresh_stats("shop", "orders", None)
    status = kube.custom[("quarantinepipelines", "shop", "orders")]["status"]
    assert status["stats"]["quarantinedTotal"] == 3

    restarted = operator_process({"pod-a": PodSample(quarantined=5)})
    restarted.refresh_stats("shop", "orders", None)
    status = kube.custom[("quarantinepipelines", "shop", "orders")]["status"]
    assert status["stats"]["quarantinedTotal"] == 5
    assert status["stats"]["pods"] == [{"name": "pod-a", "quarantined": 5}]
