"""The local kube-apiserver and controller manager behave like a real cluster's control plane."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException
from kubernetes.config import new_client_from_config

from tests.conftest import StackEnv, kopf_running
from tests.integration.smoke import kopf_smoke_operator

GROUP = "smoke.dataquarantine.io"
CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": f"widgets.{GROUP}"},
    "spec": {
        "group": GROUP,
        "names": {"kind": "Widget", "plural": "widgets", "singular": "widget"},
        "scope": "Namespaced",
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "subresources": {"status": {}},
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "properties": {
                            "spec": {
                                "type": "object",
                                "properties": {"size": {"type": "integer", "minimum": 0}},
                            },
                            "status": {
                                "type": "object",
                                "x-kubernetes-preserve-unknown-fields": True,
                            },
                        },
                    }
                },
            }
        ],
    },
}


def eventually(check: Callable[[], Any], *, timeout: float = 30.0, what: str) -> Any:
    """Poll until `check` returns something truthy; fail with `what` on timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.2)
    pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}")


@pytest.fixture(scope="module")
def api(stack_env: StackEnv) -> Iterator[client.ApiClient]:
    """An admin API client for the local apiserver."""
    api_client = new_client_from_config(config_file=str(stack_env.kubeconfig))
    with api_client:
        yield api_client


@pytest.fixture(scope="module")
def widget_crd(api: client.ApiClient) -> Iterator[None]:
    """The smoke CRD, established."""
    ext = client.ApiextensionsV1Api(api)
    try:
        ext.create_custom_resource_definition(CRD)
    except ApiException as exc:
        if exc.status != 409:
            raise

    def established() -> bool:
        crd = ext.read_custom_resource_definition(f"widgets.{GROUP}")
        return any(
            c.type == "Established" and c.status == "True" for c in crd.status.conditions or []
        )

    eventually(established, what="the CRD to be established")
    yield
    ext.delete_custom_resource_definition(f"widgets.{GROUP}")


@pytest.fixture
def namespace(api: client.ApiClient, unique_name: str) -> Iterator[str]:
    """A fresh namespace, deleted afterwards."""
    core = client.CoreV1Api(api)
    core.create_namespace({"metadata": {"name": unique_name}})
    yield unique_name
    core.delete_namespace(unique_name)


def _get_or_none(read: Callable[[], Any]) -> Any:
    try:
        return read()
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise


@pytest.mark.usefixtures("widget_crd")
def test_a_custom_resource_with_a_finalizer_is_created_patched_and_deleted(
    api: client.ApiClient, namespace: str
) -> None:
    custom = client.CustomObjectsApi(api)
    body = {
        "apiVersion": f"{GROUP}/v1",
        "kind": "Widget",
        "metadata": {"name": "w1", "finalizers": [f"{GROUP}/cleanup"]},
        "spec": {"size": 1},
    }
    custom.create_namespaced_custom_object(GROUP, "v1", namespace, "widgets", body)
    with pytest.raises(ApiException) as invalid:
        custom.patch_namespaced_custom_object(
            GROUP, "v1", namespace, "widgets", "w1", {"spec": {"size": -1}}
        )
    assert invalid.value.status == 422
    patched = custom.patch_namespaced_custom_object(
        GROUP, "v1", namespace, "widgets", "w1", {"spec": {"size": 3}}
    )
    assert patched["spec"]["size"] == 3

    custom.delete_namespaced_custom_object(GROUP, "v1", namespace, "widgets", "w1")
    held = custom.get_namespaced_custom_object(GROUP, "v1", namespace, "widgets", "w1")
    assert held["metadata"]["deletionTimestamp"]
    custom.patch_namespaced_custom_object(
        GROUP, "v1", namespace, "widgets", "w1", {"metadata": {"finalizers": None}}
    )
    gone = _get_or_none(
        lambda: custom.get_namespaced_custom_object(GROUP, "v1", namespace, "widgets", "w1")
    )
    assert gone is None


def test_the_controller_manager_rolls_deployments_out_and_garbage_collects_owned_objects(
    api: client.ApiClient, namespace: str
) -> None:
    apps = client.AppsV1Api(api)
    core = client.CoreV1Api(api)
    labels = {"app": "smoke"}
    deployment = apps.create_namespaced_deployment(
        namespace,
        {
            "metadata": {"name": "smoke"},
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {"containers": [{"name": "c", "image": "busybox"}]},
                },
            },
        },
    )
    owner_ref = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "smoke",
        "uid": deployment.metadata.uid,
        "blockOwnerDeletion": True,
    }
    core.create_namespaced_config_map(
        namespace, {"metadata": {"name": "owned", "ownerReferences": [owner_ref]}}
    )
    eventually(
        lambda: len(core.list_namespaced_pod(namespace, label_selector="app=smoke").items) == 2,
        what="the ReplicaSet controller to create two pods",
    )

    apps.delete_namespaced_deployment("smoke", namespace, propagation_policy="Background")
    eventually(
        lambda: _get_or_none(lambda: core.read_namespaced_config_map("owned", namespace)) is None,
        what="the garbage collector to delete the owned ConfigMap",
    )
    eventually(
        lambda: (
            not apps.list_namespaced_replica_set(namespace).items
            and not core.list_namespaced_pod(namespace).items
        ),
        what="the garbage collector to delete the ReplicaSet and its pods",
    )


@pytest.mark.usefixtures("widget_crd")
def test_a_kopf_handler_run_by_kopf_runner_reacts_to_a_new_resource(
    api: client.ApiClient, namespace: str, stack_env: StackEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KUBECONFIG", str(stack_env.kubeconfig))
    custom = client.CustomObjectsApi(api)
    args = ["run", "--standalone", f"--namespace={namespace}", "--verbose"]
    with kopf_running(args, registry=kopf_smoke_operator.registry) as runner:
        custom.create_namespaced_custom_object(
            GROUP,
            "v1",
            namespace,
            "widgets",
            {
                "apiVersion": f"{GROUP}/v1",
                "kind": "Widget",
                "metadata": {"name": "w"},
                "spec": {"size": 7},
            },
        )
        status = eventually(
            lambda: (
                custom.get_namespaced_custom_object(GROUP, "v1", namespace, "widgets", "w")
                .get("status", {})
                .get("widget_create")
            ),
            what="the kopf handler to write its result into status",
        )
        custom.delete_namespaced_custom_object(GROUP, "v1", namespace, "widgets", "w")
        eventually(
            lambda: (
                _get_or_none(
                    lambda: custom.get_namespaced_custom_object(
                        GROUP, "v1", namespace, "widgets", "w"
                    )
                )
                is None
            ),
            what="kopf to release its finalizer",
        )
    assert status == {"seenSize": 7}
    assert runner.exit_code == 0
    assert runner.exception is None
