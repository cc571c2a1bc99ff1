"""Pure builders of the objects a QuarantinePipeline owns (Strimzi style: inputs → dicts).

    published versions ──resolve_schema_selection──▶ SchemaSelection (no `latest` left)
    spec + selection ──build_pipeline_config──▶ PipelineConfig (the domain's pipeline.yaml)
    config + SchemaVersions ──render_pipeline──▶ ConfigMap, validator Deployment, API Deployment
                                                 and Service, all owned by the pipeline

The pod template carries the sha256 of the ConfigMap's data, so a new schema version or config
rolls the pods, and nothing else does. Secrets are referenced by `secretKeyRef`, never copied.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final

import yaml

from quarantine_operator import envvars
from quarantine_operator.api.v1alpha1 import (
    API_VERSION,
    DEFAULT_IMAGE,
    GROUP,
    LATEST,
    QUARANTINE_PIPELINE,
    VALIDATION_SCHEMA,
    PipelineState,
    QuarantinePipelineSpec,
    ResourceRequirementsSpec,
    SchemaRefSpec,
    SecretReference,
    ValidationSchemaSpec,
    parse_duration,
)
from validator_pod.domain.pipeline_config import (
    CONFIG_FILE_NAME,
    Batching,
    Breaker,
    KafkaBinding,
    Mode,
    ObjectStorage,
    PipelineConfig,
    SchemaRef,
    SchemaSelection,
    SchemaSelector,
    Topics,
    schema_file_name,
)
from validator_pod.domain.schemas import Remediation, Rule, SchemaVersion, TimestampFix

CONFIG_HASH_ANNOTATION: Final = f"{GROUP}/config-hash"
SCHEMA_FINGERPRINT_ANNOTATION: Final = f"{GROUP}/fingerprint"
CREATED_AT_ANNOTATION: Final = f"{GROUP}/created-at"
SCHEMA_VERSION_LABEL: Final = f"{GROUP}/schema-version"
SCHEMA_VERSION_KEY: Final = "schema.json"

APP_NAME: Final = "dataquarantine"
MANAGED_BY: Final = "dataquarantine-operator"

DEFAULT_VALIDATOR_RESOURCES: Final[Mapping[str, Mapping[str, str]]] = {
    "requests": {"cpu": "250m", "memory": "256Mi"},
    "limits": {"cpu": "1", "memory": "512Mi"},
}
DEFAULT_API_RESOURCES: Final[Mapping[str, Mapping[str, str]]] = {
    "requests": {"cpu": "100m", "memory": "128Mi"},
    "limits": {"cpu": "500m", "memory": "256Mi"},
}
RUN_AS_USER: Final = 10001


class Component(StrEnum):
    """The `app.kubernetes.io/component` of a rendered object."""

    VALIDATOR = "validator"
    API = "api"
    CONFIG = "config"
    SCHEMA_VERSION = "schema-version"


class ChildKind(StrEnum):
    """The kinds of objects a pipeline owns."""

    CONFIG_MAP = "ConfigMap"
    DEPLOYMENT = "Deployment"
    SERVICE = "Service"


@dataclass(frozen=True, slots=True)
class Owner:
    """The custom resource that owns (and cascades the deletion of) the rendered objects."""

    api_version: str
    kind: str
    name: str
    namespace: str
    uid: str

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> Owner:
        """The owner described by a custom resource's body, as kopf hands it over."""
        metadata = body["metadata"]
        return cls(
            api_version=body["apiVersion"],
            kind=body["kind"],
            name=metadata["name"],
            namespace=metadata["namespace"],
            uid=metadata["uid"],
        )

    def reference(self) -> dict[str, Any]:
        """The controller ownerReference to put on every owned object."""
        return {
            "apiVersion": self.api_version,
            "kind": self.kind,
            "name": self.name,
            "uid": self.uid,
            "controller": True,
            "blockOwnerDeletion": True,
        }


def pipeline_owner(name: str, namespace: str, uid: str) -> Owner:
    """A QuarantinePipeline as an owner."""
    return Owner(API_VERSION, QUARANTINE_PIPELINE.kind, name, namespace, uid)


def schema_owner(name: str, namespace: str, uid: str) -> Owner:
    """A ValidationSchema as an owner."""
    return Owner(API_VERSION, VALIDATION_SCHEMA.kind, name, namespace, uid)


