"""The crawl's policy store shared through Redis by every process of the crawl.

:class:`EngineRedisPolicyStore` is the
:class:`~scrapy_optout.stores.redis.RedisPolicyStore` a crawl uses when
``OPTOUT_POLICY_STORE`` is a Redis URL, configured from the ``OPTOUT_*``
settings and fed by an :class:`~scrapy_optout.scrapy.fetcher.EngineFetcher`.

A Redis that cannot be reached is found at start-up (a ``PING`` when the
store is made). With ``OPTOUT_POLICY_STORE_FALLBACK = "stop"`` (the default)
the crawl does not start (:class:`~scrapy_optout.PolicyStoreError`), and a
failure later drops the request that needed the store
(:class:`~scrapy_optout.PolicyStoreFailed`; an item waiting for it fails too)
and closes the spider with the reason ``optout_store_unavailable``; the
process then exits with status 1. With ``"memory"`` the process logs the
error once and goes on with a store of its own.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from scrapy import signals

from scrapy_optout.exceptions import PolicyStoreError
from scrapy_optout.scrapy.exceptions import PolicyStoreFailed
from scrapy_optout.scrapy.fetcher import EngineFetcher, close_spider, stats_counter
from scrapy_optout.scrapy.settings import FALLBACK_STOP
from scrapy_optout.stores.redis import MEMORY, STOP, RedisPolicyStore

if TYPE_CHECKING:
    from scrapy import Request
    from scrapy.crawler import Crawler

    from scrapy_optout.policy.snapshot import OriginPolicy
    from scrapy_optout.scrapy.settings import OptOutSettings

__all__ = ["STORE_UNAVAILABLE", "EngineRedisPolicyStore"]

logger = logging.getLogger(__name__)

#: ``finish_reason`` of a crawl stopped because the shared policy store failed.
STORE_UNAVAILABLE = "optout_store_unavailable"


class EngineRedisPolicyStore(RedisPolicyStore):
    """One per crawler: the snapshots every process of the crawl shares through Redis."""

    def __init__(self, crawler: Crawler, settings: OptOutSettings) -> None:
        self.crawler = crawler
        self.fetcher = EngineFetcher(crawler, settings)
        super().__init__(
            self.fetcher.origin_policy,
            settings.policy_store,
            ttl=settings.cache_ttl,
            error_ttl=settings.error_ttl,
            size=settings.cache_size,
            local_ttl=settings.policy_store_local_ttl,
            lease=settings.policy_store_lease,
            wait=settings.policy_store_wait,
            timeout=settings.policy_store_timeout,
            prefix=settings.policy_store_prefix,
            fallback=STOP if settings.policy_store_fallback == FALLBACK_STOP else MEMORY,
            stats=stats_counter(crawler),
            fetch_licence=self.fetcher.licence_file,
        )
        self.failed: PolicyStoreError | None = None
        try:
            self.ping()
        except PolicyStoreError as exc:
            if self.fallback == STOP:
                raise PolicyStoreError(
                    f"{exc}. The crawl does not start without its policy store"
                    f' (OPTOUT_POLICY_STORE_FALLBACK = "stop")'
                ) from exc
            self._degrade(exc)
        logger.info(
            "Policy snapshots shared through Redis at %s (key prefix %r)",
            self.where,
            self.prefix,
        )
        crawler.signals.connect(self._spider_closed, signal=signals.spider_closed)
        crawler.signals.connect(self._engine_stopped, signal=signals.engine_stopped)

    def owns(self, request: Request) -> bool:
        """Whether *request* is one of the store's policy fetches while it runs."""
        return bool(self.fetcher.owns(request))

    async def get(self, origin: str) -> OriginPolicy:
        try:
            policy: OriginPolicy = await super().get(origin)
        except PolicyStoreError as exc:
            self._stop(exc)
            raise PolicyStoreFailed(f"Not decided, so not let through: {origin} ({exc})") from exc
        return policy

    def _stop(self, exc: PolicyStoreError) -> None:
        """Close the spider, once: nothing can be decided without the store."""
        if self.failed is not None:
            return
        self.failed = exc
        stats = self.crawler.stats
        if stats is not None:
            stats.set_value("optout/store_failed", 1)
        logger.error(
            '%s. Closing the spider (OPTOUT_POLICY_STORE_FALLBACK = "stop"):'
            " nothing is let through undecided.",
            exc,
            extra={"spider": self.crawler.spider},
        )
        close_spider(self.crawler, STORE_UNAVAILABLE)

    async def _spider_closed(self, spider: Any = None, reason: str = "") -> None:
        await self.aclose()

    def _engine_stopped(self) -> None:
        if self.failed is not None:
            # As for a ledger that cannot be written: Scrapy's runners report a
            # crawler left without a spider as failed (exit status 1).
            self.crawler.spider = None
