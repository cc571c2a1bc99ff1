"""S3 (miniopy-async): quarantine segments are written whole and read back by byte range.

Every network or S3 failure leaves this module as an `ObjectStoreError`; the caller decides
whether and when to retry (this client does not retry by itself).
"""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Final

import aiohttp
from miniopy_async.api import Minio
from miniopy_async.error import MinioException

from validator_pod.adapters.errors import ObjectStoreError

S3_SCHEME: Final = "s3://"
_CONTENT_TYPE: Final = "application/octet-stream"


@dataclass(frozen=True, slots=True)
class ObjectLocation:
    """A bucket and key, written as the URI `s3://bucket/key`."""

    bucket: str
    key: str

    @property
    def uri(self) -> str:
        """`s3://bucket/key`."""
        return f"{S3_SCHEME}{self.bucket}/{self.key}"

    @classmethod
    def parse(cls, uri: str) -> ObjectLocation:
        """Read `s3://bucket/key`; raise ValueError for anything else."""
        bucket, sep, key = uri.removeprefix(S3_SCHEME).partition("/")
        if not uri.startswith(S3_SCHEME) or not sep or not bucket or not key:
            raise ValueError(f"{uri!r} is not an s3://bucket/key URI")
        return cls(bucket, key)


@asynccontextmanager
async def _translated_errors(what: str) -> AsyncIterator[None]:
    try:
        yield
    except (MinioException, aiohttp.ClientError, OSError, TimeoutError, ValueError) as exc:
        raise ObjectStoreError(f"{what}: {type(exc).__name__}: {exc}") from exc


class ObjectStore:
    """One bucket of an S3-compatible store."""

    def __init__(self, client: Minio, bucket: str) -> None:
        """Wrap a client; prefer `ObjectStore.connect`."""
        self._client = client
        self._bucket = bucket

    @classmethod
    def connect(
        cls,
        *,
        endpoint: str,
        access_key: str,
        secret_key: str,
        bucket: str,
        secure: bool = False,
        region: str | None = None,
        connect_timeout: float = 5.0,
        read_timeout: float = 30.0,
        max_connections: int = 16,
    ) -> ObjectStore:
        """A client with explicit timeouts and no hidden retries (miniopy-async's default
        session retries 5xx five times and waits up to 5 minutes). Call inside a running loop."""
        session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=max_connections),
            timeout=aiohttp.ClientTimeout(connect=connect_timeout, sock_read=read_timeout),
        )
        client = Minio(
            endpoint,
            access_key=access_key,
            secret_key=secret_key,
            secure=secure,
            region=region,
            session=session,
        )
        return cls(client, bucket)

    @property
    def bucket(self) -> str:
        """The bucket name."""
        return self._bucket

    def location(self, key: str) -> ObjectLocation:
        """Where `key` lives in this store's bucket."""
        return ObjectLocation(self._bucket, key)

    async def close(self) -> None:
        """Close the HTTP session."""
        await self._client.close_session()  # type: ignore[no-untyped-call]

    async def ensure_bucket(self) -> None:
        """Create the bucket unless it exists."""
        async with _translated_errors(f"ensure bucket {self._bucket}"):
            if not await self._client.bucket_exists(self._bucket):
                await self._client.make_bucket(self._bucket)

    async def put(self, key: str, data: bytes) -> ObjectLocation:
        """Write one object whole (an overwrite with the same bytes is harmless)."""
        async with _translated_errors(f"put s3://{self._bucket}/{key}"):
            await self._client.put_object(
                self._bucket, key, io.BytesIO(data), len(data), content_type=_CONTENT_TYPE
            )
        return self.location(key)

    async def get_range(self, location: ObjectLocation | str, offset: int, length: int) -> bytes:
        """`length` bytes from `offset` of an object (a ranged GET); `location` may be an
        `s3://` URI. A zero length reads nothing and returns b""."""
        if length == 0:
            return b""
        where = location if isinstance(location, ObjectLocation) else ObjectLocation.parse(location)
        async with _translated_errors(f"get {where.uri} bytes {offset}+{length}"):
            response = await self._client.get_object(
                where.bucket, where.key, offset=offset, length=length
            )
            try:
                data: bytes = await response.read()
            finally:
                response.release()
        if len(data) != length:
            raise ObjectStoreError(
                f"get {where.uri} bytes {offset}+{length}: got {len(data)} bytes"
            )
        return data