# --- Names and labels -------------------------------------------------------------------------


def config_map_name(pipeline: str) -> str:
    """The pipeline's ConfigMap."""
    return f"{pipeline}-config"


def validator_name(pipeline: str) -> str:
    """The validator Deployment."""
    return f"{pipeline}-validator"


def api_name(pipeline: str) -> str:
    """The API Deployment and Service."""
    return f"{pipeline}-api"


def child_names(pipeline: str) -> tuple[tuple[ChildKind, str], ...]:
    """Every object a pipeline may own, by kind and name."""
    return (
        (ChildKind.CONFIG_MAP, config_map_name(pipeline)),
        (ChildKind.DEPLOYMENT, validator_name(pipeline)),
        (ChildKind.DEPLOYMENT, api_name(pipeline)),
        (ChildKind.SERVICE, api_name(pipeline)),
    )


def schema_version_config_map_name(schema: str, version: int) -> str:
    """The immutable ConfigMap that keeps one version of a ValidationSchema."""
    return f"{schema}-v{version}"


def selector_labels(instance: str, component: Component) -> dict[str, str]:
    """The labels that select an instance's pods: stable for the object's whole life."""
    return {
        "app.kubernetes.io/name": APP_NAME,
        "app.kubernetes.io/instance": instance,
        "app.kubernetes.io/component": component.value,
    }


def labels(instance: str, component: Component) -> dict[str, str]:
    """The recommended `app.kubernetes.io/*` labels of a rendered object."""
    return {
        **selector_labels(instance, component),
        "app.kubernetes.io/part-of": APP_NAME,
        "app.kubernetes.io/managed-by": MANAGED_BY,
    }


def validator_selector(pipeline: str) -> str:
    """The validator pods' label selector as a string (`status.selector`, for `kubectl scale`
    and autoscalers)."""
    return ",".join(
        f"{key}={value}"
        for key, value in sorted(selector_labels(pipeline, Component.VALIDATOR).items())
    )


def schema_versions_selector(schemas: Collection[str]) -> str:
    """The label selector of the ConfigMaps that keep these ValidationSchemas' versions."""
    return (
        f"app.kubernetes.io/name={APP_NAME},"
        f"app.kubernetes.io/component={Component.SCHEMA_VERSION.value},"
        f"app.kubernetes.io/instance in ({','.join(sorted(set(schemas)))})"
    )


def controller_uid(obj: Mapping[str, Any]) -> str | None:
    """The uid of the object's controller (its ownerReference with `controller: true`)."""
    for reference in obj.get("metadata", {}).get("ownerReferences") or ():
        if reference.get("controller"):
            uid = reference.get("uid")
            return str(uid) if uid is not None else None
    return None


def api_endpoint(owner: Owner) -> str:
    """The in-cluster URL of the pipeline's REST API."""
    return f"http://{api_name(owner.name)}.{owner.namespace}.svc"


def _metadata(owner: Owner, name: str, component: Component) -> dict[str, Any]:
    return {
        "name": name,
        "namespace": owner.namespace,
        "labels": labels(owner.name, component),
        "ownerReferences": [owner.reference()],
    }


# --- Schema resolution and the pipeline's configuration ---------------------------------------


def resolve_schema_ref(ref: SchemaRefSpec, published: Mapping[str, Collection[int]]) -> SchemaRef:
    """A concrete version for `ref`: `latest` becomes the newest published version.

    Raises LookupError when the schema or the version is not published (`find_schema_problems`
    reports the same cases as user-facing problems first).
    """
    versions = published.get(ref.name)
    if not versions:
        raise LookupError(f"ValidationSchema {ref.name!r} has no published version")
    if ref.version == LATEST:
        return SchemaRef(name=ref.name, version=max(versions))
    if ref.version not in versions:
        raise LookupError(f"ValidationSchema {ref.name!r} has no version {ref.version}")
    return SchemaRef(name=ref.name, version=ref.version)


