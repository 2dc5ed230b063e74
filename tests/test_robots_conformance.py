"""robots.txt conformance: RFC 9309 vectors, Google's and Protego's test suites, real files.

Expectations follow RFC 9309. Where Google's or Protego's suite expects
something else, the case is listed in ``GOOGLE_DEVIATIONS`` or
``PROTEGO_DEVIATIONS`` with our expectation and the reason; the same list is
in ``docs/robots-deviations.md``.
"""

from __future__ import annotations

import base64
import gzip
import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from scrapy_optout.protocols.agents import AgentCatalogue
from scrapy_optout.protocols.patterns import compile_pattern, normalise_path
from scrapy_optout.protocols.robots import (
    MAX_BYTES,
    RobotsTxt,
    evaluate,
    valid_product_token,
)
from scrapy_optout.verdict import Purpose, Stance

CORPORA = Path(__file__).resolve().parent.parent / "fixtures" / "corpora"


def _jsonl(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.strip()]


def _body(record: dict[str, Any]) -> str | bytes:
    if record.get("robotstxt") is not None:
        return str(record["robotstxt"])
    return base64.b64decode(record["robotstxt_base64"])


GOOGLE = _jsonl(CORPORA / "google-robotstxt-tests" / "cases.jsonl")
PROTEGO = _jsonl(CORPORA / "protego-tests" / "can_fetch_cases.jsonl")
RFC = json.loads((CORPORA / "rfc9309-examples" / "rfc9309-vectors.json").read_text("utf-8"))


def _kind(kind: str) -> list[dict[str, Any]]:
    return [case for case in GOOGLE if case["kind"] == kind]


# -- Google's suite -------------------------------------------------------------------

#: Google cases where RFC 9309 (or a documented choice of ours) gives another
#: answer: case id -> (our expected result, reason).
GOOGLE_DEVIATIONS: dict[str, tuple[bool, str]] = {
    "google-052": (
        True,
        "a crawler identity that is not a valid product token ('Foo Bar') is matched against "
        "user-agent values spelled in full, so 'User-Agent: Foo Bar' binds it (Google: only 'Foo')",
    ),
    "google-075": (
        True,
        "RFC 9309 §2.2.2: non-ASCII characters are compared percent-encoded, in the URL too; "
        "Google's matcher expects the caller to have encoded the URL",
    ),
    "google-077": (
        True,
        "RFC 9309 §2.2.2: non-ASCII characters are compared percent-encoded, in the URL too",
    ),
    "google-078": (
        True,
        "RFC 9309 §2.2.2 and figure 4: %-encoded unreserved characters (%62%61%7A = baz) are "
        "decoded before comparison; Google's library does not",
    ),
    "google-090": (
        False,
        "Google-only: 'Allow: /x/index.html' also allowing '/x/' is not in RFC 9309",
    ),
    "google-095": (
        True,
        "Google-only: lines are cut at 16 663 bytes; we read lines whole (RFC 9309 sets only "
        "the 500 KiB file limit)",
    ),
    "google-098": (
        False,
        "Google-only: lines are cut at 16 663 bytes; we read lines whole",
    ),
}


@pytest.mark.parametrize("case", _kind("allowed"), ids=lambda c: c["id"])
def test_google_allowed(case: dict[str, Any]) -> None:
    expected = case["expected_allowed"]
    if case["id"] in GOOGLE_DEVIATIONS:
        expected = GOOGLE_DEVIATIONS[case["id"]][0]
        assert expected != case["expected_allowed"], "a deviation must differ from Google"
    robots = RobotsTxt.parse(_body(case))
    assert robots.allowed(case["url"], case["user_agent"]) is expected


def test_google_suite_is_complete() -> None:
    assert len(_kind("allowed")) == 145
    assert set(GOOGLE_DEVIATIONS) <= {c["id"] for c in _kind("allowed")}


@pytest.mark.parametrize("case", _kind("valid_user_agent"), ids=lambda c: c["id"])
def test_google_valid_user_agent(case: dict[str, Any]) -> None:
    assert valid_product_token(case["user_agent"]) is case["expected_valid"]


#: What each parse_stats case means for the parsed groups: Google counts
#: directives, we check the groups they produce.
_FOO_BAR = {"foo": ["Allow: /some/path"], "bar": ["Disallow: /"]}
GOOGLE_PARSE_EXPECTATIONS: dict[str, dict[str, list[str]]] = {
    # Line ends LF, CRLF, CR, mixed, and no final line end: the same two groups,
    # the Disallow on line 6 (Google's last_line_seen).
    "google-157": _FOO_BAR,
    "google-158": _FOO_BAR,
    "google-159": _FOO_BAR,
    "google-160": _FOO_BAR,
    "google-161": _FOO_BAR,
    # A whole or partial UTF-8 BOM is skipped.
    "google-162": {"foo": ["Allow: /AnyValue"]},
    "google-163": {"foo": ["Allow: /AnyValue"]},
    "google-164": {"foo": ["Allow: /AnyValue"]},
    # A broken BOM spoils the first line only: the Allow then has no group.
    "google-165": {},
    # A BOM inside the file spoils that line only.
    "google-166": {"foo": []},
}


