"""A trivial kopf operator for the smoke test: it stamps every new Widget's status."""

from __future__ import annotations

from typing import Any

import kopf

#: A registry of its own: other tests may run the real operator's handlers in the same process.
registry = kopf.OperatorRegistry()


@kopf.on.login(registry=registry)
def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
    """Read $KUBECONFIG when kopf starts (the kubernetes client reads it once, at import)."""
    return kopf.login_with_kubeconfig(**kwargs)


@kopf.on.create("smoke.dataquarantine.io", "v1", "widgets", registry=registry)
def widget_create(spec: kopf.Spec, **_: Any) -> dict[str, Any]:
    """The handler's return value lands in status.widget_create."""
    return {"seenSize": spec.get("size", 0)}
