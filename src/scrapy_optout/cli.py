"""The ``optout`` command: a thin argparse layer over the library.

Exit codes: 0 allowed (or success), 1 reserved, 2 error.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from scrapy_optout.exceptions import OptOutError
from scrapy_optout.verdict import Purpose

EXIT_ALLOWED = 0
EXIT_RESERVED = 1
EXIT_ERROR = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="optout",
        description="Detect and honour AI-training and TDM opt-outs.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    check = commands.add_parser(
        "check",
        help="explain the verdict for one URL",
        description="Fetch a URL's policy files and the URL itself, and explain the verdict.",
    )
    check.add_argument("url", metavar="URL")
    _purpose_arg(check)
    check.add_argument("--user-agent", metavar="UA", help="User-Agent string of the crawler")
    check.add_argument("--timeout", type=float, default=15.0, help="seconds per fetch")
    check.add_argument("--json", action="store_true", help="print JSON instead of text")
    return parser


def _purpose_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--purpose",
        choices=[str(p) for p in Purpose],
        default=str(Purpose.TRAIN),
        help="intended use of the content (default: train)",
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on bad usage, 0 on --help
        return int(exc.code or 0)
    try:
        if args.command == "check":
            return _check(args)
    except OptOutError as exc:
        print(f"optout: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    parser.error(f"unknown command {args.command!r}")
    return EXIT_ERROR  # pragma: no cover - parser.error exits


def _check(args: argparse.Namespace) -> int:
    from scrapy_optout.check import DEFAULT_USER_AGENT, check_url, explain
    from scrapy_optout.fetch import HttpFetcher

    user_agent = args.user_agent or DEFAULT_USER_AGENT
    fetcher = HttpFetcher(user_agent, timeout=args.timeout)
    result = check_url(args.url, purpose=args.purpose, user_agent=user_agent, fetcher=fetcher)
    if args.json:
        print(json.dumps(result.to_dict(), indent=2, ensure_ascii=False))
    else:
        print(explain(result))
    return EXIT_RESERVED if result.verdict.reserved else EXIT_ALLOWED


if __name__ == "__main__":
    sys.exit(main())
