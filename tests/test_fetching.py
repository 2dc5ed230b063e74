"""The fetch contract of policy files, and the in-memory policy store.

Unit tests of :mod:`scrapy_optout.policy.fetching` (redirect resolution, size
cap, answers into policy files, error wording) and of
:class:`~scrapy_optout.stores.memory.MemoryPolicyStore` with a fake fetch
function; then the same loopback answers fetched by every front end (a
stdlib fetcher on the contract, ``optout check``'s ``requests`` fetcher, a
crawl with the add-on and the survey) must give the same policy file.
"""

from __future__ import annotations

import asyncio
import gzip
import http.client
import json
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from faultserver import (
    Chain,
    FaultServer,
    Redirect,
    Reset,
    Respond,
    Silence,
    compressed,
    head,
    padded,
    text,
)
from helpers import TEST_UA, run_crawl
from scrapy_optout.exceptions import ConfigurationError, error_kind
from scrapy_optout.frontends.http import HttpFetcher
from scrapy_optout.policy.fetching import (
    DEFAULT_MAXSIZE,
    MALFORMED,
    MIN_MAXSIZE,
    NO_LOCATION,
    NOT_HTTP,
    Answer,
    Limits,
    PolicyFetch,
    content_encodings,
    decompress_prefix,
    fetch_policy_file,
    fetch_policy_file_sync,
    policy_file,
    resolve_redirect,
)
from scrapy_optout.policy.fetching import Redirect as Hop
from scrapy_optout.policy.snapshot import ROBOTS_TXT, OriginPolicy, PolicyFile
from scrapy_optout.stores.memory import MemoryPolicyStore

ORIGIN = "http://example.com:80"
BASE = "http://example.com"
ROBOTS_URL = f"{BASE}/robots.txt"
MiB = 1024 * 1024

# -- redirect resolution ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("current", "location", "followed", "expected"),
    [
        ("http://a.test/robots.txt", "/other.txt", 0, Hop("http://a.test/other.txt")),
        ("http://a.test/x/robots.txt", "y.txt", 0, Hop("http://a.test/x/y.txt")),
        ("http://a.test/robots.txt", "  /padded.txt ", 0, Hop("http://a.test/padded.txt")),
        ("http://a.test/robots.txt", "https://a.test/r.txt", 0, Hop("https://a.test/r.txt")),
        ("http://a.test/robots.txt", "http://b.test:8080/r", 2, Hop("http://b.test:8080/r")),
        ("http://a.test/robots.txt", "//b.test/r", 0, Hop("http://b.test/r")),
        ("http://a.test/robots.txt", "/a b.txt", 0, Hop("http://a.test/a%20b.txt")),
        ("http://a.test/robots.txt", "http://b.test/r", 4, Hop("http://b.test/r")),
        ("http://a.test/robots.txt", "http://b.test/r", 5, Hop(None, "too many redirects")),
        ("http://a.test/robots.txt", "ftp://a.test/robots.txt", 0, Hop(None, NOT_HTTP)),
        ("http://a.test/robots.txt", "file:///etc/passwd", 0, Hop(None, NOT_HTTP)),
        ("http://a.test/robots.txt", "javascript:alert(1)", 0, Hop(None, NOT_HTTP)),
        # A redirect that cannot be followed ends the chain before the count matters.
        ("http://a.test/robots.txt", "ftp://a.test/robots.txt", 5, Hop(None, NOT_HTTP)),
        ("http://a.test/robots.txt", "http://[::1/robots.txt", 0, Hop(None, MALFORMED)),
        ("http://a.test/robots.txt", "http://[zz::1]/robots.txt", 0, Hop(None, MALFORMED)),
        ("http://a.test/robots.txt", "http://a.test:99999/", 0, Hop(None, MALFORMED)),
        ("http://a.test/robots.txt", "http://:80/robots.txt", 0, Hop(None, MALFORMED)),
        ("http://a.test/robots.txt", "", 0, Hop(None, NO_LOCATION)),
        ("http://a.test/robots.txt", None, 0, Hop(None, NO_LOCATION)),
    ],
)
def test_resolve_redirect(current, location, followed, expected):
    assert resolve_redirect(current, location, followed) == expected


