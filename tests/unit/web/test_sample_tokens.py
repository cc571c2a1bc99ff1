"""The sample API token Secret in manifests/samples is accepted by the API."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from validator_pod.settings import Settings
from validator_pod.web.auth import Role, TokenRegistry

SAMPLE_SECRETS = Path(__file__).resolve().parents[3] / "manifests" / "samples" / "secrets.yaml"


def test_the_sample_token_secret_parses_into_an_admin_and_a_read_token(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    secrets = {
        doc["metadata"]["name"]: doc for doc in yaml.safe_load_all(SAMPLE_SECRETS.read_text())
    }
    monkeypatch.setenv("DQ_API_TOKENS", secrets["orders-api-tokens"]["stringData"]["tokens"])
    registry = TokenRegistry(Settings().api_tokens)
    admin = registry.authenticate("local-dev-admin-token-change-me")
    reader = registry.authenticate("local-dev-read-token-change-me")
    assert admin is not None
    assert admin.role is Role.ADMIN
    assert reader is not None
    assert reader.role is Role.READ
