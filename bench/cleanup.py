"""Removing what a run left behind: quarantine rows, S3 segments and the bucket."""

from __future__ import annotations

import asyncpg
from miniopy_async.api import Minio
from miniopy_async.deleteobjects import DeleteObject

from bench.environment import Endpoints


async def delete_rows(endpoints: Endpoints, pipeline_prefix: str) -> int:
    """Delete the quarantine rows of the run's pipelines; return how many."""
    conn = await asyncpg.connect(endpoints.postgres_dsn)
    try:
        status = await conn.execute(
            "DELETE FROM quarantine_records WHERE pipeline LIKE $1", f"{pipeline_prefix}%"
        )
    finally:
        await conn.close()
    return int(status.rsplit(" ", 1)[-1])


async def delete_bucket(endpoints: Endpoints, bucket: str) -> int:
    """Delete every object of `bucket`, then the bucket; return how many objects."""
    client = Minio(
        endpoints.s3_endpoint,
        access_key=endpoints.s3_access_key,
        secret_key=endpoints.s3_secret_key,
        secure=False,
    )
    try:
        if not await client.bucket_exists(bucket):
            return 0
        keys = [
            obj.object_name
            async for obj in client.list_objects(bucket, recursive=True)
            if obj.object_name is not None
        ]
        if keys:
            errors = [
                error
                async for error in client.remove_objects(
                    bucket, [DeleteObject(key) for key in keys]
                )
            ]
            if errors:
                raise RuntimeError(f"S3 refused to delete {len(errors)} objects: {errors[0]}")
        await client.remove_bucket(bucket)
    finally:
        await client.close_session()  # type: ignore[no-untyped-call]
    return len(keys)
