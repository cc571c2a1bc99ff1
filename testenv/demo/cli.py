"""`python -m testenv.demo`: start everything, show the pipeline at work, stop on Ctrl-C."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fcntl
import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Final

from testenv.demo.cluster import (
    OPERATOR_DEPLOYMENT,
    OPERATOR_NAMESPACE,
    Endpoints,
    Kubectl,
    KubectlError,
    Topics,
    condition_status,
    ensure_namespace,
    install,
    local_samples,
    operator_kubeconfig,
    pod_addresses,
)
from testenv.demo.producing import Produced, create_topics, end_offsets, produce_forever
from testenv.errors import StackError
from testenv.layout import REPO_ROOT, Layout
from testenv.stack import Stack

PIPELINE: Final = "orders"
API_PODS: Final = "app.kubernetes.io/instance=orders,app.kubernetes.io/component=api"
API_PORT: Final = 8080
NODE_NAME: Final = "dataquarantine-demo"

DESCRIPTION = """\
DataQuarantine end to end on this machine, in one command:
  1. the local stack (python -m testenv up; left running if it already was),
  2. CRDs, RBAC and the operator's Deployment (kubectl apply -k manifests/); the in-cluster
     operator Deployment is scaled to 0: the operator runs here as a local process instead,
     authenticated as its ServiceAccount, watching only the demo namespace,
  3. the dev-only pod runner (python -m testenv.podrunner) in place of a kubelet, for the
     demo namespace only,
  4. the samples (kubectl kustomize manifests/samples) pointed at the stack's Kafka, S3 and
     PostgreSQL; the Secrets get the stack's credentials and a fresh API token,
  5. a stream of order events, about 7% broken (missing field, wrong type, bad enum, not JSON,
     rule violation),
then every few seconds: kubectl get qp,vs, valid / quarantined counts, the top quarantine reasons
(from the pipeline's REST API), and how to use the API.
Ctrl-C deletes the demo pipeline, stops the runner, the operator and the producer, and stops the
stack only if this command started it.
"""


def say(message: str) -> None:
    """One progress line."""
    print(f"[demo] {message}", flush=True)


@dataclass
class Started:
    """What this demo started, to stop it again (newest first)."""

    processes: list[tuple[str, subprocess.Popen[bytes]]] = field(default_factory=list)
    logs: list[IO[bytes]] = field(default_factory=list)
    stack_services: list[str] = field(default_factory=list)


def start_process(
    started: Started,
    name: str,
    argv: Sequence[str],
    log: Path,
    env: Mapping[str, str] | None = None,
) -> None:
    """A child process in its own session (Ctrl-C reaches only the demo, which then stops it
    in order), its output appended to `log`."""
    log.parent.mkdir(parents=True, exist_ok=True)
    output = log.open("ab")
    started.logs.append(output)
    process = subprocess.Popen(
        list(argv),
        cwd=REPO_ROOT,
        env={**os.environ, **(env or {})},
        stdout=output,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    started.processes.append((name, process))
    say(f"{name} started (pid {process.pid}), log {log}")


def stop_processes(started: Started) -> None:
    """SIGTERM each process, newest first; SIGKILL after 30 s."""
    for name, process in reversed(started.processes):
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)
        say(f"{name} stopped")
    for output in started.logs:
        output.close()


@contextlib.contextmanager
def single_demo(state: Path) -> Iterator[None]:
    """Only one demo per checkout: it owns a node name and a namespace."""
    state.mkdir(parents=True, exist_ok=True)
    with (state / "lock").open("w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise SystemExit("[demo] another demo is running in this checkout") from None
        yield


def api_token(state: Path) -> str:
    """The demo's admin token, kept across runs in the state directory (mode 0600)."""
    path = state / "api-token"
    if not path.exists():
        path.touch(mode=0o600)
        path.write_text(secrets.token_hex(16))
    return path.read_text().strip()


def get_json(url: str, token: str) -> dict[str, Any] | None:
    """GET a JSON document from the API, or None when it does not answer."""
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})  # noqa: S310 - http only
    try:
        with urllib.request.urlopen(request, timeout=3) as reply:  # noqa: S310 - http only
            found = json.loads(reply.read())
    except (urllib.error.URLError, OSError, ValueError):
        return None
    return found if isinstance(found, dict) else None


