"""Fixtures of the validator's integration tests: a fresh pipeline per test, real processes."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import StackEnv
from tests.integration.validator.harness import Pipeline, ValidatorProcess
from validator_pod.domain.pipeline_config import Delivery

PipelineFactory = Callable[..., Awaitable[Pipeline]]
ProcessFactory = Callable[[Pipeline, str], ValidatorProcess]


@pytest.fixture
async def make_pipeline(
    stack_env: StackEnv, unique_name: str, tmp_path: Path
) -> AsyncIterator[PipelineFactory]:
    """Creates the topics and config directory of a pipeline named after the test; deletes its
    topics and bucket afterwards (the shared S3 server has a limited number of volumes)."""
    made: list[Pipeline] = []

    async def make(
        *,
        partitions: int = 1,
        delivery: Delivery = Delivery.AT_LEAST_ONCE,
        max_message_bytes: int | None = None,
        **config: object,
    ) -> Pipeline:
        pipeline = Pipeline(
            stack=stack_env,
            name=unique_name,
            namespace="tests",
            source=f"{unique_name}.raw",
            valid=f"{unique_name}.valid",
            quarantine=f"{unique_name}.dlq",
            bucket=unique_name[:63],
            group=f"dq-tests-{unique_name}",
            config_dir=tmp_path / "config",
            partitions=partitions,
            delivery=delivery,
        )
        made.append(pipeline)
        await pipeline.create_topics(max_message_bytes=max_message_bytes)
        pipeline.write_config(**config)  # type: ignore[arg-type]
        return pipeline

    yield make
    for pipeline in made:
        await pipeline.delete_bucket()
        await pipeline.delete_topics()


@pytest.fixture
def start_validator(tmp_path: Path) -> Iterator[ProcessFactory]:
    """Starts validator processes; any still running at the end of the test is killed."""
    started: list[ValidatorProcess] = []

    def start(pipeline: Pipeline, pod: str) -> ValidatorProcess:
        process = ValidatorProcess(pipeline, pod, tmp_path)
        started.append(process)
        return process

    yield start
    for process in started:
        process.close()
