"""Keeps reserved responses out of Scrapy's HTTP cache.

Scrapy's ``HttpCacheMiddleware`` (downloader priority 900) writes a response to
its storage in ``process_response``, which runs before that of
:class:`~scrapy_optout.OptOutMiddleware` (priority 100) has judged it: the cache
would keep the body of a page reserved by its HTML head, or the partial body of
a download stopped at its headers. So :class:`~scrapy_optout.OptOutMiddleware`
puts a gate in front of every HTTP cache's storage when the spider opens: a
write waits on the request until the response is decided, and happens only for
a response handed on to the spider, or for a redirect that was followed and
whose own headers reserve nothing. A response that is reserved, dropped or
retried is never written. Reads pass through: a response served from the cache
is judged like a downloaded one, after the origin stage has applied the current
policy files.

The policy files themselves never touch the cache: their requests carry
``dont_cache`` (see :mod:`scrapy_optout.scrapy.fetcher`), so the evidence is always
what the server answered during this crawl.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from scrapy.downloadermiddlewares.httpcache import HttpCacheMiddleware

if TYPE_CHECKING:
    from scrapy import Request, Spider
    from scrapy.crawler import Crawler
    from scrapy.http import Response

#: Request.meta key: the write the gate holds back, as (request, storage, spider, response).
PENDING_KEY = "_optout_cache_pending"


class GatedCacheStorage:
    """A cache storage whose writes wait for the opt-out decision (see :func:`release`)."""

    def __init__(self, storage: Any) -> None:
        self.storage = storage

    def __getattr__(self, name: str) -> Any:
        # Whatever else the storage offers (a custom storage's own methods).
        return getattr(self.storage, name)

    def open_spider(self, spider: Spider) -> None:
        self.storage.open_spider(spider)

    def close_spider(self, spider: Spider) -> None:
        self.storage.close_spider(spider)

    def retrieve_response(self, spider: Spider, request: Request) -> Response | None:
        response: Response | None = self.storage.retrieve_response(spider, request)
        return response

    def store_response(self, spider: Spider, request: Request, response: Response) -> None:
        # Kept with the request: a redirect or a retry copies the meta, which is
        # why the request itself is kept too (see pending_of).
        request.meta[PENDING_KEY] = (request, self.storage, spider, response)


def gate_http_caches(crawler: Crawler) -> int:
    """Put a :class:`GatedCacheStorage` in front of each HTTP cache of *crawler*; how many."""
    engine = crawler.engine
    if engine is None:
        return 0
    gated = 0
    for middleware in engine.downloader.middleware.middlewares:
        if isinstance(middleware, HttpCacheMiddleware):
            if not isinstance(middleware.storage, GatedCacheStorage):
                middleware.storage = GatedCacheStorage(middleware.storage)
            gated += 1
    return gated


def pending_of(request: Request) -> tuple[Request, Any, Spider, Response] | None:
    """The write held back for *request*, or for the request it was copied from."""
    pending: tuple[Request, Any, Spider, Response] | None = request.meta.get(PENDING_KEY)
    return pending


def release(request: Request) -> bool:
    """Write the response held back for *request* (decided: handed on); whether one was."""
    pending = pending_of(request)
    if pending is None:
        return False
    del request.meta[PENDING_KEY]
    held_for, storage, spider, response = pending
    if held_for is not request:
        return False  # copied from the request it was held for: not this one's response
    storage.store_response(spider, request, response)
    return True


def withhold(request: Request) -> bool:
    """Drop the write held back for *request* (reserved or dropped); whether there was one."""
    pending = pending_of(request)
    if pending is None:
        return False
    del request.meta[PENDING_KEY]
    return pending[0] is request