def reasons_line(stats: dict[str, Any] | None) -> str:
    """The top quarantine reasons from the API's /stats."""
    if stats is None:
        return "top quarantine reasons: (API not answering yet)"
    by_type = sorted(stats.get("by_error_type", {}).items(), key=lambda item: -item[1])
    by_path = stats.get("by_field_path", [])[:4]
    types = ", ".join(f"{name} {count}" for name, count in by_type) or "none yet"
    paths = ", ".join(f"{entry['path'] or '(record)'} {entry['records']}" for entry in by_path)
    return f"top quarantine reasons (all runs, from /stats): {types}" + (
        f"; by field: {paths}" if paths else ""
    )


def api_help(url: str, token: str) -> str:
    """How to use the pipeline's REST API from a terminal."""
    return f"""\
REST API  {url}   (admin token: {token})
  curl -s -H 'Authorization: Bearer {token}' {url}/api/v1/quarantine/stats
  export DQ_API_URL={url} DQ_API_TOKEN={token}
  .venv/bin/python -m validator_pod records list --error-type schema_violation
  .venv/bin/python -m validator_pod records show <id>
  .venv/bin/python -m validator_pod records reprocess <id> --dry-run
  .venv/bin/python -m validator_pod records stats"""


@dataclass(frozen=True)
class DemoOptions:
    """The command line."""

    namespace: str
    rate: float
    broken_share: float
    interval: float
    stats_interval: float


async def run(options: DemoOptions, layout: Layout, started: Started) -> None:
    """Everything up to Ctrl-C (cleanup is the caller's)."""
    begin = time.monotonic()
    state = layout.state / "demo"
    stack = Stack(layout)
    try:
        # in a thread: starting a service waits for it with probes that run event loops of
        # their own, which cannot start inside this one
        started.stack_services = await asyncio.to_thread(stack.up)
    except StackError as exc:
        raise SystemExit(f"[demo] the local stack could not start: {exc}") from exc
    env = stack.env()
    kubectl = Kubectl(Path(env["DQ_KUBECTL"]), Path(env["KUBECONFIG"]))
    endpoints = Endpoints.from_env(env)

    say("kubectl apply -k manifests/  (CRDs, RBAC, operator Deployment)")
    install(kubectl)
    kubectl("scale", OPERATOR_DEPLOYMENT, "-n", OPERATOR_NAMESPACE, "--replicas=0")
    say("in-cluster operator Deployment scaled to 0: the operator runs as a local process")
    ensure_namespace(kubectl, options.namespace)

    operator_config = operator_kubeconfig(kubectl, state / "operator-kubeconfig")
    start_process(
        started,
        "operator",
        [
            sys.executable, "-m", "quarantine_operator",
            "--namespace", options.namespace,
            "--kubeconfig", str(operator_config),
            "--metrics-port", "0", "--liveness-port", "0",
        ],
        state / "operator.log",
        {"DQ_OPERATOR_STATS_INTERVAL": str(options.stats_interval)},
    )  # fmt: skip
    start_process(
        started,
        "pod runner",
        [
            sys.executable, "-m", "testenv.podrunner",
            "--namespace", options.namespace,
            "--node-name", NODE_NAME,
            "--kubeconfig", str(kubectl.kubeconfig),
        ],
        state / "podrunner.log",
    )  # fmt: skip

    topics = Topics("orders.raw", "orders.valid", "orders.quarantine", "dq-demo")
    await create_topics(
        endpoints.kafka_bootstrap, [topics.source, topics.valid, topics.quarantine], 3
    )
    token = api_token(state)
    documents = local_samples(kubectl, endpoints, topics, api_tokens=f"demo:admin:{token}")
    say(f"kubectl apply -n {options.namespace} (manifests/samples, pointed at the local stack)")
    print(kubectl.apply(documents, options.namespace), end="", flush=True)

    baseline = await end_offsets(endpoints.kafka_bootstrap, [topics.valid, topics.quarantine])
    produced = Produced()
    producer = asyncio.create_task(
        produce_forever(
            endpoints.kafka_bootstrap,
            topics.source,
            options.rate,
            options.broken_share,
            produced,
            seed=int(time.time()),
        )
    )
    say(f"producing ~{options.rate:.0f} order events/s to {topics.source}, "
        f"~{options.broken_share:.0%} broken; Ctrl-C stops everything")  # fmt: skip

    ready_at: float | None = None
    api_url: str | None = None
    try:
        while True:
            await asyncio.sleep(options.interval)
            if producer.done():
                producer.result()  # raises the producer's error
            pipeline = await asyncio.to_thread(
                kubectl.json, "get", "qp", PIPELINE, "-n", options.namespace
            )
            if ready_at is None and condition_status(pipeline, "Ready") == "True":
                ready_at = time.monotonic()
                say(f"pipeline Ready ({ready_at - begin:.0f}s after the demo started)")
            if api_url is None:
                addresses = await asyncio.to_thread(
                    pod_addresses, kubectl, options.namespace, API_PODS
                )
                api_url = f"http://{addresses[0]}:{API_PORT}" if addresses else None
                if api_url:
                    print(api_help(api_url, token), flush=True)
            table = await asyncio.to_thread(
                kubectl, "get", "qp,vs", "-n", options.namespace, "-o", "wide"
            )
            ends = await end_offsets(endpoints.kafka_bootstrap, [topics.valid, topics.quarantine])
            valid = ends[topics.valid] - baseline[topics.valid]
            quarantined = ends[topics.quarantine] - baseline[topics.quarantine]
            stats = (
                await asyncio.to_thread(get_json, f"{api_url}/api/v1/quarantine/stats", token)
                if api_url
                else None
            )
            print(f"\n── {time.strftime('%H:%M:%S')}  +{time.monotonic() - begin:.0f}s "
                  f"── $ kubectl get qp,vs -n {options.namespace} -o wide")  # fmt: skip
            print(table, end="")
            print(f"produced {produced.total} ({produced.broken} broken on purpose) · "
                  f"valid {valid} · quarantined {quarantined}  (this run)")  # fmt: skip
            print(reasons_line(stats))
            print(
                f"REST API {api_url or '(starting)'} (token in {state / 'api-token'})", flush=True
            )
    finally:
        producer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await producer


