"""Tests of the loopback site farm and of the scenario fixtures it serves."""

from __future__ import annotations

import gzip
import http.client
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import pytest
import requests
from examples.farm import (
    PRODUCT_TOKEN,
    USER_AGENT,
    Manifest,
    SiteFarm,
    load_manifest,
    load_manifests,
    main,
)

from scrapy_optout import ConfigurationError, Purpose, Signal

SITES = Path(__file__).resolve().parents[1] / "fixtures" / "sites"
MANIFESTS = load_manifests(SITES)

# The scenarios other test modules and the demo rely on by name.
REQUIRED = {
    "open",
    "robots-own-group",
    "robots-star-group",
    "robots-ai-groups",
    "robots-ai-partial",
    "robots-search-agents-only",
    "robots-substring-trap",
    "robots-5xx",
    "robots-429",
    "robots-404",
    "robots-403",
    "robots-redirect",
    "robots-redirect-loop",
    "robots-group-split",
    "tdmrep-file",
    "tdmrep-header",
    "tdmrep-meta",
    "tdmrep-override",
    "tdmrep-broken",
    "aitxt",
    "aitxt-html",
    "noai-header",
    "noai-meta",
    "content-usage-header",
    "content-usage-robots",
    "content-signal",
    "mixed",
}

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
JPEG_MAGIC = b"\xff\xd8\xff"


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------


def fetch(
    url: str, method: str = "GET", headers: dict[str, str] | None = None, body: bytes = b""
) -> tuple[int, http.client.HTTPMessage, bytes]:
    """One request, no redirect following, no proxies, raw header lines kept."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
    try:
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        conn.request(method, target or "/", body=body or None, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.msg, response.read()
    finally:
        conn.close()


@pytest.fixture
def session() -> Iterator[requests.Session]:
    with requests.Session() as s:
        s.trust_env = False  # never route 127.0.0.1 through a proxy from the environment
        yield s


def make_site(root: Path, name: str, files: dict[str, str | bytes], manifest: Any) -> Path:
    folder = root / name
    folder.mkdir(parents=True)
    for path, content in files.items():
        target = folder / path
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            target.write_bytes(content)
        else:
            target.write_text(content, encoding="utf-8")
    text = manifest if isinstance(manifest, str) else json.dumps(manifest)
    (folder / "manifest.json").write_text(text, encoding="utf-8")
    return folder


class LinkParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.images: list[str] = []
        self.title = ""
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "a" and values.get("href"):
            self.links.append(values["href"] or "")
        elif tag == "img" and values.get("src"):
            self.images.append(values["src"] or "")
        self._in_title = tag == "title"

    def handle_endtag(self, tag: str) -> None:
        self._in_title = False

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data


def walk(start: str, manifest: Manifest | None = None) -> tuple[dict[str, LinkParser], set[str]]:
    """Follow <a href> links from *start* within its origin.

    Returns the pages read (absolute URL → parsed page) and the absolute URLs
    of every image they embed. A page answers 200, or the status *manifest*
    gives its path (a 401 or 402 answer still carries the page).
    """
    origin = "{0.scheme}://{0.netloc}".format(urlsplit(start))
    pages: dict[str, LinkParser] = {}
    images: set[str] = set()
    queue = [start]
    while queue:
        url = queue.pop()
        if url in pages:
            continue
        status, headers, body = fetch(url)
        assert status == _status(manifest, url), f"{url} answered {status}"
        assert headers.get_content_type() == "text/html", url
        parser = LinkParser()
        parser.feed(body.decode("utf-8"))
        pages[url] = parser
        images.update(urljoin(url, src) for src in parser.images)
        for href in parser.links:
            target = urljoin(url, href).split("#")[0]
            if target.startswith(origin + "/") and target not in pages:
                queue.append(target)
    return pages, images


def _status(manifest: Manifest | None, url: str) -> int:
    """The status *manifest* sets for *url*'s path, else 200."""
    spec = manifest.responses.get(urlsplit(url).path) if manifest is not None else None
    return spec.status if spec is not None and spec.status is not None else 200


@pytest.fixture(scope="module")
def fixture_farm() -> Iterator[SiteFarm]:
    with SiteFarm(SITES) as farm:
        yield farm


# ---------------------------------------------------------------------------
# the scenario fixtures
# ---------------------------------------------------------------------------


def test_required_scenarios_exist() -> None:
    assert set(MANIFESTS) >= REQUIRED


