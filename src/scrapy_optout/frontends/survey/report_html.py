"""Self-contained HTML reports: tables and hand-drawn SVG charts.

A report is one file with its CSS inline and its charts as inline SVG, so it
opens anywhere, offline, and can be mailed or archived as it is: no script, no
web font, no image, nothing fetched. Every string that may come from a site or
an input file (site names, public suffixes, error messages, quoted rules)
passes through :func:`esc` before it reaches the page.

:func:`survey_report` renders a survey's ``summary.json`` (and its records);
the building blocks (:func:`page`, :func:`table`, :func:`bar_chart`,
:func:`line_chart`) are shared with ``optout report`` for ledgers.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "Bar",
    "bar_chart",
    "cards",
    "esc",
    "line_chart",
    "note",
    "page",
    "percent",
    "section",
    "survey_report",
    "table",
]

#: Colours of chart series, chosen to stay apart for common colour blindness.
PALETTE = ("#1f5fa8", "#e07b28", "#2a9d6f", "#c0392b", "#7b4fa0", "#8c6d31", "#d45aa8", "#5b6770")
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

_CSS = """
:root { color-scheme: light; }
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
       color: #1d2329; background: #f6f7f9; margin: 0; }
main { max-width: 1080px; margin: 0 auto; padding: 24px 28px 60px; }
h1 { font-size: 26px; margin: 8px 0 4px; }
h2 { font-size: 19px; margin: 36px 0 10px; border-bottom: 1px solid #d9dde3; padding-bottom: 4px; }
p.meta { color: #5b6770; margin: 0 0 18px; font-size: 13px; }
p.note { color: #5b6770; font-size: 13px; max-width: 820px; }
.cards { display: flex; flex-wrap: wrap; gap: 12px; margin: 18px 0; }
.card { background: #fff; border: 1px solid #d9dde3; border-radius: 8px; padding: 10px 16px;
        min-width: 130px; }
.card .value { font-size: 26px; font-weight: 600; }
.card .label { color: #5b6770; font-size: 13px; }
figure { margin: 12px 0 18px; background: #fff; border: 1px solid #d9dde3; border-radius: 8px;
         padding: 10px 12px; overflow-x: auto; }
figcaption { font-weight: 600; font-size: 14px; margin-bottom: 6px; }
svg text { font: 12px system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; fill: #1d2329; }
svg .muted { fill: #5b6770; }
table { border-collapse: collapse; background: #fff; margin: 8px 0 16px; font-size: 13px; }
th, td { border: 1px solid #d9dde3; padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #eef1f4; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
.scroll { max-height: 560px; overflow: auto; }
code { font-size: 12px; }
"""


def esc(value: object) -> str:
    """Escape *value* for HTML text and attribute values."""
    return html.escape("" if value is None else str(value), quote=True)


def percent(part: float, whole: float) -> float:
    """*part* as a percentage of *whole* (0 when *whole* is 0)."""
    return 100.0 * part / whole if whole else 0.0


def _fmt_pct(value: float) -> str:
    return f"{value:.1f}%" if value < 10 else f"{value:.0f}%"


def _clip(text: str, size: int = 30) -> str:
    return text if len(text) <= size else text[: size - 1] + "\u2026"


# -- page building blocks ----------------------------------------------------------------


def page(title: str, subtitle: str, body: Iterable[str]) -> str:
    """A complete HTML document with the report stylesheet inline."""
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{esc(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n<main>\n"
        f'<h1>{esc(title)}</h1>\n<p class="meta">{esc(subtitle)}</p>\n'
        + "\n".join(body)
        + "\n</main>\n</body>\n</html>\n"
    )


def section(title: str, *parts: str, anchor: str = "") -> str:
    """An ``<h2>`` followed by *parts* (already rendered HTML)."""
    ident = f' id="{esc(anchor)}"' if anchor else ""
    return f"<section{ident}>\n<h2>{esc(title)}</h2>\n" + "\n".join(parts) + "\n</section>"


def note(text: str) -> str:
    return f'<p class="note">{esc(text)}</p>'


def cards(items: Sequence[tuple[str, str]]) -> str:
    """Key figures as a row of cards: ``(value, label)`` pairs."""
    inner = "".join(
        f'<div class="card"><div class="value">{esc(value)}</div>'
        f'<div class="label">{esc(label)}</div></div>'
        for value, label in items
    )
    return f'<div class="cards">{inner}</div>'


def table(
    headers: Sequence[str],
    rows: Iterable[Sequence[object]],
    *,
    numeric: Iterable[int] = (),
    scroll: bool = False,
) -> str:
    """An HTML table; every cell is escaped. Columns in *numeric* align right."""
    right = set(numeric)

    def cls(index: int) -> str:
        return ' class="num"' if index in right else ""

    head = "".join(f"<th{cls(i)}>{esc(h)}</th>" for i, h in enumerate(headers))
    body = "\n".join(
        "<tr>" + "".join(f"<td{cls(i)}>{esc(c)}</td>" for i, c in enumerate(row)) + "</tr>"
        for row in rows
    )
    markup = f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n</tbody>\n</table>"
    return f'<div class="scroll">{markup}</div>' if scroll else markup


@dataclass
class Bar:
    """One row of a bar chart: a label and stacked ``(value, colour)`` segments.

    ``note`` is printed after the bar (a count, a percentage); ``tip`` is the
    tooltip of the row.
    """

    label: str
    segments: Sequence[tuple[float, str]]
    note: str = ""
    tip: str = ""


def bar_chart(
    bars: Sequence[Bar],
    *,
    caption: str,
    scale: float | None = None,
    legend: Sequence[tuple[str, str]] = (),
    ident: str = "",
) -> str:
    """A horizontal (stacked) bar chart as an inline SVG inside a ``<figure>``.

    Bar lengths are proportional to the sum of their segments over *scale*
    (default: the longest bar). *legend* lists ``(label, colour)`` pairs.
    """
    label_w, bar_w, note_w, row_h, top = 200, 520, 150, 24, 8
    legend_h = 24 if legend else 0
    width = label_w + bar_w + note_w
    height = top + max(len(bars), 1) * row_h + legend_h + 8
    biggest = max((sum(v for v, _ in b.segments) for b in bars), default=0.0)
    scale = scale if scale and scale > 0 else (biggest or 1.0)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{esc(caption)}">'
    ]
    if not bars:
        parts.append(f'<text x="8" y="{top + 16}" class="muted">No data.</text>')
    for index, bar in enumerate(bars):
        y = top + index * row_h
        tip = bar.tip or f"{bar.label}: {bar.note}"
        parts.append(f"<g><title>{esc(tip)}</title>")
        parts.append(
            f'<text x="{label_w - 8}" y="{y + 16}" text-anchor="end">{esc(_clip(bar.label))}</text>'
        )
        x = float(label_w)
        for value, colour in bar.segments:
            length = bar_w * max(value, 0.0) / scale
            if length > 0:
                parts.append(
                    f'<rect x="{x:.1f}" y="{y + 4}" width="{length:.1f}" height="{row_h - 8}" '
                    f'fill="{esc(colour)}" rx="2"/>'
                )
            x += length
        parts.append(f'<text x="{x + 6:.1f}" y="{y + 16}" class="muted">{esc(bar.note)}</text>')
        parts.append("</g>")
    if legend:
        _legend(parts, legend, label_w, height - legend_h + 4)
    parts.append("</svg>")
    return _figure(caption, "".join(parts), ident)


def line_chart(
    x_labels: Sequence[str],
    series: Sequence[tuple[str, Sequence[float]]],
    *,
    caption: str,
    y_max: float = 100.0,
    unit: str = "%",
    ident: str = "",
) -> str:
    """A line chart (one line per series) as an inline SVG inside a ``<figure>``."""
    width, height = 860, 320
    left, right, top, bottom = 52, 44, 14, 84
    plot_w, plot_h = width - left - right, height - top - bottom
    y_max = y_max if y_max > 0 else 1.0
    n = len(x_labels)

    def x_at(i: int) -> float:
        return left + (plot_w * i / (n - 1) if n > 1 else plot_w / 2)

    def y_at(v: float) -> float:
        return top + plot_h * (1 - min(max(v, 0.0), y_max) / y_max)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{esc(caption)}">'
    ]
    for step in range(5):
        value = y_max * step / 4
        y = y_at(value)
        parts.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{width - right}" y2="{y:.1f}" stroke="#e3e6ea"/>'
        )
        parts.append(
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" class="muted">'
            f"{esc(f'{value:g}{unit}')}</text>"
        )
    every = max(1, (n + 11) // 12)  # at most about twelve labels on the axis
    for i, label in enumerate(x_labels):
        if i % every == 0 or i == n - 1:
            parts.append(
                f'<text x="{x_at(i):.1f}" y="{top + plot_h + 16}" text-anchor="middle" '
                f'class="muted">{esc(label)}</text>'
            )
    for index, (name, values) in enumerate(series):
        colour = PALETTE[index % len(PALETTE)]
        points = " ".join(f"{x_at(i):.1f},{y_at(v):.1f}" for i, v in enumerate(values))
        parts.append(f"<g><title>{esc(name)}</title>")
        if len(values) > 1:
            parts.append(
                f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="2"/>'
            )
        for i, v in enumerate(values):
            parts.append(
                f'<circle cx="{x_at(i):.1f}" cy="{y_at(v):.1f}" r="3" fill="{colour}">'
                f"<title>{esc(f'{name}, {x_labels[i]}: {v:.1f}{unit}')}</title></circle>"
            )
        parts.append("</g>")
    _legend(
        parts,
        [(name, PALETTE[i % len(PALETTE)]) for i, (name, _) in enumerate(series)],
        left,
        height - bottom + 36,
        wrap=width - right,
    )
    parts.append("</svg>")
    return _figure(caption, "".join(parts), ident)


def _legend(
    parts: list[str],
    items: Sequence[tuple[str, str]],
    x0: float,
    y: float,
    *,
    wrap: float = 900,
) -> None:
    x = x0
    for label, colour in items:
        text = _clip(label, 34)
        size = 22 + 7 * len(text)
        if x + size > wrap and x > x0:
            x, y = x0, y + 18
        parts.append(f'<rect x="{x:.0f}" y="{y:.0f}" width="12" height="12" fill="{esc(colour)}"/>')
        parts.append(f'<text x="{x + 16:.0f}" y="{y + 10:.0f}">{esc(text)}</text>')
        x += size


def _figure(caption: str, svg: str, ident: str) -> str:
    attr = f' id="{esc(ident)}"' if ident else ""
    caption_html = f"<figcaption>{esc(caption)}</figcaption>"
    return f'<figure class="chart"{attr}>\n{caption_html}\n{svg}\n</figure>'


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
                    f"({_fmt_pct(percent(summary.get('reserved_any', 0), reachable))})",
                    f"reserve something for {purpose}",
                ),
                (
                    f"{summary.get('access_restricted', 0)} "
                    f"({_fmt_pct(percent(summary.get('access_restricted', 0), reachable))})",
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
            f"{count} ({_fmt_pct(percent(count, reachable))})",
        )
        for signal, count in by_signal.items()
    ]
    rows = [(s, c, _fmt_pct(percent(c, reachable))) for s, c in by_signal.items()]
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
        (labels.get(key, key), count, _fmt_pct(percent(count, reachable)))
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
        Bar(klass, [(percent(n, answered), PALETTE[0])], f"{n} ({_fmt_pct(percent(n, answered))})")
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
    rows = [(p, n, _fmt_pct(percent(n, reachable))) for p, n in by_purpose.items()]
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
            _fmt_pct(percent(figures.get("reserved_any", 0), figures.get("reachable", 0))),
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
            f"({_fmt_pct(percent(g.get('reserved_any', 0), g.get('reachable', 0)))})",
        )
        for name, g in items
    ]
    rows = [
        (
            name,
            g.get("sites", 0),
            g.get("reachable", 0),
            g.get("reserved_any", 0),
            _fmt_pct(percent(g.get("reserved_any", 0), g.get("reachable", 0))),
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
            _clip(state, 120),
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
