"""Self-contained HTML pages: tables and hand-drawn SVG charts.

A page is one file with its CSS inline and its charts as inline SVG, so it
opens anywhere, offline, and can be mailed or archived as it is: no script, no
web font, no image, nothing fetched. Every string that may come from a site or
an input file (site names, public suffixes, error messages, quoted rules)
passes through :func:`esc` before it reaches the page.

The building blocks of ``optout survey``'s report
(:func:`~scrapy_optout.frontends.survey.report_html.survey_report`) and of
``optout report`` for ledgers.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = [
    "PALETTE",
    "Bar",
    "bar_chart",
    "cards",
    "esc",
    "line_chart",
    "note",
    "page",
    "pct",
    "percent",
    "section",
    "table",
    "trim",
]

#: Colours of chart series, chosen to stay apart for common colour blindness.
PALETTE = ("#1f5fa8", "#e07b28", "#2a9d6f", "#c0392b", "#7b4fa0", "#8c6d31", "#d45aa8", "#5b6770")

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


def pct(value: float) -> str:
    """A percentage as a table shows it: one decimal under 10%, none above."""
    return f"{value:.1f}%" if value < 10 else f"{value:.0f}%"


def trim(text: str, size: int = 30) -> str:
    """*text* cut to *size* characters, an ellipsis marking the cut."""
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
            f'<text x="{label_w - 8}" y="{y + 16}" text-anchor="end">{esc(trim(bar.label))}</text>'
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
        text = trim(label, 34)
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
