"""Several Scrapy processes, one scrapy-redis queue, one policy store in Redis.

Real crawls, each in its own process, of the example project in
``examples/redis_fleet`` (a scrapy-redis ``RedisSpider`` with its scheduler and
duplicate filter, plus the add-on), against a real Redis server and the
loopback farm. What must hold for the fleet as a whole:

* each origin's policy files are requested once in total, counted at the farm;
* nothing reserved is kept, nothing allowed is lost;
* every exclusion is in exactly one worker's ledger, and its evidence is in
  the shared evidence folder under its sha256;
* a worker killed while it holds an origin's lease stalls the others no
  longer than the lease.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from examples.farm import USER_AGENT, load_manifests

from faultserver import FaultServer, InTurn, Silence, html, text
from helpers import ROOT, SITES, CrawlResult, run_crawl
from redisserver import RedisServer, dead_redis_url, running_redis
from scrapy_optout.stores.ledger import read_ledger
from scrapy_optout.verdict import Purpose

FLEET = ROOT / "examples" / "redis_fleet"
SPIDER = "fleet.spiders.sites:SitesSpider"
START_KEY = "sites:start_urls"
POLICY_PATHS = ("/robots.txt", "/ai.txt", "/.well-known/tdmrep.json")
MANIFESTS = load_manifests(SITES)
CRAWLABLE = sorted(name for name, m in MANIFESTS.items() if m.expect.urls)
WORKERS = 2


@pytest.fixture(scope="module", autouse=True)
def fleet_package() -> Iterator[None]:
    """The example project's package on the path of the crawls in fresh processes."""
    before = os.environ["PYTHONPATH"]
    os.environ["PYTHONPATH"] = os.pathsep.join([str(FLEET), before])
    yield
    os.environ["PYTHONPATH"] = before


def fleet_settings(redis_url: str, out: Path, worker: int, **extra: Any) -> dict[str, Any]:
    """The example project's settings for one worker, writing under *out*."""
    return {
        "SCHEDULER": "scrapy_redis.scheduler.Scheduler",
        "DUPEFILTER_CLASS": "scrapy_redis.dupefilter.RFPDupeFilter",
        "SCHEDULER_PERSIST": True,
        "REDIS_URL": redis_url,
        "MAX_IDLE_TIME_BEFORE_CLOSE": 3,
        "OPTOUT_POLICY_STORE": redis_url,
        "OPTOUT_LEDGER": str(out / "ledgers" / f"worker-{worker}.jsonl"),
        "OPTOUT_EVIDENCE_DIR": str(out / "evidence"),
        "USER_AGENT": USER_AGENT,
        "LOG_LEVEL": "INFO",
        **extra,
    }


def push(server: RedisServer, urls: list[str]) -> None:
    client = server.client()
    client.rpush(START_KEY, *(json.dumps({"url": url}) for url in urls))


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    with running_redis(tmp_path_factory.mktemp("redis")) as running:
        yield running


# -- the farm, crawled by a fleet ---------------------------------------------------------------


class Fleet:
    def __init__(self, out: Path, workers: list[CrawlResult]) -> None:
        self.out = out
        self.workers = workers

    @property
    def items(self) -> set[str]:
        return {item["url"] for w in self.workers for item in w.items}

    @property
    def ledger(self) -> list[dict[str, Any]]:
        return [record for w in self.workers for record in w.ledger]

    def stat(self, key: str) -> int:
        return sum(int(w.stats.get(key, 0)) for w in self.workers)


def _expectations(farm: Any) -> Iterator[tuple[str, str, bool]]:
    for name in CRAWLABLE:
        for path, expected in MANIFESTS[name].expect.urls.items():
            verdict = expected.reserved(Purpose.TRAIN)
            if path != "/" and verdict is not None:
                yield name, farm.url(name, path), verdict


@pytest.fixture(scope="module")
def fleet(farm: Any, redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory) -> Fleet:
    redis_server.client().flushdb()
    farm.reset()
    out = tmp_path_factory.mktemp("fleet")
    # Every expected page is a start URL (a reserved front page hides its links).
    starts = [farm.url(n, p) for n in CRAWLABLE for p in sorted(MANIFESTS[n].expect.urls)]
    push(redis_server, starts)

    def worker(number: int) -> CrawlResult:
        # The registry scenarios' verdicts assume the farm registry is loaded.
        registries = [str(path) for path in farm.registries()]
        settings = fleet_settings(redis_server.url, out, number, OPTOUT_REGISTRY=registries)
        return run_crawl(out / f"worker-{number}", [], settings, spider=SPIDER, timeout=300)

    with ThreadPoolExecutor(WORKERS) as pool:
        workers = list(pool.map(worker, range(WORKERS)))
    return Fleet(out, workers)


