"""The runner's only caller of the Kubernetes API, with the local stack's admin kubeconfig (a
kubelet stand-in needs to write nodes, leases, pod bindings and pod status, and to read Secrets).

Objects come and go as JSON-shaped dicts (camelCase keys), read raw from the API server; every
failure becomes an `ApiError` that says whether it is worth retrying.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Final, cast

import urllib3
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from kubernetes.watch import Watch

from testenv.podrunner.statuses import NODE_LEASE_NAMESPACE

REQUEST_TIMEOUT: Final = (5.0, 30.0)
MERGE_PATCH: Final = "application/merge-patch+json"


class ApiError(Exception):
    """An API call failed; `status` is None when the server could not be reached."""

    def __init__(self, action: str, status: int | None, message: str) -> None:
        super().__init__(f"{action}: {message}")
        self.status = status

    @property
    def not_found(self) -> bool:
        """HTTP 404."""
        return self.status == 404

    @property
    def conflict(self) -> bool:
        """HTTP 409 (already exists, or a precondition failed)."""
        return self.status == 409

    @property
    def expired(self) -> bool:
        """HTTP 410: the watch's resourceVersion is too old, list again."""
        return self.status == 410


def _message(exc: ApiException) -> str:
    try:
        status = json.loads(exc.body or "")
    except ValueError:
        status = None
    if isinstance(status, dict) and isinstance(status.get("message"), str):
        return str(status["message"])
    return f"HTTP {exc.status} {exc.reason}"


@contextmanager
def _translated(action: str) -> Iterator[None]:
    try:
        yield
    except ApiException as exc:
        raise ApiError(action, exc.status, _message(exc)) from exc
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        raise ApiError(action, None, str(exc) or type(exc).__name__) from exc


def _json(response: Any) -> dict[str, Any]:
    """The body of a raw (`_preload_content=False`) response; the connection is released."""
    raw = cast(urllib3.BaseHTTPResponse, response)
    try:
        body = json.loads(raw.data)
    finally:
        raw.release_conn()
    assert isinstance(body, dict)
    return body


def _read_or_none(action: str, read: Callable[[], Any]) -> dict[str, Any] | None:
    """The object a raw read returns, or None when it does not exist (HTTP 404)."""
    with _translated(action):
        try:
            return _json(read())
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise


def _read_namespaced(
    kind: str, read: Callable[..., Any], namespace: str, name: str
) -> dict[str, Any] | None:
    """A namespaced object through the client's `read_namespaced_*` method `read`, or None."""
    return _read_or_none(
        f"reading {kind} {namespace}/{name}",
        lambda: read(name, namespace, _preload_content=False, _request_timeout=REQUEST_TIMEOUT),
    )


def _read_owned(
    read: Callable[..., Any], namespace: str, reference: Mapping[str, Any]
) -> dict[str, Any] | None:
    """The object an ownerReference names, or None when it is gone or another incarnation."""
    found = _read_namespaced(reference["kind"], read, namespace, reference["name"])
    if found is None or found["metadata"].get("uid") != reference.get("uid"):
        return None
    return found


def load_configuration(kubeconfig: Path) -> client.Configuration:
    """A client configuration from the kubeconfig file; nothing global is modified."""
    configuration = client.Configuration()
    config.load_kube_config(  # type: ignore[no-untyped-call]
        config_file=str(kubeconfig), client_configuration=configuration
    )
    return configuration


def controller_of(obj: Mapping[str, Any], kind: str) -> Mapping[str, Any] | None:
    """The object's controller ownerReference, when it is of this kind."""
    for reference in obj.get("metadata", {}).get("ownerReferences") or ():
        if reference.get("controller") and reference.get("kind") == kind:
            return cast(Mapping[str, Any], reference)
    return None


