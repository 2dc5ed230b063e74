"""A policy store shared by every process of a crawl, kept in Redis (or Valkey).

Crawls that outgrow one machine run many Scrapy processes; with this store
they decide from one snapshot per origin, fetched once for the whole fleet
and trusted for as long as a single process would trust it (RFC 9309 §2.4:
at most 24 hours; a robots.txt that could not be read, ``error_ttl``, so
that it is retried soon, RFC 9309 §2.3.1.4).

The data in Redis, under a prefix (``optout`` by default)::

    optout:policy:<origin>   the snapshot: JSON, one object per policy file with
                             kind, url, status, sha256 of the body, fetched_at,
                             error, final_url, content_type, truncated.
                             Expires (PX) when the snapshot does: ttl or error_ttl.
    optout:body:<sha256>     a body, stored once however many origins serve it;
                             kept at least as long as the longest snapshot
                             that refers to it.
    optout:lease:<origin>    who is fetching the origin's files now: a token
                             (host:pid:random), set with SET NX PX and renewed
                             while the fetch runs; gone when the snapshot is
                             written, or ``lease`` seconds after its holder died.

A process that needs an origin reads its snapshot, or takes the lease, in one
atomic step (a Lua script). The lease holder fetches the files and writes the
snapshot and the bodies in one step, which also lets go of the lease. The
others poll (every 10 ms, backing off to 200 ms) until the snapshot is there or
the lease is gone; after ``wait`` seconds they fetch the files themselves. A
holder that crashed stops renewing its lease, so the next process takes over
at most ``lease`` seconds later. The snapshot's Redis expiry is the refresh:
the first process that needs the origin after it fetches the files again.

Each process keeps the snapshots it used in a local
:class:`~scrapy_optout.stores.memory.MemoryPolicyStore` for at most
``local_ttl`` seconds, and never past the Redis expiry, so that a decision
does not pay a round trip to Redis.

A Redis that cannot be reached, or that fails a command, raises
:class:`~scrapy_optout.exceptions.PolicyStoreError`: no snapshot, so no
decision, never "allowed". With ``fallback="memory"`` the process instead goes
on with its local store alone (snapshots fetched per process, kept their full
lifetime) for the rest of its life.

A single Redis server (or a primary with replicas) is expected: the scripts
touch keys of several origins and bodies at once, which Redis Cluster refuses.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import secrets
import socket
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, TypeVar
from urllib.parse import urlsplit

import redis
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from scrapy_optout.exceptions import ConfigurationError, PolicyStoreError
from scrapy_optout.policy.snapshot import OriginPolicy, PolicyFile
from scrapy_optout.policy.urls import without_password
from scrapy_optout.stores.base import (
    DEFAULT_ERROR_TTL,
    DEFAULT_TTL,
    LicenceFetch,
    OriginFetch,
    PolicyStore,
    Stats,
)
from scrapy_optout.stores.memory import DEFAULT_SIZE, MemoryPolicyStore

__all__ = [
    "DEFAULT_LEASE",
    "DEFAULT_LOCAL_TTL",
    "DEFAULT_PREFIX",
    "DEFAULT_TIMEOUT",
    "FALLBACKS",
    "MEMORY",
    "SCHEMES",
    "STOP",
    "RedisPolicyStore",
]

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: URL schemes of a Redis server (``rediss`` is TLS; ``unix`` a local socket).
SCHEMES = ("redis", "rediss", "unix")
#: ``fallback`` values: stop deciding when Redis fails, or go on with a local store.
STOP = "stop"
MEMORY = "memory"
FALLBACKS = (STOP, MEMORY)
#: Seconds a snapshot read from Redis is kept in the process (``OPTOUT_POLICY_STORE_LOCAL_TTL``).
DEFAULT_LOCAL_TTL = 60.0
#: Seconds a fetcher's lease lasts unless renewed (``OPTOUT_POLICY_STORE_LEASE``).
DEFAULT_LEASE = 10.0
#: Seconds a Redis command may take, connecting included (``OPTOUT_POLICY_STORE_TIMEOUT``).
DEFAULT_TIMEOUT = 5.0
#: Key prefix (``OPTOUT_POLICY_STORE_PREFIX``).
DEFAULT_PREFIX = "optout"
#: Seconds another process's fetch is waited for by default.
DEFAULT_WAIT = 60.0
#: Version of the snapshot's JSON; a snapshot of another version is fetched again.
SNAPSHOT_VERSION = 1

_POLL_FIRST = 0.01
_POLL_MAX = 0.2

# KEYS: snapshot, lease. ARGV: token, lease ms.
# {1, snapshot, pttl} | {2} (the lease is ours) | {3, lease pttl} (someone else's).
_CLAIM = """
local snapshot = redis.call('GET', KEYS[1])
if snapshot then
  return {1, snapshot, redis.call('PTTL', KEYS[1])}