def resolve_schema_selection(
    spec: QuarantinePipelineSpec, published: Mapping[str, Collection[int]]
) -> SchemaSelection:
    """The spec's schema selection with every version resolved. The shadow candidate is kept
    only in shadow mode (elsewhere it is ignored and need not exist)."""
    selection = spec.schema_selection
    selector = None
    if selection.selector is not None:
        selector = SchemaSelector(
            source=selection.selector.source,
            key=selection.selector.key,
            mapping={
                value: resolve_schema_ref(ref, published)
                for value, ref in selection.selector.mapping.items()
            },
        )
    candidate = None
    if spec.mode is Mode.SHADOW and selection.candidate is not None:
        candidate = resolve_schema_ref(selection.candidate, published)
    return SchemaSelection(
        default=resolve_schema_ref(selection.schema_ref, published),
        selector=selector,
        candidate=candidate,
    )


def consumer_group(owner: Owner, spec: QuarantinePipelineSpec) -> str:
    """The validators' consumer group: the spec's, or `dq-<namespace>-<name>`."""
    return spec.kafka.consumer_group or f"dq-{owner.namespace}-{owner.name}"


def build_pipeline_config(
    owner: Owner, spec: QuarantinePipelineSpec, selection: SchemaSelection
) -> PipelineConfig:
    """The `pipeline.yaml` contract for this pipeline (credentials excluded: they are env)."""
    quarantine = spec.quarantine
    breaker = Breaker()
    if spec.error_handling is not None:
        handling = spec.error_handling
        breaker = Breaker(
            enabled=handling.enabled,
            window=parse_duration(handling.window),
            threshold=handling.threshold,
            min_records=handling.min_records,
            action=handling.action.value,
        )
    return PipelineConfig(
        name=owner.name,
        namespace=owner.namespace,
        kafka=KafkaBinding(
            bootstrap_servers=spec.kafka.bootstrap_servers,
            consumer_group=consumer_group(owner, spec),
        ),
        topics=Topics(
            sources=tuple(spec.source.topics),
            valid=spec.sinks.valid_topic,
            quarantine=spec.sinks.quarantine_topic,
        ),
        schema_selection=selection,
        mode=spec.mode,
        delivery=spec.delivery,
        remediation_enabled=spec.remediation.enabled,
        storage=ObjectStorage(
            endpoint=quarantine.storage.endpoint,
            bucket=quarantine.storage.bucket,
            secure=quarantine.storage.secure,
            region=quarantine.storage.region,
        ),
        retention=parse_duration(quarantine.retention),
        breaker=breaker,
        batching=Batching(
            max_records=spec.batching.max_records, max_wait_ms=spec.batching.max_wait_ms
        ),
        avro_framing=spec.source.avro_framing,
    )


# --- ConfigMap --------------------------------------------------------------------------------


def schema_config_key(ref: SchemaRef) -> str:
    """The ConfigMap key of a schema version (keys cannot hold '/'; the volume's `items` map
    it to `schema_file_name(ref)`)."""
    return f"schema.{ref.name}.{ref.version}.json"


def config_map_data(config: PipelineConfig, schemas: Sequence[SchemaVersion]) -> dict[str, str]:
    """`pipeline.yaml` plus one key per referenced schema version.

    Raises ValueError when `schemas` does not hold exactly the versions the config references.
    """
    by_ref = {SchemaRef(name=schema.name, version=schema.version): schema for schema in schemas}
    referenced = config.referenced_schemas()
    missing = [f"{ref.name} v{ref.version}" for ref in referenced if ref not in by_ref]
    if missing:
        raise ValueError(f"schema versions missing for the config: {', '.join(missing)}")
    data = {
        CONFIG_FILE_NAME: yaml.safe_dump(
            config.model_dump(mode="json", by_alias=True), sort_keys=False, allow_unicode=True
        )
    }
    for ref in referenced:
        data[schema_config_key(ref)] = by_ref[ref].model_dump_json(by_alias=True)
    return data


