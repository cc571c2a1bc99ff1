"""The Kafka service's storage-format command line (CI once failed on a random cluster id)."""

from pathlib import Path

from testenv.services.kafka import storage_format_command


def test_a_cluster_id_starting_with_a_dash_is_not_mistaken_for_an_option() -> None:
    command = storage_format_command("/libs/*", Path("/k/server.properties"), "-kY2m3xQ")

    assert "--cluster-id=-kY2m3xQ" in command
    assert "-kY2m3xQ" not in command


def test_the_format_command_is_idempotent_and_names_the_properties_file() -> None:
    command = storage_format_command("/libs/*", Path("/k/server.properties"), "abc")

    assert command[:5] == ["java", "-cp", "/libs/*", "kafka.tools.StorageTool", "format"]
    assert "--config=/k/server.properties" in command
    assert "--ignore-formatted" in command
