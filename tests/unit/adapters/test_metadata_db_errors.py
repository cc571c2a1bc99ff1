"""asyncpg's failures become retriable `MetadataDbError`s, so the loop waits instead of dying."""

from __future__ import annotations

import asyncpg
import pytest

from validator_pod.adapters.errors import MetadataDbError
from validator_pod.adapters.metadata_db import translated_errors


@pytest.mark.parametrize(
    "failure",
    [
        asyncpg.InternalClientError("cannot switch to state 15; another operation is in progress"),
        asyncpg.InterfaceError("connection is closed"),
        ConnectionResetError("reset by peer"),
        TimeoutError(),
    ],
)
async def test_a_lost_connection_is_a_retriable_database_error(failure: Exception) -> None:
    with pytest.raises(MetadataDbError) as raised:
        async with translated_errors("insert quarantine records"):
            raise failure

    assert raised.value.retriable
    assert str(raised.value).startswith("insert quarantine records: ")


async def test_other_errors_are_not_mistaken_for_database_errors() -> None:
    with pytest.raises(KeyError):
        async with translated_errors("insert quarantine records"):
            raise KeyError("bug")