@pytest.mark.parametrize("name", sorted(MANIFESTS))
def test_manifest_follows_conventions(name: str) -> None:
    manifest = MANIFESTS[name]
    assert manifest == load_manifest(SITES / name)
    assert manifest.expect.user_agent == USER_AGENT
    assert (manifest.folder / "index.html").is_file()
    urls = manifest.expect.urls
    assert urls["/"] == urls["/index.html"]
    # links is true exactly when a train crawl in enforce mode gets past "/".
    assert manifest.links is (urls["/"].reserved(Purpose.TRAIN) is False)
    for path, expected in urls.items():
        assert expected.reserved(Purpose.TRAIN) is not None, f"{path}: train must be expected"
        assert expected.from_page is None
        if path != "/":
            assert (manifest.folder / path.lstrip("/")).is_file(), path
        if expected.reserved(Purpose.CRAWL):
            # Nothing can be learnt about a page that may not be fetched.
            assert all(v == "reserved" for v in expected.verdicts.values()), path
            assert expected.signal is Signal.ROBOTS, path
    for ref, expected in manifest.expect.images.items():
        assert expected.reserved(Purpose.TRAIN) is not None, ref
        if expected.from_page is not None:
            assert expected.from_page in urls, ref
    for other in manifest.references():
        assert other in MANIFESTS


def test_every_signal_is_exercised() -> None:
    reserving = {
        e.signal
        for m in MANIFESTS.values()
        for e in [*m.expect.urls.values(), *m.expect.images.values()]
        if e.signal is not None
    }
    assert reserving == set(Signal)


@pytest.mark.parametrize("name", sorted(MANIFESTS))
def test_links_reach_every_expected_url(fixture_farm: SiteFarm, name: str) -> None:
    manifest = fixture_farm.manifest(name)
    pages, images = walk(fixture_farm.url(name, "/"), manifest)
    for path in manifest.expect.urls:
        assert fixture_farm.url(name, path) in pages, f"{path} is not linked"
    # Every expected page is one link away from the front page.
    index = pages[fixture_farm.url(name, "/index.html")]
    linked = {urljoin(fixture_farm.url(name, "/index.html"), href) for href in index.links}
    for path in manifest.expect.urls:
        if path != "/":
            assert fixture_farm.url(name, path) in linked, f"{path} is not on the front page"
    for ref, expected in manifest.expect.images.items():
        url = fixture_farm.url(name, ref)
        assert url in images, f"{ref} is not embedded by any page"
        if expected.from_page is not None:
            page = fixture_farm.url(name, expected.from_page)
            assert url in {urljoin(page, src) for src in pages[page].images}
    for url, page in pages.items():
        assert page.title.strip(), f"{url} has no title"


@pytest.mark.parametrize("name", sorted(MANIFESTS))
def test_expected_images_are_real_images(fixture_farm: SiteFarm, name: str) -> None:
    manifest = fixture_farm.manifest(name)
    for ref in manifest.expect.images:
        status, headers, body = fetch(fixture_farm.url(name, ref))
        assert status == _status(manifest, fixture_farm.url(name, ref)), ref
        magic = {"image/png": PNG_MAGIC, "image/jpeg": JPEG_MAGIC}[headers.get_content_type()]
        assert body.startswith(magic), ref
        if magic == JPEG_MAGIC:
            assert body.endswith(b"\xff\xd9"), ref


def test_policy_file_status_and_types(fixture_farm: SiteFarm) -> None:
    def robots(name: str) -> tuple[int, http.client.HTTPMessage, bytes]:
        return fetch(fixture_farm.url(name, "/robots.txt"))

    assert robots("open")[:2][0] == 200
    assert robots("open")[1]["Content-Type"] == "text/plain; charset=utf-8"
    status, headers, _ = robots("robots-5xx")
    assert (status, headers["Retry-After"]) == (503, "3600")
    assert robots("robots-429")[0] == 429
    assert robots("robots-403")[0] == 403
    assert robots("robots-404")[0] == 404
    assert robots("robots-bom")[2].startswith(b"\xef\xbb\xbfUser-agent: *")
    status, headers, body = fetch(fixture_farm.url("tdmrep-file", "/.well-known/tdmrep.json"))
    assert headers.get_content_type() == "application/json"
    rules = json.loads(body)
    assert rules[1]["tdm-policy"] == fixture_farm.url("tdmrep-file", "/tdm-policy.json")
    status, headers, _ = fetch(fixture_farm.url("tdmrep-broken", "/.well-known/tdmrep.json"))
    assert (status, headers.get_content_type()) == (200, "text/html")
    status, headers, _ = fetch(fixture_farm.url("aitxt-html", "/ai.txt"))
    assert (status, headers.get_content_type()) == (200, "text/html")