def _redirect(url: str, location: str, status: int = 302) -> Answer:
    return Answer(url, status, {"location": [location]})


def _ok(url: str, body: bytes = b"User-agent: *\nDisallow: /\n", **kwargs: Any) -> Answer:
    return Answer(url, 200, {"content-type": ["text/plain"]}, body, **kwargs)


def _chain_fetcher(hops: int, final: Callable[[str], Answer]) -> Callable[[str], Answer]:
    """``/robots.txt`` redirects to ``/hop/1`` ... ``/hop/<hops>``, which *final* answers."""

    def fetch(url: str) -> Answer:
        path = urlsplit(url).path
        step = 0 if path == "/robots.txt" else int(path.rsplit("/", 1)[1])
        if step < hops:
            return _redirect(url, f"/hop/{step + 1}")
        return final(url)

    return fetch


@pytest.mark.parametrize(("hops", "follows"), [(0, True), (1, True), (5, True), (6, False)])
def test_redirect_chains(hops, follows):
    result = fetch_policy_file_sync(_chain_fetcher(hops, _ok), ORIGIN, ROBOTS_TXT)
    assert result.url == ROBOTS_URL
    if follows:
        assert result.status == 200
        assert result.error is None
        assert result.final_url == (f"{BASE}/hop/{hops}" if hops else ROBOTS_URL)
    else:
        assert result.status is None
        assert result.error == "too many redirects (more than 5)"
        assert result.final_url is None and result.body == b""


def test_redirect_that_cannot_be_followed_is_the_answer():
    def fetch(url: str) -> Answer:
        return Answer(url, 301, {"location": ["ftp://example.com/robots.txt"]}, b"moved")

    result = fetch_policy_file_sync(fetch, ORIGIN, ROBOTS_TXT)
    assert (result.status, result.error, result.final_url) == (301, None, ROBOTS_URL)
    assert result.body == b"moved"


def test_304_is_not_a_redirect():
    result = fetch_policy_file_sync(lambda url: _redirect(url, "/x", 304), ORIGIN, ROBOTS_TXT)
    assert result.status == 304 and result.final_url == ROBOTS_URL


def test_policy_fetch_step_by_step():
    fetch = PolicyFetch(ORIGIN, ROBOTS_TXT)
    assert fetch.next_url == ROBOTS_URL
    assert fetch.feed(_redirect(ROBOTS_URL, "http://other.test/r.txt")) is None
    assert fetch.next_url == "http://other.test/r.txt" and fetch.redirects == 1
    result = fetch.feed(_ok("http://other.test/r.txt"))
    assert result is not None and result is fetch.result
    assert result.final_url == "http://other.test/r.txt"
    assert fetch.next_url is None
    with pytest.raises(RuntimeError):
        fetch.feed(_ok(ROBOTS_URL))


def test_async_driver_matches_the_sync_one():
    sync_fetch = _chain_fetcher(3, _ok)

    async def fetch(url: str) -> Answer:
        await asyncio.sleep(0)
        return sync_fetch(url)

    result = asyncio.run(fetch_policy_file(fetch, ORIGIN, ROBOTS_TXT))
    expected = fetch_policy_file_sync(sync_fetch, ORIGIN, ROBOTS_TXT)
    assert (result.status, result.final_url, result.sha256) == (
        expected.status,
        expected.final_url,
        expected.sha256,
    )


