"""Schemas, business rules and remediation: what a `ValidationSchema` version holds."""

from __future__ import annotations

import hashlib
import json
from enum import StrEnum
from typing import Any, Literal

from pydantic import Field

from validator_pod.domain._base import ContractModel


class SchemaType(StrEnum):
    """The schema language of a `ValidationSchema`."""

    JSON_SCHEMA = "JSON_SCHEMA"
    AVRO = "AVRO"


class Compatibility(StrEnum):
    """Schema-registry compatibility levels, checked against earlier versions."""

    BACKWARD = "BACKWARD"
    BACKWARD_TRANSITIVE = "BACKWARD_TRANSITIVE"
    FORWARD = "FORWARD"
    FORWARD_TRANSITIVE = "FORWARD_TRANSITIVE"
    FULL = "FULL"
    FULL_TRANSITIVE = "FULL_TRANSITIVE"
    NONE = "NONE"


class Rule(ContractModel):
    """A named business rule: a CEL expression over `record` that must evaluate to true."""

    name: str = Field(min_length=1, max_length=63, pattern=r"^[a-z0-9]([-a-z0-9_]*[a-z0-9])?$")
    expression: str = Field(min_length=1, max_length=4096)
    message: str = Field(min_length=1, max_length=1024)


class TimestampFix(ContractModel):
    """Normalise epoch numbers at these JSON pointers to RFC 3339 strings."""

    paths: tuple[str, ...] = ()
    unit: Literal["seconds", "milliseconds"] = "milliseconds"


class Remediation(ContractModel):
    """Declarative fixes tried on an invalid record before it is quarantined."""

    coerce_types: bool = True
    trim_strings: bool = True
    fill_defaults: bool = True
    timestamps: TimestampFix = TimestampFix()


class SchemaVersion(ContractModel):
    """One immutable version of a schema subject, as rendered into a pipeline's ConfigMap."""

    name: str
    version: int = Field(ge=1)
    type: SchemaType
    schema_: dict[str, Any] = Field(alias="schema")
    rules: tuple[Rule, ...] = ()
    remediation: Remediation = Remediation()

    @property
    def fingerprint(self) -> str:
        """sha256 of the canonical schema document (sorted keys, compact)."""
        return schema_fingerprint(self.schema_)


def schema_fingerprint(document: dict[str, Any]) -> str:
    """sha256 hex digest of a schema document in canonical JSON form."""
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()