def test_robots_redirect_chains(fixture_farm: SiteFarm, session: requests.Session) -> None:
    response = session.get(fixture_farm.url("robots-redirect", "/robots.txt"))
    assert [r.status_code for r in response.history] == [301, 302, 303, 307, 308]
    assert response.url == fixture_farm.url("robots-redirect", "/policy/robots.txt")
    assert "Disallow: /private/" in response.text

    response = session.get(fixture_farm.url("robots-redirect-cross", "/robots.txt"))
    assert response.url == fixture_farm.url("robots-redirect", "/policy/robots.txt")

    session.max_redirects = 6
    with pytest.raises(requests.TooManyRedirects):
        session.get(fixture_farm.url("robots-redirect-loop", "/robots.txt"))


def test_noai_header_lines_arrive_separately(fixture_farm: SiteFarm) -> None:
    _, headers, _ = fetch(fixture_farm.url("noai-header", "/multi/page.html"))
    assert headers.get_all("X-Robots-Tag") == ["noindex", "noai"]
    _, headers, _ = fetch(fixture_farm.url("content-usage-header", "/cu/two-lines.html"))
    assert headers.get_all("Content-Usage") == ["train-ai=y", "train-ai=n"]
    _, headers, _ = fetch(fixture_farm.url("noai-header", "/gallery.html"))
    assert headers.get_all("X-Robots-Tag") is None


# ---------------------------------------------------------------------------
# serving, on small sites built for each test
# ---------------------------------------------------------------------------

BASIC_FILES: dict[str, str | bytes] = {
    "index.html": "<!DOCTYPE html><title>Home</title><a href='a.html'>a</a>",
    "a.html": "<!DOCTYPE html><title>A</title>",
    "robots.txt": "User-agent: *\nDisallow: /private/\n",
    "data.json": '{"ok": true}',
    "img/pic.png": PNG_MAGIC + b"rest",
    "img/pic.jpg": JPEG_MAGIC + b"rest",
    "blob.xyz": b"\x00\x01",
    "sub/index.html": "<!DOCTYPE html><title>Sub</title>",
    "other.txt": "served from elsewhere\n",
    "templ.html": "<a href='{origin}/a.html'>here</a> <a href='{origin:other}/x'>there</a>",
}


@pytest.fixture
def basic(tmp_path: Path) -> Iterator[SiteFarm]:
    make_site(
        tmp_path,
        "basic",
        BASIC_FILES,
        {
            "description": "farm feature test",
            "headers": {
                "/*.html": {"X-Robots-Tag": ["noindex", "noai"]},
                "/a.html": {"Content-Usage": "train-ai=n"},
                "/img/*": {"Cache-Control": "max-age=60"},
            },
            "responses": {
                "/robots.txt": {"status": 503, "headers": {"Retry-After": "120"}},
                "/gone": {"status": 410},
                "/inline.txt": {"body": "inline at {origin}\n"},
                "/alias": {"body_file": "other.txt"},
                "/old": {"status": 301, "location": "/a.html"},
                "/away": {"status": 302, "location": "{origin:other}/x"},
                "/slow.txt": {"body": "slow", "delay": 0.3},
                "/zipped.txt": {"body": "squeeze me " * 50, "gzip": True},
                "/html-as-json.json": {
                    "body": "<html></html>",
                    "headers": {"Content-Type": "text/html; charset=utf-8"},
                },
                "/templ.html": {"template": True},
            },
        },
    )
    make_site(
        tmp_path,
        "other",
        {"x": "other site\n", "index.html": "<title>Other</title>"},
        {"description": "redirect target"},
    )
    with SiteFarm(tmp_path) as farm:
        yield farm


