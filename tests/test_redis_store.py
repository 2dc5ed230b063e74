"""The Redis policy store against a real Redis server on loopback.

Each test drives one or more :class:`RedisPolicyStore` instances (each its
own connection, as separate processes would have) in an event loop, with a
fetch function that counts its calls and answers like a server would.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from scrapy.settings import Settings

from redisserver import RedisServer, dead_redis_url, running_redis
from scrapy_optout import ConfigurationError, PolicyStoreError
from scrapy_optout.policy.snapshot import OriginPolicy, PolicyFile
from scrapy_optout.scrapy.settings import OptOutSettings
from scrapy_optout.stores.redis import MEMORY, RedisPolicyStore
from scrapy_optout.verdict import Purpose

ORIGIN = "http://a.example:80"
OTHER = "http://b.example:80"
ROBOTS = b"User-agent: *\nDisallow: /private/\n"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    with running_redis(tmp_path_factory.mktemp("redis")) as running:
        yield running


@pytest.fixture
def url(server: RedisServer) -> str:
    server.client().flushdb()
    return server.url


class Fetcher:
    """A fetch function: counts calls by origin, answers after *delay* seconds."""

    def __init__(self, robots: bytes = ROBOTS, status: int = 200, delay: float = 0.0) -> None:
        self.robots = robots
        self.status = status
        self.delay = delay
        self.calls: Counter[str] = Counter()

    async def __call__(self, origin: str) -> OriginPolicy:
        self.calls[origin] += 1
        await asyncio.sleep(self.delay)
        return OriginPolicy(
            origin,
            PolicyFile("robots.txt", origin + "/robots.txt", self.status, self.robots),
            PolicyFile(
                "ai.txt",
                origin + "/ai.txt",
                200,
                b"<html><body>not found</body></html>",
                content_type="text/html",
            ),
            PolicyFile("tdmrep.json", origin + "/.well-known/tdmrep.json", 404, b""),
        )


class Stats(Counter[str]):
    """The store's stats callback, counting by key."""

    def __call__(self, key: str) -> None:
        self[key] += 1


def store(url: str, fetch: Callable[[str], Awaitable[OriginPolicy]], **kwargs: Any) -> Any:
    """A store on *url*; its stats are in its ``stats`` attribute."""
    stats = Stats()
    kwargs.setdefault("lease", 1.0)
    instance = RedisPolicyStore(fetch, url, stats=stats, **kwargs)
    instance.stats = stats
    return instance


def run(coro: Awaitable[Any]) -> Any:
    async def main() -> Any:
        return await coro

    return asyncio.run(main())


async def closing(*stores: RedisPolicyStore) -> None:
    for instance in stores:
        await instance.aclose()


# -- one snapshot for every process -------------------------------------------------------


def test_single_flight_across_two_stores(url: str) -> None:
    fetch = Fetcher(delay=0.3)

    async def main() -> tuple[OriginPolicy, ...]:
        a, b = store(url, fetch), store(url, fetch)
        try:
            return tuple(await asyncio.gather(a.get(ORIGIN), b.get(ORIGIN), b.get(ORIGIN)))
        finally:
            await closing(a, b)

    first, second, third = run(main())
    assert fetch.calls[ORIGIN] == 1
    assert first.evidence() == second.evidence() == third.evidence()
    assert second.robots is not None
    assert not second.robots.allowed(ORIGIN + "/private/x", "optout-test")


def test_snapshot_read_back_is_the_one_written(url: str) -> None:
    fetch = Fetcher()

    async def main() -> tuple[OriginPolicy, OriginPolicy, Any, Any]:
        a, b = store(url, fetch), store(url, fetch)
        try:
            written = await a.get(ORIGIN)
            read = await b.get(ORIGIN)
            return written, read, a.stats, b.stats
        finally:
            await closing(a, b)

    written, read, a_stats, b_stats = run(main())
    assert read is not written
    assert read.evidence() == written.evidence()
    # Derived again from the body: the ai.txt that is an HTML page says why.
    assert read.aitxt_file is not None and read.aitxt_file.problem
    assert read.aitxt_file.problem == written.aitxt_file.problem  # type: ignore[union-attr]
    assert read.tdmrep_file is not None and read.tdmrep_file.status == 404
    assert a_stats["optout/store/fetch"] == 1
    assert b_stats["optout/store/hit"] == 1 and b_stats["optout/store/fetch"] == 0


