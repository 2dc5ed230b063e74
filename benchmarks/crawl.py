"""Benchmark 1: crawl overhead of the add-on against Scrapy's own ``ROBOTSTXT_OBEY``.

The driver starts one farm (:mod:`benchmarks.farm`) and runs the same crawl
over it again and again, each run in a fresh process (Twisted's reactor
cannot restart), alternating the two configurations in ABBA order so that
neither always runs first:

* ``addon``: ``ADDONS = {"scrapy_optout.Addon": 500}``, purpose ``train``,
  every policy file (robots.txt, ai.txt, tdmrep.json), enforce mode;
* ``baseline``: ``ROBOTSTXT_OBEY = True`` (Scrapy's ``RobotsTxtMiddleware``
  with its default Protego parser).

Everything else is the same and left at Scrapy's defaults except the log
level (INFO, not DEBUG: a DEBUG line per request would dilute the overhead).
The spider yields one small item per page and follows every link. A run's
throughput is pages received by the spider divided by the time from
``spider_opened`` to ``spider_closed``. A pair's ratio is add-on pages/s over
baseline pages/s; the figure reported is the median of the pair ratios.

``python -m benchmarks.crawl --origins 200 --pages 21 --pairs 7``
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path
from typing import Any

from benchmarks.common import (
    Farm,
    children_cpu,
    median,
    peak_rss_mb,
    run_json,
    save_results,
    spread,
    system_busy,
    wait_for_quiet,
)

USER_AGENT = "benchbot/1.0 (+https://example.invalid/bot)"
CASES = {
    "200x21": (200, 21),
    "10x2000": (10, 2000),
}


#: Goals of the add-on / ROBOTSTXT_OBEY ratio: short crawls pay for the
#: policy files of every origin, long ones show the per-page cost alone.
GOAL_SHORT = 0.92
GOAL_LONG = 0.97


def goal(pages_per_origin: int) -> float:
    """The goal of a crawl case with *pages_per_origin* pages per origin."""
    return GOAL_SHORT if pages_per_origin < 100 else GOAL_LONG


#: Request-count limit of the ratio: P+1 requests per origin against P+3.
def request_limit(pages: int) -> float:
    return (pages + 1) / (pages + 3)


# -- the crawl (runs in the worker process) ---------------------------------------------


def _spider_class() -> type:
    import scrapy

    class BenchSpider(scrapy.Spider):  # type: ignore[misc]
        name = "bench"

        def __init__(self, start_urls: Sequence[str] = (), **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.start_urls = list(start_urls)
            self.pages = 0
            self.last_page = 0.0

        async def start(self) -> AsyncIterator[Any]:
            for url in self.start_urls:
                yield scrapy.Request(url + "/", callback=self.parse)

        def parse(self, response: Any) -> Iterator[Any]:
            self.pages += 1
            self.last_page = time.perf_counter()
            yield {"url": response.url, "title": response.css("title::text").get()}
            for href in response.css("a::attr(href)").getall():
                yield response.follow(href, callback=self.parse)

    return BenchSpider


def crawl(
    mode: str,
    start_urls: Sequence[str],
    *,
    concurrency: int | None = None,
    per_domain: int | None = None,
    log_level: str = "INFO",
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Run one crawl in this process; return its figures."""
    from scrapy import signals
    from scrapy.crawler import CrawlerProcess

    tmp = tempfile.mkdtemp(prefix="optout-bench-")
    settings: dict[str, Any] = {
        "USER_AGENT": USER_AGENT,
        "LOG_LEVEL": log_level,
        "TELNETCONSOLE_ENABLED": False,
    }
    if concurrency:
        settings["CONCURRENT_REQUESTS"] = concurrency
    if per_domain:
        settings["CONCURRENT_REQUESTS_PER_DOMAIN"] = per_domain
    if mode == "addon":
        settings.update(
            {
                "ADDONS": {"scrapy_optout.Addon": 500},
                "OPTOUT_PURPOSE": "train",
                "OPTOUT_LEDGER": os.path.join(tmp, "ledger.jsonl"),
            }
        )
    elif mode == "baseline":
        settings["ROBOTSTXT_OBEY"] = True
    elif mode != "none":
        raise ValueError(f"unknown mode {mode!r}")
    settings.update(extra or {})

    spider_cls = _spider_class()
    process = CrawlerProcess(settings, install_root_handler=log_level != "NONE")
    crawler = process.create_crawler(spider_cls)
    marks: dict[str, float] = {}

    def opened(spider: Any) -> None:
        marks["open"] = time.perf_counter()
        marks["cpu_open"] = time.process_time()

    def closed(spider: Any, reason: str) -> None:
        marks["close"] = time.perf_counter()
        marks["cpu_close"] = time.process_time()
        marks["reason"] = reason  # type: ignore[assignment]

    crawler.signals.connect(opened, signal=signals.spider_opened)
    crawler.signals.connect(closed, signal=signals.spider_closed)
    process.crawl(crawler, start_urls=list(start_urls))
    process.start()

    stats = crawler.stats.get_stats() if crawler.stats else {}
    spider = crawler.spider
    elapsed = marks["close"] - marks["open"]
    pages = spider.pages
    return {
        "mode": mode,
        "pages": pages,
        "elapsed": elapsed,
        "pages_per_s": pages / elapsed,
        "to_last_page": spider.last_page - marks["open"],
        "cpu": marks["cpu_close"] - marks["cpu_open"],
        "requests": stats.get("downloader/request_count", 0),
        "robots_requests": stats.get("robotstxt/request_count", 0),
        "policy_requests": stats.get("optout/policy/requests", 0),
        "excluded": stats.get("optout/excluded_count", 0),
        "forbidden": stats.get("robotstxt/forbidden", 0),
        "items": stats.get("item_scraped_count", 0),
        "finish_reason": stats.get("finish_reason"),
        "peak_rss_mb": peak_rss_mb(),
    }


