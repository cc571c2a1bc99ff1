"""Settings only the REST API reads (`DQ_API_*`), beside the process settings of
`validator_pod.settings` (`DQ_*`: DSN, S3 keys, Kafka credentials, `DQ_API_TOKENS`, port)."""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class ApiSettings(BaseSettings):
    """Limits, intervals and leases of the REST API process."""

    model_config = SettingsConfigDict(
        env_prefix="DQ_API_", extra="ignore", frozen=True, use_attribute_docstrings=True
    )

    max_body_bytes: int = Field(default=1024 * 1024, ge=1024, le=64 * 1024 * 1024)
    """Largest request body accepted; larger ones get 413 `payload_too_large`."""

    metrics_require_token: bool = False
    """Require a bearer token (read or admin) on /metrics. Off by default: Prometheus scrapes
    the validator's /metrics without one too, and no metric carries a record's content."""

    db_pool_size: int = Field(default=8, ge=2, le=100)
    """Most PostgreSQL connections (each running bulk replay holds one for its lock)."""

    produce_timeout: timedelta = Field(default=timedelta(seconds=30), gt=timedelta(0))
    """Longest wait for the valid topic to acknowledge a replayed record."""

    replay_lease: timedelta = Field(default=timedelta(minutes=2), gt=timedelta(0))
    """Age after which a replay claim is presumed abandoned and settled by scanning the valid
    topic. Must exceed `produce_timeout` plus the producer's request timeout (30 s): until
    then a batch whose wait timed out may still be delivered."""

    recovery_interval: timedelta = Field(default=timedelta(seconds=30), gt=timedelta(0))
    """How often abandoned replay claims are looked for."""

    replay_poll_interval: timedelta = Field(default=timedelta(seconds=5), gt=timedelta(0))
    """How often bulk replays left pending or running (by a restart) are looked for."""

    replay_chunk_size: int = Field(default=100, ge=1, le=1000)
    """Records a bulk replay validates, produces and records per step."""

    max_concurrent_replays: int = Field(default=2, ge=1, le=16)
    """Bulk replays this process runs at once; further ones wait."""

    retention_interval: timedelta = Field(default=timedelta(hours=1), ge=timedelta(0))
    """How often records older than the pipeline's retention are purged; 0 turns the periodic
    purge off (the admin endpoint still works)."""

    retention_batch: int = Field(default=1000, ge=1, le=100_000)
    """Records deleted per statement by the purge."""

    @model_validator(mode="after")
    def _consistent(self) -> ApiSettings:
        if self.replay_lease <= self.produce_timeout:
            raise ValueError("replay_lease must be longer than produce_timeout")
        if self.db_pool_size < self.max_concurrent_replays + 2:
            # each running replay holds a connection for its lock; requests need some too
            raise ValueError("db_pool_size must be at least max_concurrent_replays + 2")
        return self

    field_path_limit: int = Field(default=50, ge=1, le=1000)
    """Most field paths listed by /stats."""
