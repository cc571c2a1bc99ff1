"""The operator's start-up settings, from the environment (`DQ_OPERATOR_*`) and the command line.

Read once by the composition root (`__main__`, or the start-up handler when kopf loads the
handlers module directly) and passed on; nothing else reads the environment.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from quarantine_operator.api.v1alpha1 import DEFAULT_IMAGE

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]


class OperatorSettings(BaseSettings):
    """Everything the operator process needs to know before it starts watching."""

    model_config = SettingsConfigDict(
        env_prefix="DQ_OPERATOR_",
        extra="ignore",
        frozen=True,
        populate_by_name=True,
        use_attribute_docstrings=True,
    )

    namespaces: Annotated[tuple[str, ...], NoDecode] = ()
    """Namespaces to watch, separated by commas or whitespace; kopf's glob patterns such as
    `team-*` are allowed. Empty: every namespace (cluster-wide)."""

    image: str = Field(default=DEFAULT_IMAGE, min_length=1)
    """Container image of the validator and API pods when a pipeline does not set `spec.image`."""

    metrics_port: int = Field(default=8080, ge=0, le=65535)
    """Port of the operator's Prometheus `/metrics`; 0 turns the endpoint off."""

    liveness_port: int = Field(default=8081, ge=0, le=65535)
    """Port of kopf's liveness endpoint `/healthz`; 0 turns it off."""

    stats_interval: float = Field(default=30.0, gt=0)
    """Seconds between two scrapes of the validator pods' metrics into `status.stats`."""

    recheck_interval: float = Field(default=10.0, gt=0)
    """Seconds between two checks of pipelines that wait for a missing Secret or schema, or
    whose last reconciliation failed. Secrets are read by name, never watched: the operator
    needs no permission to list them."""

    resync_interval: float = Field(default=300.0, gt=0)
    """Seconds between two reconciliations of every pipeline, for changes that no watch
    announces (a Secret deleted or edited)."""

    log_level: LogLevel = "INFO"
    """Threshold of the JSON logs on stderr."""

    kubeconfig: Path | None = Field(
        default=None, validation_alias=AliasChoices("DQ_OPERATOR_KUBECONFIG", "KUBECONFIG")
    )
    """Kubeconfig file to connect with (also read from $KUBECONFIG). Unset: the in-cluster
    service account when running in a pod, else ~/.kube/config."""

    @field_validator("namespaces", mode="before")
    @classmethod
    def _split_namespaces(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(part for part in re.split(r"[\s,]+", value) if part)
        return value

    @property
    def clusterwide(self) -> bool:
        """Whether the operator watches every namespace."""
        return not self.namespaces

    @property
    def liveness_endpoint(self) -> str | None:
        """kopf's liveness endpoint URL, or None when it is off."""
        if not self.liveness_port:
            return None
        return f"http://0.0.0.0:{self.liveness_port}/healthz"
