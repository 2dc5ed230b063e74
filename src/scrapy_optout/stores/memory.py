"""The in-memory policy store: one process, bounded in size and in memory.

Snapshots are kept in a least-recently-used order and at most ``size`` of
them: past that the least recently used is evicted. Only the ``hot_size``
used most recently stay parsed; the others are frozen into a
:class:`~scrapy_optout.stores.coldstore.ColdStore` (their files, compressed,
in a temporary file) and parsed again when next asked for.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable

from scrapy_optout.policy.snapshot import OriginPolicy
from scrapy_optout.stores.base import (
    DEFAULT_ERROR_TTL,
    DEFAULT_TTL,
    LicenceFetch,
    OriginFetch,
    PolicyStore,
    Stats,
)
from scrapy_optout.stores.coldstore import ColdStore

__all__ = ["DEFAULT_SIZE", "HOT_SNAPSHOTS", "MemoryPolicyStore"]

logger = logging.getLogger(__name__)

#: Snapshots kept by default (``OPTOUT_CACHE_SIZE``).
DEFAULT_SIZE = 10000
#: Snapshots kept parsed, most recently used first; the others are frozen.
HOT_SNAPSHOTS = 1024


class _Entry:
    __slots__ = ("expires", "frozen", "policy")

    def __init__(self, policy: OriginPolicy, expires: float) -> None:
        self.policy: OriginPolicy | None = policy
        self.frozen: int | None = None  # ref of the snapshot in the ColdStore
        self.expires = expires


class MemoryPolicyStore(PolicyStore):
    """Single-flight, TTL-bounded, size-bounded snapshots in this process.

    ``clock`` gives the time in seconds that lifetimes are counted in
    (:func:`time.monotonic`).
    """

    def __init__(
        self,
        fetch: OriginFetch,
        *,
        ttl: float = DEFAULT_TTL,
        error_ttl: float = DEFAULT_ERROR_TTL,
        size: int = DEFAULT_SIZE,
        stats: Stats | None = None,
        hot_size: int = HOT_SNAPSHOTS,
        clock: Callable[[], float] = time.monotonic,
        fetch_licence: LicenceFetch | None = None,
    ) -> None:
        super().__init__(
            fetch, ttl=ttl, error_ttl=error_ttl, stats=stats, fetch_licence=fetch_licence
        )
        self.size = size
        self.hot_size = hot_size
        self._clock = clock
        self._cache: OrderedDict[str, _Entry] = OrderedDict()
        # Origins whose entry holds a parsed policy, least recently used first.
        self._hot: OrderedDict[str, None] = OrderedDict()
        self._cold = ColdStore()

    def __len__(self) -> int:
        return len(self._cache)

    def cached(self, origin: str) -> OriginPolicy | None:
        entry = self._cache.get(origin)
        if entry is None:
            return None
        if entry.expires <= self._clock():
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

    def put(self, policy: OriginPolicy, ttl: float | None = None) -> None:
        if ttl is None:
            ttl = self.lifetime(policy)
        origin = policy.origin
        previous = self._cache.get(origin)
        if previous is not None:
            self._forget(origin, previous)
        self._cache[origin] = _Entry(policy, self._clock() + ttl)
        self._cache.move_to_end(origin)
        self._hot[origin] = None
        while len(self._cache) > self.size:
            evicted, entry = self._cache.popitem(last=False)
            self._forget(evicted, entry)
            self._inc("optout/cache/evicted")
        self._cool()

    def close(self) -> None:
        self._licences.clear()
        self._cache.clear()
        self._hot.clear()
        self._cold.close()

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
