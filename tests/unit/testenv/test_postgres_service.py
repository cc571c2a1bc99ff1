"""PostgreSQL's command line and client authentication, on loopback and on an advertised
address."""

from pathlib import Path

from testenv.advertising import Advertised
from testenv.services.postgres import PG_BIN, host_based_access, postgres_command

HOME = Path("/state/postgres")
KIND_GATEWAY = Advertised(address="172.18.0.1", network="172.18.0.0/16")


def settings(command: list[str]) -> dict[str, str]:
    """The `-c name=value` settings of a command line."""
    pairs = [command[i + 1] for i, arg in enumerate(command) if arg == "-c"]
    return dict(pair.split("=", 1) for pair in pairs)


def test_by_default_postgres_listens_on_loopback_with_the_hba_file_initdb_wrote() -> None:
    command = postgres_command(HOME, 5432, None)

    assert command[:5] == [str(PG_BIN / "postgres"), "-D", str(HOME / "data"), "-k", str(HOME)]
    assert command[5:7] == ["-p", "5432"]
    assert settings(command) == {
        "listen_addresses": "127.0.0.1",
        "fsync": "off",
        "synchronous_commit": "off",
        "full_page_writes": "off",
        "max_connections": "200",
    }


def test_an_advertised_postgres_listens_on_loopback_and_the_address_with_its_own_hba_file() -> None:
    chosen = settings(postgres_command(HOME, 5432, KIND_GATEWAY))

    assert chosen["listen_addresses"] == "127.0.0.1,172.18.0.1"
    assert chosen["hba_file"] == str(HOME / "pg_hba.conf")


def test_the_advertised_address_network_is_trusted_as_loopback_is() -> None:
    entries = [line.split() for line in host_based_access(KIND_GATEWAY).splitlines()]

    assert entries == [
        ["local", "all", "all", "trust"],
        ["host", "all", "all", "127.0.0.1/32", "trust"],
        ["host", "all", "all", "::1/128", "trust"],
        ["host", "all", "all", "172.18.0.0/16", "trust"],
    ]