def delete_pipeline(kubectl: Kubectl, namespace: str) -> None:
    """Delete the demo pipeline and wait (up to a minute) until its pods are gone, while the
    operator and the runner still run to finish them."""
    say(f"deleting the pipeline {namespace}/{PIPELINE} (its pods stop)")
    try:
        kubectl("delete", "qp", PIPELINE, "-n", namespace, "--ignore-not-found", "--wait=false")
        kubectl(
            "wait", "--for=delete", "pods", "--all", "-n", namespace, "--timeout=60s", timeout=90
        )
    except KubectlError as exc:
        say(f"could not delete everything: {exc}")


def parse(argv: Sequence[str] | None) -> DemoOptions:
    """The command line."""
    parser = argparse.ArgumentParser(
        prog="python -m testenv.demo",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("-n", "--namespace", default="dataquarantine-demo")
    parser.add_argument("--rate", type=float, default=50.0, help="events per second (default 50)")
    parser.add_argument(
        "--broken-share", type=float, default=0.07, help="share of broken events (default 0.07)"
    )
    parser.add_argument(
        "--interval", type=float, default=5.0, help="seconds between two progress reports"
    )
    parser.add_argument(
        "--stats-interval",
        type=float,
        default=5.0,
        help="seconds between the operator's scrapes into status.stats (default 5)",
    )
    args = parser.parse_args(argv)
    return DemoOptions(
        namespace=args.namespace,
        rate=args.rate,
        broken_share=args.broken_share,
        interval=args.interval,
        stats_interval=args.stats_interval,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the demo until Ctrl-C or SIGTERM; exit 0 after a clean stop."""
    options = parse(argv)
    layout = Layout.from_environment()
    started = Started()
    with single_demo(layout.state / "demo"):
        # Ctrl-C and SIGTERM both stop the demo cleanly, also when it was started as a
        # background job (a shell starts those with SIGINT ignored, and Python keeps it so)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, lambda *_: signal.raise_signal(signal.SIGINT))
        try:
            asyncio.run(run(options, layout, started))
        except KeyboardInterrupt:
            say("stopping")
        finally:
            if started.processes:
                env = Stack(layout).env()
                delete_pipeline(
                    Kubectl(Path(env["DQ_KUBECTL"]), Path(env["KUBECONFIG"])), options.namespace
                )
            stop_processes(started)
            if started.stack_services:
                say(f"stopping the stack services this demo started: {started.stack_services}")
                Stack(layout).down(started.stack_services)
    return 0