# -- the driver -------------------------------------------------------------------------


def run_case(
    origins: int,
    pages: int,
    *,
    pairs: int,
    layout: str = "ports",
    concurrency: int | None = None,
    per_domain: int | None = None,
    log_level: str = "INFO",
    aitxt: bool = False,
    addon_settings: dict[str, Any] | None = None,
    quiet: bool = True,
    max_other_load: float | None = 0.3,
    verbose: bool = True,
) -> dict[str, Any]:
    """Alternate add-on and baseline crawls over one farm; return the figures.

    A pair during which other processes kept more than *max_other_load* of a
    CPU busy (see ``other_load``) is set aside and run again, at most *pairs*
    extra times; the pairs set aside are reported with the others.
    """
    runs: list[dict[str, Any]] = []
    disturbed: list[dict[str, Any]] = []
    with Farm(origins, pages, layout=layout, aitxt=aitxt) as farm:
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
            json.dump(farm.origins, handle)
            origins_file = handle.name
        try:
            index = attempts = 0
            while index < pairs and attempts < 2 * pairs:
                attempts += 1
                order = ("addon", "baseline") if index % 2 == 0 else ("baseline", "addon")
                pair_runs = []
                for mode in order:
                    waited = wait_for_quiet() if quiet else 0.0
                    args = ["-m", "benchmarks.crawl", "--worker", mode, origins_file]
                    args += ["--log-level", log_level]
                    if concurrency:
                        args += ["--concurrency", str(concurrency)]
                    if per_domain:
                        args += ["--per-domain", str(per_domain)]
                    if addon_settings and mode == "addon":
                        args += ["--extra", json.dumps(addon_settings)]
                    result = _measured_run(farm, args)
                    result["pair"] = index
                    result["waited_for_quiet"] = waited
                    pair_runs.append(result)
                    if verbose:
                        print(
                            f"  pair {index + 1}/{pairs} {mode:8} {result['pages']:6d} pages "
                            f"{result['elapsed']:7.2f} s {result['pages_per_s']:8.1f} pages/s "
                            f"(crawler cpu {result['cpu'] / result['elapsed']:.0%}, "
                            f"{result['connections']} connections, "
                            f"server cpu {result['server_cpu_share']:.0%}, "
                            f"other load {result['other_load']:.2f})",
                            flush=True,
                        )
                if max_other_load is not None and any(
                    r["other_load"] > max_other_load for r in pair_runs
                ):
                    disturbed.extend(pair_runs)
                    if verbose:
                        print(f"  pair {index + 1} disturbed by other load: run again", flush=True)
                    continue
                runs.extend(pair_runs)
                index += 1
        finally:
            os.unlink(origins_file)
    result = summarise(runs, origins, pages, layout=layout)
    result["disturbed_pairs"] = len(disturbed) // 2
    result["disturbed_runs"] = disturbed
    result["max_other_load"] = max_other_load
    return result


