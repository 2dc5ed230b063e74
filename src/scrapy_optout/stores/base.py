"""The interface of a policy snapshot store, whatever keeps the snapshots.

A :class:`PolicyStore` answers "what are the policy files of this origin?"
with an :class:`~scrapy_optout.policy.snapshot.OriginPolicy`, fetching them
once through the function it was given when it has no fresh snapshot, and
keeping each snapshot until it expires: ``ttl`` seconds after it was fetched
(at most 24 h, RFC 9309 §2.4), or the shorter ``error_ttl`` when robots.txt
could not be read, since RFC 9309 §2.3.1.4 asks to retry an unreachable
robots.txt rather than trust the failure for long.

An implementation keeps snapshots by origin (``scheme://host:port``) and
provides three things: a snapshot out (:meth:`PolicyStore.cached`), a
snapshot in with its lifetime (:meth:`PolicyStore.put`) and a size. The
in-memory store (:mod:`~scrapy_optout.stores.memory`) is one; a store shared
by several processes keeps the same three behind its own keys and expiry.
:meth:`PolicyStore.get` is the single-flight read-through every adapter calls.

RSL licences (RSL 1.0) are kept here too, by URL: a licence named by the
``License:`` lines of many origins' robots.txt, or by the ``Link`` header or
HTML of many pages, is fetched once (:meth:`PolicyStore.licence`, single-flight)
and kept as long as an origin's snapshot, with the same shorter lifetime for
a licence that could not be fetched. :meth:`PolicyStore.get` hands an origin's
snapshot out with the licences its robots.txt names.
"""

from __future__ import annotations

import asyncio
import time
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable
from typing import TypeVar

from scrapy_optout.exceptions import describe_error
from scrapy_optout.policy.snapshot import RSL_LICENCE as RSL_KIND
from scrapy_optout.policy.snapshot import Licence, OriginPolicy, PolicyFile

__all__ = [
    "DEFAULT_ERROR_TTL",
    "DEFAULT_LICENCES",
    "DEFAULT_TTL",
    "LicenceFetch",
    "OriginFetch",
    "PolicyStore",
    "Stats",
    "lifetime",
]

#: The longest a snapshot may be trusted (RFC 9309 §2.4: 24 hours).
DEFAULT_TTL = 86400.0
#: How long a snapshot whose robots.txt could not be read is kept.
DEFAULT_ERROR_TTL = 600.0

#: Licence documents kept by URL, least recently used dropped first.
DEFAULT_LICENCES = 4096

#: Fetches the policy files of an origin.
OriginFetch = Callable[[str], Awaitable[OriginPolicy]]
#: Fetches one licence document by URL, on the fetch contract.
LicenceFetch = Callable[[str], Awaitable[PolicyFile]]
#: The prefix of the policy cache's stats (``optout/cache/hit``, ``…/miss``, ``…/wait``).
_CACHE_STATS = "optout/cache"
_CACHE_HIT = f"{_CACHE_STATS}/hit"  # counted for most requests of a crawl
#: Adds one to a stat, by key (``optout/cache/hit``).
Stats = Callable[[str], None]


def lifetime(policy: OriginPolicy, ttl: float, error_ttl: float) -> float:
    """Seconds *policy* may be kept: *error_ttl* when its robots.txt failed, else *ttl*.

    A robots.txt that answered 3xx or 4xx (429 aside) is unavailable, which
    RFC 9309 §2.3.1.3 reads as "allow everything": an answer, kept like a file.
    """
    return ttl if _answered(policy.robots_file) else error_ttl


def _answered(policy_file: PolicyFile) -> bool:
    status = policy_file.status
    return status is not None and 200 <= status < 500 and status != 429


def _ignore(key: str) -> None:
    pass


def _nothing(key: str) -> None:
    return None


