"""Per-origin policy snapshots fetched through the Scrapy engine.

One :class:`PolicyStore` per crawler. For a new origin it downloads the policy
files concurrently through ``engine.download_async`` (so they pass through the
usual downloader middlewares, proxies and throttling), once: every request
that arrives while a fetch is running awaits the same future. Snapshots are
kept in a bounded LRU; a snapshot expires after ``OPTOUT_CACHE_TTL`` seconds,
or after the shorter ``OPTOUT_ERROR_TTL`` when robots.txt could not be read
(RFC 9309 asks to retry an unreachable robots.txt rather than trust a
failure for long).

Whatever a server sends, a fetch ends in bounded time and memory: the
download timeout covers slow drips, at most ``OPTOUT_POLICY_MAXSIZE`` bytes of
the body are read (the download stops there and what arrived is kept, since
RFC 9309 §2.5 only asks that the first 500 KiB be parsed), a compressed body
is expanded to at most that many bytes (a gzip bomb keeps its first
``OPTOUT_POLICY_MAXSIZE`` decompressed bytes), at most five redirects are
followed, only to http(s) URLs, and a body cut short by the network counts
as a failed fetch. Error messages are fixed descriptions of what went wrong,
never text a server chose.
"""

from __future__ import annotations

import asyncio
import importlib
import itertools
import logging
import time
import zlib
from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin, urlsplit

from scrapy import Request, signals
from scrapy.exceptions import IgnoreRequest, StopDownload
from scrapy.http.request import NO_CALLBACK
from w3lib.url import safe_url_string

from scrapy_optout.exceptions import describe_error
from scrapy_optout.policy.snapshot import (
    ROBOTS_TXT,
    TOO_MANY_REDIRECTS,
    OriginPolicy,
    PolicyFile,
    utcnow,
)
from scrapy_optout.policy.urls import policy_url
from scrapy_optout.stores.coldstore import ColdStore

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from scrapy.http import Response

    from scrapy_optout.scrapy.settings import OptOutSettings

logger = logging.getLogger(__name__)

#: Request.meta key marking the store's own fetches, which skip the opt-out checks.
POLICY_META_KEY = "_optout_policy_fetch"
#: Policy fetches go ahead of page requests.
POLICY_PRIORITY = 1000
MAX_POLICY_REDIRECTS = 5

# Request.meta keys of the store's own bookkeeping.
_FETCH_KEY = "_optout_fetch"  # one policy fetch, across its redirect hops and retries
_CAP_KEY = "_optout_decompression_cap"  # download_maxsize was set by the store


class _Fetch:
    """What the store tracks of one policy fetch while it runs."""

    __slots__ = ("received", "response", "truncated")

    def __init__(self) -> None:
        self.received = 0
        self.truncated = False
        self.response: Response | None = None


#: Snapshots kept parsed in memory, most recently used first; the others of the
#: cache are kept frozen in a ColdStore (see scrapy_optout.stores.coldstore).
HOT_SNAPSHOTS = 1024


class _Entry:
    __slots__ = ("expires", "frozen", "policy")

    def __init__(self, policy: OriginPolicy, expires: float) -> None:
        self.policy: OriginPolicy | None = policy
        self.frozen: int | None = None  # ref of the snapshot in the ColdStore
        self.expires = expires


def stats_counter(crawler: Crawler) -> Callable[[str], None]:
    """A function that adds one to the crawler's stat *key* (or does nothing without stats).

    The method is looked up once: Scrapy's stats collector wraps every access to it.
    """
    stats = crawler.stats
    if stats is None:
        return lambda key: None
    inc_value: Callable[[str], None] = stats.inc_value
    return inc_value


