"""CPU cost of the add-on's hooks for one page, without the network.

The per-page row of the performance table (goal: at most +15 us over Scrapy's
robots.txt middleware), and what explains the crawl figure. A real crawler
(``scrapy.utils.test.get_crawler``) with the add-on is built, one origin's
policy is put in the cache, and pages go through what Scrapy calls for them
(64 distinct URLs and bodies in turn), timed piece by piece:

* ``process_request``: the downloader middleware's origin stage;
* the ``headers_received``, ``bytes_received`` and ``response_downloaded``
  signals, as Scrapy's HTTP handler sends them (every connected receiver);
* ``process_response``: the headers and body stages;
* the spider middleware's ``process_spider_output`` over the page's one item
  and the pipeline's ``process_item`` for it.

The same is timed for Scrapy's ``RobotsTxtMiddleware`` (its ``process_request``
and the three signals with its receivers), so the difference is what the
add-on adds to each page on top of what ``ROBOTSTXT_OBEY`` costs.

``python -m benchmarks.hooks``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from benchmarks.common import save_results
from benchmarks.crawl import USER_AGENT
from benchmarks.farm import ROBOTS_TXT, page_html

ORIGIN = "http://127.0.0.1:8000"
#: What the add-on may add to a page's hooks, over Scrapy's robots.txt middleware.
GOAL_US = 15.0


def _timer(fn: Callable[[], Any], number: int) -> float:
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(number):
            fn()
        best = min(best, (time.perf_counter() - start) / number)
    return best * 1e6


def _run(coro: Any) -> Any:
    """Drive a coroutine that never really suspends (everything it awaits is done)."""
    try:
        coro.send(None)
    except StopIteration as stop:
        return stop.value
    raise RuntimeError("the coroutine suspended")


def measure(number: int = 5000) -> dict[str, Any]:
    from scrapy import Request, Spider, signals
    from scrapy.http import HtmlResponse
    from scrapy.utils.test import get_crawler

    from scrapy_optout.policy.snapshot import OriginPolicy, PolicyFile
    from scrapy_optout.scrapy.middleware import OptOutMiddleware
    from scrapy_optout.scrapy.pipeline import OptOutPipeline
    from scrapy_optout.scrapy.runtime import OptOutCore
    from scrapy_optout.scrapy.spidermw import OptOutSpiderMiddleware

    tmp = tempfile.mkdtemp(prefix="optout-hooks-")
    crawler = get_crawler(
        Spider,
        {
            "USER_AGENT": USER_AGENT,
            "ADDONS": {"scrapy_optout.Addon": 500},
            "OPTOUT_LEDGER": str(Path(tmp) / "ledger.jsonl"),
        },
    )
    crawler.spider = Spider(name="hooks")
    if crawler.stats is not None:
        crawler.stats.open_spider()
    mw = OptOutMiddleware.from_crawler(crawler)
    spider_mw = OptOutSpiderMiddleware(crawler)
    pipeline = OptOutPipeline.from_crawler(crawler)
    core = OptOutCore.for_crawler(crawler)
    policy = OriginPolicy(
        ORIGIN,
        PolicyFile(
            "robots.txt", ORIGIN + "/robots.txt", 200, ROBOTS_TXT, content_type="text/plain"
        ),
        PolicyFile("ai.txt", ORIGIN + "/ai.txt", 404, b"Not found", content_type="text/html"),
        PolicyFile(
            "tdmrep.json",
            ORIGIN + "/.well-known/tdmrep.json",
            404,
            b"Not found",
            content_type="text/html",
        ),
    )
    core.store.put(policy)
    body = page_html(3, 21)
    headers = {
        b"Content-Type": b"text/html; charset=utf-8",
        b"Content-Length": str(len(body)).encode(),
        b"Server": b"bench-farm",
    }

    def new_request() -> Any:
        return Request(ORIGIN + "/p/3")

    def response_for(request: Any) -> Any:
        return HtmlResponse(request.url, body=body, headers=headers, request=request)

    send = crawler.signals.send_catch_log
    out: dict[str, float] = {}

    # Distinct URLs, as in a crawl: nothing kept for the last URL is reused.
    requests = [Request(f"{ORIGIN}/p/{index}") for index in range(3, 3 + 64)]
    ask = iter(range(1 << 62))
    out["process_request"] = _timer(
        lambda: _run(mw.process_request(requests[next(ask) % 64])), number
    )
    req = new_request()
    _run(mw.process_request(req))
    resp = response_for(req)
    out["signal headers_received"] = _timer(
        lambda: send(
            signals.headers_received,
            headers=resp.headers,
            body_length=len(body),
            request=req,
            spider=crawler.spider,
        ),
        number,
    )
    out["signal bytes_received"] = _timer(
        lambda: send(signals.bytes_received, data=body, request=req, spider=crawler.spider),
        number,
    )
    out["signal response_downloaded"] = _timer(
        lambda: send(
            signals.response_downloaded, response=resp, request=req, spider=crawler.spider
        ),
        number,
    )

    # A crawl never sees the same body twice: the responses cycled through here
    # hold distinct body objects, so nothing kept for the last body is reused.
    responses = [
        HtmlResponse(req.url, body=bytes(bytearray(body)), headers=headers, request=req)
        for _ in range(64)
    ]
    turn = iter(range(1 << 62))

    def response_stage() -> None:
        # process_response replaces the assessment: start again from the headers stage.
        core.assessments[req] = headers_stage
        _run(mw.process_response(req, responses[next(turn) % 64]))

    headers_stage = core.assessments[req]
    out["process_response"] = _timer(response_stage, number)

    item = {"url": resp.url, "title": "Page 3"}
    final = core.assessments[req]

    def item_stage() -> None:
        # The callback's output passes the spider middleware, which lets the
        # page's assessment go once it is over: put it back each time.
        core.assessments[req] = final
        for _ in spider_mw.process_spider_output(resp, (item,)):
            pass
        _run(pipeline.process_item(item))

    out["item (spider mw + pipeline)"] = _timer(item_stage, number)
    addon_total = sum(out.values())

    # Scrapy's own robots.txt middleware, with the same file parsed and cached.
    base = get_crawler(Spider, {"USER_AGENT": USER_AGENT, "ROBOTSTXT_OBEY": True})
    base.spider = Spider(name="hooks")
    if base.stats is not None:
        base.stats.open_spider()
    from scrapy.downloadermiddlewares.robotstxt import RobotsTxtMiddleware
    from scrapy.robotstxt import ProtegoRobotParser

    robots_mw = RobotsTxtMiddleware.from_crawler(base)
    robots_mw._parsers["127.0.0.1:8000"] = ProtegoRobotParser.from_crawler(base, ROBOTS_TXT)
    base_out: dict[str, float] = {}
    brequests = [
        Request(f"{ORIGIN}/p/{index}", headers={"User-Agent": USER_AGENT})
        for index in range(3, 3 + 64)
    ]
    bask = iter(range(1 << 62))
    base_out["process_request"] = _timer(
        lambda: _run(robots_mw.process_request(brequests[next(bask) % 64])), number
    )
    breq = brequests[0]
    bsend = base.signals.send_catch_log
    base_out["signals (3, no receivers)"] = _timer(
        lambda: (
            bsend(
                signals.headers_received,
                headers=resp.headers,
                body_length=len(body),
                request=breq,
                spider=base.spider,
            ),
            bsend(signals.bytes_received, data=body, request=breq, spider=base.spider),
            bsend(signals.response_downloaded, response=resp, request=breq, spider=base.spider),
        ),
        number,
    )
    base_total = sum(base_out.values())
    return {
        "addon_us": out,
        "addon_total_us": addon_total,
        "baseline_us": base_out,
        "baseline_total_us": base_total,
        "extra_per_page_us": addon_total - base_total,
    }


def format_result(result: dict[str, Any]) -> str:
    lines = ["hooks: CPU per page (microseconds, best of 5)"]
    for name, value in result["addon_us"].items():
        lines.append(f"  add-on   {name:32} {value:8.1f}")
    lines.append(f"  add-on   {'total':32} {result['addon_total_us']:8.1f}")
    for name, value in result["baseline_us"].items():
        lines.append(f"  baseline {name:32} {value:8.1f}")
    lines.append(f"  baseline {'total':32} {result['baseline_total_us']:8.1f}")
    lines.append(f"  the add-on adds {result['extra_per_page_us']:.1f} us per page")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.hooks", description=__doc__)
    parser.add_argument("--number", type=int, default=5000)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--no-save", action="store_true")
    args = parser.parse_args(argv)
    asyncio.set_event_loop(asyncio.new_event_loop())
    result = measure(args.number)
    print(json.dumps(result) if args.json else format_result(result))
    if not args.no_save:
        save_results({"hooks": result})
    return 0


if __name__ == "__main__":
    sys.exit(main())