end
if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return {2}
end
return {3, redis.call('PTTL', KEYS[2])}
"""

# KEYS: snapshot, lease, body keys... ARGV: snapshot, ttl ms, token, bodies...
# Bodies are written when missing and made to live at least as long as the snapshot.
_PUBLISH = """
local ttl = tonumber(ARGV[2])
for i = 3, #KEYS do
  local left = redis.call('PTTL', KEYS[i])
  if left == -2 then
    redis.call('SET', KEYS[i], ARGV[i + 1], 'PX', ttl)
  elseif left >= 0 and left < ttl then
    redis.call('PEXPIRE', KEYS[i], ttl)
  end
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ttl)
if ARGV[3] ~= '' and redis.call('GET', KEYS[2]) == ARGV[3] then
  redis.call('DEL', KEYS[2])
end
return 1
"""

# KEYS: lease. ARGV: token, lease ms (0: let go). 1 while the lease is the token's.
_RENEW = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return 0
end
if tonumber(ARGV[2]) > 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
else
  redis.call('DEL', KEYS[1])
end
return 1
"""

_FOUND, _LEASED, _BUSY = 1, 2, 3


def _check_url(url: str) -> None:
    if not isinstance(url, str):
        raise TypeError(f"url must be a str, not {type(url).__name__}")
    if urlsplit(url).scheme.lower() not in SCHEMES:
        raise ConfigurationError(
            f"A Redis URL starts with {', '.join(s + '://' for s in SCHEMES)},"
            f" not {without_password(url)!r}"
        )