class PolicyStore:
    """Single-flight, TTL-bounded, size-bounded cache of :class:`OriginPolicy`."""

    def __init__(self, crawler: Crawler, settings: OptOutSettings) -> None:
        self.crawler = crawler
        self.settings = settings
        self._inc = stats_counter(crawler)
        self._cache: OrderedDict[str, _Entry] = OrderedDict()
        # Origins whose entry holds a parsed policy, least recently used first.
        self._hot: OrderedDict[str, None] = OrderedDict()
        self._cold = ColdStore()
        self.hot_size = HOT_SNAPSHOTS
        self._inflight: dict[str, asyncio.Future[OriginPolicy]] = {}
        self._fetches: dict[int, _Fetch] = {}
        self._ids = itertools.count()
        # The download signal handlers below act on policy fetches only; they are
        # connected while one runs (see _track), so that the downloads of pages
        # do not pay for three more signal receivers each.
        self._handlers = (
            (self._headers_received, signals.headers_received),
            (self._bytes_received, signals.bytes_received),
            (self._response_downloaded, signals.response_downloaded),
        )

    def __len__(self) -> int:
        return len(self._cache)

    def cached(self, origin: str) -> OriginPolicy | None:
        """The fresh snapshot of *origin*, if one is cached."""
        entry = self._cache.get(origin)
        if entry is None:
            return None
        if entry.expires <= time.monotonic():
            del self._cache[origin]
            self._forget(origin, entry)
            self._inc("optout/cache/expired")
            return None
        self._cache.move_to_end(origin)
        policy = entry.policy
        if policy is None:
            return self._thaw(origin, entry)
        self._hot.move_to_end(origin)
        return policy

    async def get(self, origin: str) -> OriginPolicy:
        """The snapshot of *origin*, fetching it once if it is not cached."""
        policy = self.cached(origin)
        if policy is not None:
            self._inc("optout/cache/hit")
            return policy
        future = self._inflight.get(origin)
        if future is not None:
            self._inc("optout/cache/wait")
            return await asyncio.shield(future)
        self._inc("optout/cache/miss")
        future = asyncio.get_running_loop().create_future()
        self._inflight[origin] = future
        try:
            policy = await self._fetch_policy(origin)
        except BaseException as exc:
            future.set_exception(exc)
            # The exception is re-raised here; waiters see it through the future.
            future.exception()
            raise
        else:
            future.set_result(policy)
            self.put(policy)
            return policy
        finally:
            del self._inflight[origin]

    def put(self, policy: OriginPolicy) -> None:
        ttl = self.settings.cache_ttl
        if not policy.robots_file.ok and not _is_unavailable(policy.robots_file):
            ttl = self.settings.error_ttl
        origin = policy.origin
        previous = self._cache.get(origin)
        if previous is not None:
            self._forget(origin, previous)
        self._cache[origin] = _Entry(policy, time.monotonic() + ttl)
        self._cache.move_to_end(origin)
        self._hot[origin] = None
        while len(self._cache) > self.settings.cache_size:
            evicted, entry = self._cache.popitem(last=False)
            self._forget(evicted, entry)
            self._inc("optout/cache/evicted")
        self._cool()

    # -- parsed and frozen snapshots --------------------------------------------------

    def _thaw(self, origin: str, entry: _Entry) -> OriginPolicy | None:
        """Parse a frozen snapshot again and make it hot."""
        frozen = entry.frozen
        assert frozen is not None
        try:
            policy = self._cold.thaw(frozen)
        except Exception:
            logger.exception("Could not read back the policy snapshot of %s", origin)
            del self._cache[origin]
            self._forget(origin, entry)
            return None
        self._cold.release(frozen)
        entry.policy, entry.frozen = policy, None
        self._hot[origin] = None
        self._cool()
        return policy

    def _cool(self) -> None:
        """Freeze the least recently used parsed snapshots beyond ``hot_size``."""
        while len(self._hot) > self.hot_size:
            origin, _ = self._hot.popitem(last=False)
            entry = self._cache.get(origin)
            if entry is None or entry.policy is None:
                continue
            if self._cold.wasteful:
                self._cold.compact(self._cache.values())
            frozen = self._cold.freeze(entry.policy)
            if frozen is not None:  # else it stays parsed, outside the hot order
                entry.policy, entry.frozen = None, frozen

    def _forget(self, origin: str, entry: _Entry) -> None:
        """Let go of an entry that left the cache."""
        self._hot.pop(origin, None)
        if entry.frozen is not None:
            self._cold.release(entry.frozen)
            entry.frozen = None

    async def _fetch_policy(self, origin: str) -> OriginPolicy:
        kinds = self.settings.policy_files
        files = await asyncio.gather(*(self._fetch_file(origin, kind) for kind in kinds))
        by_kind = dict(zip(kinds, files, strict=True))
        return OriginPolicy(
            origin,
            by_kind[ROBOTS_TXT],
            by_kind.get("ai.txt"),
            by_kind.get("tdmrep.json"),
        )

    async def _fetch_file(self, origin: str, kind: str) -> PolicyFile:
        url = policy_url(origin, kind)
        fetch_id = next(self._ids)
        fetch = self._fetches[fetch_id] = _Fetch()
        if len(self._fetches) == 1:
            self._track(True)
        request = Request(
            url,
            priority=POLICY_PRIORITY,
            callback=NO_CALLBACK,
            dont_filter=True,
            meta={
                POLICY_META_KEY: kind,
                _FETCH_KEY: fetch_id,
                # Redirects are followed here, hop by hop (see _download).
                "dont_redirect": True,
                # Evidence is what the server answers now: never replayed from, nor
                # written to, Scrapy's HTTP cache.
                "dont_cache": True,
                "max_retry_times": self.settings.policy_retry_times,
                "download_timeout": self.settings.policy_timeout,
                # A body cut short is a failed fetch (RFC 9309 §2.3.1.4), not a short file.
                "download_fail_on_dataloss": True,
            },
        )
        fetched_at = utcnow()
        self._inc("optout/policy/requests")
        self._inc(f"optout/policy/{kind}/requests")
        try:
            response = await self._download(request)
        except _TooManyRedirects:
            message = f"{TOO_MANY_REDIRECTS} (more than {MAX_POLICY_REDIRECTS})"
            return self._failed(kind, url, fetched_at, message)
        except IgnoreRequest as exc:
            if _decompression_overflow(exc) and fetch.response is not None:
                # A compressed body that expands past the cap: keep its first bytes,
                # as for a long uncompressed file.
                return self._decompressed_prefix(kind, url, fetch.response, fetched_at)
            return self._failed(kind, url, fetched_at, f"ignored ({type(exc).__name__})")
        except Exception as exc:
            logger.debug("Policy fetch %s failed: %r", url, exc)
            return self._failed(kind, url, fetched_at, describe_error(exc))
        finally:
            self._fetches.pop(fetch_id, None)
            if not self._fetches:
                self._track(False)
        self._inc(f"optout/policy/{kind}/status_{response.status}")
        return self._policy_file(kind, url, response, fetched_at, fetch.truncated)

    async def _download(self, request: Request) -> Response:
        """Download *request*, following at most five http(s) redirects.

        A redirect without a usable http(s) target (no ``Location``, ``ftp:``,
        ``file:``, ``javascript:``, a malformed URL) ends the chain: its 3xx
        response is the outcome, as RFC 9309 reads a redirect it cannot follow.
        """
        assert self.crawler.engine is not None
        hops = 0
        while True:
            response = await self.crawler.engine.download_async(request)
            target = _redirect_target(response)
            if target is None:
                return response
            if hops >= MAX_POLICY_REDIRECTS:
                raise _TooManyRedirects
            hops += 1
            try:
                request = request.replace(url=target)
            except ValueError:
                return response

    def _failed(self, kind: str, url: str, fetched_at: Any, error: str) -> PolicyFile:
        self._inc(f"optout/policy/{kind}/error")
        return PolicyFile(kind, url, None, fetched_at=fetched_at, error=error)

    def _policy_file(
        self, kind: str, url: str, response: Response, fetched_at: Any, truncated: bool
    ) -> PolicyFile:
        maxsize = self.settings.policy_maxsize
        content_type = response.headers.get(b"Content-Type")
        return PolicyFile(
            kind=kind,
            url=url,
            status=response.status,
            body=response.body[:maxsize],
            fetched_at=fetched_at,
            final_url=response.url,
            content_type=content_type.decode("latin-1") if content_type else None,
            truncated=truncated or len(response.body) > maxsize,
        )

    def _decompressed_prefix(
        self, kind: str, url: str, raw: Response, fetched_at: Any
    ) -> PolicyFile:
        maxsize = self.settings.policy_maxsize
        encodings = [
            part.strip().lower()
            for value in raw.headers.getlist(b"Content-Encoding")
            for part in value.split(b",")
            if part.strip()
        ]
        body = decompress_prefix(raw.body, encodings, maxsize)
        if body is None:
            return self._failed(kind, url, fetched_at, "body could not be decompressed")
        self._inc(f"optout/policy/{kind}/status_{raw.status}")
        self._inc(f"optout/policy/{kind}/decompression_capped")
        return self._policy_file(kind, url, raw.replace(body=body), fetched_at, True)

    # -- signal handlers: bounded downloads -------------------------------------------

    def _track(self, on: bool) -> None:
        """Connect the download signal handlers (*on*) or disconnect them."""
        manager = self.crawler.signals
        for handler, signal in self._handlers:
            if on:
                manager.connect(handler, signal=signal)
            else:
                manager.disconnect(handler, signal=signal)

    def owns(self, request: Request) -> bool:
        """Whether *request* is one of this store's policy fetches while it runs.

        The meta marker alone does not do: a spider that copies a request's meta
        (``meta=response.meta``) would carry it to a page. A fetch counts only
        while the store is waiting for it, redirect hops and retries included.
        """
        return POLICY_META_KEY in request.meta and self._fetch_of(request) is not None

    def _fetch_of(self, request: Request) -> _Fetch | None:
        fetch_id = request.meta.get(_FETCH_KEY)
        return None if fetch_id is None else self._fetches.get(fetch_id)

    def _headers_received(
        self, headers: Any, body_length: int, request: Request, spider: Any = None
    ) -> None:
        fetch = self._fetch_of(request)
        if fetch is None:
            return
        # A new response (redirect hop or retry) starts its own count.
        fetch.received = 0
        fetch.truncated = False
        fetch.response = None
        if request.meta.pop(_CAP_KEY, False):
            # Set for the previous hop's decompression; the download of this one
            # keeps the usual limit and stops at OPTOUT_POLICY_MAXSIZE instead.
            request.meta.pop("download_maxsize", None)

    def _bytes_received(self, data: bytes, request: Request, spider: Any = None) -> None:
        fetch = self._fetch_of(request)
        if fetch is None:
            return
        fetch.received += len(data)
        if fetch.received > self.settings.policy_maxsize:
            # Keep what arrived; the parsers read the first 500 KiB at most.
            fetch.truncated = True
            raise StopDownload(fail=False)

    def _response_downloaded(
        self, response: Response, request: Request, spider: Any = None
    ) -> None:
        fetch = self._fetch_of(request)
        if fetch is None:
            return
        fetch.response = response
        if response.headers.get(b"Content-Encoding") and "download_maxsize" not in request.meta:
            # Bounds what HttpCompressionMiddleware expands (a gzip bomb); set only
            # now, so that it cannot cancel the download of a long file.
            request.meta["download_maxsize"] = self.settings.policy_maxsize
            request.meta[_CAP_KEY] = True


