"""``optout report``: what one or many crawl ledgers excluded, and why.

Ledgers are JSON Lines files (see :mod:`scrapy_optout.stores.ledger`); several
processes write several files, and the report reads them together. Every
exclusion (an enforce-mode record whose ``verdict`` is ``reserved``) is counted
once per breakdown: by signal (each distinct signal among its reasons), by
stage, by purpose and by registrable domain.

Measure-mode records are never exclusions: nothing was dropped. They are
counted per URL (and purpose), whatever the number of their records: a URL
with a ``reserved`` record is one that the crawl *would exclude*; a URL whose
records all allow it is ``allowed``. A line that is not a ledger record
(garbage, a torn write, JSON of the wrong shape) is skipped and counted.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from scrapy_optout.exceptions import ConfigurationError
from scrapy_optout.frontends.htmlpage import (
    PALETTE,
    Bar,
    bar_chart,
    cards,
    note,
    page,
    percent,
    section,
    table,
)
from scrapy_optout.stores.ledger import read_ledger
from scrapy_optout.verdict import Purpose, Signal, Stage

__all__ = ["REPORT_VERSION", "ledger_report", "render_html", "render_text"]

REPORT_VERSION = 1
#: The stages of a crawl, in the order a request meets them (a dataset filter's
#: ``dataset`` stage is counted after them when its ledgers are read too).
STAGES = tuple(str(s) for s in (Stage.ORIGIN, Stage.HEADERS, Stage.BODY, Stage.ITEM))
#: How many rules the report quotes.
TOP_RULES = 20


def ledger_report(paths: Iterable[str | os.PathLike[str]]) -> dict[str, Any]:
    """Count the exclusions recorded in the ledgers *paths*.

    Raises :class:`~scrapy_optout.ConfigurationError` when a ledger does not
    exist or cannot be read.
    """
    files = [Path(p) for p in paths]
    for path in files:
        if not path.is_file():
            raise ConfigurationError(f"no such ledger: {path}")
    records: list[dict[str, Any]] = []
    malformed = 0
    for path in files:
        skipped: list[int] = []
        try:
            records.extend(read_ledger(path, malformed=skipped))
        except OSError as exc:
            raise ConfigurationError(f"cannot read the ledger {path}: {exc.strerror}") from exc
        malformed += len(skipped)
    excluded = [r for r in records if r["verdict"] == "reserved" and r.get("mode") != "measure"]
    by_signal: Counter[str] = Counter()
    rules: Counter[tuple[str, str]] = Counter()
    for record in excluded:
        reasons = _reasons(record)
        by_signal.update({str(r.get("signal")) for r in reasons})
        rules.update({(str(r.get("signal")), str(r.get("rule", ""))) for r in reasons})
    # Measure mode: one verdict per URL and purpose; reserved by any record wins.
    would: dict[tuple[str, str], set[str]] = {}
    measured: set[tuple[str, str]] = set()
    for record in records:
        if record.get("mode") != "measure":
            continue
        key = (str(record.get("purpose")), record["url"])
        measured.add(key)
        if record["verdict"] == "reserved":
            would.setdefault(key, set()).update(str(r.get("signal")) for r in _reasons(record))
    would_signals: Counter[str] = Counter()
    for signals in would.values():
        would_signals.update(signals)
    times = sorted(str(r["time"]) for r in records if r.get("time"))
    domains = Counter(str(r.get("domain") or "") for r in excluded)
    return {
        "v": REPORT_VERSION,
        "ledgers": [str(p) for p in files],
        "records": len(records),
        "malformed_lines": malformed,
        "exclusions": len(excluded),
        "would_exclude": len(would),
        "allowed": len(measured) - len(would),
        "first": times[0] if times else None,
        "last": times[-1] if times else None,
        "domains": len(domains),
        "by_signal": _ordered(by_signal, [str(s) for s in Signal]),
        "by_stage": _ordered(Counter(str(r.get("stage")) for r in excluded), STAGES),
        "by_purpose": _ordered(
            Counter(str(r.get("purpose")) for r in excluded), [str(p) for p in Purpose]
        ),
        "by_domain": dict(sorted(domains.items(), key=lambda item: (-item[1], item[0]))),
        "by_spider": dict(Counter(str(r.get("spider")) for r in excluded).most_common()),
        "would_exclude_by_signal": _ordered(would_signals, [str(s) for s in Signal]),
        "top_rules": [
            {"signal": signal, "rule": rule, "exclusions": count}
            for (signal, rule), count in sorted(rules.items(), key=lambda i: (-i[1], i[0]))[
                :TOP_RULES
            ]
        ],
    }


def _reasons(record: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [r for r in record.get("reasons") or () if isinstance(r, Mapping)]


def _ordered(counts: Counter[str], known: Sequence[str]) -> dict[str, int]:
    """Known keys first, in their order (zeros included), then any others by count."""
    result = {key: counts.get(key, 0) for key in known}
    for key, count in counts.most_common():
        result.setdefault(key, count)
    return result


def render_text(report: Mapping[str, Any]) -> str:
    """The report as plain text, for the terminal."""
    lines = [
        f"{report['exclusions']} exclusions in {report['records']} ledger records "
        f"({len(report['ledgers'])} ledger(s), {report['domains']} domains)",
    ]
    if report.get("first"):
        lines.append(f"from {report['first']} to {report['last']}")
    if report.get("would_exclude") or report.get("allowed"):
        lines.append(
            f"measure mode: {report['would_exclude']} URLs would be excluded,"
            f" {report['allowed']} allowed (not counted as exclusions)"
        )
    if report.get("malformed_lines"):
        lines.append(f"{report['malformed_lines']} malformed lines skipped")
    for title, key in (
        ("signal", "by_signal"),
        ("stage", "by_stage"),
        ("purpose", "by_purpose"),
        ("domain", "by_domain"),
    ):
        counts: Mapping[str, int] = report[key]
        shown = [(k, v) for k, v in counts.items() if v][:25]
        lines += ["", f"Exclusions by {title}:"]
        lines += [f"  {k:<32} {v:>6}" for k, v in shown] or ["  (none)"]
        if key == "by_domain" and len(counts) > len(shown):
            lines.append(f"  ... and {len(counts) - len(shown)} more")
    if report.get("would_exclude"):
        shown = [(k, v) for k, v in report["would_exclude_by_signal"].items() if v]
        lines += ["", "Would exclude (measure mode, URLs) by signal:"]
        lines += [f"  {k:<32} {v:>6}" for k, v in shown]
    if report.get("top_rules"):
        lines += ["", "Most frequent rules:"]
        lines += [
            f"  {r['exclusions']:>6}  {r['signal']:<14} {r['rule'][:70]}"
            for r in report["top_rules"]
        ]
    return "\n".join(lines)


def render_html(report: Mapping[str, Any]) -> str:
    """The report as a self-contained HTML page with charts."""
    total = int(report["exclusions"])

    def bars(counts: Mapping[str, int], colour: str, limit: int = 25) -> list[Bar]:
        return [
            Bar(key, [(value, colour)], f"{value} ({percent(value, total):.0f}%)")
            for key, value in list(counts.items())[:limit]
        ]

    body = [
        cards(
            [
                (str(total), "exclusions"),
                (str(report["records"]), "ledger records"),
                (str(report["would_exclude"]), "would exclude (measure mode)"),
                (str(report["allowed"]), "allowed (measure mode)"),
                (str(report["malformed_lines"]), "malformed lines skipped"),
                (str(report["domains"]), "domains"),
                (str(len(report["ledgers"])), "ledgers"),
            ]
        ),
        note("An exclusion whose reasons name several signals counts once for each."),
        section(
            "By signal",
            bar_chart(
                bars(report["by_signal"], PALETTE[0]),
                caption="Exclusions by signal",
                ident="chart-signal",
            ),
            anchor="signals",
        ),
        section(
            "By stage",
            bar_chart(
                bars(report["by_stage"], PALETTE[1]),
                caption="Exclusions by the stage that decided",
                ident="chart-stage",
            ),
            anchor="stages",
        ),
        section(
            "By purpose",
            bar_chart(
                bars(report["by_purpose"], PALETTE[2]),
                caption="Exclusions by the crawl's purpose",
                ident="chart-purpose",
            ),
            anchor="purposes",
        ),
        section(
            "By domain",
            bar_chart(
                bars(report["by_domain"], PALETTE[4]),
                caption="Exclusions by registrable domain (largest 25)",
                ident="chart-domain",
            ),
            table(
                ["domain", "exclusions"],
                list(report["by_domain"].items()),
                numeric=(1,),
                scroll=True,
            ),
            anchor="domains",
        ),
        section(
            "Most frequent rules",
            table(
                ["exclusions", "signal", "rule"],
                [(r["exclusions"], r["signal"], r["rule"]) for r in report["top_rules"]],
                numeric=(0,),
            ),
            anchor="rules",
        ),
    ]
    span = f"{report['first']} to {report['last']}" if report.get("first") else "no records"
    subtitle = f"{', '.join(report['ledgers'])} \u00b7 {span}"
    return page("Opt-out exclusions", subtitle, body)
