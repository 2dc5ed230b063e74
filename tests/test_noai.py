"""Tests for ``noai`` / ``noimageai``, :mod:`scrapy_optout.protocols.noai`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from scrapy_optout.protocols.html import MetaTag, head_meta
from scrapy_optout.protocols.noai import (
    PURPOSES,
    image_findings,
    is_image_type,
    meta_findings,
    xrobots_findings,
)
from scrapy_optout.verdict import Finding, Purpose, Signal, Stance, Where, decide

CORPUS = Path(__file__).parent.parent / "fixtures" / "corpora" / "ai-signals-in-the-wild"
PAGE = "https://art.example/work/1"
TOKEN = "ExampleBot"


def summary(findings: list[Finding]) -> list[tuple[str, str | None]]:
    """``(rule, agent)`` of each finding, after checking what all share."""
    for f in findings:
        assert f.signal is Signal.NOAI
        assert f.stance is Stance.RESERVE
        assert f.purposes == PURPOSES == {Purpose.TRAIN, Purpose.INPUT}
        assert f.source == PAGE
    return [(f.rule, f.agent) for f in findings]


# -- X-Robots-Tag ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "token", "is_image", "expected"),
    [
        # The edge cases of the noai spec, section 6, in its order.
        (["noai"], TOKEN, False, [("X-Robots-Tag: noai", None)]),
        (["NOAI"], TOKEN, False, [("X-Robots-Tag: NOAI", None)]),
        (["examplebot: noai"], TOKEN, False, [("X-Robots-Tag: examplebot: noai", TOKEN)]),
        (["examplebot: noai"], "OtherBot", False, []),
        (["otherbot: noai, noimageai"], TOKEN, True, []),
        (["noindex", "noai"], TOKEN, False, [("X-Robots-Tag: noai", None)]),
        (["noindex, noai"], TOKEN, False, [("X-Robots-Tag: noindex, noai", None)]),
        (["max-snippet:0, noai"], TOKEN, False, [("X-Robots-Tag: max-snippet:0, noai", None)]),
        (["unavailable_after: 2030-01-01"], TOKEN, False, []),
        (["noimageindex"], TOKEN, True, []),
        (["noarchive, nocache"], TOKEN, False, []),
        # noimageai binds an image response, not a page.
        (["noimageai"], TOKEN, False, []),
        (["noimageai"], TOKEN, True, [("X-Robots-Tag: noimageai", None)]),
        (["noai, noimageai"], TOKEN, True, [("X-Robots-Tag: noai, noimageai", None)]),
        # Valued rules are not crawler names, wherever they stand.
        (
            ["unavailable_after: 2030-01-01, noai"],
            TOKEN,
            False,
            [("X-Robots-Tag: unavailable_after: 2030-01-01, noai", None)],
        ),
        (
            ["max-image-preview:large, max-video-preview:-1, noai"],
            TOKEN,
            False,
            [("X-Robots-Tag: max-image-preview:large, max-video-preview:-1, noai", None)],
        ),
        (["max-image-preview:large"], TOKEN, True, []),
        # A crawler name later on a line (lines merged by a proxy) opens a new scope.
        (
            ["noindex, examplebot: noai"],
            TOKEN,
            False,
            [("X-Robots-Tag: noindex, examplebot: noai", TOKEN)],
        ),
        (["noindex, otherbot: noai"], TOKEN, False, []),
        (["examplebot: noindex, otherbot: noai"], TOKEN, False, []),
        (
            ["examplebot: noindex, otherbot: noai"],
            "OtherBot",
            False,
            [("X-Robots-Tag: examplebot: noindex, otherbot: noai", "OtherBot")],
        ),
        (
            ["otherbot: noindex, examplebot: noai"],
            TOKEN,
            False,
            [("X-Robots-Tag: otherbot: noindex, examplebot: noai", TOKEN)],
        ),
        (
            ["googlebot: noindex", "examplebot: noai"],
            TOKEN,
            False,
            [("X-Robots-Tag: examplebot: noai", TOKEN)],
        ),
        # Case, spacing, product tokens.
        (["  ExampleBot :  NoAI "], TOKEN, False, [("X-Robots-Tag: ExampleBot :  NoAI", TOKEN)]),
        (
            ["EXAMPLEBOT: noai"],
            "examplebot",
            False,
            [("X-Robots-Tag: EXAMPLEBOT: noai", "examplebot")],
        ),
        (["examplebot-news: noai"], TOKEN, False, []),
        (["examplebot: noai"], "", False, []),
        (["noai"], "", False, [("X-Robots-Tag: noai", None)]),
        # Space-separated rules are a common slip; only whole rules count.
        (["noai noimageai"], TOKEN, True, [("X-Robots-Tag: noai noimageai", None)]),
        (["noaiz, no-ai, ai"], TOKEN, True, []),
        (["none, noindex, nofollow, nosnippet, all"], TOKEN, True, []),
        ([], TOKEN, False, []),
        (["", " , ,"], TOKEN, False, []),
        # Several reserving lines: one finding each.
        (
            ["noai", "examplebot: noai"],
            TOKEN,
            False,
            [("X-Robots-Tag: noai", None), ("X-Robots-Tag: examplebot: noai", TOKEN)],
        ),
    ],
)
def test_xrobots(
    values: list[str], token: str, is_image: bool, expected: list[tuple[str, str | None]]
) -> None:
    found = xrobots_findings(values, token=token, is_image=is_image, source=PAGE)
    assert summary(found) == expected
    assert all(f.where is Where.HEADER for f in found)


def test_xrobots_detail_names_the_rules() -> None:
    (finding,) = xrobots_findings(["noai, noimageai"], token=TOKEN, is_image=True, source=PAGE)
    assert finding.detail.startswith("noai, noimageai: ")
    (finding,) = xrobots_findings(["noai, noimageai"], token=TOKEN, is_image=False, source=PAGE)
    assert finding.detail.startswith("noai: ")


@pytest.mark.parametrize(
    ("values", "is_image", "rules"),
    [
        # noml / noimageml are read as noai / noimageai, and named as written.
        (["noml"], False, "noml"),
        (["NoML"], False, "noml"),
        (["examplebot: noml"], False, "noml"),
        (["noimageml"], False, None),
        (["noimageml"], True, "noimageml"),
        (["noml, noimageml"], True, "noml, noimageml"),
        (["noai, noml"], False, "noai, noml"),
        (["otherbot: noml"], False, None),
        # Look-alikes are not rules.
        (["nomlx, no-ml, noindexml"], True, None),
    ],
)
def test_noml_counts_as_noai(values: list[str], is_image: bool, rules: str | None) -> None:
    found = xrobots_findings(values, token=TOKEN, is_image=is_image, source=PAGE)
    if rules is None:
        assert found == []
        return
    (finding,) = found
    assert summary(found) == [
        (f"X-Robots-Tag: {values[0]}", TOKEN if values[0].startswith("examplebot") else None)
    ]
    assert finding.detail.startswith(f"{rules}: ")


def test_noml_meta_and_images() -> None:
    page = '<meta name="robots" content="noimageml"><meta name="examplebot" content="noml">'
    found = meta_findings(metas(page), token=TOKEN, is_image=False, source=PAGE)
    assert summary(found) == [('<meta name="examplebot" content="noml">', TOKEN)]
    images = image_findings([], metas(page), token=TOKEN, source=PAGE)
    assert [f.detail.split(":")[0] for f in images] == ["noimageml", "noml"]
    assert decide(images, Purpose.TRAIN).reserved


def test_long_line_is_quoted_in_part() -> None:
    line = "noai, " + "x" * 5000
    (finding,) = xrobots_findings([line], token=TOKEN, is_image=False, source=PAGE)
    assert len(finding.rule) <= 300
    assert finding.rule.startswith("X-Robots-Tag: noai, xxx")


# -- <meta> -----------------------------------------------------------------------


def metas(html: str) -> list[MetaTag]:
    return head_meta(html.encode(), include_body=True)


@pytest.mark.parametrize(
    ("html", "token", "is_image", "expected"),
    [
        (
            '<meta name="robots" content="noai">',
            TOKEN,
            False,
            [('<meta name="robots" content="noai">', None)],
        ),
        (
            '<meta name="ROBOTS" content="NoAI, NoImageAI">',
            TOKEN,
            False,
            [('<meta name="robots" content="NoAI, NoImageAI">', None)],
        ),
        # Spec edge case 8: noimageai does not reserve the page's own text.
        ('<meta name="robots" content="noimageai">', TOKEN, False, []),
        (
            '<meta name="robots" content="noimageai">',
            TOKEN,
            True,
            [('<meta name="robots" content="noimageai">', None)],
        ),
        # Spec edge case 9: negative rules add up across generic and specific metas.
        (
            '<meta name="ExampleBot" content="noai"><meta name="robots" content="all">',
            TOKEN,
            False,
            [('<meta name="examplebot" content="noai">', TOKEN)],
        ),
        ('<meta name="otherbot" content="noai">', TOKEN, False, []),
        ('<meta name="googlebot" content="noai">', TOKEN, False, []),
        ('<meta name="examplebot" content="noai">', "", False, []),
        ('<meta property="robots" content="noai">', TOKEN, False, []),
        ('<meta http-equiv="X-Robots-Tag" content="noai">', TOKEN, False, []),
        ('<meta name="robots" content="noindex, noimageindex, noarchive">', TOKEN, True, []),
        # Spec edge case 12: a robots meta in the body still counts.
        (
            '<head></head><body><meta name="robots" content="noai">',
            TOKEN,
            False,
            [('<meta name="robots" content="noai">', None)],
        ),
        (
            '<meta name="robots" content="a&quot;b, noai">',
            TOKEN,
            False,
            [('<meta name="robots" content="a&quot;b, noai">', None)],
        ),
    ],
)
def test_meta(
    html: str, token: str, is_image: bool, expected: list[tuple[str, str | None]]
) -> None:
    found = meta_findings(metas(html), token=token, is_image=is_image, source=PAGE)
    assert summary(found) == expected
    assert all(f.where is Where.META for f in found)


# -- images of a page ----------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "html", "expected"),
    [
        (
            [],
            '<meta name="robots" content="noimageai">',
            [('<meta name="robots" content="noimageai">', None)],
        ),
        (
            [],
            '<meta name="robots" content="noai">',
            [('<meta name="robots" content="noai">', None)],
        ),
        (["noimageai"], "", [("X-Robots-Tag: noimageai", None)]),
        (["examplebot: noimageai"], "", [("X-Robots-Tag: examplebot: noimageai", TOKEN)]),
        (["otherbot: noimageai"], '<meta name="otherbot" content="noimageai">', []),
        (["noindex"], '<meta name="robots" content="noimageindex">', []),
        (
            ["noimageai"],
            '<meta name="examplebot" content="noimageai">',
            [
                ("X-Robots-Tag: noimageai", None),
                ('<meta name="examplebot" content="noimageai">', TOKEN),
            ],
        ),
    ],
)
def test_image_findings(
    values: list[str], html: str, expected: list[tuple[str, str | None]]
) -> None:
    found = image_findings(values, metas(html), token=TOKEN, source=PAGE)
    assert summary(found) == expected
    assert all("images" in f.detail for f in found)


# -- is_image_type --------------------------------------------------------------


@pytest.mark.parametrize(
    ("content_type", "url", "expected"),
    [
        ("image/png", "https://e.example/a", True),
        ("IMAGE/JPEG; charset=binary", "https://e.example/a", True),
        ("image/svg+xml", "https://e.example/logo", True),
        ("text/html; charset=utf-8", "https://e.example/photo.jpg", False),
        ("application/pdf", "https://e.example/a.png", False),
        (None, "https://e.example/a/b.JPG?size=large#x", True),
        ("application/octet-stream", "https://e.example/x.webp", True),
        ("", "https://e.example/x.avif", True),
        (None, "https://e.example/x.html", False),
        (None, "https://e.example/a.jpg/", False),
        (None, "https://e.example/jpg", False),
        (None, "https://e.example/dir.png/page", False),
        (None, "https://e.example/", False),
        (None, "https://e.example/page?file=a.png", False),
        (None, "not a url", False),
        (None, "http://[::1/a.png", False),
    ],
)
def test_is_image_type(content_type: str | None, url: str, expected: bool) -> None:
    assert is_image_type(content_type, url) is expected


# -- real sites -----------------------------------------------------------------


def _corpus(kind: str) -> list[dict[str, object]]:
    with (CORPUS / "signals.jsonl").open(encoding="utf-8") as f:
        records = [json.loads(line) for line in f]
    return [r for r in records if r["kind"] == kind]


def _headers_file(text: str) -> dict[str, list[str]]:
    """The header lines of a Netlify/Cloudflare ``_headers`` file, by lower-cased name."""
    headers: dict[str, list[str]] = {}
    for line in text.splitlines():
        if not line.startswith((" ", "\t")) or line.lstrip().startswith("#"):
            continue  # a path line or a comment
        name, _, value = line.strip().partition(":")
        headers.setdefault(name.strip().lower(), []).append(value.strip())
    return headers


ROBOTS_NOAI_NOIMAGEAI = '<meta name="robots" content="noai, noimageai">'


@pytest.mark.parametrize("record", _corpus("html-meta-lines"), ids=lambda r: str(r["source_repo"]))
def test_corpus_meta(record: dict[str, str]) -> None:
    found = metas(record["body"])
    has_noai = "noai" in record["body"]
    page = meta_findings(found, token=TOKEN, is_image=False, source=PAGE)
    images = image_findings([], found, token=TOKEN, source=PAGE)
    if has_noai:
        assert summary(page) == [(ROBOTS_NOAI_NOIMAGEAI, None)]
        assert page[0].detail.startswith("noai: ")
        assert summary(images) == [(ROBOTS_NOAI_NOIMAGEAI, None)]
        assert images[0].detail.startswith("noai, noimageai: ")
        assert decide(page, Purpose.TRAIN).reserved
        assert decide(page, Purpose.INPUT).reserved
        assert not decide(page, Purpose.SEARCH).reserved
        assert not decide(page, Purpose.TDM).reserved
    else:
        assert page == images == []


def test_corpus_headers_file() -> None:
    (record,) = _corpus("http-header-config")
    values = _headers_file(str(record["body"]))["x-robots-tag"]
    assert values == ["noai, noimageai"]
    page = xrobots_findings(values, token=TOKEN, is_image=False, source=PAGE)
    image = xrobots_findings(values, token=TOKEN, is_image=True, source=PAGE)
    assert summary(page) == summary(image) == [("X-Robots-Tag: noai, noimageai", None)]
    assert page[0].detail.startswith("noai: ")
    assert image[0].detail.startswith("noai, noimageai: ")


def test_corpus_header_values() -> None:
    (record,) = _corpus("http-header-values")
    headers = record["headers"]
    assert isinstance(headers, dict)
    found = xrobots_findings([headers["X-Robots-Tag"]], token=TOKEN, is_image=False, source=PAGE)
    assert summary(found) == [("X-Robots-Tag: noai, noimageai", None)]
    assert decide(found, "train").reserved


# -- properties -------------------------------------------------------------------

RULEISH = st.lists(
    st.sampled_from(
        [
            "noai",
            "NoImageAI",
            "noindex",
            ",",
            ", ",
            ":",
            " ",
            "examplebot",
            "otherbot",
            "max-snippet",
            "x",
            "é",
        ]
    ),
    max_size=20,
).map("".join)
LINES = st.lists(st.one_of(st.text(max_size=60), RULEISH), max_size=5)


def _well_formed(findings: list[Finding], where: Where) -> None:
    for f in findings:
        assert f.signal is Signal.NOAI and f.stance is Stance.RESERVE
        assert f.purposes == PURPOSES
        assert f.where is where
        assert f.agent in (None, TOKEN)
        assert len(f.rule) <= 300


@settings(max_examples=200, deadline=None)
@given(LINES, st.booleans())
def test_xrobots_never_raises(values: list[str], is_image: bool) -> None:
    _well_formed(
        xrobots_findings(values, token=TOKEN, is_image=is_image, source=PAGE), Where.HEADER
    )
    _well_formed(image_findings(values, [], token=TOKEN, source=PAGE), Where.HEADER)


@settings(max_examples=200, deadline=None)
@given(LINES)
def test_a_global_noai_line_always_reserves(values: list[str]) -> None:
    found = xrobots_findings([*values, "noai"], token=TOKEN, is_image=False, source=PAGE)
    assert ("X-Robots-Tag: noai", None) in summary(found)


@settings(max_examples=200, deadline=None)
@given(RULEISH)
def test_a_line_for_another_crawler_never_binds_us(rules: str) -> None:
    assume("examplebot" not in rules.lower())
    line = f"otherbot: {rules}"
    assert xrobots_findings([line], token=TOKEN, is_image=True, source=PAGE) == []


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(st.sampled_from(["robots", "examplebot", "other"]), RULEISH), max_size=5),
    st.booleans(),
)
def test_meta_never_raises(pairs: list[tuple[str, str]], is_image: bool) -> None:
    tags = [MetaTag(name, content, "name") for name, content in pairs]
    _well_formed(meta_findings(tags, token=TOKEN, is_image=is_image, source=PAGE), Where.META)


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.none(), st.text(max_size=40)), st.text(max_size=80))
def test_is_image_type_never_raises(content_type: str | None, url: str) -> None:
    assert isinstance(is_image_type(content_type, url), bool)
