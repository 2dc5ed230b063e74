"""Spawning ai.txt: parsing, group choice, matching, fetch outcomes, real-world files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scrapy_optout.protocols.aitxt import PURPOSES, AiTxt, evaluate
from scrapy_optout.verdict import Finding, Purpose, Signal, Stance, Where, decide

# These properties are about outcomes, not speed on a loaded CI machine.
_NO_DEADLINE = settings(deadline=None)

SIGNALS = Path(__file__).resolve().parent.parent / "fixtures/corpora/ai-signals-in-the-wild"
SOURCE = "https://example.com/ai.txt"
TOKEN = "ExampleBot"

GENERATOR_OUTPUT = """\
# Spawning AI
# Prevent datasets from using the following file types

User-Agent: *
Disallow: *.txt
Disallow: *.pdf
Disallow: *.html
Disallow: *.jpg
Disallow: *.png
Disallow: *.mp3
Disallow: *.mp4
Disallow: *.py
Disallow: /
Disallow: *
"""


def _findings(text: str, url: str, *, token: str = TOKEN) -> list[Finding]:
    parsed = AiTxt.parse(text.encode(), content_type="text/plain")
    return evaluate(parsed, url, status=200, error=None, token=token, source=SOURCE)


def _stance(text: str, url: str, *, token: str = TOKEN) -> Stance | None:
    """The one finding's stance, or ``None`` when ai.txt says nothing about *url*."""
    result = _findings(text, url, token=token)
    assert len(result) <= 1
    return result[0].stance if result else None


def _records() -> list[dict[str, Any]]:
    path = SIGNALS / "signals.jsonl"
    if not path.exists():
        return []
    records = map(json.loads, path.read_text(encoding="utf-8").splitlines())
    return [r for r in records if r["kind"] == "ai.txt"]


# -- decision table of specs/ai-txt.md §6 ----------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "error", "detail"),
    [
        (404, None, "ai.txt not available (HTTP 404)"),
        (410, None, "ai.txt not available (HTTP 410)"),
        (500, None, "ai.txt not available (HTTP 500)"),
        (503, None, "ai.txt not available (HTTP 503)"),
        (301, None, "ai.txt not available (HTTP 301)"),
        (None, "timeout", "ai.txt not available (timeout)"),
        (200, "connection reset", "ai.txt not available (connection reset)"),
    ],
)
def test_fetch_failures_are_unknown_never_reserved(
    status: int | None, error: str | None, detail: str
) -> None:
    # Even a body that would reserve everything is not used when the fetch failed.
    parsed = AiTxt.parse(GENERATOR_OUTPUT.encode())
    result = evaluate(parsed, "/a.jpg", status=status, error=error, token=TOKEN, source=SOURCE)
    assert [(f.stance, f.detail, f.source) for f in result] == [(Stance.UNKNOWN, detail, SOURCE)]
    assert not decide(result, "train").reserved


def test_no_body_is_unknown() -> None:
    (finding,) = evaluate(None, "/", status=200, error=None, token=TOKEN, source=SOURCE)
    assert finding.stance is Stance.UNKNOWN


@pytest.mark.parametrize(
    ("text", "url", "expected"),
    [
        ("User-Agent: GPTBot\nDisallow: /\n", "/", None),  # no group for us and no "*"
        ("User-Agent: *\nDisallow: /\n", "/a", Stance.RESERVE),
        ("User-Agent: *\nAllow: /\n", "/a", Stance.ALLOW),
        ("User-Agent: *\nDisallow: /private/\n", "/public/a", None),  # no match
        ("User-Agent: *\nAllow: /a/\nDisallow: /\n", "/a/b", Stance.ALLOW),  # longest wins
        ("User-Agent: *\nAllow: /\nDisallow: /a/\n", "/a/b", Stance.RESERVE),
        ("User-Agent: *\nAllow: /folder\nDisallow: /folder\n", "/folder/x", Stance.ALLOW),  # tie
        ("User-Agent: *\nDisallow: /folder\nAllow: /folder\n", "/folder/x", Stance.ALLOW),
        ("User-Agent: *\nDisallow:\n", "/a", None),  # an empty rule matches nothing
    ],
)
def test_decision_table(text: str, url: str, expected: Stance | None) -> None:
    assert _stance(text, url) == expected


# -- edge cases of specs/ai-txt.md §7 --------------------------------------------------------------