@pytest.mark.parametrize(
    ("path", "content_type", "body"),
    [
        ("/", "text/html; charset=utf-8", BASIC_FILES["index.html"]),
        ("/index.html", "text/html; charset=utf-8", BASIC_FILES["index.html"]),
        ("/sub/", "text/html; charset=utf-8", BASIC_FILES["sub/index.html"]),
        ("/sub", "text/html; charset=utf-8", BASIC_FILES["sub/index.html"]),
        ("/data.json", "application/json", BASIC_FILES["data.json"]),
        ("/img/pic.png", "image/png", BASIC_FILES["img/pic.png"]),
        ("/img/pic.jpg", "image/jpeg", BASIC_FILES["img/pic.jpg"]),
        ("/blob.xyz", "application/octet-stream", BASIC_FILES["blob.xyz"]),
        ("/a.html?utm=1", "text/html; charset=utf-8", BASIC_FILES["a.html"]),
        ("/alias", "text/plain; charset=utf-8", BASIC_FILES["other.txt"]),
        ("/html-as-json.json", "text/html; charset=utf-8", "<html></html>"),
    ],
)
def test_files_and_content_types(basic: SiteFarm, path: str, content_type: str, body: Any) -> None:
    status, headers, data = fetch(basic.url("basic", path))
    assert status == 200
    assert headers.get_all("Content-Type") == [content_type]
    expected = body if isinstance(body, bytes) else body.encode()
    assert data == expected
    assert headers["Content-Length"] == str(len(expected))


@pytest.mark.parametrize(
    "target",
    ["/missing.html", "/manifest.json", "/..%2f..%2fetc%2fpasswd", "/%2e%2e/other/x", "/img/"],
)
def test_missing_is_404(basic: SiteFarm, target: str) -> None:
    status, headers, body = fetch(basic.url("basic", target))
    assert status == 404
    assert headers.get_content_type() == "text/html"
    assert b"404 Not Found" in body


def test_status_overrides(basic: SiteFarm) -> None:
    status, headers, body = fetch(basic.url("basic", "/robots.txt"))
    # The file's own body is served with the manifest's status.
    assert (status, headers["Retry-After"], body) == (
        503,
        "120",
        BASIC_FILES["robots.txt"].encode(),
    )
    status, headers, body = fetch(basic.url("basic", "/gone"))
    assert status == 410
    assert b"410 Gone" in body
    assert headers.get_content_type() == "text/html"


def test_inline_body_is_templated(basic: SiteFarm) -> None:
    _, _, body = fetch(basic.url("basic", "/inline.txt"))
    assert body.decode() == f"inline at {basic.origin('basic')}\n"
    _, _, body = fetch(basic.url("basic", "/templ.html"))
    assert body.decode() == (
        f"<a href='{basic.origin('basic')}/a.html'>here</a> "
        f"<a href='{basic.origin('other')}/x'>there</a>"
    )


def test_header_rules_repeat_and_accumulate(basic: SiteFarm) -> None:
    _, headers, _ = fetch(basic.url("basic", "/a.html"))
    assert headers.get_all("X-Robots-Tag") == ["noindex", "noai"]
    assert headers.get_all("Content-Usage") == ["train-ai=n"]
    _, headers, _ = fetch(basic.url("basic", "/index.html"))
    assert headers.get_all("X-Robots-Tag") == ["noindex", "noai"]
    assert headers.get_all("Content-Usage") is None
    _, headers, _ = fetch(basic.url("basic", "/"))
    assert headers.get_all("X-Robots-Tag") is None  # globs match the path as requested
    _, headers, _ = fetch(basic.url("basic", "/img/pic.png"))
    assert headers["Cache-Control"] == "max-age=60"


def test_redirects_and_cross_origin_templates(basic: SiteFarm, session: requests.Session) -> None:
    status, headers, _ = fetch(basic.url("basic", "/old"))
    assert (status, headers["Location"]) == (301, "/a.html")
    status, headers, _ = fetch(basic.url("basic", "/away"))
    assert (status, headers["Location"]) == (302, basic.url("other", "/x"))
    response = session.get(basic.url("basic", "/away"))
    assert (response.url, response.text) == (basic.url("other", "/x"), "other site\n")
    assert basic.hits("basic", "/away") == 2
    assert basic.hits("other", "/x") == 1


def test_head_matches_get(basic: SiteFarm) -> None:
    _, get_headers, get_body = fetch(basic.url("basic", "/a.html"))
    status, head_headers, head_body = fetch(basic.url("basic", "/a.html"), method="HEAD")
    assert status == 200
    assert head_body == b""
    assert head_headers["Content-Length"] == str(len(get_body))
    for name in ("Content-Type", "X-Robots-Tag", "Content-Usage"):
        assert head_headers.get_all(name) == get_headers.get_all(name)
    assert basic.requests("basic")[-1].method == "HEAD"


