"""Reading the mounted config directory: `pipeline.yaml` and the schema versions it references."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import ValidationError

from validator_pod.domain.pipeline_config import CONFIG_FILE_NAME, PipelineConfig, schema_file_name
from validator_pod.domain.schemas import SchemaVersion


class ConfigError(Exception):
    """The config directory is missing, unreadable or invalid; the message says which file."""


@dataclass(frozen=True, slots=True)
class LoadedPipeline:
    """A pipeline's configuration and every schema version it references."""

    config: PipelineConfig
    schemas: tuple[SchemaVersion, ...]


def load_pipeline(config_dir: Path) -> LoadedPipeline:
    """Read `pipeline.yaml` and `schemas/<name>/<version>.json` for each referenced version;
    raise `ConfigError` naming the file at fault."""
    config_path = config_dir / CONFIG_FILE_NAME
    try:
        document = yaml.safe_load(config_path.read_text(encoding="utf-8"))
        config = PipelineConfig.model_validate(document)
    except (OSError, yaml.YAMLError, ValidationError) as exc:
        raise ConfigError(f"{config_path}: {exc}") from exc
    schemas: list[SchemaVersion] = []
    for ref in config.referenced_schemas():
        path = config_dir / schema_file_name(ref)
        try:
            schema = SchemaVersion.model_validate_json(path.read_bytes())
        except (OSError, ValidationError) as exc:
            raise ConfigError(f"{path}: {exc}") from exc
        if (schema.name, schema.version) != (ref.name, ref.version):
            raise ConfigError(
                f"{path}: holds {schema.name} version {schema.version}, "
                f"expected {ref.name} version {ref.version}"
            )
        schemas.append(schema)
    return LoadedPipeline(config=config, schemas=tuple(schemas))
