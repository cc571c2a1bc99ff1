"""The objects a pipeline renders: owned, labelled, hardened, rolled only by config changes."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import pytest
import yaml

from quarantine_operator import envvars
from quarantine_operator.api.v1alpha1 import QuarantinePipelineSpec, ValidationSchemaSpec
from quarantine_operator.render import (
    CONFIG_HASH_ANNOTATION,
    ChildKind,
    Owner,
    RenderedPipeline,
    api_endpoint,
    build_pipeline_config,
    child_names,
    config_hash,
    controller_uid,
    render_pipeline,
    render_schema_version_config_map,
    resolve_schema_selection,
    schema_owner,
    schema_version_from_config_map,
    schema_version_from_spec,
    schema_versions_selector,
    validator_selector,
)
from validator_pod.domain.pipeline_config import (
    CONFIG_FILE_NAME,
    AvroFraming,
    PipelineConfig,
    SchemaRef,
    schema_file_name,
)
from validator_pod.domain.schemas import SchemaVersion

from .builders import pipeline_spec, schema_version

PUBLISHED = {"orders": (1, 2), "refunds": (1,), "orders-v2": (1, 2, 3)}


def rendered(
    owner: Owner,
    spec: QuarantinePipelineSpec | None = None,
    schemas: Sequence[SchemaVersion] | None = None,
    published: dict[str, Sequence[int]] | None = None,
) -> RenderedPipeline:
    spec = spec or pipeline_spec()
    selection = resolve_schema_selection(spec, published or PUBLISHED)
    config = build_pipeline_config(owner, spec, selection)
    if schemas is None:
        schemas = [schema_version(ref.name, ref.version) for ref in config.referenced_schemas()]
    return render_pipeline(owner, spec, config, schemas)


def pod_spec(deployment: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = deployment["spec"]["template"]["spec"]
    return spec


def container(deployment: dict[str, Any]) -> dict[str, Any]:
    (only,) = pod_spec(deployment)["containers"]
    result: dict[str, Any] = only
    return result


def env_by_name(deployment: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {entry["name"]: entry for entry in container(deployment)["env"]}


def template_hash(deployment: dict[str, Any]) -> str:
    value: str = deployment["spec"]["template"]["metadata"]["annotations"][CONFIG_HASH_ANNOTATION]
    return value


# --- Configuration --------------------------------------------------------------------------


def test_latest_resolves_to_the_newest_published_version(owner: Owner) -> None:
    result = rendered(owner)
    assert result.config.schema_selection.default == SchemaRef(name="orders", version=2)


def test_a_pinned_version_stays_pinned(owner: Owner) -> None:
    spec = pipeline_spec(schemaSelection={"schemaRef": {"name": "orders", "version": 1}})
    assert rendered(owner, spec).config.schema_selection.default.version == 1


def test_an_unpublished_reference_cannot_be_resolved(owner: Owner) -> None:
    spec = pipeline_spec(schemaSelection={"schemaRef": {"name": "orders", "version": 9}})
    with pytest.raises(LookupError, match="no version 9"):
        resolve_schema_selection(spec, PUBLISHED)
    with pytest.raises(LookupError, match="'ghost'"):
        resolve_schema_selection(
            pipeline_spec(schemaSelection={"schemaRef": {"name": "ghost"}}), PUBLISHED
        )


def test_selector_mappings_are_resolved_too(owner: Owner) -> None:
    spec = pipeline_spec(
        schemaSelection={
            "schemaRef": {"name": "orders"},
            "selector": {
                "source": "header",
                "key": "event-type",
                "mapping": {"refund": {"name": "refunds"}, "order.v2": {"name": "orders-v2"}},
            },
        }
    )
    config = rendered(owner, spec).config
    assert config.referenced_schemas() == (
        SchemaRef(name="orders", version=2),
        SchemaRef(name="refunds", version=1),
        SchemaRef(name="orders-v2", version=3),
    )


def test_the_candidate_is_rendered_only_in_shadow_mode(owner: Owner) -> None:
    selection = {"schemaRef": {"name": "orders", "version": 1}, "candidate": {"name": "orders"}}
    enforcing = rendered(owner, pipeline_spec(schemaSelection=selection))
    shadowing = rendered(owner, pipeline_spec(schemaSelection=selection, mode="shadow"))
    assert enforcing.config.schema_selection.candidate is None
    assert shadowing.config.schema_selection.candidate == SchemaRef(name="orders", version=2)


def test_the_consumer_group_defaults_to_namespace_and_name(owner: Owner) -> None:
    assert rendered(owner).config.kafka.consumer_group == "dq-shop-orders"
    custom = pipeline_spec(kafka={"bootstrapServers": "k:9092", "consumerGroup": "legacy"})
    assert rendered(owner, custom).config.kafka.consumer_group == "legacy"


def test_the_spec_maps_onto_the_pipeline_config(owner: Owner) -> None:
    spec = pipeline_spec(
        errorHandling={"window": "PT30S", "threshold": 0.2, "minRecords": 10, "action": "alert"},
        batching={"maxRecords": 500, "maxWaitMs": 20},
        remediation={"enabled": True},
        delivery="exactlyOnce",
        mode="observe",
        source={"topics": ["a", "b"], "avroFraming": "plain"},
    )
    config = rendered(owner, spec).config
    assert config.name == "orders"
    assert config.namespace == "shop"
    assert config.topics.sources == ("a", "b")
    assert (config.topics.valid, config.topics.quarantine) == ("orders.valid", "orders.dlq")
    assert config.retention == timedelta(days=14)
    assert config.breaker.enabled
    assert config.breaker.window == timedelta(seconds=30)
    assert (config.breaker.threshold, config.breaker.min_records) == (0.2, 10)
    assert config.breaker.action == "alert"
    assert (config.batching.max_records, config.batching.max_wait_ms) == (500, 20)
    assert config.remediation_enabled
    assert config.delivery.value == "exactlyOnce"
    assert config.mode.value == "observe"
    assert config.avro_framing is AvroFraming.PLAIN
    assert config.storage.bucket == "dq-payloads"
    assert config.storage.secure is True


def test_without_error_handling_the_breaker_is_disabled(owner: Owner) -> None:
    assert not rendered(owner).config.breaker.enabled


def test_pipeline_yaml_round_trips_into_the_domain_contract(owner: Owner) -> None:
    result = rendered(owner)
    document = yaml.safe_load(result.config_map["data"][CONFIG_FILE_NAME])
    assert PipelineConfig.model_validate(document) == result.config
    assert "schemaSelection" in document  # camelCase on the wire


def test_each_schema_version_has_its_own_key_holding_the_version_json(owner: Owner) -> None:
    data = rendered(owner).config_map["data"]
    assert set(data) == {CONFIG_FILE_NAME, "schema.orders.2.json"}
    stored = SchemaVersion.model_validate_json(data["schema.orders.2.json"])
    assert stored == schema_version("orders", 2)
    assert '"schema":' in data["schema.orders.2.json"]  # by alias, as the validator reads it


def test_configmap_keys_are_valid_and_items_map_them_to_schema_paths(owner: Owner) -> None:
    result = rendered(owner)
    volume = next(v for v in pod_spec(result.validator)["volumes"] if v["name"] == "config")
    items = volume["configMap"]["items"]
    assert volume["configMap"]["name"] == "orders-config"
    assert items == [
        {"key": "pipeline.yaml", "path": "pipeline.yaml"},
        {"key": "schema.orders.2.json", "path": "schemas/orders/2.json"},
    ]
    assert items[1]["path"] == schema_file_name(SchemaRef(name="orders", version=2))
    assert {item["key"] for item in items} == set(result.config_map["data"])
    for key in result.config_map["data"]:
        assert "/" not in key


def test_rendering_refuses_a_config_without_its_schema_versions(owner: Owner) -> None:
    with pytest.raises(ValueError, match="orders v2"):
        rendered(owner, schemas=[schema_version("orders", 1)])


# --- Config hash ----------------------------------------------------------------------------


def test_the_config_hash_is_the_sha256_of_the_sorted_data(owner: Owner) -> None:
    result = rendered(owner)
    assert result.config_hash == config_hash(dict(reversed(result.config_map["data"].items())))
    assert len(result.config_hash) == 64
    assert template_hash(result.validator) == result.config_hash
    assert result.api_deployment is not None
    assert template_hash(result.api_deployment) == result.config_hash


def test_a_changed_schema_document_changes_the_hash(owner: Owner) -> None:
    before = rendered(owner, schemas=[schema_version("orders", 2, id={"type": "string"})])
    after = rendered(owner, schemas=[schema_version("orders", 2, id={"type": "integer"})])
    assert before.config_hash != after.config_hash


def test_a_new_published_version_rolls_pipelines_that_follow_latest(owner: Owner) -> None:
    before = rendered(owner, published={"orders": (1, 2)})
    after = rendered(owner, published={"orders": (1, 2, 3)})
    assert template_hash(before.validator) != template_hash(after.validator)


@pytest.mark.parametrize(
    "change",
    [
        {"replicas": 5},
        {"state": "paused"},
        {"image": "registry.local/dq:dev"},
        {"resources": {"limits": {"memory": "1Gi"}}},
        {"api": {"enabled": False}},
    ],
)
def test_changes_outside_the_configmap_leave_the_hash_alone(
    owner: Owner, change: dict[str, Any]
) -> None:
    assert rendered(owner).config_hash == rendered(owner, pipeline_spec(**change)).config_hash


def test_rendering_is_deterministic(owner: Owner) -> None:
    assert rendered(owner) == rendered(owner)


# --- Ownership and labels -------------------------------------------------------------------


def test_every_object_is_owned_by_the_pipeline(owner: Owner) -> None:
    for item in rendered(owner).objects():
        assert item["metadata"]["namespace"] == "shop"
        assert item["metadata"]["ownerReferences"] == [
            {
                "apiVersion": "dataquarantine.io/v1alpha1",
                "kind": "QuarantinePipeline",
                "name": "orders",
                "uid": owner.uid,
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ]


def test_every_object_carries_the_recommended_labels(owner: Owner) -> None:
    result = rendered(owner)
    components = {}
    for item in result.objects():
        item_labels = item["metadata"]["labels"]
        assert item_labels["app.kubernetes.io/name"] == "dataquarantine"
        assert item_labels["app.kubernetes.io/instance"] == "orders"
        assert item_labels["app.kubernetes.io/part-of"] == "dataquarantine"
        assert item_labels["app.kubernetes.io/managed-by"] == "dataquarantine-operator"
        components[item["kind"], item["metadata"]["name"]] = item_labels[
            "app.kubernetes.io/component"
        ]
    assert components == {
        ("ConfigMap", "orders-config"): "config",
        ("Deployment", "orders-validator"): "validator",
        ("Deployment", "orders-api"): "api",
        ("Service", "orders-api"): "api",
    }


def test_selectors_use_only_the_stable_labels(owner: Owner) -> None:
    result = rendered(owner)
    assert result.api_deployment is not None
    assert result.api_service is not None
    stable = {"app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/component"}
    for deployment in (result.validator, result.api_deployment):
        selector = deployment["spec"]["selector"]["matchLabels"]
        assert set(selector) == stable
        assert selector.items() <= deployment["spec"]["template"]["metadata"]["labels"].items()
    assert (
        result.api_service["spec"]["selector"]
        == result.api_deployment["spec"]["selector"]["matchLabels"]
    )


def test_the_status_selector_string_selects_the_validator_pods(owner: Owner) -> None:
    pairs = dict(part.split("=") for part in validator_selector("orders").split(","))
    assert pairs == rendered(owner).validator["spec"]["selector"]["matchLabels"]


# --- Workloads ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "validators", "apis"), [("running", 3, 1), ("paused", 0, 1), ("stopped", 0, 0)]
)
def test_paused_and_stopped_pipelines_scale_down(
    owner: Owner, state: str, validators: int, apis: int
) -> None:
    result = rendered(owner, pipeline_spec(state=state, replicas=3))
    assert result.api_deployment is not None
    assert result.validator["spec"]["replicas"] == validators
    assert result.api_deployment["spec"]["replicas"] == apis


def test_a_disabled_api_renders_no_api_objects(owner: Owner) -> None:
    result = rendered(owner, pipeline_spec(api={"enabled": False}))
    assert result.api_deployment is None
    assert result.api_service is None
    assert [item["kind"] for item in result.objects()] == ["ConfigMap", "Deployment"]


def test_the_validator_runs_the_validator_command_with_probes_on_the_metrics_port(
    owner: Owner,
) -> None:
    validator = container(rendered(owner).validator)
    assert validator["command"] == [
        "python",
        "-m",
        "validator_pod",
        "run",
        "--config-dir",
        "/etc/dataquarantine",
    ]
    assert validator["ports"] == [{"name": "metrics", "containerPort": 9400, "protocol": "TCP"}]
    assert validator["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    assert validator["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}


def test_the_api_runs_the_api_command_behind_a_cluster_ip_service(owner: Owner) -> None:
    result = rendered(owner)
    assert result.api_deployment is not None
    assert result.api_service is not None
    api = container(result.api_deployment)
    assert api["command"][3] == "api"
    assert api["ports"] == [{"name": "http", "containerPort": 8080, "protocol": "TCP"}]
    assert api["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert result.api_service["spec"]["type"] == "ClusterIP"
    assert result.api_service["spec"]["ports"] == [
        {"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}
    ]
    assert api_endpoint(owner) == "http://orders-api.shop.svc"


@pytest.mark.parametrize("which", ["validator", "api_deployment"])
def test_pods_are_hardened(owner: Owner, which: str) -> None:
    deployment = getattr(rendered(owner), which)
    spec = pod_spec(deployment)
    context = container(deployment)["securityContext"]
    assert context["runAsNonRoot"] is True
    assert context["runAsUser"] == 10001
    assert context["readOnlyRootFilesystem"] is True
    assert context["allowPrivilegeEscalation"] is False
    assert context["capabilities"] == {"drop": ["ALL"]}
    assert context["seccompProfile"] == {"type": "RuntimeDefault"}
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["automountServiceAccountToken"] is False
    mounts = {m["mountPath"]: m["name"] for m in container(deployment)["volumeMounts"]}
    assert mounts["/tmp"] == "tmp"
    assert {"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}} in spec["volumes"]


def test_resources_default_to_sensible_values_and_the_spec_replaces_them(owner: Owner) -> None:
    default = container(rendered(owner).validator)["resources"]
    assert default == {
        "requests": {"cpu": "250m", "memory": "256Mi"},
        "limits": {"cpu": "1", "memory": "512Mi"},
    }
    custom = pipeline_spec(resources={"requests": {"cpu": 2, "memory": "1Gi"}})
    assert container(rendered(owner, custom).validator)["resources"] == {
        "requests": {"cpu": 2, "memory": "1Gi"}
    }


def test_the_image_defaults_to_the_release_image_and_can_be_overridden(owner: Owner) -> None:
    assert container(rendered(owner).validator)["image"].startswith("ghcr.io/dataquarantine/")
    custom = rendered(owner, pipeline_spec(image="registry.local/dq:dev"))
    assert container(custom.validator)["image"] == "registry.local/dq:dev"


def test_pod_identity_comes_from_the_downward_api(owner: Owner) -> None:
    env = env_by_name(rendered(owner).validator)
    assert env[envvars.POD_NAME]["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.name"}}
    assert env[envvars.POD_NAMESPACE]["valueFrom"] == {
        "fieldRef": {"fieldPath": "metadata.namespace"}
    }
    assert env[envvars.CONFIG_DIR]["value"] == "/etc/dataquarantine"
    assert env[envvars.METRICS_PORT]["value"] == "9400"


# --- Secrets --------------------------------------------------------------------------------


def test_secrets_reach_the_pods_only_through_secret_key_refs(owner: Owner) -> None:
    env = env_by_name(rendered(owner).validator)
    expected = {
        envvars.S3_ACCESS_KEY: ("s3-creds", "accessKey", None),
        envvars.S3_SECRET_KEY: ("s3-creds", "secretKey", None),
        envvars.POSTGRES_DSN: ("pg-creds", "dsn", None),
        envvars.KAFKA_SASL_USERNAME: ("kafka-creds", "sasl.username", True),
        envvars.KAFKA_SASL_PASSWORD: ("kafka-creds", "sasl.password", True),
        envvars.KAFKA_SASL_MECHANISM: ("kafka-creds", "sasl.mechanism", True),
        envvars.KAFKA_SECURITY_PROTOCOL: ("kafka-creds", "security.protocol", True),
    }
    for name, (secret, key, optional) in expected.items():
        ref = env[name]["valueFrom"]["secretKeyRef"]
        assert (ref["name"], ref["key"], ref.get("optional")) == (secret, key, optional)
        assert "value" not in env[name]


def test_only_the_api_gets_the_tokens(owner: Owner) -> None:
    result = rendered(owner)
    assert result.api_deployment is not None
    assert envvars.API_TOKENS not in env_by_name(result.validator)
    tokens = env_by_name(result.api_deployment)[envvars.API_TOKENS]
    assert tokens["valueFrom"]["secretKeyRef"] == {"name": "api-tokens", "key": "tokens"}
    assert env_by_name(result.api_deployment)[envvars.HTTP_PORT]["value"] == "8080"


def test_secret_names_never_appear_in_the_configmap(owner: Owner) -> None:
    text = json.dumps(rendered(owner).config_map["data"])
    for secret in ("kafka-creds", "s3-creds", "pg-creds", "api-tokens", "accessKey", "dsn"):
        assert secret not in text


def test_the_kafka_ca_is_mounted_from_the_secret_when_there_is_one(owner: Owner) -> None:
    result = rendered(owner)
    volume = next(v for v in pod_spec(result.validator)["volumes"] if v["name"] == "kafka-tls")
    assert volume["secret"] == {
        "secretName": "kafka-creds",
        "items": [{"key": "ca.crt", "path": "ca.crt"}],
        "optional": True,
    }
    assert env_by_name(result.validator)[envvars.KAFKA_SSL_CA_FILE]["value"].endswith("/ca.crt")


def test_without_a_kafka_secret_there_are_no_kafka_credentials(owner: Owner) -> None:
    result = rendered(owner, pipeline_spec(kafka={"bootstrapServers": "kafka:9092"}))
    env = env_by_name(result.validator)
    assert not [name for name in env if name.startswith("DQ_KAFKA_")]
    assert "kafka-tls" not in {v["name"] for v in pod_spec(result.validator)["volumes"]}


# --- ValidationSchema versions --------------------------------------------------------------


def test_a_schema_version_is_kept_in_an_immutable_configmap_owned_by_the_schema() -> None:
    owner = schema_owner("orders", "shop", "uid-vs")
    version = schema_version("orders", 3)
    config_map = render_schema_version_config_map(owner, version, "2026-01-02T03:04:05Z")
    assert config_map["immutable"] is True
    assert config_map["metadata"]["name"] == "orders-v3"
    assert config_map["metadata"]["labels"]["dataquarantine.io/schema-version"] == "3"
    assert config_map["metadata"]["labels"]["app.kubernetes.io/component"] == "schema-version"
    assert config_map["metadata"]["annotations"]["dataquarantine.io/fingerprint"] == (
        version.fingerprint
    )
    assert config_map["metadata"]["ownerReferences"][0]["kind"] == "ValidationSchema"
    assert schema_version_from_config_map(config_map) == version


def test_a_validation_schema_spec_becomes_a_domain_schema_version() -> None:
    spec = ValidationSchemaSpec.model_validate(
        {
            "type": "JSON_SCHEMA",
            "schema": {"type": "object"},
            "rules": [{"name": "positive", "expression": "record.amount > 0", "message": "> 0"}],
            "remediation": {
                "trimStrings": False,
                "timestamps": {"paths": ["/at"], "unit": "seconds"},
            },
        }
    )
    published = schema_version_from_spec("orders", 4, spec)
    assert (published.name, published.version, published.schema_) == (
        "orders",
        4,
        {"type": "object"},
    )
    assert published.rules[0].expression == "record.amount > 0"
    assert published.remediation.trim_strings is False
    assert published.remediation.timestamps.paths == ("/at",)
    assert published.remediation.timestamps.unit == "seconds"


def test_a_pipeline_owns_four_children_by_kind_and_name() -> None:
    assert child_names("orders") == (
        (ChildKind.CONFIG_MAP, "orders-config"),
        (ChildKind.DEPLOYMENT, "orders-validator"),
        (ChildKind.DEPLOYMENT, "orders-api"),
        (ChildKind.SERVICE, "orders-api"),
    )


def test_schema_versions_are_selected_by_component_and_schema_names() -> None:
    assert schema_versions_selector(["refunds", "orders", "orders"]) == (
        "app.kubernetes.io/name=dataquarantine,app.kubernetes.io/component=schema-version,"
        "app.kubernetes.io/instance in (orders,refunds)"
    )


def test_the_controller_is_the_owner_reference_marked_controller(owner: Owner) -> None:
    config_map = rendered(owner).config_map
    assert controller_uid(config_map) == owner.uid
    other = {"uid": "x", "kind": "Thing", "name": "t"}
    assert controller_uid({"metadata": {"ownerReferences": [other]}}) is None
    assert controller_uid({"metadata": {}}) is None
