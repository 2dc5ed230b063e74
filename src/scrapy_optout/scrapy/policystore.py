"""The crawl's policy store: snapshots kept in memory, fetched through the engine.

:class:`EnginePolicyStore` is the :class:`~scrapy_optout.stores.memory.MemoryPolicyStore`
the add-on uses, configured from the ``OPTOUT_*`` settings (``OPTOUT_CACHE_TTL``,
``OPTOUT_ERROR_TTL``, ``OPTOUT_CACHE_SIZE``) and fed by an
:class:`~scrapy_optout.scrapy.fetcher.EngineFetcher` (policy files and RSL
licences); it also tells the middlewares which requests are its own fetches
(:meth:`EnginePolicyStore.owns`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from scrapy_optout.scrapy.fetcher import EngineFetcher, stats_counter
from scrapy_optout.stores.memory import MemoryPolicyStore

if TYPE_CHECKING:
    from scrapy import Request
    from scrapy.crawler import Crawler

    from scrapy_optout.scrapy.settings import OptOutSettings

__all__ = ["EnginePolicyStore", "stats_counter"]


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
