"""RFC 6901 JSON pointers: formatting error locations and reading values out of decoded records."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final

MISSING: Final = object()
"""Returned by `resolve_pointer` when the pointer does not lead to a value."""


def escape_token(token: str) -> str:
    """Escape one reference token: `~` becomes `~0`, then `/` becomes `~1` (RFC 6901 §3)."""
    return token.replace("~", "~0").replace("/", "~1")


def unescape_token(token: str) -> str:
    """Undo `escape_token`: `~1` becomes `/`, then `~0` becomes `~` (RFC 6901 §4)."""
    return token.replace("~1", "/").replace("~0", "~")


def format_pointer(tokens: Iterable[str | int]) -> str:
    """The JSON pointer for a path of object keys and array indices; `""` is the root."""
    parts = [token if isinstance(token, str) else str(token) for token in tokens]
    if not parts:
        return ""
    joined = "/".join(parts)
    # Escaping is rare: only pay for it when a token holds "~" or "/".
    if "~" in joined or joined.count("/") != len(parts) - 1:
        joined = "/".join(escape_token(part) for part in parts)
    return "/" + joined


def parse_pointer(pointer: str) -> tuple[str, ...]:
    """The unescaped reference tokens of a JSON pointer.

    Raises ValueError when the text is not a JSON pointer (non-empty and not starting with `/`,
    or `~` not followed by `0` or `1`).
    """
    if pointer == "":
        return ()
    if not pointer.startswith("/"):
        raise ValueError(f"{pointer!r} is not a JSON pointer: it must be empty or start with '/'")
    tokens = pointer[1:].split("/")
    for token in tokens:
        stripped = token.replace("~0", "").replace("~1", "")
        if "~" in stripped:
            raise ValueError(f"{pointer!r} is not a JSON pointer: '~' must be followed by 0 or 1")
    return tuple(unescape_token(token) for token in tokens)


def resolve_pointer(document: Any, tokens: tuple[str, ...]) -> Any:
    """The value at parsed pointer `tokens` inside a decoded JSON document, or `MISSING`."""
    current = document
    for token in tokens:
        if isinstance(current, dict):
            if token not in current:
                return MISSING
            current = current[token]
        elif isinstance(current, list):
            index = array_index(token)
            if index is None or index >= len(current):
                return MISSING
            current = current[index]
        else:
            return MISSING
    return current


def array_index(token: str) -> int | None:
    """The array index a reference token denotes (no sign, no leading zeros), or None."""
    if not token.isdigit() or not token.isascii() or (len(token) > 1 and token[0] == "0"):
        return None
    return int(token)
