"""The kopf handlers: the operator's wiring. Each one hands over to `Reconciler`.

    ValidationSchema created/updated/resumed ─────▶ reconcile_schema (kopf retries TemporaryError)
    QuarantinePipeline created/updated/resumed ───▶ reconcile_pipeline
    owned Deployment/Service/ConfigMap changed ───▶ reconcile its pipeline (drift, readiness)
    schema-version ConfigMap added/deleted ───────▶ reconcile the pipelines using that schema
    every recheck interval ───────────────────────▶ pipelines waiting for a Secret or schema, or
                                                   whose reconciliation failed; every resync
                                                   interval: every pipeline
    every stats interval ─────────────────────────▶ best-effort scrape into status.stats

No finalizers: deletion cascades through ownerReferences (the garbage collector of the
controller manager), so deleting a pipeline or a schema never waits for the operator, even
when it is down. kopf adds finalizers only for on.delete handlers, daemons and timers, so none
is used: the periodic work runs in two operator-wide tasks instead.

Secrets are never watched (that would need list/watch on every Secret of the cluster): a
pipeline waiting for one is rechecked every `recheck_interval` seconds.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import kopf
from prometheus_client import CollectorRegistry

from quarantine_operator import k8s
from quarantine_operator.api.v1alpha1 import (
    API_VERSION,
    GROUP,
    QUARANTINE_PIPELINE,
    VALIDATION_SCHEMA,
    VERSION,
    QuarantinePipelineSpec,
)
from quarantine_operator.checks import parse_spec, referenced_schema_names
from quarantine_operator.coalescing import Coalescer, KeySet
from quarantine_operator.k8s import Kubernetes
from quarantine_operator.metrics import MetricsServer, OperatorMetrics, serve
from quarantine_operator.reconciling import Reconciler
from quarantine_operator.render import MANAGED_BY, Component
from quarantine_operator.scraping import Scraper
from quarantine_operator.settings import OperatorSettings
from quarantine_operator.stats import Scrape

MEMO_SETTINGS: Final = "dataquarantine_settings"
"""Memo key under which `__main__` passes the settings it parsed (else: the environment)."""
MEMO_RUNTIME: Final = "dataquarantine_runtime"

KOPF_PREFIX: Final = f"kopf.{GROUP}"
"""Prefix of kopf's own annotations (handler progress, last handled configuration)."""
MANAGED_LABELS: Final = {"app.kubernetes.io/managed-by": MANAGED_BY}
COMPONENT_LABEL: Final = "app.kubernetes.io/component"
INSTANCE_LABEL: Final = "app.kubernetes.io/instance"

SCHEMAS: Final = (GROUP, VERSION, VALIDATION_SCHEMA.plural)
PIPELINES: Final = (GROUP, VERSION, QUARANTINE_PIPELINE.plural)

PipelineKey = tuple[str, str]

registry: Final = kopf.OperatorRegistry()
"""The handlers of this module (run it with `kopf.run(registry=registry)`, or make it kopf's
default registry before `kopf run`)."""

logger = logging.getLogger(__name__)


@dataclass
class Runtime:
    """What the composition root builds at start-up, shared by every handler (through memo)."""

    settings: OperatorSettings
    kube: Kubernetes
    reconciler: Reconciler
    scraper: Scraper
    metrics_server: MetricsServer | None
    pipelines: Coalescer[PipelineKey] = field(default_factory=Coalescer)
    recheck: KeySet[PipelineKey] = field(default_factory=KeySet)
    scrapes: dict[PipelineKey, Scrape] = field(default_factory=dict)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def reconcile_pipeline(self, key: PipelineKey) -> None:
        """Reconcile one pipeline (or have the running reconciliation run once more), and
        remember it for a recheck when it waits for something or fails."""

        def job() -> None:
            try:
                outcome = self.reconciler.reconcile_pipeline(*key)
            except BaseException:
                self.recheck.add(key)
                raise
            if outcome.recheck:
                self.recheck.add(key)
            else:
                self.recheck.discard(key)

        self.pipelines.run(key, job)

    def close(self) -> None:
        """Release the endpoint and the connection pools."""
        if self.metrics_server is not None:
            self.metrics_server.stop()
        self.scraper.close()
        self.kube.close()