@pytest.mark.parametrize(
    "url", ["/index.html", "/", "/a/b.jpg", "/article/123", "https://example.com/?q=1"]
)
def test_edge_1_generator_output_disallows_everything(url: str) -> None:
    (finding,) = _findings(GENERATOR_OUTPUT, url)
    assert finding.stance is Stance.RESERVE
    assert finding.rule in ("Disallow: /", "Disallow: *") or finding.rule.startswith("Disallow: *.")


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("/a/b.jpg", Stance.RESERVE),
        ("/a/b.JPG", None),  # case-sensitive
        ("/a/b.jpg?w=200", Stance.RESERVE),  # no "$": the query does not matter
        ("/a/b.jpgx", Stance.RESERVE),  # prefix semantics, no implied "$"
        ("https://cdn.example.com/x/y.jpg#frag", Stance.RESERVE),
        ("/a/b.png", None),
    ],
)
def test_edge_2_extension_rule_uses_robots_semantics(url: str, expected: Stance | None) -> None:
    text = "User-Agent: *\nDisallow: *.jpg\n"
    assert _stance(text, url) == expected
    if expected is Stance.RESERVE:
        assert _findings(text, url)[0].rule == "Disallow: *.jpg"


def test_edge_3_allow_all() -> None:
    (finding,) = _findings("User-Agent: *\nAllow: /\n", "/anything")
    assert (finding.stance, finding.rule) == (Stance.ALLOW, "Allow: /")
    assert not decide([finding], "train").reserved


def test_edge_4_our_group_beats_the_star_group() -> None:
    text = "User-Agent: ExampleBot\nDisallow: /\n\nUser-Agent: *\nAllow: /\n"
    assert _stance(text, "/a") is Stance.RESERVE
    assert _stance(text, "/a", token="OtherBot") is Stance.ALLOW
    assert _findings(text, "/a")[0].agent == "examplebot"
    assert _findings(text, "/a", token="OtherBot")[0].agent == "*"


@pytest.mark.parametrize("content_type", ["text/html", "text/plain", None])
def test_edge_5_html_app_shell_is_not_an_ai_txt(content_type: str | None) -> None:
    body = b'<!doctype html><html><head><script src="/app.js"></script></head><body></body></html>'
    parsed = AiTxt.parse(body, content_type=content_type)
    assert parsed.error is not None and parsed.error.startswith("body is HTML")
    (finding,) = evaluate(parsed, "/", status=200, error=None, token=TOKEN, source=SOURCE)
    assert finding.stance is Stance.UNKNOWN and "body is HTML" in finding.detail


def test_edge_6_markdown_is_not_an_ai_txt() -> None:
    body = b"# ai.txt for example.com\n\n## About\n- **Owner**: Jane\n- Site: [home](https://x)\n"
    parsed = AiTxt.parse(body)
    assert parsed.error is not None and "Markdown" in parsed.error


def test_edge_7_pages_without_an_extension_escape_extension_lists() -> None:
    assert _stance("User-Agent: *\nDisallow: *.html\n", "/article/123") is None


def test_edge_9_ai_txt_speaks_about_training_only() -> None:
    (finding,) = _findings("User-Agent: *\nDisallow: /\n", "/a")
    assert finding.purposes == PURPOSES == {Purpose.TRAIN}
    assert decide([finding], "train").reserved
    for purpose in ("crawl", "search", "tdm", "input"):
        assert not decide([finding], purpose).reserved


def test_finding_shape() -> None:
    (finding,) = _findings("User-agent: *\n  Disallow: *.jpg   # images\n", "/a.jpg")
    assert finding.signal is Signal.AITXT and finding.where is Where.FILE
    assert (finding.rule, finding.source) == ("Disallow: *.jpg", SOURCE)
    assert "line 2" in finding.detail


# -- robots syntax ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "token", "expected"),
    [
        ("user-agent: examplebot\ndisallow: /\n", "ExampleBot", Stance.RESERVE),
        ("User-Agent: ExampleBot/2.0\nDisallow: /\n", "ExampleBot", Stance.RESERVE),
        ("User-Agent: ExampleBot\nDisallow: /\n", "ExampleBot/2.0 (+https://x)", Stance.RESERVE),
        ("User-Agent: Bot\nDisallow: /\n", "ExampleBot", None),  # no substring matching
        ("User-Agent: * bot\nDisallow: /\n", "ExampleBot", Stance.RESERVE),  # still "*"
        # Groups for one token merge; the "*" group is then ignored entirely.
        (
            "User-Agent: ExampleBot\nAllow: /a\n\nUser-Agent: *\nDisallow: /\n\n"
            "User-Agent: examplebot\nDisallow: /b\n",
            "ExampleBot",
            Stance.RESERVE,
        ),
        # A specific group without rules still shadows "*".
        ("User-Agent: ExampleBot\n\nUser-Agent: *\nDisallow: /\n", "ExampleBot", Stance.RESERVE),
        # Consecutive user-agent lines share the rules that follow.
        ("User-Agent: a\nUser-Agent: ExampleBot\nDisallow: /\n", "ExampleBot", Stance.RESERVE),
        # Other records do not end a group.
        (
            "User-Agent: ExampleBot\nSitemap: /s.xml\nUser-Agent: b\nDisallow: /\n",
            TOKEN,
            Stance.RESERVE,
        ),
        # Rules before any user-agent belong to no group.
        ("Disallow: /\nUser-Agent: *\nAllow: /x\n", "ExampleBot", None),
    ],
)
def test_groups(text: str, token: str, expected: Stance | None) -> None:
    assert _stance(text, "/b", token=token) == expected