def test_redis_layout_bodies_once_by_sha256(url: str, server: RedisServer) -> None:
    fetch = Fetcher()

    async def main() -> None:
        a = store(url, fetch, ttl=300)
        try:
            await a.get(ORIGIN)
            await a.get(OTHER)
        finally:
            await a.aclose()

    run(main())
    client = server.client()
    keys = sorted(k.decode() for k in client.keys("*"))
    bodies = [k for k in keys if k.startswith("optout:body:")]
    # Both origins serve the same three bodies: stored once each.
    assert len(bodies) == 3
    assert set(keys) - set(bodies) == {f"optout:policy:{ORIGIN}", f"optout:policy:{OTHER}"}
    snapshot = json.loads(client.get(f"optout:policy:{ORIGIN}"))
    robots = snapshot["files"][0]
    assert robots["kind"] == "robots.txt" and robots["status"] == 200
    assert robots["sha256"] == hashlib.sha256(ROBOTS).hexdigest()
    assert client.get(f"optout:body:{robots['sha256']}") == ROBOTS
    assert set(robots) == {
        "kind",
        "url",
        "status",
        "sha256",
        "fetched_at",
        "error",
        "final_url",
        "content_type",
        "truncated",
    }
    for key in keys:
        assert 0 < client.pttl(key) <= 300_000


def test_local_copy_saves_the_round_trip_and_is_bounded(url: str) -> None:
    fetch = Fetcher()

    async def main(local_ttl: float) -> Any:
        a = store(url, fetch, local_ttl=local_ttl)
        b = store(url, fetch, local_ttl=local_ttl)
        try:
            await a.get(ORIGIN)
            for _ in range(5):
                await b.get(ORIGIN)
            return b.stats
        finally:
            await closing(a, b)

    with_local = run(main(60))
    assert with_local["optout/store/hit"] == 1 and with_local["optout/cache/hit"] == 4
    without = run(main(0))
    assert without["optout/store/hit"] == 5 and without["optout/cache/hit"] == 0
    assert fetch.calls[ORIGIN] == 1


# -- expiry -----------------------------------------------------------------------------------


def test_expiry_refetches_once_for_all(url: str) -> None:
    fetch = Fetcher()

    async def main() -> None:
        a, b = store(url, fetch, ttl=1, error_ttl=1), store(url, fetch, ttl=1, error_ttl=1)
        try:
            await a.get(ORIGIN)
            await b.get(ORIGIN)
            assert fetch.calls[ORIGIN] == 1
            await asyncio.sleep(1.1)
            # Expired in Redis and in each process: the first to need it fetches.
            await asyncio.gather(a.get(ORIGIN), b.get(ORIGIN))
        finally:
            await closing(a, b)

    run(main())
    assert fetch.calls[ORIGIN] == 2


def test_error_ttl_after_a_failed_robots_txt(url: str, server: RedisServer) -> None:
    failing = Fetcher(status=503)

    async def main() -> None:
        a = store(url, failing, ttl=3600, error_ttl=1)
        try:
            policy = await a.get(ORIGIN)
            assert policy.robots is None  # unreachable: everything disallowed
            assert 0 < server.client().pttl(f"optout:policy:{ORIGIN}") <= 1000
            await asyncio.sleep(1.1)
            await a.get(ORIGIN)
        finally:
            await a.aclose()

    run(main())
    assert failing.calls[ORIGIN] == 2


def test_answered_robots_txt_kept_for_the_ttl(url: str, server: RedisServer) -> None:
    async def main() -> None:
        a = store(url, Fetcher(status=404), ttl=3600, error_ttl=1)
        try:
            await a.get(ORIGIN)
        finally:
            await a.aclose()

    run(main())
    assert 3_590_000 < server.client().pttl(f"optout:policy:{ORIGIN}") <= 3_600_000


def test_missing_body_means_fetch_again(url: str, server: RedisServer) -> None:
    fetch = Fetcher()

    async def main() -> Any:
        a = store(url, fetch, local_ttl=0)
        try:
            await a.get(ORIGIN)
            server.client().delete(f"optout:body:{hashlib.sha256(ROBOTS).hexdigest()}")
            policy = await a.get(ORIGIN)
            return policy, a.stats
        finally:
            await a.aclose()

    policy, stats = run(main())
    assert fetch.calls[ORIGIN] == 2
    assert stats["optout/store/bad_snapshot"] == 1
    assert policy.robots_file.body == ROBOTS


