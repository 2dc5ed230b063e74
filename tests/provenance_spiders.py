"""Spiders of the provenance tests, run by ``tests/run_crawl.py``.

Named ``spider="provenance_spiders:..."``; each reads its test knobs from the
crawl's settings (``TEST_*``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import attrs
import scrapy
from scrapy.http import Response

from item_spiders import PageSpider


class PageWithField(scrapy.Item):
    """A Scrapy ``Item`` that declares the ``optout`` field."""

    kind = scrapy.Field()
    url = scrapy.Field()
    file_urls = scrapy.Field()
    files = scrapy.Field()
    optout = scrapy.Field()


class PageWithoutField(scrapy.Item):
    """A Scrapy ``Item`` that cannot take the ``optout`` field."""

    kind = scrapy.Field()
    url = scrapy.Field()
    file_urls = scrapy.Field()
    files = scrapy.Field()


class Quote(scrapy.Item):
    """An ``Item`` without a URL field and without ``optout``: keyed by its content."""

    kind = scrapy.Field()
    text = scrapy.Field()


@dataclass
class DataWithField:
    kind: str
    url: str
    file_urls: list[str]
    files: list[dict[str, Any]] = field(default_factory=list)
    optout: dict[str, Any] | None = None


@dataclass
class DataWithoutField:
    kind: str
    url: str
    file_urls: list[str]
    files: list[dict[str, Any]] = field(default_factory=list)


@attrs.define
class AttrsWithField:
    kind: str
    url: str
    file_urls: list[str]
    files: list[dict[str, Any]] = attrs.field(factory=list)
    optout: dict[str, Any] | None = None


@attrs.define
class AttrsWithoutField:
    kind: str
    url: str
    file_urls: list[str]
    files: list[dict[str, Any]] = attrs.field(factory=list)


def media_urls(response: Response) -> list[str]:
    return [response.urljoin(src) for src in response.css("img::attr(src)").getall()]


class KindsSpider(PageSpider):
    """One item of every kind for each start page, all with the page's ``<img>`` URLs."""

    name = "kinds"

    def parse(self, response: Response, **kwargs: Any) -> Iterator[Any]:
        url = response.url
        files = media_urls(response)
        yield {"kind": "dict", "url": url, "file_urls": files}
        yield PageWithField(kind="item-field", url=url, file_urls=files)
        yield PageWithoutField(kind="item-nofield", url=url, file_urls=files)
        yield DataWithField("dataclass-field", url, files)
        yield DataWithoutField("dataclass-nofield", url, files)
        yield AttrsWithField("attrs-field", url, files)
        yield AttrsWithoutField("attrs-nofield", url, files)
        yield Quote(kind="quote", text=response.css("title::text").get())


class CarrySpider(KindsSpider):
    """Builds an item on each start page and yields it from ``TEST_NEXT``'s callback.

    The item travels in ``cb_kwargs``. A second, plain request for the same
    page passes nothing on; its callback yields an item of the page's own.
    """

    name = "carry-provenance"

    def parse(self, response: Response, **kwargs: Any) -> Iterator[Any]:
        item = {"kind": "carried", "url": response.url, "file_urls": media_urls(response)}
        following = self.settings.get("TEST_NEXT")
        yield response.follow(following, self.yield_carried, cb_kwargs={"item": item})
        yield response.follow(following, self.yield_own, dont_filter=True)

    def yield_carried(self, response: Response, item: dict[str, Any]) -> Iterator[Any]:
        yield item

    def yield_own(self, response: Response) -> Iterator[Any]:
        yield {"kind": "own", "url": response.url, "file_urls": []}