def test_merged_groups_keep_all_rules() -> None:
    text = (
        "User-Agent: ExampleBot\nDisallow: /a\n\nUser-Agent: *\nDisallow: /\n\n"
        "User-Agent: examplebot\nDisallow: /b\n"
    )
    parsed = AiTxt.parse(text.encode())
    rules = parsed.rules_for("ExampleBot")
    assert rules is not None and [r.line for r in rules] == ["Disallow: /a", "Disallow: /b"]
    assert _stance(text, "/c") is None


@pytest.mark.parametrize(
    "body",
    [
        b"\xef\xbb\xbfUser-Agent: *\nDisallow: /\n",  # byte-order mark
        b"User-Agent: *\r\nDisallow: /\r\n",  # CRLF
        b"User-Agent: *\rDisallow: /\r",  # CR
        b"USER-AGENT : *\nDISALLOW : /\n",  # key case and space before the colon
        b"# caf\xe9 (Latin-1 comment)\nUser-Agent: *\nDisallow: /\n",
        b"User-Agent: *\nDisallow: / # everything\n",
        b"User-Agent: *\nLicense: CC BY 4.0\nDisallow: /\n",
    ],
)
def test_syntax_variants(body: bytes) -> None:
    parsed = AiTxt.parse(body)
    assert parsed.error is None
    result = evaluate(parsed, "/x", status=200, error=None, token=TOKEN, source=SOURCE)
    assert [f.stance for f in result] == [Stance.RESERVE]


def test_only_the_first_512_kib_are_read() -> None:
    body = b"User-Agent: *\n" + b"# padding\n" * 60_000 + b"Disallow: /\n"
    parsed = AiTxt.parse(body)
    assert parsed.error == "User-Agent lines but no Allow or Disallow rules"


# -- bodies that are not an ai.txt -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"", "body is empty"),
        (b" \n\t\n", "body is empty"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00", "body is binary"),
        (bytes(range(128, 256)) * 8, "body is binary"),
        (b"   <!DOCTYPE html>\n<html lang=en>", "body is HTML"),
        (b"<html><body>404 Not Found</body></html>", "body is HTML"),
        (b"\n\n<head><title>Loading</title></head>", "body is HTML"),
        (b"Warning: include(x.php) failed\n<!DOCTYPE html>\n<html>", "body is HTML"),
        (b'<?xml version="1.0"?><Error>NoSuchKey</Error>', "body is XML"),
        (b'{"ai_training": "disallowed"}', "body is JSON"),
        (b'[{"user-agent": "*"}]', "body is JSON"),
        (b"# AI Instructions\n\n## Site\n- **Name**: Blog\n", "Markdown"),
        (b"# comments only\n# nothing else\n", "only comments"),
        (b"This site does not allow AI training.\nThank you for respecting it.", "prose"),
        (b"Train-ai: disallow\nTDM-reservation: 1\n", "home-made vocabulary"),
        (b"*:no-training\n", "home-made vocabulary"),
        (b"User-Agent: *\nDisallow-Training: /\n", "Disallow-Training"),
        (b"User-Agent: *\n", "no Allow or Disallow rules"),
        (b"Disallow: /\n", "before any User-Agent"),
    ],
)
def test_not_an_ai_txt(body: bytes, reason: str) -> None:
    parsed = AiTxt.parse(body)
    assert parsed.error is not None and reason in parsed.error
    result = evaluate(parsed, "/", status=200, error=None, token=TOKEN, source=SOURCE)
    assert [f.stance for f in result] == [Stance.UNKNOWN]
    assert result[0].detail.startswith("not an ai.txt: ")
    assert not decide(result, "train").reserved


