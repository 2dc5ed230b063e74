"""A spider that takes its start URLs from Redis and follows links within each site.

Push start URLs as JSON (``{"url": "https://example.com/"}``) to the
``sites:start_urls`` list; every worker takes its share.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import scrapy
from scrapy.http import Response
from scrapy_redis.spiders import RedisSpider


class SitesSpider(RedisSpider):
    """One item per page (URL, title, images), links followed within the page's origin."""

    name = "sites"
    # Start URLs taken from Redis a few at a time, so that every worker gets a share.
    redis_batch_size = 4

    def make_request_from_data(self, data: bytes) -> scrapy.Request:
        # scrapy-redis marks its start requests dont_filter; these go through the
        # shared duplicate filter instead, so that a start URL also reached by a
        # link is crawled (and, if reserved, recorded) once for the whole fleet.
        text = data.decode("utf-8")
        url = json.loads(text)["url"] if text.lstrip().startswith("{") else text.strip()
        return scrapy.Request(url, callback=self.parse)

    def parse(self, response: Response, **kwargs: Any) -> Iterator[Any]:
        if not hasattr(response, "css"):
            return  # not text: nothing to follow
        yield {
            "url": response.url,
            "title": (response.css("title::text").get() or "").strip(),
            "image_urls": [response.urljoin(s) for s in response.css("img::attr(src)").getall()],
        }
        site = response.url.split("/", 3)[:3]
        for href in response.css("a::attr(href)").getall():
            url = response.urljoin(href)
            if url.split("/", 3)[:3] == site:
                yield response.follow(url, callback=self.parse)