def config_hash(data: Mapping[str, str]) -> str:
    """sha256 over the ConfigMap's data in key order: the pods roll exactly when it changes."""
    canonical = json.dumps(dict(sorted(data.items())), separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def render_config_map(owner: Owner, data: Mapping[str, str]) -> dict[str, Any]:
    """ConfigMap `<pipeline>-config`."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": _metadata(owner, config_map_name(owner.name), Component.CONFIG),
        "data": dict(data),
    }


def config_volume(owner: Owner, config: PipelineConfig) -> dict[str, Any]:
    """The config volume: `pipeline.yaml` and `schemas/<name>/<version>.json`."""
    items = [{"key": CONFIG_FILE_NAME, "path": CONFIG_FILE_NAME}]
    items.extend(
        {"key": schema_config_key(ref), "path": schema_file_name(ref)}
        for ref in config.referenced_schemas()
    )
    return {"name": "config", "configMap": {"name": config_map_name(owner.name), "items": items}}


# --- Pods -------------------------------------------------------------------------------------


def _secret_env(secret: SecretReference, keys: Sequence[envvars.SecretKey]) -> list[dict[str, Any]]:
    env: list[dict[str, Any]] = []
    for key in keys:
        ref: dict[str, Any] = {"name": secret.name, "key": key.key}
        if not key.required:
            ref["optional"] = True
        env.append({"name": key.env, "valueFrom": {"secretKeyRef": ref}})
    return env


def _common_env(spec: QuarantinePipelineSpec) -> list[dict[str, Any]]:
    env: list[dict[str, Any]] = [
        {"name": envvars.CONFIG_DIR, "value": envvars.CONFIG_DIR_PATH},
        {"name": envvars.POD_NAME, "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {
            "name": envvars.POD_NAMESPACE,
            "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}},
        },
    ]
    if spec.kafka.secret_ref is not None:
        env.extend(_secret_env(spec.kafka.secret_ref, envvars.KAFKA_SECRET_KEYS))
        env.append(
            {
                "name": envvars.KAFKA_SSL_CA_FILE,
                "value": f"{envvars.KAFKA_TLS_DIR}/{envvars.KAFKA_CA_KEY}",
            }
        )
    env.extend(_secret_env(spec.quarantine.storage.secret_ref, envvars.STORAGE_SECRET_KEYS))
    env.extend(_secret_env(spec.quarantine.database.secret_ref, envvars.DATABASE_SECRET_KEYS))
    return env


def _volumes(owner: Owner, spec: QuarantinePipelineSpec, config: PipelineConfig) -> list[Any]:
    volumes: list[dict[str, Any]] = [
        config_volume(owner, config),
        {"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}},
    ]
    if spec.kafka.secret_ref is not None:
        # ca.crt is optional in the Secret: without it the file is simply absent.
        volumes.append(
            {
                "name": "kafka-tls",
                "secret": {
                    "secretName": spec.kafka.secret_ref.name,
                    "items": [{"key": envvars.KAFKA_CA_KEY, "path": envvars.KAFKA_CA_KEY}],
                    "optional": True,
                },
            }
        )
    return volumes


def _volume_mounts(spec: QuarantinePipelineSpec) -> list[dict[str, Any]]:
    mounts: list[dict[str, Any]] = [
        {"name": "config", "mountPath": envvars.CONFIG_DIR_PATH, "readOnly": True},
        {"name": "tmp", "mountPath": "/tmp"},  # noqa: S108 (an emptyDir, not the host's /tmp)
    ]
    if spec.kafka.secret_ref is not None:
        mounts.append({"name": "kafka-tls", "mountPath": envvars.KAFKA_TLS_DIR, "readOnly": True})
    return mounts


def _resources(
    override: ResourceRequirementsSpec | None, default: Mapping[str, Mapping[str, str]]
) -> dict[str, Any]:
    if override is None:
        return {section: dict(values) for section, values in default.items()}
    return override.model_dump(mode="json", exclude_none=True)


CONTAINER_SECURITY_CONTEXT: Final[Mapping[str, Any]] = {
    "runAsNonRoot": True,
    "runAsUser": RUN_AS_USER,
    "runAsGroup": RUN_AS_USER,
    "readOnlyRootFilesystem": True,
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "seccompProfile": {"type": "RuntimeDefault"},
}
POD_SECURITY_CONTEXT: Final[Mapping[str, Any]] = {
    "runAsNonRoot": True,
    "runAsUser": RUN_AS_USER,
    "runAsGroup": RUN_AS_USER,
    "fsGroup": RUN_AS_USER,
    "seccompProfile": {"type": "RuntimeDefault"},
}


def _probe(path: str, port: str, *, period: int, initial_delay: int) -> dict[str, Any]:
    return {
        "httpGet": {"path": path, "port": port},
        "initialDelaySeconds": initial_delay,
        "periodSeconds": period,
        "timeoutSeconds": 3,
        "failureThreshold": 3,
    }


@dataclass(frozen=True, slots=True)
class _Workload:
    component: Component
    name: str
    replicas: int
    command: tuple[str, ...]
    port_name: str
    port: int
    extra_env: tuple[dict[str, Any], ...]
    resources: dict[str, Any]


def _deployment(
    owner: Owner,
    spec: QuarantinePipelineSpec,
    config: PipelineConfig,
    digest: str,
    workload: _Workload,
    image: str,
) -> dict[str, Any]:
    container = {
        "name": workload.component.value,
        "image": image,
        "command": list(workload.command),
        "ports": [{"name": workload.port_name, "containerPort": workload.port, "protocol": "TCP"}],
        "env": [*_common_env(spec), *workload.extra_env],
        "resources": workload.resources,
        "livenessProbe": _probe("/healthz", workload.port_name, period=10, initial_delay=10),
        "readinessProbe": _probe("/readyz", workload.port_name, period=5, initial_delay=2),
        "securityContext": dict(CONTAINER_SECURITY_CONTEXT),
        "volumeMounts": _volume_mounts(spec),
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _metadata(owner, workload.name, workload.component),
        "spec": {
            "replicas": workload.replicas,
            "revisionHistoryLimit": 3,
            "selector": {"matchLabels": selector_labels(owner.name, workload.component)},
            "template": {
                "metadata": {
                    "labels": labels(owner.name, workload.component),
                    "annotations": {
                        CONFIG_HASH_ANNOTATION: digest,
                        "prometheus.io/scrape": "true",
                        "prometheus.io/port": str(workload.port),
                        "prometheus.io/path": "/metrics",
                    },
                },
                "spec": {
                    # The pods never talk to the Kubernetes API.
                    "automountServiceAccountToken": False,
                    "enableServiceLinks": False,
                    "securityContext": dict(POD_SECURITY_CONTEXT),
                    "containers": [container],
                    "volumes": _volumes(owner, spec, config),
                },
            },
        },
    }


def validator_replicas(spec: QuarantinePipelineSpec) -> int:
    """Validator pods: none unless the pipeline is running."""
    return spec.replicas if spec.state is PipelineState.RUNNING else 0


def api_replicas(spec: QuarantinePipelineSpec) -> int:
    """API pods: they keep serving a paused pipeline, and stop with a stopped one."""
    return 0 if spec.state is PipelineState.STOPPED else spec.api.replicas


def render_validator_deployment(
    owner: Owner,
    spec: QuarantinePipelineSpec,
    config: PipelineConfig,
    digest: str,
    *,
    default_image: str = DEFAULT_IMAGE,
) -> dict[str, Any]:
    """Deployment `<pipeline>-validator` running `python -m validator_pod run`."""
    workload = _Workload(
        component=Component.VALIDATOR,
        name=validator_name(owner.name),
        replicas=validator_replicas(spec),
        command=("python", "-m", "validator_pod", "run", "--config-dir", envvars.CONFIG_DIR_PATH),
        port_name="metrics",
        port=envvars.METRICS_PORT_NUMBER,
        extra_env=({"name": envvars.METRICS_PORT, "value": str(envvars.METRICS_PORT_NUMBER)},),
        resources=_resources(spec.resources, DEFAULT_VALIDATOR_RESOURCES),
    )
    return _deployment(owner, spec, config, digest, workload, spec.image or default_image)


def render_api_deployment(
    owner: Owner,
    spec: QuarantinePipelineSpec,
    config: PipelineConfig,
    digest: str,
    *,
    default_image: str = DEFAULT_IMAGE,
) -> dict[str, Any]:
    """Deployment `<pipeline>-api` running `python -m validator_pod api`."""
    extra_env: list[dict[str, Any]] = [
        {"name": envvars.HTTP_PORT, "value": str(envvars.HTTP_PORT_NUMBER)}
    ]
    if spec.api.auth is not None:
        extra_env.extend(_secret_env(spec.api.auth.secret_ref, envvars.API_SECRET_KEYS))
    workload = _Workload(
        component=Component.API,
        name=api_name(owner.name),
        replicas=api_replicas(spec),
        command=("python", "-m", "validator_pod", "api", "--config-dir", envvars.CONFIG_DIR_PATH),
        port_name="http",
        port=envvars.HTTP_PORT_NUMBER,
        extra_env=tuple(extra_env),
        resources=_resources(spec.api.resources, DEFAULT_API_RESOURCES),
    )
    return _deployment(owner, spec, config, digest, workload, spec.image or default_image)


def render_api_service(owner: Owner) -> dict[str, Any]:
    """Service `<pipeline>-api`: ClusterIP, port 80 to the pods' `http` port."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _metadata(owner, api_name(owner.name), Component.API),
        "spec": {
            "type": "ClusterIP",
            "selector": selector_labels(owner.name, Component.API),
            "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}],
        },
    }


