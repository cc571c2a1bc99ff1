"""`pipeline.yaml`: the contract between the operator (renders it) and the validator pod (runs it).

The operator resolves every schema reference to a concrete version before rendering, so a new
schema version changes this document, the ConfigMap hash, and therefore rolls the pods.
"""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum
from typing import Literal

from pydantic import Field, model_validator

from validator_pod.domain._base import ContractModel

CONFIG_FILE_NAME = "pipeline.yaml"
SCHEMAS_DIR_NAME = "schemas"


class Mode(StrEnum):
    """enforce routes invalid records to quarantine; observe forwards all and only reports;
    shadow validates against a candidate version beside the live one and reports the difference."""

    ENFORCE = "enforce"
    OBSERVE = "observe"
    SHADOW = "shadow"


class Delivery(StrEnum):
    """Delivery guarantee of the validator loop."""

    AT_LEAST_ONCE = "atLeastOnce"
    EXACTLY_ONCE = "exactlyOnce"


class AvroFraming(StrEnum):
    """How Avro record values are framed on the source topics."""

    CONFLUENT = "confluent"
    """Confluent wire format: magic byte 0, a 4-byte big-endian schema id, then the body."""
    PLAIN = "plain"
    """The schemaless Avro body alone."""


class SchemaRef(ContractModel):
    """A concrete schema version (the operator has already resolved `latest`)."""

    name: str = Field(min_length=1)
    version: int = Field(ge=1)


class SelectorSource(StrEnum):
    """Where the per-record schema selector value is read from."""

    HEADER = "header"
    FIELD = "field"


class SchemaSelector(ContractModel):
    """Picks a schema per record from a header value or a top-level/nested JSON field."""

    source: SelectorSource
    key: str = Field(min_length=1, description="Header name, or a JSON pointer such as /type.")
    mapping: dict[str, SchemaRef]


class SchemaSelection(ContractModel):
    """Default schema plus an optional per-record selector; `candidate` is used in shadow mode."""

    default: SchemaRef
    selector: SchemaSelector | None = None
    candidate: SchemaRef | None = None


class KafkaBinding(ContractModel):
    """Kafka connection; credentials (SASL/TLS) come from the environment, never from this file."""

    bootstrap_servers: str = Field(min_length=1)
    consumer_group: str = Field(min_length=1)


class Topics(ContractModel):
    """Source topics and the two sinks."""

    sources: tuple[str, ...] = Field(min_length=1)
    valid: str = Field(min_length=1)
    quarantine: str = Field(min_length=1)

    @model_validator(mode="after")
    def _sinks_are_not_sources(self) -> Topics:
        overlap = {self.valid, self.quarantine} & set(self.sources)
        if overlap:
            raise ValueError(f"sink topics must differ from source topics: {sorted(overlap)}")
        if self.valid == self.quarantine:
            raise ValueError("valid and quarantine topics must differ")
        return self


class ObjectStorage(ContractModel):
    """S3 location of quarantined payload segments; keys come from the environment."""

    endpoint: str = Field(min_length=1)
    bucket: str = Field(min_length=3, max_length=63)
    secure: bool = False
    region: str | None = None


class Breaker(ContractModel):
    """Invalid-ratio breaker: when more than `threshold` of the records in the last `window`
    were invalid (and at least `min_records` were seen), pause consumption or just alert."""

    enabled: bool = False
    window: timedelta = timedelta(seconds=60)
    threshold: float = Field(default=0.5, gt=0.0, le=1.0)
    min_records: int = Field(default=100, ge=1)
    action: Literal["pause", "alert"] = "pause"


class Batching(ContractModel):
    """Consumer batching: at most `max_records` per batch, waiting at most `max_wait_ms`."""

    max_records: int = Field(default=2000, ge=1, le=100_000)
    max_wait_ms: int = Field(default=5, ge=0, le=60_000)


class PipelineConfig(ContractModel):
    """Everything one validator or API process needs to know about its pipeline."""

    name: str = Field(min_length=1)
    namespace: str = Field(min_length=1)
    kafka: KafkaBinding
    topics: Topics
    schema_selection: SchemaSelection
    mode: Mode = Mode.ENFORCE
    delivery: Delivery = Delivery.AT_LEAST_ONCE
    remediation_enabled: bool = False
    storage: ObjectStorage
    retention: timedelta = timedelta(days=7)
    breaker: Breaker = Breaker()
    batching: Batching = Batching()
    max_errors_per_record: int = Field(default=20, ge=1, le=1000)
    avro_framing: AvroFraming = AvroFraming.CONFLUENT

    def referenced_schemas(self) -> tuple[SchemaRef, ...]:
        """Every schema version this pipeline may select, default first, without duplicates."""
        selection = self.schema_selection
        refs = [selection.default]
        if selection.selector is not None:
            refs.extend(selection.selector.mapping.values())
        if selection.candidate is not None:
            refs.append(selection.candidate)
        return tuple(dict.fromkeys(refs))


def schema_file_name(ref: SchemaRef) -> str:
    """Relative path of a schema version inside the mounted config directory."""
    return f"{SCHEMAS_DIR_NAME}/{ref.name}/{ref.version}.json"