def test_every_worker_took_part(fleet: Fleet) -> None:
    for worker in fleet.workers:
        assert worker.stats.get("optout/requests_checked", 0) > 0, worker.log[-3000:]
    assert fleet.stat("scheduler/dequeued/redis") > 0


def test_policy_files_requested_once_in_total(farm: Any, fleet: Fleet) -> None:
    touched = {r["origin"] for r in fleet.ledger} | {u.rsplit("/", 1)[0] for u in fleet.items}
    assert touched
    for name in CRAWLABLE:
        if MANIFESTS[name].responses.get("/robots.txt") is not None:
            continue  # redirected or failing robots.txt: counted by the fetches below
        for path in POLICY_PATHS:
            assert farm.hits(name, path) == 1, (name, path, farm.hits(name, path))
    # One fetch per origin for the whole fleet, failing robots.txt included.
    origins = {farm.origin(name) for name in CRAWLABLE}
    fetched = fleet.stat("optout/store/fetch")
    assert fetched == len(origins)
    assert fleet.stat("optout/store/wait_timeout") == 0
    # The other workers read the snapshots from Redis instead.
    assert fleet.stat("optout/store/hit") > 0


def test_nothing_reserved_kept(farm: Any, fleet: Fleet) -> None:
    leaked = [url for _, url, reserved in _expectations(farm) if reserved and url in fleet.items]
    assert leaked == []


def test_nothing_allowed_lost(farm: Any, fleet: Fleet) -> None:
    dropped = {r["item_source"] for r in fleet.ledger if r["stage"] == "item"}
    missing = [
        url
        for _, url, reserved in _expectations(farm)
        if not reserved and url not in fleet.items and url not in dropped
    ]
    assert missing == []


def test_every_exclusion_in_exactly_one_ledger(farm: Any, fleet: Fleet) -> None:
    ledgers = sorted((fleet.out / "ledgers").glob("*.jsonl"))
    assert len(ledgers) == WORKERS
    counts = Counter(
        (r["stage"], r["url"], r.get("item_source"))
        for path in ledgers
        for r in read_ledger(path)
        if r["verdict"] == "reserved"
    )
    assert counts and max(counts.values()) == 1
    reserved_urls = {url for _, url, _ in counts}
    expected = {url for _, url, reserved in _expectations(farm) if reserved}
    assert expected <= reserved_urls
    assert fleet.stat("optout/excluded_count") == sum(counts.values())


def test_evidence_of_the_combined_ledger_resolves(fleet: Fleet) -> None:
    evidence = fleet.out / "evidence"
    checked = 0
    for record in fleet.ledger:
        for item in record["evidence"]:
            body = (evidence / item["sha256"]).read_bytes()
            assert hashlib.sha256(body).hexdigest() == item["sha256"]
            checked += 1
    assert checked
    # One evidence folder for the fleet, each body once.
    names = [p.name for p in evidence.iterdir()]
    assert len(names) == len(set(names))


def test_workers_saw_one_snapshot_per_origin(fleet: Fleet) -> None:
    # Every record of an origin names the same policy files, fetched at the same
    # moment, whichever worker wrote it. (RSL licences and registries are kept by
    # each process, not in the shared store.)
    shared = ("/robots.txt", "/ai.txt", "/.well-known/tdmrep.json")
    seen: dict[str, set[tuple[tuple[str, str, str], ...]]] = {}
    for record in fleet.ledger:
        if record["stage"] == "item":
            continue  # an item names the evidence of the origins of its URLs
        evidence = [e for e in record["evidence"] if e["source"].endswith(shared)]
        files = tuple(sorted((e["source"], e["sha256"], e["fetched_at"]) for e in evidence))
        seen.setdefault(record["origin"], set()).add(files)
    assert seen
    assert all(len(snapshots) == 1 for snapshots in seen.values()), seen


