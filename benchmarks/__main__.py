"""``python -m benchmarks [--quick] [NAME [options]]``: run the benchmarks, print a table.

With no NAME every benchmark runs, in the issue's order (crawl, decision,
survey, memory, parse, filter, then the datatrove block on Ray against one
local worker) plus the ``hooks`` diagnostic, the ``hostile`` policy files, the
``captures`` survey and the ``redis`` policy store; with a NAME only that one, and
the options after it are its own (``python -m benchmarks crawl --help``). The
``breakdown`` diagnostic (where a long crawl's page goes, about a quarter of
an hour) runs only when named.
Each benchmark of a whole run has a process of its own: what one leaves in
the heap (parsed corpora, cached origins) would otherwise slow the collector
down for the next one, and a peak RSS would be the run's so far.
``--quick`` runs everything small, to check that the suite works; its figures
are not the ones to quote. Every run merges its figures into
``benchmarks/results/latest.json``; the table is printed from that file.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Sequence
from typing import Any

from benchmarks import (
    breakdown,
    captures,
    crawl,
    datatrove_ray,
    decision,
    filter,
    hooks,
    hostile,
    memory,
    parse,
    redis_store,
    survey,
)
from benchmarks.common import RESULTS_DIR, ROOT

#: The survey's goals by answer latency (seconds); with no latency it is a diagnostic.
GOALS_SURVEY = survey.GOALS

RUNNERS: dict[str, Callable[[Sequence[str] | None], int]] = {
    "crawl": crawl.main,
    "decision": decision.main,
    "survey": survey.main,
    "memory": memory.main,
    "parse": parse.main,
    "hooks": hooks.main,
    "hostile": hostile.main,
    "filter": filter.main,
    "captures": captures.main,
    "redis": redis_store.main,
    "datatrove": datatrove_ray.main,
    "breakdown": breakdown.main,
}

#: Diagnostics run only when named: a whole run leaves them out.
ON_DEMAND = frozenset({"breakdown"})

QUICK: dict[str, list[str]] = {
    "crawl": ["--case", "200x21", "--pairs", "2", "--no-wait"],
    "decision": ["--rounds", "1"],
    "survey": ["--sites", "200", "--runs", "1", "--latency", "0.1"],
    "memory": ["--origins", "20000"],
    "parse": ["--rounds", "1"],
    "hooks": ["--number", "1000"],
    "hostile": ["--urls", "20", "--rounds", "1"],
    "filter": ["--records", "20000", "--origins", "1000", "--rounds", "1"],
    "captures": ["--captures", "20000"],
    "redis": ["--origins", "20", "--runs", "1", "--rounds", "1000"],
    "datatrove": ["--records", "20000", "--origins", "500"],
    "breakdown": ["--origins", "2", "--pages", "40", "--rounds", "1", "--freeze", "1"],
}


def table(results: dict[str, Any]) -> str:
    """One line per figure: what, the figure, the goal, whether it is met."""
    rows: list[tuple[str, str, str, str]] = []
    bench = results.get("benchmarks", {})
    for key, value in sorted(bench.items()):
        if key.startswith("crawl_"):
            limit = value["request_limit"]
            goal = crawl.goal(value["pages_per_origin"])
            low, high = value["ratio_range"]
            rows.append(
                (
                    f"crawl {value['origins']}x{value['pages_per_origin']} ({value['layout']})",
                    f"{value['ratio_median']:.3f} median of {value['pairs']} pairs "
                    f"({low:.3f} to {high:.3f}; cpu {value['cpu_ratio_median']:.3f}; "
                    f"request limit {limit:.3f})",
                    f">= {goal:.2f} (median)",
                    _met(value["ratio_median"] >= goal),
                )
            )
    for name, value in bench.get("decision", {}).items():
        if "skipped" in value:
            rows.append((f"decision {name}", "skipped", "<= 2", "-"))
            continue
        rows.append(
            (
                f"decision {name}",
                f"{value['ratio_median']:.2f}x ({value['addon_us']:.1f} vs "
                f"{value['protego_us']:.1f} us)",
                "<= 2x",
                _met(value["ratio_median"] <= 2.0),
            )
        )
    for name, value in bench.get("survey", {}).items():
        survey_goal = GOALS_SURVEY.get(value["latency_s"]) if not value["survey_args"] else None
        rows.append(
            (
                f"survey {name}",
                f"{value['ratio_median']:.2f}x a 32-thread script "
                f"({value['survey_sites_per_s']:.0f} vs {value['script_sites_per_s']:.0f} sites/s)",
                f">= {survey_goal:g}x" if survey_goal else "(diagnostic)",
                _met(value["ratio_median"] >= survey_goal) if survey_goal else "-",
            )
        )
    for key in sorted(k for k in bench if k.startswith("memory")):
        value = bench[key]
        rows.append(
            (
                f"memory {value['origins']} origins"
                + (
                    f", 404 pages of {value['notfound_bytes']} B" if value["notfound_bytes"] else ""
                ),
                f"{value['peak_rss_mb']:.0f} MB peak RSS",
                "<= 200 MB",
                _met(value["peak_rss_mb"] <= 200.0),
            )
        )
    if "parse" in bench:
        value = bench["parse"]
        rows.append(
            (
                "parse 2019 corpus",
                f"{value['addon_files_per_s']:.0f} vs {value['protego_files_per_s']:.0f} files/s "
                f"({value['ratio']:.2f}x)",
                "(Protego)",
                "-",
            )
        )
    if "hooks" in bench:
        value = bench["hooks"]
        rows.append(
            (
                "per-page hook cost",
                f"+{value['extra_per_page_us']:.1f} us over {value['baseline_total_us']:.1f} us",
                f"<= +{hooks.GOAL_US:g} us",
                _met(value["extra_per_page_us"] <= hooks.GOAL_US),
            )
        )
    for key in sorted((k for k in bench if k.startswith("captures_")), key=lambda k: int(k[9:])):
        value = bench[key]
        rows.append(
            (
                f"captures {value['captures']:,} ({value['groups']:,} host-months)",
                f"{value['peak_rss_mb']:.0f} MB peak RSS, {value['seconds']:.0f} s",
                "bounded",
                "-",
            )
        )
    for name, value in bench.get("hostile", {}).get("cases", {}).items():
        rows.append(
            (
                f"hostile {name}",
                f"{value['decision_ms_median']:.3f} ms per decision "
                f"(p99 {value['decision_ms_p99']:.3f})",
                "<= 1 ms",
                _met(value["decision_ms_median"] <= hostile.GOAL_MS),
            )
        )
    if "filter" in bench:
        value = bench["filter"]
        rows.append(
            (
                f"filter {value['records']} records, {value['origins']} origins",
                f"{value['ratio']:.2f}x a plain read -> write pass "
                f"({value['filter_records_per_s']:.0f} records/s)",
                f"<= {filter.GOAL:.2f}x",
                _met(value["ratio"] <= filter.GOAL),
            )
        )
    if "redis" in bench:
        value = bench["redis"]
        rows.append(
            (
                f"redis fleet {value['origins']}x{value['pages_per_origin']}, 2 workers / 1",
                f"{value['ratio_median']:.2f}x ({value['two_workers_pages_per_s']:.0f} vs "
                f"{value['one_worker_pages_per_s']:.0f} pages/s, {value['cpus']} cpus)",
                "-",
                "-",
            )
        )
        rows.append(
            (
                "redis policy fetches per origin and file",
                f"{value['fetches_per_origin_file_max']:.2f}",
                "1",
                _met(value["fetches_per_origin_file_max"] == 1.0),
            )
        )
        cost = value["decision"]
        rows.append(
            (
                "redis decision (local copy / every time)",
                f"{cost['redis_local_copy_us']:.1f} / {cost['redis_every_time_us']:.1f} us"
                f" (memory {cost['memory_us']:.1f} us)",
                "-",
                "-",
            )
        )
    if "datatrove" in bench:
        value = bench["datatrove"]
        rows.append(
            (
                f"datatrove {value['records']} records, Ray 2 workers vs 1 local",
                f"{value['speedup']:.2f}x ({value['ray_records_per_s']:.0f} vs "
                f"{value['local_records_per_s']:.0f} records/s, {value['cpus']} CPUs)",
                "(reported)",
                _met(value["same_result"]),
            )
        )
    for key in sorted(k for k in bench if k.startswith("breakdown_")):
        value = bench[key]
        addon = value["variants"].get("addon", {})
        downloader = value["variants"].get("downloader", {})
        parts = []
        if addon.get("extra_over_baseline_us") is not None:
            parts.append(f"add-on +{addon['extra_over_baseline_us']:.0f} us CPU a page")
        if downloader.get("extra_over_baseline_us") is not None:
            parts.append(f"downloader mw alone +{downloader['extra_over_baseline_us']:.0f}")
        parts.append(f"hooks in the crawl {value['hooks_in_crawl_total_us']:.0f} us")
        rows.append(
            (
                f"breakdown {value['origins']}x{value['pages_per_origin']} (diagnostic)",
                ", ".join(parts),
                "-",
                "-",
            )
        )
    widths = [
        max(len(row[i]) for row in [("benchmark", "figure", "goal", "met"), *rows])
        for i in range(4)
    ]
    lines = []
    for row in [("benchmark", "figure", "goal", "met"), *rows]:
        lines.append("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _met(ok: bool) -> str:
    return "yes" if ok else "NO"


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    quick = "--quick" in args[:1]
    if quick:
        args = args[1:]
    if args and args[0] in ("-h", "--help"):
        print(__doc__)
        print("benchmarks:", ", ".join(RUNNERS))
        return 0
    if args and args[0] in RUNNERS:
        name, rest = args[0], args[1:]
        status = RUNNERS[name]((QUICK[name] if quick else []) + rest)
    elif args:
        print(f"unknown benchmark {args[0]!r}; one of: {', '.join(RUNNERS)}", file=sys.stderr)
        return 2
    else:
        status = 0
        for name, runner in RUNNERS.items():
            if name in ON_DEMAND:
                continue
            print(f"== {name}", flush=True)
            command = [sys.executable, "-m", runner.__module__, *(QUICK[name] if quick else [])]
            status |= 1 if subprocess.run(command, cwd=ROOT, check=False).returncode else 0
    latest = RESULTS_DIR / "latest.json"
    if latest.exists():
        print()
        print(table(json.loads(latest.read_text())))
    return status


if __name__ == "__main__":
    sys.exit(main())