def test_other_methods_are_refused(basic: SiteFarm) -> None:
    status, headers, _ = fetch(basic.url("basic", "/a.html"), method="POST", body=b"x=1")
    assert (status, headers["Allow"]) == (405, "GET, HEAD")
    assert basic.requests("basic")[-1].method == "POST"


def test_hits_requests_and_reset(basic: SiteFarm) -> None:
    ua = {"User-Agent": USER_AGENT}
    fetch(basic.url("basic", "/robots.txt"), headers=ua)
    fetch(basic.url("basic", "/a.html?x=1"), headers=ua)
    fetch(basic.url("basic", "/a.html?x=2"), headers=ua)
    fetch(basic.url("basic", "/nope"))
    assert basic.hits("basic") == 4
    assert basic.hits("basic", "/a.html") == 2
    assert basic.hits("basic", "/a.html?x=2") == 1
    assert basic.hits("basic", "/nope") == 1
    assert basic.hits("other") == 0
    first = basic.requests("basic")[0]
    assert (first.method, first.path, first.target) == ("GET", "/robots.txt", "/robots.txt")
    assert first.user_agent == USER_AGENT
    assert PRODUCT_TOKEN in (first.header("user-agent") or "")
    assert first.header_list("X-Missing") == []
    assert basic.requests("basic")[1].target == "/a.html?x=1"
    basic.reset("basic")
    assert basic.hits("basic") == 0
    fetch(basic.url("other", "/x"))
    basic.reset()
    assert basic.hits("other") == 0