class _TooManyRedirects(Exception):
    pass


_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})


def _redirect_target(response: Response) -> str | None:
    """The http(s) URL a redirect response points to, or ``None``."""
    if response.status not in _REDIRECT_STATUSES:
        return None
    location = response.headers.get(b"Location")
    if not location:
        return None
    try:
        target = urljoin(response.url, safe_url_string(location.decode("latin-1").strip()))
    except ValueError:  # a malformed URL (bad port, broken IPv6 literal): not followed
        return None
    return target if urlsplit(target).scheme in ("http", "https") else None


def _is_unavailable(policy_file: PolicyFile) -> bool:
    status = policy_file.status
    return status is not None and 300 <= status < 500 and status != 429


def _decompression_overflow(exc: IgnoreRequest) -> bool:
    cause = exc.__cause__
    return type(cause).__name__ == "_DecompressionMaxSizeExceeded" or (
        "decompression" in str(exc).lower() and "maxsize" in str(exc).lower()
    )


def decompress_prefix(data: bytes, encodings: list[bytes], limit: int) -> bytes | None:
    """The first *limit* bytes of *data* decoded with *encodings* (outermost last).

    Never expands more than *limit* bytes per layer, so a bomb costs nothing.
    Truncated input gives what could be decoded; ``None`` when nothing could.
    Encodings other than gzip, deflate, br and zstd end the decoding, as in
    Scrapy's HttpCompressionMiddleware.
    """
    for encoding in reversed(encodings):
        try:
            decoded = _decode_layer(data, encoding, limit)
        except Exception:
            return None
        if decoded is None:
            break
        data = decoded
    return data[:limit]


