"""`python -m testenv up|down|status|env|install|purge`: the local stack from a terminal."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from testenv.advertising import LOOPBACK
from testenv.errors import StackError
from testenv.layout import Layout
from testenv.progress import say
from testenv.stack import GROUPS, Stack

DESCRIPTION = """\
Real Kafka, PostgreSQL, S3 (SeaweedFS) and Kubernetes API servers (etcd, kube-apiserver,
kube-controller-manager) on 127.0.0.1, without Docker. With `up --advertise HOST` (or
$DQ_ADVERTISE_HOST), Kafka, PostgreSQL and S3 listen on HOST, an address of this machine, and
name it to their clients, so that pods in kind's containers can reach them too.

Downloads and builds are cached in $DQ_CACHE (default ~/.cache/dataquarantine); runtime state,
logs, the env file and the kubeconfig live in $DQ_STATE (default <repo>/.testenv).
A cold first start builds Kubernetes from Go modules (10-20 minutes); later starts take seconds.
"""

EPILOG = """\
examples:
  python -m testenv up                    start everything
  python -m testenv up kafka postgres     start only these
  python -m testenv up --advertise 172.18.0.1 kafka postgres s3
                                          data services reachable at 172.18.0.1 (kind's gateway)
  eval "$(python -m testenv env --export)"  use the stack from a shell
  python -m testenv status                PIDs, ports, memory
  python -m testenv down                  stop exactly what was started
"""


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    parser = argparse.ArgumentParser(
        prog="python -m testenv",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    groups = ", ".join(GROUPS)

    up = commands.add_parser("up", help="install (cached) and start services")
    up.add_argument("services", nargs="*", help=f"services or groups ({groups}); default all")
    up.add_argument(
        "--port",
        action="append",
        default=[],
        metavar="SERVICE=PORT",
        help="fixed port for a service (e.g. kafka=9092, postgres=5432); default: a free one",
    )
    up.add_argument(
        "--advertise",
        metavar="HOST",
        help="an IPv4 address (or a name resolving to one) of this machine where Kafka, "
        "PostgreSQL and S3 listen and which they name to clients; default $DQ_ADVERTISE_HOST, "
        "else the address the stack was brought up with, else 127.0.0.1. Fixed while the "
        "stack runs",
    )

    install = commands.add_parser("install", help="download and build everything, start nothing")
    install.add_argument("services", nargs="*", help=f"services or groups ({groups})")

    commands.add_parser("down", help="stop every process this stack started")
    commands.add_parser("status", help="show services, PIDs, ports and memory")
    env = commands.add_parser("env", help="print the env file (KEY=value)")
    env.add_argument("--export", action="store_true", help="prefix lines with `export `")
    commands.add_parser("purge", help="stop and delete runtime state (keeps caches)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; exit 0 on success, 1 with a clear message on failure."""
    args = build_parser().parse_args(argv)
    stack = Stack(Layout.from_environment())
    if args.command == "up" and args.advertise is None:
        args.advertise = os.environ.get("DQ_ADVERTISE_HOST") or None
    try:
        return _run(stack, args)
    except StackError as exc:
        say(f"error: {exc}")
        return 1
    except KeyboardInterrupt:
        say("interrupted")
        return 130


def _run(stack: Stack, args: argparse.Namespace) -> int:
    if args.command == "up":
        stack.up(args.services, fixed_ports=_parse_ports(args.port), advertise=args.advertise)
        say(f"ready; env file: {stack.layout.env_file}")
        _print_status(stack)
    elif args.command == "install":
        stack.install(args.services)
        say(f"installed into {stack.layout.cache}")
    elif args.command == "down":
        stack.down()
    elif args.command == "status":
        return 0 if _print_status(stack) else 3
    elif args.command == "env":
        prefix = "export " if args.export else ""
        for key, value in stack.env().items():
            print(f"{prefix}{key}={value}")
    elif args.command == "purge":
        stack.purge()
    return 0


def _parse_ports(values: list[str]) -> dict[str, int]:
    ports: dict[str, int] = {}
    for value in values:
        name, _, port = value.partition("=")
        if not name or not port.isdigit():
            raise StackError(f"--port expects SERVICE=PORT, got {value!r}")
        ports[name] = int(port)
    return ports


def _print_status(stack: Stack) -> bool:
    """Print a table; True when every service of the stack is up."""
    rows = stack.status()
    print(f"{'SERVICE':<24} {'VERSION':<16} {'PID':>8} {'STATE':<8} {'RSS':>8}  PORTS")
    total = 0
    healthy = True
    for row in rows:
        state = "up" if row.alive else ("down" if row.pid is None else "dead")
        healthy &= row.alive
        total += row.rss_bytes
        ports = " ".join(f"{k}={v}" for k, v in row.ports.items())
        rss = f"{row.rss_bytes / 2**20:.0f}M" if row.alive else "-"
        print(f"{row.name:<24} {row.version:<16} {row.pid or '-':>8} {state:<8} {rss:>8}  {ports}")
    print(f"{'total RSS':<24} {'':<16} {'':>8} {'':<8} {total / 2**20:>7.0f}M")
    advertised = stack.advertised()
    if advertised is None:
        print(f"address: {LOOPBACK} (loopback only)")
    else:
        print(
            f"address: {advertised.address} (kafka, postgres and s3 listen and advertise there; "
            f"postgres admits {advertised.network})"
        )
    return healthy


if __name__ == "__main__":
    sys.exit(main())
