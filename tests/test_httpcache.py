"""Scrapy's HTTP cache never holds a reserved response, nor a policy file.

Real crawls with ``HTTPCACHE_ENABLED`` against a loopback server, with both of
Scrapy's cache storages. After each crawl every byte of the cache directory is
searched for a marker that only reserved bodies contain. A second crawl
replays the allowed pages from the cache but fetches the policy files again;
a third, after robots.txt changed to reserve the whole site, excludes every
page at the origin stage although the cache still holds some of them.
"""

from __future__ import annotations

import gzip
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from scrapy import Request
from scrapy.settings import Settings
from scrapy.utils.misc import load_object
from scrapy.utils.request import RequestFingerprinter

from faultserver import Connection, FaultServer, InTurn, Redirect, Respond, head, html, text
from helpers import TEST_UA, CrawlResult, run_crawl
from scrapy_optout.policy.snapshot import utcnow

#: In the body of every reserved response, and of nothing else.
SECRET = "R3SERVED-b0dy-c4ched-n0t"
ALLOW_ALL = "User-agent: *\nAllow: /\n"
DISALLOW_ALL = "User-agent: *\nDisallow: /\n"
HTML = "text/html; charset=utf-8"
STORAGES = {
    "filesystem": "scrapy.extensions.httpcache.FilesystemCacheStorage",
    "dbm": "scrapy.extensions.httpcache.DbmCacheStorage",
}


