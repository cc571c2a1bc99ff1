"""Fixtures shared by the operator's unit tests."""

from __future__ import annotations

import pytest

from quarantine_operator.render import Owner, pipeline_owner


@pytest.fixture
def owner() -> Owner:
    return pipeline_owner("orders", "shop", "0b8e6c1e-1111-2222-3333-444455556666")
