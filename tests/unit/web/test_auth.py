"""Tokens: `name:role:token` entries, compared in constant time against every one."""

from __future__ import annotations

import hmac

import pytest
from pydantic import SecretStr

from validator_pod.web import auth
from validator_pod.web.auth import Caller, Role, TokenConfigError, TokenRegistry

SECRET = "s3cr3t-token-value-42"


def registry(*entries: str) -> TokenRegistry:
    return TokenRegistry(SecretStr(entry) for entry in entries)


def test_entries_name_a_caller_and_a_role() -> None:
    tokens = registry(f"ops:read:{SECRET}", f"alice:admin:{SECRET}-admin")
    assert len(tokens) == 2
    assert tokens.authenticate(SECRET) == Caller("ops", Role.READ)
    assert tokens.authenticate(f"{SECRET}-admin") == Caller("alice", Role.ADMIN)
    assert tokens.authenticate(f"{SECRET}-admin").is_admin  # type: ignore[union-attr]
    assert tokens.authenticate("wrong") is None
    assert tokens.authenticate("") is None


def test_a_token_may_contain_colons() -> None:
    assert registry("ci:admin:abc:def:ghi:jkl:mnop").authenticate("abc:def:ghi:jkl:mnop") == Caller(
        "ci", Role.ADMIN
    )


@pytest.mark.parametrize(
    ("entry", "reason"),
    [
        (SECRET, "not name:role:token"),
        (f"ops:{SECRET}", "not name:role:token"),
        (f"ops:write:{SECRET}", "role must be read or admin"),
        (f"o ps:read:{SECRET}", "name must be"),
        (f":read:{SECRET}", "name must be"),
        ("ops:read:short", "at least 16 characters"),
    ],
)
def test_malformed_entries_are_refused_without_echoing_the_token(entry: str, reason: str) -> None:
    with pytest.raises(TokenConfigError, match=reason) as caught:
        registry(entry)
    assert SECRET not in str(caught.value)
    assert "short" not in str(caught.value) or "characters" in str(caught.value)


def test_a_name_may_not_repeat() -> None:
    with pytest.raises(TokenConfigError, match="repeated"):
        registry(f"ops:read:{SECRET}", f"ops:admin:{SECRET}-2")


def test_every_token_is_compared_whichever_matches(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    compare = hmac.compare_digest

    def counting(a: bytes, b: bytes) -> bool:
        calls.append(1)
        return compare(a, b)

    monkeypatch.setattr(auth.hmac, "compare_digest", counting)
    tokens = registry(*(f"user{i}:read:{SECRET}-{i:02d}" for i in range(5)))
    assert tokens.authenticate(f"{SECRET}-00") == Caller("user0", Role.READ)
    assert tokens.authenticate("nobody") is None
    assert len(calls) == 10


def test_no_tokens_means_nobody_is_let_in() -> None:
    assert registry().authenticate(SECRET) is None
