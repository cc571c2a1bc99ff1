"""Helpers of the end-to-end tests: the pipeline under test as a user sees it, through kubectl,
its REST API and its Kafka topics."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
import pytest

from testenv.demo.cluster import Kubectl, condition_status, pod_addresses

T = TypeVar("T")
API_PORT = 8080


def eventually(check: Callable[[], T | None], *, what: str, timeout: float = 60.0) -> T:
    """Poll until `check` returns something truthy, and return it; fail with `what`."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.3)
    pytest.fail(f"timed out after {timeout:.0f}s waiting for {what} (last: {last!r})")


@dataclass(frozen=True)
class PipelineUnderTest:
    """One QuarantinePipeline in a test namespace, seen through kubectl."""

    kubectl: Kubectl
    namespace: str
    name: str

    def get(self) -> dict[str, Any]:
        """`kubectl get qp <name> -o json`."""
        return self.kubectl.json("get", "qp", self.name, "-n", self.namespace)

    def status(self) -> dict[str, Any]:
        """The pipeline's status."""
        found: dict[str, Any] = self.get().get("status") or {}
        return found

    def ready_with(self, replicas: int) -> dict[str, Any] | None:
        """The pipeline, once Ready with `replicas` ready validators (for `eventually`)."""
        found = self.get()
        status = found.get("status") or {}
        if condition_status(found, "Ready") == "True" and status.get("readyReplicas") == replicas:
            return found
        return None

    def selector(self, component: str) -> str:
        """Label selector of the pipeline's pods of a component (validator, api)."""
        return f"app.kubernetes.io/instance={self.name},app.kubernetes.io/component={component}"

    def pods(self, component: str) -> list[dict[str, Any]]:
        """The pipeline's live pods of a component."""
        items = self.kubectl.json(
            "get", "pods", "-n", self.namespace, "-l", self.selector(component)
        )
        return [pod for pod in items["items"] if not pod["metadata"].get("deletionTimestamp")]

    def column(self, name: str) -> str:
        """A printer column of `kubectl get qp -o wide` (header `name`)."""
        header, row = self.kubectl(
            "get", "qp", self.name, "-n", self.namespace, "-o", "wide"
        ).splitlines()[:2]
        starts = [header.index(title) for title in header.split()]
        titles = header.split()
        index = titles.index(name)
        end = starts[index + 1] if index + 1 < len(starts) else len(row)
        return row[starts[index] : end].strip()

    def api_url(self) -> str:
        """The REST API's address: a ready API pod's IP (reachable where the dev-only pod
        runner runs pods as local processes)."""
        addresses = eventually(
            lambda: pod_addresses(self.kubectl, self.namespace, self.selector("api")),
            what="a ready API pod",
        )
        return f"http://{addresses[0]}:{API_PORT}"


def api_client(url: str, token: str) -> httpx.AsyncClient:
    """A client of the pipeline's REST API with an admin token."""
    return httpx.AsyncClient(
        base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30.0
    )


async def api_get(api: httpx.AsyncClient, path: str, **params: Any) -> dict[str, Any]:
    """GET a JSON document; fail the test on an error status."""
    reply = await api.get(path, params=params)
    assert reply.status_code == 200, reply.text
    found: dict[str, Any] = reply.json()
    return found


async def api_post(
    api: httpx.AsyncClient, path: str, body: Mapping[str, Any], expect: int = 200
) -> dict[str, Any]:
    """POST JSON; fail the test unless the status is `expect`."""
    reply = await api.post(path, json=dict(body))
    assert reply.status_code == expect, reply.text
    found: dict[str, Any] = reply.json()
    return found


def deployment_config_hash(kubectl: Kubectl, namespace: str, name: str) -> str:
    """The config-hash annotation of a Deployment's pod template."""
    deployment = kubectl.json("get", "deployment", name, "-n", namespace)
    annotations = deployment["spec"]["template"]["metadata"].get("annotations") or {}
    return str(annotations.get("dataquarantine.io/config-hash", ""))
