"""The Kafka service's command lines and server.properties (CI once failed on a random cluster
id; the broker must advertise the address clients use)."""

from pathlib import Path

from testenv.services.kafka import server_properties, storage_format_command


def properties(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines())


def test_a_cluster_id_starting_with_a_dash_is_not_mistaken_for_an_option() -> None:
    command = storage_format_command("/libs/*", Path("/k/server.properties"), "-kY2m3xQ")

    assert "--cluster-id=-kY2m3xQ" in command
    assert "-kY2m3xQ" not in command


def test_the_format_command_is_idempotent_and_names_the_properties_file() -> None:
    command = storage_format_command("/libs/*", Path("/k/server.properties"), "abc")

    assert command[:5] == ["java", "-cp", "/libs/*", "kafka.tools.StorageTool", "format"]
    assert "--config=/k/server.properties" in command
    assert "--ignore-formatted" in command


def test_by_default_the_broker_listens_and_advertises_on_loopback_only() -> None:
    settings = properties(server_properties(Path("/k"), 9092, 9093))

    assert settings["listeners"] == "PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9093"
    assert settings["advertised.listeners"] == "PLAINTEXT://127.0.0.1:9092"
    assert settings["controller.quorum.voters"] == "1@127.0.0.1:9093"
    assert settings["log.dirs"] == "/k/data"


def test_an_advertised_broker_listens_and_advertises_there_but_its_controller_stays_local() -> None:
    settings = properties(server_properties(Path("/k"), 9092, 9093, host="172.18.0.1"))

    assert settings["listeners"] == "PLAINTEXT://172.18.0.1:9092,CONTROLLER://127.0.0.1:9093"
    assert settings["advertised.listeners"] == "PLAINTEXT://172.18.0.1:9092"
    assert settings["controller.quorum.voters"] == "1@127.0.0.1:9093"
    assert settings["inter.broker.listener.name"] == "PLAINTEXT"
