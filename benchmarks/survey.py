"""Benchmark 3: survey throughput against a 32-thread ``requests`` script.

One farm of N one-page sites (one loopback address each, so each is its own
origin and its own download slot, as real sites are). Both sides get the same
site list and make the same four requests per site (``/robots.txt``,
``/ai.txt``, ``/.well-known/tdmrep.json`` and the home page):

* survey: ``optout survey SITES -o DIR --quiet`` in a fresh process, with its
  defaults (512 requests in flight, per origin 2 at a time, no delay, one
  crawler process per CPU up to 8, sharing the sites by host); it also
  evaluates every signal and writes ``results.jsonl``, ``summary.json`` and
  ``report.html``;
* script: 32 threads, each with its own ``requests.Session``, taking sites
  from a queue and fetching the four URLs one after the other, bodies read,
  nothing evaluated, nothing written.

Runs alternate, median of several. Throughput is sites over the wall time of
the whole command (process start, imports and report writing included for the
survey; thread start-up included for the script). ``--latency`` makes the farm
wait before every answer, standing for the network between a surveyor and
real sites (a first request to a site on the internet takes 100 ms to well
over a second: DNS, TCP and TLS set-up, the server). With no latency both
sides are bound by their own CPU, and the comparison says nothing about
surveys; it is kept as a diagnostic.

``python -m benchmarks.survey --sites 1000 --runs 3 --latency 0.1 0.25``
"""

from __future__ import annotations

import argparse
import json
import queue
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.common import ROOT, Farm, save_results

#: The goals by answer latency (seconds): twice the script's throughput at
#: 100 ms, three times at 250 ms; at another latency the run is a diagnostic.
GOALS = {0.1: 2.0, 0.25: 3.0}
PATHS = ("/robots.txt", "/ai.txt", "/.well-known/tdmrep.json", "/")


def requests_script(sites: Sequence[str], threads: int = 32, timeout: float = 20.0) -> float:
    """Fetch the four URLs of every site with *threads* threads; return the seconds taken."""
    import requests

    todo: queue.Queue[str | None] = queue.Queue()
    for site in sites:
        todo.put(site)
    for _ in range(threads):
        todo.put(None)
    failures: list[str] = []

    def worker() -> None:
        session = requests.Session()
        while True:
            site = todo.get()
            if site is None:
                break
            for path in PATHS:
                try:
                    session.get(site + path, timeout=timeout).content  # noqa: B018
                except requests.RequestException as exc:
                    failures.append(f"{site}{path}: {exc}")
        session.close()

    start = time.perf_counter()
    workers = [threading.Thread(target=worker) for _ in range(threads)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()
    elapsed = time.perf_counter() - start
    if failures:
        raise RuntimeError(f"{len(failures)} fetches failed, first: {failures[0]}")
    return elapsed


def run_survey(
    site_file: Path, out: Path, extra: Sequence[str] = ()
) -> tuple[float, dict[str, Any]]:
    command = [sys.executable, "-m", "scrapy_optout", "survey", str(site_file), "-o", str(out)]
    command += ["--quiet", *extra]
    start = time.perf_counter()
    proc = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=3600)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"optout survey exited with {proc.returncode}:\n{proc.stderr[-3000:]}")
    summary = json.loads((out / "summary.json").read_text())
    return elapsed, summary


def run_script(site_file: Path) -> float:
    """The requests script in a fresh process, timed from its own start."""
    command = [sys.executable, "-m", "benchmarks.survey", "--script", str(site_file)]
    start = time.perf_counter()
    proc = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=3600)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"requests script exited with {proc.returncode}:\n{proc.stderr[-3000:]}")
    return elapsed


