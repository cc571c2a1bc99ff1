"""`python -m validator_pod COMMAND`: the entry point of the validator and API processes.

Each command is a function from parsed arguments to an exit status, registered in `COMMANDS`;
the `api` command belongs to the REST API (validator_pod.web) and replaces its stub there.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from validator_pod.logging import configure_logging
from validator_pod.pipeline.service import run_validator
from validator_pod.settings import Settings

logger = logging.getLogger("validator_pod")

DESCRIPTION = """\
DataQuarantine data plane. The operator runs `run` (the validator) and `api` (the REST API)
for each QuarantinePipeline, with the pipeline's ConfigMap mounted as --config-dir.

Settings come from DQ_* environment variables: DQ_CONFIG_DIR, DQ_POSTGRES_DSN, DQ_S3_ACCESS_KEY,
DQ_S3_SECRET_KEY, DQ_KAFKA_SECURITY_PROTOCOL, DQ_KAFKA_SASL_MECHANISM, DQ_KAFKA_SASL_USERNAME,
DQ_KAFKA_SASL_PASSWORD, DQ_KAFKA_SSL_CA_FILE, DQ_API_TOKENS, DQ_POD_NAME, DQ_METRICS_PORT
(default 9400), DQ_HTTP_PORT (default 8080), DQ_BIND_ADDRESS (default 0.0.0.0),
DQ_LOG_LEVEL (default INFO).
"""

EPILOG = """\
exit status: 0 after a clean stop (SIGTERM/SIGINT), 2 for an invalid configuration, 1 otherwise.

examples:
  python -m validator_pod run --config-dir /etc/dataquarantine
  DQ_LOG_LEVEL=DEBUG python -m validator_pod run --config-dir ./pipeline
"""

Handler = Callable[[argparse.Namespace, Settings], int]


@dataclass(frozen=True, slots=True)
class Command:
    """A subcommand: its help line, description and handler."""

    help: str
    description: str
    handler: Handler


def _run(args: argparse.Namespace, settings: Settings) -> int:
    return asyncio.run(run_validator(settings))


def _api(args: argparse.Namespace, settings: Settings) -> int:
    # Imported here: the validator (`run`) does not load FastAPI and uvicorn.
    from validator_pod.web.serving import run_api

    return run_api(settings)


COMMANDS: dict[str, Command] = {
    "run": Command(
        help="consume, validate and route records (the validator workload)",
        description="Consume the pipeline's source topics, forward valid records, quarantine "
        "invalid ones (S3 + PostgreSQL + dead-letter topic) and commit offsets only after all "
        "of a batch's outputs are acknowledged. Serves /healthz, /readyz and /metrics on "
        "DQ_METRICS_PORT.",
        handler=_run,
    ),
    "api": Command(
        help="serve the pipeline's REST API",
        description="Serve the per-pipeline REST API on DQ_HTTP_PORT (tokens: DQ_API_TOKENS, "
        "one name:role:token per line).",
        handler=_api,
    ),
}


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface, one subparser per entry of `COMMANDS`."""
    parser = argparse.ArgumentParser(
        prog="python -m validator_pod",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, command in COMMANDS.items():
        sub = commands.add_parser(name, help=command.help, description=command.description)
        sub.add_argument(
            "--config-dir",
            type=Path,
            metavar="DIR",
            help="directory with pipeline.yaml and schemas/<name>/<version>.json "
            "(default: $DQ_CONFIG_DIR, else /etc/dataquarantine)",
        )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse arguments and settings, set up JSON logging, run the command. `records ...` is
    the terminal client of the REST API (validator_pod.records_cli)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["records"]:
        from validator_pod.records_cli import main as records_main

        return records_main(argv[1:])
    args = build_parser().parse_args(argv)
    try:
        settings = Settings() if args.config_dir is None else Settings(config_dir=args.config_dir)
    except ValidationError as exc:
        configure_logging("INFO")
        logger.error("invalid settings: %s", exc)  # noqa: TRY400 - no traceback needed
        return 2
    configure_logging(settings.log_level)
    try:
        return COMMANDS[args.command].handler(args, settings)
    except KeyboardInterrupt:
        return 130
    except Exception:
        logger.exception("%s failed", args.command)
        return 1


if __name__ == "__main__":
    sys.exit(main())