# -- a worker killed while it fetches ------------------------------------------------------------


class Stamped:
    """Answers with *fault*, noting when each request came."""

    def __init__(self, fault: Any) -> None:
        self.fault = fault
        self.times: list[float] = []
        self._lock = threading.Lock()

    def serve(self, conn: Any) -> None:
        with self._lock:
            self.times.append(time.monotonic())
        self.fault.serve(conn)


def _spawn(out: Path, settings: dict[str, Any]) -> subprocess.Popen[str]:
    out.mkdir(parents=True, exist_ok=True)
    config = out / "config.json"
    config.write_text(
        json.dumps({"start_urls": [], "out": str(out), "settings": settings, "spider": SPIDER})
    )
    return subprocess.Popen(
        [sys.executable, str(ROOT / "tests" / "run_crawl.py"), str(config)],
        cwd=out,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
        stdout=subprocess.DEVNULL,
        stderr=(out / "stderr.txt").open("w"),
        text=True,
    )


def _wait_for(check: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_killed_lease_holder_stalls_the_others_no_longer_than_its_lease(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    lease = 2.0
    robots = Stamped(InTurn(Silence(), text("User-agent: *\nDisallow: /private/\n")))
    site = FaultServer(name="slow-robots")
    site.route("/robots.txt", robots)
    for page in ("/a.html", "/b.html", "/private/c.html"):
        site.route(page, html(title=page))
    client = redis_server.client()
    client.flushdb()
    extra = {"OPTOUT_POLICY_STORE_LEASE": lease, "OPTOUT_POLICY_TIMEOUT": 600}
    second: subprocess.Popen[str] | None = None
    with site:
        first = _spawn(tmp_path / "a", fleet_settings(redis_server.url, tmp_path, 0, **extra))
        push(redis_server, [site.url("/a.html")])
        try:
            holder = _wait_for(
                lambda: client.get(f"optout:lease:{site.origin}"), 60, "the first worker's lease"
            )
            assert holder.split(b":")[1] == str(first.pid).encode()
            second = _spawn(tmp_path / "b", fleet_settings(redis_server.url, tmp_path, 1, **extra))
            push(redis_server, [site.url("/b.html"), site.url("/private/c.html")])
            # The second worker has taken the URLs and waits for the origin's files.
            _wait_for(lambda: client.llen(START_KEY) == 0, 60, "the second worker to start")
            time.sleep(1.0)
            assert len(robots.times) == 1
            first.send_signal(signal.SIGKILL)
            killed = time.monotonic()
            assert second.wait(120) == 0, (tmp_path / "b" / "stderr.txt").read_text()[-3000:]
        finally:
            for proc in (first, second):
                if proc is not None and proc.poll() is None:
                    proc.kill()
                    proc.wait()
    # The second worker fetched robots.txt itself once the dead lease ran out.
    assert len(robots.times) == 2
    assert robots.times[1] - killed <= lease + 1.0
    stats = json.loads((tmp_path / "b" / "stats.json").read_text())
    assert stats["optout/store/wait"] >= 1 and stats["optout/store/fetch"] == 1
    items = [json.loads(line) for line in (tmp_path / "b" / "items.jsonl").read_text().splitlines()]
    assert site.url("/b.html") in {item["url"] for item in items}
    ledger = list(read_ledger(tmp_path / "ledgers" / "worker-1.jsonl"))
    assert [r["url"] for r in ledger] == [site.url("/private/c.html")]


# -- the documented commands ------------------------------------------------------------------


def test_example_project_runs_with_scrapy_crawl(
    farm: Any, redis_server: RedisServer, tmp_path: Path
) -> None:
    """``scrapy crawl sites`` in examples/redis_fleet, two workers, as its README says."""
    client = redis_server.client()
    client.flushdb()
    farm.reset("robots-ai-partial")
    push(redis_server, [farm.url("robots-ai-partial", "/")])
    env = {
        **os.environ,
        "FLEET_REDIS_URL": redis_server.url,
        "FLEET_OUTPUT": str(tmp_path),
        "FLEET_MAX_IDLE": "3",
        "FLEET_USER_AGENT": USER_AGENT,
        "PYTHONWARNINGS": "ignore",
    }
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "scrapy", "crawl", "sites", "-o", str(tmp_path / f"{n}.jsonl")],
            cwd=FLEET,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(2)
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=180)
        assert proc.returncode == 0, err[-3000:]
        assert "Policy snapshots shared through Redis at redis://127.0.0.1:" in err
    ledgers = sorted((tmp_path / "ledgers").glob("*.jsonl"))
    assert len(ledgers) == 2  # one per process, named by host and pid
    records = [r for path in ledgers for r in read_ledger(path)]
    news = farm.url("robots-ai-partial", "/news/")
    assert records and all(r["url"].startswith(news) for r in records)
    assert len({r["url"] for r in records}) == len(records)
    items = [
        json.loads(line)
        for n in range(2)
        for line in (tmp_path / f"{n}.jsonl").read_text().splitlines()
    ]
    assert items and not any(item["url"].startswith(news) for item in items)
    for path in POLICY_PATHS:
        assert farm.hits("robots-ai-partial", path) == 1