def measure(
    sites: int, *, runs: int = 3, latency: float = 0.0, survey_args: Sequence[str] = ()
) -> dict[str, Any]:
    survey_times: list[float] = []
    script_times: list[float] = []
    summary: dict[str, Any] = {}
    with Farm(sites, 1, layout="hosts", latency=latency) as farm:
        tmp = Path(tempfile.mkdtemp(prefix="optout-survey-bench-"))
        try:
            site_file = tmp / "sites.txt"
            site_file.write_text("".join(f"{origin}/\n" for origin in farm.origins))
            for index in range(runs):
                order = ("survey", "script") if index % 2 == 0 else ("script", "survey")
                for side in order:
                    if side == "survey":
                        out = tmp / f"out-{index}"
                        elapsed, summary = run_survey(site_file, out, survey_args)
                        shutil.rmtree(out, ignore_errors=True)
                        survey_times.append(elapsed)
                    else:
                        script_times.append(run_script(site_file))
                    print(
                        f"  run {index + 1}/{runs} {side:6} "
                        f"{(survey_times if side == 'survey' else script_times)[-1]:7.2f} s",
                        flush=True,
                    )
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    survey_rate = [sites / t for t in survey_times]
    script_rate = [sites / t for t in script_times]
    ratios = [a / b for a, b in zip(survey_rate, script_rate, strict=True)]
    return {
        "sites": sites,
        "runs": runs,
        "latency_s": latency,
        "survey_args": list(survey_args),
        "survey_sites_per_s": statistics.median(survey_rate),
        "script_sites_per_s": statistics.median(script_rate),
        "ratio_median": statistics.median(ratios),
        "ratio_range": (min(ratios), max(ratios)),
        "survey_seconds": survey_times,
        "script_seconds": script_times,
        "surveyed": summary.get("sites"),
        "reachable": summary.get("reachable"),
        "goal": GOALS.get(latency) if not survey_args else None,
    }


def format_result(name: str, result: dict[str, Any]) -> str:
    low, high = result["ratio_range"]
    extra = f", survey {' '.join(result['survey_args'])}" if result["survey_args"] else ""
    goal = f"goal >= {result['goal']:g}" if result.get("goal") else "diagnostic"
    return (
        f"survey {name}: {result['sites']} sites, latency {result['latency_s'] * 1000:.0f} ms"
        f"{extra}: optout survey {result['survey_sites_per_s']:.1f} sites/s, requests script "
        f"{result['script_sites_per_s']:.1f} sites/s, ratio {result['ratio_median']:.2f} "
        f"[{low:.2f}..{high:.2f}] ({goal}); {result['reachable']} of "
        f"{result['surveyed']} reachable"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.survey", description=__doc__)
    parser.add_argument("--script", metavar="SITES", help=argparse.SUPPRESS)
    parser.add_argument("--sites", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--latency",
        type=float,
        nargs="*",
        default=[0.0, 0.1, 0.25],
        help="farm answer delays in seconds, one case each (default: 0, 0.1 and 0.25)",
    )
    parser.add_argument("--concurrency", type=int, help="also pass --concurrency N to the survey")
    parser.add_argument("--workers", type=int, help="also pass --workers N to the survey")
    parser.add_argument("--no-save", action="store_true")
    args = parser.parse_args(argv)
    if args.script:
        sites = [line.strip().rstrip("/") for line in Path(args.script).read_text().splitlines()]
        requests_script([s for s in sites if s])
        return 0
    survey_args = ["--concurrency", str(args.concurrency)] if args.concurrency else []
    if args.workers:
        survey_args += ["--workers", str(args.workers)]
    results: dict[str, Any] = {}
    for latency in args.latency:
        name = f"latency_{int(latency * 1000)}ms" + (
            f"_concurrency_{args.concurrency}" if args.concurrency else ""
        )
        name += f"_workers_{args.workers}" if args.workers else ""
        print(f"survey {name}: {args.sites} sites, {args.runs} runs each", flush=True)
        results[name] = measure(
            args.sites, runs=args.runs, latency=latency, survey_args=survey_args
        )
        print(format_result(name, results[name]), flush=True)
    if not args.no_save:
        save_results({"survey": results})
    return 0


if __name__ == "__main__":
    sys.exit(main())