class RedisPolicyStore(PolicyStore):
    """Snapshots shared through the Redis server at *url*, fetched once for all its users.

    *fetch* fetches an origin's files when no process has them. ``ttl`` and
    ``error_ttl`` are the snapshots' lifetimes, ``size`` the most snapshots
    kept in the process, ``local_ttl`` how long (at most) one read from Redis
    is used before Redis is asked again (``0``: every time). ``lease`` is the
    lifetime of a fetcher's claim when it stops renewing it, ``wait`` the
    longest another process's fetch is waited for, ``timeout`` the longest a
    Redis command may take. ``fallback`` says what a Redis failure does:
    :data:`STOP` raises :class:`~scrapy_optout.exceptions.PolicyStoreError`,
    :data:`MEMORY` goes on with the local store.
    """

    def __init__(
        self,
        fetch: OriginFetch,
        url: str,
        *,
        ttl: float = DEFAULT_TTL,
        error_ttl: float = DEFAULT_ERROR_TTL,
        size: int = DEFAULT_SIZE,
        local_ttl: float = DEFAULT_LOCAL_TTL,
        lease: float = DEFAULT_LEASE,
        wait: float = DEFAULT_WAIT,
        timeout: float = DEFAULT_TIMEOUT,
        prefix: str = DEFAULT_PREFIX,
        fallback: str = STOP,
        stats: Stats | None = None,
        fetch_licence: LicenceFetch | None = None,
    ) -> None:
        _check_url(url)
        if fallback not in FALLBACKS:
            raise ConfigurationError(f"fallback must be one of {', '.join(FALLBACKS)}")
        for name, value in (("local_ttl", local_ttl), ("wait", wait)):
            if not value >= 0:
                raise ConfigurationError(f"{name} must be 0 or more, not {value!r}")
        for name, value in (("lease", lease), ("timeout", timeout)):
            if not value > 0:
                raise ConfigurationError(f"{name} must be more than 0, not {value!r}")
        super().__init__(
            fetch, ttl=ttl, error_ttl=error_ttl, stats=stats, fetch_licence=fetch_licence
        )
        self.url = url
        self.where = without_password(url)
        self.local_ttl = min(local_ttl, self.ttl)
        self.lease = lease
        self.wait = wait
        self.timeout = timeout
        self.prefix = prefix
        self.fallback = fallback
        #: Set when Redis failed and the process went on with its local store.
        self.degraded: PolicyStoreError | None = None
        self._local = MemoryPolicyStore(fetch, ttl=ttl, error_ttl=error_ttl, size=size, stats=stats)
        self._client: aioredis.Redis | None = None
        self._scripts: dict[str, Any] = {}
        self._token_base = f"{socket.gethostname()}:{os.getpid()}"
        self._background: set[asyncio.Task[Any]] = set()

    # -- the PolicyStore interface ------------------------------------------------------

    def __len__(self) -> int:
        return len(self._local)

    def cached(self, origin: str) -> OriginPolicy | None:
        """The snapshot of *origin* this process holds, if still fresh (no Redis call)."""
        return self._local.cached(origin)

    def put(self, policy: OriginPolicy, ttl: float | None = None) -> None:
        """Keep *policy* in this process only; :meth:`publish` shares it."""
        self._local.put(policy, ttl)

    async def get(self, origin: str) -> OriginPolicy:
        """The snapshot of *origin*: from this process, else from Redis, else fetched once.

        Raises :class:`~scrapy_optout.exceptions.PolicyStoreError` when Redis
        fails and ``fallback`` is :data:`STOP`.
        """
        policy = self.kept(origin)
        if policy is not None:
            return policy
        if self.degraded is not None:
            return await self._local.get(origin)
        return await self.once(origin, self._load)

    def close(self) -> None:
        """Let go of the local snapshots; the connection closes with :meth:`aclose`."""
        self._local.close()

    async def aclose(self) -> None:
        """Close the connection to Redis (and let go of the local snapshots)."""
        self.close()
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()

    # -- Redis ------------------------------------------------------------------------

    def key(self, kind: str, name: str) -> str:
        """The Redis key of *name* (an origin, a sha256) of *kind* (policy, body, lease)."""
        return f"{self.prefix}:{kind}:{name}"

    def ping(self) -> None:
        """Check, synchronously, that Redis answers: for start-up, before any event loop.

        Raises :class:`~scrapy_optout.exceptions.PolicyStoreError` when it does not.
        """
        try:
            client = redis.Redis.from_url(
                self.url, socket_timeout=self.timeout, socket_connect_timeout=self.timeout
            )
            try:
                client.ping()
            finally:
                client.close()
        except (RedisError, OSError, ValueError) as exc:
            raise self._error("answer a PING", exc) from exc

    async def publish(self, policy: OriginPolicy, ttl: float | None = None) -> None:
        """Write *policy* and its bodies to Redis for *ttl* seconds (default: its lifetime)."""
        if ttl is None:
            ttl = self.lifetime(policy)
        await self._publish(policy, ttl, "")

    def _redis(self) -> aioredis.Redis:
        client = self._client
        if client is None:
            client = self._client = aioredis.Redis.from_url(
                self.url, socket_timeout=self.timeout, socket_connect_timeout=self.timeout
            )
            self._scripts = {
                name: client.register_script(text)
                for name, text in (("claim", _CLAIM), ("publish", _PUBLISH), ("renew", _RENEW))
            }
        return client

    async def _run(self, what: str, call: Callable[[aioredis.Redis], Awaitable[T]]) -> T:
        """``call(client)``, a Redis failure raised as :class:`PolicyStoreError`."""
        try:
            return await call(self._redis())
        except (RedisError, OSError) as exc:  # TimeoutError is an OSError
            self._inc("optout/store/unavailable")
            raise self._error(what, exc) from exc

    def _script(self, name: str, keys: list[str], args: list[Any]) -> Callable[[Any], Any]:
        return lambda client: self._scripts[name](keys=keys, args=args)

    def _error(self, what: str, exc: BaseException) -> PolicyStoreError:
        return PolicyStoreError(
            f"OPTOUT_POLICY_STORE: the Redis server at {self.where} did not {what}:"
            f" {type(exc).__name__}: {str(exc).rstrip('.')}"
        )

    # -- loading a snapshot -------------------------------------------------------------

    async def _load(self, origin: str) -> OriginPolicy:
        try:
            policy, ttl = await self._shared(origin)
            # Licences are kept by this process, by URL (RSL documents are not shared).
            policy = await self.with_licences(policy)
        except PolicyStoreError as exc:
            if self.fallback == STOP:
                raise
            self._degrade(exc)
            return await self._local.get(origin)
        if self.degraded is not None:
            self._local.put(policy, ttl)
        elif self.local_ttl > 0:
            self._local.put(policy, min(self.local_ttl, ttl))
        return policy

    async def _shared(self, origin: str) -> tuple[OriginPolicy, float]:
        """The snapshot of *origin* in Redis, or fetched under the lease and written there.

        Returns it with the seconds it has left to live.
        """
        snapshot_key, lease_key = self.key("policy", origin), self.key("lease", origin)
        token = f"{self._token_base}:{secrets.token_hex(4)}"
        lease_ms = int(self.lease * 1000)
        deadline = time.monotonic() + self.wait
        delay = _POLL_FIRST
        waited = False
        while True:
            claim = self._script("claim", [snapshot_key, lease_key], [token, lease_ms])
            answer = await self._run("read a snapshot", claim)
            state = int(answer[0])
            if state == _FOUND:
                left = int(answer[2])
                policy = await self._decode(origin, answer[1])
                if policy is not None:
                    self._inc("optout/store/hit")
                    return policy, left / 1000 if left > 0 else self.local_ttl or self.error_ttl
                self._inc("optout/store/bad_snapshot")
                await self._run("drop a snapshot", lambda c: c.delete(snapshot_key))
                continue
            if state == _LEASED:
                self._inc("optout/store/fetch")
                return await self._fetch_leased(origin, lease_key, token)
            if not waited:
                waited = True
                self._inc("optout/store/wait")
            now = time.monotonic()
            if now >= deadline:
                self._inc("optout/store/wait_timeout")
                logger.warning(
                    "Waited %.1f s for another process to fetch the policy files of %s;"
                    " fetching them here",
                    self.wait,
                    origin,
                )
                policy = await self.fetch(origin)
                ttl = self.lifetime(policy)
                await self._publish(policy, ttl, "")
                return policy, ttl
            lease_left = int(answer[1]) / 1000 if int(answer[1]) > 0 else delay
            await asyncio.sleep(max(0.001, min(delay, lease_left, deadline - now)))
            delay = min(delay * 2, _POLL_MAX)

    async def _fetch_leased(
        self, origin: str, lease_key: str, token: str
    ) -> tuple[OriginPolicy, float]:
        """Fetch *origin*'s files while holding the lease, and write them to Redis."""
        keeper = asyncio.ensure_future(self._keep_lease(lease_key, token))
        try:
            policy = await self.fetch(origin)
        except BaseException:
            # Let the others take over now rather than when the lease runs out.
            self._later(self._let_go(lease_key, token))
            raise
        finally:
            keeper.cancel()
        ttl = self.lifetime(policy)
        try:
            await self._publish(policy, ttl, token)
        except PolicyStoreError as exc:
            if self.fallback == STOP:
                raise
            # The files are here: use them rather than fetching them again.
            self._degrade(exc)
        return policy, ttl

    async def _keep_lease(self, lease_key: str, token: str) -> None:
        """Renew the lease every third of its lifetime while the fetch runs."""
        lease_ms = int(self.lease * 1000)
        while True:
            await asyncio.sleep(self.lease / 3)
            try:
                mine = await self._run(
                    "renew a lease", self._script("renew", [lease_key], [token, lease_ms])
                )
            except PolicyStoreError as exc:
                logger.debug("Could not renew the lease %s: %s", lease_key, exc)
                continue
            if not mine:
                # Expired (a stalled process) and maybe taken: the snapshot is
                # still written when the fetch ends.
                self._inc("optout/store/lease_lost")
                return

    async def _let_go(self, lease_key: str, token: str) -> None:
        try:
            await self._run("let go of a lease", self._script("renew", [lease_key], [token, 0]))
        except PolicyStoreError as exc:
            logger.debug("Could not let go of the lease %s: %s", lease_key, exc)

    def _later(self, coro: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _degrade(self, exc: PolicyStoreError) -> None:
        if self.degraded is None:
            self.degraded = exc
            self._inc("optout/store/fallback")
            logger.error(
                "%s. Going on with a policy store of this process only"
                " (OPTOUT_POLICY_STORE_FALLBACK = %r): its snapshots are no longer"
                " shared with the other processes",
                exc,
                MEMORY,
            )

    # -- the snapshot in Redis ------------------------------------------------------------

    async def _publish(self, policy: OriginPolicy, ttl: float, token: str) -> None:
        files = policy.files
        bodies = {f.sha256: f.body for f in files}
        snapshot = {
            "v": SNAPSHOT_VERSION,
            "origin": policy.origin,
            "files": [f.state() for f in files],
        }
        keys = [self.key("policy", policy.origin), self.key("lease", policy.origin)]
        keys += [self.key("body", digest) for digest in bodies]
        args: list[Any] = [json.dumps(snapshot, separators=(",", ":")), int(ttl * 1000), token]
        args += list(bodies.values())
        await self._run("write a snapshot", self._script("publish", keys, args))

    async def _decode(self, origin: str, data: bytes) -> OriginPolicy | None:
        """The snapshot *data* with its bodies, or ``None`` if it cannot be read whole."""
        try:
            snapshot = json.loads(data)
            states = snapshot["files"]
            if snapshot.get("v") != SNAPSHOT_VERSION or snapshot.get("origin") != origin:
                return None
            digests = [str(state["sha256"]) for state in states]
        except (ValueError, KeyError, TypeError) as exc:
            logger.warning("Unreadable policy snapshot of %s in Redis: %r", origin, exc)
            return None
        keys = [self.key("body", digest) for digest in dict.fromkeys(digests)]
        found = await self._run("read policy bodies", lambda c: c.mget(keys))
        bodies = dict(zip(dict.fromkeys(digests), found, strict=True))
        files: dict[str, PolicyFile] = {}
        try:
            for state, digest in zip(states, digests, strict=True):
                body = bodies.get(digest)
                if not isinstance(body, bytes) or hashlib.sha256(body).hexdigest() != digest:
                    return None  # expired or evicted under memory pressure: fetch again
                files[state["kind"]] = _policy_file(state, body)
            return OriginPolicy(
                origin, files["robots.txt"], files.get("ai.txt"), files.get("tdmrep.json")
            )
        except (ValueError, KeyError, TypeError) as exc:
            logger.warning("Unreadable policy snapshot of %s in Redis: %r", origin, exc)
            return None


def _policy_file(state: dict[str, Any], body: bytes) -> PolicyFile:
    status = state["status"]
    if status is not None and not isinstance(status, int):
        raise TypeError(f"status {status!r}")
    return PolicyFile(
        kind=str(state["kind"]),
        url=str(state["url"]),
        status=status,
        body=body,
        fetched_at=datetime.fromisoformat(state["fetched_at"]),
        error=state.get("error"),
        final_url=state.get("final_url"),
        content_type=state.get("content_type"),
        truncated=bool(state.get("truncated")),
        headers=PolicyFile.kept_headers(state),
    )