# -- size cap -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "truncated_by_fetcher", "kept", "truncated"),
    [
        (100, False, 100, False),
        (DEFAULT_MAXSIZE, False, DEFAULT_MAXSIZE, False),
        (DEFAULT_MAXSIZE + 1, False, DEFAULT_MAXSIZE, True),
        (3 * DEFAULT_MAXSIZE, False, DEFAULT_MAXSIZE, True),
        # A fetcher that stopped reading says so, whatever it kept.
        (DEFAULT_MAXSIZE, True, DEFAULT_MAXSIZE, True),
    ],
)
def test_size_cap(size, truncated_by_fetcher, kept, truncated):
    answer = _ok(ROBOTS_URL, b"x" * size, truncated=truncated_by_fetcher)
    result = policy_file(ROBOTS_TXT, ROBOTS_URL, answer)
    assert (len(result.body), result.truncated) == (kept, truncated)


def test_limits():
    assert Limits().maxsize == DEFAULT_MAXSIZE == 1024 * 1024
    assert Limits().max_redirects == 5
    assert Limits.at_least(1000).maxsize == MIN_MAXSIZE == 512_000
    assert Limits.at_least(2 * MiB).maxsize == 2 * MiB
    with pytest.raises(ConfigurationError, match="RFC 9309"):
        Limits(maxsize=MIN_MAXSIZE - 1)
    with pytest.raises(ConfigurationError):
        Limits(max_redirects=4)
    small = Limits(maxsize=MIN_MAXSIZE)
    result = policy_file(ROBOTS_TXT, ROBOTS_URL, _ok(ROBOTS_URL, b"y" * MiB), limits=small)
    assert len(result.body) == MIN_MAXSIZE and result.truncated


def test_decompress_prefix_bounds_a_bomb():
    bomb = gzip.compress(b"User-agent: *\n" + b"\n" * (50 * MiB))
    assert len(bomb) < MiB
    body = decompress_prefix(bomb, content_encodings(["gzip"]), DEFAULT_MAXSIZE)
    assert body is not None and len(body) == DEFAULT_MAXSIZE
    assert body.startswith(b"User-agent: *\n")
    assert decompress_prefix(b"not gzip at all", [b"gzip"], 100) is None
    assert content_encodings([b"gzip, br", "identity"]) == [b"gzip", b"br", b"identity"]


# -- answers into policy files --------------------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "status", "error", "final_url"),
    [
        (_ok(ROBOTS_URL), 200, None, ROBOTS_URL),
        (Answer(ROBOTS_URL, 404, body=b"nope"), 404, None, ROBOTS_URL),
        (Answer(ROBOTS_URL, 503), 503, None, ROBOTS_URL),
        (Answer(ROBOTS_URL, 429), 429, None, ROBOTS_URL),
        # A body the network cut short is a failed fetch, whatever the status said.
        (Answer(ROBOTS_URL, 200, body=b"User", error="body cut short (X)"), None, "body", None),
        (Answer(ROBOTS_URL, 404, error="body cut short (X)"), None, "body", None),
        (Answer(ROBOTS_URL, error="timed out (ReadTimeout)"), None, "timed out", None),
        (Answer(ROBOTS_URL), None, "download failed", None),
    ],
)
def test_answer_into_policy_file(answer, status, error, final_url):
    result = policy_file(ROBOTS_TXT, ROBOTS_URL, answer)
    assert result.status == status
    assert result.final_url == final_url
    if error is None:
        assert result.error is None
        assert result.body == answer.body
    else:
        assert result.error is not None and result.error.startswith(error)
        assert result.body == b""


def test_content_type_is_the_last_header_value():
    answer = Answer(ROBOTS_URL, 200, {"content-type": ["text/html", "text/plain"]})
    assert policy_file(ROBOTS_TXT, ROBOTS_URL, answer).content_type == "text/plain"


class ReadTimeout(Exception):
    pass


class ResponseDataLossError(Exception):
    pass


