"""Benchmark 5: robots.txt parse throughput over the 2019 corpus, against Protego.

Every file of the corpus (4,231 real robots.txt files, 17 MB) is parsed by
both, in rounds that alternate which goes first; each side's figure is the
median over rounds of the time to parse the whole corpus:

* add-on: ``RobotsTxt.parse(body)`` on the raw bytes (it decodes them itself);
* Protego: ``Protego.parse(body.decode("utf-8-sig", "ignore"))``, which is what
  Scrapy's ``ProtegoRobotParser`` does with a downloaded body.

Also reported, not compared: building a whole ``OriginPolicy`` (robots.txt
parsed, ai.txt and tdmrep.json as 404) and the first decision on each file,
which builds the per-crawler plan (what a crawl pays once per origin).

``python -m benchmarks.parse --rounds 5``
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
from benchmarks.corpora import robots_2019


def measure(rounds: int = 5) -> dict[str, Any]:
    from protego import Protego

    from scrapy_optout.policy.evaluate import Evaluator
    from scrapy_optout.policy.snapshot import OriginPolicy, PolicyFile
    from scrapy_optout.protocols.robots import RobotsTxt
    from scrapy_optout.verdict import Purpose

    files = robots_2019()
    bodies = [f.body for f in files]
    total_bytes = sum(map(len, bodies))
    clock = time.perf_counter

    def ours() -> float:
        start = clock()
        for body in bodies:
            RobotsTxt.parse(body)
        return clock() - start

    def protego() -> float:
        start = clock()
        for body in bodies:
            Protego.parse(body.decode("utf-8-sig", errors="ignore"))
        return clock() - start

    ours_times, protego_times = [], []
    for index in range(rounds):
        if index % 2 == 0:
            ours_times.append(ours())
            protego_times.append(protego())
        else:
            protego_times.append(protego())
            ours_times.append(ours())

    # Whole snapshots and the first decision, once.
    evaluator = Evaluator("benchbot/1.0 (+https://example.invalid/bot)")
    start = clock()
    policies = []
    for index, body in enumerate(bodies):
        host = f"https://site{index}.example"
        policies.append(
            OriginPolicy(
                host + ":443",
                PolicyFile(
                    "robots.txt", host + "/robots.txt", 200, body, content_type="text/plain"
                ),
                PolicyFile("ai.txt", host + "/ai.txt", 404, b"Not Found"),
                PolicyFile("tdmrep.json", host + "/.well-known/tdmrep.json", 404, b"Not Found"),
            )
        )
    snapshot_time = clock() - start
    start = clock()
    for index, policy in enumerate(policies):
        evaluator.origin_stage(policy, f"https://site{index}.example/").verdict(Purpose.TRAIN)
    first_decision_time = clock() - start

    ours_median = statistics.median(ours_times)
    protego_median = statistics.median(protego_times)
    return {
        "files": len(bodies),
        "megabytes": total_bytes / 1e6,
        "rounds": rounds,
        "addon_seconds": ours_median,
        "protego_seconds": protego_median,
        "addon_files_per_s": len(bodies) / ours_median,
        "protego_files_per_s": len(bodies) / protego_median,
        "addon_mb_per_s": total_bytes / 1e6 / ours_median,
        "protego_mb_per_s": total_bytes / 1e6 / protego_median,
        "ratio": protego_median / ours_median,
        "snapshot_files_per_s": len(bodies) / snapshot_time,
        "first_decision_us": first_decision_time / len(bodies) * 1e6,
    }


def format_result(result: dict[str, Any]) -> str:
    return (
        f"parse: {result['files']} files ({result['megabytes']:.1f} MB): add-on "
        f"{result['addon_files_per_s']:.0f} files/s ({result['addon_mb_per_s']:.1f} MB/s), "
        f"Protego {result['protego_files_per_s']:.0f} files/s "
        f"({result['protego_mb_per_s']:.1f} MB/s): throughput ratio {result['ratio']:.2f}; "
        f"whole snapshots {result['snapshot_files_per_s']:.0f}/s, first decision "
        f"{result['first_decision_us']:.0f} us per file"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.parse", description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--no-save", action="store_true")
    args = parser.parse_args(argv)
    result = measure(args.rounds)
    print(json.dumps(result, indent=2) if args.json else format_result(result))
    if not args.no_save:
        save_results({"parse": result})
    return 0


if __name__ == "__main__":
    sys.exit(main())