@pytest.mark.parametrize("case", _kind("parse_stats"), ids=lambda c: c["id"])
def test_google_parse_stats(case: dict[str, Any]) -> None:
    robots = RobotsTxt.parse(_body(case))
    if "sitemap" in case["expected"]:
        assert robots.sitemaps == (case["expected"]["sitemap"],)
        return
    expected = GOOGLE_PARSE_EXPECTATIONS[case["id"]]
    groups = {token: robots.named_group(token) for token in robots.tokens()}
    assert {t: [r.text for r in g.rules] for t, g in groups.items() if g} == expected
    if "last_line_seen" in case["expected"]:
        bar = robots.named_group("bar")
        assert bar is not None
        assert bar.rules[-1].line == case["expected"]["last_line_seen"]


# Only URLs with a scheme, or paths: a crawler always has an absolute URL,
# and Google's reading of "a/b" (host "a", path "/b") is an implementation detail.
_ABSOLUTE = [
    c
    for c in _kind("path_params_query")
    if "://" in c["url"] or c["url"] == "" or c["url"].startswith("/")
]


#: path_params_query cases where we differ: case id -> (our path, reason).
GOOGLE_PATH_DEVIATIONS: dict[str, tuple[str, str]] = {
    "google-187": (
        "//a/b/c",
        "a string without a scheme is a path for us, even one starting with '//'; Google reads "
        "'//a' as a host. Crawlers pass absolute URLs, so this never arises",
    ),
}


@pytest.mark.parametrize("case", _ABSOLUTE, ids=lambda c: c["id"])
def test_google_path_params_query(case: dict[str, Any]) -> None:
    expected = GOOGLE_PATH_DEVIATIONS.get(case["id"], (case["expected_path"], ""))[0]
    assert normalise_path(case["url"]) == expected


@pytest.mark.parametrize("case", _kind("escape_pattern"), ids=lambda c: c["id"])
def test_google_escape_pattern(case: dict[str, Any]) -> None:
    assert compile_pattern(case["pattern"]).pieces == (case["expected"],)


# -- Protego's suite ------------------------------------------------------------------

_P4 = (
    "RFC 9309 §2.2.4: an unknown line between user-agent lines does not end the group, so "
    "'*' shares the group of ia_archiver (Disallow: /); Protego splits groups (P4)"
)
_P1 = (
    "exact token matching: the crawler's token must equal a group token; Protego matches a "
    "group token found inside the crawler's name (P1)"
)

#: Protego cases where we follow RFC 9309 / Google instead:
#: case id -> (our expected result, reason).
PROTEGO_DEVIATIONS: dict[str, tuple[bool, str]] = {
    "protego-117": (True, _P1 + " (a whole User-Agent string is not a product token)"),
    "protego-240": (False, _P4),
    "protego-241": (False, _P4),
    "protego-242": (False, _P4),
    "protego-249": (
        True,
        "'user agent harry potter' (no colon, four words) is not read as a line; Google accepts "
        "a missing colon only in two-word lines",
    ),
    "protego-252": (
        True,
        "'user-agent: foo*bot' names 'foo' (cut at the first character outside a product "
        "token, as Google does); Protego deletes the '*' and reads 'foobot'",
    ),
    "protego-269": (
        False,
        "Google-only: 'Allow: /x/index.html' also allowing '/x/' is not in RFC 9309",
    ),
    "protego-297": (
        True,
        "RFC 9309 §2.2.3: a final '$' anchors the pattern; Protego also reads it as a literal "
        "'$', so 'Disallow: /x/abc$' blocks '/x/abc$'",
    ),
    "protego-298": (True, "as protego-297, with the '$' written %24 in the URL"),
    "protego-300": (
        True,
        "a pattern must start with '/' or '*' to match a path; Protego turns "
        "'Disallow: http://host/' into '/http://host/'",
    ),
    "protego-315": (False, _P1),
    "protego-321": (True, _P1),
    "protego-322": (False, _P1),
    "protego-324": (True, _P1),
    "protego-325": (False, _P1),
}


@pytest.mark.parametrize("case", PROTEGO, ids=lambda c: c["id"])
def test_protego_can_fetch(case: dict[str, Any]) -> None:
    expected = case["expected_allowed"]
    if case["id"] in PROTEGO_DEVIATIONS:
        expected = PROTEGO_DEVIATIONS[case["id"]][0]
        assert expected != case["expected_allowed"], "a deviation must differ from Protego"
    robots = RobotsTxt.parse(case["robotstxt"])
    assert robots.allowed(case["url"], case["user_agent"]) is expected