@pytest.mark.parametrize(
    ("exc", "wording"),
    [
        (ConnectionRefusedError("[Errno 111] Connection refused"), "connection refused"),
        (TimeoutError("timed out"), "timed out (TimeoutError)"),
        (ReadTimeout("https://evil.test/<script>"), "timed out (ReadTimeout)"),
        (ResponseDataLossError("lost"), "body cut short (ResponseDataLossError)"),
        (ConnectionResetError(), "connection failed (ConnectionResetError)"),
        (ValueError("Location: http://evil.test/redirect"), "download failed (ValueError)"),
    ],
)
def test_errors_are_worded_by_describe_error(exc, wording):
    def fetch(url: str) -> Answer:
        raise exc

    result = fetch_policy_file_sync(fetch, ORIGIN, ROBOTS_TXT)
    assert result.status is None
    assert result.error is not None and result.error.startswith(wording)
    assert "evil" not in result.error  # never text a server chose


def test_error_after_a_redirect_is_the_outcome():
    def fetch(url: str) -> Answer:
        if url == ROBOTS_URL:
            return _redirect(url, "/moved")
        raise TimeoutError

    result = fetch_policy_file_sync(fetch, ORIGIN, ROBOTS_TXT)
    assert (result.status, result.error) == (None, "timed out (TimeoutError)")


# -- the in-memory store --------------------------------------------------------------------


def _policy(origin: str, status: int | None = 200, error: str | None = None) -> OriginPolicy:
    robots = PolicyFile(ROBOTS_TXT, f"{origin}/robots.txt", status, b"", error=error)
    return OriginPolicy(origin, robots)


class FakeFetch:
    """Counts fetches per origin; answers with *make*, after a pause."""

    def __init__(self, make: Callable[[str], OriginPolicy] = _policy) -> None:
        self.make = make
        self.calls: list[str] = []

    async def __call__(self, origin: str) -> OriginPolicy:
        self.calls.append(origin)
        await asyncio.sleep(0.01)
        return self.make(origin)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _store(fetch: Any, **kwargs: Any) -> tuple[MemoryPolicyStore, Clock, list[str]]:
    clock = Clock()
    stats: list[str] = []
    store = MemoryPolicyStore(fetch, clock=clock, stats=stats.append, **kwargs)
    return store, clock, stats


def test_single_flight():
    fetch = FakeFetch()
    store, _, stats = _store(fetch)

    async def main() -> list[OriginPolicy]:
        return await asyncio.gather(*(store.get("http://a.test:80") for _ in range(100)))

    policies = asyncio.run(main())
    assert fetch.calls == ["http://a.test:80"]
    assert all(p is policies[0] for p in policies)
    assert stats.count("optout/cache/miss") == 1
    assert stats.count("optout/cache/wait") == 99
    assert len(store) == 1


def test_ttl_expiry():
    fetch = FakeFetch()
    store, clock, stats = _store(fetch, ttl=3600, error_ttl=60)
    origin = "http://a.test:80"
    first = asyncio.run(store.get(origin))
    clock.now += 3599
    assert store.cached(origin) is first
    assert asyncio.run(store.get(origin)) is first
    clock.now += 1
    assert store.cached(origin) is None
    assert "optout/cache/expired" in stats
    assert asyncio.run(store.get(origin)) is not first
    assert fetch.calls == [origin, origin]


@pytest.mark.parametrize(
    ("status", "error", "lifetime"),
    [
        (200, None, 3600),
        (404, None, 3600),  # unavailable: "allow all", an answer like any other
        (302, None, 3600),
        (503, None, 60),
        (429, None, 60),
        (None, "timed out (ReadTimeout)", 60),
        (None, "too many redirects (more than 5)", 60),
    ],
)
def test_error_ttl(status, error, lifetime):
    fetch = FakeFetch(lambda origin: _policy(origin, status, error))
    store, clock, _ = _store(fetch, ttl=3600, error_ttl=60)
    origin = "http://a.test:80"
    policy = asyncio.run(store.get(origin))
    assert store.lifetime(policy) == lifetime
    clock.now += lifetime - 1
    assert store.cached(origin) is policy
    clock.now += 1
    assert store.cached(origin) is None


