"""The only module that calls the Kubernetes API (kopf's own watching and patching aside).

Objects go in and come out as plain JSON-shaped dicts (camelCase keys), as the pure modules
render and read them. Owned children are written with server-side apply (field manager
`dataquarantine-operator`, forced: the operator is the single owner of what it renders).
Secrets are read for their key names only; their values never leave this module.

Every API failure is translated for kopf: conflicts, throttling, server errors and broken
connections become `kopf.TemporaryError` (retried); anything else is a `kopf.PermanentError`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import kopf
import urllib3
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from quarantine_operator.api.v1alpha1 import GROUP, VERSION, ResourceNames
from quarantine_operator.render import ChildKind

FIELD_MANAGER: Final = "dataquarantine-operator"
APPLY_CONTENT_TYPE: Final = "application/apply-patch+yaml"
MERGE_PATCH_CONTENT_TYPE: Final = "application/merge-patch+json"
# (connect, read) seconds: a hung request must not hold a reconciliation forever.
REQUEST_TIMEOUT: Final = (5.0, 30.0)
RETRY_DELAY: Final = 5.0
REPORTING_COMPONENT: Final = f"{GROUP}/operator"
MAX_EVENT_MESSAGE: Final = 1024


class ConflictError(kopf.TemporaryError):
    """The API refused a write because of a concurrent change (HTTP 409): retry."""


# --- Connecting -------------------------------------------------------------------------------


def load_configuration(kubeconfig: Path | None) -> client.Configuration:
    """A client configuration from `kubeconfig`, or in-cluster, or ~/.kube/config (in that
    order of preference when `kubeconfig` is None). Nothing global is modified."""
    configuration = client.Configuration()
    try:
        if kubeconfig is not None:
            config.load_kube_config(  # type: ignore[no-untyped-call]
                config_file=str(kubeconfig), client_configuration=configuration
            )
            return configuration
        try:
            config.load_incluster_config(  # type: ignore[no-untyped-call]
                client_configuration=configuration
            )
        except config.ConfigException:
            config.load_kube_config(  # type: ignore[no-untyped-call]
                client_configuration=configuration
            )
    except (config.ConfigException, OSError) as exc:
        raise kopf.PermanentError(f"cannot configure the Kubernetes client: {exc}") from exc
    return configuration


def connection_info(configuration: client.Configuration) -> kopf.ConnectionInfo:
    """The same credentials, for kopf's own API client (its watches and patches)."""
    header = configuration.get_api_key_with_prefix("BearerToken")
    scheme, token = (None, None)
    if header:
        parts = header.split(" ", 1)
        scheme, token = (parts[0], parts[1]) if len(parts) == 2 else (None, parts[0])
    return kopf.ConnectionInfo(
        server=configuration.host,
        ca_path=configuration.ssl_ca_cert,
        insecure=not configuration.verify_ssl,
        scheme=scheme,
        token=token,
        certificate_path=configuration.cert_file,
        private_key_path=configuration.key_file,
    )


# --- Errors -----------------------------------------------------------------------------------


def _status_message(exc: ApiException) -> str:
    """The API server's own explanation (its Status object's message), else the HTTP reason."""
    try:
        status = json.loads(exc.body or "")
    except ValueError:
        status = None
    if isinstance(status, dict) and isinstance(status.get("message"), str):
        return str(status["message"])
    return f"HTTP {exc.status} {exc.reason}"


def _retry_after(exc: ApiException) -> float:
    headers = exc.headers or {}
    try:
        return max(1.0, float(headers.get("Retry-After", RETRY_DELAY)))
    except (TypeError, ValueError):
        return RETRY_DELAY


def translate(exc: ApiException, action: str) -> kopf.TemporaryError | kopf.PermanentError:
    """The kopf error for an API failure: retriable (409, 429, 5xx) or permanent."""
    message = f"{action}: {_status_message(exc)}"
    status = exc.status or 0
    if status == 409:
        return ConflictError(message, delay=1.0)
    if status == 429 or status >= 500:
        return kopf.TemporaryError(message, delay=_retry_after(exc))
    return kopf.PermanentError(message)


@contextmanager
def _translated(action: str) -> Iterator[None]:
    try:
        yield
    except ApiException as exc:
        raise translate(exc, action) from exc
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        raise kopf.TemporaryError(f"{action}: {exc}", delay=RETRY_DELAY) from exc


