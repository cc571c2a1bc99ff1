"""`dataquarantine records ...`: the REST API from a terminal.

    dataquarantine records list --error-type schema_violation --field-path /currency
    dataquarantine records show 1192dc33-74b3-5e26-9022-9acba96b6774
    dataquarantine records reprocess 1192dc33-... --dry-run
    dataquarantine records replay --field-path /currency --rate-limit 100 --wait
    dataquarantine records discard 1192dc33-... --reason "test data"

The API's address and token come from --url/--token or DQ_API_URL/DQ_API_TOKEN. Output is a
readable table; --json prints the API's JSON instead. Exit status: 0 on success, 1 when the API
refused or failed (its error code is printed), 2 for bad arguments.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final, TextIO

import httpx

DEFAULT_URL: Final = "http://localhost:8080"
RECORDS: Final = "/api/v1/quarantine/records"
REPLAYS: Final = "/api/v1/quarantine/replays"
_MESSAGE_WIDTH: Final = 60
_FINAL_STATES: Final = frozenset({"succeeded", "failed", "cancelled"})


class ApiCallError(Exception):
    """The API answered with an error (or could not be reached)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        """`status` 0 means the API could not be reached."""
        super().__init__(f"{code}: {message}")
        self.status = status
        self.code = code
        self.message = message


class Client:
    """A thin client of the REST API."""

    def __init__(self, http: httpx.Client) -> None:
        """Use `http` (base URL and token already set)."""
        self._http = http

    def call(
        self,
        method: str,
        path: str,
        *,
        params: Sequence[tuple[str, str]] = (),
        body: Mapping[str, Any] | None = None,
    ) -> Any:
        """The JSON answer; `ApiCallError` for an error answer."""
        try:
            reply = self._http.request(method, path, params=list(params), json=body)
        except httpx.HTTPError as exc:
            raise ApiCallError(0, "unreachable", str(exc)) from exc
        if reply.status_code >= 400:
            try:
                error = reply.json()
                raise ApiCallError(reply.status_code, str(error["code"]), str(error["message"]))
            except (ValueError, KeyError, TypeError):
                raise ApiCallError(
                    reply.status_code, f"http_{reply.status_code}", reply.text
                ) from None
        return reply.json()


def table(rows: Sequence[Sequence[str]], headers: Sequence[str]) -> str:
    """Columns padded to their widest cell, like kubectl's."""
    widths = [len(header) for header in headers]
    for row in rows:
        widths = [max(width, len(cell)) for width, cell in zip(widths, row, strict=True)]
    lines = [headers, *rows]
    return "\n".join(
        "   ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in lines
    )


def _short(text: str | None, width: int = _MESSAGE_WIDTH) -> str:
    text = (text or "").replace("\n", " ")
    return text if len(text) <= width else text[: width - 1] + "…"


def _filter_params(args: argparse.Namespace) -> list[tuple[str, str]]:
    params: list[tuple[str, str]] = []
    for name, value in (
        ("source_topic", args.topic),
        ("schema_name", args.schema),
        ("schema_version", args.schema_version),
        ("created_after", args.since),
        ("created_before", args.until),
        ("field_path", args.field_path),
        ("q", args.search),
    ):
        if value is not None:
            params.append((name, str(value)))
    params += [("error_type", value) for value in args.error_type]
    params += [("status", value) for value in args.status]
    return params


def _filter_body(args: argparse.Namespace) -> dict[str, Any]:
    body: dict[str, Any] = {}
    for name, value in _filter_params(args):
        if name in ("error_type", "status"):
            body.setdefault(name, []).append(value)
        elif name == "schema_version":
            body[name] = int(value)
        else:
            body[name] = value
    return body


def _record_rows(items: Sequence[Mapping[str, Any]]) -> list[list[str]]:
    return [
        [
            item["id"],
            item["created_at"][:19].replace("T", " "),
            f"{item['source_topic']}/{item['kafka_partition']}@{item['kafka_offset']}",
            f"{item['schema_name'] or '-'}:{item['schema_version'] or '-'}",
            item["error_type"],
            item["status"],
            _short(item["error_message"]),
        ]
        for item in items
    ]


