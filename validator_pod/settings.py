"""Process settings from the environment (`DQ_*`), read once by the composition root.

The operator renders these variables into the validator and API Deployments; secrets come from
Secrets through `valueFrom.secretKeyRef` and are held as `SecretStr` so that they never reach a
log line or a repr. What the pipeline does lives in `pipeline.yaml` (see `domain.pipeline_config`),
not here.
"""

from __future__ import annotations

import re
import socket
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from validator_pod.adapters.kafka import KafkaConnection, SaslMechanism, SecurityProtocol

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]


class Settings(BaseSettings):
    """Everything a validator or API process reads from its environment."""

    model_config = SettingsConfigDict(
        env_prefix="DQ_", extra="ignore", frozen=True, use_attribute_docstrings=True
    )

    config_dir: Path = Path("/etc/dataquarantine")
    """Directory holding `pipeline.yaml` and `schemas/<name>/<version>.json` (the ConfigMap)."""

    postgres_dsn: SecretStr | None = None
    """PostgreSQL DSN of the quarantine database (from the pipeline's database Secret)."""

    s3_access_key: SecretStr | None = None
    """S3 access key of the quarantine bucket (from the storage Secret)."""

    s3_secret_key: SecretStr | None = None
    """S3 secret key of the quarantine bucket (from the storage Secret)."""

    kafka_security_protocol: SecurityProtocol = "PLAINTEXT"
    """PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL."""

    kafka_sasl_mechanism: SaslMechanism = "PLAIN"
    """PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (used with the SASL protocols)."""

    kafka_sasl_username: str | None = None
    """SASL user name (from the Kafka Secret)."""

    kafka_sasl_password: SecretStr | None = None
    """SASL password (from the Kafka Secret)."""

    kafka_ssl_ca_file: Path | None = None
    """PEM file of the CA that signed the brokers' certificates (SSL protocols); the system's
    trust store when unset or when the file does not exist (the Secret's ca.crt is optional)."""

    api_tokens: Annotated[tuple[SecretStr, ...], NoDecode] = ()
    """Bearer tokens accepted by the REST API, separated by commas or whitespace."""

    pod_name: str = Field(default_factory=socket.gethostname, min_length=1)
    """This process's name: the Kafka Connect `task.id` header and part of the transactional
    id. Kubernetes sets the host name to the pod name, which is the default."""

    pod_namespace: str | None = None
    """The pod's namespace (informational; the pipeline's namespace is in pipeline.yaml)."""

    http_port: int = Field(default=8080, ge=0, le=65535)
    """Port of the REST API (`api`)."""

    metrics_port: int = Field(default=9400, ge=0, le=65535)
    """Port of /metrics, /healthz and /readyz of the validator (`run`)."""

    bind_address: str = Field(default="0.0.0.0", min_length=1)  # noqa: S104 - the pod's IP
    """Address the validator's probe server and the API listen on. Every address of the pod
    by default; the dev-only pod runner gives each pod its own loopback address."""

    log_level: LogLevel = "INFO"
    """Threshold of the JSON logs on stderr."""

    @field_validator("api_tokens", mode="before")
    @classmethod
    def _split_tokens(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(token for token in re.split(r"[\s,]+", value) if token)
        return value

    @field_validator("kafka_security_protocol", "kafka_sasl_mechanism", "log_level", mode="before")
    @classmethod
    def _upper_case(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    def kafka_connection(self, bootstrap_servers: str) -> KafkaConnection:
        """How to reach the brokers named by the pipeline, with this process's credentials."""
        password = self.kafka_sasl_password
        ca_file = self.kafka_ssl_ca_file
        return KafkaConnection(
            bootstrap_servers=bootstrap_servers,
            security_protocol=self.kafka_security_protocol,
            sasl_mechanism=self.kafka_sasl_mechanism,
            sasl_username=self.kafka_sasl_username,
            sasl_password=None if password is None else password.get_secret_value(),
            ssl_ca_file=str(ca_file) if ca_file is not None and ca_file.is_file() else None,
        )

    def missing(self, *names: str) -> list[str]:
        """The environment variable names among `names` (field names) that are unset."""
        return [f"DQ_{name.upper()}" for name in names if getattr(self, name) in (None, ())]
