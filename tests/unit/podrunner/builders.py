"""Pods as the Deployment controller creates them from what the operator renders, and the
Secrets and ConfigMaps they refer to."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from quarantine_operator.render import (
    Owner,
    build_pipeline_config,
    pipeline_owner,
    render_pipeline,
    resolve_schema_selection,
)
from tests.unit.operator.builders import pipeline_spec, schema_version

OWNER: Owner = pipeline_owner("orders", "shop", "0b8e6c1e-1111-2222-3333-444455556666")

SECRETS: dict[str, dict[str, bytes]] = {
    "kafka-creds": {"security.protocol": b"PLAINTEXT"},
    "s3-creds": {"accessKey": b"access", "secretKey": b"s3cr3t"},
    "pg-creds": {"dsn": b"postgresql://dq:pw@127.0.0.1:5432/dq"},
    "api-tokens": {"tokens": b"ops:admin:t0ken"},
}


@dataclass
class FakeSources:
    """Secrets and ConfigMaps by name, counting reads."""

    secrets: dict[str, dict[str, bytes]] = field(default_factory=lambda: copy.deepcopy(SECRETS))
    config_maps: dict[str, dict[str, bytes]] = field(default_factory=dict)
    reads: list[str] = field(default_factory=list)

    def secret(self, name: str) -> Mapping[str, bytes] | None:
        self.reads.append(f"secret/{name}")
        return self.secrets.get(name)

    def config_map(self, name: str) -> Mapping[str, bytes] | None:
        self.reads.append(f"configmap/{name}")
        return self.config_maps.get(name)


def rendered_objects(**overrides: Any) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """(ConfigMap, validator Deployment, API Deployment) as the operator renders them."""
    spec = pipeline_spec(**overrides)
    config = build_pipeline_config(OWNER, spec, resolve_schema_selection(spec, {"orders": (1,)}))
    rendered = render_pipeline(OWNER, spec, config, [schema_version("orders", 1)])
    assert rendered.api_deployment is not None
    return rendered.config_map, rendered.validator, rendered.api_deployment


def pod_of(
    deployment: Mapping[str, Any], name: str = "orders-validator-7d9f-abcde"
) -> dict[str, Any]:
    """The pod the ReplicaSet controller would create from the Deployment's template."""
    template = copy.deepcopy(deployment["spec"]["template"])
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": OWNER.namespace,
            "uid": "9d0c3b7e-aaaa-bbbb-cccc-ddddeeeeffff",
            "labels": template["metadata"]["labels"],
            "annotations": template["metadata"]["annotations"],
        },
        "spec": template["spec"],
    }


def sources_for(config_map: Mapping[str, Any]) -> FakeSources:
    """Sources holding the default Secrets and this ConfigMap."""
    data = {key: value.encode() for key, value in config_map["data"].items()}
    return FakeSources(config_maps={config_map["metadata"]["name"]: data})


def validator_pod() -> tuple[dict[str, Any], FakeSources]:
    """The validator pod and everything it refers to."""
    config_map, validator, _ = rendered_objects()
    return pod_of(validator), sources_for(config_map)


def api_pod() -> tuple[dict[str, Any], FakeSources]:
    """The API pod and everything it refers to."""
    config_map, _, api = rendered_objects()
    return pod_of(api, "orders-api-5c6d-fghij"), sources_for(config_map)


def container_of(pod: dict[str, Any]) -> dict[str, Any]:
    """The pod's only container (to edit in a test)."""
    container: dict[str, Any] = pod["spec"]["containers"][0]
    return container