@dataclass(frozen=True, slots=True)
class RenderedPipeline:
    """Everything the operator applies for one pipeline. The API objects are None when the
    API is disabled (the handler deletes them then)."""

    config: PipelineConfig
    config_hash: str
    config_map: dict[str, Any]
    validator: dict[str, Any]
    api_deployment: dict[str, Any] | None
    api_service: dict[str, Any] | None

    def objects(self) -> tuple[dict[str, Any], ...]:
        """The objects to apply, ConfigMap first (the pods mount it)."""
        rendered = (self.config_map, self.validator, self.api_deployment, self.api_service)
        return tuple(item for item in rendered if item is not None)

    def schemas_status(self) -> list[dict[str, Any]]:
        """`status.schemas`: the versions in use, default first."""
        return [
            {"name": ref.name, "version": ref.version} for ref in self.config.referenced_schemas()
        ]


def render_pipeline(
    owner: Owner,
    spec: QuarantinePipelineSpec,
    config: PipelineConfig,
    schemas: Sequence[SchemaVersion],
    *,
    default_image: str = DEFAULT_IMAGE,
) -> RenderedPipeline:
    """All objects of a pipeline from its spec, its config and the schema versions it uses."""
    data = config_map_data(config, schemas)
    digest = config_hash(data)
    api_enabled = spec.api.enabled
    return RenderedPipeline(
        config=config,
        config_hash=digest,
        config_map=render_config_map(owner, data),
        validator=render_validator_deployment(
            owner, spec, config, digest, default_image=default_image
        ),
        api_deployment=(
            render_api_deployment(owner, spec, config, digest, default_image=default_image)
            if api_enabled
            else None
        ),
        api_service=render_api_service(owner) if api_enabled else None,
    )


