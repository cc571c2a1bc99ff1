"""A pipeline config directory and an app built from it (no services: nothing is connected)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi import FastAPI
from pydantic import SecretStr

from validator_pod.domain.pipeline_config import (
    KafkaBinding,
    ObjectStorage,
    PipelineConfig,
    SchemaRef,
    SchemaSelection,
    Topics,
    schema_file_name,
)
from validator_pod.domain.schemas import Rule, SchemaType, SchemaVersion
from validator_pod.settings import Settings
from validator_pod.web.app import create_app
from validator_pod.web.settings import ApiSettings

READ_TOKEN = "reader-token-0123456789abcdef"
ADMIN_TOKEN = "admin-token-0123456789abcdef"
READER = {"Authorization": f"Bearer {READ_TOKEN}"}
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}

ORDER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["id", "currency"],
    "properties": {
        "id": {"type": "integer"},
        "currency": {"type": "string", "enum": ["EUR", "USD"]},
    },
}


def write_schema(config_dir: Path, version: int, document: dict[str, Any]) -> None:
    """Write `schemas/orders/<version>.json`."""
    schema = SchemaVersion(
        name="orders",
        version=version,
        type=SchemaType.JSON_SCHEMA,
        schema=document,
        rules=(Rule(name="not-thirteen", expression="record.id != 13", message="unlucky"),),
    )
    path = config_dir / schema_file_name(SchemaRef(name="orders", version=version))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(schema.model_dump_json(by_alias=True))


def write_pipeline(config_dir: Path, version: int) -> PipelineConfig:
    """Write pipeline.yaml selecting `orders` version `version`."""
    config = PipelineConfig(
        name="orders",
        namespace="shop",
        kafka=KafkaBinding(bootstrap_servers="127.0.0.1:1", consumer_group="dq-shop-orders"),
        topics=Topics(sources=("orders.raw",), valid="orders.valid", quarantine="orders.dlq"),
        schema_selection=SchemaSelection(default=SchemaRef(name="orders", version=version)),
        storage=ObjectStorage(endpoint="127.0.0.1:1", bucket="quarantine"),
    )
    config_dir.mkdir(parents=True, exist_ok=True)
    (config_dir / "pipeline.yaml").write_text(
        yaml.safe_dump(config.model_dump(mode="json", by_alias=True))
    )
    return config


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    """A config directory with `orders` version 1 selected."""
    directory = tmp_path / "config"
    write_schema(directory, 1, ORDER_SCHEMA)
    write_pipeline(directory, 1)
    return directory


@pytest.fixture
def settings(config_dir: Path) -> Settings:
    """Process settings pointing at nothing that answers."""
    return Settings(
        config_dir=config_dir,
        postgres_dsn=SecretStr("postgresql://nobody@127.0.0.1:1/none"),
        s3_access_key=SecretStr("key"),
        s3_secret_key=SecretStr("secret"),
        api_tokens=f"dashboard:read:{READ_TOKEN}\nalice:admin:{ADMIN_TOKEN}",
    )


@pytest.fixture
def app(settings: Settings) -> FastAPI:
    """The app, without its lifespan (no services)."""
    return create_app(settings, ApiSettings(max_body_bytes=2048))
