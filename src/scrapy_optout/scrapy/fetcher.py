"""Policy files fetched through the Scrapy engine, on the fetch contract.

:class:`EngineFetcher` GETs each hop of a policy file with
``engine.download_async``, so the download passes through the usual
downloader middlewares (proxies, retries, throttling, compression), ahead of
page requests and never through Scrapy's HTTP cache (evidence is what the
server answers now). :func:`~scrapy_optout.policy.fetching.fetch_policy_file`
follows the redirects and builds the
:class:`~scrapy_optout.policy.snapshot.PolicyFile`.

:class:`CappedDownloads` bounds such downloads in bytes, with download signal
handlers connected only while one runs: at most the cap is read (the download
stops there and what arrived is kept), and a compressed body is expanded to
the cap at most (a gzip bomb keeps its first bytes). The survey's own requests
for policy files use it too. The download timeout covers slow drips, and a
body cut short by the network fails the download (``download_fail_on_dataloss``).
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from scrapy import Request, signals
from scrapy.exceptions import IgnoreRequest, StopDownload
from scrapy.http.request import NO_CALLBACK
from scrapy.statscollectors import StatsCollector
from scrapy.utils.defer import deferred_from_coro

from scrapy_optout.policy.fetching import (
    Answer,
    Limits,
    content_encodings,
    decompress_prefix,
    fetch_policy_file,
)
from scrapy_optout.policy.snapshot import ROBOTS_TXT, RSL_LICENCE, OriginPolicy, PolicyFile
from scrapy_optout.policy.urls import origin_of
from scrapy_optout.stores.registries import REGISTRY_KIND, REGISTRY_LIMITS

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from scrapy.http import Response

    from scrapy_optout.scrapy.settings import OptOutSettings

__all__ = [
    "POLICY_META_KEY",
    "POLICY_PRIORITY",
    "CappedDownloads",
    "EngineFetcher",
    "answer_from_response",
    "close_spider",
    "stats_counter",
]

logger = logging.getLogger(__name__)

#: Request.meta key marking the fetcher's own requests, which skip the opt-out checks.
POLICY_META_KEY = "_optout_policy_fetch"
#: Policy fetches go ahead of page requests.
POLICY_PRIORITY = 1000

# Request.meta keys of the bookkeeping of capped downloads.
_DOWNLOAD_KEY = "_optout_fetch"  # one capped download, across its retries
_CAP_KEY = "_optout_decompression_cap"  # download_maxsize was set by CappedDownloads

UNDECODABLE = "body could not be decompressed"

# Download ids, unique across every CappedDownloads of the process: a crawl may
# bound downloads to several sizes at once (policy files, registries).
_IDS = itertools.count()


def stats_counter(crawler: Crawler) -> Callable[[str], None]:
    """A function that adds one to the crawler's stat *key* (or does nothing without stats).

    The method is looked up once: Scrapy's stats collector wraps every access to it.
    """
    stats = crawler.stats
    if stats is None:
        return lambda key: None
    if isinstance(stats, StatsCollector) and type(stats).inc_value is StatsCollector.inc_value:
        # What StatsCollector.inc_value does, without the wrapper Scrapy puts
        # around every access to its methods and attributes (a microsecond
        # each, twice per page). The dict is looked up each time: set_stats()
        # may replace it.
        values = object.__getattribute__

        def inc(key: str) -> None:
            d = values(stats, "_stats")
            d[key] = d.get(key, 0) + 1

        return inc
    inc_value: Callable[[str], None] = stats.inc_value
    return inc_value


def close_spider(crawler: Crawler, reason: str) -> None:
    """Have the engine close the spider with *reason*, if a crawl is running."""
    engine = crawler._engine  # None when no crawl is running
    if engine is not None and engine.spider is not None:
        closing = deferred_from_coro(engine.close_spider_async(reason=reason))
        closing.addErrback(
            lambda failure: logger.error("Could not close the spider: %s", failure.value)
        )


def answer_from_response(response: Response, *, truncated: bool = False) -> Answer:
    """The :class:`Answer` a Scrapy response gives (names of headers in lower case)."""
    headers = {
        name.decode("latin-1").lower(): [value.decode("latin-1") for value in values]
        for name, values in response.headers.items()
    }
    return Answer(response.url, response.status, headers, response.body, truncated)


class _Download:
    """What is tracked of one capped download while it runs."""

    __slots__ = ("received", "response", "truncated")

    def __init__(self) -> None:
        self.received = 0
        self.truncated = False
        self.response: Response | None = None


class CappedDownloads:
    """Downloads bounded to *maxsize* bytes, read and decompressed.

    :meth:`begin` marks a request's meta; the download signal handlers act on
    the marked requests until :meth:`end`, and are connected only while one
    is marked, so that the downloads of pages do not pay for them.
    """

    def __init__(self, crawler: Crawler, maxsize: int) -> None:
        self.crawler = crawler
        self.maxsize = maxsize
        self._live: dict[int, _Download] = {}
        self._handlers = (
            (self._headers_received, signals.headers_received),
            (self._bytes_received, signals.bytes_received),
            (self._response_downloaded, signals.response_downloaded),
        )

    def begin(self, meta: dict[str, Any]) -> int:
        """Bound the download of the request whose meta is *meta*; its id."""
        ident = next(_IDS)
        meta[_DOWNLOAD_KEY] = ident
        # A body cut short is a failed fetch (RFC 9309 §2.3.1.4), not a short file.
        meta["download_fail_on_dataloss"] = True
        self._live[ident] = _Download()
        if len(self._live) == 1:
            self._connect(True)
        return ident

    def end(self, request: Request | None) -> None:
        """Stop tracking *request*'s download."""
        ident = request.meta.get(_DOWNLOAD_KEY) if request is not None else None
        if ident is not None and self._live.pop(ident, None) is not None and not self._live:
            self._connect(False)

    def tracks(self, request: Request) -> bool:
        """Whether *request*'s download is one of those bounded now."""
        return self._of(request) is not None

    def answer(self, response: Response) -> Answer:
        """The answer of a bounded download, ``truncated`` if it was stopped at the cap."""
        download = self._of(response.request) if response.request is not None else None
        return answer_from_response(response, truncated=download is not None and download.truncated)

    def overflow(self, request: Request | None, exc: BaseException) -> Answer | None:
        """The answer of a download whose body expanded past the cap, else ``None``.

        Its first *maxsize* decompressed bytes, as for a long uncompressed body.
        """
        download = self._of(request) if request is not None else None
        raw = download.response if download is not None else None
        if raw is None or not _decompression_overflow(exc):
            return None
        codings = content_encodings(raw.headers.getlist(b"Content-Encoding"))
        body = decompress_prefix(raw.body, codings, self.maxsize)
        if body is None:
            return Answer(raw.url, error=UNDECODABLE)
        return answer_from_response(raw.replace(body=body), truncated=True)

    def _of(self, request: Request | None) -> _Download | None:
        ident = request.meta.get(_DOWNLOAD_KEY) if request is not None else None
        return None if ident is None else self._live.get(ident)

    def _connect(self, on: bool) -> None:
        manager = self.crawler.signals
        for handler, signal in self._handlers:
            if on:
                manager.connect(handler, signal=signal)
            else:
                manager.disconnect(handler, signal=signal)

    def _headers_received(
        self, headers: Any, body_length: int, request: Request, spider: Any = None
    ) -> None:
        download = self._of(request)
        if download is None:
            return
        # A new response (a retry) starts its own count.
        download.received = 0
        download.truncated = False
        download.response = None
        if request.meta.pop(_CAP_KEY, False):
            # Set for the previous response's decompression; this download keeps
            # the usual limit and stops at the cap instead.
            request.meta.pop("download_maxsize", None)

    def _bytes_received(self, data: bytes, request: Request, spider: Any = None) -> None:
        download = self._of(request)
        if download is None:
            return
        download.received += len(data)
        if download.received > self.maxsize:
            # Keep what arrived; the parsers read the first 500 KiB at most.
            download.truncated = True
            raise StopDownload(fail=False)

    def _response_downloaded(
        self, response: Response, request: Request, spider: Any = None
    ) -> None:
        download = self._of(request)
        if download is None:
            return
        download.response = response
        if response.headers.get(b"Content-Encoding") and "download_maxsize" not in request.meta:
            # Bounds what HttpCompressionMiddleware expands (a gzip bomb); set only
            # now, so that it cannot cancel the download of a long file.
            request.meta["download_maxsize"] = self.maxsize
            request.meta[_CAP_KEY] = True


