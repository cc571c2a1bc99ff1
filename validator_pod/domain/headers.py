"""Header names on dead-letter records: Kafka Connect's error context plus our own."""

from __future__ import annotations

from typing import Final

CONNECT_TOPIC: Final = "__connect.errors.topic"
CONNECT_PARTITION: Final = "__connect.errors.partition"
CONNECT_OFFSET: Final = "__connect.errors.offset"
CONNECT_CONNECTOR_NAME: Final = "__connect.errors.connector.name"
CONNECT_TASK_ID: Final = "__connect.errors.task.id"
CONNECT_STAGE: Final = "__connect.errors.stage"
CONNECT_CLASS_NAME: Final = "__connect.errors.class.name"
CONNECT_EXCEPTION_CLASS: Final = "__connect.errors.exception.class.name"
CONNECT_EXCEPTION_MESSAGE: Final = "__connect.errors.exception.message"

DQ_ID: Final = "dataquarantine.id"
DQ_SCHEMA: Final = "dataquarantine.schema"
DQ_SCHEMA_VERSION: Final = "dataquarantine.schema.version"
DQ_ERROR_TYPE: Final = "dataquarantine.error.type"
DQ_ERRORS: Final = "dataquarantine.errors"
DQ_OBJECT: Final = "dataquarantine.object"
DQ_REMEDIATED: Final = "dataquarantine.remediated"
DQ_REPLAYED_FROM: Final = "dataquarantine.replayed-from"

OUR_PREFIXES: Final = ("__connect.errors.", "dataquarantine.")
