"""Helpers for the operator's tests against the real apiserver: kubectl, an admin client for the
custom resources and their children (with checks for `tests.support.polling.eventually`), and
small spec builders."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, TypeVar

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from quarantine_operator.api.v1alpha1 import (
    GROUP,
    QUARANTINE_PIPELINE,
    VALIDATION_SCHEMA,
    VERSION,
    ResourceNames,
)
from quarantine_operator.render import CONFIG_HASH_ANNOTATION

REPO: Final = Path(__file__).resolve().parents[3]
MANIFESTS: Final = REPO / "manifests"
NAMESPACE_PREFIX: Final = "dqop-"
"""Test namespaces start with this; the operator under test watches `dqop-*` only."""
OPERATOR_NAMESPACE: Final = "dataquarantine-system"
OPERATOR_ACCOUNT: Final = "dataquarantine-operator"

T = TypeVar("T")


@dataclass(frozen=True)
class Kubectl:
    """The stack's kubectl with a given kubeconfig."""

    binary: Path
    kubeconfig: Path

    def __call__(self, *args: str, check: bool = True) -> str:
        """Run kubectl; return stdout (fail the test with stderr when it fails and `check`)."""
        done = subprocess.run(
            [str(self.binary), f"--kubeconfig={self.kubeconfig}", *args],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if check and done.returncode != 0:
            pytest.fail(f"kubectl {' '.join(args)} failed: {done.stderr}")
        return done.stdout


def _or_none(read: Callable[[], T]) -> T | None:
    try:
        return read()
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise


def condition(obj: Mapping[str, Any] | None, type_: str) -> dict[str, Any] | None:
    """The condition of this type in an object's status, if any."""
    for entry in ((obj or {}).get("status") or {}).get("conditions") or ():
        if entry.get("type") == type_:
            return dict(entry)
    return None


def has_condition(
    obj: Mapping[str, Any] | None,
    type_: str,
    status: str,
    reason: str | None = None,
    message: str | None = None,
) -> bool:
    """Whether the object has the condition with this status (and reason, and message)."""
    found = condition(obj, type_)
    return (
        found is not None
        and found["status"] == status
        and (reason is None or found["reason"] == reason)
        and (message is None or found["message"] == message)
    )


class Cluster:
    """An admin's view of the test namespaces."""

    def __init__(self, api: client.ApiClient) -> None:
        self.api = api
        self.core = client.CoreV1Api(api)
        self.apps = client.AppsV1Api(api)
        self.custom = client.CustomObjectsApi(api)

    # --- Custom resources ---

    def create(
        self,
        resource: ResourceNames,
        namespace: str,
        name: str,
        spec: Mapping[str, Any],
        *,
        annotations: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """Create a ValidationSchema or QuarantinePipeline."""
        metadata: dict[str, Any] = {"name": name}
        if annotations:
            metadata["annotations"] = dict(annotations)
        body = {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": resource.kind,
            "metadata": metadata,
            "spec": dict(spec),
        }
        created = self.custom.create_namespaced_custom_object(
            GROUP, VERSION, namespace, resource.plural, body
        )
        assert isinstance(created, dict)
        return created

    def get(self, resource: ResourceNames, namespace: str, name: str) -> dict[str, Any] | None:
        """A custom resource, or None."""
        found = _or_none(
            lambda: self.custom.get_namespaced_custom_object(
                GROUP, VERSION, namespace, resource.plural, name
            )
        )
        return dict(found) if isinstance(found, dict) else None

    def patch(
        self, resource: ResourceNames, namespace: str, name: str, patch: Mapping[str, Any]
    ) -> None:
        """Merge-patch a custom resource (lists are replaced)."""
        self.custom.patch_namespaced_custom_object(
            GROUP,
            VERSION,
            namespace,
            resource.plural,
            name,
            dict(patch),
            _content_type="application/merge-patch+json",
        )

    def delete(self, resource: ResourceNames, namespace: str, name: str) -> None:
        """Delete a custom resource (background propagation, like kubectl)."""
        self.custom.delete_namespaced_custom_object(
            GROUP, VERSION, namespace, resource.plural, name
        )

    def with_condition(
        self,
        resource: ResourceNames,
        namespace: str,
        name: str,
        type_: str,
        status: str,
        reason: str | None = None,
        message: str | None = None,
    ) -> dict[str, Any] | None:
        """The custom resource once it has the condition (see `has_condition`), else None: a
        check for `eventually`."""
        found = self.get(resource, namespace, name)
        return found if has_condition(found, type_, status, reason, message) else None

    def schema(self, namespace: str, name: str) -> dict[str, Any] | None:
        """A ValidationSchema."""
        return self.get(VALIDATION_SCHEMA, namespace, name)

    def pipeline(self, namespace: str, name: str) -> dict[str, Any] | None:
        """A QuarantinePipeline."""
        return self.get(QUARANTINE_PIPELINE, namespace, name)

    # --- Core objects ---

    def create_secret(self, namespace: str, name: str, data: Mapping[str, str]) -> None:
        """A Secret with these keys and values."""
        self.core.create_namespaced_secret(
            namespace, {"metadata": {"name": name}, "stringData": dict(data)}
        )

    def config_map(self, namespace: str, name: str) -> client.V1ConfigMap | None:
        """A ConfigMap, or None."""
        return _or_none(lambda: self.core.read_namespaced_config_map(name, namespace))

    def deployment(self, namespace: str, name: str) -> client.V1Deployment | None:
        """A Deployment, or None."""
        return _or_none(lambda: self.apps.read_namespaced_deployment(name, namespace))

    def service(self, namespace: str, name: str) -> client.V1Service | None:
        """A Service, or None."""
        return _or_none(lambda: self.core.read_namespaced_service(name, namespace))

    def config_hash(self, namespace: str, deployment: str) -> str | None:
        """The config-hash annotation of a Deployment's pod template."""
        found = self.deployment(namespace, deployment)
        if found is None:
            return None
        annotations = found.spec.template.metadata.annotations or {}
        return annotations.get(CONFIG_HASH_ANNOTATION)

    def events(self, namespace: str, name: str) -> list[tuple[str, str, str]]:
        """(type, reason, message) of the Events about the named object."""
        found = self.core.list_namespaced_event(
            namespace, field_selector=f"involvedObject.name={name}"
        )
        return [(item.type, item.reason, item.message) for item in found.items]


# --- Specs ------------------------------------------------------------------------------------


def order_schema(**extra_properties: Any) -> dict[str, Any]:
    """A small JSON Schema: a required `id` and an optional `amount`, plus `extra_properties`."""
    return {
        "type": "object",
        "required": ["id"],
        "properties": {
            "id": {"type": "string"},
            "amount": {"type": "number"},
            **extra_properties,
        },
    }


def schema_spec(document: Mapping[str, Any], **fields: Any) -> dict[str, Any]:
    """A ValidationSchema spec (JSON Schema, BACKWARD unless overridden)."""
    return {"type": "JSON_SCHEMA", "schema": dict(document), **fields}


STORAGE_SECRET: Final = "s3-credentials"
DATABASE_SECRET: Final = "pg-credentials"


def pipeline_spec(schema: str, **overrides: Any) -> dict[str, Any]:
    """A pipeline spec that uses `schema` (latest), the two Secrets above, and no API auth."""
    spec: dict[str, Any] = {
        "kafka": {"bootstrapServers": "kafka.local:9092"},
        "source": {"topics": ["orders.raw"]},
        "sinks": {"validTopic": "orders.valid", "quarantineTopic": "orders.dlq"},
        "schemaSelection": {"schemaRef": {"name": schema}},
        "quarantine": {
            "storage": {
                "endpoint": "s3.local:9000",
                "bucket": "dq-quarantine",
                "secure": False,
                "secretRef": {"name": STORAGE_SECRET},
            },
            "database": {"secretRef": {"name": DATABASE_SECRET}},
        },
    }
    spec.update(overrides)
    return spec


def create_pipeline_secrets(cluster: Cluster, namespace: str) -> None:
    """The Secrets `pipeline_spec` refers to, with obviously fake values."""
    cluster.create_secret(
        namespace, STORAGE_SECRET, {"accessKey": "test-access", "secretKey": "test-secret"}
    )
    cluster.create_secret(namespace, DATABASE_SECRET, {"dsn": "postgresql://test@localhost/test"})


def create_shop_pipeline(cluster: Cluster, namespace: str, **overrides: Any) -> None:
    """The Secrets, the ValidationSchema `orders` (`order_schema`), and the QuarantinePipeline
    `shop` on it (`pipeline_spec` with `overrides`)."""
    create_pipeline_secrets(cluster, namespace)
    cluster.create(VALIDATION_SCHEMA, namespace, "orders", schema_spec(order_schema()))
    cluster.create(QUARANTINE_PIPELINE, namespace, "shop", pipeline_spec("orders", **overrides))
