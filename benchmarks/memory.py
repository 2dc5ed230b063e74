"""Benchmark 4: peak memory with 100 000 origins in the policy cache.

A fresh process fills a real :class:`~scrapy_optout.scrapy.policystore.EnginePolicyStore`
(``OPTOUT_CACHE_SIZE = 100000``) with one :class:`OriginPolicy` per origin, as
the store builds them from fetched files, and takes one decision per origin
(so that every origin's per-crawler evaluation state exists, as in a crawl).
Its peak resident set size is the figure (``VmHWM``; see
:func:`benchmarks.common.peak_rss_mb`).

Per origin:

* ``robots.txt``: 200, a body taken from the 2019 corpus (4,231 real files,
  cycled in a shuffled order) with one line naming the origin's sitemap
  appended, so that no two origins share a body (real sites do not share
  their bytes objects, and most name their own sitemap);
* ``ai.txt`` and ``/.well-known/tdmrep.json``: 404 with a small HTML body
  naming the path, as a default server error page (``--notfound-bytes``
  pads it, for sites that answer with a full themed page).

The figure includes the interpreter, Scrapy and the corpus itself (about
17 MB of bodies held while the cache is filled); ``baseline_rss_mb`` is the
resident size before the first origin is added.

``python -m benchmarks.memory --origins 100000``
"""

from __future__ import annotations

import argparse
import base64
import gc
import gzip
import json
import random
import resource
import sys
import tempfile
import time
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.common import ROBOTS_2019, peak_rss_mb, run_json, save_results

GOAL_MB = 200.0


def load_corpus(path: Path = ROBOTS_2019) -> list[bytes]:
    """The bodies of the 2019 robots.txt corpus, each zlib-compressed.

    Held compressed (3.4 MB instead of 17 MB) so that the harness weighs as
    little as possible in the figure; each is expanded when an origin uses it.
    """
    bodies = []
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        for line in handle:
            record = json.loads(line)
            if record.get("body") is not None:
                raw = record["body"].encode("utf-8")
            else:
                raw = base64.b64decode(record["body_base64"])
            bodies.append(zlib.compress(raw))
    return bodies


