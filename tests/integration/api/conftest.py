"""Fixtures of the API's integration tests: a database of their own, pipelines quarantined by the
real validator process, and the API in-process (httpx over ASGI) or as a real process."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import pytest
from miniopy_async import Minio
from miniopy_async.deleteobjects import DeleteObject

from tests.conftest import StackEnv
from tests.integration.api.support import ApiPipeline, ValidatorRun
from tests.support.databases import scratch_database
from validator_pod.domain.pipeline_config import Delivery

PipelineFactory = Callable[..., Awaitable[ApiPipeline]]


@pytest.fixture(scope="session")
async def api_dsn(stack_env: StackEnv) -> AsyncIterator[str]:
    """A database of the API tests' own (the shared one may hold other migration histories)."""
    async with scratch_database(stack_env.postgres_dsn, "dq_api") as dsn:
        yield dsn


@pytest.fixture(scope="session")
async def api_bucket(stack_env: StackEnv) -> AsyncIterator[str]:
    """One bucket for every pipeline of the session (segment keys start with the pipeline's
    name): the local SeaweedFS has room for few buckets. Emptied and removed at the end."""
    bucket = f"dq-api-tests-{uuid.uuid4().hex[:8]}"
    client = Minio(
        stack_env.s3_endpoint,
        access_key=stack_env.s3_access_key,
        secret_key=stack_env.s3_secret_key,
        secure=False,
    )
    try:
        await client.make_bucket(bucket)
        yield bucket
        keys = [obj.object_name async for obj in client.list_objects(bucket, recursive=True)]
        async for error in client.remove_objects(bucket, [DeleteObject(k) for k in keys if k]):
            raise AssertionError(f"cannot empty {bucket}: {error}")
        await client.remove_bucket(bucket)
    finally:
        await client.close_session()


@pytest.fixture
def make_pipeline(
    stack_env: StackEnv, api_dsn: str, api_bucket: str, unique_name: str, tmp_path: Path
) -> PipelineFactory:
    """Creates the topics and config directory of a pipeline named after the test."""

    async def make(
        *, partitions: int = 1, name: str | None = None, namespace: str = "tests"
    ) -> ApiPipeline:
        base = name or unique_name
        pipeline = ApiPipeline(
            stack=stack_env,
            name=base,
            namespace=namespace,
            source=f"{base}.raw",
            valid=f"{base}.valid",
            quarantine=f"{base}.dlq",
            bucket=api_bucket,
            group=f"dq-tests-{base}",
            config_dir=tmp_path / base / "config",
            partitions=partitions,
            delivery=Delivery.AT_LEAST_ONCE,
            dsn=api_dsn,
        )
        await pipeline.create_topics()
        pipeline.write_config()
        return pipeline

    return make


@pytest.fixture
def validator_runs(tmp_path: Path) -> Iterator[list[ValidatorRun]]:
    """Validator processes started by a test; killed at its end if still running."""
    runs: list[ValidatorRun] = []
    yield runs
    for run in runs:
        run.close()