def test_protego_suite_is_complete() -> None:
    assert len(PROTEGO) == 378
    assert set(PROTEGO_DEVIATIONS) <= {c["id"] for c in PROTEGO}


# -- RFC 9309 -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "vector",
    RFC["match_vectors"],
    ids=[f"{i:02d}-{v['section'].split(' ')[0]}" for i, v in enumerate(RFC["match_vectors"])],
)
def test_rfc9309_match_vector(vector: dict[str, Any]) -> None:
    robots = RobotsTxt.parse(vector["robotstxt"])
    assert robots.allowed(vector["url"], vector["user_agent"]) is vector["expected_allowed"]


def test_rfc9309_vector_count() -> None:
    assert len(RFC["match_vectors"]) == 44


@pytest.mark.parametrize("row", RFC["figure4_percent_encoding_rows"], ids=lambda r: r["path"])
def test_rfc9309_figure4(row: dict[str, str]) -> None:
    # The three columns are one path: each spelling has the same canonical form,
    # and a rule written in any column matches a URL written in any other.
    columns = (row["path"], row["encoded_path"], row["path_to_match"])
    assert len({normalise_path(column) for column in columns}) == 1
    for rule in columns:
        robots = RobotsTxt.parse(f"User-agent: *\nDisallow: {rule}\n")
        for url in columns:
            assert not robots.allowed("https://e.example" + url, "ExampleBot"), (rule, url)


# -- robots-txt.md §13 edge cases (the parser-level ones) ---------------------------------

_BIG = "User-agent: *\nDisallow: /kept\n" + "# padding\n" * 52_100 + "Disallow: /\n"

#: (number in robots-txt.md §13, robots.txt, crawler token, URL, expected allowed).
EDGE_CASES: list[tuple[str, str | bytes, str, str, bool]] = [
    ("01", "User-agent: examplebot\nDisallow: /\n", "ExampleBot", "/x", False),
    ("02a", "User-agent: examplebot\nDisallow: /a\n\nUser-agent: ExampleBot\nDisallow: /b\n",
     "ExampleBot", "/a", False),
    ("02b", "User-agent: examplebot\nDisallow: /a\n\nUser-agent: ExampleBot\nDisallow: /b\n",
     "ExampleBot", "/b", False),
    ("02c", "User-agent: examplebot\nDisallow: /a\n\nUser-agent: ExampleBot\nDisallow: /b\n",
     "ExampleBot", "/c", True),
    ("03", "User-agent: *\nDisallow: /private\n\nUser-agent: ExampleBot\nAllow: /x\n",
     "ExampleBot", "/private/1", True),
    ("04", "User-agent: *\nDisallow: /\n\nUser-agent: ExampleBot\n", "ExampleBot", "/page", True),
    ("05", "User-agent: *\nAllow: /folder\nDisallow: /folder\n", "ExampleBot", "/folder/page",
     True),
    ("06", "User-agent: *\nAllow: /page\nDisallow: /*.ph\n", "ExampleBot", "/page.php5", True),
    ("07a", "User-agent: *\nAllow: /$\nDisallow: /\n", "ExampleBot", "/", True),
    ("07b", "User-agent: *\nAllow: /$\nDisallow: /\n", "ExampleBot", "/index.html", False),
    ("08a", "User-agent: *\nDisallow: /*.pdf$\n", "ExampleBot", "/a.pdf", False),
    ("08b", "User-agent: *\nDisallow: /*.pdf$\n", "ExampleBot", "/a.pdf?x=1", True),
    ("08c", "User-agent: *\nDisallow: /*.pdf$\n", "ExampleBot", "/a.PDF", True),
    ("09a", "User-agent: *\nDisallow: /fish\n", "ExampleBot", "/fishheads", False),
    ("09b", "User-agent: *\nDisallow: /fish\n", "ExampleBot", "/fish.html", False),
    ("09c", "User-agent: *\nDisallow: /fish\n", "ExampleBot", "/Fish", True),
    ("09d", "User-agent: *\nDisallow: /fish\n", "ExampleBot", "/catfish", True),
    ("10", "User-agent: ExampleBot\nDisallow:\n\nUser-agent: *\nDisallow: /\n", "ExampleBot",
     "/x", True),
    ("11", "Disallow: /\n\nUser-agent: *\nDisallow: /private\n", "ExampleBot", "/page", True),
    ("12", "User-agent: a\nSitemap: https://example.com/s.xml\nUser-agent: b\nDisallow: /\n",
     "a", "/x", False),
    ("13a", "User-agent: a\nContent-Signal: ai-train=no\nUser-agent: b\nDisallow: /\n", "a",
     "/x", False),
    ("13b", "User-agent: a\nContent-Usage: train-ai=n\nUser-agent: b\nDisallow: /\n", "a",
     "/x", True),
    ("13c", "User-agent: a\nContent-Usage: train-ai=n\nUser-agent: b\nDisallow: /\n", "b",
     "/x", False),
    ("14", "User-agent: *\nDisallow: /abc\n", "ExampleBot", "/%61bc", False),
    # An encoded slash is a reading servers resolve (nginx decodes it): reserved.
    ("15", "User-agent: *\nDisallow: /a/b\n", "ExampleBot", "/a%2Fb", False),
    ("16", "User-agent: *\nDisallow: /caf%C3%A9\n", "ExampleBot", "https://e.example/café", False),
    ("17a", "User-agent: *\nDisallow: /path/foo-%24\n", "ExampleBot", "/path/foo-$", False),
    ("17b", "User-agent: *\nDisallow: /path/foo-%24\n", "ExampleBot", "/path/foo-", True),
    ("18a", "User-agent: *\nDisallow: /x$y\n", "ExampleBot", "/x$y", False),
    ("18b", "User-agent: *\nDisallow: /x$y\n", "ExampleBot", "/x", True),
    ("19a", _BIG, "ExampleBot", "/page", True),  # the Disallow: / lies past 500 KiB
    ("19b", _BIG, "ExampleBot", "/kept", False),
    ("20", b"\xef\xbb\xbfUser-agent: *\nDisallow: /\n", "ExampleBot", "/x", False),
    ("21", "user-agent *\ndisallow /\n", "ExampleBot", "/x", False),
    ("22", "User-agent: ExampleBot/1.0\nDisallow: /\n", "ExampleBot", "/x", False),
    ("23", "User-agent: * bot\nDisallow: /\n", "ExampleBot", "/x", False),
    ("24", "User-agent: bot\nDisallow: /\n", "ExampleBot", "/x", True),
    ("32a", "User-agent: *\nDisallow: /" + "a" * 20_000 + "/x\n", "ExampleBot",
     "/" + "a" * 20_000 + "/x", False),
    ("32b", "User-agent: *\nDisallow: /" + "a" * 20_000 + "/x\n", "ExampleBot",
     "/" + "a" * 20_000 + "/y", True),  # no per-line cut: the rule keeps its whole path
    ("33", "User-agent: *\nAllow: /dir/index.html\nDisallow: /dir/\n", "ExampleBot", "/dir/",
     False),
    ("34", "User-agent: *\nDisallow: /a$\n", "ExampleBot", "https://e.example/a#top", False),
]  # fmt: skip