def page(head_extra: str = "", body: str = "an allowed page", size: int = 0) -> bytes:
    data = (
        f"<!doctype html><html><head><title>t</title>{head_extra}</head><body><p>{body}</p>"
    ).encode()
    # Large enough for a download stopped at its headers to be a real cut.
    data += b"<p>" + body.encode() * (size // max(len(body), 1)) + b"</p>"
    return data + b"</body></html>"


def reserved_body(head_extra: str = "") -> bytes:
    return page(head_extra, SECRET, size=256 * 1024)


class Switch:
    """A fault the test can change between crawls."""

    def __init__(self, fault: Any) -> None:
        self.fault = fault

    def serve(self, conn: Connection) -> None:
        self.fault.serve(conn)


class RedirectWithBody:
    """A redirect whose headers reserve it, with a reserved body."""

    def __init__(self, location: str) -> None:
        self.body = reserved_body()
        self.location = location

    def serve(self, conn: Connection) -> None:
        headers = (("Location", self.location), ("X-Robots-Tag", "noai"), ("Content-Type", HTML))
        conn.send(head(302, headers, length=len(self.body)) + self.body)


ALLOWED = ["/kept.html", "/kept-2.html", "/kept-3.html"]
NOAI_META = '<meta name="robots" content="noai">'
TDM_META = '<meta name="tdm-reservation" content="1">'


def reserved_page(head_extra: str = "", *headers: tuple[str, str], status: int = 200) -> Respond:
    return Respond(status, reserved_body(head_extra), (("Content-Type", HTML), *headers))


RESERVED = {
    "/noai-header.html": reserved_page("", ("X-Robots-Tag", "noai")),
    "/tdm-header.html": reserved_page("", ("tdm-reservation", "1")),
    "/noai-meta.html": reserved_page(NOAI_META),
    "/tdm-meta.html": reserved_page(TDM_META),
    "/noai-500.html": reserved_page("", ("X-Robots-Tag", "noai"), status=500),
}
GZIP_RESERVED = "/noai-meta-gzip.html"
REDIRECTS = {"/redirect-noai": "/kept-2.html", "/redirect-plain": "/kept-3.html"}


def routes(robots: Any) -> dict[str, Any]:
    table: dict[str, Any] = {
        "/robots.txt": robots,
        "/ai.txt": Respond(404),
        "/.well-known/tdmrep.json": Respond(404),
        "/kept.html": html("kept one"),
        "/kept-2.html": html("kept two"),
        "/kept-3.html": html("kept three"),
        GZIP_RESERVED: Respond(
            200,
            gzip.compress(reserved_body(NOAI_META)),
            (("Content-Type", HTML), ("Content-Encoding", "gzip")),
        ),
        "/redirect-noai": RedirectWithBody("/kept-2.html"),
        "/redirect-plain": Redirect("/kept-3.html"),
        **RESERVED,
    }
    return table


START_PATHS = ["/kept.html", *RESERVED, GZIP_RESERVED, *REDIRECTS]


def cache_settings(storage: str, cache_dir: Path, **extra: Any) -> dict[str, Any]:
    return {
        "USER_AGENT": TEST_UA,
        "DOWNLOAD_TIMEOUT": 10,
        "HTTPCACHE_ENABLED": True,
        "HTTPCACHE_STORAGE": storage,
        "HTTPCACHE_DIR": str(cache_dir),
        **extra,
    }


def cache_bytes(cache_dir: Path) -> bytes:
    """Every byte of every file under *cache_dir*."""
    files = [p for p in sorted(cache_dir.rglob("*")) if p.is_file()]
    assert files, f"nothing in {cache_dir}"
    return b"".join(p.read_bytes() for p in files)


def cached(settings: dict[str, Any], url: str) -> bool:
    """Whether the cache of *settings* holds an answer for a GET of *url*."""
    config = Settings(settings)
    storage = load_object(config["HTTPCACHE_STORAGE"])(config)
    # The spider of tests/run_crawl.py, with Scrapy's default fingerprinter.
    spider = SimpleNamespace(
        name="sites", crawler=SimpleNamespace(request_fingerprinter=RequestFingerprinter())
    )
    storage.open_spider(spider)
    try:
        return storage.retrieve_response(spider, Request(url)) is not None
    finally:
        storage.close_spider(spider)


def now() -> datetime:
    """The time now, at the millisecond precision of the ledger's times."""
    moment = utcnow()
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def robots_evidence(result: CrawlResult, server: FaultServer) -> list[dict[str, Any]]:
    source = server.url("/robots.txt")
    return [e for r in result.ledger for e in r["evidence"] if e["source"] == source]


class Crawls:
    def __init__(self, storage: str, out: Path) -> None:
        self.robots = Switch(text(ALLOW_ALL))
        self.server = FaultServer(routes(self.robots)).start()
        self.settings = cache_settings(storage, out / "httpcache")
        self.cache_dir = out / "httpcache"
        urls = [self.server.url(p) for p in START_PATHS]
        self.first = run_crawl(out / "first", urls, self.settings)
        self.hits_first = {p: self.server.hits(p) for p in [*START_PATHS, *ALLOWED]}
        self.cache_after_first = cache_bytes(self.cache_dir)
        self.between = now()
        self.replay = run_crawl(out / "replay", urls, self.settings)
        self.hits_replay = {p: self.server.hits(p) for p in [*START_PATHS, *ALLOWED]}
        self.robots_hits_replay = self.server.hits("/robots.txt")
        self.robots.fault = text(DISALLOW_ALL)
        self.closed = run_crawl(out / "closed", urls, self.settings)
        self.server.stop()


@pytest.fixture(scope="module", params=list(STORAGES), ids=list(STORAGES))
def crawls(request, tmp_path_factory) -> Crawls:
    return Crawls(STORAGES[request.param], tmp_path_factory.mktemp(request.param))


def test_first_crawl_keeps_and_excludes_as_without_cache(crawls):
    result, server = crawls.first, crawls.server
    assert result.item_urls == {server.url(p) for p in ALLOWED}
    reserved = result.reserved()
    for path in [*RESERVED, GZIP_RESERVED]:
        assert server.url(path) in reserved, path
    assert reserved[server.url("/noai-header.html")]["stage"] == "headers"
    assert reserved[server.url("/noai-meta.html")]["stage"] == "body"
    assert result.stats["httpcache/store"] >= len(ALLOWED)
    assert result.stats["optout/httpcache/withheld"] >= len(RESERVED) + 1


def test_no_reserved_body_in_the_cache(crawls):
    assert SECRET.encode() not in crawls.cache_after_first
    assert SECRET.encode() not in cache_bytes(crawls.cache_dir)
    # The cache does hold the allowed pages' bodies (the scan reads real entries).
    assert b"kept one" in crawls.cache_after_first


@pytest.mark.parametrize("path", [*RESERVED, GZIP_RESERVED, "/redirect-noai"])
def test_reserved_response_not_cached(crawls, path):
    assert not cached(crawls.settings, crawls.server.url(path))


@pytest.mark.parametrize("path", [*ALLOWED, "/redirect-plain"])
def test_allowed_response_cached(crawls, path):
    assert cached(crawls.settings, crawls.server.url(path))


@pytest.mark.parametrize("path", ["/robots.txt", "/ai.txt", "/.well-known/tdmrep.json"])
def test_policy_files_never_cached(crawls, path):
    assert not cached(crawls.settings, crawls.server.url(path))
    assert crawls.server.url(path).encode() not in cache_bytes(crawls.cache_dir)


def test_replay_serves_allowed_pages_from_the_cache(crawls):
    result, server = crawls.replay, crawls.server
    assert result.item_urls == {server.url(p) for p in ALLOWED}
    for path in [*ALLOWED, "/redirect-plain"]:
        assert crawls.hits_replay[path] == crawls.hits_first[path], path
    assert result.stats["httpcache/hit"] == len(ALLOWED) + 1  # and the plain redirect


def test_replay_downloads_and_excludes_reserved_pages_again(crawls):
    result, server = crawls.replay, crawls.server
    for path in [*RESERVED, GZIP_RESERVED]:
        assert crawls.hits_replay[path] == crawls.hits_first[path] + 1, path
        assert server.url(path) in result.reserved(), path


def test_replay_fetches_policy_files_afresh(crawls):
    assert crawls.robots_hits_replay == 2
    evidence = robots_evidence(crawls.replay, crawls.server)
    assert evidence
    for item in evidence:
        assert datetime.fromisoformat(item["fetched_at"]) >= crawls.between


def test_changed_robots_txt_excludes_cached_pages(crawls):
    result, server = crawls.closed, crawls.server
    assert result.items == []
    reserved = result.reserved()
    for path in START_PATHS:
        record = reserved[server.url(path)]
        assert record["stage"] == "origin", path
        assert record["reasons"][0]["signal"] == "robots.txt"
    assert "httpcache/hit" not in result.stats
    assert server.hits("/robots.txt") == 3


# -- a transient robots.txt failure is not replayed ----------------------------------------------


@pytest.mark.parametrize("storage", list(STORAGES.values()), ids=list(STORAGES))
def test_transient_503_is_retried_not_replayed_within_a_crawl(tmp_path, storage):
    robots = InTurn(text("later", status=503), text(ALLOW_ALL))
    with FaultServer(routes(robots)) as server:
        settings = cache_settings(storage, tmp_path / "httpcache")
        result = run_crawl(tmp_path / "crawl", [server.url("/kept.html")], settings)
        assert server.hits("/robots.txt") == 2
    # The retry reached the server and read the 200, instead of the cached 503.
    assert result.item_urls == {server.url("/kept.html")}
    assert not cached(settings, server.url("/robots.txt"))


@pytest.mark.parametrize("storage", list(STORAGES.values()), ids=list(STORAGES))
def test_transient_503_is_not_replayed_by_the_next_crawl(tmp_path, storage):
    robots = InTurn(text("later", status=503), text(ALLOW_ALL))
    with FaultServer(routes(robots)) as server:
        url = server.url("/kept.html")
        settings = cache_settings(
            storage, tmp_path / "httpcache", OPTOUT_POLICY_RETRY_TIMES=0, OPTOUT_MODE="measure"
        )
        first = run_crawl(tmp_path / "first", [url], settings)
        between = now()
        second = run_crawl(tmp_path / "second", [url], settings)
        assert server.hits("/robots.txt") == 2
    # RFC 9309: an unreachable robots.txt reserves everything, for this crawl only.
    assert {r["verdict"] for r in first.ledger} == {"reserved"}
    assert {e["status"] for e in robots_evidence(first, server)} == {503}
    assert {r["verdict"] for r in second.ledger} == {"allowed"}
    evidence = robots_evidence(second, server)
    assert {e["status"] for e in evidence} == {200}
    assert all(datetime.fromisoformat(e["fetched_at"]) >= between for e in evidence)
    assert not cached(settings, server.url("/robots.txt"))


# -- without the add-on, and in measure mode -------------------------------------------------------

BY_HAND = {
    "ADDONS": {},
    "DOWNLOADER_MIDDLEWARES": {"scrapy_optout.OptOutMiddleware": 100},
    "ITEM_PIPELINES": {"scrapy_optout.OptOutPipeline": 50},
}


@pytest.mark.parametrize(
    "extra", [BY_HAND, {"OPTOUT_MODE": "measure"}], ids=["by-hand", "measure-mode"]
)
def test_reserved_bodies_kept_out_of_the_cache(tmp_path, extra):
    with FaultServer(routes(text(ALLOW_ALL))) as server:
        settings = cache_settings(STORAGES["filesystem"], tmp_path / "httpcache", **extra)
        urls = [server.url(p) for p in START_PATHS]
        result = run_crawl(tmp_path / "crawl", urls, settings)
    data = cache_bytes(tmp_path / "httpcache")
    assert SECRET.encode() not in data
    assert b"kept one" in data
    for path in ALLOWED:
        assert cached(settings, server.url(path)), path
    for path in [*RESERVED, GZIP_RESERVED, "/redirect-noai", "/robots.txt"]:
        assert not cached(settings, server.url(path)), path
    if extra is BY_HAND:
        assert result.item_urls == {server.url(p) for p in ALLOWED}
    else:
        # Measure mode hands every page on, and records each verdict, but caches only
        # what is allowed.
        assert server.url("/noai-meta.html") in result.item_urls
        verdicts = {r["url"]: r["verdict"] for r in result.ledger if r["stage"] != "item"}
        assert verdicts[server.url("/noai-meta.html")] == "reserved"
