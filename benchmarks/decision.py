"""Benchmark 2: cost of one cached per-request decision against one Protego ``can_fetch``.

For every robots.txt file of the corpora, both sides parse the file once (not
timed) and are then asked about the same URLs (the file's own rule paths,
made concrete, and common paths; up to 20 per file):

* add-on: ``Evaluator.origin_stage(policy, url).verdict("train")``, the
  decision :class:`~scrapy_optout.OptOutMiddleware` takes before each request:
  the crawler's own group, the group of every agent of the built-in catalogue
  that counts for training, Content-Usage and Content-Signal lines, and the
  origin's ai.txt and tdmrep.json (404, the common case);
* Protego: ``Protego.parse(text).can_fetch(url, "benchbot")``, what Scrapy's
  ``RobotsTxtMiddleware`` asks.

Timing alternates the two sides file by file, in rounds whose order flips;
the figure is the median over rounds of (add-on time / Protego time) summed
over all files. The first decision of each file, which builds the per-crawler
plan of that file, is timed apart: a crawl pays it once per origin.

``python -m benchmarks.decision --rounds 5``
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Sequence
from typing import Any

from benchmarks.common import save_results
from benchmarks.corpora import RobotsFile, firewall_sample, paths_for, robots_2019

GOAL = 2.0
USER_AGENT = "benchbot/1.0 (+https://example.invalid/bot)"
PROTEGO_AGENT = "benchbot"


def _prepare(files: list[RobotsFile]) -> list[tuple[Any, Any, list[str]]]:
    from protego import Protego

    from scrapy_optout.policy.snapshot import OriginPolicy, PolicyFile

    prepared = []
    for index, entry in enumerate(files):
        host = f"site{index}.example"
        origin = f"https://{host}:443"
        policy = OriginPolicy(
            origin,
            PolicyFile(
                "robots.txt",
                f"https://{host}/robots.txt",
                200,
                entry.body,
                content_type="text/plain",
            ),
            PolicyFile(
                "ai.txt", f"https://{host}/ai.txt", 404, b"Not Found", content_type="text/html"
            ),
            PolicyFile(
                "tdmrep.json",
                f"https://{host}/.well-known/tdmrep.json",
                404,
                b"Not Found",
                content_type="text/html",
            ),
        )
        parser = Protego.parse(entry.body.decode("utf-8-sig", errors="ignore"))
        urls = [f"https://{host}{path}" for path in paths_for(entry.body)]
        prepared.append((policy, parser, urls))
    return prepared


def measure(files: list[RobotsFile], *, rounds: int = 5, reps: int = 3) -> dict[str, Any]:
    from scrapy_optout.policy.evaluate import Evaluator
    from scrapy_optout.verdict import Purpose

    evaluator = Evaluator(USER_AGENT)
    prepared = _prepare(files)
    train = Purpose.TRAIN
    origin_stage = evaluator.origin_stage
    clock = time.perf_counter

    # First decision per file: builds the file's plan for this crawler.
    first = 0.0
    for policy, _parser, urls in prepared:
        start = clock()
        origin_stage(policy, urls[0]).verdict(train)
        first += clock() - start

    decisions = sum(len(urls) for _, _, urls in prepared) * reps
    ratios, ours_totals, protego_totals = [], [], []
    for round_index in range(rounds):
        ours = protego = 0.0
        for policy, parser, urls in prepared:
            can_fetch = parser.can_fetch

            def run_ours(policy: Any = policy, urls: list[str] = urls) -> float:
                start = clock()
                for _ in range(reps):
                    for url in urls:
                        origin_stage(policy, url).verdict(train)
                return clock() - start

            def run_protego(can_fetch: Any = can_fetch, urls: list[str] = urls) -> float:
                start = clock()
                for _ in range(reps):
                    for url in urls:
                        can_fetch(url, PROTEGO_AGENT)
                return clock() - start

            if round_index % 2 == 0:
                ours += run_ours()
                protego += run_protego()
            else:
                protego += run_protego()
                ours += run_ours()
        ratios.append(ours / protego)
        ours_totals.append(ours)
        protego_totals.append(protego)
    return {
        "files": len(files),
        "decisions_per_round": decisions,
        "rounds": rounds,
        "ratio_median": statistics.median(ratios),
        "ratio_range": (min(ratios), max(ratios)),
        "addon_us": statistics.median(ours_totals) / decisions * 1e6,
        "protego_us": statistics.median(protego_totals) / decisions * 1e6,
        "first_decision_us": first / len(prepared) * 1e6,
        "goal": GOAL,
    }


def run(rounds: int = 5) -> dict[str, Any]:
    results: dict[str, Any] = {}
    corpora = {
        "protego-robotstxt-2019": robots_2019(),
        "great-gpt-firewall-2024-2026": firewall_sample(),
    }
    for name, files in corpora.items():
        if not files:
            results[name] = {"skipped": "corpus not in fixtures/corpora"}
            continue
        results[name] = measure(files, rounds=rounds)
    return results


def format_result(results: dict[str, Any]) -> str:
    lines = []
    for name, result in results.items():
        if "skipped" in result:
            lines.append(f"decision {name}: skipped ({result['skipped']})")
            continue
        low, high = result["ratio_range"]
        lines.append(
            f"decision {name}: {result['addon_us']:.2f} us against Protego "
            f"{result['protego_us']:.2f} us, ratio {result['ratio_median']:.2f} "
            f"[{low:.2f}..{high:.2f}] (goal <= {GOAL:.0f}); {result['files']} files, "
            f"{result['decisions_per_round']} decisions per round; first decision per file "
            f"{result['first_decision_us']:.0f} us"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.decision", description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--no-save", action="store_true")
    args = parser.parse_args(argv)
    results = run(args.rounds)
    print(json.dumps(results, indent=2) if args.json else format_result(results))
    if not args.no_save:
        save_results({"decision": results})
    return 0


if __name__ == "__main__":
    sys.exit(main())