def test_lru_eviction():
    store, _, stats = _store(FakeFetch(), size=3)
    for name in "abc":
        store.put(_policy(f"http://{name}.test:80"))
    assert store.cached("http://a.test:80") is not None  # a is now the most recent
    store.put(_policy("http://d.test:80"))
    assert len(store) == 3
    assert store.cached("http://b.test:80") is None
    for name in "acd":
        assert store.cached(f"http://{name}.test:80") is not None
    assert stats.count("optout/cache/evicted") == 1


def test_frozen_snapshots_read_back():
    store, _, _ = _store(FakeFetch(), size=10, hot_size=2)
    for name in "abcde":
        store.put(_policy(f"http://{name}.test:80", 404))
    policy = store.cached("http://a.test:80")
    assert policy is not None and policy.robots_file.status == 404
    store.close()
    assert len(store) == 0


def test_put_with_a_ttl():
    store, clock, _ = _store(FakeFetch(), ttl=3600)
    store.put(_policy("http://a.test:80"), ttl=5)
    clock.now += 5
    assert store.cached("http://a.test:80") is None


def test_a_fetch_that_raises():
    class Boom(Exception):
        pass

    failing = True

    async def fetch(origin: str) -> OriginPolicy:
        await asyncio.sleep(0.01)
        if failing:
            raise Boom(origin)
        return _policy(origin)

    store, _, _ = _store(fetch)

    async def main() -> list[Any]:
        return await asyncio.gather(
            *(store.get("http://a.test:80") for _ in range(10)), return_exceptions=True
        )

    outcomes = asyncio.run(main())
    assert all(isinstance(o, Boom) for o in outcomes)
    assert len(store) == 0
    failing = False
    assert asyncio.run(store.get("http://a.test:80")).origin == "http://a.test:80"


# -- every front end, the same policy file ----------------------------------------------------

ROBOTS = "User-agent: *\nDisallow: /private/\n"
TIMEOUT = 2


def _chain(server: FaultServer, hops: int) -> None:
    server.route("/robots.txt", Redirect("/hop/1"))
    server.route_prefix("/hop", Chain("/hop", hops, text(ROBOTS)))


# Each case: how its server answers /robots.txt, and the (status, error kind,
# truncated, final path) the policy file must have.
CASES: dict[str, tuple[Callable[[FaultServer, FaultServer], None], tuple[Any, ...]]] = {
    "200": (lambda s, e: s.route("/robots.txt", text(ROBOTS)), (200, None, False, "/robots.txt")),
    "404": (lambda s, e: s.route("/robots.txt", Respond(404)), (404, None, False, "/robots.txt")),
    "503": (
        lambda s, e: s.route("/robots.txt", text("later", status=503)),
        (503, None, False, "/robots.txt"),
    ),
    "redirect-3": (lambda s, e: _chain(s, 3), (200, None, False, "/hop/3")),
    "redirect-5": (lambda s, e: _chain(s, 5), (200, None, False, "/hop/5")),
    "redirect-6": (lambda s, e: _chain(s, 6), (None, "too many redirects", False, None)),
    "redirect-other-origin": (
        lambda s, e: s.route("/robots.txt", Redirect(e.url("/robots-other.txt"))),
        (200, None, False, "elsewhere:/robots-other.txt"),
    ),
    "redirect-ftp": (
        lambda s, e: s.route("/robots.txt", Redirect("ftp://127.0.0.1/robots.txt")),
        (302, None, False, "/robots.txt"),
    ),
    "redirect-malformed-ipv6": (
        lambda s, e: s.route("/robots.txt", Redirect("http://[::1/robots.txt")),
        (302, None, False, "/robots.txt"),
    ),
    "read-timeout": (
        lambda s, e: s.route("/robots.txt", Silence()),
        (None, "timed out", False, None),
    ),
    "reset": (
        lambda s, e: s.route("/robots.txt", Reset()),
        (None, "connection failed", False, None),
    ),
    "reset-mid-body": (
        lambda s, e: s.route("/robots.txt", Reset(head(200, (), length=400) + b"User-agent: *\n")),
        (None, "body cut short", False, None),
    ),
    "3-MB": (
        lambda s, e: s.route("/robots.txt", text(padded(ROBOTS.encode(), 3 * MiB, b"\n"))),
        (200, None, True, "/robots.txt"),
    ),
    "gzip-bomb": (
        lambda s, e: s.route(
            "/robots.txt", compressed(padded(ROBOTS.encode(), 20 * MiB, b"\n"), "gzip")
        ),
        (200, None, True, "/robots.txt"),
    ),
}


