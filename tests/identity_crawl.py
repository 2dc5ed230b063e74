"""Run one crawl whose requests carry their own headers and meta, in a fresh process.

Usage: python tests/identity_crawl.py CONFIG.json. Besides ``out`` and
``settings`` (as for ``run_crawl.py``), CONFIG has:

* ``requests``: the start requests, each ``{"url", "headers", "meta"}``;
* ``spider_user_agent``: a ``user_agent`` attribute for the spider;
* ``late_user_agent``: a downloader middleware after Scrapy's own sets this
  ``User-Agent`` on every page request (as User-Agent rotating add-ons do);
* ``follow``: how the links of a page are followed: ``"copy"`` with
  ``meta=response.meta``, ``"policy"`` with the meta of a policy file fetch
  seen on the ``response_received`` signal; absent, links are not followed.
"""

from __future__ import annotations

import json
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import scrapy
from examples.demo import crawl
from scrapy import signals
from scrapy.http import Response

from scrapy_optout.scrapy.fetcher import POLICY_META_KEY


class IdentitySpider(scrapy.Spider):
    name = "identity"

    def __init__(
        self,
        requests: list[dict[str, Any]] | None = None,
        follow: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.configured = requests or []
        self.follow = follow
        self.policy_meta: dict[str, Any] | None = None

    @classmethod
    def from_crawler(cls, crawler: Any, *args: Any, **kwargs: Any) -> IdentitySpider:
        spider = super().from_crawler(crawler, *args, **kwargs)
        crawler.signals.connect(spider.seen, signal=signals.response_received)
        return spider

    def seen(self, response: Response, request: scrapy.Request, **kwargs: Any) -> None:
        if self.policy_meta is None and POLICY_META_KEY in request.meta:
            self.policy_meta = request.meta

    async def start(self) -> AsyncIterator[Any]:
        for entry in self.configured:
            yield scrapy.Request(
                entry["url"],
                headers=entry.get("headers"),
                meta=entry.get("meta"),
                callback=self.parse,
                dont_filter=True,
            )

    def parse(self, response: Response, **kwargs: Any) -> Iterator[Any]:
        agent = response.request.headers.get(b"User-Agent") if response.request else None
        yield {"url": response.url, "user_agent": agent.decode() if agent else None}
        if not self.follow or not hasattr(response, "css"):
            return
        meta = response.meta if self.follow == "copy" else self.policy_meta
        for href in response.css("a::attr(href)").getall():
            yield scrapy.Request(response.urljoin(href), meta=meta, callback=self.parse)


class LateUserAgent:
    """Sets the configured User-Agent on every request, after Scrapy's middlewares."""

    agent = ""

    def process_request(self, request: scrapy.Request) -> None:
        if not request.url.endswith(("/robots.txt", "/ai.txt", "/tdmrep.json")):
            request.headers[b"User-Agent"] = self.agent


def main(path: str) -> None:
    config = json.loads(Path(path).read_text())
    settings = dict(config.get("settings") or {})
    if config.get("late_user_agent"):
        LateUserAgent.agent = config["late_user_agent"]
        settings["DOWNLOADER_MIDDLEWARES"] = {LateUserAgent: 600}
    spider_args: dict[str, Any] = {"requests": config["requests"], "follow": config.get("follow")}
    if config.get("spider_user_agent"):
        spider_args["user_agent"] = config["spider_user_agent"]
    crawl([], Path(config["out"]), settings, IdentitySpider, **spider_args)


if __name__ == "__main__":
    main(sys.argv[1])
