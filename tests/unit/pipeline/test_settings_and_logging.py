from __future__ import annotations

import io
import json
import logging
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from validator_pod.logging import JsonFormatter, RepeatFilter, configure_logging
from validator_pod.metrics import ValidatorMetrics
from validator_pod.settings import Settings


def test_settings_read_dq_variables_and_hide_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DQ_POSTGRES_DSN", "postgresql://u:hunter2@db/dq")
    monkeypatch.setenv("DQ_API_TOKENS", "one, two\nthree")
    monkeypatch.setenv("DQ_KAFKA_SECURITY_PROTOCOL", "sasl_ssl")
    monkeypatch.setenv("DQ_KAFKA_SASL_MECHANISM", "scram-sha-512")
    monkeypatch.setenv("DQ_KAFKA_SASL_USERNAME", "dq")
    monkeypatch.setenv("DQ_KAFKA_SASL_PASSWORD", "pw")
    monkeypatch.setenv("DQ_LOG_LEVEL", "debug")
    monkeypatch.setenv("DQ_POD_NAME", "orders-validator-0")
    settings = Settings()
    assert [t.get_secret_value() for t in settings.api_tokens] == ["one", "two", "three"]
    assert settings.log_level == "DEBUG"
    assert (settings.metrics_port, settings.http_port) == (9400, 8080)
    assert "hunter2" not in repr(settings)
    assert settings.missing("postgres_dsn", "s3_access_key") == ["DQ_S3_ACCESS_KEY"]
    connection = settings.kafka_connection("kafka:9093")
    assert (connection.security_protocol, connection.sasl_mechanism) == (
        "SASL_SSL",
        "SCRAM-SHA-512",
    )
    assert (connection.sasl_username, connection.sasl_password) == ("dq", "pw")
    assert connection.ssl_ca_file is None


def test_a_missing_ca_file_falls_back_to_the_system_trust_store(tmp_path: Path) -> None:
    absent = Settings(kafka_ssl_ca_file=tmp_path / "ca.crt")
    assert absent.kafka_connection("k:9093").ssl_ca_file is None
    (tmp_path / "ca.crt").write_text("pem")
    assert absent.kafka_connection("k:9093").ssl_ca_file == str(tmp_path / "ca.crt")


def test_plaintext_connections_carry_no_sasl_options() -> None:
    options = Settings().kafka_connection("k:9092").client_options()
    assert options == {"bootstrap_servers": "k:9092", "security_protocol": "PLAINTEXT"}


def test_log_lines_are_json_with_context_from_extra() -> None:
    record = logging.LogRecord("dq", logging.WARNING, __file__, 1, "lag %d", (5,), None)
    record.pipeline = "orders"
    record.partition = 3
    line = json.loads(JsonFormatter().format(record))
    assert line["message"] == "lag 5"
    assert line["level"] == "WARNING"
    assert (line["pipeline"], line["partition"]) == ("orders", 3)
    assert line["time"].endswith("+00:00")


def test_exceptions_are_logged_with_their_traceback() -> None:
    stream = io.StringIO()
    configure_logging("INFO", stream)
    try:
        raise ValueError("boom")
    except ValueError:
        logging.getLogger("dq.test").exception("failed", extra={"topic": "t"})
    line = json.loads(stream.getvalue())
    assert line["topic"] == "t"
    assert "ValueError: boom" in line["exception"]
    configure_logging("WARNING")


def test_metrics_live_in_the_registry_they_are_given() -> None:
    registry = CollectorRegistry()
    metrics = ValidatorMetrics(registry, "orders")
    metrics.count_records({("orders.raw", "valid"): 3, ("orders.raw", "invalid"): 0})
    metrics.count_quarantined({"schema_violation": 2})
    metrics.set_lag("orders.raw", 1, 42)
    metrics.forget_partitions([("orders.raw", 1), ("orders.raw", 9)])
    metrics.write_failed("s3")
    text = generate_latest(registry).decode()
    assert (
        'dataquarantine_records_total{pipeline="orders",result="valid",topic="orders.raw"} 3.0'
        in text
    )
    assert 'result="invalid"' not in text
    assert (
        'dataquarantine_quarantined_total{pipeline="orders",reason="schema_violation"} 2.0' in text
    )
    assert 'dataquarantine_quarantine_write_failures_total{target="s3"} 1.0' in text
    assert 'dataquarantine_quarantine_write_failures_total{target="postgres"} 0.0' in text
    assert "dataquarantine_consumer_lag{" not in text
    for name in (
        "batch_duration_seconds",
        "validation_duration_seconds",
        "last_invalid_timestamp_seconds",
    ):
        assert f"dataquarantine_{name}" in text


def test_repeated_library_messages_are_logged_once_per_interval() -> None:
    now = [0.0]
    repeat = RepeatFilter("aiokafka", interval=60, clock=lambda: now[0])

    def record(msg: str, name: str = "aiokafka.conn") -> logging.LogRecord:
        return logging.LogRecord(name, logging.ERROR, __file__, 1, msg, ("node 1",), None)

    assert repeat.filter(record("Unable connect to %s"))
    now[0] = 30
    assert not repeat.filter(record("Unable connect to %s"))
    assert repeat.filter(record("Unable to update metadata from %s"))
    now[0] = 61
    assert repeat.filter(record("Unable connect to %s"))
    assert repeat.filter(record("retrying", name="validator_pod.pipeline"))
    assert repeat.filter(record("retrying", name="validator_pod.pipeline"))