@dataclass(frozen=True)
class Seen:
    """What the comparison looks at in a policy file."""

    status: int | None
    error: str | None  # the kind of error, as describe_error words it
    truncated: bool
    final: str | None  # the final URL's path, "elsewhere:" for the other origin
    sha256: str | None  # of the body kept, when there was an answer


class Farm:
    def __init__(self) -> None:
        self.elsewhere = FaultServer(name="elsewhere")
        self.elsewhere.route("/robots-other.txt", text(ROBOTS))
        self.servers: dict[str, FaultServer] = {}
        for case, (build, _) in CASES.items():
            server = self.servers[case] = FaultServer(name=case)
            server.fallback = text("a page", content_type="text/html")
            build(server, self.elsewhere)

    def start(self) -> Farm:
        for server in (self.elsewhere, *self.servers.values()):
            server.start()
        return self

    def stop(self) -> None:
        for server in (self.elsewhere, *self.servers.values()):
            server.stop()

    def seen(self, status: Any, error: Any, truncated: Any, final: Any, sha: Any) -> Seen:
        if final is not None and final.startswith(self.elsewhere.origin):
            final = "elsewhere:" + final[len(self.elsewhere.origin) :]
        elif final is not None:
            final = urlsplit(final).path
        kind = error_kind_of(error) if error else None
        return Seen(status, kind, bool(truncated), final, sha if status is not None else None)


def error_kind_of(error: str) -> str:
    return error.split(" (", 1)[0]


