"""The address the data services are reachable at: 127.0.0.1 by default, or an address of this
machine given with `up --advertise HOST`, so that clients elsewhere (pods in kind's Docker
containers) can connect too.

Kafka, PostgreSQL and SeaweedFS then listen on that address, name it in the env file, and Kafka
advertises it; PostgreSQL also lets in the network of the interface that carries it (the kind
nodes' addresses on Docker's bridge, for the kind gateway).
"""

from __future__ import annotations

import errno
import shutil
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from ipaddress import AddressValueError, IPv4Address, IPv4Interface, IPv4Network
from typing import Final

from testenv.errors import StackError
from testenv.processes import run_checked

LOOPBACK: Final = "127.0.0.1"


@dataclass(frozen=True)
class Advertised:
    """An address of this machine the data services listen on and name to their clients."""

    address: str
    #: the network of the interface that carries `address` (clients connect from there)
    network: str


def parse_interfaces(ip_output: str) -> list[IPv4Interface]:
    """The IPv4 addresses with their prefixes in the output of `ip -o -4 addr show`."""
    interfaces = []
    for line in ip_output.splitlines():
        fields = line.split()
        if "inet" in fields[:-1]:
            interfaces.append(IPv4Interface(fields[fields.index("inet") + 1]))
    return interfaces


def network_of(address: IPv4Address, interfaces: Sequence[IPv4Interface]) -> IPv4Network:
    """The network of the interface that carries `address`, the address alone when none does
    (a 127.0.0.N other than 127.0.0.1 is carried by `lo`'s 127.0.0.0/8)."""
    for interface in interfaces:
        if address == interface.ip:
            return interface.network
    for interface in interfaces:
        if address in interface.network:
            return interface.network
    return IPv4Network(address)


def check_advertisable(address: IPv4Address, *, host: str) -> None:
    """Refuse addresses a client cannot connect to (0.0.0.0, multicast, broadcast)."""
    if address.is_unspecified or address.is_multicast or address == IPv4Address("255.255.255.255"):
        raise StackError(
            f"advertised host {host}: {address} is not an address clients can connect to; "
            "give one address of this machine"
        )


def local_interfaces() -> list[IPv4Interface]:
    """This machine's IPv4 addresses and prefixes, from `ip -o -4 addr show`."""
    if shutil.which("ip") is None:
        raise StackError("`ip` (iproute2) is needed for --advertise: apt-get install -y iproute2")
    return parse_interfaces(run_checked(["ip", "-o", "-4", "addr", "show"], what="ip addr show"))


def resolve_ipv4(host: str) -> IPv4Address:
    """`host` as an IPv4 address: itself when it is one, else its first IPv4 address in DNS or
    /etc/hosts."""
    try:
        return IPv4Address(host)
    except AddressValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None, family=socket.AF_INET, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise StackError(f"advertised host {host!r} does not resolve ({exc})") from exc
    return IPv4Address(infos[0][4][0])


def is_local(address: IPv4Address) -> bool:
    """True when a server on this machine can bind `address`."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((str(address), 0))
        except OSError as exc:
            if exc.errno == errno.EADDRNOTAVAIL:
                return False
            raise
    return True


def advertised(host: str) -> Advertised | None:
    """What `up --advertise HOST` means on this machine; None for 127.0.0.1 (the default).

    Raises StackError when HOST does not resolve or is not an address of this machine."""
    address = resolve_ipv4(host)
    if str(address) == LOOPBACK:
        return None
    check_advertisable(address, host=host)
    interfaces = local_interfaces()
    if not is_local(address):
        known = ", ".join(str(interface.ip) for interface in interfaces) or "none found"
        named = host if host == str(address) else f"{host} ({address})"
        raise StackError(
            f"advertised host {named} is not an address of this machine; "
            f"its IPv4 addresses: {known}"
        )
    return Advertised(address=str(address), network=str(network_of(address, interfaces)))
