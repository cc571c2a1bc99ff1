"""`python -m testenv.podrunner`: the dev-only kubelet stand-in from a terminal."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from testenv.layout import Layout
from testenv.podrunner.kube import ApiError
from testenv.podrunner.options import POD_SELECTOR, RunnerOptions
from testenv.podrunner.runner import PodRunner
from testenv.podrunner.statuses import NODE_NAME

DESCRIPTION = f"""\
A dev-only stand-in for the kubelet on the local stack (python -m testenv), which has a real
kube-apiserver and controller manager but no scheduler and no kubelet. It registers the Node
{NODE_NAME!r} (kept alive with a Lease), binds the pods of DataQuarantine Deployments to it
(label {POD_SELECTOR})
and runs each as a local process: the pod's command with this virtualenv's python, its env
(values, Secrets, ConfigMaps, downward API) and volumes (ConfigMaps, Secrets, emptyDirs)
materialised in $DQ_STATE/pods/<namespace>/<pod>/, and its own loopback address 127.0.0.N
(status.podIP, DQ_BIND_ADDRESS). Probes set the pods' readiness; crashed or unhealthy processes
restart with back-off; deleted pods are stopped (SIGTERM, grace period, SIGKILL) and finalised.
Ctrl-C or SIGTERM stops every process it started, marks the pods not ready and deletes the Node.

Only `python -m validator_pod ...` and `python -m quarantine_operator ...` run: anything else is
refused with an Event. Never use it where a kubelet runs pods (kind, a real cluster).

Credentials: it uses the local stack's ADMIN kubeconfig (cluster-admin), because it stands in
for the kubelet: it writes Nodes, Leases, pod bindings and pod status and reads Secrets.
"""

EPILOG = """\
examples:
  python -m testenv.podrunner                     every namespace, node dataquarantine-local
  python -m testenv.podrunner -n shop             only the namespace shop
  tail -f .testenv/pods/shop/<pod>/log            a pod's output
"""


def build_parser(layout: Layout) -> argparse.ArgumentParser:
    """The command line; defaults from the stack's layout ($DQ_STATE)."""
    parser = argparse.ArgumentParser(
        prog="python -m testenv.podrunner",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--kubeconfig",
        type=Path,
        default=layout.kubeconfig,
        help=f"the local stack's admin kubeconfig (default {layout.kubeconfig})",
    )
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=layout.state,
        help=f"pods live in STATE_DIR/pods/<namespace>/<pod>/ (default {layout.state})",
    )
    parser.add_argument(
        "-n", "--namespace", help="run the pods of this namespace only (default: every one)"
    )
    parser.add_argument("--node-name", default=NODE_NAME, help=f"default {NODE_NAME}")
    parser.add_argument(
        "--log-level", default="INFO", choices=("DEBUG", "INFO", "WARNING", "ERROR")
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run until SIGINT or SIGTERM; exit 0 after a clean stop, 1 when the API refuses."""
    args = build_parser(Layout.from_environment()).parse_args(argv)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        logging.Formatter("[podrunner] %(asctime)s %(pod)s %(message)s", defaults={"pod": "-"})
    )
    logging.basicConfig(level=args.log_level, handlers=[handler])
    runner = PodRunner(
        args.kubeconfig,
        args.state_dir,
        args.namespace,
        options=RunnerOptions(node_name=args.node_name),
    )
    stopping = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, request_stop)
    try:
        runner.start()
    except ApiError as exc:
        logging.getLogger(__name__).error("cannot register the node: %s", exc)  # noqa: TRY400
        return 1
    try:
        stopping.wait()
    finally:
        runner.stop()
    return 1 if runner.failures else 0