def _measured_run(farm: Farm, args: list[str]) -> dict[str, Any]:
    """One crawl in a fresh process, with what the farm and the machine did meanwhile."""
    counters = farm.counters()
    cpu_before = farm.cpu()
    busy_before, child_before = system_busy(), children_cpu()
    started = time.perf_counter()
    result: dict[str, Any] = run_json(args)
    wall = time.perf_counter() - started
    server = farm.cpu() - cpu_before
    after = farm.counters()
    # Less the stats request itself.
    result["served"] = after["requests"] - counters["requests"] - 1
    result["connections"] = after["connections"] - counters["connections"] - 1
    result["server_cpu_share"] = server / result["elapsed"]
    # CPU that neither this crawl nor the farm used while it ran: other load on
    # the machine, in processors (0.5 = half a core kept busy).
    other = system_busy() - busy_before - (children_cpu() - child_before)
    result["other_load"] = max(0.0, other - server) / wall
    return result


def summarise(
    runs: list[dict[str, Any]], origins: int, pages: int, *, layout: str
) -> dict[str, Any]:
    expected = origins * pages
    for run in runs:
        if run["pages"] != expected:
            raise RuntimeError(
                f"{run['mode']} crawl received {run['pages']} pages, expected {expected}"
            )
        if run["excluded"] or run["forbidden"]:
            raise RuntimeError(f"{run['mode']} crawl excluded pages: nothing should be reserved")
    addon = [r for r in runs if r["mode"] == "addon"]
    base = [r for r in runs if r["mode"] == "baseline"]
    ratios = []
    for a in addon:
        b = next(r for r in base if r["pair"] == a["pair"])
        ratios.append(a["pages_per_s"] / b["pages_per_s"])
    cpu_ratios = []
    for a in addon:
        b = next(r for r in base if r["pair"] == a["pair"])
        # CPU per page of the crawler process, baseline over add-on.
        cpu_ratios.append((b["cpu"] / b["pages"]) / (a["cpu"] / a["pages"]))
    return {
        "origins": origins,
        "pages_per_origin": pages,
        "layout": layout,
        "pairs": len(ratios),
        "ratio_median": median(ratios),
        "ratio_range": spread(ratios),
        "ratios": ratios,
        "cpu_ratio_median": median(cpu_ratios),
        "request_limit": request_limit(pages),
        "addon_pages_per_s": median([r["pages_per_s"] for r in addon]),
        "baseline_pages_per_s": median([r["pages_per_s"] for r in base]),
        "addon_requests": addon[0]["requests"],
        "baseline_requests": base[0]["requests"],
        "server_cpu_share_max": max(r["server_cpu_share"] for r in runs),
        "crawler_cpu_share_median": median([r["cpu"] / r["elapsed"] for r in runs]),
        "other_load_max": max(r["other_load"] for r in runs),
        "runs": runs,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.crawl", description=__doc__)
    parser.add_argument(
        "--worker", nargs=2, metavar=("MODE", "ORIGINS_JSON"), help=argparse.SUPPRESS
    )
    parser.add_argument("--case", choices=[*CASES, "all"], default="all")
    parser.add_argument("--origins", type=int, help="custom case: number of origins")
    parser.add_argument("--pages", type=int, help="custom case: pages per origin")
    parser.add_argument("--pairs", type=int, help="add-on/baseline pairs (default 5)")
    parser.add_argument("--layout", choices=["ports", "hosts"], default="ports")
    parser.add_argument("--concurrency", type=int, help="CONCURRENT_REQUESTS (Scrapy default 16)")
    parser.add_argument("--per-domain", type=int, help="CONCURRENT_REQUESTS_PER_DOMAIN (default 8)")
    parser.add_argument("--log-level", default="INFO")
    parser.add_argument("--aitxt", action="store_true", help="origins serve an ai.txt")
    parser.add_argument("--no-save", action="store_true", help="do not write results/latest.json")
    parser.add_argument(
        "--addon-settings", type=json.loads, default=None, help="JSON settings for add-on runs"
    )
    parser.add_argument("--extra", type=json.loads, default=None, help=argparse.SUPPRESS)
    parser.add_argument(
        "--max-other-load",
        type=float,
        default=0.3,
        help="run a pair again when other processes used more CPU than this (default 0.3)",
    )
    parser.add_argument(
        "--no-wait",
        action="store_true",
        help="start each run at once (default: wait up to 30 s for other load to settle)",
    )
    args = parser.parse_args(argv)

    if args.worker:
        mode, origins_file = args.worker
        start_urls = json.loads(Path(origins_file).read_text())
        result = crawl(
            mode,
            start_urls,
            concurrency=args.concurrency,
            per_domain=args.per_domain,
            log_level=args.log_level,
            extra=args.extra,
        )
        sys.stdout.write("\n" + json.dumps(result) + "\n")
        return 0

    if args.origins or args.pages:
        cases = {f"{args.origins}x{args.pages}": (args.origins or 200, args.pages or 21)}
    elif args.case == "all":
        cases = CASES
    else:
        cases = {args.case: CASES[args.case]}
    results: dict[str, Any] = {}
    for name, (origins, pages) in cases.items():
        pairs = args.pairs or 5
        print(f"crawl {name} ({args.layout}), {pairs} pairs", flush=True)
        result = run_case(
            origins,
            pages,
            pairs=pairs,
            layout=args.layout,
            concurrency=args.concurrency,
            per_domain=args.per_domain,
            log_level=args.log_level,
            aitxt=args.aitxt,
            addon_settings=args.addon_settings,
            quiet=not args.no_wait,
            max_other_load=args.max_other_load if args.max_other_load >= 0 else None,
        )
        results[f"crawl_{name}_{args.layout}"] = result
        print(format_case(name, result), flush=True)
    if not args.no_save:
        save_results(results)
    return 0


def format_case(name: str, result: dict[str, Any]) -> str:
    low, high = result["ratio_range"]
    return (
        f"crawl {name} ({result['layout']}): ratio {result['ratio_median']:.3f} "
        f"[{low:.3f}..{high:.3f}] over {result['pairs']} pairs; add-on "
        f"{result['addon_pages_per_s']:.0f} pages/s, baseline "
        f"{result['baseline_pages_per_s']:.0f} pages/s; request-count limit "
        f"{result['request_limit']:.3f}; cpu-time ratio {result['cpu_ratio_median']:.3f}; "
        f"server cpu <= {result['server_cpu_share_max']:.0%}; "
        f"{result.get('disturbed_pairs', 0)} disturbed pairs run again"
    )


if __name__ == "__main__":
    sys.exit(main())