def _rss_mb() -> float:
    """Current resident set size (Linux ``/proc``)."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except OSError:
        return float("nan")
    import os

    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def _peak_mb() -> float:
    return peak_rss_mb()


def _rusage_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def fill(origins: int, *, notfound_bytes: int = 0, seed: int = 2019) -> dict[str, Any]:
    """Fill a policy store with *origins* origins in this process; return the figures."""
    from scrapy import Spider
    from scrapy.utils.test import get_crawler

    from scrapy_optout.policy.snapshot import OriginPolicy, PolicyFile, utcnow
    from scrapy_optout.scrapy.runtime import OptOutCore

    corpus = load_corpus()
    order = list(range(len(corpus)))
    random.Random(seed).shuffle(order)
    tmp = tempfile.mkdtemp(prefix="optout-memory-")
    crawler = get_crawler(
        Spider,
        {
            "OPTOUT_CACHE_SIZE": origins,
            "OPTOUT_LEDGER": str(Path(tmp) / "ledger.jsonl"),
            "USER_AGENT": "benchbot/1.0 (+https://example.invalid/bot)",
        },
    )
    core = OptOutCore.for_crawler(crawler)
    store, evaluator = core.store, core.evaluator
    padding = b"<!-- " + b"x" * max(0, notfound_bytes - 200) + b" -->" if notfound_bytes else b""

    gc.collect()
    baseline_rss = _rss_mb()
    baseline_peak = _peak_mb()
    started = time.perf_counter()
    reserved = 0
    for index in range(origins):
        host = f"site{index}.example"
        origin = f"https://{host}:443"
        body = zlib.decompress(corpus[order[index % len(order)]])
        body += f"\nSitemap: https://{host}/sitemap.xml\n".encode()
        now = utcnow()
        robots = PolicyFile(
            "robots.txt",
            f"https://{host}/robots.txt",
            200,
            body,
            fetched_at=now,
            final_url=f"https://{host}/robots.txt",
            content_type="text/plain",
        )
        files = [robots]
        for kind, path in (("ai.txt", "/ai.txt"), ("tdmrep.json", "/.well-known/tdmrep.json")):
            page = (
                (
                    f"<html><head><title>404 Not Found</title></head><body><h1>Not Found</h1>"
                    f"<p>The requested URL {path} was not found on this server.</p>"
                ).encode()
                + padding
                + b"</body></html>"
            )
            files.append(
                PolicyFile(
                    kind,
                    f"https://{host}{path}",
                    404,
                    page,
                    fetched_at=now,
                    final_url=f"https://{host}{path}",
                    content_type="text/html; charset=utf-8",
                )
            )
        policy = OriginPolicy(origin, files[0], files[1], files[2])
        store.put(policy)
        # One decision per origin, as the request that made the store fetch it.
        assessment = evaluator.origin_stage(policy, f"https://{host}/articles/{index}.html")
        reserved += assessment.verdict("train").reserved
        del policy, assessment, files, robots, body
    elapsed = time.perf_counter() - started
    # A second decision on every 10th origin, oldest first: the least recently
    # used origins are the ones kept frozen, so each of these reads one back.
    peak_filled = _peak_mb()
    again = time.perf_counter()
    revisited = range(0, origins, 10)
    for index in revisited:
        host = f"site{index}.example"
        policy = store.cached(f"https://{host}:443")
        assert policy is not None
        evaluator.origin_stage(policy, f"https://{host}/about/").verdict("train")
    revisit = time.perf_counter() - again
    gc.collect()
    cold = getattr(store, "_cold", None)
    return {
        "origins": origins,
        "cached": len(store),
        "notfound_bytes": notfound_bytes,
        "peak_rss_mb": _peak_mb(),
        "ru_maxrss_mb": _rusage_mb(),
        "peak_rss_filled_mb": peak_filled,
        "parsed_in_memory": len(getattr(store, "_hot", ())) or len(store),
        "spill_file_mb": cold.file_bytes / 2**20 if cold is not None else 0.0,
        "rss_after_mb": _rss_mb(),
        "baseline_rss_mb": baseline_rss,
        "baseline_peak_mb": baseline_peak,
        "per_origin_bytes": (_peak_mb() - baseline_rss) * 2**20 / origins,
        "fill_seconds": elapsed,
        "revisit_us_per_origin": revisit / len(revisited) * 1e6,
        "reserved_share": reserved / origins,
        "corpus_files": len(corpus),
    }


def run(origins: int, *, notfound_bytes: int = 0) -> dict[str, Any]:
    args = ["-m", "benchmarks.memory", "--worker", "--origins", str(origins)]
    args += ["--notfound-bytes", str(notfound_bytes)]
    result: dict[str, Any] = run_json(args, timeout=3600)
    result["goal_mb"] = GOAL_MB
    return result


def format_result(result: dict[str, Any]) -> str:
    padded = result["notfound_bytes"]
    return (
        f"memory: {result['origins']} origins cached, peak RSS {result['peak_rss_mb']:.0f} MB "
        f"(goal <= {GOAL_MB:.0f}); {result['baseline_rss_mb']:.0f} MB before the first "
        f"origin, {result['per_origin_bytes']:.0f} bytes per origin; 404 bodies "
        f"{f'padded to {padded} B' if padded else 'small'}"
        f"; {result['parsed_in_memory']} kept parsed, the rest frozen in a "
        f"{result['spill_file_mb']:.0f} MB temporary file; a frozen origin's next decision "
        f"{result['revisit_us_per_origin']:.0f} us"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.memory", description=__doc__)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--origins", type=int, default=100_000)
    parser.add_argument(
        "--notfound-bytes", type=int, default=0, help="pad 404 bodies to about this size"
    )
    parser.add_argument("--no-save", action="store_true")
    args = parser.parse_args(argv)
    if args.worker:
        result = fill(args.origins, notfound_bytes=args.notfound_bytes)
        sys.stdout.write("\n" + json.dumps(result) + "\n")
        return 0
    result = run(args.origins, notfound_bytes=args.notfound_bytes)
    print(format_result(result))
    if not args.no_save:
        key = "memory" if not args.notfound_bytes else f"memory_notfound_{args.notfound_bytes}"
        save_results({key: result})
    return 0


if __name__ == "__main__":
    sys.exit(main())