def timed_get(url: str, fetch: Fetcher, **kwargs: Any) -> tuple[float, Stats]:
    """Seconds one ``get(ORIGIN)`` of a new store took, and the store's stats."""

    async def main() -> tuple[float, Stats]:
        a = store(url, fetch, **kwargs)
        started = time.monotonic()
        try:
            await a.get(ORIGIN)
            return time.monotonic() - started, a.stats
        finally:
            await a.aclose()

    result: tuple[float, Stats] = run(main())
    return result


# -- leases -------------------------------------------------------------------------------------


def test_lease_of_a_dead_fetcher_expires(url: str, server: RedisServer) -> None:
    # A process took the lease and died: nobody renews it.
    server.client().set(f"optout:lease:{ORIGIN}", b"gone:1:dead", px=700)
    fetch = Fetcher()
    took, stats = timed_get(url, fetch, wait=30)
    assert fetch.calls[ORIGIN] == 1
    assert 0.5 < took < 1.5
    assert stats["optout/store/wait"] == 1 and stats["optout/store/fetch"] == 1


def test_live_fetcher_renews_its_lease(url: str, server: RedisServer) -> None:
    # A fetch that takes three lease lifetimes: the others keep waiting for it.
    slow = Fetcher(delay=1.5)

    async def main() -> None:
        a, b = store(url, slow, lease=0.5), store(url, slow, lease=0.5)
        try:
            first = asyncio.ensure_future(a.get(ORIGIN))
            await asyncio.sleep(0.1)
            lease = server.client().get(f"optout:lease:{ORIGIN}")
            # host:pid:random, so that an operator can tell who holds it.
            assert lease is not None and lease.split(b":")[1] == str(os.getpid()).encode()
            await b.get(ORIGIN)
            await first
            assert b.stats["optout/store/wait"] == 1
            assert server.client().get(f"optout:lease:{ORIGIN}") is None
        finally:
            await closing(a, b)

    run(main())
    assert slow.calls[ORIGIN] == 1


def test_bounded_wait_then_fetch_here(url: str, server: RedisServer) -> None:
    # A holder that is alive (its lease stays) but never finishes.
    server.client().set(f"optout:lease:{ORIGIN}", b"stuck:1:x", px=60_000)
    fetch = Fetcher()
    took, stats = timed_get(url, fetch, wait=0.4)
    assert 0.4 <= took < 1.5
    assert fetch.calls[ORIGIN] == 1
    assert stats["optout/store/wait_timeout"] == 1
    # What it fetched is shared all the same.
    assert server.client().exists(f"optout:policy:{ORIGIN}")


def test_failed_fetch_lets_go_of_the_lease(url: str, server: RedisServer) -> None:
    async def broken(origin: str) -> OriginPolicy:
        raise RuntimeError("the engine is closing")

    async def main() -> None:
        a = store(url, broken, lease=30)
        try:
            with pytest.raises(RuntimeError):
                await a.get(ORIGIN)
            await asyncio.sleep(0.05)
        finally:
            await a.aclose()

    run(main())
    assert server.client().get(f"optout:lease:{ORIGIN}") is None


# -- Redis down ---------------------------------------------------------------------------------


def test_redis_down_fails_closed(tmp_path: Path) -> None:
    url = dead_redis_url(tmp_path / "gone")
    fetch = Fetcher()
    a = store(url, fetch, timeout=1)
    with pytest.raises(PolicyStoreError, match=r"Redis server at redis://127\.0\.0\.1:\d+/0"):
        a.ping()

    async def main() -> None:
        try:
            with pytest.raises(PolicyStoreError, match="did not read a snapshot"):
                await a.get(ORIGIN)
            # Still no answer, and still not one from anywhere else.
            with pytest.raises(PolicyStoreError):
                await a.get(ORIGIN)
        finally:
            await a.aclose()

    run(main())
    assert fetch.calls[ORIGIN] == 0
    assert len(a) == 0


def test_redis_down_falls_back_to_memory_when_asked(tmp_path: Path) -> None:
    url = dead_redis_url(tmp_path / "gone")
    fetch = Fetcher()
    a = store(url, fetch, timeout=1, fallback=MEMORY)

    async def main() -> tuple[OriginPolicy, OriginPolicy]:
        try:
            return await a.get(ORIGIN), await a.get(ORIGIN)
        finally:
            await a.aclose()

    first, second = run(main())
    assert first is second
    assert fetch.calls[ORIGIN] == 1
    assert a.degraded is not None
    assert a.stats["optout/store/fallback"] == 1


