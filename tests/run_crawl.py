"""Run one real Scrapy crawl in a fresh process (Twisted's reactor cannot restart).

Usage: python tests/run_crawl.py CONFIG.json, where CONFIG has ``start_urls``,
``out`` and optional ``settings`` and ``spider``: ``module:Class`` (a module of
the tests folder), or ``"callbacks"`` (one item for every response the callback
gets, whatever its type, and no link followed); the demo's spider by default.
"""

import importlib
import json
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import scrapy
from examples.demo import SiteSpider, crawl
from scrapy.http import Response


class CallbackSpider(scrapy.Spider):
    name = "callbacks"

    def __init__(self, start_urls: list[str], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.start_urls = start_urls

    async def start(self) -> AsyncIterator[Any]:
        for url in self.start_urls:
            yield scrapy.Request(url, callback=self.parse)

    def parse(self, response: Response, **kwargs: Any) -> Iterator[Any]:
        yield {"url": response.url, "type": type(response).__name__, "size": len(response.body)}


config = json.loads(Path(sys.argv[1]).read_text())
spider: type[scrapy.Spider] = SiteSpider
name = config.get("spider")
if name == "callbacks":
    spider = CallbackSpider
elif name:
    module, _, attribute = name.partition(":")
    spider = getattr(importlib.import_module(module), attribute)
sys.exit(crawl(config["start_urls"], Path(config["out"]), config.get("settings") or {}, spider))