def test_hit_counting_is_thread_safe(basic: SiteFarm) -> None:
    def worker() -> None:
        for _ in range(5):
            fetch(basic.url("basic", "/data.json"))

    threads = [threading.Thread(target=worker) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert basic.hits("basic", "/data.json") == 80


def test_delay(basic: SiteFarm) -> None:
    started = time.monotonic()
    status, _, body = fetch(basic.url("basic", "/slow.txt"))
    assert (status, body) == (200, b"slow")
    assert time.monotonic() - started >= 0.3
    # The request is counted when it arrives, before the delay.
    assert basic.hits("basic", "/slow.txt") == 1


def test_delay_does_not_block_other_requests(basic: SiteFarm) -> None:
    slow = threading.Thread(target=fetch, args=(basic.url("basic", "/slow.txt"),))
    slow.start()
    started = time.monotonic()
    fetch(basic.url("basic", "/a.html"))
    assert time.monotonic() - started < 0.3
    slow.join()


def test_gzip_is_negotiated(basic: SiteFarm) -> None:
    plain = ("squeeze me " * 50).encode()
    status, headers, body = fetch(
        basic.url("basic", "/zipped.txt"), headers={"Accept-Encoding": "gzip, deflate"}
    )
    assert (status, headers["Content-Encoding"], headers["Vary"]) == (
        200,
        "gzip",
        "Accept-Encoding",
    )
    assert headers["Content-Length"] == str(len(body))
    assert gzip.decompress(body) == plain
    _, headers, body = fetch(basic.url("basic", "/zipped.txt"), headers={"Accept-Encoding": "br"})
    assert headers["Content-Encoding"] is None
    assert body == plain
    _, headers, _ = fetch(
        basic.url("basic", "/zipped.txt"), headers={"Accept-Encoding": "gzip;q=0"}
    )
    assert headers["Content-Encoding"] is None


def test_keep_alive(basic: SiteFarm) -> None:
    parts = urlsplit(basic.origin("basic"))
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
    try:
        for path in ("/a.html", "/data.json", "/missing"):
            conn.request("GET", path)
            response = conn.getresponse()
            response.read()
            assert response.getheader("Connection") != "close"
        assert basic.hits("basic") == 3
    finally:
        conn.close()


def test_stop_closes_open_connections(tmp_path: Path) -> None:
    make_site(tmp_path, "one", {"index.html": "<title>x</title>"}, {"description": "d"})
    with SiteFarm(tmp_path) as farm:
        parts = urlsplit(farm.origin("one"))
        conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
        conn.request("GET", "/")
        conn.getresponse().read()
    try:
        with pytest.raises((ConnectionError, http.client.HTTPException)):
            conn.request("GET", "/")
            conn.getresponse().read()
    finally:
        conn.close()
    assert farm.hits("one") == 1


def test_odd_requests_do_not_break_the_server(basic: SiteFarm) -> None:
    assert fetch(basic.url("basic", "/a%00.html"))[0] == 404
    status, headers, _ = fetch(
        basic.url("basic", "/zipped.txt"), headers={"Accept-Encoding": "gzip;q=high"}
    )
    assert (status, headers["Content-Encoding"]) == (200, "gzip")
    assert fetch(basic.url("basic", "/a.html"))[0] == 200


def test_stopped_farm_refuses_addresses(tmp_path: Path) -> None:
    make_site(tmp_path, "one", {"index.html": "<title>x</title>"}, {"description": "d"})
    farm = SiteFarm(tmp_path)
    with pytest.raises(RuntimeError):
        farm.origin("one")
    with farm:
        first = farm.origin("one")
        assert first.startswith("http://127.0.0.1:")
        assert farm.url("one", "/a") == first + "/a"
        with pytest.raises(ValueError, match="must start with"):
            farm.url("one", "a")
    farm.stop()  # twice is fine
    with pytest.raises(RuntimeError):
        farm.url("one")
    with farm:  # and it starts again
        assert fetch(farm.url("one"))[0] == 200


def test_scenario_selection_adds_references() -> None:
    farm = SiteFarm(SITES, ["robots-redirect-cross", "aitxt-cdn"])
    assert farm.scenarios == ["aitxt", "aitxt-cdn", "robots-redirect", "robots-redirect-cross"]
    with pytest.raises(ConfigurationError, match="no scenario named nope"):
        SiteFarm(SITES, ["open", "nope"])
    with pytest.raises(ConfigurationError, match="not part of this farm"):
        farm.hits("open")
    with pytest.raises(ConfigurationError, match="not a directory"):
        SiteFarm(SITES / "does-not-exist")


def test_unknown_reference_is_refused(tmp_path: Path) -> None:
    make_site(
        tmp_path,
        "one",
        {},
        {"description": "d", "responses": {"/x": {"status": 302, "location": "{origin:ghost}/"}}},
    )
    with pytest.raises(ConfigurationError, match="unknown scenario"):
        SiteFarm(tmp_path)


def test_manifest_model() -> None:
    manifest = MANIFESTS["noai-meta"]
    assert isinstance(manifest, Manifest)
    assert manifest.name == "noai-meta"
    sketch = manifest.expect.images["/img/sketch.png"]
    assert sketch.reserved("train") is True
    assert sketch.reserved(Purpose.SEARCH) is None
    assert sketch.signal is Signal.NOAI
    assert sketch.from_page == "/meta/noimageai.html"
    rule = MANIFESTS["noai-header"].headers[0]
    assert rule.matches("/art/piece.html")
    assert not rule.matches("/artist.html")
    assert MANIFESTS["aitxt-cdn"].references() == {"aitxt"}


VALID_ENTRY = {"train": "allowed"}


@pytest.mark.parametrize(
    ("manifest", "message"),
    [
        ("{not json", "not valid JSON"),
        ([], "manifest: must be a JSON object"),
        ({}, "description: a non-empty string is required"),
        ({"description": "d", "colour": 1}, "unknown key"),
        ({"description": "d", "links": "yes"}, "links: must be true or false"),
        ({"description": "d", "notes": 3}, "notes: must be a string"),
        ({"description": "d", "headers": {"*.html": {"X": "y"}}}, "must start with '/'"),
        ({"description": "d", "headers": {"/x": {"Bad Name": "y"}}}, "not a valid header name"),
        ({"description": "d", "headers": {"/x": {"X": "a\nb"}}}, "single-line"),
        ({"description": "d", "headers": {"/x": {"Content-Length": "1"}}}, "computed by the farm"),
        ({"description": "d", "responses": {"/x": {"status": 99}}}, "integer from 200"),
        ({"description": "d", "responses": {"/x": {"status": 301}}}, "needs a location"),
        ({"description": "d", "responses": {"/x": {"location": "/y"}}}, "needs a redirect status"),
        ({"description": "d", "responses": {"/x": {"delay": -1}}}, "between 0 and"),
        ({"description": "d", "responses": {"/x": {"delay": "1"}}}, "number of seconds"),
        ({"description": "d", "responses": {"/x": {"body_file": "../etc"}}}, "inside the scenario"),
        (
            {"description": "d", "responses": {"/x": {"body": "a", "body_file": "index.html"}}},
            "exclude each other",
        ),
        ({"description": "d", "responses": {"/x": {"gzip": 1}}}, "gzip: must be true or false"),
        ({"description": "d", "responses": {"/x": {"sttaus": 200}}}, "unknown key"),
        ({"description": "d", "expect": {"urls": {"/": {}}}}, "expects no purpose"),
        ({"description": "d", "expect": {"urls": {"/": {"train": "no"}}}}, "'reserved' or"),
        ({"description": "d", "expect": {"urls": {"/": {"trian": "allowed"}}}}, "unknown key"),
        (
            {"description": "d", "expect": {"urls": {"/": {"train": "reserved"}}}},
            "needs the signal",
        ),
        (
            {"description": "d", "expect": {"urls": {"/": {"train": "allowed", "signal": "noai"}}}},
            "nothing is reserved",
        ),
        (
            {"description": "d", "expect": {"urls": {"/": {"train": "reserved", "signal": "x"}}}},
            "must be one of",
        ),
        (
            {"description": "d", "expect": {"urls": {"/": {**VALID_ENTRY, "from_page": "/"}}}},
            "unknown key",
        ),
        ({"description": "d", "expect": {"images": {"img.png": VALID_ENTRY}}}, "must be a path"),
        ({"description": "d", "expect": {"user_agent": ""}}, "user_agent"),
    ],
)
def test_invalid_manifests_are_refused(tmp_path: Path, manifest: Any, message: str) -> None:
    folder = make_site(tmp_path, "bad", {"index.html": "<title>x</title>"}, manifest)
    with pytest.raises(ConfigurationError, match=message) as info:
        load_manifest(folder)
    assert str(folder / "manifest.json") in str(info.value)


def test_minimal_manifest_defaults(tmp_path: Path) -> None:
    manifest = load_manifest(make_site(tmp_path, "min", {}, {"description": " d "}))
    assert (manifest.description, manifest.links, manifest.headers) == ("d", True, ())
    assert manifest.expect.user_agent == USER_AGENT
    assert dict(manifest.responses) == {}
    assert dict(manifest.expect.urls) == {}


# ---------------------------------------------------------------------------
# command line
# ---------------------------------------------------------------------------


def _python_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def test_module_help() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "examples.farm", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0
    assert "--scenario" in result.stdout


def test_main_list(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(SITES), "--list", "--scenario", "open"]) == 0
    out = capsys.readouterr().out
    assert out == f"open\t{MANIFESTS['open'].description}\n"
    assert main([str(SITES), "--list"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == len(MANIFESTS)


def test_main_reports_errors(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main([str(tmp_path / "nowhere")]) == 2
    assert "not a directory" in capsys.readouterr().err
    assert main([str(SITES), "--list", "--scenario", "nope"]) == 2


@pytest.mark.skipif(sys.platform == "win32", reason="uses SIGINT")
def test_main_serves_until_interrupted() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "examples.farm", str(SITES), "--scenario", "open"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_python_env(),
    )
    try:
        assert process.stdout is not None
        name, origin = process.stdout.readline().split()
        assert name == "open"
        status, _, body = fetch(origin + "/robots.txt")
        assert (status, body) == (200, b"User-agent: *\nAllow: /\n")
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=30)
        assert process.returncode == 0, err
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()


# ---------------------------------------------------------------------------
# the README of the fixtures
# ---------------------------------------------------------------------------

README = SITES / "README.md"


def _code_block(language: str) -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index(f"```{language}\n") + len(language) + 4
    return text[start : text.index("```", start)]


def test_readme_example_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(SITES.parents[1])
    for name in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "*")
    exec(compile(_code_block("python"), str(README), "exec"), {})


def test_readme_manifest_example_is_valid(tmp_path: Path) -> None:
    folder = make_site(tmp_path, "example", {"data/other.txt": "other\n"}, _code_block("json"))
    manifest = load_manifest(folder)
    assert manifest.references() == {"aitxt"}
    assert manifest.headers[1].headers == (("X-Robots-Tag", "noindex"), ("X-Robots-Tag", "noai"))


def test_readme_lists_every_scenario() -> None:
    text = README.read_text(encoding="utf-8")
    for name, manifest in MANIFESTS.items():
        links = "yes" if manifest.links else "no"
        assert f"| `{name}` |" in text, name
        row = next(line for line in text.splitlines() if line.startswith(f"| `{name}` |"))
        assert row.endswith(f"| {links} |"), name