@pytest.mark.parametrize(
    ("body", "token", "url", "expected"),
    [case[1:] for case in EDGE_CASES],
    ids=[case[0] for case in EDGE_CASES],
)
def test_edge_case(body: str | bytes, token: str, url: str, expected: bool) -> None:
    assert RobotsTxt.parse(body).allowed(url, token) is expected


def test_edge_case_19_file_is_cut_at_500_kib() -> None:
    assert len(_BIG.encode()) > MAX_BYTES
    assert RobotsTxt.parse(_BIG).truncated
    assert not RobotsTxt.parse("User-agent: *\nDisallow: /\n").truncated


# -- 2019 real-world corpus -------------------------------------------------------------


@cache
def _corpus_2019() -> list[dict[str, Any]]:
    path = CORPORA / "protego-robotstxt-2019" / "robotstxt.jsonl.gz"
    with gzip.open(path, "rt", encoding="utf-8") as lines:
        return [json.loads(line) for line in lines]


def _raw(record: dict[str, Any]) -> bytes:
    if record["body"] is not None:
        return str(record["body"]).encode("utf-8")
    return base64.b64decode(record["body_base64"])


def test_2019_corpus_parses_and_evaluates() -> None:
    records = _corpus_2019()
    assert len(records) == 4231
    catalogue = AgentCatalogue.default()
    reserving_sites = 0
    for record in records:
        robots = RobotsTxt.parse(_raw(record))
        source = record["url"]
        reserved = False
        for token in ("MyBot", "Googlebot", "GPTBot", "*"):
            for path in ("/", "/search?q=x", "/wp-admin/", "/robots.txt"):
                found = evaluate(
                    robots,
                    "https://" + record["domain"] + path,
                    status=200,
                    error=None,
                    token=token,
                    source=source,
                    catalogue=catalogue,
                )
                assert found, "the own group always yields a finding"
                if token == "MyBot" and path == "/":
                    reserved = any(
                        f.stance is Stance.RESERVE and Purpose.TRAIN in f.purposes for f in found
                    )
        reserving_sites += reserved
    # A pre-AI baseline: only old dataset crawlers (CCBot, omgili...) and the
    # sites that shut out every crawler reserve anything; nowhere near a tenth.
    assert 0 < reserving_sites < len(records) // 10
