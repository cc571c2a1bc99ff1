"""Pod addresses: lowest free first, never shared between runners, never with a busy port."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from testenv.podrunner.addresses import LoopbackPool, ports_free
from testenv.podrunner.materialising import SetupError


def test_pods_get_distinct_addresses_and_a_released_one_is_reused(tmp_path: Path) -> None:
    pool = LoopbackPool(tmp_path, first=200, last=210)
    try:
        first, second = pool.acquire([9400]), pool.acquire([9400])
        assert (first, second) == ("127.0.0.200", "127.0.0.201")
        pool.release(first)
        assert pool.acquire([9400]) == first
    finally:
        pool.close()


def test_two_runners_on_one_machine_never_share_an_address(tmp_path: Path) -> None:
    one, other = LoopbackPool(tmp_path, 200, 201), LoopbackPool(tmp_path, 200, 201)
    try:
        assert one.acquire([]) == "127.0.0.200"
        assert other.acquire([]) == "127.0.0.201"
        with pytest.raises(SetupError, match=r"no free loopback address in 127\.0\.0\.200-201"):
            other.acquire([])
        one.close()
        assert other.acquire([]) == "127.0.0.200"
    finally:
        one.close()
        other.close()


def test_an_address_whose_port_is_taken_is_skipped(tmp_path: Path) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.200", 0))
        listener.listen()
        port = int(listener.getsockname()[1])
        assert not ports_free("127.0.0.200", [port])

        pool = LoopbackPool(tmp_path, 200, 201)
        try:
            assert pool.acquire([port]) == "127.0.0.201"
        finally:
            pool.close()