def _errors_table(errors: Sequence[Mapping[str, Any]]) -> str:
    return table(
        [
            [error["path"] or "(record)", error["keyword"], _short(error["message"], 80)]
            for error in errors
        ],
        ["PATH", "KEYWORD", "MESSAGE"],
    )


Printer = Callable[[str], None]


def _list(client: Client, args: argparse.Namespace, out: Printer) -> Any:
    params = [*_filter_params(args), ("limit", str(args.limit))]
    if args.cursor:
        params.append(("cursor", args.cursor))
    page = client.call("GET", RECORDS, params=params)
    if args.json:
        return page
    items = list(page["items"])
    while args.all_pages and page["next_cursor"]:
        page = client.call("GET", RECORDS, params=[*params, ("cursor", page["next_cursor"])])
        items += page["items"]
    out(
        table(
            _record_rows(items),
            ["ID", "QUARANTINED", "SOURCE", "SCHEMA", "ERROR TYPE", "STATUS", "MESSAGE"],
        )
    )
    more = f"; next page: --cursor {page['next_cursor']}" if page["next_cursor"] else ""
    out(f"\n{len(items)} of {page['total']} records{more}")
    return None


def _show(client: Client, args: argparse.Namespace, out: Printer) -> Any:
    record = client.call("GET", f"{RECORDS}/{args.id}")
    if args.json:
        return record
    key = record["key"]
    fields = [
        ["id", record["id"]],
        ["status", f"{record['status']} (replayed {record['replay_count']}x)"],
        [
            "source",
            f"{record['source_topic']} partition {record['kafka_partition']} "
            f"offset {record['kafka_offset']}",
        ],
        ["key", "-" if key is None else f"{key['value']} ({key['encoding']})"],
        ["timestamp", record["kafka_timestamp"] or "-"],
        ["schema", f"{record['schema_name'] or '-'} version {record['schema_version'] or '-'}"],
        ["error type", record["error_type"]],
        ["quarantined", record["created_at"]],
        ["payload", record["storage"]["uri"]],
    ]
    out(table(fields, ["FIELD", "VALUE"]))
    out("\nerrors:\n" + _errors_table(record["errors"]))
    if record["headers"]:
        rows = [
            [h["name"], "null" if h["value"] is None else h["value"]["value"]]
            for h in record["headers"]
        ]
        out("\nheaders:\n" + table(rows, ["NAME", "VALUE"]))
    payload = record["payload"]
    if payload is None:
        out(f"\npayload: unavailable ({record['payload_error']})")
    elif payload["encoding"] == "json":
        out("\npayload (JSON):\n" + json.dumps(payload["value"], indent=2, ensure_ascii=False))
    else:
        out(f"\npayload (base64, {payload['size_bytes']} bytes):\n{payload['value']}")
    if record["events"]:
        rows = [
            [
                e["created_at"][:19].replace("T", " "),
                e["actor"],
                e["action"],
                json.dumps(e["result"]),
            ]
            for e in record["events"]
        ]
        out("\nhistory:\n" + table(rows, ["WHEN", "WHO", "ACTION", "RESULT"]))
    return None


def _reprocess(client: Client, args: argparse.Namespace, out: Printer) -> Any:
    body: dict[str, Any] = {"dry_run": args.dry_run}
    if args.schema_version is not None:
        body["schema_version"] = args.schema_version
    result = client.call("POST", f"{RECORDS}/{args.id}/reprocess", body=body)
    if args.json:
        return result
    ref = result["schema_ref"]
    against = "" if ref is None else f" against {ref['name']} version {ref['version']}"
    if result["outcome"] == "still_invalid":
        out(f"still invalid{against}: {result['error_type']}\n" + _errors_table(result["errors"]))
    elif result["outcome"] == "would_pass":
        out(f"would pass{against} (dry run: nothing was sent)")
    else:
        out(f"replayed{against}: sent to the valid topic, status {result['status']}")
    return None