# -- Redis down: fail closed ------------------------------------------------------------------


def test_crawl_does_not_start_without_its_store(farm: Any, tmp_path: Path) -> None:
    farm.reset("open")
    url = dead_redis_url(tmp_path / "gone")
    settings = {"OPTOUT_POLICY_STORE": url, "OPTOUT_POLICY_STORE_TIMEOUT": 1}
    result = run_crawl(tmp_path / "out", [farm.url("open", "/")], settings, expect_failure=True)
    assert "OPTOUT_POLICY_STORE: the Redis server at redis://127.0.0.1:" in result.log
    assert "did not answer a PING" in result.log
    assert result.items == []
    assert farm.hits("open") == 0


def test_crawl_falls_back_to_memory_when_asked(farm: Any, tmp_path: Path) -> None:
    farm.reset("robots-ai-partial")
    settings = {
        "OPTOUT_POLICY_STORE": dead_redis_url(tmp_path / "gone"),
        "OPTOUT_POLICY_STORE_TIMEOUT": 1,
        "OPTOUT_POLICY_STORE_FALLBACK": "memory",
    }
    result = run_crawl(tmp_path / "out", [farm.url("robots-ai-partial", "/")], settings)
    assert "Going on with a policy store of this process only" in result.log
    assert result.stats["optout/store/fallback"] == 1
    news = farm.url("robots-ai-partial", "/news/")
    assert result.items and not any(url.startswith(news) for url in result.item_urls)
    assert result.reserved() and all(url.startswith(news) for url in result.reserved())


def test_redis_lost_mid_crawl_stops_it_and_lets_nothing_through(tmp_path: Path) -> None:
    other = FaultServer(name="images")
    other.route("/robots.txt", text("User-agent: *\nAllow: /\n"))
    other.route("/img.png", text(b"\x89PNG\r\n\x1a\n", content_type="image/png"))
    site = FaultServer(name="slow-page")
    page = html(title="gallery")
    page.body = page.body.replace(b"<body>", f'<body><img src="{other.url("/img.png")}">'.encode())
    site.route("/", _Delayed(page, 2.0))
    with running_redis(tmp_path / "redis") as server, site, other:
        settings = {"OPTOUT_POLICY_STORE": server.url, "OPTOUT_POLICY_STORE_TIMEOUT": 1}
        done: list[CrawlResult] = []
        crawl = threading.Thread(
            target=lambda: done.append(
                run_crawl(tmp_path / "out", [site.url("/")], settings, expect_failure=True)
            )
        )
        crawl.start()
        client = server.client()
        _wait_for(lambda: client.exists(f"optout:policy:{site.origin}"), 60, "the first snapshot")
        server.stop()  # while the page is on its way
        crawl.join(120)
    (result,) = done
    # The item names an image of an origin the store was never asked about: it is
    # not kept undecided, the crawl stops and says why.
    assert result.items == []
    assert other.hits("/robots.txt") == 0
    assert result.stats["finish_reason"] == "optout_store_unavailable"
    assert result.stats["optout/store_failed"] == 1
    assert "Closing the spider (OPTOUT_POLICY_STORE_FALLBACK" in result.log


class _Delayed:
    """Answers with *fault* after *delay* seconds."""

    def __init__(self, fault: Any, delay: float) -> None:
        self.fault = fault
        self.delay = delay

    def serve(self, conn: Any) -> None:
        if not conn.wait(self.delay):
            self.fault.serve(conn)
