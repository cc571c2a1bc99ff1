from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import httpx

from tests.integration.api.support import ADMIN, FIXED_SCHEMA, READER, fast_settings
from tests.integration.api.test_replaying import REPLAYS, _quarantined
from validator_pod.web.app import create_app


async def test_debug(make_pipeline, validator_runs, tmp_path: Path) -> None:
    pipeline = await _quarantined(make_pipeline, validator_runs, tmp_path)
    pipeline.add_schema_version(2, FIXED_SCHEMA, select=True)
    app = create_app(pipeline.settings(), fast_settings(replay_chunk_size=1, replay_lease=2))
    cm = app.router.lifespan_context(app)
    await cm.__aenter__()
    await app.state.services.migrated.wait()
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api")
    reply = await client.post(
        REPLAYS, json={"filter": {"field_path": "/currency"}, "rate_limit": 4}, headers=ADMIN
    )
    replay_id = reply.json()["id"]
    for _ in range(100):
        progress = await client.get(f"{REPLAYS}/{replay_id}", headers=READER)
        if progress.json()["counts"]["replayed"] >= 2:
            break
        await asyncio.sleep(0.05)
    await client.aclose()
    stopping = asyncio.ensure_future(cm.__aexit__(None, None, None))
    done, _ = await asyncio.wait([stopping], timeout=15)
    if not done:
        for t in asyncio.all_tasks():
            print("TASK", t.get_name())
            t.print_stack(file=sys.stdout)
        raise AssertionError("hang")
