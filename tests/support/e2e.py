"""Helpers of the end-to-end tests: the pipeline under test as a user sees it, through kubectl,
its REST API and its Kafka topics."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx

from testenv.demo.cluster import (
    Kubectl,
    condition_status,
    has_ready_node,
    pod_addresses,
    port_forward,
)
from tests.support import polling

T = TypeVar("T")
API_PORT = 8080
"""The API pods' port."""
API_SERVICE_PORT = 80
"""The port of the Service `<pipeline>-api`."""
PAUSE_ANNOTATION = "dataquarantine.io/pause-reconciliation"


def eventually(check: Callable[[], T | None], *, what: str, timeout: float = 60.0) -> T:
    """`polling.eventually` with the end-to-end tests' longer wait and slower polling (real
    pods start, and every check runs kubectl)."""
    return polling.eventually(check, what=what, timeout=timeout, interval=0.3)


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

    def halted(self, reason: str) -> dict[str, Any] | None:
        """The pipeline, once its validators are gone and Ready=True says why (`reason`:
        PipelinePaused or PipelineStopped) in the current generation (for `eventually`)."""
        found = self.get()
        status = found.get("status") or {}
        ready = next((c for c in status.get("conditions") or () if c["type"] == "Ready"), {})
        if (
            status.get("observedGeneration") == found["metadata"]["generation"]
            and (ready.get("status"), ready.get("reason")) == ("True", reason)
            and (status.get("replicas"), status.get("readyReplicas")) == (0, 0)
            and not self.pods("validator")
        ):
            return found
        return None

    def event_reasons(self) -> set[str]:
        """The reasons of the Events about the pipeline."""
        found = self.kubectl.json(
            "get",
            "events",
            "-n",
            self.namespace,
            "--field-selector",
            f"involvedObject.kind=QuarantinePipeline,involvedObject.name={self.name}",
        )
        return {str(event["reason"]) for event in found["items"]}

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

    def condition(self, type_: str) -> dict[str, Any] | None:
        """The pipeline's condition of this type, if any."""
        for entry in self.status().get("conditions") or ():
            if entry.get("type") == type_:
                found: dict[str, Any] = entry
                return found
        return None

    def patch_spec(self, **changes: Any) -> None:
        """`kubectl patch qp --type=merge` of these spec fields."""
        patch = json.dumps({"spec": changes})
        self.kubectl("patch", "qp", self.name, "-n", self.namespace, "--type=merge", "-p", patch)

    def pause_reconciliation(self, paused: bool) -> None:
        """`kubectl annotate` the pause annotation to "true", or remove it."""
        value = f"{PAUSE_ANNOTATION}=true" if paused else f"{PAUSE_ANNOTATION}-"
        self.kubectl("annotate", "qp", self.name, "-n", self.namespace, "--overwrite", value)

    def consumer_group(self) -> str:
        """The validators' Kafka consumer group (spec.kafka.consumerGroup or its default)."""
        kafka = self.get()["spec"]["kafka"]
        return str(kafka.get("consumerGroup") or f"dq-{self.namespace}-{self.name}")

    def api_url(self) -> str:
        """A ready API pod's address (reachable from here only where the dev-only pod runner
        runs the pods as local processes)."""
        addresses = eventually(
            lambda: pod_addresses(self.kubectl, self.namespace, self.selector("api")),
            what="a ready API pod",
        )
        return f"http://{addresses[0]}:{API_PORT}"

    @asynccontextmanager
    async def api(self, token: str) -> AsyncIterator[httpx.AsyncClient]:
        """A client of the pipeline's REST API with this token, once an API pod is ready.

        Where the dev-only pod runner runs the pods (no kubelet), their IPs are local addresses
        and the client talks to a pod directly. On a real cluster pod IPs are not reachable from
        here, and the client goes through `kubectl port-forward svc/<pipeline>-api` on a free
        local port, as a user would."""
        url = self.api_url()
        if not has_ready_node(self.kubectl):
            async with api_client(url, token) as client:
                yield client
            return
        service = f"svc/{self.name}-api"
        with port_forward(self.kubectl, self.namespace, service, API_SERVICE_PORT) as port:
            async with api_client(f"http://127.0.0.1:{port}", token) as client:
                yield client


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
