"""The environment of the validator and API pods: names, and which Secret key feeds which variable.

The operator renders these; the validator's settings (pydantic-settings, prefix `DQ_`) read them.
The validator never imports the operator, so its settings repeat the names: keep both in step.
Secret values only ever reach the pods through `secretKeyRef`; nothing here holds a value.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

PREFIX: Final = "DQ_"

CONFIG_DIR: Final = "DQ_CONFIG_DIR"
POD_NAME: Final = "DQ_POD_NAME"
POD_NAMESPACE: Final = "DQ_POD_NAMESPACE"
METRICS_PORT: Final = "DQ_METRICS_PORT"
HTTP_PORT: Final = "DQ_HTTP_PORT"

KAFKA_SECURITY_PROTOCOL: Final = "DQ_KAFKA_SECURITY_PROTOCOL"
KAFKA_SASL_MECHANISM: Final = "DQ_KAFKA_SASL_MECHANISM"
KAFKA_SASL_USERNAME: Final = "DQ_KAFKA_SASL_USERNAME"
KAFKA_SASL_PASSWORD: Final = "DQ_KAFKA_SASL_PASSWORD"  # noqa: S105 (a variable name)
KAFKA_SSL_CA_FILE: Final = "DQ_KAFKA_SSL_CA_FILE"

S3_ACCESS_KEY: Final = "DQ_S3_ACCESS_KEY"
S3_SECRET_KEY: Final = "DQ_S3_SECRET_KEY"  # noqa: S105 (a variable name)
POSTGRES_DSN: Final = "DQ_POSTGRES_DSN"
API_TOKENS: Final = "DQ_API_TOKENS"

CONFIG_DIR_PATH: Final = "/etc/dataquarantine"
KAFKA_TLS_DIR: Final = "/var/run/secrets/dataquarantine/kafka"
KAFKA_CA_KEY: Final = "ca.crt"
METRICS_PORT_NUMBER: Final = 9400
HTTP_PORT_NUMBER: Final = 8080


@dataclass(frozen=True, slots=True)
class SecretKey:
    """A key of a user's Secret and the variable it becomes in the pods."""

    key: str
    env: str
    required: bool


KAFKA_SECRET_KEYS: Final = (
    SecretKey("security.protocol", KAFKA_SECURITY_PROTOCOL, required=False),
    SecretKey("sasl.mechanism", KAFKA_SASL_MECHANISM, required=False),
    SecretKey("sasl.username", KAFKA_SASL_USERNAME, required=False),
    SecretKey("sasl.password", KAFKA_SASL_PASSWORD, required=False),
)
STORAGE_SECRET_KEYS: Final = (
    SecretKey("accessKey", S3_ACCESS_KEY, required=True),
    SecretKey("secretKey", S3_SECRET_KEY, required=True),
)
DATABASE_SECRET_KEYS: Final = (SecretKey("dsn", POSTGRES_DSN, required=True),)
API_SECRET_KEYS: Final = (SecretKey("tokens", API_TOKENS, required=True),)
