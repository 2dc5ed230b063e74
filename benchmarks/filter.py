"""Benchmark: ``optout filter`` throughput against a plain read -> write pass.

Synthetic JSON Lines records (an id, a URL and ``--text-bytes`` of text, 3000 by default) spread
over many origins, whose policy snapshots sit in a snapshot folder already
(as after a first shard, or a prefetch), so nothing is fetched. Two passes
over the same file in the same process, alternating which goes first:

* plain: read each line, parse it, serialise it, write it (what any
  read -> write step of a dataset pipeline does);
* filter: :func:`filter_dataset` with ``policies=FOLDER``: decide every
  record, write the kept ones with their provenance, the removals to the
  ledger, checkpoints and the summary.

The figure is the filter's time over the plain pass's (goal: at most 1.30).
One origin in ten reserves training in robots.txt (a ``CCBot`` group).

``python -m benchmarks filter --records 1000000 --origins 10000``
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.common import peak_rss_mb, report

GOAL = 1.30
_WORDS = [
    "the",
    "of",
    "and",
    "to",
    "in",
    "is",
    "was",
    "for",
    "on",
    "that",
    "with",
    "by",
    "as",
    "at",
    "from",
    "his",
    "an",
    "were",
    "are",
    "which",
]


def make_dataset(
    folder: Path, records: int, origins: int, text_bytes: int = 3000, seed: int = 53
) -> Path:
    rng = random.Random(seed)
    path = folder / "shard.jsonl"
    words = max(1, text_bytes // 4)
    with path.open("w", encoding="utf-8") as out:
        for n in range(records):
            site = rng.randrange(origins)
            text = " ".join(rng.choices(_WORDS, k=words))
            record = {"id": f"r{n}", "url": f"https://site{site}.example.org/p/{n}", "text": text}
            out.write(json.dumps(record) + "\n")
    return path


def make_policies(folder: Path, origins: int) -> Path:
    from scrapy_optout.policy.snapshot import OriginPolicy, PolicyFile
    from scrapy_optout.stores.folder import SnapshotFolder

    store = SnapshotFolder(folder / "policies")
    for site in range(origins):
        origin = f"https://site{site}.example.org:443"
        robots = "User-agent: *\nDisallow: /private/\n"
        if site % 10 == 0:
            robots = "User-agent: CCBot\nDisallow: /\n\n" + robots
        store.put(
            OriginPolicy(
                origin,
                PolicyFile("robots.txt", origin + "/robots.txt", 200, robots.encode()),
                PolicyFile("ai.txt", origin + "/ai.txt", 404, b""),
                PolicyFile("tdmrep.json", origin + "/.well-known/tdmrep.json", 404, b""),
            )
        )
    return store.path


def plain_pass(source: Path, target: Path) -> None:
    with source.open("rb") as read, target.open("wb") as write:
        for line in read:
            record = json.loads(line)
            write.write(json.dumps(record, ensure_ascii=False).encode() + b"\n")


def filter_pass(source: Path, out: Path, policies: Path) -> dict[str, Any]:
    from scrapy_optout.frontends.filter import filter_dataset

    return filter_dataset(
        [source], out, user_agent="bench-filter/1.0", policies=str(policies), progress=False
    )


def measure(records: int, origins: int, rounds: int, text_bytes: int = 3000) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="optout-bench-filter-"))
    try:
        source = make_dataset(work, records, origins, text_bytes)
        policies = make_policies(work, origins)
        plain_times: list[float] = []
        filter_times: list[float] = []
        summary: dict[str, Any] = {}
        for round_ in range(rounds):
            order = ("plain", "filter") if round_ % 2 == 0 else ("filter", "plain")
            for which in order:
                target = work / f"{which}-{round_}"
                started = time.perf_counter()
                if which == "plain":
                    plain_pass(source, target)
                    plain_times.append(time.perf_counter() - started)
                    target.unlink()
                else:
                    summary = filter_pass(source, target, policies)
                    filter_times.append(time.perf_counter() - started)
                    shutil.rmtree(target)
        plain, filtered = statistics.median(plain_times), statistics.median(filter_times)
        return {
            "records": records,
            "origins": origins,
            "rounds": rounds,
            "text_bytes": text_bytes,
            "megabytes": source.stat().st_size / 1e6,
            "plain_s": plain,
            "filter_s": filtered,
            "plain_records_per_s": records / plain,
            "filter_records_per_s": records / filtered,
            "ratio": filtered / plain,
            "kept": summary.get("kept"),
            "removed": summary.get("removed"),
            "peak_rss_mb": peak_rss_mb(),
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)


def format_result(result: dict[str, Any]) -> str:
    return (
        f"filter: {result['records']} records ({result['megabytes']:.0f} MB) over "
        f"{result['origins']} origins: filter {result['filter_records_per_s']:.0f} records/s, "
        f"plain read -> write {result['plain_records_per_s']:.0f} records/s: ratio "
        f"{result['ratio']:.2f} (goal <= {GOAL:.2f}); {result['removed']} removed; "
        f"peak RSS {result['peak_rss_mb']:.0f} MB"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks filter", description=__doc__)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--origins", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--text-bytes", type=int, default=3000)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--no-save", action="store_true")
    args = parser.parse_args(argv)
    result = measure(args.records, args.origins, args.rounds, args.text_bytes)
    report("filter", result, format_result(result), as_json=args.json, save=not args.no_save)
    return 0


if __name__ == "__main__":
    sys.exit(main())
