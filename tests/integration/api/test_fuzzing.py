"""Schemathesis against the OpenAPI document, in-process, with an admin token: no 5xx, and
every answer matches the documented status codes, content types and schemas."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from pydantic import SecretStr
from starlette.types import ASGIApp, Receive, Scope, Send

from tests.integration.api.conftest import PipelineFactory
from tests.integration.api.support import ADMIN, FIXED_SCHEMA, ValidatorRun, fast_settings
from tests.integration.validator.harness import Produced, order
from tests.unit.web.conftest import ORDER_SCHEMA, write_pipeline, write_schema
from validator_pod.settings import Settings
from validator_pod.web.app import create_app


class DeferredApp:
    """An ASGI app that forwards to one plugged in later: schemathesis needs its schema when
    this module is imported, the real app needs the local stack (a fixture)."""

    target: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        assert self.target is not None, "the api fixture plugs the app in"
        await self.target(scope, receive, send)


def _document() -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as directory:
        config_dir = Path(directory)
        write_schema(config_dir, 1, ORDER_SCHEMA)
        write_pipeline(config_dir, 1)
        settings = Settings(
            config_dir=config_dir,
            postgres_dsn=SecretStr("postgresql://unused"),
            s3_access_key=SecretStr("unused"),
            s3_secret_key=SecretStr("unused"),
        )
        return create_app(settings).openapi()


# Schema-valid requests may still be refused for reasons a schema cannot state: these codes.
SEMANTIC_REFUSALS = {"invalid_cursor", "filter_required", "schema_version_not_found"}

deferred = DeferredApp()
schema = schemathesis.openapi.from_dict(_document())
schema.app = deferred
schema.config.checks.positive_data_acceptance.expected_statuses = [
    *schema.config.checks.positive_data_acceptance.expected_statuses,
    "422",
]


@pytest.fixture
async def api(
    make_pipeline: PipelineFactory, validator_runs: list[ValidatorRun], tmp_path: Path
) -> Any:
    pipeline = await make_pipeline()
    run = ValidatorRun(pipeline, tmp_path)
    validator_runs.append(run)
    records = [Produced(order(i, currency="GBP"), key=f"k{i}".encode()) for i in range(5)]
    await run.quarantine([*records, Produced(b"\x00garbage")], expected_rows=6)
    run.close()
    pipeline.add_schema_version(2, FIXED_SCHEMA, select=False)
    # schemathesis runs the app's lifespan in its own event loop and ends it with the test
    deferred.target = create_app(pipeline.settings(), fast_settings(max_body_bytes=64 * 1024))
    yield
    deferred.target = None


@schema.parametrize()
@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_no_request_the_schema_allows_makes_the_api_fail(api: None, case: Any) -> None:
    response = case.call_and_validate(headers=ADMIN)
    if response.status_code == 422 and case.operation.method.upper() != "OPTIONS":
        body = response.json()
        assert body["code"] in SEMANTIC_REFUSALS or body["details"], body