def stdlib_hop(url: str) -> Answer:
    """One GET with ``http.client``: a fetcher of its own, on the contract."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=TIMEOUT)
    try:
        conn.request("GET", parts.path, headers={"User-Agent": TEST_UA, "Accept-Encoding": "gzip"})
        response = conn.getresponse()
        headers: dict[str, list[str]] = {}
        for name, value in response.getheaders():
            headers.setdefault(name.lower(), []).append(value)
        try:
            raw = response.read(DEFAULT_MAXSIZE + 1)
            if response.length is not None and len(raw) < min(response.length, DEFAULT_MAXSIZE):
                raise http.client.IncompleteRead(raw, response.length - len(raw))
        except ConnectionError as exc:
            raise http.client.IncompleteRead(b"") from exc
        truncated = len(raw) > DEFAULT_MAXSIZE
        codings = content_encodings(headers.get("content-encoding", []))
        if codings:
            decoded = decompress_prefix(raw, codings, DEFAULT_MAXSIZE + 1)
            if decoded is None:
                raise ValueError("undecodable body")
            raw = decoded
        return Answer(url, response.status, headers, raw, truncated)
    finally:
        conn.close()


@pytest.fixture(scope="module")
def farm():
    running = Farm().start()
    yield running
    running.stop()


def _contract(farm: Farm) -> dict[str, Seen]:
    out = {}
    for case, server in farm.servers.items():
        f = fetch_policy_file_sync(stdlib_hop, server.origin, ROBOTS_TXT)
        out[case] = farm.seen(f.status, f.error, f.truncated, f.final_url, f.sha256)
    return out


def _check(farm: Farm) -> dict[str, Seen]:
    fetcher = HttpFetcher(TEST_UA, timeout=TIMEOUT)
    out = {}
    for case, server in farm.servers.items():
        f = fetcher.policy_file(server.origin, ROBOTS_TXT)
        out[case] = farm.seen(f.status, f.error, f.truncated, f.final_url, f.sha256)
    return out


def _crawl(farm: Farm, tmp: Path) -> dict[str, Seen]:
    pages = [server.url("/page.html") for server in farm.servers.values()]
    settings = {"DOWNLOAD_TIMEOUT": TIMEOUT, "USER_AGENT": TEST_UA, "OPTOUT_MODE": "measure"}
    result = run_crawl(tmp, pages, settings, 120)
    out = {}
    for case, server in farm.servers.items():
        source = server.url("/robots.txt")
        record = next(r for r in result.ledger if r["url"] == server.url("/page.html"))
        e = next(e for e in record["evidence"] if e["source"] == source)
        final = e.get("final_url", source) if e["status"] is not None else None
        out[case] = farm.seen(e["status"], e.get("error"), e.get("truncated"), final, e["sha256"])
    return out


def _survey(farm: Farm, tmp: Path) -> dict[str, Seen]:
    sites = tmp / "sites.txt"
    sites.write_text("".join(f"{s.origin}/\n" for s in farm.servers.values()))
    script = (
        "import sys; from scrapy_optout.frontends.survey.crawl import run_survey;"
        "run_survey(sys.argv[1], sys.argv[2], user_agent=sys.argv[3], progress=False,"
        f" settings={{'DOWNLOAD_TIMEOUT': {TIMEOUT}}})"
    )
    out_dir = tmp / "out"
    proc = subprocess.run(
        [sys.executable, "-c", script, str(sites), str(out_dir), TEST_UA],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    records = [json.loads(line) for line in (out_dir / "results.jsonl").read_text().splitlines()]
    by_origin = {r["input"].rstrip("/"): r["files"][ROBOTS_TXT] for r in records}
    out = {}
    for case, server in farm.servers.items():
        f = by_origin[server.origin]
        final = f["final_url"] if f["status"] is not None else None
        out[case] = farm.seen(f["status"], f["error"], f.get("truncated"), final, f["sha256"])
    return out


@pytest.fixture(scope="module")
def fetched(farm, tmp_path_factory) -> dict[str, dict[str, Seen]]:
    """Every case's robots.txt as each front end saw it, fetched at the same time."""
    jobs: dict[str, Callable[[], dict[str, Seen]]] = {
        "contract": lambda: _contract(farm),
        "check": lambda: _check(farm),
        "crawl": lambda: _crawl(farm, tmp_path_factory.mktemp("crawl")),
        "survey": lambda: _survey(farm, tmp_path_factory.mktemp("survey")),
    }
    with ThreadPoolExecutor(len(jobs)) as pool:
        futures = {name: pool.submit(job) for name, job in jobs.items()}
        return {name: future.result() for name, future in futures.items()}


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("front_end", ["contract", "check", "crawl", "survey"])
def test_every_front_end_gives_the_same_policy_file(fetched, case, front_end):
    status, error, truncated, final = CASES[case][1]
    seen = fetched[front_end][case]
    assert (seen.status, seen.error, seen.truncated, seen.final) == (
        status,
        error,
        truncated,
        final,
    ), seen
    # The very same bytes are kept, wherever they were cut.
    assert seen.sha256 == fetched["contract"][case].sha256


def test_error_kind_is_what_describe_error_says():
    # The comparison above reads the kind from the wording; it is error_kind's.
    assert error_kind_of("timed out (ReadTimeout)") == error_kind(TimeoutError())[0]