def _settings(memo: Mapping[str, Any]) -> OperatorSettings:
    found = memo.get(MEMO_SETTINGS)
    return found if isinstance(found, OperatorSettings) else OperatorSettings()


def _runtime(memo: Mapping[str, Any]) -> Runtime:
    runtime = memo.get(MEMO_RUNTIME)
    if not isinstance(runtime, Runtime):
        raise kopf.PermanentError("the operator did not start (no runtime in memo)")
    return runtime


def _index(kwargs: Mapping[str, Any], name: str) -> kopf.Index[Any, Any]:
    """An index kopf passes to handlers by its name."""
    index = kwargs.get(name)
    if not isinstance(index, kopf.Index):
        raise kopf.PermanentError(f"kopf passed no index {name!r}")
    return index


def _key(namespace: str | None, name: str | None) -> PipelineKey:
    if not namespace or not name:
        raise kopf.PermanentError("only namespaced, named objects are handled")
    return namespace, name


def configure_kopf(settings: kopf.OperatorSettings) -> None:
    """kopf's own behaviour: where it keeps its state, which Events it posts, what it watches."""
    # Handler progress and the last handled spec live in annotations (the status is structural
    # and would prune kopf's fields). Not under `dataquarantine.io/` itself: kopf ignores every
    # annotation under its storage prefix, and a change of the pause annotation must be seen.
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=KOPF_PREFIX)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=KOPF_PREFIX, key="last-handled-configuration"
    )
    # No handler needs a finalizer; should one ever be added, it carries our name.
    settings.persistence.finalizer = f"{GROUP}/finalizer"
    # Transitions are posted as Events by the reconciler; kopf adds the warnings and errors of
    # the handlers (a failed apply, a retry) so that `kubectl describe` shows them too.
    settings.posting.enabled = True
    settings.posting.loggers = True
    settings.posting.level = logging.WARNING
    # Only the children the operator manages are streamed, filtered by the API server.
    managed = ",".join(f"{key}={value}" for key, value in MANAGED_LABELS.items())
    for resource in (("apps", "v1", "deployments"), ("v1", "services"), ("v1", "configmaps")):
        settings.watching.label_selectors[resource] = managed


# --- Operator lifecycle -----------------------------------------------------------------------


@kopf.on.login(registry=registry)
def operator_login(memo: kopf.Memo, **_: Any) -> kopf.ConnectionInfo:
    """Credentials for kopf: the same as the reconciler's (a kubeconfig from the settings or
    $KUBECONFIG, read now; else the in-cluster service account)."""
    return k8s.connection_info(k8s.load_configuration(_settings(memo).kubeconfig))


@kopf.on.startup(registry=registry)
async def operator_startup(settings: kopf.OperatorSettings, memo: kopf.Memo, **kwargs: Any) -> None:
    """Build everything once (settings, API client, metrics, reconciler) and start the
    periodic work."""
    config = _settings(memo)
    configure_kopf(settings)
    kube = Kubernetes.connect(k8s.load_configuration(config.kubeconfig))
    registry = CollectorRegistry()
    metrics = OperatorMetrics(registry)
    scraper = Scraper()
    runtime = Runtime(
        settings=config,
        kube=kube,
        reconciler=Reconciler(kube, metrics, scraper, image=config.image),
        scraper=scraper,
        metrics_server=serve(registry, config.metrics_port) if config.metrics_port else None,
    )
    memo[MEMO_RUNTIME] = runtime
    quarantinepipelines = _index(kwargs, "quarantinepipelines")
    runtime.tasks = [
        _task(_recheck_pipelines(runtime, quarantinepipelines), "recheck pipelines"),
        _task(_refresh_stats(runtime, quarantinepipelines), "refresh pipeline stats"),
    ]
    logger.info(
        "operator started",
        extra={
            "namespaces": list(config.namespaces) or "*",
            "metrics_port": config.metrics_port,
            "image": config.image,
        },
    )


