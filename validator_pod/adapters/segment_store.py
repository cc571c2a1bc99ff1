"""S3 for the REST API: `ObjectStore` plus what only the API needs (a readiness probe and
removing segments that retention has emptied)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from miniopy_async.deleteobjects import DeleteObject

from validator_pod.adapters.errors import ObjectStoreError
from validator_pod.adapters.object_store import ObjectLocation, ObjectStore, _translated_errors


class SegmentStore(ObjectStore):
    """An `ObjectStore` that can also check its bucket and delete segments."""

    @classmethod
    def connect(cls, **options: Any) -> SegmentStore:
        """As `ObjectStore.connect`."""
        store = super().connect(**options)
        assert isinstance(store, SegmentStore)
        return store

    async def check(self) -> None:
        """Raise `ObjectStoreError` unless S3 answers and the bucket exists."""
        async with _translated_errors(f"check bucket {self.bucket}"):
            exists = await self._client.bucket_exists(self.bucket)
        if not exists:
            raise ObjectStoreError(f"bucket {self.bucket} does not exist")

    async def remove(self, uris: Iterable[str]) -> int:
        """Delete the objects at `uris` (`s3://` URIs in this store's bucket; others are
        ignored); return how many were asked to be deleted. Deleting a missing object is not an
        error (S3 semantics), so a retried purge is harmless."""
        keys = sorted(
            {
                location.key
                for location in map(ObjectLocation.parse, uris)
                if location.bucket == self.bucket
            }
        )
        if not keys:
            return 0
        async with _translated_errors(f"delete {len(keys)} objects from {self.bucket}"):
            errors = [
                error
                async for error in self._client.remove_objects(
                    self.bucket, [DeleteObject(key) for key in keys]
                )
            ]
            if errors:
                raise ValueError(f"S3 refused to delete {len(errors)} objects: {errors[0]}")
        return len(keys)
