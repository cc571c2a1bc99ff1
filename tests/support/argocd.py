"""Runs the Argo CD health scripts in manifests/argocd the way Argo CD does: `obj` in, `hs` out.

Argo CD embeds gopher-lua (Lua 5.1); lupa embeds a newer Lua. The scripts use only the common
subset (tables, ipairs, string concatenation), so the result is the same.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lupa import LuaRuntime

CUSTOMIZATIONS = (
    Path(__file__).resolve().parents[2] / "manifests" / "argocd" / "resource_customizations"
)


@dataclass(frozen=True)
class Health:
    """What Argo CD would show for a resource."""

    status: str
    message: str


def health_script(group: str, kind: str) -> Path:
    """Path of the health.lua for a kind, in Argo CD's resource_customizations layout."""
    return CUSTOMIZATIONS / group / kind / "health.lua"


def evaluate_health(obj: dict[str, Any]) -> Health:
    """Run the kind's health.lua against a resource as Argo CD would."""
    group = obj["apiVersion"].split("/")[0]
    script = health_script(group, obj["kind"]).read_text()
    lua = LuaRuntime(unpack_returned_tuples=True)
    lua.globals().obj = lua.table_from(obj, recursive=True)
    result = lua.execute(script)
    return Health(status=str(result["status"]), message=str(result["message"] or ""))