# --- ValidationSchema versions ----------------------------------------------------------------


def schema_version_from_spec(name: str, version: int, spec: ValidationSchemaSpec) -> SchemaVersion:
    """The immutable domain version that publishing `spec` as `version` creates."""
    remediation = spec.remediation
    return SchemaVersion(
        name=name,
        version=version,
        type=spec.type,
        schema_=spec.schema_,
        rules=tuple(
            Rule(name=rule.name, expression=rule.expression, message=rule.message)
            for rule in spec.rules
        ),
        remediation=Remediation(
            coerce_types=remediation.coerce_types,
            trim_strings=remediation.trim_strings,
            fill_defaults=remediation.fill_defaults,
            timestamps=TimestampFix(
                paths=tuple(remediation.timestamps.paths),
                unit=remediation.timestamps.unit.value,
            ),
        ),
    )


def render_schema_version_config_map(
    owner: Owner, schema: SchemaVersion, created_at: str
) -> dict[str, Any]:
    """The immutable ConfigMap `<schema>-v<version>` that keeps one published version."""
    metadata = _metadata(
        owner,
        schema_version_config_map_name(schema.name, schema.version),
        Component.SCHEMA_VERSION,
    )
    metadata["labels"][SCHEMA_VERSION_LABEL] = str(schema.version)
    metadata["annotations"] = {
        SCHEMA_FINGERPRINT_ANNOTATION: schema.fingerprint,
        CREATED_AT_ANNOTATION: created_at,
    }
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": metadata,
        "immutable": True,
        "data": {SCHEMA_VERSION_KEY: schema.model_dump_json(by_alias=True)},
    }


def schema_version_from_config_map(config_map: Mapping[str, Any]) -> SchemaVersion:
    """Read back a version kept by `render_schema_version_config_map`."""
    return SchemaVersion.model_validate_json(config_map["data"][SCHEMA_VERSION_KEY])
