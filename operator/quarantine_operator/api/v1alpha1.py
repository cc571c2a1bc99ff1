"""`dataquarantine.io/v1alpha1`: the ValidationSchema and QuarantinePipeline custom resources.

These models are the single source of the CRDs' OpenAPI schemas (see `crdgen`): field docstrings
become the descriptions that `kubectl explain` shows, constraints become admission-time validation.
They are the public, versioned API; `render` translates them into the internal contract
(`validator_pod.domain`), which may evolve independently.

Defaults that must follow operator upgrades (the container image, resources) are deliberately not
CRD defaults: the API server would persist them into every object at creation time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any, Final, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    WithJsonSchema,
    field_validator,
)
from pydantic.alias_generators import to_camel

from validator_pod.domain.pipeline_config import AvroFraming, Delivery, Mode, SelectorSource
from validator_pod.domain.schemas import Compatibility, SchemaType

GROUP: Final = "dataquarantine.io"
VERSION: Final = "v1alpha1"
API_VERSION: Final = f"{GROUP}/{VERSION}"
CATEGORY: Final = "dataquarantine"

PAUSE_RECONCILIATION_ANNOTATION: Final = f"{GROUP}/pause-reconciliation"

DEFAULT_IMAGE: Final = "ghcr.io/dataquarantine/dataquarantine:0.1.0"


@dataclass(frozen=True, slots=True)
class ResourceNames:
    """How one custom resource is named in the API (the CRD's `spec.names`)."""

    kind: str
    plural: str
    singular: str
    short_names: tuple[str, ...]

    @property
    def list_kind(self) -> str:
        """The kind of a list of these objects."""
        return f"{self.kind}List"

    @property
    def crd_name(self) -> str:
        """The CustomResourceDefinition's name: `<plural>.<group>`."""
        return f"{self.plural}.{GROUP}"


VALIDATION_SCHEMA: Final = ResourceNames(
    kind="ValidationSchema",
    plural="validationschemas",
    singular="validationschema",
    short_names=("vs",),
)
QUARANTINE_PIPELINE: Final = ResourceNames(
    kind="QuarantinePipeline",
    plural="quarantinepipelines",
    singular="quarantinepipeline",
    short_names=("qp",),
)

# --- Reusable constraints ---------------------------------------------------------------------
# Patterns are checked by the API server (Go RE2) and by pydantic (Rust regex): neither supports
# look-around, so they are written without it.

DNS_SUBDOMAIN_PATTERN: Final = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
DNS_LABEL_PATTERN: Final = r"^[a-z]([-a-z0-9]*[a-z0-9])?$"
TOPIC_PATTERN: Final = r"^[a-zA-Z0-9._-]+$"
TopicName = Annotated[str, Field(min_length=1, max_length=249, pattern=TOPIC_PATTERN)]

# The longest suffix added to a pipeline name is "-validator"; the API Service `<name>-api` must be
# a DNS-1035 label (at most 63 characters, starting with a letter).
PIPELINE_NAME_MAX_LENGTH: Final = 59
# ValidationSchema names become label values (at most 63 characters).
SCHEMA_NAME_MAX_LENGTH: Final = 63

_SECONDS = r"\d+(?:\.\d+)?S"
_TIME = rf"T(?:\d+H(?:\d+M)?(?:{_SECONDS})?|\d+M(?:{_SECONDS})?|{_SECONDS})"
ISO8601_DURATION_PATTERN: Final = rf"^P(?:\d+W(?:\d+D)?(?:{_TIME})?|\d+D(?:{_TIME})?|{_TIME})$"
_DURATION_PARTS = re.compile(
    r"^P(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?"
    r"(?:T(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+(?:\.\d+)?)S)?)?$"
)


def parse_duration(text: str) -> timedelta:
    """Parse an ISO-8601 duration of weeks, days, hours, minutes and seconds (`P7D`, `PT1M30S`).

    Years and months are refused: their length depends on the calendar.
    """
    if re.fullmatch(ISO8601_DURATION_PATTERN, text) is None:
        raise ValueError(
            f"{text!r} is not an ISO-8601 duration of weeks, days, hours, minutes and seconds "
            "(e.g. P7D, PT12H, PT1M30S; years and months are not supported)"
        )
    parts = _DURATION_PARTS.match(text)
    assert parts is not None  # the stricter pattern above already matched
    values = {unit: float(value) for unit, value in parts.groupdict().items() if value is not None}
    return timedelta(**values)


def _check_duration(value: object) -> object:
    if isinstance(value, str):
        parse_duration(value)
    return value


Duration = Annotated[
    str,
    Field(pattern=ISO8601_DURATION_PATTERN, max_length=64),
    BeforeValidator(_check_duration),
]

_NUMBER = r"(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))"
QUANTITY_PATTERN: Final = rf"^(\+|-)?{_NUMBER}(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?{_NUMBER}))?$"


def _check_quantity(value: object) -> object:
    if isinstance(value, str) and re.fullmatch(QUANTITY_PATTERN, value) is None:
        raise ValueError(f"{value!r} is not a Kubernetes quantity (e.g. 500m, 1, 256Mi, 2Gi)")
    return value


Quantity = Annotated[
    int | str,
    BeforeValidator(_check_quantity),
    WithJsonSchema(
        {
            "anyOf": [{"type": "integer"}, {"type": "string"}],
            "pattern": QUANTITY_PATTERN,
            "x-kubernetes-int-or-string": True,
        }
    ),
]

LATEST: Final = "latest"


def _parse_version(value: object) -> object:
    if isinstance(value, str) and value != LATEST:
        if not value.isdigit():
            raise ValueError(f"version must be 'latest' or a positive integer, not {value!r}")
        return int(value)
    return value


VersionSelector = Annotated[
    Literal["latest"] | Annotated[int, Field(ge=1)],
    BeforeValidator(_parse_version),
    WithJsonSchema(
        {
            # Integers are checked by `minimum`, strings by `pattern` (each applies to its type).
            "anyOf": [{"type": "integer"}, {"type": "string"}],
            "minimum": 1,
            "pattern": r"^(latest|[1-9][0-9]*)$",
            "x-kubernetes-int-or-string": True,
        }
    ),
]

FreeFormObject = Annotated[
    dict[str, Any],
    WithJsonSchema({"type": "object", "x-kubernetes-preserve-unknown-fields": True}),
]


class ApiModel(BaseModel):
    """Immutable model with camelCase wire names; attribute docstrings become descriptions."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
        use_attribute_docstrings=True,
    )


# --- Shared types -----------------------------------------------------------------------------


class ConditionStatus(StrEnum):
    """The status of a condition."""

    TRUE = "True"
    FALSE = "False"
    UNKNOWN = "Unknown"


class Condition(ApiModel):
    """One aspect of the object's current state, shaped like `metav1.Condition`."""

    type: str = Field(
        max_length=316,
        pattern=r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$",
    )
    """Type of condition in CamelCase: Ready, Reconciling, Stalled or ReconciliationPaused."""
    status: ConditionStatus
    """Status of the condition: True, False or Unknown."""
    observed_generation: int | None = Field(default=None, ge=0)
    """The `.metadata.generation` that the condition was set for."""
    last_transition_time: datetime
    """When the condition last changed from one status to another (RFC 3339)."""
    reason: str = Field(
        min_length=1, max_length=1024, pattern=r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$"
    )
    """Programmatic identifier in CamelCase for the last transition, e.g. SchemaNotFound."""
    message: str = Field(max_length=32768)
    """Human-readable details about the last transition."""


CONDITIONS_SCHEMA_EXTRA: Final[dict[str, Any]] = {
    "x-kubernetes-list-type": "map",
    "x-kubernetes-list-map-keys": ["type"],
}


class SecretReference(ApiModel):
    """A Secret in the same namespace as this object. Its values are passed to the pods as
    environment variables; they are never copied into ConfigMaps or the status."""

    name: str = Field(min_length=1, max_length=253, pattern=DNS_SUBDOMAIN_PATTERN)
    """Name of the Secret."""


# --- ValidationSchema -------------------------------------------------------------------------


class Rule(ApiModel):
    """A business rule that every record must satisfy beyond the schema."""

    name: str = Field(min_length=1, max_length=63, pattern=r"^[a-z0-9]([-a-z0-9_]*[a-z0-9])?$")
    """Unique name of the rule; reported with every violation (lowercase, digits, '-' and '_')."""
    expression: str = Field(min_length=1, max_length=4096)
    """CEL expression over `record` that must evaluate to true, e.g. `record.amount > 0`."""
    message: str = Field(min_length=1, max_length=1024)
    """Message reported when the expression is false."""


class TimestampUnit(StrEnum):
    """The unit of epoch numbers."""

    SECONDS = "seconds"
    MILLISECONDS = "milliseconds"


class TimestampRemediation(ApiModel):
    """Normalise epoch numbers to RFC 3339 strings."""

    paths: list[str] = Field(default=[], max_length=64)
    """JSON pointers (e.g. /createdAt) of fields whose epoch numbers become RFC 3339 strings."""
    unit: TimestampUnit = TimestampUnit.MILLISECONDS
    """The unit of the epoch numbers found at `paths`."""


class SchemaRemediation(ApiModel):
    """Declarative fixes tried on an invalid record (when the pipeline enables remediation)
    before it is quarantined; the fixed record is validated again and the original is kept."""

    coerce_types: bool = True
    """Convert scalars to the type the schema asks for ("42" to 42, "true" to true)."""
    trim_strings: bool = True
    """Remove leading and trailing whitespace from strings."""
    fill_defaults: bool = True
    """Fill missing properties that have a `default` in the schema."""
    timestamps: TimestampRemediation = TimestampRemediation()
    """Normalise epoch timestamps to RFC 3339 strings."""


class ValidationSchemaSpec(ApiModel):
    """The desired schema of one subject. Each accepted change of `schema`, `rules` or
    `remediation` becomes a new immutable version; a change that breaks `compatibility` or does
    not compile is refused (Ready=False) and the last good version stays live."""

    type: SchemaType
    """The schema language: JSON_SCHEMA (drafts 7 and 2020-12) or AVRO."""
    schema_: FreeFormObject = Field(alias="schema")
    """The schema document, as an object (a JSON Schema, or an Avro schema in its JSON form)."""
    compatibility: Compatibility = Compatibility.BACKWARD
    """How a new version must relate to earlier ones. BACKWARD: the new schema accepts data
    written with the previous version; FORWARD: the previous version accepts data written with
    the new one; FULL: both; *_TRANSITIVE: against all earlier versions, not only the latest;
    NONE: no check."""
    rules: list[Rule] = Field(
        default=[],
        max_length=256,
        json_schema_extra={
            "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["name"],
        },
    )
    """Business rules (CEL) that every valid record must also satisfy."""
    remediation: SchemaRemediation = SchemaRemediation()
    """Fixes tried on invalid records when a pipeline enables remediation."""


class SchemaVersionStatus(ApiModel):
    """One published, immutable version."""

    version: int = Field(ge=1)
    """The version number (1, 2, ...)."""
    fingerprint: str = Field(pattern=r"^[0-9a-f]{64}$")
    """sha256 of the canonical schema document (sorted keys, compact JSON)."""
    created_at: datetime
    """When the version was published (RFC 3339)."""


class ValidationSchemaStatus(ApiModel):
    """The observed state of a ValidationSchema."""

    observed_generation: int | None = Field(default=None, ge=0)
    """The `.metadata.generation` that the operator last processed."""
    conditions: list[Condition] = Field(
        default_factory=list, json_schema_extra=CONDITIONS_SCHEMA_EXTRA
    )
    """Ready (summary), Reconciling and Stalled; Ready=False with reason IncompatibleSchema or
    InvalidSchema when the latest change of the spec was refused."""
    latest_version: int | None = Field(default=None, ge=1)
    """The newest published version; `latest` in a pipeline resolves to it."""
    versions: list[SchemaVersionStatus] = Field(
        default_factory=list,
        json_schema_extra={
            "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["version"],
        },
    )
    """Every published version, oldest first."""


# --- QuarantinePipeline -----------------------------------------------------------------------


class PipelineState(StrEnum):
    """Whether the pipeline's pods run."""

    RUNNING = "running"
    PAUSED = "paused"
    STOPPED = "stopped"


class KafkaSpec(ApiModel):
    """The Kafka cluster that holds the source and sink topics."""

    bootstrap_servers: str = Field(min_length=1, max_length=4096)
    """Comma-separated host:port list of bootstrap brokers, e.g. my-cluster-kafka-bootstrap:9092."""
    secret_ref: SecretReference | None = None
    """Secret with the client's security settings, all keys optional: `security.protocol`
    (PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL), `sasl.mechanism` (PLAIN, SCRAM-SHA-256 or
    SCRAM-SHA-512), `sasl.username`, `sasl.password`, and `ca.crt` (PEM bundle trusted for TLS).
    Without it the pods connect with PLAINTEXT."""
    consumer_group: str | None = Field(default=None, min_length=1, max_length=249)
    """Consumer group of the validators; defaults to `dq-<namespace>-<name>`."""


class SourceSpec(ApiModel):
    """Where records come from."""

    topics: list[TopicName] = Field(
        min_length=1,
        max_length=100,
        json_schema_extra={"x-kubernetes-list-type": "set"},
    )
    """Topics to consume and validate."""
    avro_framing: AvroFraming = AvroFraming.CONFLUENT
    """How Avro values are framed (AVRO schemas only): confluent (magic byte 0 and a 4-byte
    schema id before the body) or plain (the schemaless body alone)."""

    @field_validator("topics")
    @classmethod
    def _topics_do_not_repeat(cls, topics: list[str]) -> list[str]:
        if len(set(topics)) != len(topics):
            raise ValueError("topics must not repeat")
        return topics


class SinksSpec(ApiModel):
    """Where records go."""

    valid_topic: TopicName
    """Topic that receives valid (and remediated) records, as their original bytes."""
    quarantine_topic: TopicName
    """Dead-letter topic that receives invalid and undecodable records with Kafka Connect's
    error headers plus dataquarantine.* headers."""


class SchemaRefSpec(ApiModel):
    """A ValidationSchema in the pipeline's namespace, at a version."""

    name: str = Field(
        min_length=1, max_length=SCHEMA_NAME_MAX_LENGTH, pattern=DNS_SUBDOMAIN_PATTERN
    )
    """Name of the ValidationSchema."""
    version: VersionSelector = LATEST
    """`latest` (follow new versions: each one rolls the pods) or a version number to pin."""


class SchemaSelectorSpec(ApiModel):
    """Chooses a schema per record from a header or a JSON field; unmapped values use the
    default `schemaRef`."""

    source: SelectorSource
    """Read the selector value from a record `header` or from a JSON `field`."""
    key: str = Field(min_length=1, max_length=1024)
    """Header name, or a JSON pointer such as /type for a field."""
    mapping: dict[str, SchemaRefSpec] = Field(min_length=1)
    """Selector value to schema, e.g. {"order.created": {name: order-created}}."""


class SchemaSelectionSpec(ApiModel):
    """Which schema validates each record."""

    schema_ref: SchemaRefSpec
    """The default schema."""
    selector: SchemaSelectorSpec | None = None
    """Optional per-record choice of schema by header or field value."""
    candidate: SchemaRefSpec | None = None
    """In shadow mode: a schema version evaluated beside the live one; differences are reported,
    routing follows the live schema. Required in shadow mode, ignored otherwise."""


class PipelineRemediationSpec(ApiModel):
    """Remediation of invalid records."""

    enabled: bool = False
    """Try the schema's declarative fixes on invalid records before quarantining them."""


class StorageSpec(ApiModel):
    """S3-compatible object storage for quarantined payloads."""

    endpoint: str = Field(min_length=1, max_length=1024)
    """host[:port] of the S3 endpoint, without scheme, e.g. minio.storage:9000."""
    bucket: str = Field(min_length=3, max_length=63, pattern=r"^[a-z0-9][a-z0-9.-]*[a-z0-9]$")
    """Bucket for payload segments (it must exist)."""
    region: str | None = Field(default=None, min_length=1, max_length=64)
    """Region of the bucket, when the server needs one."""
    secure: bool = True
    """Use HTTPS."""
    secret_ref: SecretReference
    """Secret with the keys `accessKey` and `secretKey`."""


class DatabaseSpec(ApiModel):
    """PostgreSQL database for quarantine metadata."""

    secret_ref: SecretReference
    """Secret with the key `dsn`: a libpq URI such as postgresql://user:password@host:5432/db."""


class QuarantineSpec(ApiModel):
    """Where quarantined records are kept, and for how long."""

    storage: StorageSpec
    """Object storage for the original payload bytes."""
    database: DatabaseSpec
    """Database for the searchable record metadata."""
    retention: Duration = "P7D"
    """How long quarantined records are kept, as an ISO-8601 duration of weeks, days, hours,
    minutes and seconds (P7D, P4W, PT12H)."""


class BreakerAction(StrEnum):
    """What the invalid-ratio breaker does when it trips."""

    PAUSE = "pause"
    ALERT = "alert"


class ErrorHandlingSpec(ApiModel):
    """Invalid-ratio breaker: when the share of invalid records in a window exceeds the
    threshold, stop consuming (pause) or only report it (alert). Omit to disable."""

    enabled: bool = True
    """Set to false to keep these settings but disable the breaker."""
    window: Duration = "PT1M"
    """Length of the sliding window, as an ISO-8601 duration (PT1M, PT30S)."""
    threshold: float = Field(default=0.5, gt=0.0, le=1.0)
    """Invalid share above which the breaker trips, in (0, 1]."""
    min_records: int = Field(default=100, ge=1)
    """Records the window must hold before the breaker may trip."""
    action: BreakerAction = BreakerAction.PAUSE
    """pause: stop consuming until the pipeline is restarted; alert: report only."""


class BatchingSpec(ApiModel):
    """How many records are processed and committed together."""

    max_records: int = Field(default=2000, ge=1, le=100_000)
    """Largest batch."""
    max_wait_ms: int = Field(default=5, ge=0, le=60_000)
    """Longest wait for a batch to fill, in milliseconds."""


class ResourceRequirementsSpec(ApiModel):
    """Compute resources of a container, as in a Pod's `resources`. When set it replaces the
    operator's defaults as a whole."""

    requests: dict[str, Quantity] | None = None
    """Minimum resources, e.g. {cpu: 250m, memory: 256Mi}."""
    limits: dict[str, Quantity] | None = None
    """Maximum resources, e.g. {cpu: "1", memory: 512Mi}."""


class ApiAuthSpec(ApiModel):
    """Authentication of the pipeline's REST API."""

    secret_ref: SecretReference
    """Secret with the key `tokens`: accepted bearer tokens, one per line."""


class ApiSpec(ApiModel):
    """The pipeline's REST API to inspect, replay and discard quarantined records."""

    enabled: bool = True
    """Deploy the API (Deployment and Service `<name>-api`)."""
    replicas: int = Field(default=1, ge=0, le=10)
    """Number of API pods."""
    auth: ApiAuthSpec | None = None
    """Bearer tokens. Without them, mutating routes (replay, discard) refuse every request."""
    resources: ResourceRequirementsSpec | None = None
    """API container resources; default requests 100m CPU and 128Mi, limits 500m and 256Mi."""


class QuarantinePipelineSpec(ApiModel):
    """The desired state of one consume-validate-route workload."""

    state: PipelineState = PipelineState.RUNNING
    """running; paused (no validator pods, the API stays up); stopped (no pods at all)."""
    replicas: int = Field(default=1, ge=0, le=1000)
    """Number of validator pods (more than the source partitions is wasted). `kubectl scale`
    sets it."""
    kafka: KafkaSpec
    """The Kafka cluster."""
    source: SourceSpec
    """Topics to validate."""
    sinks: SinksSpec
    """Topics for valid and quarantined records."""
    schema_selection: SchemaSelectionSpec
    """Which schema validates each record."""
    mode: Mode = Mode.ENFORCE
    """enforce: route invalid records to quarantine; observe: forward everything and only report;
    shadow: also evaluate `schemaSelection.candidate` and report the difference."""
    remediation: PipelineRemediationSpec = PipelineRemediationSpec()
    """Remediation of invalid records with the schema's declarative fixes."""
    quarantine: QuarantineSpec
    """Storage, database and retention of quarantined records."""
    error_handling: ErrorHandlingSpec | None = None
    """Invalid-ratio breaker; disabled when omitted."""
    delivery: Delivery = Delivery.AT_LEAST_ONCE
    """atLeastOnce: commit offsets after every output is durable; exactlyOnce: Kafka
    transactions for the valid and dead-letter topics."""
    batching: BatchingSpec = BatchingSpec()
    """Batch size and wait of the consumer loop."""
    api: ApiSpec = ApiSpec()
    """The REST API."""
    resources: ResourceRequirementsSpec | None = None
    """Validator container resources; default requests 250m CPU and 256Mi, limits 1 CPU and
    512Mi."""
    image: str | None = Field(default=None, min_length=1, max_length=1024)
    """Container image of the validator and the API; defaults to the image that matches the
    operator's release."""


class PipelineSchemaStatus(ApiModel):
    """A schema version the pipeline's pods use."""

    name: str
    """Name of the ValidationSchema."""
    version: int = Field(ge=1)
    """The concrete version (`latest` resolved)."""


class PodCounter(ApiModel):
    """How far the quarantined total has counted one validator pod."""

    name: str = Field(min_length=1, max_length=253)
    """The pod's name."""
    quarantined: int = Field(ge=0)
    """The pod's `dataquarantine_quarantined_total` at its last counted scrape."""


class PipelineStats(ApiModel):
    """Live statistics, updated periodically from the pods' metrics."""

    valid_per_second: float = Field(default=0.0, ge=0.0)
    """Valid records per second."""
    invalid_per_second: float = Field(default=0.0, ge=0.0)
    """Invalid records per second."""
    quarantined_total: int = Field(default=0, ge=0)
    """Records quarantined since the pipeline was created."""
    consumer_lag: int = Field(default=0, ge=0)
    """Records behind the end of the source topics, summed over partitions."""
    updated_at: datetime | None = None
    """When these numbers were gathered (RFC 3339)."""
    # No default on purpose: the API server would fill one into statuses written before the
    # field existed, and their pods would be counted a second time.
    pods: list[PodCounter] | None = Field(
        default=None,
        json_schema_extra={
            "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["name"],
        },
    )
    """Each existing validator pod's counter as far as `quarantinedTotal` has counted it: the
    next scrape counts only what the pod quarantined since, so that neither an operator restart
    nor a pod that misses a scrape loses or double-counts records; a pod not listed yet counts
    from zero."""


class QuarantinePipelineStatus(ApiModel):
    """The observed state of a QuarantinePipeline."""

    observed_generation: int | None = Field(default=None, ge=0)
    """The `.metadata.generation` that the operator last processed."""
    conditions: list[Condition] = Field(
        default_factory=list, json_schema_extra=CONDITIONS_SCHEMA_EXTRA
    )
    """Ready (summary), Reconciling, Stalled and ReconciliationPaused."""
    replicas: int | None = Field(default=None, ge=0)
    """Validator pods that exist."""
    ready_replicas: int | None = Field(default=None, ge=0)
    """Validator pods that are ready."""
    selector: str | None = None
    """Label selector of the validator pods (for the scale subresource and autoscalers)."""
    schemas: list[PipelineSchemaStatus] = Field(default_factory=list)
    """Schema versions in use, the default first."""
    stats: PipelineStats | None = None
    """Live statistics."""
    api_endpoint: str | None = None
    """In-cluster URL of the REST API."""
    config_hash: str | None = None
    """sha256 of the rendered configuration the pods run with."""
