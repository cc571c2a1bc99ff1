"""The local S3 server works with miniopy-async: put, get, ranged get, list."""

from __future__ import annotations

import io

from miniopy_async import Minio

from tests.conftest import StackEnv


async def test_objects_are_written_read_whole_and_by_range_and_listed(
    stack_env: StackEnv, unique_name: str
) -> None:
    client = Minio(
        stack_env.s3_endpoint,
        access_key=stack_env.s3_access_key,
        secret_key=stack_env.s3_secret_key,
        secure=False,
    )
    bucket = unique_name[:63]
    payload = b"".join(f"record-{i:04d};".encode() for i in range(1000))
    try:
        await client.make_bucket(bucket)
        await client.put_object(bucket, "a/b/0-999.seg", io.BytesIO(payload), len(payload))
        await client.put_object(bucket, "a/c/1000-1001.seg", io.BytesIO(b"xy"), 2)

        whole = await client.get_object(bucket, "a/b/0-999.seg")
        try:
            assert await whole.read() == payload
        finally:
            whole.release()
        ranged = await client.get_object(bucket, "a/b/0-999.seg", offset=12 * 500, length=12)
        try:
            assert await ranged.read() == b"record-0500;"
        finally:
            ranged.release()
        names = [
            obj.object_name
            async for obj in client.list_objects(bucket, prefix="a/", recursive=True)
        ]
        assert sorted(names) == ["a/b/0-999.seg", "a/c/1000-1001.seg"]
        for name in names:
            await client.remove_object(bucket, name)
        await client.remove_bucket(bucket)
    finally:
        await client.close_session()
