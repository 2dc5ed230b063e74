"""Per-origin policy snapshots fetched through the Scrapy engine.

One :class:`PolicyStore` per crawler. For a new origin it downloads the policy
files concurrently through ``engine.download_async`` (so they pass through the
usual downloader middlewares, proxies and throttling), once: every request
that arrives while a fetch is running awaits the same future. Snapshots are
kept in a bounded LRU; a snapshot expires after ``OPTOUT_CACHE_TTL`` seconds,
or after the shorter ``OPTOUT_ERROR_TTL`` when robots.txt could not be read
(RFC 9309 asks to retry an unreachable robots.txt rather than trust a
failure for long).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

from scrapy import Request, signals
from scrapy.exceptions import IgnoreRequest, StopDownload
from scrapy.http.request import NO_CALLBACK

from scrapy_optout.origin import (
    ROBOTS_TXT,
    TOO_MANY_REDIRECTS,
    OriginPolicy,
    PolicyFile,
    policy_url,
    utcnow,
)

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from scrapy.http import Response

    from scrapy_optout.settings import OptOutSettings

logger = logging.getLogger(__name__)

#: Request.meta key marking the store's own fetches, which skip the opt-out checks.
POLICY_META_KEY = "_optout_policy_fetch"
#: Policy fetches go ahead of page requests.
POLICY_PRIORITY = 1000
MAX_POLICY_REDIRECTS = 5


class _Entry:
    __slots__ = ("expires", "policy")

    def __init__(self, policy: OriginPolicy, expires: float) -> None:
        self.policy = policy
        self.expires = expires


class PolicyStore:
    """Single-flight, TTL-bounded, size-bounded cache of :class:`OriginPolicy`."""

    def __init__(self, crawler: Crawler, settings: OptOutSettings) -> None:
        self.crawler = crawler
        self.settings = settings
        self.stats = crawler.stats
        self._cache: OrderedDict[str, _Entry] = OrderedDict()
        self._inflight: dict[str, asyncio.Future[OriginPolicy]] = {}
        self._received: dict[int, int] = {}
        crawler.signals.connect(self._bytes_received, signal=signals.bytes_received)

    def __len__(self) -> int:
        return len(self._cache)

    def cached(self, origin: str) -> OriginPolicy | None:
        """The fresh snapshot of *origin*, if one is cached."""
        entry = self._cache.get(origin)
        if entry is None:
            return None
        if entry.expires <= time.monotonic():
            del self._cache[origin]
            self._inc("optout/cache/expired")
            return None
        self._cache.move_to_end(origin)
        return entry.policy

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
        self._cache[policy.origin] = _Entry(policy, time.monotonic() + ttl)
        self._cache.move_to_end(policy.origin)
        while len(self._cache) > self.settings.cache_size:
            self._cache.popitem(last=False)
            self._inc("optout/cache/evicted")

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
        request = Request(
            url,
            priority=POLICY_PRIORITY,
            callback=NO_CALLBACK,
            dont_filter=True,
            meta={
                POLICY_META_KEY: kind,
                "redirect_ttl": MAX_POLICY_REDIRECTS,
                "max_retry_times": self.settings.policy_retry_times,
                "download_timeout": self.settings.policy_timeout,
            },
        )
        fetched_at = utcnow()
        self._inc("optout/policy/requests")
        self._inc(f"optout/policy/{kind}/requests")
        assert self.crawler.engine is not None
        try:
            response = await self.crawler.engine.download_async(request)
        except IgnoreRequest as exc:
            # The redirect middleware gives up after MAX_POLICY_REDIRECTS hops.
            message = str(exc) or type(exc).__name__
            if "redirect" in message.lower():
                message = f"{TOO_MANY_REDIRECTS} (more than {MAX_POLICY_REDIRECTS})"
            self._inc(f"optout/policy/{kind}/error")
            return PolicyFile(kind, url, None, fetched_at=fetched_at, error=message)
        except Exception as exc:
            self._inc(f"optout/policy/{kind}/error")
            logger.debug("Policy fetch %s failed: %r", url, exc)
            return PolicyFile(kind, url, None, fetched_at=fetched_at, error=_describe_error(exc))
        finally:
            self._received.pop(id(request), None)
        self._inc(f"optout/policy/{kind}/status_{response.status}")
        return _policy_file(kind, url, response, fetched_at)

    def _bytes_received(self, data: bytes, request: Request, spider: Any = None) -> None:
        if POLICY_META_KEY not in request.meta:
            return
        key = id(request)
        total = self._received.get(key, 0) + len(data)
        self._received[key] = total
        if total > self.settings.policy_maxsize:
            # Keep what arrived; the parsers read the first 500 KiB at most.
            request.meta["_optout_truncated"] = True
            raise StopDownload(fail=False)

    def _inc(self, key: str) -> None:
        if self.stats is not None:
            self.stats.inc_value(key)


def _policy_file(kind: str, url: str, response: Response, fetched_at: Any) -> PolicyFile:
    content_type = response.headers.get(b"Content-Type")
    return PolicyFile(
        kind=kind,
        url=url,
        status=response.status,
        body=response.body,
        fetched_at=fetched_at,
        final_url=response.url,
        content_type=content_type.decode("latin-1") if content_type else None,
        truncated=bool(response.request and response.request.meta.get("_optout_truncated")),
    )


def _is_unavailable(policy_file: PolicyFile) -> bool:
    status = policy_file.status
    return status is not None and 300 <= status < 500 and status != 429


def _describe_error(exc: BaseException) -> str:
    name = type(exc).__name__
    text = str(exc)
    return f"{name}: {text}" if text else name
