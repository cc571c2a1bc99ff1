"""The schemas of the mounted config directory, as the API validates against them.

`pipeline.yaml` says which versions the pipeline selects now; `schemas/<name>/<version>.json` holds
every version the operator rendered. Both are re-read when their files change (a ConfigMap volume
swaps its files in place), and each version is compiled once per file revision.

Reprocessing validates only: it builds the pipeline's `RecordEvaluator` in enforce mode without
remediation, so a record passes only when its original bytes pass, and those are what is replayed.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from pydantic import ValidationError

from validator_pod.domain.pipeline_config import (
    CONFIG_FILE_NAME,
    SCHEMAS_DIR_NAME,
    Mode,
    PipelineConfig,
    SchemaRef,
    SchemaSelection,
    schema_file_name,
)
from validator_pod.domain.schemas import SchemaVersion
from validator_pod.pipeline.config_loading import ConfigError, load_pipeline
from validator_pod.validation.compiling import CompiledSchema, SchemaCompileError, compile_schema
from validator_pod.validation.evaluating import RecordEvaluator

logger = logging.getLogger(__name__)

_VERSION_FILE: Final = re.compile(r"^([1-9][0-9]{0,9})\.json$")
_NAME: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


class SchemaFileError(Exception):
    """A schema version file exists but cannot be read, parsed or compiled."""


@dataclass(frozen=True, slots=True)
class _Stamp:
    mtime_ns: int
    size: int
    inode: int


def _stamp(path: Path) -> _Stamp | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return _Stamp(stat.st_mtime_ns, stat.st_size, stat.st_ino)


@dataclass(frozen=True, slots=True)
class _Compiled:
    stamp: _Stamp
    version: SchemaVersion
    schema: CompiledSchema


def for_replay(config: PipelineConfig, selection: SchemaSelection | None = None) -> PipelineConfig:
    """The pipeline's configuration as reprocessing uses it: enforce mode, no remediation (a
    record passes only when its original bytes do), and optionally another schema selection."""
    update: dict[str, object] = {"mode": Mode.ENFORCE, "remediation_enabled": False}
    if selection is not None:
        update["schema_selection"] = selection
    return config.model_copy(update=update)


class SchemaCatalog:
    """Schema versions of the config directory, compiled on demand and cached."""

    def __init__(self, config_dir: Path, config: PipelineConfig) -> None:
        """`config` is the pipeline as loaded at start-up (the API's bindings come from it)."""
        self._dir = config_dir
        self._config = config
        self._config_stamp = _stamp(config_dir / CONFIG_FILE_NAME)
        self._compiled: dict[SchemaRef, _Compiled] = {}
        self._evaluators: dict[tuple[SchemaRef | None, _Stamp | None], RecordEvaluator] = {}

    def config(self) -> PipelineConfig:
        """The pipeline's configuration, re-read when `pipeline.yaml` changed; the last good one
        when the new file is invalid (logged)."""
        stamp = _stamp(self._dir / CONFIG_FILE_NAME)
        if stamp != self._config_stamp:
            try:
                self._config = load_pipeline(self._dir).config
            except ConfigError as exc:
                logger.warning("keeping the previous pipeline configuration: %s", exc)
            self._config_stamp = stamp
        return self._config

    def names(self) -> list[str]:
        """Schema subjects that have a directory under `schemas/`."""
        root = self._dir / SCHEMAS_DIR_NAME
        try:
            entries = sorted(entry.name for entry in root.iterdir() if entry.is_dir())
        except OSError:
            return []
        return [name for name in entries if _NAME.match(name)]

    def versions(self, name: str) -> list[int]:
        """The versions of `name` present in the directory, ascending."""
        if not _NAME.match(name):
            return []
        try:
            files = [entry.name for entry in (self._dir / SCHEMAS_DIR_NAME / name).iterdir()]
        except OSError:
            return []
        return sorted(int(match[1]) for match in map(_VERSION_FILE.match, files) if match)

    def current_version(self, name: str) -> int | None:
        """The version the pipeline selects by default for `name`, if `name` is its default."""
        default = self.config().schema_selection.default
        return default.version if default.name == name else None

    def compiled(self, ref: SchemaRef) -> tuple[SchemaVersion, CompiledSchema] | None:
        """A version and its compiled form; None when its file does not exist. Raise
        `SchemaFileError` when the file is invalid."""
        if not _NAME.match(ref.name):
            return None
        path = self._dir / schema_file_name(ref)
        stamp = _stamp(path)
        if stamp is None:
            return None
        cached = self._compiled.get(ref)
        if cached is not None and cached.stamp == stamp:
            return cached.version, cached.schema
        try:
            version = SchemaVersion.model_validate_json(path.read_bytes())
        except (OSError, ValidationError) as exc:
            raise SchemaFileError(f"{path}: {exc}") from exc
        if (version.name, version.version) != (ref.name, ref.version):
            raise SchemaFileError(
                f"{path}: holds {version.name} version {version.version}, expected "
                f"{ref.name} version {ref.version}"
            )
        try:
            schema = compile_schema(version)
        except SchemaCompileError as exc:
            raise SchemaFileError(f"{path}: {exc}") from exc
        self._compiled[ref] = _Compiled(stamp, version, schema)
        return version, schema

    def evaluator(self, ref: SchemaRef | None = None) -> RecordEvaluator | None:
        """The evaluator reprocessing uses: the pipeline's current selection, or only `ref`;
        None when `ref` does not exist. Referenced versions that are missing make records that
        need them `unknown_schema`, as in the validator."""
        config = self.config()
        key = (ref, self._config_stamp)
        cached = self._evaluators.get(key)
        if cached is not None and all(self._is_fresh(r) for r in self._refs(config, ref)):
            return cached
        if ref is not None:
            found = self.compiled(ref)
            if found is None:
                return None
            evaluator = RecordEvaluator(
                for_replay(config, SchemaSelection(default=ref)), {ref: found[1]}
            )
        else:
            schemas: dict[SchemaRef, CompiledSchema] = {}
            for referenced in config.referenced_schemas():
                found = self.compiled(referenced)
                if found is not None:
                    schemas[referenced] = found[1]
            evaluator = RecordEvaluator(for_replay(config), schemas)
        self._evaluators[key] = evaluator
        return evaluator

    def _refs(self, config: PipelineConfig, ref: SchemaRef | None) -> tuple[SchemaRef, ...]:
        return (ref,) if ref is not None else config.referenced_schemas()

    def _is_fresh(self, ref: SchemaRef) -> bool:
        cached = self._compiled.get(ref)
        return cached is not None and cached.stamp == _stamp(self._dir / schema_file_name(ref))
