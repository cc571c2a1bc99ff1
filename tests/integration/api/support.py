"""Helpers of the API's integration tests: pipelines, the real validator, the API in-process."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import yaml
from fastapi import FastAPI
from pydantic import SecretStr

from tests.integration.validator.harness import (
    ORDER_RULES,
    ORDER_SCHEMA,
    Pipeline,
    Produced,
    ValidatorProcess,
    produce,
)
from validator_pod.domain.pipeline_config import SchemaRef, SchemaSelection, schema_file_name
from validator_pod.domain.schemas import SchemaType, SchemaVersion
from validator_pod.settings import Settings
from validator_pod.web.app import create_app
from validator_pod.web.services import ApiServices
from validator_pod.web.settings import ApiSettings

READ_TOKEN = "reader-token-0123456789abcdef"
ADMIN_TOKEN = "admin-token-0123456789abcdef"
TOKENS = f"dashboard:read:{READ_TOKEN}\nalice:admin:{ADMIN_TOKEN}"
READER = {"Authorization": f"Bearer {READ_TOKEN}"}
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}

FIXED_SCHEMA: dict[str, Any] = {
    **ORDER_SCHEMA,
    "properties": {
        **ORDER_SCHEMA["properties"],
        "currency": {"type": "string", "enum": ["EUR", "USD", "GBP"]},
    },
}


@dataclass
class ApiPipeline(Pipeline):
    """A validator test pipeline whose processes use the API tests' database."""

    dsn: str = ""

    def environ(self, pod: str, metrics_port: int) -> dict[str, str]:
        """The validator's environment, on the API tests' database."""
        return {**super().environ(pod, metrics_port), "DQ_POSTGRES_DSN": self.dsn}

    def add_schema_version(self, version: int, document: dict[str, Any], *, select: bool) -> None:
        """Write `schemas/orders/<version>.json` (as the operator would render a fixed schema),
        and make it the pipeline's default when `select`."""
        ref = SchemaRef(name="orders", version=version)
        schema = SchemaVersion(
            name="orders",
            version=version,
            type=SchemaType.JSON_SCHEMA,
            schema=document,
            rules=ORDER_RULES,
        )
        path = self.config_dir / schema_file_name(ref)
        path.write_text(schema.model_dump_json(by_alias=True))
        if select:
            self.config = self.config.model_copy(
                update={"schema_selection": SchemaSelection(default=ref)}
            )
            (self.config_dir / "pipeline.yaml").write_text(
                yaml.safe_dump(self.config.model_dump(mode="json", by_alias=True))
            )

    def settings(self) -> Settings:
        """The API process's settings."""
        return Settings(
            config_dir=self.config_dir,
            postgres_dsn=SecretStr(self.dsn),
            s3_access_key=SecretStr(self.stack.s3_access_key),
            s3_secret_key=SecretStr(self.stack.s3_secret_key),
            api_tokens=TOKENS,
        )


def fast_settings(**overrides: Any) -> ApiSettings:
    """API settings with short leases and intervals, for tests."""
    values: dict[str, Any] = {
        "produce_timeout": timedelta(seconds=1),
        "replay_lease": timedelta(seconds=3),
        "recovery_interval": timedelta(seconds=1),
        "replay_poll_interval": timedelta(milliseconds=200),
        "retention_interval": timedelta(0),
        "replay_chunk_size": 7,
    }
    values.update(overrides)
    return ApiSettings(**values)


@dataclass
class Api:
    """The API in-process: the app, its services and an httpx client over ASGI."""

    app: FastAPI
    client: httpx.AsyncClient

    @property
    def services(self) -> ApiServices:
        """The running services."""
        services: ApiServices = self.app.state.services
        return services


@asynccontextmanager
async def running_api(pipeline: ApiPipeline, **overrides: Any) -> AsyncIterator[Api]:
    """The pipeline's API, started (lifespan) and migrated, with a client."""
    app = create_app(pipeline.settings(), fast_settings(**overrides))
    async with app.router.lifespan_context(app):
        await asyncio.wait_for(app.state.services.migrated.wait(), 30)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            yield Api(app, client)


class ValidatorRun:
    """The real validator (`python -m validator_pod run`) quarantining a pipeline's records."""

    def __init__(self, pipeline: ApiPipeline, log_dir: Path, pod: str = "validator-0") -> None:
        """Start the process."""
        self.pipeline = pipeline
        self.process = ValidatorProcess(pipeline, pod, log_dir)

    async def quarantine(self, records: Sequence[Produced], expected_rows: int) -> None:
        """Produce `records` to the source topic and wait until the pipeline has
        `expected_rows` quarantine rows in total."""
        await self.process.wait_ready()
        await produce(self.pipeline.stack.kafka_bootstrap, self.pipeline.source, records)
        await wait_for_rows(self.pipeline, expected_rows, tail=self.process.tail)

    def close(self) -> None:
        """Stop the process."""
        if self.process.process.poll() is None:
            self.process.terminate()
        self.process.close()


async def wait_for_rows(pipeline: ApiPipeline, expected: int, tail: Any = None) -> None:
    """Wait until the pipeline (its namespace and name) has `expected` quarantine rows."""
    deadline = time.monotonic() + 60
    count = 0
    while time.monotonic() < deadline:
        count = await count_rows(pipeline.dsn, pipeline.namespace, pipeline.name)
        if count >= expected:
            return
        await asyncio.sleep(0.2)
    log = tail() if tail is not None else ""
    raise AssertionError(f"{count} quarantine rows after 60 s, want {expected}\n{log}")


async def count_rows(
    dsn: str, namespace: str, pipeline: str, where: str = "TRUE", *args: Any
) -> int:
    """How many rows of the pipeline `namespace`/`pipeline` match `where`."""
    conn = await asyncpg.connect(dsn)
    try:
        count: int = await conn.fetchval(
            "SELECT count(*) FROM quarantine_records "
            f"WHERE namespace = $1 AND pipeline = $2 AND {where}",
            namespace,
            pipeline,
            *args,
        )
        return count
    finally:
        await conn.close()


async def database_state(dsn: str, pipeline: str) -> tuple[list[dict[str, Any]], int]:
    """Every row of the pipeline (all columns) and how many events it has: to compare the state
    before and after a dry run."""
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT * FROM quarantine_records WHERE pipeline = $1 ORDER BY id", pipeline
        )
        events: int = await conn.fetchval(
            "SELECT count(*) FROM quarantine_events WHERE pipeline = $1", pipeline
        )
    finally:
        await conn.close()
    return [dict(row) for row in rows], events


async def wait_for_replay(client: httpx.AsyncClient, replay_id: str, within: float = 60) -> Any:
    """Poll a replay until it is no longer pending or running; return its last state."""
    deadline = time.monotonic() + within
    while True:
        reply = await client.get(f"/api/v1/quarantine/replays/{replay_id}", headers=READER)
        assert reply.status_code == 200, reply.text
        body = reply.json()
        if body["state"] not in ("pending", "running"):
            return body
        if time.monotonic() > deadline:
            raise AssertionError(f"replay still {body['state']} after {within}s: {body}")
        await asyncio.sleep(0.1)