def _is_not_found(exc: BaseException) -> bool:
    return isinstance(exc, ApiException) and exc.status == 404


def event_body(
    involved: Mapping[str, Any], *, type_: str, reason: str, message: str, now: datetime
) -> dict[str, Any]:
    """A core/v1 Event about `involved` (a custom resource's body)."""
    metadata = involved["metadata"]
    stamp = now.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    if len(message) > MAX_EVENT_MESSAGE:
        message = message[: MAX_EVENT_MESSAGE - 1] + "…"
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"generateName": f"{metadata['name']}.", "namespace": metadata["namespace"]},
        "involvedObject": {
            "apiVersion": involved["apiVersion"],
            "kind": involved["kind"],
            "name": metadata["name"],
            "namespace": metadata["namespace"],
            "uid": metadata["uid"],
        },
        "type": type_,
        "reason": reason,
        "message": message,
        "source": {"component": FIELD_MANAGER},
        "reportingComponent": REPORTING_COMPONENT,
        "reportingInstance": FIELD_MANAGER,
        "firstTimestamp": stamp,
        "lastTimestamp": stamp,
        "count": 1,
    }


# --- The client -------------------------------------------------------------------------------


class Kubernetes:
    """The operator's calls to the API server, over one `ApiClient`."""

    def __init__(self, api_client: client.ApiClient, field_manager: str = FIELD_MANAGER) -> None:
        self._api = api_client
        self._field_manager = field_manager
        self._core = client.CoreV1Api(api_client)
        self._apps = client.AppsV1Api(api_client)
        self._custom = client.CustomObjectsApi(api_client)

    @classmethod
    def connect(cls, configuration: client.Configuration) -> Kubernetes:
        """A client for the cluster that `configuration` describes."""
        return cls(client.ApiClient(configuration))

    def close(self) -> None:
        """Release the connection pool."""
        self._api.close()  # type: ignore[no-untyped-call]

    def _plain(self, obj: Any) -> dict[str, Any]:
        plain = self._api.sanitize_for_serialization(obj)  # type: ignore[no-untyped-call]
        assert isinstance(plain, dict)
        return plain

    # --- Custom resources ---

    def get_custom_object(
        self, resource: ResourceNames, namespace: str, name: str
    ) -> dict[str, Any] | None:
        """One ValidationSchema or QuarantinePipeline, or None when it does not exist."""
        with _translated(f"reading {resource.kind} {namespace}/{name}"):
            try:
                found = self._custom.get_namespaced_custom_object(
                    GROUP,
                    VERSION,
                    namespace,
                    resource.plural,
                    name,
                    _request_timeout=REQUEST_TIMEOUT,
                )
            except ApiException as exc:
                if _is_not_found(exc):
                    return None
                raise
        assert isinstance(found, dict)
        return found

    def patch_custom_status(
        self, resource: ResourceNames, namespace: str, name: str, status: Mapping[str, Any]
    ) -> bool:
        """Merge `status` into the object's status subresource (a None value removes a field);
        False when the object is gone."""
        with _translated(f"writing the status of {resource.kind} {namespace}/{name}"):
            try:
                self._custom.patch_namespaced_custom_object_status(
                    GROUP,
                    VERSION,
                    namespace,
                    resource.plural,
                    name,
                    {"status": dict(status)},
                    field_manager=self._field_manager,
                    _content_type=MERGE_PATCH_CONTENT_TYPE,
                    _request_timeout=REQUEST_TIMEOUT,
                )
            except ApiException as exc:
                if _is_not_found(exc):
                    return False
                raise
        return True

    # --- ConfigMaps (schema versions) ---

    def list_config_maps(self, namespace: str, label_selector: str) -> list[dict[str, Any]]:
        """ConfigMaps of the namespace that match the label selector."""
        with _translated(f"listing ConfigMaps in {namespace} ({label_selector})"):
            found = self._core.list_namespaced_config_map(
                namespace, label_selector=label_selector, _request_timeout=REQUEST_TIMEOUT
            )
        return [self._plain(item) for item in found.items]

    def create_config_map(self, body: Mapping[str, Any]) -> bool:
        """Create a ConfigMap; False (and nothing written) when the name is already taken.
        Used for immutable objects, which must never be overwritten."""
        namespace = body["metadata"]["namespace"]
        name = body["metadata"]["name"]
        with _translated(f"creating ConfigMap {namespace}/{name}"):
            try:
                self._core.create_namespaced_config_map(
                    namespace,
                    client.V1ConfigMap.model_validate(dict(body)),
                    field_manager=self._field_manager,
                    _request_timeout=REQUEST_TIMEOUT,
                )
            except ApiException as exc:
                if exc.status == 409:
                    return False
                raise
        return True

    # --- Secrets ---

    def read_secret_keys(self, namespace: str, name: str) -> frozenset[str] | None:
        """The key names a Secret holds, or None when it does not exist (values are dropped
        here and never returned)."""
        with _translated(f"reading Secret {namespace}/{name}"):
            try:
                secret = self._core.read_namespaced_secret(
                    name, namespace, _request_timeout=REQUEST_TIMEOUT
                )
            except ApiException as exc:
                if _is_not_found(exc):
                    return None
                raise
        return frozenset((secret.data or {}).keys())

    # --- Owned children ---

    def read(self, kind: ChildKind, namespace: str, name: str) -> dict[str, Any] | None:
        """One child object, or None when it does not exist."""
        readers = {
            ChildKind.CONFIG_MAP: self._core.read_namespaced_config_map,
            ChildKind.DEPLOYMENT: self._apps.read_namespaced_deployment,
            ChildKind.SERVICE: self._core.read_namespaced_service,
        }
        with _translated(f"reading {kind} {namespace}/{name}"):
            try:
                found = readers[kind](name, namespace, _request_timeout=REQUEST_TIMEOUT)
            except ApiException as exc:
                if _is_not_found(exc):
                    return None
                raise
        return self._plain(found)

    def apply(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """Server-side apply of a rendered child (forced: the operator owns these fields);
        returns the object as stored."""
        kind = ChildKind(body["kind"])
        namespace = body["metadata"]["namespace"]
        name = body["metadata"]["name"]
        patchers = {
            ChildKind.CONFIG_MAP: self._core.patch_namespaced_config_map,
            ChildKind.DEPLOYMENT: self._apps.patch_namespaced_deployment,
            ChildKind.SERVICE: self._core.patch_namespaced_service,
        }
        with _translated(f"applying {kind} {namespace}/{name}"):
            applied = patchers[kind](
                name,
                namespace,
                dict(body),
                field_manager=self._field_manager,
                force=True,
                _content_type=APPLY_CONTENT_TYPE,
                _request_timeout=REQUEST_TIMEOUT,
            )
        return self._plain(applied)

    def delete(self, kind: ChildKind, namespace: str, name: str, uid: str) -> None:
        """Delete a child if it is still the object with `uid` (a precondition: never delete a
        replacement someone else created meanwhile)."""
        deleters = {
            ChildKind.CONFIG_MAP: self._core.delete_namespaced_config_map,
            ChildKind.DEPLOYMENT: self._apps.delete_namespaced_deployment,
            ChildKind.SERVICE: self._core.delete_namespaced_service,
        }
        options = client.V1DeleteOptions(
            preconditions=client.V1Preconditions(uid=uid), propagation_policy="Background"
        )
        with _translated(f"deleting {kind} {namespace}/{name}"):
            try:
                deleters[kind](name, namespace, body=options, _request_timeout=REQUEST_TIMEOUT)
            except ApiException as exc:
                if not _is_not_found(exc):
                    raise

    # --- Events ---

    def create_event(self, body: Mapping[str, Any]) -> None:
        """Post an Event (see `event_body`)."""
        namespace = body["metadata"]["namespace"]
        with _translated(f"posting an Event in {namespace}"):
            self._core.create_namespaced_event(
                namespace,
                client.CoreV1Event.model_validate(dict(body)),
                _request_timeout=REQUEST_TIMEOUT,
            )

    # --- Pods (statistics) ---

    def list_pods(self, namespace: str, label_selector: str) -> list[dict[str, Any]]:
        """Pods of the namespace that match the label selector."""
        with _translated(f"listing pods in {namespace} ({label_selector})"):
            found = self._core.list_namespaced_pod(
                namespace, label_selector=label_selector, _request_timeout=REQUEST_TIMEOUT
            )
        return [self._plain(item) for item in found.items]