def _replay_rows(replay: Mapping[str, Any]) -> list[list[str]]:
    counts = replay["counts"]
    invalid = ", ".join(f"{k}={v}" for k, v in sorted(counts["still_invalid"].items())) or "0"
    return [
        ["id", replay["id"]],
        ["state", replay["state"] + (" (dry run)" if replay["dry_run"] else "")],
        ["progress", f"{counts['processed']}/{counts['total']} ({replay['progress']:.0%})"],
        [
            "would pass" if replay["dry_run"] else "replayed",
            str(counts["would_pass"] if replay["dry_run"] else counts["replayed"]),
        ],
        ["still invalid", invalid],
        ["skipped", str(counts["skipped"])],
        ["unreadable", str(counts["unreadable"])],
        ["by", replay["created_by"]],
        ["error", replay["error"] or "-"],
    ]


def _replay(client: Client, args: argparse.Namespace, out: Printer) -> Any:
    body: dict[str, Any] = {
        "filter": _filter_body(args),
        "dry_run": args.dry_run,
        "all": args.every,
    }
    if args.rate_limit is not None:
        body["rate_limit"] = args.rate_limit
    if args.schema_version_to_use is not None:
        body["schema_version"] = args.schema_version_to_use
    replay = client.call("POST", REPLAYS, body=body)
    while args.wait and replay["state"] not in _FINAL_STATES:
        time.sleep(args.poll)
        replay = client.call("GET", f"{REPLAYS}/{replay['id']}")
    if args.json:
        return replay
    out(table(_replay_rows(replay), ["FIELD", "VALUE"]))
    if not args.wait:
        out(f"\nfollow it with: dataquarantine records replay-status {replay['id']}")
    return None


def _replay_status(client: Client, args: argparse.Namespace, out: Printer) -> Any:
    replay = client.call("GET", f"{REPLAYS}/{args.id}")
    if args.json:
        return replay
    out(table(_replay_rows(replay), ["FIELD", "VALUE"]))
    return None


def _discard(client: Client, args: argparse.Namespace, out: Printer) -> Any:
    body = {} if args.reason is None else {"reason": args.reason}
    result = client.call("POST", f"{RECORDS}/{args.id}/discard", body=body)
    if args.json:
        return result
    out(f"{result['record_id']} {result['status']}")
    return None


def _discard_matching(client: Client, args: argparse.Namespace, out: Printer) -> Any:
    body: dict[str, Any] = {
        "filter": _filter_body(args),
        "dry_run": args.dry_run,
        "all": args.every,
    }
    if args.reason is not None:
        body["reason"] = args.reason
    result = client.call("POST", "/api/v1/quarantine/discards", body=body)
    if args.json:
        return result
    verb = "would discard" if result["dry_run"] else "discarded"
    out(f"{verb} {result['matched'] if result['dry_run'] else result['discarded']} records")
    return None


def _stats(client: Client, args: argparse.Namespace, out: Printer) -> Any:
    stats = client.call("GET", "/api/v1/quarantine/stats")
    if args.json:
        return stats
    age = stats["oldest_quarantined_age_seconds"]
    out(table([[k, str(v)] for k, v in stats["by_status"].items()], ["STATUS", "RECORDS"]))
    out(
        "\n"
        + table([[k, str(v)] for k, v in stats["by_error_type"].items()], ["ERROR TYPE", "RECORDS"])
    )
    out(
        "\n"
        + table(
            [[c["path"] or "(record)", str(c["records"])] for c in stats["by_field_path"]],
            ["FIELD PATH", "RECORDS"],
        )
    )
    out(
        "\n"
        + table(
            [
                [f"{c['schema_name'] or '-'}:{c['schema_version'] or '-'}", str(c["records"])]
                for c in stats["by_schema_version"]
            ],
            ["SCHEMA", "RECORDS"],
        )
    )
    oldest = "-" if age is None else f"{age:.0f}s ago"
    rate = stats["rate_per_second_last_hour"]
    out(f"\noldest quarantined: {oldest}; last hour: {stats['created_last_hour']} ({rate:.3f}/s)")
    return None