def _decompression_overflow(exc: BaseException) -> bool:
    if not isinstance(exc, IgnoreRequest):
        return False
    cause = exc.__cause__
    return type(cause).__name__ == "_DecompressionMaxSizeExceeded" or (
        "decompression" in str(exc).lower() and "maxsize" in str(exc).lower()
    )


class EngineFetcher:
    """Fetches an origin's policy files, RSL licences and registries through the engine."""

    def __init__(self, crawler: Crawler, settings: OptOutSettings) -> None:
        self.crawler = crawler
        self.settings = settings
        self.limits = Limits(maxsize=settings.policy_maxsize)
        self.downloads = CappedDownloads(crawler, self.limits.maxsize)
        self.registry_downloads = CappedDownloads(crawler, REGISTRY_LIMITS.maxsize)
        self._inc = stats_counter(crawler)

    async def origin_policy(self, origin: str) -> OriginPolicy:
        """The policy files of *origin* (``OPTOUT_POLICY_FILES``).

        robots.txt first, then the others one after another, each on the
        connection the one before left open: in Scrapy a new connection costs
        more than a small request (an origin's files at once opened one each,
        most of them never used again). When robots.txt got no answer at all
        (a connection or DNS failure), the others are asked at once, so that
        an unreachable origin costs one timeout, not one per file.
        """
        kinds = self.settings.policy_files
        by_kind = {ROBOTS_TXT: await self.policy_file(origin, ROBOTS_TXT)}
        others = [kind for kind in kinds if kind != ROBOTS_TXT]
        if by_kind[ROBOTS_TXT].status is None:
            files = await asyncio.gather(*(self.policy_file(origin, kind) for kind in others))
            by_kind.update(zip(others, files, strict=True))
        else:
            for kind in others:
                by_kind[kind] = await self.policy_file(origin, kind)
        return OriginPolicy(
            origin, by_kind[ROBOTS_TXT], by_kind.get("ai.txt"), by_kind.get("tdmrep.json")
        )

    async def policy_file(self, origin: str, kind: str) -> PolicyFile:
        """The policy file *kind* of *origin*, redirects followed."""
        self._inc("optout/policy/requests")
        self._inc(f"optout/policy/{kind}/requests")
        fetch = functools.partial(self.fetch, kind=kind)
        result = await fetch_policy_file(fetch, origin, kind, self.limits)
        if result.status is None:
            self._inc(f"optout/policy/{kind}/error")
        else:
            self._inc(f"optout/policy/{kind}/status_{result.status}")
        return result

    async def licence_file(self, url: str) -> PolicyFile:
        """The RSL licence document at *url* (any host), redirects followed."""
        self._inc("optout/policy/requests")
        self._inc("optout/policy/rsl/requests")
        fetch = functools.partial(self.fetch, kind=RSL_LICENCE)
        result = await fetch_policy_file(fetch, origin_of(url), RSL_LICENCE, self.limits, url=url)
        self._inc(
            "optout/policy/rsl/error"
            if result.status is None
            else f"optout/policy/rsl/status_{result.status}"
        )
        return result

    async def registry_file(self, url: str) -> PolicyFile:
        """The opt-out registry at *url*, redirects followed, at most its size limit read."""
        self._inc("optout/registry/requests")
        fetch = functools.partial(self.fetch, kind=REGISTRY_KIND, downloads=self.registry_downloads)
        return await fetch_policy_file(
            fetch, origin_of(url), REGISTRY_KIND, REGISTRY_LIMITS, url=url
        )

    async def fetch(
        self, url: str, kind: str = ROBOTS_TXT, downloads: CappedDownloads | None = None
    ) -> Answer:
        """One GET of *url*, a hop of the policy file *kind*; redirects are not followed."""
        assert self.crawler.engine is not None
        capped = downloads or self.downloads
        meta: dict[str, Any] = {
            POLICY_META_KEY: kind,
            # Redirects are followed by the contract, hop by hop.
            "dont_redirect": True,
            # Evidence is what the server answers now: never replayed from, nor
            # written to, Scrapy's HTTP cache.
            "dont_cache": True,
            "max_retry_times": self.settings.policy_retry_times,
            "download_timeout": self.settings.policy_timeout,
        }
        request = Request(
            url, priority=POLICY_PRIORITY, callback=NO_CALLBACK, dont_filter=True, meta=meta
        )
        capped.begin(request.meta)
        try:
            response = await self.crawler.engine.download_async(request)
            return capped.answer(response)
        except IgnoreRequest as exc:
            answer = capped.overflow(request, exc)
            if answer is None:
                raise
            if answer.error is None:
                self._inc(f"optout/policy/{kind}/decompression_capped")
            return answer
        except Exception as exc:
            logger.debug("Policy fetch %s failed: %r", url, exc)
            raise
        finally:
            capped.end(request)

    def owns(self, request: Request) -> bool:
        """Whether *request* is one of this fetcher's policy fetches while it runs.

        The meta marker alone does not do: a spider that copies a request's meta
        (``meta=response.meta``) would carry it to a page. A fetch counts only
        while the fetcher is waiting for it, retries included.
        """
        return POLICY_META_KEY in request.meta and (
            self.downloads.tracks(request) or self.registry_downloads.tracks(request)
        )