def test_error_names_the_content_type() -> None:
    parsed = AiTxt.parse(b"<html></html>", content_type="text/html; charset=utf-8")
    assert parsed.error == (
        "body is HTML, not robots-style lines (Content-Type: text/html; charset=utf-8)"
    )


def test_robots_lines_served_as_html_are_still_read() -> None:
    parsed = AiTxt.parse(b"User-Agent: *\nDisallow: /\n", content_type="text/html")
    assert parsed.error is None


# -- real-world files ------------------------------------------------------------------------------

# What each corpus file says about the site root, by (repository, path).
_REAL_WORLD = {
    ("Aias/barnsworthburning", "static/ai.txt"): (Stance.RESERVE, "Disallow: /"),
    ("Chemaclass/chemaclass.com", "static/.well-known/ai.txt"): (Stance.ALLOW, "Allow: /"),
    ("FUHI12342/NewFUHI", "static/ai.txt"): (Stance.UNKNOWN, "Disallow-Training"),
    ("ashwingopalsamy/site", "static/ai.txt"): (Stance.UNKNOWN, "Allow-training"),
    ("avelino/avelino.run", "static/ai.txt"): (Stance.UNKNOWN, "Markdown"),
    ("chrede88/qubt", "static/ai.txt"): (Stance.RESERVE, "Disallow: *"),
    ("hacdias/hacdias.com", "static/ai.txt"): (Stance.RESERVE, "Disallow: /"),
    ("healsdata/ai-training-opt-out", "ai.txt"): (Stance.RESERVE, "Disallow: /"),
    ("jsdosanj/gurmukhifix", "docs/ai.txt"): (Stance.UNKNOWN, "home-made vocabulary"),
    ("moxiespirit/oathscore", "public/ai.txt"): (Stance.UNKNOWN, "home-made vocabulary"),
    ("thatmlopsguy/thatmlopsguy.github.io", "ai.txt"): (Stance.RESERVE, "Disallow: /"),
    ("thatmlopsguy/thatmlopsguy.github.io", "static/ai.txt"): (Stance.RESERVE, "Disallow: /"),
    ("zhangshi0512/zhangshi0512.github.io", "ai.txt"): (Stance.UNKNOWN, "home-made vocabulary"),
}


def test_corpus_is_present() -> None:
    assert (SIGNALS / "signals.jsonl").exists(), "copy the ai-signals-in-the-wild corpus"
    assert {(r["source_repo"], r["source_path"]) for r in _records()} == set(_REAL_WORLD)


@pytest.mark.parametrize(
    "record",
    _records(),
    ids=lambda r: f"{r['source_repo']}/{r['source_path']}" if isinstance(r, dict) else "",
)
def test_real_world_files(record: dict[str, Any]) -> None:
    stance, evidence = _REAL_WORLD[(record["source_repo"], record["source_path"])]
    parsed = AiTxt.parse(record["body"].encode(), content_type="text/plain")
    result = evaluate(
        parsed, "https://example.com/", status=200, error=None, token=TOKEN, source=SOURCE
    )
    (finding,) = result
    assert finding.stance is stance
    if stance is Stance.UNKNOWN:
        assert parsed.error is not None and evidence in parsed.error
    else:
        assert parsed.error is None and finding.rule == evidence
    assert decide(result, "train").reserved is (stance is Stance.RESERVE)


# -- robustness ------------------------------------------------------------------------------------

_lines = st.lists(
    st.sampled_from(
        ["User-Agent: *", "User-Agent: ExampleBot", "Allow: /", "Disallow: /a*", "Disallow: *.jpg$"]
    )
    | st.text(max_size=30),
    max_size=12,
)


@_NO_DEADLINE
@given(st.binary(max_size=500), st.text(max_size=40))
def test_any_bytes_without_raising(body: bytes, url: str) -> None:
    parsed = AiTxt.parse(body)
    result = evaluate(parsed, url, status=200, error=None, token=TOKEN, source=SOURCE)
    assert len(result) <= 1


@_NO_DEADLINE
@given(_lines, st.text(max_size=40), st.sampled_from(["ExampleBot", "x", "*", ""]))
def test_any_lines_without_raising(lines: list[str], url: str, token: str) -> None:
    parsed = AiTxt.parse("\n".join(lines).encode("utf-8", "surrogatepass"))
    result = evaluate(parsed, url, status=200, error=None, token=token, source=SOURCE)
    assert all(f.purposes == PURPOSES for f in result)
    if parsed.error is not None:
        assert [f.stance for f in result] == [Stance.UNKNOWN]
