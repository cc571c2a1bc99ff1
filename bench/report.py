"""Results: the targets of issue 3, the printed table and the JSON file."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

RECORDS_PER_SECOND_TARGET: Final = 40_000
PASSTHROUGH_RATIO_TARGET: Final = 0.8
ALL_INVALID_TARGET: Final = 15_000
P99_TARGET_MS: Final = 10.0
RSS_TARGET_MB: Final = 200
ORIGINAL_RATIO_TARGET: Final = 20.0

FLOOR: Final = "floor"
PIPELINE: Final = "pipeline"
ALL_INVALID: Final = "pipeline-all-invalid"
PASSTHROUGH: Final = "passthrough"
ORIGINAL: Final = "original"


@dataclass(frozen=True, slots=True)
class Target:
    """One target: what it asks, what was measured, and whether it passed (None: not run)."""

    name: str
    measured: str
    passed: bool | None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"target": self.name, "measured": self.measured, "pass": self.passed}


def _rps(scenarios: dict[str, Any], key: str) -> float | None:
    throughput = (scenarios.get(key) or {}).get("throughput")
    return None if throughput is None else float(throughput["records_per_second"])


def _latency(scenarios: dict[str, Any], key: str) -> dict[str, Any] | None:
    latency: dict[str, Any] | None = (scenarios.get(key) or {}).get("latency")
    return latency


def ratios(scenarios: dict[str, Any]) -> None:
    """Add `vs_passthrough` and `vs_original` (throughput ratios) to each scenario."""
    passthrough = _rps(scenarios, PASSTHROUGH)
    original = _rps(scenarios, ORIGINAL)
    for key, result in scenarios.items():
        rps = _rps(scenarios, key)
        result["vs_passthrough"] = None if rps is None or not passthrough else rps / passthrough
        result["vs_original"] = None if rps is None or not original else rps / original


def evaluate_targets(scenarios: dict[str, Any], invalid_share: float) -> list[Target]:
    """Issue 3's targets against this run (a scenario that did not run leaves its target open)."""
    targets: list[Target] = []
    share = f"{invalid_share:.0%} invalid"
    rps = _rps(scenarios, PIPELINE)
    targets.append(
        Target(
            f"pipeline >= {RECORDS_PER_SECOND_TARGET:,} records/s on one core ({share})",
            "not run" if rps is None else f"{rps:,.0f} records/s",
            None if rps is None else rps >= RECORDS_PER_SECOND_TARGET,
        )
    )
    ratio = (scenarios.get(PIPELINE) or {}).get("vs_passthrough")
    targets.append(
        Target(
            f"pipeline >= {PASSTHROUGH_RATIO_TARGET}x passthrough in the same run",
            "not run" if ratio is None else f"{ratio:.2f}x",
            None if ratio is None else ratio >= PASSTHROUGH_RATIO_TARGET,
        )
    )
    rps_all = _rps(scenarios, ALL_INVALID)
    targets.append(
        Target(
            f"pipeline >= {ALL_INVALID_TARGET:,} records/s at 100% invalid",
            "not run" if rps_all is None else f"{rps_all:,.0f} records/s",
            None if rps_all is None else rps_all >= ALL_INVALID_TARGET,
        )
    )
    latency = _latency(scenarios, PIPELINE)
    floor = _latency(scenarios, FLOOR)
    p99 = None if latency is None else latency["p99_ms"]
    measured = "not run"
    if latency is not None:
        complete = latency["received"] == latency["expected"]
        measured = f"p99 {latency['p99_ms']:.2f} ms over {latency['received']:,} records"
        measured += "" if complete else " (SOME MISSING)"
        if floor is not None:
            measured += f"; harness floor p99 {floor['p99_ms']:.2f} ms"
    targets.append(
        Target(
            f"pipeline p99 < {P99_TARGET_MS:g} ms at "
            f"{latency['offered_per_second'] if latency else 10_000:,.0f} records/s offered "
            f"({share})",
            measured,
            None
            if latency is None or p99 is None
            else (p99 < P99_TARGET_MS and latency["received"] == latency["expected"]),
        )
    )
    peaks = [
        (key, scenarios[key]["peak_rss_bytes"] / 2**20)
        for key in (PIPELINE, ALL_INVALID)
        if (scenarios.get(key) or {}).get("peak_rss_bytes")
    ]
    targets.append(
        Target(
            f"pipeline peak RSS < {RSS_TARGET_MB} MB",
            "not run" if not peaks else ", ".join(f"{key} {mb:.0f} MB" for key, mb in peaks),
            None if not peaks else all(mb < RSS_TARGET_MB for _, mb in peaks),
        )
    )
    versus = (scenarios.get(PIPELINE) or {}).get("vs_original")
    targets.append(
        Target(
            f"pipeline >= {ORIGINAL_RATIO_TARGET:g}x the original design's approach",
            "not run" if versus is None else f"{versus:,.0f}x",
            None if versus is None else versus >= ORIGINAL_RATIO_TARGET,
        )
    )
    return targets


def _num(value: float | None, fmt: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return format(value, fmt)


def table(scenarios: dict[str, Any]) -> str:
    """The side-by-side table, as Markdown (readable in a terminal, pasteable in the README).
    A row marked (!) has warnings (see `warnings`)."""
    header = (
        "| scenario | records/s | p50 ms | p99 ms | max ms | peak RSS MB | µs CPU/record "
        "| records/CPU-s | core busy | x passthrough | x original |"
    )
    lines = [header, "|" + "---|" * 11]
    for result in scenarios.values():
        throughput = result.get("throughput") or {}
        latency = result.get("latency") or {}
        rss = result.get("peak_rss_bytes")
        share = throughput.get("subject_core_share")
        row = [
            result["label"] + (" (!)" if result.get("warnings") else ""),
            "FAILED" if result.get("error") else _num(throughput.get("records_per_second"), ",.0f"),
            _num(latency.get("p50_ms"), ".2f"),
            _num(latency.get("p99_ms"), ".2f"),
            _num(latency.get("max_ms"), ".2f"),
            _num(None if rss is None else rss / 2**20, ".0f"),
            _num(throughput.get("cpu_us_per_record"), ".1f"),
            _num(throughput.get("records_per_cpu_second"), ",.0f"),
            "-" if share is None else f"{share:.0%}",
            _num(result.get("vs_passthrough"), ".2f"),
            _num(result.get("vs_original"), ",.1f"),
        ]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def warnings(scenarios: dict[str, Any]) -> str:
    """The warnings and errors of every scenario, one line each."""
    lines = [
        f"(!) {result['label']}: {warning}"
        for result in scenarios.values()
        for warning in result.get("warnings", [])
    ]
    lines += [
        f"FAILED {result['label']}: {result['error']}"
        for result in scenarios.values()
        if result.get("error")
    ]
    return "\n".join(lines)


def targets_table(targets: list[Target]) -> str:
    """Pass/fail per target, as Markdown."""
    lines = ["| target | measured | result |", "|---|---|---|"]
    for target in targets:
        verdict = {True: "PASS", False: "FAIL", None: "not run"}[target.passed]
        lines.append(f"| {target.name} | {target.measured} | {verdict} |")
    return "\n".join(lines)


def write_json(document: dict[str, Any], *paths: Path) -> None:
    """Write `document` to each path (parents created)."""
    text = json.dumps(document, indent=2, sort_keys=False, default=str) + "\n"
    for path in paths:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
