"""Bearer tokens: who may read, who may change.

`DQ_API_TOKENS` (the key `tokens` of the pipeline's API Secret) lists one token per line (commas
also separate) as `name:role:token`:

    ops-dashboard:read:3f1b...c9
    alice:admin:9a7e...41

`name` (letters, digits, `.`, `_`, `-`) is who the audit trail (`quarantine_events.actor`) names;
`role` is `read` (GET routes) or `admin` (everything); `token` is the secret itself (at least 16
characters, no whitespace or commas). A presented token is compared with every configured one by
`hmac.compare_digest` over SHA-256 digests, so the time taken says nothing about which token, or
which prefix, was close.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final

from pydantic import SecretStr

_NAME: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")
MIN_TOKEN_LENGTH: Final = 16


class Role(StrEnum):
    """What a token may do."""

    READ = "read"
    ADMIN = "admin"


class TokenConfigError(ValueError):
    """`DQ_API_TOKENS` holds an entry that is not `name:role:token`; the message never contains
    the token."""


@dataclass(frozen=True, slots=True)
class Caller:
    """The authenticated client of a request."""

    name: str
    role: Role

    @property
    def is_admin(self) -> bool:
        """True when the caller may change things."""
        return self.role is Role.ADMIN


@dataclass(frozen=True, slots=True)
class _Token:
    caller: Caller
    digest: bytes = field(repr=False)


class TokenRegistry:
    """The configured tokens, checked in constant time."""

    def __init__(self, entries: Iterable[SecretStr]) -> None:
        """Parse `name:role:token` entries; raise `TokenConfigError` naming the bad entry by
        position (and never echoing it)."""
        tokens: list[_Token] = []
        names: set[str] = set()
        for position, entry in enumerate(entries, start=1):
            name, sep1, rest = entry.get_secret_value().partition(":")
            role, sep2, secret = rest.partition(":")
            if not (sep1 and sep2):
                raise TokenConfigError(f"API token entry {position} is not name:role:token")
            if not _NAME.match(name):
                raise TokenConfigError(
                    f"API token entry {position}: the name must be 1-63 letters, digits, '.', "
                    "'_' or '-'"
                )
            if role not in (Role.READ, Role.ADMIN):
                raise TokenConfigError(
                    f"API token entry {position} ({name}): the role must be read or admin"
                )
            if len(secret) < MIN_TOKEN_LENGTH:
                raise TokenConfigError(
                    f"API token entry {position} ({name}): the token must have at least "
                    f"{MIN_TOKEN_LENGTH} characters"
                )
            if name in names:
                raise TokenConfigError(f"API token entry {position}: the name {name} is repeated")
            names.add(name)
            tokens.append(_Token(Caller(name, Role(role)), _digest(secret)))
        self._tokens = tuple(tokens)

    def __len__(self) -> int:
        """How many tokens are configured."""
        return len(self._tokens)

    def authenticate(self, presented: str) -> Caller | None:
        """The caller whose token is `presented`, or None. Every configured token is compared,
        whatever matched before, in time independent of where the tokens differ."""
        digest = _digest(presented)
        match: Caller | None = None
        for token in self._tokens:
            if hmac.compare_digest(digest, token.digest):
                match = token.caller
        return match


def _digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).digest()