def _add_filters(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--topic", help="source topic")
    parser.add_argument("--schema", help="schema name")
    parser.add_argument("--schema-version", type=int, help="schema version the record failed")
    parser.add_argument("--error-type", action="append", default=[], help="repeatable")
    parser.add_argument("--status", action="append", default=[], help="repeatable")
    parser.add_argument("--since", help="quarantined at or after (RFC 3339, with zone)")
    parser.add_argument("--until", help="quarantined before (RFC 3339, with zone)")
    parser.add_argument("--field-path", help="records with an error at this JSON pointer")
    parser.add_argument("--search", help="text in the error message")


def build_parser() -> argparse.ArgumentParser:
    """The `records` command line."""
    parser = argparse.ArgumentParser(
        prog="dataquarantine records",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--url", default=None, help=f"API address (DQ_API_URL, default {DEFAULT_URL})"
    )
    parser.add_argument("--token", default=None, help="bearer token (DQ_API_TOKEN)")
    parser.add_argument("--json", action="store_true", help="print the API's JSON")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds per request")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    listing = commands.add_parser("list", help="list quarantined records")
    _add_filters(listing)
    listing.add_argument("--limit", type=int, default=50)
    listing.add_argument("--cursor", help="next_cursor of a previous page")
    listing.add_argument("--all-pages", action="store_true", help="follow every page")
    listing.set_defaults(run=_list)

    show = commands.add_parser("show", help="one record with its errors and payload")
    show.add_argument("id")
    show.set_defaults(run=_show)

    reprocess = commands.add_parser("reprocess", help="re-validate one record, replay if valid")
    reprocess.add_argument("id")
    reprocess.add_argument("--dry-run", action="store_true")
    reprocess.add_argument("--schema-version", type=int)
    reprocess.set_defaults(run=_reprocess)

    replay = commands.add_parser("replay", help="bulk replay by filter")
    _add_filters(replay)
    replay.add_argument("--all", dest="every", action="store_true", help="no filter: every record")
    replay.add_argument("--dry-run", action="store_true")
    replay.add_argument("--rate-limit", type=int, help="records per second")
    replay.add_argument("--use-schema-version", dest="schema_version_to_use", type=int)
    replay.add_argument("--wait", action="store_true", help="wait until it finishes")
    replay.add_argument("--poll", type=float, default=1.0, help=argparse.SUPPRESS)
    replay.set_defaults(run=_replay)

    status = commands.add_parser("replay-status", help="a bulk replay's progress")
    status.add_argument("id")
    status.set_defaults(run=_replay_status)

    discard = commands.add_parser("discard", help="discard one record")
    discard.add_argument("id")
    discard.add_argument("--reason")
    discard.set_defaults(run=_discard)

    matching = commands.add_parser("discard-matching", help="discard every record a filter matches")
    _add_filters(matching)
    matching.add_argument(
        "--all", dest="every", action="store_true", help="no filter: every record"
    )
    matching.add_argument("--dry-run", action="store_true")
    matching.add_argument("--reason")
    matching.set_defaults(run=_discard_matching)

    stats = commands.add_parser("stats", help="counts by status, error type, field path, schema")
    stats.set_defaults(run=_stats)
    return parser


def main(
    argv: Sequence[str] | None = None,
    *,
    transport: httpx.BaseTransport | None = None,
    environ: Mapping[str, str] | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    """Run one `records` command; return the exit status."""
    out_stream = stdout or sys.stdout
    err_stream = stderr or sys.stderr
    env = os.environ if environ is None else environ
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    url = args.url or env.get("DQ_API_URL") or DEFAULT_URL
    token = args.token or env.get("DQ_API_TOKEN")
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}

    def out(text: str) -> None:
        print(text, file=out_stream)

    with httpx.Client(
        base_url=url, headers=headers, timeout=args.timeout, transport=transport
    ) as http:
        try:
            result = args.run(Client(http), args, out)
        except ApiCallError as failure:
            where = "" if failure.status == 0 else f" ({failure.status})"
            print(f"error{where}: {failure.code}: {failure.message}", file=err_stream)
            return 1
    if result is not None:
        out(json.dumps(result, indent=2, ensure_ascii=False))
    return 0
