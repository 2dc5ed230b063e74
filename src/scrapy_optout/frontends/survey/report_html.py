"""The survey's HTML report: :func:`survey_report` renders a survey's ``summary.json``.

One self-contained file (see :mod:`scrapy_optout.frontends.htmlpage`, whose
tables and SVG charts it is built from, as ``optout report`` is for ledgers),
with the per-site table of its records.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from scrapy_optout.frontends.htmlpage import (
    PALETTE,
    Bar,
    bar_chart,
    cards,
    line_chart,
    note,
    page,
    pct,
    percent,
    section,
    table,
    trim,
)

__all__ = ["MAX_SITE_ROWS", "SITE_ROW_FIELDS", "survey_report"]

FULL_COLOUR = "#1f5fa8"
PARTIAL_COLOUR = "#9cc3ea"

#: Rows of the per-site table in a survey report; the rest is in results.jsonl.
MAX_SITE_ROWS = 2000
#: The record fields the sites table shows: all a report needs to keep of a record.
SITE_ROW_FIELDS = (
    "line",
    "site",
    "input",
    "rank",
    "error",
    "reachable",
    "month",
    "signals_reserving",
)

# -- the survey report ------------------------------------------------------------------


def survey_report(
    summary: Mapping[str, Any],
    records: Sequence[Mapping[str, Any]] = (),
    *,
    total: int | None = None,
) -> str:
    """The HTML report of a survey: key figures, charts and tables.

    *records* are the first records (at most ``MAX_SITE_ROWS`` are listed);
    *total* is how many there are in all, when only the first were passed.
    """
    purpose = str(summary.get("purpose", "train"))
    reachable = int(summary.get("reachable", 0))
    subtitle_bits = [f"purpose: {purpose}"]
    for key, label in (("input", "input"), ("user_agent", "user agent"), ("mode", "mode")):
        value = summary.get(key)
        if isinstance(value, list):
            value = ", ".join(str(v) for v in value)
        if value:
            subtitle_bits.append(f"{label}: {value}")
    subtitle_bits.append(f"generated {summary.get('generated_at', '')}")
    body = [
        cards(
            [
                (str(summary.get("sites", 0)), "sites"),
                (str(reachable), "reachable"),
                (str(summary.get("unreachable", 0)), "unreachable"),
                (str(summary.get("invalid", 0)), "invalid input lines"),
                (
                    f"{summary.get('reserved_any', 0)} "
                    f"({pct(percent(summary.get('reserved_any', 0), reachable))})",
                    f"reserve something for {purpose}",
                ),
                (
                    f"{summary.get('access_restricted', 0)} "
                    f"({pct(percent(summary.get('access_restricted', 0), reachable))})",
                    "restrict the surveying crawler",
                ),
            ]
        ),
        note(
            "Shares are of reachable sites. A site counts for a signal when a signal about AI or "
            f"TDM reserves at least part of the site for {purpose}; robots.txt groups count when "
            "they name an AI agent. What binds only the surveying crawler (its own group, the * "
            "group, a failed robots.txt) is counted apart, as access restricted. Per-agent "
            "figures read robots.txt only."
        ),
    ]
    body.append(_signal_section(summary, reachable, purpose))
    if summary.get("by_month"):
        body.append(_time_section(summary))
    body.append(_agent_section(summary, reachable))
    if summary.get("by_rank_bucket"):
        body.append(_rank_section(summary))
    if summary.get("by_suffix"):
        body.append(_suffix_section(summary))
    body.append(_purpose_section(summary, reachable))
    if summary.get("presence"):
        body.append(_presence_section(summary, reachable))
    if any((summary.get("by_edge") or {}).values()):
        body.append(_edge_section(summary))
    if records:
        body.append(_sites_section(records, purpose, len(records) if total is None else total))
    return page("AI opt-out survey", " \u00b7 ".join(subtitle_bits), body)


def _signal_section(summary: Mapping[str, Any], reachable: int, purpose: str) -> str:
    by_signal: Mapping[str, int] = summary.get("by_signal", {})
    bars = [
        Bar(
            signal,
            [(percent(count, reachable), PALETTE[0])],
            f"{count} ({pct(percent(count, reachable))})",
        )
        for signal, count in by_signal.items()
    ]
    rows = [(s, c, pct(percent(c, reachable))) for s, c in by_signal.items()]
    robots_txt = summary.get("robots_txt") or {}
    parts = [
        bar_chart(
            bars,
            caption=f"Sites reserving at least part of the site for {purpose}, by signal",
            scale=100.0,
            ident="chart-signal",
        ),
        table(["signal", "sites", "share of reachable"], rows, numeric=(1, 2)),
    ]
    if robots_txt:
        parts.append(
            note(
                "robots.txt counts a site when the group of an AI agent closes some path: "
                f"{robots_txt.get('ai_agent_groups', 0)} sites. Not counted: the group for the "
                "surveying crawler (or the * group) closing some path, or robots.txt failing "
                f"with a server error: {robots_txt.get('own_or_star_group', 0)} sites."
            )
        )
    return section("Prevalence by signal", *parts, anchor="signals")


def _agent_section(summary: Mapping[str, Any], reachable: int) -> str:
    named: Mapping[str, Mapping[str, int]] = summary.get("by_agent", {})
    effective: Mapping[str, Mapping[str, int]] = summary.get("by_agent_effective", {})
    categories: Mapping[str, str] = summary.get("agent_categories", {})

    def total(counts: Mapping[str, int] | None) -> int:
        return int((counts or {}).get("full", 0)) + int((counts or {}).get("partial", 0))

    ranked = sorted(named, key=lambda t: (-total(named[t]), -named[t].get("full", 0), t.lower()))
    top = [t for t in ranked if total(named[t])][:25]
    bars = [
        Bar(
            token,
            [
                (percent(named[token].get("full", 0), reachable), FULL_COLOUR),
                (percent(named[token].get("partial", 0), reachable), PARTIAL_COLOUR),
            ],
            f"{named[token].get('full', 0)} full, {named[token].get('partial', 0)} partial",
        )
        for token in top
    ]
    shown = [
        t
        for t in sorted(
            set(named) | set(effective),
            key=lambda t: (-total(named.get(t)), -total(effective.get(t)), t.lower()),
        )
        if total(named.get(t)) or total(effective.get(t))
    ]
    rows = [
        (
            token,
            categories.get(token, ""),
            named.get(token, {}).get("full", 0),
            named.get(token, {}).get("full_with_exceptions", 0),
            named.get(token, {}).get("partial", 0),
            effective.get(token, {}).get("full", 0),
            effective.get(token, {}).get("partial", 0),
        )
        for token in shown
    ]
    return section(
        "robots.txt by AI agent",
        bar_chart(
            bars,
            caption="Sites whose robots.txt names the agent and disallows all (full) or part "
            "(partial) of the site, top 25",
            scale=100.0,
            legend=[("full: / disallowed", FULL_COLOUR), ("partial: some path", PARTIAL_COLOUR)],
            ident="chart-agents",
        ),
        note(
            "Two bases, side by side: 'named' counts only groups that name the agent; "
            "'effective' counts the rules the agent must obey, which are the * group's when no "
            "group names it. Agents with no count on either basis are left out of the table."
        ),
        table(
            [
                "agent",
                "category",
                "named: full",
                "of which with exceptions",
                "named: partial",
                "effective: full",
                "effective: partial",
            ],
            rows,
            numeric=(2, 3, 4, 5, 6),
            scroll=True,
        ),
        anchor="agents",
    )


def _presence_section(summary: Mapping[str, Any], reachable: int) -> str:
    presence: Mapping[str, int] = summary["presence"]
    labels = {
        "robots.txt": "serve a robots.txt",
        "ai.txt": "serve an ai.txt",
        "tdmrep.json": "serve a tdmrep.json",
        "content-signal": "robots.txt has Content-Signal lines",
        "content-usage": "robots.txt has Content-Usage lines",
        "license": "robots.txt has License: lines (RSL)",
    }
    rows = [
        (labels.get(key, key), count, pct(percent(count, reachable)))
        for key, count in presence.items()
    ]
    return section(
        "Presence of policy files and lines",
        note("Presence, not reservation: a file or a line counts whatever it says."),
        table(["what", "sites", "share of reachable"], rows, numeric=(1, 2)),
        anchor="presence",
    )


def _edge_section(summary: Mapping[str, Any]) -> str:
    by_edge: Mapping[str, int] = summary["by_edge"]
    answered = sum(by_edge.values())
    bars = [
        Bar(
            klass,
            [(percent(n, answered), PALETTE[0])],
            f"{n} ({pct(percent(n, answered))})",
        )
        for klass, n in by_edge.items()
    ]
    parts = [
        bar_chart(bars, caption="Home page answers, by class", scale=100.0, ident="chart-edge"),
        note(
            "Shares are of the sites whose home page was asked for (unreachable ones included). "
            "licence: 401 asking for a licence; payment: 402; challenge: a challenge page."
        ),
    ]
    compare: Mapping[str, int] | None = summary.get("by_edge_compare")
    if compare:
        # --compare-user-agent: the same home pages asked for under a second identity.
        rows = [(klass, n, compare.get(klass, 0)) for klass, n in by_edge.items()]
        parts.append(
            table(["answer", "surveying crawler", "second identity"], rows, numeric=(1, 2))
        )
        parts.append(
            note(
                f"{summary.get('edge_differs', 0)} site(s) answered the second identity "
                f"({summary.get('compare_user_agent') or 'another User-Agent'}) with another "
                "status or class."
            )
        )
    return section("What the edge answered for the home page", *parts, anchor="edge")


def _purpose_section(summary: Mapping[str, Any], reachable: int) -> str:
    by_purpose: Mapping[str, int] = summary.get("by_purpose", {})
    rows = [(p, n, pct(percent(n, reachable))) for p, n in by_purpose.items()]
    return section(
        "Reservations by purpose",
        table(["purpose", "sites reserving something", "share of reachable"], rows, numeric=(1, 2)),
        anchor="purposes",
    )


def _time_section(summary: Mapping[str, Any]) -> str:
    months: Mapping[str, Mapping[str, Any]] = summary["by_month"]
    labels = list(months)
    shares = [percent(m.get("reserved_any", 0), m.get("reachable", 0)) for m in months.values()]
    latest = months[labels[-1]].get("by_agent", {})
    top = sorted(
        latest,
        key=lambda t: (
            -(latest[t].get("full", 0) + latest[t].get("partial", 0)),
            t.lower(),
        ),
    )
    top = [t for t in top if latest[t].get("full", 0) + latest[t].get("partial", 0)][:6]
    series: list[tuple[str, Sequence[float]]] = [("any reservation", shares)]
    for token in top:
        values = []
        for month in months.values():
            counts = month.get("by_agent", {}).get(token, {})
            values.append(
                percent(counts.get("full", 0) + counts.get("partial", 0), month.get("reachable", 0))
            )
        series.append((f"robots.txt names {token}", values))
    rows = [
        (
            month,
            figures.get("sites", 0),
            figures.get("reachable", 0),
            figures.get("reserved_any", 0),
            pct(percent(figures.get("reserved_any", 0), figures.get("reachable", 0))),
        )
        for month, figures in months.items()
    ]
    # Scale the axis to the data, in steps of twenty percent (ticks every five).
    highest = max((max(values, default=0.0) for _, values in series), default=0.0)
    y_max = min(100.0, 20.0 * (int(highest) // 20 + 1))
    return section(
        "Prevalence over time",
        line_chart(
            labels,
            series,
            caption="Share of sites with any reservation, and naming the most blocked agents",
            y_max=y_max,
            ident="chart-time",
        ),
        table(
            ["month", "sites", "reachable", "reserve something", "share"],
            rows,
            numeric=(1, 2, 3, 4),
        ),
        anchor="time",
    )


def _bucket_section(
    title: str,
    column: str,
    caption: str,
    ident: str,
    groups: Mapping[str, Mapping[str, Any]],
    limit: int,
) -> str:
    items = list(groups.items())[:limit]
    bars = [
        Bar(
            name,
            [(percent(g.get("reserved_any", 0), g.get("reachable", 0)), PALETTE[1])],
            f"{g.get('reserved_any', 0)}/{g.get('reachable', 0)} "
            f"({pct(percent(g.get('reserved_any', 0), g.get('reachable', 0)))})",
        )
        for name, g in items
    ]
    rows = [
        (
            name,
            g.get("sites", 0),
            g.get("reachable", 0),
            g.get("reserved_any", 0),
            pct(percent(g.get("reserved_any", 0), g.get("reachable", 0))),
        )
        for name, g in groups.items()
    ]
    return section(
        title,
        bar_chart(bars, caption=caption, scale=100.0, ident=ident),
        table(
            [column, "sites", "reachable", "reserve something", "share"],
            rows,
            numeric=(1, 2, 3, 4),
            scroll=True,
        ),
        anchor=ident.removeprefix("chart-"),
    )


def _rank_section(summary: Mapping[str, Any]) -> str:
    return _bucket_section(
        "By rank bucket",
        "rank",
        "Share of reachable sites reserving something, by rank",
        "chart-rank",
        summary["by_rank_bucket"],
        20,
    )


def _suffix_section(summary: Mapping[str, Any]) -> str:
    return _bucket_section(
        "By public suffix",
        "public suffix",
        "Share of reachable sites reserving something, by public suffix (largest 20)",
        "chart-suffix",
        summary["by_suffix"],
        20,
    )


def _sites_section(records: Sequence[Mapping[str, Any]], purpose: str, total: int) -> str:
    dated = any(record.get("month") for record in records)
    rows = []
    for record in records[:MAX_SITE_ROWS]:
        error = str(record.get("error") or "")
        if not record.get("site"):
            state = f"invalid: {error}"
        elif not record.get("reachable"):
            state = error if error.startswith("unreachable") else f"unreachable: {error}"
        else:
            state = "reachable"
        row = [
            record.get("line", ""),
            record.get("site") or record.get("input", ""),
            record.get("rank") if record.get("rank") is not None else "",
            trim(state, 120),
            ", ".join(record.get("signals_reserving") or ()),
        ]
        if dated:
            row.insert(3, record.get("month") or "")
        rows.append(row)
    headers = ["line", "site", "rank", "state", f"signals reserving ({purpose})"]
    if dated:
        headers.insert(3, "month")
    extra = (
        [note(f"The first {MAX_SITE_ROWS} of {total} records; all are in results.jsonl.")]
        if total > MAX_SITE_ROWS
        else []
    )
    return section(
        "Sites",
        table(headers, rows, numeric=(0, 2), scroll=True),
        *extra,
        anchor="sites",
    )
