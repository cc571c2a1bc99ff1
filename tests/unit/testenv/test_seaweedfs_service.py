"""`weed server`'s flags: every part of SeaweedFS binds and names the same address."""

from pathlib import Path

from testenv.services.seaweedfs import server_arguments

HOME = Path("/state/s3")
PORTS = {"master": 20001, "volume": 20002, "filer": 20003, "s3": 20004}


def flags(arguments: list[str]) -> dict[str, str]:
    return dict(arg.lstrip("-").split("=", 1) for arg in arguments if "=" in arg)


def test_by_default_master_volume_filer_and_s3_bind_and_name_loopback() -> None:
    arguments = server_arguments(HOME, PORTS)
    chosen = flags(arguments)

    assert arguments[1] == "server"
    assert "-s3" in arguments
    assert (chosen["ip"], chosen["ip.bind"]) == ("127.0.0.1", "127.0.0.1")
    assert chosen["master.port"] == "20001"
    assert chosen["volume.port"] == "20002"
    assert chosen["filer.port"] == "20003"
    assert chosen["s3.port"] == "20004"
    assert chosen["s3.config"] == "/state/s3/s3.json"


def test_an_advertised_seaweedfs_binds_and_names_that_address_for_every_part() -> None:
    chosen = flags(server_arguments(HOME, PORTS, host="172.18.0.1"))

    assert (chosen["ip"], chosen["ip.bind"]) == ("172.18.0.1", "172.18.0.1")
    # no part binds an address of its own that would override -ip.bind
    assert not {"master.ip", "volume.ip", "filer.ip", "s3.ip.bind", "volume.publicUrl"} & set(
        chosen
    )


def test_the_iceberg_and_lance_endpoints_stay_off_so_two_stacks_can_run() -> None:
    chosen = flags(server_arguments(HOME, PORTS))

    assert (chosen["s3.port.iceberg"], chosen["s3.port.lance"]) == ("0", "0")
