"""The kopf wiring: what kopf is told at start-up, and how events reach the reconciler."""

from __future__ import annotations

import logging
from typing import Any

import kopf
import pytest

from quarantine_operator import handlers
from quarantine_operator.api.v1alpha1 import PAUSE_RECONCILIATION_ANNOTATION
from quarantine_operator.handlers import (
    Runtime,
    configure_kopf,
    quarantinepipelines,
    quarantinepipelines_by_schema,
)
from quarantine_operator.metrics import Result
from quarantine_operator.reconciling import Reconciled
from quarantine_operator.settings import OperatorSettings

from .builders import pipeline_document


class FakeReconciler:
    def __init__(self, *outcomes: Reconciled | Exception) -> None:
        self.outcomes = list(outcomes)
        self.calls: list[tuple[str, str]] = []

    def reconcile_pipeline(self, namespace: str, name: str) -> Reconciled:
        self.calls.append((namespace, name))
        outcome = self.outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome


def runtime(reconciler: FakeReconciler) -> Runtime:
    closed: Any = None
    return Runtime(
        settings=OperatorSettings(),
        kube=closed,
        reconciler=reconciler,  # type: ignore[arg-type]
        scraper=closed,
        metrics_server=None,
    )


def test_kopf_keeps_its_state_in_annotations_and_watches_only_managed_children() -> None:
    settings = kopf.OperatorSettings()
    configure_kopf(settings)
    assert isinstance(settings.persistence.progress_storage, kopf.AnnotationsProgressStorage)
    assert isinstance(settings.persistence.diffbase_storage, kopf.AnnotationsDiffBaseStorage)
    assert settings.persistence.finalizer == "dataquarantine.io/finalizer"
    # kopf ignores annotations under its own prefix: the pause annotation must stay visible.
    storage = settings.persistence.diffbase_storage
    assert isinstance(storage, kopf.AnnotationsDiffBaseStorage)
    marker = f"{storage.prefix}/kopf-managed"  # what kopf writes on every object it handles
    body = kopf.Body(
        {
            "metadata": {"annotations": {PAUSE_RECONCILIATION_ANNOTATION: "true", marker: "yes"}},
            "spec": {"replicas": 1},
        }
    )
    assert storage.build(body=body)["metadata"]["annotations"] == {
        PAUSE_RECONCILIATION_ANNOTATION: "true"
    }
    assert settings.posting.level == logging.WARNING
    selectors = dict(settings.watching.label_selectors.items())
    assert len(selectors) == 3
    assert set(selectors.values()) == {"app.kubernetes.io/managed-by=dataquarantine-operator"}


def test_pipelines_are_indexed_by_the_schemas_they_use() -> None:
    spec = pipeline_document(
        schemaSelection={
            "schemaRef": {"name": "orders"},
            "selector": {
                "source": "header",
                "key": "type",
                "mapping": {"refund": {"name": "refunds"}, "order": {"name": "orders"}},
            },
        }
    )
    assert quarantinepipelines_by_schema(namespace="shop", name="p", spec=spec) == {
        ("shop", "orders"): "p",
        ("shop", "refunds"): "p",
    }
    assert quarantinepipelines_by_schema(namespace="shop", name="p", spec={"bad": 1}) == {}
    assert quarantinepipelines(namespace="shop", name="p") == {("shop", "p"): True}


def test_only_a_pipeline_that_controls_an_object_owns_it() -> None:
    reference = {
        "apiVersion": "dataquarantine.io/v1alpha1",
        "kind": "QuarantinePipeline",
        "name": "orders",
        "uid": "u",
    }
    owned = kopf.Body({"metadata": {"ownerReferences": [{**reference, "controller": True}]}})
    merely_referenced = kopf.Body({"metadata": {"ownerReferences": [reference]}})
    assert handlers._owning_pipeline(owned) == "orders"
    assert handlers._owning_pipeline(merely_referenced) is None
    assert handlers._owning_pipeline(kopf.Body({"metadata": {}})) is None


def test_a_pipeline_that_waits_is_remembered_for_a_recheck_until_it_converges() -> None:
    reconciler = FakeReconciler(
        Reconciled(Result.STALLED, recheck=True), Reconciled(Result.SUCCESS)
    )
    operator = runtime(reconciler)
    operator.reconcile_pipeline(("shop", "orders"))
    assert operator.recheck.snapshot() == [("shop", "orders")]
    operator.reconcile_pipeline(("shop", "orders"))
    assert operator.recheck.snapshot() == []


def test_a_pipeline_whose_reconciliation_fails_is_rechecked() -> None:
    operator = runtime(FakeReconciler(kopf.TemporaryError("apiserver down")))
    with pytest.raises(kopf.TemporaryError):
        operator.reconcile_pipeline(("shop", "orders"))
    assert operator.recheck.snapshot() == [("shop", "orders")]


def test_a_configmap_event_for_a_schema_version_reconciles_every_pipeline_using_it() -> None:
    reconciler = FakeReconciler(Reconciled(Result.SUCCESS), Reconciled(Result.SUCCESS))
    memo = kopf.Memo({handlers.MEMO_RUNTIME: runtime(reconciler)})
    body = kopf.Body(
        {
            "metadata": {
                "name": "orders-v2",
                "namespace": "shop",
                "labels": {
                    "app.kubernetes.io/component": "schema-version",
                    "app.kubernetes.io/instance": "orders",
                },
            }
        }
    )
    index = {("shop", "orders"): ["b", "a"]}
    handlers.configmap_event(
        memo=memo, type="ADDED", body=body, quarantinepipelines_by_schema=FakeIndex(index)
    )
    assert reconciler.calls == [("shop", "a"), ("shop", "b")]
    # The initial listing is left to the pipelines' resume handlers.
    handlers.configmap_event(
        memo=memo, type=None, body=body, quarantinepipelines_by_schema=FakeIndex(index)
    )
    assert len(reconciler.calls) == 2


class FakeIndex(kopf.Index[Any, Any]):
    def __init__(self, data: dict[Any, list[Any]]) -> None:
        self._data = data

    def __getitem__(self, key: Any) -> Any:
        return self._data[key]

    def __iter__(self) -> Any:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)
