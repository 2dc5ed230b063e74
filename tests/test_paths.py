"""Paths: one canonical form, every reading a server resolves, and rule indexes that stay cheap.

A URL is reserved when any form a common server could serve it as is
reserved; unrelated paths (``/privateer`` beside ``/private/``) stay open.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from faultserver import FaultServer, html, text
from helpers import TEST_UA, run_crawl
from scrapy_optout.protocols import aitxt, robots, tdmrep
from scrapy_optout.protocols.patterns import (
    RuleIndex,
    compile_pattern,
    normalise_path,
    path_readings,
    strict_path,
)
from scrapy_optout.verdict import Stance

_PRIVATE = "User-agent: *\nDisallow: /private/\n"

# URLs a server may serve as /private/x, each with how it gets there.
RESOLVED = [
    ("/a/../private/x", "resolving dot segments"),
    ("/private/./x", "resolving dot segments"),
    ("/private%2Fx", ""),  # an encoded slash is a slash in the canonical form
    ("//private/x", "merging doubled slashes"),
    ("/%70rivate/x", ""),  # an escaped unreserved character is that character
    ("/private;jsessionid=1/x", "dropping ;parameters"),
    ("/%2570rivate/x", "percent-decoding"),
    ("/a/%2e%2E/private/x", "resolving dot segments"),
    ("/a\\..\\private/x", "reading \\ as /, resolving dot segments"),
    ("/a/..;/private/x", "dropping ;parameters, resolving dot segments"),
    ("/a%2F..%2Fprivate/x", "resolving dot segments"),
    ("/public/../private/x?q=1", "resolving dot segments"),
]
UNRELATED = ["/privateer", "/private", "/Private/x", "/a/private/x", "/x?next=/private/x"]


# -- the canonical form -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("one", "other"),
    [
        # RFC 9309 figure 4: the three columns of a row are one path.
        ("/foo/bar?baz=https://foo.bar", "/foo/bar?baz=https%3A%2F%2Ffoo.bar"),
        ("/foo/bar/ツ", "/foo/bar/%E3%83%84"),
        ("/foo/bar/%62%61%7A", "/foo/bar/baz"),
        ("/pc:", "/pc%3A"),
        ("/pc:", "/pc%3a"),
        ("/a*b", "/a%2Ab"),
        ("/a@b!c", "/a%40b%21c"),
        ("/a b", "/a%20b"),
    ],
)
def test_spellings_of_one_path(one: str, other: str) -> None:
    assert normalise_path(one) == normalise_path(other)
    assert compile_pattern(one).matches(other)
    assert compile_pattern(other).matches(one)


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("/a%2541", "/aA"),  # "%25" is a percent sign, not the start of an escape
        ("/a%23b", "/a"),  # an escaped "#" is part of the path, not a fragment
        ("/caf%E9", "/café"),  # Latin-1 and UTF-8 octets differ
        ("/Private", "/private"),  # case is never folded: RFC 9309 compares octets
    ],
)
def test_different_paths_stay_different(one: str, other: str) -> None:
    assert normalise_path(one) != normalise_path(other)


@pytest.mark.parametrize(
    ("raw", "escaped"),
    [(b"/caf\xe9", "/caf%E9"), (b"/\xff\xfe/x", "/%FF%FE/x"), (b"/ok\xc3\xa9\x80", "/ok%C3%A9%80")],
)
def test_a_raw_octet_that_is_not_utf8_is_its_own_escape(raw: bytes, escaped: str) -> None:
    rule = compile_pattern(raw.decode("utf-8", "surrogateescape"))
    assert rule.pieces == (escaped,)
    assert "\ufffd" not in "".join(rule.pieces)
    assert rule.matches(escaped)
    assert rule.matches(escaped.lower())


def test_strict_form_keeps_reserved_escapes() -> None:
    assert strict_path("/a%2fb?c=%3A") == "/a%2Fb?c=%3A"
    assert strict_path("/%61b") == "/ab"


# -- readings -----------------------------------------------------------------------------


@pytest.mark.parametrize(("url", "how"), RESOLVED)
def test_readings_reach_the_resolved_path(url: str, how: str) -> None:
    readings = path_readings("https://e.example" + url)
    assert readings[0].path == normalise_path(url)
    query = "?q=1" if "?" in url else ""
    target = [r for r in readings if r.path.startswith("/private/x" + query)]
    assert target, readings
    assert target[0].how == how


@pytest.mark.parametrize("url", ["/plain/path.html", "/a?b=c", "/.well-known/tdmrep.json"])
def test_plain_paths_have_one_reading(url: str) -> None:
    assert path_readings(url) == ((normalise_path(url), ""),)


def test_readings_are_bounded_and_distinct() -> None:
    nasty = "/a\\b;p=1//" + "%25" * 30 + "../.././c;d/./e"
    readings = path_readings(nasty)
    assert len(readings) <= 6
    assert len({r.path for r in readings}) == len(readings)


def test_query_is_not_resolved() -> None:
    readings = path_readings("/x?next=/a/../private/x")
    assert [r.path for r in readings] == ["/x?next=/a/../private/x"]


# -- the three protocols --------------------------------------------------------------------


def _own(body: str, url: str) -> robots.Finding:  # type: ignore[name-defined]
    found = robots.evaluate(
        robots.RobotsTxt.parse(body),
        "https://e.example" + url,
        status=200,
        error=None,
        token="ExampleBot",
        source="https://e.example/robots.txt",
    )
    return found[0]


@pytest.mark.parametrize(("url", "how"), RESOLVED)
def test_robots_reserves_every_reading(url: str, how: str) -> None:
    finding = _own(_PRIVATE, url)
    assert finding.stance is Stance.RESERVE
    if not normalise_path(url).startswith("/private/"):
        assert "matched as /private/x" in finding.detail
        assert how in finding.detail
    else:
        assert "matched as" not in finding.detail


@pytest.mark.parametrize("url", UNRELATED)
def test_robots_keeps_unrelated_paths_open(url: str) -> None:
    assert _own(_PRIVATE, url).stance is Stance.ALLOW


def test_an_allow_for_the_literal_path_does_not_cover_a_resolved_reading() -> None:
    body = "User-agent: *\nAllow: /public/\nDisallow: /private/\n"
    assert _own(body, "/public/x").stance is Stance.ALLOW
    finding = _own(body, "/public/../private/x")
    assert finding.stance is Stance.RESERVE
    assert "matched as /private/x after resolving dot segments" in finding.detail


@pytest.mark.parametrize(
    ("body", "url", "allowed"),
    [
        # An Allow spelled with an escaped slash does not open the path with a
        # slash, where a server tells the two apart (the strict reading).
        ("User-agent: *\nAllow: /a%2fb.html\nDisallow: /\n", "/a/b.html", False),
        ("User-agent: *\nAllow: /a/b.html\nDisallow: /\n", "/a%2fb.html", False),
        ("User-agent: *\nAllow: /a/b.html\nDisallow: /\n", "/a/b.html", True),
        ("User-agent: *\nAllow: /a%2fb.html\nDisallow: /\n", "/a%2Fb.html", True),
        # crawler-commons / CPython / texting_robots style cases, written from the RFC.
        ("User-agent: *\nDisallow: /tmp/\n", "/tmp/../tmp/x", False),
        ("User-agent: *\nDisallow: /%7ejoe/\n", "/~joe/index.html", False),
        ("User-agent: *\nDisallow: /~joe/\n", "/%7Ejoe/index.html", False),
        ("User-agent: *\nDisallow: /a%3cd.html\n", "/a%3Cd.html", False),
        ("User-agent: *\nDisallow: /a%3Cd.html\n", "/a<d.html", False),
        ("User-agent: *\nDisallow: /cgi-bin/\n", "/cgi-bin%2Fx", False),
        ("User-agent: *\nDisallow: /cgi-bin/\n", "/./cgi-bin/x", False),
        ("User-agent: *\nDisallow: /cgi-bin/\n", "/cgi-binary", True),
        ("User-agent: *\nDisallow: /*.php$\n", "/x/../a.php", False),
        ("User-agent: *\nDisallow: /*.php$\n", "/a.php;jsessionid=1", False),
        ("User-agent: *\nDisallow: /*.php$\n", "/a.php5", True),
        ("User-agent: *\nDisallow: /p\n", "/P", True),
    ],
)
def test_robots_cases(body: str, url: str, allowed: bool) -> None:
    assert robots.RobotsTxt.parse(body).allowed("https://e.example" + url, "ExampleBot") is allowed


def test_aitxt_reserves_every_reading() -> None:
    parsed = aitxt.AiTxt.parse(b"User-Agent: *\nAllow: /\nDisallow: /private/\n")
    for url, _ in RESOLVED:
        found = aitxt.evaluate(
            parsed, "https://e.example" + url, status=200, error=None, token="Bot", source="s"
        )
        assert [f.stance for f in found] == [Stance.RESERVE], url
    found = aitxt.evaluate(
        parsed, "https://e.example/a/../private/x", status=200, error=None, token="Bot", source="s"
    )
    assert "matched as /private/x after resolving dot segments" in found[0].detail
    for url in UNRELATED:
        found = aitxt.evaluate(
            parsed, "https://e.example" + url, status=200, error=None, token="Bot", source="s"
        )
        assert [f.stance for f in found] == [Stance.ALLOW], url


def test_tdmrep_reserves_every_reading() -> None:
    parsed = tdmrep.TdmrepFile.parse(
        b'[{"location": "/private/", "tdm-reservation": 1},'
        b' {"location": "/", "tdm-reservation": 0}]'
    )
    for url, _ in RESOLVED:
        value = parsed.lookup("https://e.example" + url, source="s")
        assert value is not None and value.reservation == 1, url
    value = parsed.lookup("https://e.example//private/x", source="s")
    assert value is not None
    (finding,) = tdmrep.findings(value)
    assert "matched as /private/x after merging doubled slashes" in finding.detail
    for url in UNRELATED:
        value = parsed.lookup("https://e.example" + url, source="s")
        assert value is not None and value.reservation == 0, url


# -- the rule index against a plain scan ----------------------------------------------------------

_PIECE = st.sampled_from(["/", "a", "b", "ab", "/a", "ba", "%41", "c", "$"])
_RULE = st.tuples(st.lists(_PIECE, max_size=5), st.booleans(), st.booleans()).map(
    lambda t: ("*" if t[1] else "").join(t[0]) + ("$" if t[2] else "")
)


def _scan(patterns: list[str], path: str, by_length: bool) -> int | None:
    compiled = [compile_pattern(p) for p in patterns]
    order = sorted(range(len(compiled)), key=lambda i: -compiled[i].length) if by_length else None
    for index in order if order is not None else range(len(compiled)):
        pattern = compiled[index]
        if pattern.pieces and pattern._matches_normalised(path):
            return index
    return None


@settings(max_examples=300, deadline=None)
@given(
    st.lists(_RULE, min_size=0, max_size=80),
    st.lists(st.sampled_from("/ab%41c$?"), max_size=14).map(lambda s: "/" + "".join(s)),
    st.booleans(),
)
def test_index_picks_what_a_scan_picks(patterns: list[str], tail: str, by_length: bool) -> None:
    compiled = [compile_pattern(p) for p in patterns]
    order = (
        sorted(range(len(compiled)), key=lambda i: -compiled[i].length)
        if by_length
        else list(range(len(compiled)))
    )
    index = RuleIndex([(compiled[i], i) for i in order], by_length=by_length)
    path = normalise_path(tail)
    assert index.first(path) == _scan(patterns, path, by_length)


def test_index_with_many_wildcards_picks_what_a_scan_picks() -> None:
    rng = random.Random(9309)
    alphabet = "ab/c"
    for _ in range(40):
        patterns = [
            ("" if rng.random() < 0.3 else "/")
            + "*".join(
                "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 2)))
                for _ in range(rng.randint(1, 5))
            )
            + ("$" if rng.random() < 0.3 else "")
            for _ in range(rng.randint(30, 120))
        ]
        compiled = [compile_pattern(p) for p in patterns]
        index = RuleIndex(list(zip(compiled, range(len(compiled)), strict=True)), by_length=False)
        for _ in range(30):
            path = "/" + "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 20)))
            assert index.first(path) == _scan(patterns, path, False), (patterns, path)


def test_a_file_of_wildcards_at_the_size_limit_decides() -> None:
    rng = random.Random(1)
    lines = ["User-agent: *"]
    size = 0
    while size < robots.MAX_BYTES - 100:
        line = "Disallow: /*" + "*".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(4))
        lines.append(line)
        size += len(line) + 1
    lines.append("Allow: /*zzzzzzzzzz")
    parsed = robots.RobotsTxt.parse("\n".join(lines) + "\n")
    assert not parsed.allowed("https://e.example/" + "abcdefghijklmnopqrstuvwxyz" * 2, "Bot")
    assert parsed.allowed("https://e.example/0123456789", "Bot")
    assert parsed.allowed("https://e.example/zzzzzzzzzz-abcdefghijklmnopqrstuvwxyz", "Bot")


# -- a real crawl ---------------------------------------------------------------------------------


def test_crawl_excludes_every_reading_of_a_reserved_path(tmp_path: Path) -> None:
    routes = {"/robots.txt": text(_PRIVATE)}
    # Scrapy's duplicate filter would merge some spellings before the add-on
    # sees them; every spelling must be judged and recorded on its own.
    crawl_settings = {
        "DOWNLOAD_TIMEOUT": 5,
        "USER_AGENT": TEST_UA,
        "DUPEFILTER_CLASS": "scrapy.dupefilters.BaseDupeFilter",
    }
    with FaultServer(routes) as server:
        server.fallback = html("a page")
        reserved = [server.url(path) for path, _ in RESOLVED]
        unrelated = [server.url(path) for path in UNRELATED]
        result = run_crawl(tmp_path / "out", reserved + unrelated, crawl_settings)
        served = {path for path in server._hits if "private" in path}
    assert served == {"/privateer", "/private", "/a/private/x"}
    assert result.item_urls == set(unrelated)
    # One record per URL (Scrapy escapes what it requests, so two spellings may
    # be recorded under one URL).
    records = [record for record in result.ledger if record["verdict"] == "reserved"]
    assert len(records) == len(reserved)
    for record in records:
        assert record["stage"] == "origin"
        assert record["reasons"][0]["signal"] == "robots.txt"
        assert record["reasons"][0]["rule"] == "Disallow: /private/"
    assert result.stats["optout/excluded_count"] == len(reserved)
