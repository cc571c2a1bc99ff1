"""`python -m validator_pod api` as a real process on a free port, driven by
`dataquarantine records ...` as a real process too."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from tests.integration.api.conftest import PipelineFactory
from tests.integration.api.support import (
    ADMIN_TOKEN,
    FIXED_SCHEMA,
    READ_TOKEN,
    READER,
    TOKENS,
    ApiPipeline,
    ValidatorRun,
)
from tests.integration.validator.harness import REPO, Produced, free_port, order


def _api_environ(pipeline: ApiPipeline, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DQ_")}
    env.update(
        DQ_POSTGRES_DSN=pipeline.dsn,
        DQ_S3_ACCESS_KEY=pipeline.stack.s3_access_key,
        DQ_S3_SECRET_KEY=pipeline.stack.s3_secret_key,
        DQ_API_TOKENS=TOKENS,
        DQ_HTTP_PORT=str(port),
        DQ_API_REPLAY_POLL_INTERVAL="PT0.2S",
    )
    return env


def _records_cli(port: int, token: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DQ_")}
    env.update(DQ_API_URL=f"http://127.0.0.1:{port}", DQ_API_TOKEN=token)
    return subprocess.run(
        [sys.executable, "-m", "validator_pod", "records", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _start_api(pipeline: ApiPipeline, port: int, log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as output:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "validator_pod",
                "api",
                "--config-dir",
                str(pipeline.config_dir),
            ],
            cwd=REPO,
            env=_api_environ(pipeline, port),
            stdout=output,
            stderr=subprocess.STDOUT,
        )


def _log_lines(log: Path) -> str:
    return log.read_text(errors="replace")


async def _wait_healthy(
    client: httpx.AsyncClient, process: subprocess.Popen[bytes], log: Path
) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"api exited {process.returncode}:\n{_log_lines(log)}")
        try:
            if (await client.get("/readyz")).status_code == 200:
                return
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.2)
    raise AssertionError(f"api not ready after 30 s:\n{_log_lines(log)}")


async def test_the_api_runs_as_a_process_and_the_records_cli_drives_it(
    make_pipeline: PipelineFactory, validator_runs: list[ValidatorRun], tmp_path: Path
) -> None:
    pipeline = await make_pipeline()
    run = ValidatorRun(pipeline, tmp_path)
    validator_runs.append(run)
    records = [Produced(order(i, currency="GBP"), key=f"gbp-{i}".encode()) for i in range(3)]
    await run.quarantine([*records, Produced(b"{oops", key=b"broken")], expected_rows=4)
    run.close()
    port = free_port()
    log = tmp_path / "api.log"
    process = _start_api(pipeline, port, log)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            await _wait_healthy(client, process, log)
            refused = await client.get("/api/v1/quarantine/records")
            assert (refused.status_code, refused.json()["code"]) == (401, "unauthorized")
            listed = await client.get("/api/v1/quarantine/records", headers=READER)
            assert listed.json()["total"] == 4
            assert "dataquarantine_api_requests_total" in (await client.get("/metrics")).text
            assert (
                (await client.get("/openapi.json"))
                .json()["info"]["title"]
                .endswith(f"{pipeline.name})")
            )

            table = await asyncio.to_thread(_records_cli, port, READ_TOKEN, "list")
            assert table.returncode == 0, table.stderr
            lines = table.stdout.splitlines()
            assert lines[0].split()[:3] == ["ID", "QUARANTINED", "SOURCE"]
            assert lines[-1] == "4 of 4 records"
            as_json = await asyncio.to_thread(
                _records_cli, port, READ_TOKEN, "--json", "list", "--error-type", "schema_violation"
            )
            page: dict[str, Any] = json.loads(as_json.stdout)
            assert page["total"] == 3
            first = page["items"][0]["id"]
            shown = await asyncio.to_thread(_records_cli, port, READ_TOKEN, "show", first)
            assert '"currency": "GBP"' in shown.stdout
            assert "/currency" in shown.stdout

            denied = await asyncio.to_thread(_records_cli, port, READ_TOKEN, "reprocess", first)
            assert denied.returncode == 1
            assert "error (403): forbidden" in denied.stderr
            pipeline.add_schema_version(2, FIXED_SCHEMA, select=True)
            dry = await asyncio.to_thread(
                _records_cli, port, ADMIN_TOKEN, "reprocess", first, "--dry-run"
            )
            assert dry.stdout.startswith("would pass against orders version 2"), dry.stdout
            replay = await asyncio.to_thread(
                _records_cli,
                port,
                ADMIN_TOKEN,
                "--json",
                "replay",
                "--field-path",
                "/currency",
                "--wait",
            )
            assert replay.returncode == 0, replay.stderr
            finished = json.loads(replay.stdout)
            assert (finished["state"], finished["counts"]["replayed"]) == ("succeeded", 3)
    finally:
        process.send_signal(signal.SIGTERM)
        exit_code = process.wait(30)
    output = _log_lines(log)
    assert exit_code == 0, output
    lines = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    assert lines, output
    assert all({"time", "level", "logger", "message"} <= set(line) for line in lines)
