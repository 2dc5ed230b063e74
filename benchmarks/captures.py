"""Benchmark: peak memory of a capture survey, whatever the number of captures.

``optout survey --captures`` groups captures per host and month through
sorted runs on disk (:func:`scrapy_optout.frontends.survey.captures.group_captures`)
and sums the summary as the records stream past, so its memory should not
grow with the input. This benchmark writes N synthetic captures to a
gzip-compressed JSON Lines file and surveys it in a fresh process, whose peak
resident set size (``VmHWM``) is the figure.

The captures imitate a monthly crawl's WARC files: N / 80 hosts, four
months, and per host and month twenty captures: robots.txt four times (on
different days, as a crawl that refetches it), ai.txt once, the home page
once and fourteen other pages. Within a month the hosts come in a shuffled
order and the captures of one host are far apart, so grouping needs the
sort. robots.txt bodies are the 2019 corpus's files under 2 KiB (real files,
cycled), with a line naming the host's sitemap so that no two hosts share a
body; every tenth host has a GPTBot group, every fifth a Content-Signal line.

``python -m benchmarks captures`` runs 500,000 captures (about a minute and a half on
the reference machine); ``--captures 10000000`` the full figure.
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.common import ROBOTS_2019, peak_rss_mb, run_json, save_results

#: Captures of one host in one month.
PER_GROUP = 20
#: Of which robots.txt (the first ones), then ai.txt, the home page, other pages.
ROBOTS_CAPTURES = 4
MONTHS = ("2025-01", "2025-02", "2025-03", "2025-04")


def write_captures(path: Path, captures: int, *, seed: int = 7) -> dict[str, int]:
    """Write about *captures* synthetic captures to *path*; returns their counts."""
    bodies: list[str] = []
    with gzip.open(ROBOTS_2019, "rt", encoding="utf-8") as handle:
        for line in handle:
            body = json.loads(line).get("body")
            if body and len(body) < 2048:
                bodies.append(body)
    groups = max(1, captures // PER_GROUP)
    hosts = max(1, groups // len(MONTHS))
    rng = random.Random(seed)
    order = list(range(hosts))
    written = 0
    with gzip.open(path, "wt", encoding="utf-8", compresslevel=1) as out:
        for month in MONTHS:
            rng.shuffle(order)
            for repeat in range(PER_GROUP):
                day = f"{month}-{1 + repeat:02d}"
                for index in order:
                    host = f"site{index}.example"
                    out.write(_capture(host, index, repeat, day, bodies) + "\n")
                    written += 1
    return {"captures": written, "hosts": hosts, "groups": hosts * len(MONTHS)}


def _capture(host: str, index: int, repeat: int, day: str, bodies: list[str]) -> str:
    if repeat < ROBOTS_CAPTURES:
        body = bodies[(index + repeat) % len(bodies)]
        extra = f"\nSitemap: https://{host}/sitemap-{repeat}.xml\n"
        if index % 10 == 0:
            extra += "User-agent: GPTBot\nDisallow: /\n"
        if index % 5 == 0:
            extra += "User-agent: *\nContent-Signal: search=yes, ai-train=no\n"
        return json.dumps({"url": f"https://{host}/robots.txt", "body": body + extra, "date": day})
    if repeat == ROBOTS_CAPTURES:
        return json.dumps(
            {"url": f"https://{host}/ai.txt", "status": 404, "body": "not found", "date": day}
        )
    path = "/" if repeat == ROBOTS_CAPTURES + 1 else f"/page/{repeat}"
    head = '<meta name="robots" content="noai">' if index % 20 == 0 else ""
    return json.dumps(
        {
            "url": f"https://{host}{path}",
            "status": 200,
            "headers": {"Content-Type": "text/html"},
            "body": f"<html><head><title>{host}</title>{head}</head><body>x</body></html>",
            "date": day,
        }
    )


def worker(path: Path, out: Path) -> dict[str, Any]:
    """Survey *path* into *out* in this process; the figures of the run."""
    from scrapy_optout.frontends.survey import survey_captures

    baseline = peak_rss_mb()
    started = time.perf_counter()
    summary = survey_captures([path], out, user_agent="bench/1.0")
    elapsed = time.perf_counter() - started
    return {
        "records": summary["records"],
        "sites": summary["sites"],
        "reserved_any": summary["reserved_any"],
        "seconds": elapsed,
        "peak_rss_mb": peak_rss_mb(),
        "baseline_peak_mb": baseline,
        "results_mb": (out / "results.jsonl").stat().st_size / 2**20,
    }


def run(captures: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-captures-") as folder:
        path = Path(folder) / "captures.jsonl.gz"
        started = time.perf_counter()
        counts = write_captures(path, captures)
        written = time.perf_counter() - started
        result: dict[str, Any] = run_json(
            ["-m", "benchmarks.captures", "--worker", str(path), str(Path(folder) / "out")],
            timeout=7200,
        )
        result.update(counts)
        result["input_mb"] = path.stat().st_size / 2**20
        result["write_seconds"] = written
        result["captures_per_s"] = counts["captures"] / result["seconds"]
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks captures", description=__doc__)
    parser.add_argument("--captures", type=int, default=500_000, help="default 500000")
    parser.add_argument("--worker", nargs=2, metavar=("INPUT", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(Path(args.worker[0]), Path(args.worker[1]))))
        return 0
    result = run(args.captures)
    print(
        f"{result['captures']:,} captures ({result['groups']:,} host-months) in "
        f"{result['seconds']:.0f} s ({result['captures_per_s']:,.0f} captures/s): "
        f"peak RSS {result['peak_rss_mb']:.0f} MB"
    )
    save_results({f"captures_{result['captures']}": result})
    return 0


if __name__ == "__main__":
    sys.exit(main())
