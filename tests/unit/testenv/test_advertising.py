"""What `up --advertise HOST` accepts: an IPv4 address of this machine (or a name resolving to
one), with the network of the interface that carries it; anything else fails with a reason."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Interface, IPv4Network

import pytest

from testenv.advertising import (
    Advertised,
    advertised,
    check_advertisable,
    network_of,
    parse_interfaces,
)
from testenv.errors import StackError

IP_OUTPUT = """\
1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever preferred_lft forever
4: eth0    inet 192.0.2.2/24 brd 192.0.2.255 scope global eth0\\       valid_lft forever
7: br-1c2d3e4f5a6b    inet 172.18.0.1/16 brd 172.18.255.255 scope global br-1c2d3e4f5a6b\\
"""
INTERFACES = [
    IPv4Interface("127.0.0.1/8"),
    IPv4Interface("192.0.2.2/24"),
    IPv4Interface("172.18.0.1/16"),
]


def test_the_addresses_and_prefixes_are_read_from_ip_addr_show() -> None:
    assert parse_interfaces(IP_OUTPUT) == INTERFACES
    assert parse_interfaces("") == []


def test_the_network_is_that_of_the_interface_carrying_the_address() -> None:
    assert network_of(IPv4Address("172.18.0.1"), INTERFACES) == IPv4Network("172.18.0.0/16")
    assert network_of(IPv4Address("192.0.2.2"), INTERFACES) == IPv4Network("192.0.2.0/24")


def test_a_loopback_alias_belongs_to_lo_and_an_unknown_address_stands_alone() -> None:
    assert network_of(IPv4Address("127.0.0.9"), INTERFACES) == IPv4Network("127.0.0.0/8")
    assert network_of(IPv4Address("10.1.2.3"), INTERFACES) == IPv4Network("10.1.2.3/32")


@pytest.mark.parametrize("address", ["0.0.0.0", "224.0.0.1", "255.255.255.255"])
def test_addresses_no_client_can_connect_to_are_refused(address: str) -> None:
    with pytest.raises(StackError, match="not an address clients can connect to"):
        check_advertisable(IPv4Address(address), host=address)


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_loopback_means_the_default(host: str) -> None:
    assert advertised(host) is None


def test_a_loopback_alias_of_this_machine_is_accepted_with_lo_network() -> None:
    assert advertised("127.0.3.7") == Advertised(address="127.0.3.7", network="127.0.0.0/8")


def test_an_address_of_another_machine_is_refused_with_this_machine_addresses() -> None:
    # 203.0.113.0/24 is reserved for documentation: no machine carries it
    with pytest.raises(StackError, match=r"203\.0\.113\.77 is not an address of this machine; "):
        advertised("203.0.113.77")


def test_a_name_that_does_not_resolve_is_refused() -> None:
    # .invalid never resolves (RFC 2606)
    with pytest.raises(StackError, match=r"'no-such-host\.invalid' does not resolve"):
        advertised("no-such-host.invalid")