class PolicyStore(ABC):
    """Policy snapshots by origin, fetched once with *fetch* and kept until they expire.

    ``stats`` is called with the key of every cache event (``optout/cache/hit``,
    ``…/miss``, ``…/wait``; implementations add their own). *fetch_licence*
    fetches an RSL licence by URL; without it, licences named by robots.txt
    are not fetched and an origin's snapshot has none.
    """

    def __init__(
        self,
        fetch: OriginFetch,
        *,
        ttl: float = DEFAULT_TTL,
        error_ttl: float = DEFAULT_ERROR_TTL,
        stats: Stats | None = None,
        fetch_licence: LicenceFetch | None = None,
        licence_size: int = DEFAULT_LICENCES,
    ) -> None:
        self.fetch = fetch
        self.fetch_licence = fetch_licence
        self.ttl = ttl
        self.error_ttl = min(error_ttl, ttl)
        self.licence_size = licence_size
        self._inc: Stats = stats if stats is not None else _ignore
        self._inflight: dict[str, asyncio.Future[OriginPolicy]] = {}
        self._clock: Callable[[], float] = time.monotonic
        self._licences: OrderedDict[str, tuple[float, Licence]] = OrderedDict()
        self._licence_inflight: dict[str, asyncio.Future[Licence]] = {}

    @abstractmethod
    def cached(self, origin: str) -> OriginPolicy | None:
        """The snapshot of *origin* if one is kept and has not expired."""

    @abstractmethod
    def put(self, policy: OriginPolicy, ttl: float | None = None) -> None:
        """Keep *policy* under its origin for *ttl* seconds (default: :meth:`lifetime`).

        It replaces any snapshot of that origin.
        """

    @abstractmethod
    def __len__(self) -> int:
        """How many snapshots are kept."""

    def close(self) -> None:  # noqa: B027 - optional: a store may hold no resource
        """Let go of what the store holds (files, connections)."""

    def lifetime(self, policy: OriginPolicy) -> float:
        """Seconds *policy* is kept for (see :func:`lifetime`)."""
        return lifetime(policy, self.ttl, self.error_ttl)

    async def get(self, origin: str) -> OriginPolicy:
        """The snapshot of *origin*, fetched (once) if none is kept.

        Concurrent calls for an origin being fetched wait for that one fetch;
        if it raises, they all see the exception and nothing is kept.
        """
        return await _single_flight(
            origin, self.cached, self._fetch_origin, self._inflight, self._inc, _CACHE_STATS
        )

    def kept(self, origin: str) -> OriginPolicy | None:
        """What :meth:`get` serves at once from what this process keeps, counted as it counts it.

        For a caller that takes a kept snapshot without awaiting :meth:`get`
        (and awaits it only when this gives ``None``); every store's ``get``
        begins with it.
        """
        found = self.cached(origin)
        if found is not None:
            self._inc(_CACHE_HIT)
        return found

    async def once(self, origin: str, load: OriginFetch) -> OriginPolicy:
        """``load(origin)``, with the calls made meanwhile for *origin* waiting for it.

        The single flight of :meth:`get`, for an implementation whose way of
        loading a snapshot is more than :attr:`fetch` and :meth:`put`.
        """
        return await _single_flight(origin, _nothing, load, self._inflight, self._inc, _CACHE_STATS)

    async def with_licences(self, policy: OriginPolicy) -> OriginPolicy:
        """*policy* with the RSL licences its robots.txt names, fetched once per URL."""
        urls = policy.licence_urls if self.fetch_licence is not None else []
        if not urls:
            return policy
        found = await self.licences(urls)
        return policy.with_licences([found[url] for url in urls])

    async def _fetch_origin(self, origin: str) -> OriginPolicy:
        policy = await self.with_licences(await self.fetch(origin))
        self.put(policy)
        return policy

    # -- RSL licences, by URL ---------------------------------------------------------

    def cached_licence(self, url: str) -> Licence | None:
        """The licence document at *url* if one is kept and has not expired."""
        entry = self._licences.get(url)
        if entry is None:
            return None
        if entry[0] <= self._clock():
            del self._licences[url]
            return None
        self._licences.move_to_end(url)
        return entry[1]

    def put_licence(self, licence: Licence) -> None:
        """Keep *licence* under its URL, as long as a snapshot (shorter when it failed)."""
        answered = _answered(licence.file)
        ttl = self.ttl if answered else self.error_ttl
        self._licences[licence.url] = (self._clock() + ttl, licence)
        self._licences.move_to_end(licence.url)
        while len(self._licences) > self.licence_size:
            self._licences.popitem(last=False)

    async def licence(self, url: str) -> Licence:
        """The licence document at *url*, fetched (once) if none is kept.

        Concurrent calls for a URL being fetched wait for that one fetch. A
        fetch that raises gives a licence that could not be fetched (an
        ``unknown`` finding), never an exception.
        """
        return await _single_flight(
            url,
            self.cached_licence,
            self._fetch_licence,
            self._licence_inflight,
            self._inc,
            "optout/rsl/cache",
        )

    async def _fetch_licence(self, url: str) -> Licence:
        if self.fetch_licence is None:
            raise RuntimeError("this policy store was given no way to fetch licences")
        try:
            file = await self.fetch_licence(url)
        except Exception as exc:
            file = PolicyFile(RSL_KIND, url, None, error=describe_error(exc))
        licence = Licence(file)
        self.put_licence(licence)
        return licence

    async def licences(self, urls: Iterable[str]) -> dict[str, Licence]:
        """The licence documents at *urls*, fetched at once where none is kept."""
        wanted = list(dict.fromkeys(urls))
        found = await asyncio.gather(*(self.licence(url) for url in wanted))
        return dict(zip(wanted, found, strict=True))

    def cached_licences(self, urls: Iterable[str]) -> dict[str, Licence] | None:
        """The licence documents at *urls* if every one is kept, else ``None``."""
        found: dict[str, Licence] = {}
        for url in urls:
            kept = self.cached_licence(url)
            if kept is None:
                return None
            found[url] = kept
        return found


_T = TypeVar("_T")


async def _single_flight(
    key: str,
    cached: Callable[[str], _T | None],
    load: Callable[[str], Awaitable[_T]],
    inflight: dict[str, asyncio.Future[_T]],
    inc: Stats,
    stats: str,
) -> _T:
    """What *cached* keeps under *key*, else one *load* of it that concurrent callers share.

    Counts ``<stats>/hit``, ``…/wait`` and ``…/miss``. When the load raises,
    every caller sees the exception.
    """
    found = cached(key)
    if found is not None:
        inc(f"{stats}/hit")
        return found
    future = inflight.get(key)
    if future is not None:
        inc(f"{stats}/wait")
        return await asyncio.shield(future)
    inc(f"{stats}/miss")
    future = asyncio.get_running_loop().create_future()
    inflight[key] = future
    try:
        value = await load(key)
    except BaseException as exc:
        future.set_exception(exc)
        # Re-raised here; waiters see it through the future (marked retrieved).
        future.exception()
        raise
    else:
        future.set_result(value)
        return value
    finally:
        del inflight[key]
