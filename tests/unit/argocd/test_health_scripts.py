"""The Argo CD health scripts give the documented verdict for every case in health_test.yaml."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.argocd import CUSTOMIZATIONS, Health, evaluate_health


def _cases() -> list[Any]:
    cases = []
    for test_file in sorted(CUSTOMIZATIONS.glob("*/*/health_test.yaml")):
        for case in yaml.safe_load(test_file.read_text())["tests"]:
            input_path = test_file.parent / case["inputPath"]
            case_id = f"{test_file.parent.name}/{Path(case['inputPath']).stem}"
            cases.append(pytest.param(input_path, case["healthStatus"], id=case_id))
    return cases


def test_every_kind_has_a_health_script_and_test_cases() -> None:
    kinds = {p.parent.name for p in CUSTOMIZATIONS.glob("*/*/health.lua")}
    tested = {p.parent.name for p in CUSTOMIZATIONS.glob("*/*/health_test.yaml")}
    assert kinds == tested == {"QuarantinePipeline", "ValidationSchema"}


@pytest.mark.parametrize(("input_path", "expected"), _cases())
def test_health_script_reports_the_expected_status(
    input_path: Path, expected: dict[str, str]
) -> None:
    obj = yaml.safe_load(input_path.read_text())
    assert evaluate_health(obj) == Health(status=expected["status"], message=expected["message"])
