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
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable

from scrapy_optout.policy.snapshot import OriginPolicy, PolicyFile

__all__ = ["DEFAULT_ERROR_TTL", "DEFAULT_TTL", "OriginFetch", "PolicyStore", "Stats", "lifetime"]

#: The longest a snapshot may be trusted (RFC 9309 §2.4: 24 hours).
DEFAULT_TTL = 86400.0
#: How long a snapshot whose robots.txt could not be read is kept.
DEFAULT_ERROR_TTL = 600.0

#: Fetches the policy files of an origin.
OriginFetch = Callable[[str], Awaitable[OriginPolicy]]
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


class PolicyStore(ABC):
    """Policy snapshots by origin, fetched once with *fetch* and kept until they expire.

    ``stats`` is called with the key of every cache event (``optout/cache/hit``,
    ``…/miss``, ``…/wait``; implementations add their own).
    """

    def __init__(
        self,
        fetch: OriginFetch,
        *,
        ttl: float = DEFAULT_TTL,
        error_ttl: float = DEFAULT_ERROR_TTL,
        stats: Stats | None = None,
    ) -> None:
        self.fetch = fetch
        self.ttl = ttl
        self.error_ttl = min(error_ttl, ttl)
        self._inc: Stats = stats if stats is not None else _ignore
        self._inflight: dict[str, asyncio.Future[OriginPolicy]] = {}

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
        policy = self.cached(origin)
        if policy is not None:
            self._inc("optout/cache/hit")
            return policy
        return await self.once(origin, self._fetch_and_keep)

    async def once(self, origin: str, load: OriginFetch) -> OriginPolicy:
        """``load(origin)``, with the calls made meanwhile for *origin* waiting for it.

        The single flight of :meth:`get`, for an implementation whose way of
        loading a snapshot is more than :attr:`fetch` and :meth:`put`.
        """
        future = self._inflight.get(origin)
        if future is not None:
            self._inc("optout/cache/wait")
            return await asyncio.shield(future)
        self._inc("optout/cache/miss")
        future = asyncio.get_running_loop().create_future()
        self._inflight[origin] = future
        try:
            policy = await load(origin)
        except BaseException as exc:
            future.set_exception(exc)
            # Re-raised here; waiters see it through the future (marked retrieved).
            future.exception()
            raise
        else:
            future.set_result(policy)
            return policy
        finally:
            del self._inflight[origin]

    async def _fetch_and_keep(self, origin: str) -> OriginPolicy:
        policy = await self.fetch(origin)
        self.put(policy)
        return policy