def _task(coroutine: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
    return asyncio.get_running_loop().create_task(coroutine, name=name)


@kopf.on.cleanup(registry=registry)
async def operator_cleanup(memo: kopf.Memo, **_: Any) -> None:
    """Stop the periodic work and release what start-up acquired."""
    runtime = memo.get(MEMO_RUNTIME)
    if not isinstance(runtime, Runtime):
        return
    for task in runtime.tasks:
        task.cancel()
    await asyncio.gather(*runtime.tasks, return_exceptions=True)
    runtime.close()


async def _recheck_pipelines(runtime: Runtime, pipelines: kopf.Index[PipelineKey, bool]) -> None:
    """Reconcile the pipelines that wait or failed, and now and then all of them."""
    loop = asyncio.get_running_loop()
    resynced = loop.time()
    while True:
        await asyncio.sleep(runtime.settings.recheck_interval)
        if loop.time() - resynced >= runtime.settings.resync_interval:
            resynced = loop.time()
            keys = sorted(pipelines)
        else:
            keys = runtime.recheck.snapshot()
        for key in keys:
            try:
                await asyncio.to_thread(runtime.reconcile_pipeline, key)
            except (kopf.TemporaryError, kopf.PermanentError) as exc:
                logger.warning(
                    "recheck of pipeline %s/%s failed: %s",
                    *key,
                    exc,
                    extra={"namespace": key[0], "pipeline": key[1]},
                )
            except Exception:
                logger.exception(
                    "recheck of pipeline %s/%s failed",
                    *key,
                    extra={"namespace": key[0], "pipeline": key[1]},
                )


async def _refresh_stats(runtime: Runtime, pipelines: kopf.Index[PipelineKey, bool]) -> None:
    """Best effort: scrape every pipeline's validator pods; never fails anything."""
    while True:
        await asyncio.sleep(runtime.settings.stats_interval)
        keys = sorted(pipelines)
        for key in keys:
            try:
                scrape = await asyncio.to_thread(
                    runtime.reconciler.refresh_stats, *key, runtime.scrapes.get(key)
                )
            except (kopf.TemporaryError, kopf.PermanentError) as exc:
                logger.debug("stats of pipeline %s/%s unavailable: %s", *key, exc)
                scrape = None
            except Exception:
                logger.warning("stats of pipeline %s/%s failed", *key, exc_info=True)
                scrape = None
            if scrape is None:
                runtime.scrapes.pop(key, None)
            else:
                runtime.scrapes[key] = scrape
        for gone in set(runtime.scrapes) - set(keys):
            del runtime.scrapes[gone]


# --- Indexes ----------------------------------------------------------------------------------


@kopf.index(*PIPELINES, registry=registry)
def quarantinepipelines(
    namespace: str | None, name: str | None, **_: Any
) -> dict[PipelineKey, bool]:
    """Every pipeline the operator sees (for the periodic work)."""
    return {_key(namespace, name): True}


@kopf.index(*PIPELINES, registry=registry)
def quarantinepipelines_by_schema(
    namespace: str | None, name: str | None, spec: kopf.Spec, **_: Any
) -> dict[PipelineKey, str]:
    """(namespace, schema name) → the pipelines that use that ValidationSchema."""
    parsed, _problems = parse_spec(QuarantinePipelineSpec, dict(spec))
    if parsed is None or not namespace or not name:
        return {}
    return {(namespace, schema): name for schema in referenced_schema_names(parsed)}


# --- ValidationSchema -------------------------------------------------------------------------


@kopf.on.create(*SCHEMAS, registry=registry)
def validationschema_create(
    memo: kopf.Memo, namespace: str | None, name: str | None, **_: Any
) -> None:
    """A new schema: publish version 1, or refuse it."""
    _runtime(memo).reconciler.reconcile_schema(*_key(namespace, name))


@kopf.on.update(*SCHEMAS, registry=registry)
def validationschema_update(
    memo: kopf.Memo, namespace: str | None, name: str | None, **_: Any
) -> None:
    """A changed schema: publish the next version, or refuse it (the live one stays)."""
    _runtime(memo).reconciler.reconcile_schema(*_key(namespace, name))


@kopf.on.resume(*SCHEMAS, registry=registry)
def validationschema_resume(
    memo: kopf.Memo, namespace: str | None, name: str | None, **_: Any
) -> None:
    """The operator (re)started: bring the status in line with the kept versions."""
    _runtime(memo).reconciler.reconcile_schema(*_key(namespace, name))


# --- QuarantinePipeline -----------------------------------------------------------------------


@kopf.on.create(*PIPELINES, registry=registry)
def quarantinepipeline_create(
    memo: kopf.Memo, namespace: str | None, name: str | None, **_: Any
) -> None:
    """A new pipeline: apply its children, or report what is missing."""
    _runtime(memo).reconcile_pipeline(_key(namespace, name))


@kopf.on.update(*PIPELINES, registry=registry)
def quarantinepipeline_update(
    memo: kopf.Memo, namespace: str | None, name: str | None, **_: Any
) -> None:
    """A changed pipeline (spec, labels or annotations, such as the pause annotation)."""
    _runtime(memo).reconcile_pipeline(_key(namespace, name))


@kopf.on.resume(*PIPELINES, registry=registry)
def quarantinepipeline_resume(
    memo: kopf.Memo, namespace: str | None, name: str | None, **_: Any
) -> None:
    """The operator (re)started: converge whatever changed meanwhile."""
    _runtime(memo).reconcile_pipeline(_key(namespace, name))


# --- Children ---------------------------------------------------------------------------------


def _owning_pipeline(body: kopf.Body) -> str | None:
    for reference in body.metadata.get("ownerReferences") or ():
        if (
            reference.get("controller")
            and reference.get("apiVersion") == API_VERSION
            and reference.get("kind") == QUARANTINE_PIPELINE.kind
        ):
            return str(reference["name"])
    return None


def _reconcile_owner(memo: kopf.Memo, event_type: str | None, body: kopf.Body) -> None:
    # The initial listing (type None) is covered by the pipelines' resume handlers.
    pipeline = _owning_pipeline(body)
    if event_type is None or pipeline is None:
        return
    _runtime(memo).reconcile_pipeline(_key(body.metadata.namespace, pipeline))


@kopf.on.event("apps", "v1", "deployments", labels=MANAGED_LABELS, registry=registry)
def deployment_event(memo: kopf.Memo, type: str | None, body: kopf.Body, **_: Any) -> None:
    """A validator or API Deployment changed (its status: readiness) or was deleted or edited
    (drift): reconcile its pipeline."""
    _reconcile_owner(memo, type, body)


@kopf.on.event("v1", "services", labels=MANAGED_LABELS, registry=registry)
def service_event(memo: kopf.Memo, type: str | None, body: kopf.Body, **_: Any) -> None:
    """An API Service was deleted or edited: reconcile its pipeline."""
    _reconcile_owner(memo, type, body)


@kopf.on.event("v1", "configmaps", labels=MANAGED_LABELS, registry=registry)
def configmap_event(memo: kopf.Memo, type: str | None, body: kopf.Body, **kwargs: Any) -> None:
    """A pipeline's ConfigMap drifted, or a schema version appeared or went away: reconcile
    the pipeline, or every pipeline using that schema (`latest` rolls their pods)."""
    if body.metadata.labels.get(COMPONENT_LABEL) != Component.SCHEMA_VERSION.value:
        _reconcile_owner(memo, type, body)
        return
    namespace = body.metadata.namespace
    schema = body.metadata.labels.get(INSTANCE_LABEL)
    if type is None or not namespace or not schema:
        return
    runtime = _runtime(memo)
    users = _index(kwargs, "quarantinepipelines_by_schema").get((namespace, schema), ())
    for pipeline in sorted(users):
        runtime.reconcile_pipeline((namespace, pipeline))
