"""The crawl's policy store: snapshots fetched through the engine, kept in memory or in Redis.

:func:`policy_store` makes the store ``OPTOUT_POLICY_STORE`` names, configured
from the ``OPTOUT_*`` settings and fed by an
:class:`~scrapy_optout.scrapy.fetcher.EngineFetcher` (policy files and RSL licences):

* :class:`EnginePolicyStore`, a :class:`~scrapy_optout.stores.memory.MemoryPolicyStore`
  (``"memory"``, the default): one process, ``OPTOUT_CACHE_TTL``,
  ``OPTOUT_ERROR_TTL``, ``OPTOUT_CACHE_SIZE``;
* :class:`~scrapy_optout.scrapy.redisstore.EngineRedisPolicyStore` (a Redis
  URL): every process of the crawl shares the snapshots, each origin's files
  fetched once for all of them.

Both tell the middlewares which requests are their own fetches (``owns``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeAlias

from scrapy_optout.scrapy.fetcher import EngineFetcher, stats_counter
from scrapy_optout.stores.memory import MemoryPolicyStore

if TYPE_CHECKING:
    from scrapy import Request
    from scrapy.crawler import Crawler

    from scrapy_optout.scrapy.redisstore import EngineRedisPolicyStore
    from scrapy_optout.scrapy.settings import OptOutSettings

__all__ = ["EnginePolicyStore", "policy_store", "stats_counter"]


class EnginePolicyStore(MemoryPolicyStore):
    """One per crawler: single-flight, TTL- and size-bounded snapshots of origins."""

    def __init__(self, crawler: Crawler, settings: OptOutSettings) -> None:
        self.fetcher = EngineFetcher(crawler, settings)
        super().__init__(
            self.fetcher.origin_policy,
            ttl=settings.cache_ttl,
            error_ttl=settings.error_ttl,
            size=settings.cache_size,
            stats=stats_counter(crawler),
            fetch_licence=self.fetcher.licence_file,
        )

    def owns(self, request: Request) -> bool:
        """Whether *request* is one of the store's policy fetches while it runs."""
        return self.fetcher.owns(request)


if TYPE_CHECKING:
    #: The stores a crawl may have.
    CrawlPolicyStore: TypeAlias = EnginePolicyStore | EngineRedisPolicyStore


def policy_store(crawler: Crawler, settings: OptOutSettings) -> CrawlPolicyStore:
    """The store ``OPTOUT_POLICY_STORE`` names, for *crawler*."""
    if settings.shared_store:
        # Imported here: the redis package is needed only by crawls that use it.
        from scrapy_optout.scrapy.redisstore import EngineRedisPolicyStore

        return EngineRedisPolicyStore(crawler, settings)
    return EnginePolicyStore(crawler, settings)