def test_redis_lost_mid_crawl(tmp_path: Path) -> None:
    fetch = Fetcher()

    async def main(server: RedisServer, fallback: str) -> Any:
        a = store(server.url, fetch, timeout=1, fallback=fallback)
        try:
            await a.get(ORIGIN)
            server.stop()
            try:
                return await a.get(OTHER)
            except PolicyStoreError as exc:
                return exc
        finally:
            await a.aclose()

    with running_redis(tmp_path / "stop") as server:
        assert isinstance(run(main(server, "stop")), PolicyStoreError)
    with running_redis(tmp_path / "memory") as server:
        policy = run(main(server, MEMORY))
    assert isinstance(policy, OriginPolicy) and policy.origin == OTHER
    assert fetch.calls[OTHER] == 1


# -- the evaluation is the same -------------------------------------------------------------


def test_shared_snapshot_gives_the_same_verdicts(url: str) -> None:
    from scrapy_optout.policy.evaluate import Evaluator

    fetch = Fetcher()
    evaluator = Evaluator("optout-test/1.0")

    async def main() -> tuple[OriginPolicy, OriginPolicy]:
        a, b = store(url, fetch), store(url, fetch)
        try:
            return await a.get(ORIGIN), await b.get(ORIGIN)
        finally:
            await closing(a, b)

    fetched, shared = run(main())
    for path in ("/", "/private/a.html"):
        left = evaluator.origin_stage(fetched, ORIGIN + path).verdict(Purpose.TRAIN)
        right = evaluator.origin_stage(shared, ORIGIN + path).verdict(Purpose.TRAIN)
        assert left.label == right.label
        assert [f.reason() for f in left.reasons] == [f.reason() for f in right.reasons]


# -- settings -----------------------------------------------------------------------------------


def read(**values: Any) -> OptOutSettings:
    return OptOutSettings.from_settings(Settings(values))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("memory", "memory"),
        ("Memory", "memory"),
        ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
        (
            "rediss://user:secret@redis.internal:6380/2",
            "rediss://user:secret@redis.internal:6380/2",
        ),
        ("redis://valkey", "redis://valkey"),
        ("unix:///run/redis/redis.sock", "unix:///run/redis/redis.sock"),
    ],
)
def test_policy_store_setting(value: str, expected: str) -> None:
    settings = read(OPTOUT_POLICY_STORE=value)
    assert settings.policy_store == expected
    assert settings.shared_store is (expected != "memory")


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("OPTOUT_POLICY_STORE", "redis://"),
        ("OPTOUT_POLICY_STORE", "http://127.0.0.1:6379"),
        ("OPTOUT_POLICY_STORE", "redis://host/db0"),
        ("OPTOUT_POLICY_STORE", "disk"),
        ("OPTOUT_POLICY_STORE", 6379),
        ("OPTOUT_POLICY_STORE", ""),
        ("OPTOUT_POLICY_STORE_FALLBACK", "allow"),
        ("OPTOUT_POLICY_STORE_FALLBACK", True),
        ("OPTOUT_POLICY_STORE_LEASE", 0),
        ("OPTOUT_POLICY_STORE_LEASE", "soon"),
        ("OPTOUT_POLICY_STORE_LOCAL_TTL", -1),
        ("OPTOUT_POLICY_STORE_WAIT", -1),
        ("OPTOUT_POLICY_STORE_WAIT", float("inf")),
        ("OPTOUT_POLICY_STORE_TIMEOUT", 0),
        ("OPTOUT_POLICY_STORE_PREFIX", ""),
    ],
)
def test_bad_store_settings_are_refused(name: str, value: Any) -> None:
    with pytest.raises(ConfigurationError, match=name):
        read(**{name: value})


def test_password_is_not_repeated_in_errors() -> None:
    with pytest.raises(ConfigurationError) as caught:
        read(OPTOUT_POLICY_STORE="redis://user:hunter2@/x/y")
    assert "hunter2" not in str(caught.value)


def test_store_setting_defaults() -> None:
    settings = read(OPTOUT_POLICY_TIMEOUT=20, OPTOUT_POLICY_RETRY_TIMES=2)
    assert settings.policy_store == "memory" and not settings.shared_store
    assert settings.policy_store_fallback == "stop"
    assert settings.policy_store_prefix == "optout"
    assert settings.policy_store_local_ttl == 60
    assert settings.policy_store_lease == 10
    # Unset: as long as a policy fetch may take, retries included.
    assert settings.policy_store_wait == 60
    assert read(OPTOUT_POLICY_STORE_WAIT="2.5").policy_store_wait == 2.5
    # The local copy never outlives the snapshot itself.
    assert read(OPTOUT_CACHE_TTL=30, OPTOUT_ERROR_TTL=30).policy_store_local_ttl == 30
