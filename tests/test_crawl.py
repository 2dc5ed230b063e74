"""Real Scrapy crawls of the fixture farm with the add-on."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from benchmarks.common import Farm
from examples.farm import load_manifests

from helpers import SITES, run_crawl
from scrapy_optout.verdict import Purpose

MANIFESTS = load_manifests(SITES)
CRAWLABLE = sorted(name for name, m in MANIFESTS.items() if m.expect.urls)


def _start_urls(farm, names=CRAWLABLE):
    # Every expected page is a start URL: a reserved front page hides its links.
    return [farm.url(n, p) for n in names for p in sorted(MANIFESTS[n].expect.urls)]


def _expectations(farm, purpose):
    for name in CRAWLABLE:
        for path, expected in MANIFESTS[name].expect.urls.items():
            if path == "/":
                continue  # the crawl reaches the same page as /index.html
            verdict = expected.reserved(purpose)
            if verdict is not None:
                yield name, farm.url(name, path), verdict, expected


@pytest.fixture(scope="module")
def train_crawl(farm, tmp_path_factory):
    farm.reset()
    out = tmp_path_factory.mktemp("train")
    # The registry scenarios' verdicts assume the farm registry is loaded.
    registries = [str(path) for path in farm.registries()]
    return run_crawl(out, _start_urls(farm), {"OPTOUT_REGISTRY": registries})


def test_no_reserved_url_in_items(farm, train_crawl):
    leaked = [
        (name, url)
        for name, url, reserved, _ in _expectations(farm, Purpose.TRAIN)
        if reserved and url in train_crawl.item_urls
    ]
    assert leaked == []


def test_every_allowed_url_present(farm, train_crawl):
    # An allowed page whose item lists a reserved image is dropped at the item
    # stage, with a ledger line naming the page as the item's source.
    dropped = {r["item_source"] for r in train_crawl.ledger if r["stage"] == "item"}
    missing = [
        (name, url)
        for name, url, reserved, _ in _expectations(farm, Purpose.TRAIN)
        if not reserved and url not in train_crawl.item_urls and url not in dropped
    ]
    assert missing == []


def test_item_stage_drops_pages_showing_reserved_images(farm, train_crawl):
    items = [r for r in train_crawl.ledger if r["stage"] == "item"]
    assert items
    gallery = farm.url("aitxt", "/gallery.html")
    record = next(r for r in items if r["item_source"] == gallery)
    assert record["url"] == farm.url("aitxt", "/img/photo.jpg")
    assert record["reasons"][0]["signal"] == "ai.txt"
    assert gallery not in train_crawl.item_urls


def test_every_reserved_url_in_ledger_with_signal(farm, train_crawl):
    reserved = train_crawl.reserved()
    problems = []
    for name, url, is_reserved, expected in _expectations(farm, Purpose.TRAIN):
        if not is_reserved:
            continue
        record = reserved.get(url)
        if record is None:
            problems.append((name, url, "not in ledger"))
        elif expected.signal and str(expected.signal) not in {
            r["signal"] for r in record["reasons"]
        }:
            problems.append((name, url, record["reasons"]))
    assert problems == []


def test_one_ledger_line_per_exclusion(train_crawl):
    urls = [r["url"] for r in train_crawl.ledger if r["stage"] != "item"]
    assert len(urls) == len(set(urls))
    assert train_crawl.stats["optout/excluded_count"] == len(
        [r for r in train_crawl.ledger if r["verdict"] == "reserved"]
    )


def test_ledger_records_are_complete(train_crawl):
    assert train_crawl.ledger
    for record in train_crawl.ledger:
        assert record["v"] == 1
        assert record["time"].endswith("Z")
        assert record["origin"].startswith("http://127.0.0.")  # 127.0.0.2: a host of its own
        assert record["domain"] == "127.0.0.1" or record["domain"]
        assert record["stage"] in {"origin", "headers", "body", "item"}
        assert record["purpose"] == "train"
        assert record["verdict"] == "reserved"
        assert record["spider"] == "sites"
        assert record["reasons"]
        for reason in record["reasons"]:
            assert set(reason) == {"signal", "where", "rule", "source"}
        for evidence in record["evidence"]:
            assert {"source", "status", "sha256", "fetched_at"} <= set(evidence)


def test_evidence_stored_by_hash(farm, train_crawl):
    evidence_dir = train_crawl.out / "optout-ledger.evidence"
    record = next(
        r for r in train_crawl.ledger if r["url"].startswith(farm.origin("robots-ai-groups"))
    )
    robots = next(e for e in record["evidence"] if e["source"].endswith("/robots.txt"))
    served = (SITES / "robots-ai-groups" / "robots.txt").read_bytes()
    assert robots["sha256"] == hashlib.sha256(served).hexdigest()
    assert (evidence_dir / robots["sha256"]).read_bytes() == served


def test_policy_files_fetched_once_per_origin(farm, train_crawl):
    for name in CRAWLABLE:
        if MANIFESTS[name].responses.get("/robots.txt") is not None:
            continue  # redirecting or failing robots.txt scenarios count differently
        for path in ("/robots.txt", "/ai.txt", "/.well-known/tdmrep.json"):
            assert farm.hits(name, path) == 1, (name, path, farm.hits(name, path))


def test_an_origins_policy_files_share_one_connection(tmp_path):
    # robots.txt, ai.txt and tdmrep.json one after another on the connection
    # robots.txt opened, and the page after them on it too: one connection per
    # origin, where fetching the files at once opened three.
    with Farm(3, 1) as bench_farm:
        before = bench_farm.counters()
        result = run_crawl(tmp_path, [origin + "/" for origin in bench_farm.origins])
        after = bench_farm.counters()
    assert len(result.items) == 3
    assert after["policy_requests"] - before["policy_requests"] == 9
    # (the second counters request is one connection more)
    assert after["connections"] - before["connections"] - 1 == 3


def test_reserved_images_not_in_files_store(farm, train_crawl):
    # The Files pipeline names each stored file by the SHA-1 of its URL.
    stored = {p.stem for p in (train_crawl.out / "files").rglob("*") if p.is_file()}
    assert stored, "the Files pipeline stored nothing at all"
    checked = 0
    for name in CRAWLABLE:
        for path, expected in MANIFESTS[name].expect.images.items():
            if "{origin:" in path:
                continue
            url = farm.url(name, path)
            if expected.reserved(Purpose.TRAIN):
                assert hashlib.sha1(url.encode()).hexdigest() not in stored, url
                checked += 1
    assert checked


def test_stats_by_signal_and_stage(train_crawl):
    stats = train_crawl.stats
    assert stats["optout/excluded_count"] > 0
    by_signal = sum(v for k, v in stats.items() if k.startswith("optout/excluded/"))
    assert by_signal >= stats["optout/excluded_count"]
    for stage in ("origin", "headers", "body"):
        assert stats.get(f"optout/excluded_stage/{stage}", 0) > 0, stage


def test_measure_mode_drops_nothing_records_everything(farm, tmp_path):
    names = ["robots-ai-groups", "tdmrep-header", "noai-meta", "open"]
    result = run_crawl(tmp_path, _start_urls(farm, names), {"OPTOUT_MODE": "measure"})
    pages = {farm.url(n, p) for n in names for p in MANIFESTS[n].expect.urls if p != "/"}
    assert pages <= result.item_urls
    recorded = {r["url"]: r for r in result.ledger if r["stage"] != "item"}
    for name in names:
        for path, expected in MANIFESTS[name].expect.urls.items():
            if path == "/":
                continue
            url = farm.url(name, path)
            assert url in recorded, url
            want = expected.verdicts.get(Purpose.TRAIN)
            if want:
                assert recorded[url]["verdict"] == want, (url, recorded[url])
            assert recorded[url]["mode"] == "measure"
    assert result.stats.get("optout/excluded_count", 0) == 0


def test_purpose_search_crawl(farm, tmp_path):
    result = run_crawl(tmp_path, _start_urls(farm), {"OPTOUT_PURPOSE": "search"})
    dropped = {r["item_source"] for r in result.ledger if r["stage"] == "item"}
    wrong = []
    for name, url, reserved, _ in _expectations(farm, Purpose.SEARCH):
        present = url in result.item_urls or url in dropped
        if reserved == present:
            wrong.append((name, url, reserved))
    assert wrong == []
    assert all(r["purpose"] == "search" for r in result.ledger)


def test_cache_expiry_refetches(farm, tmp_path):
    farm.reset()
    name = "open"
    result = run_crawl(
        tmp_path,
        [farm.url(name, "/")],
        {
            "OPTOUT_CACHE_TTL": 1,
            "OPTOUT_ERROR_TTL": 1,
            "DOWNLOAD_DELAY": 0.6,
            "CONCURRENT_REQUESTS": 1,
            "RANDOMIZE_DOWNLOAD_DELAY": False,
        },
    )
    assert len(result.items) >= 3
    assert farm.hits(name, "/robots.txt") >= 2
    assert result.stats.get("optout/cache/expired", 0) >= 1


def test_single_flight_many_requests_one_fetch(farm, tmp_path):
    farm.reset()
    name = "open"
    urls = [farm.url(name, f"/?n={i}") for i in range(300)]
    run_crawl(tmp_path, urls, {"CONCURRENT_REQUESTS": 64, "CONCURRENT_REQUESTS_PER_DOMAIN": 64})
    assert farm.hits(name, "/robots.txt") == 1
    assert farm.hits(name, "/ai.txt") == 1
    assert farm.hits(name, "/.well-known/tdmrep.json") == 1


def test_ledger_appends_across_runs(farm, tmp_path):
    ledger = tmp_path / "shared-ledger.jsonl"
    settings = {"OPTOUT_LEDGER": str(ledger)}
    start = _start_urls(farm, ["robots-ai-groups"])
    first = run_crawl(tmp_path / "a", start, settings)
    second = run_crawl(tmp_path / "b", start, settings)
    assert len(second.ledger) == 2 * len(first.ledger) > 0


def test_disabled_addon_is_inert(farm, tmp_path):
    result = run_crawl(tmp_path, _start_urls(farm, ["robots-ai-groups"]), {"OPTOUT_ENABLED": False})
    assert result.ledger == []
    assert not Path(tmp_path / "optout-ledger.jsonl").exists()
    assert len(result.items) >= 2
