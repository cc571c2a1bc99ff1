"""One error tree for the adapters: each class names the service it stands for and whether
retrying the same call can succeed (`retriable`), as aiokafka's errors do.

Adapters translate their client library's exceptions into these (`raise ... from exc`), so that
callers handle three services with one `except AdapterError`.
"""

from __future__ import annotations

from typing import ClassVar


class AdapterError(Exception):
    """An infrastructure call failed; `target` is the service (a metric label)."""

    target: ClassVar[str] = "unknown"
    retriable: ClassVar[bool] = True


class ObjectStoreError(AdapterError):
    """S3 refused or could not be reached."""

    target = "s3"


class MetadataDbError(AdapterError):
    """PostgreSQL refused or could not be reached."""

    target = "postgres"


class MigrationError(MetadataDbError):
    """The database's migration history disagrees with this release (a migration was edited
    after it was applied, or the database is newer than this code)."""

    retriable = False


class KafkaClientError(AdapterError):
    """Kafka refused or could not be reached (a send, a commit, a transaction step)."""

    target = "kafka"


class PartitionsRevokedError(KafkaClientError):
    """The group moved on (rebalance, or this member was evicted): committing the batch's offsets
    is refused; another member re-reads the records from the last committed offset."""

    retriable = False


class ProducerFencedError(KafkaClientError):
    """The transactional producer cannot continue (fenced by a newer instance with the same
    transactional id, or in an unrecoverable state): it must be replaced."""

    retriable = False
