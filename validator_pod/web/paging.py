"""Opaque keyset cursors for the record listing.

A cursor is base64url JSON holding the traversal's snapshot time (`as_of`), the last record's
(created_at, id), and a fingerprint of the filters: a cursor used with other filters is refused
(`invalid_cursor`) instead of paging through a different result set.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
from datetime import datetime
from typing import Final
from uuid import UUID

import orjson

from validator_pod.adapters.quarantine_queries import Keyset, RecordFilter
from validator_pod.web.errors import ApiError

_VERSION: Final = 1


def filter_fingerprint(record_filter: RecordFilter) -> str:
    """A short digest of the filter's values."""
    document = orjson.dumps(dataclasses.asdict(record_filter), option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(document).hexdigest()[:16]


def encode_cursor(as_of: datetime, after: Keyset, record_filter: RecordFilter) -> str:
    """The cursor of the page after `after` in the traversal that started at `as_of`."""
    document = orjson.dumps(
        {
            "v": _VERSION,
            "a": as_of.isoformat(),
            "t": after[0].isoformat(),
            "i": str(after[1]),
            "f": filter_fingerprint(record_filter),
        }
    )
    return base64.urlsafe_b64encode(document).decode().rstrip("=")


def decode_cursor(cursor: str, record_filter: RecordFilter) -> tuple[datetime, Keyset]:
    """(as_of, after) of a cursor; `ApiError` 422 `invalid_cursor` when it is not one of ours or
    was made for other filters."""
    try:
        as_of, after, fingerprint = _parse(cursor)
    except (binascii.Error, ValueError, KeyError, TypeError, orjson.JSONDecodeError) as exc:
        raise ApiError(422, "invalid_cursor", "the cursor is not valid") from exc
    if fingerprint != filter_fingerprint(record_filter):
        raise ApiError(
            422,
            "invalid_cursor",
            "the cursor belongs to a listing with other filters; start again without a cursor",
        )
    return as_of, after


def _parse(cursor: str) -> tuple[datetime, Keyset, str]:
    document = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    if not isinstance(document, dict) or document.get("v") != _VERSION:
        raise ValueError("unknown cursor version")
    as_of = datetime.fromisoformat(document["a"])
    created_at = datetime.fromisoformat(document["t"])
    if as_of.tzinfo is None or created_at.tzinfo is None:
        raise ValueError("naive time in cursor")
    return as_of, (created_at, UUID(document["i"])), str(document["f"])
