"""The ``optout`` command: a thin argparse layer over the library.

Exit codes: 0 allowed (or success), 1 reserved, 2 error. Every error, bad
usage included, ends with exit 2 and one line on standard error; a reader
that closes standard output early (``optout check URL --json | head -c 1``)
ends the command quietly.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import sys
import traceback
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
    check.add_argument(
        "--timeout",
        metavar="S",
        type=_positive_float,
        default=15.0,
        help="seconds per fetch, more than 0 (default 15)",
    )
    check.add_argument("--json", action="store_true", help="print JSON instead of text")
    _registry_arg(check)

    survey = commands.add_parser(
        "survey",
        help="measure opt-outs across a list of sites or stored captures",
        description=(
            "Survey every site of INPUT (one domain or base URL per line, or rank,domain CSV), "
            "or stored captures (--captures), and write results.jsonl, summary.json and "
            "report.html into the output folder. Re-running into the same folder skips "
            "the sites already done."
        ),
    )
    survey.add_argument("input", metavar="INPUT", nargs="?", help="site list file")
    survey.add_argument("-o", "--out", metavar="DIR", required=True, help="output folder")
    survey.add_argument(
        "--captures",
        metavar="FILE",
        nargs="+",
        help="survey JSON Lines or WARC(.gz) captures instead of fetching (no INPUT then)",
    )
    _purpose_arg(survey)
    survey.add_argument("--user-agent", metavar="UA", help="User-Agent string of the survey")
    survey.add_argument(
        "--concurrency",
        metavar="N",
        type=_positive_int,
        help="requests in flight across all sites (default 512; per origin it stays 2)",
    )
    survey.add_argument(
        "--delay",
        metavar="S",
        type=_non_negative_float,
        help="seconds between two requests to one origin, randomised (default 0)",
    )
    survey.add_argument(
        "--retry-unreachable",
        action="store_true",
        help="when resuming, survey again the sites an earlier run could not reach",
    )
    survey.add_argument(
        "--pages",
        metavar="N",
        type=_non_negative_int,
        default=0,
        help="also read up to N same-origin links of each home page (default 0)",
    )
    survey.add_argument(
        "--compare-user-agent",
        metavar="UA",
        help="fetch each home page again with this User-Agent and record whether "
        "the answers differ",
    )
    survey.add_argument(
        "--workers",
        metavar="N",
        type=_positive_int,
        help="crawler processes sharing the sites by host (default: one per CPU, at most 8; "
        "1 surveys in this process)",
    )
    survey.add_argument("--quiet", action="store_true", help="no progress output")
    _registry_arg(survey)

    report = commands.add_parser(
        "report",
        help="summarise the exclusions recorded in crawl ledgers",
        description="Exclusions from one or many ledgers, by signal, stage, purpose and domain.",
    )
    report.add_argument("ledgers", metavar="LEDGER", nargs="+", help="ledger files (JSON Lines)")
    report.add_argument("--json", action="store_true", help="print JSON instead of text")
    report.add_argument("--html", metavar="FILE", help="also write an HTML report to FILE")
    _filter_commands(commands)
    return parser


def _filter_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    dataset = commands.add_parser(
        "filter",
        help="remove opted-out records from JSON Lines, Parquet or WARC datasets",
        description=(
            "Decide every record of each INPUT by the opt-outs of its URL's origin (and the "
            "headers and body the record carries), and write the kept records to OUT/kept/ "
            "with their provenance, the removals to OUT/ledger.jsonl and the counts to "
            "OUT/summary.json. Re-running into the same OUT resumes."
        ),
    )
    dataset.add_argument("inputs", metavar="INPUT", nargs="+", help="dataset files")
    dataset.add_argument("-o", "--out", metavar="OUT", required=True, help="output folder")
    _purpose_arg(dataset)
    dataset.add_argument("--user-agent", metavar="UA", help="User-Agent string of the crawler")
    dataset.add_argument(
        "--url-field", metavar="F", default="url", help="field with the URL (dotted: metadata.url)"
    )
    _registry_arg(dataset)
    dataset.add_argument(
        "--policies",
        metavar="live|DIR",
        default="live",
        help="fetch policy files (live, the default) or read a snapshot folder written earlier",
    )
    dataset.add_argument(
        "--captures",
        metavar="FILE",
        nargs="+",
        help="decide as of stored captures (JSON Lines or WARC) instead of fetching",
    )
    dataset.add_argument(
        "--workers", metavar="N", type=_positive_int, default=8, help="origins fetched at once"
    )
    dataset.add_argument(
        "--unknown",
        choices=["allow", "reserve"],
        default="allow",
        help="what an undecidable record or an unreadable ai.txt/tdmrep.json means",
    )
    dataset.add_argument(
        "--batch-size",
        metavar="N",
        type=_positive_int,
        default=5000,
        help="records per checkpoint (default 5000)",
    )
    dataset.add_argument("--quiet", action="store_true", help="no progress output")

    manifest = commands.add_parser(
        "manifest",
        help="write the compliance manifest of ledgers and kept datasets",
        description="Identity, purposes, period, protocols, counts and evidence hashes as JSON.",
    )
    manifest.add_argument("ledgers", metavar="LEDGER", nargs="+", help="ledger files")
    manifest.add_argument("--kept", metavar="DIR", help="folder of kept records (OUT/kept)")
    manifest.add_argument("-o", "--out", metavar="FILE", required=True, help="manifest JSON file")
    manifest.add_argument("--html", metavar="FILE", help="also write the manifest as HTML")


def _whole_number(text: str, least: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < least:
        raise argparse.ArgumentTypeError(f"must be at least {least}, not {value}")
    return value


def _positive_int(text: str) -> int:
    return _whole_number(text, 1)


def _non_negative_int(text: str) -> int:
    return _whole_number(text, 0)


def _finite_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, not {text!r}")
    return value


def _non_negative_float(text: str) -> float:
    value = _finite_float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, not {text!r}")
    return value


def _positive_float(text: str) -> float:
    value = _finite_float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be more than 0, not {text!r}")
    return value


def _purpose_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--purpose",
        choices=[str(p) for p in Purpose],
        default=str(Purpose.TRAIN),
        help="intended use of the content (default: train)",
    )


def _registry_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--registry",
        metavar="FILE",
        action="append",
        default=[],
        help="opt-out registry (JSON Lines or CSV): a path or an http(s) URL; repeatable",
    )


def _missing_registry(sources: Sequence[str]) -> str | None:
    """The first registry path that names no file, or ``None``."""
    from pathlib import Path

    from scrapy_optout.stores.registries import is_url

    return next((s for s in sources if not is_url(s) and not Path(s).is_file()), None)


def main(argv: Sequence[str] | None = None) -> int:
    try:
        code = _main(argv)
        sys.stdout.flush()  # a closed pipe is found here, not at interpreter exit
    except BrokenPipeError:
        # The reader went away: nothing more can be said on standard output,
        # and the interpreter must not fail again flushing it at exit.
        with contextlib.suppress(OSError, ValueError):  # no file descriptor under capture
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_ERROR
    return code


def _main(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on bad usage, 0 on --help
        return int(exc.code or 0)
    try:
        if args.command == "check":
            return _check(args)
        if args.command == "survey":
            return _survey(args)
        if args.command == "report":
            return _report(args)
        if args.command == "filter":
            return _filter(args)
        if args.command == "manifest":
            return _manifest(args)
    except BrokenPipeError:
        raise
    except (OptOutError, OSError) as exc:
        print(f"optout: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except Exception as exc:
        # A bug, not bad input: keep the traceback for the report, and exit 2 all the same.
        traceback.print_exc()
        print(f"optout: internal error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_ERROR
    parser.error(f"unknown command {args.command!r}")
    return EXIT_ERROR  # pragma: no cover - parser.error exits


def _check(args: argparse.Namespace) -> int:
    from scrapy_optout.frontends.check import DEFAULT_USER_AGENT, check_url, explain
    from scrapy_optout.frontends.http import HttpFetcher

    user_agent = args.user_agent or DEFAULT_USER_AGENT
    missing = _missing_registry(args.registry)
    if missing is not None:
        print(f"optout check: error: no such registry file: {missing}", file=sys.stderr)
        return EXIT_ERROR
    fetcher = HttpFetcher(user_agent, timeout=args.timeout)
    evaluator = None
    if args.registry:
        from scrapy_optout.policy.evaluate import Evaluator
        from scrapy_optout.stores.registries import (
            REGISTRY_KIND,
            REGISTRY_LIMITS,
            load_registries,
        )

        registries = load_registries(
            args.registry, lambda url: fetcher.file_at(url, REGISTRY_KIND, REGISTRY_LIMITS)
        )
        evaluator = Evaluator(user_agent, registries=registries)
    result = check_url(
        args.url, purpose=args.purpose, user_agent=user_agent, fetcher=fetcher, evaluator=evaluator
    )
    if args.json:
        print(json.dumps(result.to_dict(), indent=2, ensure_ascii=False))
    else:
        print(explain(result))
    return EXIT_RESERVED if result.verdict.reserved else EXIT_ALLOWED


def _survey(args: argparse.Namespace) -> int:
    from pathlib import Path

    from scrapy_optout.frontends.survey.spider import DEFAULT_USER_AGENT

    if bool(args.input) == bool(args.captures):
        print("optout survey: error: give either INPUT or --captures FILE...", file=sys.stderr)
        return EXIT_ERROR
    sources = [args.input] if args.input else args.captures
    missing = [s for s in sources if not Path(s).is_file()]
    if missing:
        print(f"optout survey: error: no such file: {missing[0]}", file=sys.stderr)
        return EXIT_ERROR
    missing_registry = _missing_registry(args.registry)
    if missing_registry is not None:
        print(f"optout survey: error: no such registry file: {missing_registry}", file=sys.stderr)
        return EXIT_ERROR
    user_agent = args.user_agent or DEFAULT_USER_AGENT
    if args.captures:
        from scrapy_optout.frontends.survey.captures import survey_captures

        summary = survey_captures(
            args.captures,
            args.out,
            purpose=args.purpose,
            user_agent=user_agent,
            progress=not args.quiet,
            registry=args.registry,
        )
    else:
        from scrapy_optout.frontends.survey.crawl import default_workers, run_survey

        summary = run_survey(
            args.input,
            args.out,
            purpose=args.purpose,
            user_agent=user_agent,
            concurrency=args.concurrency,
            delay=args.delay,
            retry_unreachable=args.retry_unreachable,
            pages=args.pages,
            compare_user_agent=args.compare_user_agent,
            progress=not args.quiet,
            registry=args.registry,
            workers=args.workers or default_workers(),
        )
    print(
        f"{summary['sites']} sites, {summary['reachable']} reachable, "
        f"{summary['reserved_any']} reserving something for {summary['purpose']}; "
        f"wrote {Path(args.out) / 'results.jsonl'}, summary.json and report.html"
    )
    return EXIT_ALLOWED


def _report(args: argparse.Namespace) -> int:
    from scrapy_optout.frontends.report import ledger_report, render_html, render_text

    report = ledger_report(args.ledgers)
    if args.html:
        from pathlib import Path

        Path(args.html).write_text(render_html(report), encoding="utf-8")
    if args.json:
        print(json.dumps(report, indent=2, ensure_ascii=False))
    else:
        print(render_text(report))
    return EXIT_ALLOWED


def _filter(args: argparse.Namespace) -> int:
    from scrapy_optout.frontends.check import DEFAULT_USER_AGENT
    from scrapy_optout.frontends.filter import filter_dataset

    missing = _missing_registry(args.registry)
    if missing is not None:
        print(f"optout filter: error: no such registry file: {missing}", file=sys.stderr)
        return EXIT_ERROR
    summary = filter_dataset(
        args.inputs,
        args.out,
        purpose=args.purpose,
        user_agent=args.user_agent or DEFAULT_USER_AGENT,
        url_field=args.url_field,
        policies=args.policies,
        captures=args.captures,
        workers=args.workers,
        unknown=args.unknown,
        batch_size=args.batch_size,
        progress=not args.quiet,
        registry=args.registry or (),
    )
    changed = summary["changed"]["newly_reserved"]
    print(
        f"{summary['records_read']} records: {summary['kept']} kept, {summary['removed']} removed"
        f" ({summary['unknown']} unknown, {summary['malformed']} malformed)"
        + (f", {changed} newly reserved since they were kept" if changed else "")
        + f"; wrote {args.out}/kept, ledger.jsonl and summary.json"
    )
    return EXIT_ALLOWED


def _manifest(args: argparse.Namespace) -> int:
    from pathlib import Path

    from scrapy_optout.frontends.filter.manifest import build_manifest, render_html

    manifest = build_manifest(args.ledgers, kept=args.kept)
    Path(args.out).write_text(json.dumps(manifest, indent=2, ensure_ascii=False), encoding="utf-8")
    if args.html:
        Path(args.html).write_text(render_html(manifest), encoding="utf-8")
    print(
        f"{manifest['removed']['total']} removed, {manifest['kept']['total']} kept,"
        f" {len(manifest['evidence'])} evidence files; wrote {args.out}"
    )
    return EXIT_ALLOWED


if __name__ == "__main__":
    sys.exit(main())
