from __future__ import annotations

import pytest

from validator_pod.validation.pointers import (
    MISSING,
    escape_token,
    format_pointer,
    parse_pointer,
    resolve_pointer,
)


def test_tilde_and_slash_are_escaped_in_that_order() -> None:
    assert escape_token("a~b") == "a~0b"
    assert escape_token("a/b") == "a~1b"
    assert escape_token("~1") == "~01"


def test_root_is_the_empty_pointer() -> None:
    assert format_pointer([]) == ""
    assert parse_pointer("") == ()


def test_keys_and_indices_format_as_a_pointer() -> None:
    assert format_pointer(["items", 0, "a/b", "m~n"]) == "/items/0/a~1b/m~0n"


def test_parsing_undoes_formatting() -> None:
    tokens = ("items", "0", "a/b", "m~n", "~1", "")
    assert parse_pointer(format_pointer(tokens)) == tokens


@pytest.mark.parametrize("text", ["type", "/a~2b", "/a~"])
def test_text_that_is_not_a_pointer_is_rejected(text: str) -> None:
    with pytest.raises(ValueError, match="not a JSON pointer"):
        parse_pointer(text)


def test_pointers_resolve_through_objects_and_arrays() -> None:
    document = {"a/b": [{"c": 1}, {"c": None}]}
    assert resolve_pointer(document, parse_pointer("/a~1b/0/c")) == 1
    assert resolve_pointer(document, parse_pointer("/a~1b/1/c")) is None


@pytest.mark.parametrize("pointer", ["/missing", "/a~1b/2", "/a~1b/01", "/a~1b/-", "/a~1b/0/c/d"])
def test_pointers_to_nothing_resolve_to_missing(pointer: str) -> None:
    document = {"a/b": [{"c": 1}]}
    assert resolve_pointer(document, parse_pointer(pointer)) is MISSING