def _decode_layer(data: bytes, encoding: bytes, limit: int) -> bytes | None:
    if encoding in (b"gzip", b"x-gzip"):
        # A gzip body may be several members one after the other (RFC 1952 §2.2).
        out = bytearray()
        while data and len(out) < limit:
            inflater = zlib.decompressobj(wbits=31)
            try:
                out += inflater.decompress(data, limit - len(out))
            except zlib.error:
                if out:
                    break
                raise
            if not inflater.eof:
                break
            data = inflater.unused_data
        return bytes(out)
    if encoding == b"deflate":
        try:
            return zlib.decompressobj().decompress(data, limit)
        except zlib.error:
            return zlib.decompressobj(wbits=-15).decompress(data, limit)
    if encoding == b"br":
        brotli = _optional_module("brotli", "brotlicffi")
        if brotli is None:
            return None
        result: bytes = brotli.Decompressor().process(data, output_buffer_limit=limit)
        return result
    if encoding == b"zstd":
        zstd = _optional_module("compression.zstd", "backports.zstd")
        if zstd is None:
            return None
        decoded: bytes = zstd.ZstdDecompressor().decompress(data, max_length=limit)
        return decoded
    return None


def _optional_module(*names: str) -> Any:
    for name in names:
        try:
            return importlib.import_module(name)
        except ImportError:
            continue
    return None