class Kube:
    """The calls a kubelet makes, over one ApiClient (the caller owns and closes it)."""

    def __init__(self, api: client.ApiClient) -> None:
        self._core = client.CoreV1Api(api)
        self._apps = client.AppsV1Api(api)
        self._coordination = client.CoordinationV1Api(api)

    # --- The node and its heartbeat ---

    def register_node(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """Create the Node, or take over an existing one of that name (labels and status);
        returns it as stored."""
        name = body["metadata"]["name"]
        with _translated(f"registering node {name}"):
            try:
                return _json(
                    self._core.create_node(
                        client.V1Node.model_validate(dict(body)),
                        _preload_content=False,
                        _request_timeout=REQUEST_TIMEOUT,
                    )
                )
            except ApiException as exc:
                if exc.status != 409:
                    raise
            self._core.patch_node(
                name,
                {"metadata": {"labels": body["metadata"]["labels"]}},
                _content_type=MERGE_PATCH,
                _request_timeout=REQUEST_TIMEOUT,
            )
            return self.patch_node_status(name, body["status"])

    def read_node(self, name: str) -> dict[str, Any] | None:
        """The Node, or None."""
        return _read_or_none(
            f"reading node {name}",
            lambda: self._core.read_node(
                name, _preload_content=False, _request_timeout=REQUEST_TIMEOUT
            ),
        )

    def patch_node_status(self, name: str, status: Mapping[str, Any]) -> dict[str, Any]:
        """Merge `status` into the Node's status."""
        with _translated(f"writing the status of node {name}"):
            return _json(
                self._core.patch_node_status(
                    name,
                    {"status": dict(status)},
                    _content_type=MERGE_PATCH,
                    _preload_content=False,
                    _request_timeout=REQUEST_TIMEOUT,
                )
            )

    def delete_node(self, name: str) -> None:
        """Delete the Node and its Lease (gone already is fine)."""
        with _translated(f"deleting node {name}"):
            try:
                self._coordination.delete_namespaced_lease(
                    name, NODE_LEASE_NAMESPACE, _request_timeout=REQUEST_TIMEOUT
                )
            except ApiException as exc:
                if exc.status != 404:
                    raise
            try:
                self._core.delete_node(name, _request_timeout=REQUEST_TIMEOUT)
            except ApiException as exc:
                if exc.status != 404:
                    raise

    def renew_lease(self, body: Mapping[str, Any]) -> None:
        """Renew the node's Lease, creating it when missing."""
        name = body["metadata"]["name"]
        with _translated(f"renewing the lease of node {name}"):
            try:
                self._coordination.patch_namespaced_lease(
                    name,
                    NODE_LEASE_NAMESPACE,
                    {"spec": body["spec"]},
                    _content_type=MERGE_PATCH,
                    _request_timeout=REQUEST_TIMEOUT,
                )
            except ApiException as exc:
                if exc.status != 404:
                    raise
                self._coordination.create_namespaced_lease(
                    NODE_LEASE_NAMESPACE,
                    client.V1Lease.model_validate(dict(body)),
                    _request_timeout=REQUEST_TIMEOUT,
                )

    # --- Pods ---

    def list_pods(self, namespace: str | None, selector: str) -> tuple[list[dict[str, Any]], str]:
        """The pods matching the label selector, and the list's resourceVersion."""
        with _translated("listing pods"):
            if namespace is None:
                response = self._core.list_pod_for_all_namespaces(
                    label_selector=selector,
                    _preload_content=False,
                    _request_timeout=REQUEST_TIMEOUT,
                )
            else:
                response = self._core.list_namespaced_pod(
                    namespace,
                    label_selector=selector,
                    _preload_content=False,
                    _request_timeout=REQUEST_TIMEOUT,
                )
            found = _json(response)
        return list(found.get("items") or []), str(found["metadata"]["resourceVersion"])

    def watch_pods(
        self,
        watch: Watch,
        namespace: str | None,
        selector: str,
        resource_version: str,
        timeout: int,
    ) -> Iterator[tuple[str, dict[str, Any]]]:
        """(type, pod) events from `resource_version` until the server ends the watch after
        `timeout` seconds or `watch.stop()` is called; BOOKMARK events carry only metadata."""
        arguments: dict[str, Any] = {
            "label_selector": selector,
            "resource_version": resource_version,
            "timeout_seconds": timeout,
            "allow_watch_bookmarks": True,
            "deserialize": False,
            "_request_timeout": (REQUEST_TIMEOUT[0], timeout + 15.0),
        }
        with _translated("watching pods"):
            if namespace is None:
                events = watch.stream(self._core.list_pod_for_all_namespaces, **arguments)  # type: ignore[no-untyped-call]
            else:
                events = watch.stream(self._core.list_namespaced_pod, namespace, **arguments)  # type: ignore[no-untyped-call]
            for event in events:
                yield str(event["type"]), event["object"]

    def bind(self, pod: Mapping[str, Any], node: str) -> bool:
        """Bind the pod to the node (pods/binding); False when it is bound already."""
        metadata = pod["metadata"]
        binding = client.V1Binding(
            metadata=client.V1ObjectMeta(name=metadata["name"], uid=metadata.get("uid")),
            target=client.V1ObjectReference(api_version="v1", kind="Node", name=node),
        )
        with _translated(f"binding pod {metadata['namespace']}/{metadata['name']}"):
            try:
                # The API server answers with a Status, which the typed client cannot read
                # as the Binding it announces: take the raw response.
                _json(
                    self._core.create_namespaced_pod_binding(
                        metadata["name"],
                        metadata["namespace"],
                        binding,
                        _preload_content=False,
                        _request_timeout=REQUEST_TIMEOUT,
                    )
                )
            except ApiException as exc:
                if exc.status == 409:
                    return False
                raise
        return True

    def patch_pod_status(self, pod: Mapping[str, Any], status: Mapping[str, Any]) -> bool:
        """Merge `status` into the pod's status; False when the pod is gone."""
        metadata = pod["metadata"]
        with _translated(f"writing the status of pod {metadata['namespace']}/{metadata['name']}"):
            try:
                self._core.patch_namespaced_pod_status(
                    metadata["name"],
                    metadata["namespace"],
                    {"status": dict(status)},
                    _content_type=MERGE_PATCH,
                    _request_timeout=REQUEST_TIMEOUT,
                )
            except ApiException as exc:
                if exc.status == 404:
                    return False
                raise
        return True

    def finalise_deletion(self, pod: Mapping[str, Any]) -> None:
        """Delete the pod for good (grace period 0, only this incarnation), as a kubelet does
        once its containers have stopped."""
        metadata = pod["metadata"]
        options = client.V1DeleteOptions(
            grace_period_seconds=0, preconditions=client.V1Preconditions(uid=metadata["uid"])
        )
        with _translated(f"deleting pod {metadata['namespace']}/{metadata['name']}"):
            try:
                _json(
                    self._core.delete_namespaced_pod(
                        metadata["name"],
                        metadata["namespace"],
                        body=options,
                        _preload_content=False,
                        _request_timeout=REQUEST_TIMEOUT,
                    )
                )
            except ApiException as exc:
                if exc.status not in (404, 409):
                    raise

    def post_event(self, body: Mapping[str, Any]) -> None:
        """Create an Event."""
        with _translated(f"posting an Event in {body['metadata']['namespace']}"):
            _json(
                self._core.create_namespaced_event(
                    body["metadata"]["namespace"],
                    client.CoreV1Event.model_validate(dict(body)),
                    _preload_content=False,
                    _request_timeout=REQUEST_TIMEOUT,
                )
            )

    def owning_deployment(self, pod: Mapping[str, Any]) -> dict[str, Any] | None:
        """The Deployment that controls the pod through its ReplicaSet, or None."""
        namespace = pod["metadata"]["namespace"]
        replica_set_ref = controller_of(pod, "ReplicaSet")
        if replica_set_ref is None:
            return None
        replica_set = _read_owned(
            self._apps.read_namespaced_replica_set, namespace, replica_set_ref
        )
        deployment_ref = controller_of(replica_set or {}, "Deployment")
        if deployment_ref is None:
            return None
        return _read_owned(self._apps.read_namespaced_deployment, namespace, deployment_ref)

    # --- Secrets and ConfigMaps ---

    def read_secret(self, namespace: str, name: str) -> dict[str, bytes] | None:
        """A Secret's data, decoded; None when it does not exist."""
        found = _read_namespaced("Secret", self._core.read_namespaced_secret, namespace, name)
        if found is None:
            return None
        return {key: base64.b64decode(value) for key, value in (found.get("data") or {}).items()}

    def read_config_map(self, namespace: str, name: str) -> dict[str, bytes] | None:
        """A ConfigMap's data and binaryData as bytes; None when it does not exist."""
        found = _read_namespaced(
            "ConfigMap", self._core.read_namespaced_config_map, namespace, name
        )
        if found is None:
            return None
        data = {key: value.encode() for key, value in (found.get("data") or {}).items()}
        for key, value in (found.get("binaryData") or {}).items():
            data[key] = base64.b64decode(value)
        return data


class NamespaceSources:
    """The `Sources` of one pod's namespace, each object read once per use of this view."""

    def __init__(self, kube: Kube, namespace: str) -> None:
        self._kube = kube
        self._namespace = namespace
        self._secrets: dict[str, dict[str, bytes] | None] = {}
        self._config_maps: dict[str, dict[str, bytes] | None] = {}

    def secret(self, name: str) -> Mapping[str, bytes] | None:
        """The Secret's decoded data, or None."""
        if name not in self._secrets:
            self._secrets[name] = self._kube.read_secret(self._namespace, name)
        return self._secrets[name]

    def config_map(self, name: str) -> Mapping[str, bytes] | None:
        """The ConfigMap's data, or None."""
        if name not in self._config_maps:
            self._config_maps[name] = self._kube.read_config_map(self._namespace, name)
        return self._config_maps[name]
