"""`python -m quarantine_operator`: run the operator with this package's kopf handlers.

The composition root: settings come from the environment (`DQ_OPERATOR_*`, see `settings`) and
are overridden by the flags below; logs are JSON lines on stderr.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, get_args

import kopf

from quarantine_operator import handlers
from quarantine_operator.settings import LogLevel, OperatorSettings


def build_parser() -> argparse.ArgumentParser:
    """The command line."""
    parser = argparse.ArgumentParser(
        prog="python -m quarantine_operator",
        description=(
            "DataQuarantine operator: reconciles ValidationSchema and QuarantinePipeline "
            "resources (dataquarantine.io/v1alpha1). Every option can also be set in the "
            "environment as DQ_OPERATOR_<OPTION> (e.g. DQ_OPERATOR_NAMESPACES=a,b)."
        ),
    )
    scope = parser.add_mutually_exclusive_group()
    scope.add_argument(
        "-n",
        "--namespace",
        dest="namespaces",
        action="append",
        metavar="NAMESPACE",
        help="watch this namespace (repeatable; glob patterns such as 'team-*' allowed)",
    )
    scope.add_argument(
        "-A",
        "--all-namespaces",
        action="store_true",
        help="watch every namespace (the default when no namespace is configured)",
    )
    parser.add_argument("--image", help="default image of the validator and API pods")
    parser.add_argument(
        "--metrics-port", type=int, help="port of /metrics (default 8080; 0 turns it off)"
    )
    parser.add_argument(
        "--liveness-port", type=int, help="port of /healthz (default 8081; 0 turns it off)"
    )
    parser.add_argument("--log-level", choices=get_args(LogLevel), help="default INFO")
    parser.add_argument(
        "--kubeconfig",
        type=Path,
        help="kubeconfig file (default: $KUBECONFIG, else in-cluster, else ~/.kube/config)",
    )
    return parser


def settings_from(args: argparse.Namespace) -> OperatorSettings:
    """The environment's settings with the command line's overrides."""
    overrides: dict[str, Any] = {
        name: value
        for name in ("image", "metrics_port", "liveness_port", "log_level", "kubeconfig")
        if (value := getattr(args, name)) is not None
    }
    if args.namespaces:
        overrides["namespaces"] = tuple(args.namespaces)
    elif args.all_namespaces:
        overrides["namespaces"] = ()
    return OperatorSettings(**overrides)


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the command line, configure JSON logging and run kopf until it is stopped."""
    settings = settings_from(build_parser().parse_args(argv))
    # kopf's JSON formatter adds the object each log line is about, and `extra` fields.
    kopf.configure(log_format=kopf.LogFormat.JSON)
    logging.getLogger().setLevel(settings.log_level)
    kopf.run(
        registry=handlers.registry,
        standalone=True,  # one replica (Recreate strategy): no peering objects needed
        clusterwide=settings.clusterwide,
        namespaces=settings.namespaces,
        liveness_endpoint=settings.liveness_endpoint,
        memo=kopf.Memo({handlers.MEMO_SETTINGS: settings}),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
