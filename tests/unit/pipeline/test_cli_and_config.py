from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.unit.pipeline.conftest import ORDERS, ConfigFactory
from validator_pod.cli import build_parser, main
from validator_pod.domain.schemas import SchemaVersion
from validator_pod.pipeline.config_loading import ConfigError, load_pipeline
from validator_pod.pipeline.service import transactional_id


def write_config_dir(root: Path, make_config: ConfigFactory, version: SchemaVersion) -> Path:
    config = make_config()
    (root / "pipeline.yaml").write_text(
        yaml.safe_dump(config.model_dump(mode="json", by_alias=True))
    )
    schema = root / "schemas" / "orders" / "3.json"
    schema.parent.mkdir(parents=True)
    schema.write_text(version.model_dump_json(by_alias=True))
    return root


def test_the_config_directory_yields_the_pipeline_and_its_schema_versions(
    tmp_path: Path, make_config: ConfigFactory, order_version: SchemaVersion
) -> None:
    loaded = load_pipeline(write_config_dir(tmp_path, make_config, order_version))
    assert loaded.config == make_config()
    assert loaded.schemas == (order_version,)


def test_a_missing_schema_file_is_named_in_the_error(
    tmp_path: Path, make_config: ConfigFactory, order_version: SchemaVersion
) -> None:
    write_config_dir(tmp_path, make_config, order_version)
    (tmp_path / "schemas" / "orders" / "3.json").unlink()
    with pytest.raises(ConfigError, match=r"schemas/orders/3\.json"):
        load_pipeline(tmp_path)


def test_a_schema_file_holding_another_version_is_refused(
    tmp_path: Path, make_config: ConfigFactory, order_version: SchemaVersion
) -> None:
    write_config_dir(tmp_path, make_config, order_version)
    other = order_version.model_copy(update={"version": 2})
    (tmp_path / "schemas" / "orders" / "3.json").write_text(other.model_dump_json(by_alias=True))
    with pytest.raises(ConfigError, match="expected orders version 3"):
        load_pipeline(tmp_path)


def test_an_invalid_pipeline_yaml_is_named_in_the_error(tmp_path: Path) -> None:
    (tmp_path / "pipeline.yaml").write_text("name: [")
    with pytest.raises(ConfigError, match=r"pipeline\.yaml"):
        load_pipeline(tmp_path)


def test_run_with_a_broken_config_dir_exits_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DQ_CONFIG_DIR", raising=False)
    assert main(["run", "--config-dir", str(tmp_path)]) == 2


def test_help_lists_the_commands_and_the_environment(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args(["--help"])
    assert exited.value.code == 0
    text = capsys.readouterr().out
    for expected in ("run", "api", "DQ_POSTGRES_DSN", "DQ_METRICS_PORT", "exit status"):
        assert expected in text


def test_the_transactional_id_is_stable_per_consumer_group_and_pod(
    make_config: ConfigFactory,
) -> None:
    assert (
        transactional_id(make_config(), "orders-validator-0") == "dq-shop-orders-orders-validator-0"
    )
    assert ORDERS.version == 3
