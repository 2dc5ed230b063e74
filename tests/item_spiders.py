"""Spiders of the item-stage tests, run by ``tests/run_crawl.py`` (``spider="item_spiders:..."``).

Each reads its test knobs from the crawl's settings (``TEST_*``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import scrapy
from scrapy.http import Response


@dataclass
class Picture:
    """A dataclass item, to show that items need not be dicts."""

    url: str
    file_urls: list[str]
    via: str = ""
    files: list[dict[str, Any]] = field(default_factory=list)


def page_item(response: Response) -> dict[str, Any]:
    """The page's ``<img src>`` and ``<a class="doc">`` URLs, joined, as ``file_urls``.

    ``<span class="raw" data-url="...">`` values go unjoined into ``pictures``
    (a list) and the first of them into ``picture`` (a string), and ``<img
    class="raw">`` sources unjoined into ``file_urls`` too.
    """
    raws = response.css("span.raw::attr(data-url)").getall()
    files = [
        src if "raw" in (img.attrib.get("class") or "") else response.urljoin(src)
        for img in response.css("img")
        if (src := img.attrib.get("src")) is not None
    ]
    files += [response.urljoin(href) for href in response.css("a.doc::attr(href)").getall()]
    item: dict[str, Any] = {"url": response.url, "file_urls": files}
    if raws:
        item["pictures"] = raws
        item["picture"] = raws[0]
    return item


class PageSpider(scrapy.Spider):
    """One item per start URL; ``TEST_START_META`` is put in every start request's meta."""

    name = "pages"

    def __init__(self, start_urls: Sequence[str] = (), **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.start_urls = list(start_urls)

    async def start(self) -> AsyncIterator[Any]:
        meta = self.settings.getdict("TEST_START_META")
        for url in self.start_urls:
            yield scrapy.Request(url, meta=dict(meta), dont_filter=True)

    def parse(self, response: Response, **kwargs: Any) -> Iterator[Any]:
        yield page_item(response)


class CarrySpider(PageSpider):
    """Builds each start page's item there and yields it from other callbacks.

    The item goes to ``TEST_NEXT`` (an allowed page) in ``cb_kwargs``, in
    ``meta``, and (as a dataclass) in ``cb_kwargs`` then ``meta`` again over two
    hops, to ``TEST_NEXT`` and then ``TEST_LAST``.
    """

    name = "carry"

    def parse(self, response: Response, **kwargs: Any) -> Iterator[Any]:
        nxt = self.settings.get("TEST_NEXT")
        yield response.follow(
            nxt,
            self.yield_kwarg,
            cb_kwargs={"item": {**page_item(response), "via": "cb_kwargs"}},
            dont_filter=True,
        )
        yield response.follow(
            nxt,
            self.yield_meta,
            meta={"carried": {**page_item(response), "via": "meta"}},
            dont_filter=True,
        )
        built = page_item(response)
        picture = Picture(built["url"], built["file_urls"], via="two hops")
        yield response.follow(nxt, self.hop, cb_kwargs={"item": picture}, dont_filter=True)

    def yield_kwarg(self, response: Response, item: dict[str, Any]) -> Iterator[Any]:
        yield item

    def yield_meta(self, response: Response) -> Iterator[Any]:
        yield response.meta["carried"]

    def hop(self, response: Response, item: Picture) -> Iterator[Any]:
        last = self.settings.get("TEST_LAST")
        yield response.follow(last, self.yield_meta, meta={"carried": item}, dont_filter=True)
