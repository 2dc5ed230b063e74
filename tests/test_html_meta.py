"""Tests for the bounded ``<meta>`` scanner, :mod:`scrapy_optout.protocols.html`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scrapy_optout.protocols.html import DEFAULT_LIMIT, MetaTag, head_meta

CORPUS = Path(__file__).parent.parent / "fixtures" / "corpora" / "ai-signals-in-the-wild"

MB5 = 5 * 1024 * 1024


def triples(html: str | bytes, **kwargs: object) -> list[tuple[str, str, str]]:
    body = html.encode() if isinstance(html, str) else html
    return [(m.attr, m.name, m.content) for m in head_meta(body, **kwargs)]  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("html", "expected"),
    [
        pytest.param(
            '<head><meta name="robots" content="noai, noimageai"></head>',
            [("name", "robots", "noai, noimageai")],
            id="plain",
        ),
        pytest.param(
            '<meta content="1" name="tdm-reservation">',
            [("name", "tdm-reservation", "1")],
            id="content-before-name",
        ),
        pytest.param(
            "<META NAME='ROBOTS' CONTENT='NoAI'>",
            [("name", "robots", "NoAI")],
            id="upper-case-single-quotes-content-case-kept",
        ),
        pytest.param(
            "<meta name=robots content=noai>",
            [("name", "robots", "noai")],
            id="unquoted",
        ),
        pytest.param(
            '<meta\n\tname = "robots"\r\n   content=\n"noai"  />',
            [("name", "robots", "noai")],
            id="whitespace-everywhere-self-closing",
        ),
        pytest.param(
            '<meta name=" Robots " content=" noai ">',
            [("name", "robots", " noai ")],
            id="name-trimmed-content-as-written",
        ),
        pytest.param(
            '<meta name="tdm-policy" content="https://e.example/p?a=1&amp;b=&#50;&#x33;&quot;">',
            [("name", "tdm-policy", 'https://e.example/p?a=1&b=23"')],
            id="character-references",
        ),
        pytest.param(
            '<meta name="description" content="a > b">',
            [("name", "description", "a > b")],
            id="gt-inside-quotes",
        ),
        pytest.param(
            '<meta name="robots" name="other" content="noai" content="all">',
            [("name", "robots", "noai")],
            id="duplicate-attributes-first-wins",
        ),
        pytest.param(
            '<meta property="og:title" name="title" content="T">'
            '<meta http-equiv="Content-Type" content="text/html">',
            [
                ("name", "title", "T"),
                ("property", "og:title", "T"),
                ("http-equiv", "content-type", "text/html"),
            ],
            id="property-and-http-equiv",
        ),
        pytest.param('<meta name="robots">', [("name", "robots", "")], id="no-content"),
        pytest.param('<meta charset="utf-8"><meta name="" content="x">', [], id="nameless"),
        pytest.param(
            '<meta name="a" content="1"><meta name="b" content="2',
            [("name", "a", "1")],
            id="tag-cut-off-by-end-of-input",
        ),
        pytest.param(
            '<!DOCTYPE html><?xml version="1.0"?><html lang=en><head>'
            '<meta name="robots" content="noai">',
            [("name", "robots", "noai")],
            id="doctype-and-processing-instruction",
        ),
        pytest.param(
            '<noscript><meta name="robots" content="noai"></noscript>',
            [("name", "robots", "noai")],
            id="noscript-is-markup-for-a-crawler",
        ),
        pytest.param('<metadata name="robots" content="noai">', [], id="not-meta"),
        pytest.param(
            '< meta name="robots" content="noai"> 1 < 2 <3 <meta name="a" content="b">',
            [("name", "a", "b")],
            id="stray-less-than",
        ),
    ],
)
def test_extraction(html: str, expected: list[tuple[str, str, str]]) -> None:
    assert triples(html) == expected


@pytest.mark.parametrize(
    "hidden",
    [
        '<!-- <meta name="robots" content="noai"> -->',
        '<!--\n<meta name="robots" content="noai">\n--!>',
        '<script>document.write(\'<meta name="robots" content="noai">\')</script>',
        '<SCRIPT type="text/javascript">"<meta name=robots content=noai>"</script >',
        '<style>/* <meta name="robots" content="noai"> */</style>',
        '<title><meta name="robots" content="noai"></title>',
        '<textarea><meta name="robots" content="noai"></textarea>',
        '<template><meta name="robots" content="noai"></template>',
        '<![CDATA[ x ]]><!x <meta name="robots" content="noai">',
        '</ <meta name="robots" content="noai">',
    ],
)
def test_hidden_meta_is_not_read(hidden: str) -> None:
    html = f'<head>{hidden}<meta name="after" content="1"></head>'
    assert triples(html) == [("name", "after", "1")]


@pytest.mark.parametrize(
    "html",
    [
        '<!--><meta name="a" content="1">',
        '<!---><meta name="a" content="1">',
        '<!-- x --><meta name="a" content="1">',
        '<script></script><meta name="a" content="1">',
        '</p><meta name="a" content="1">',
        '</><meta name="a" content="1">',
    ],
    ids=["empty-comment", "empty-comment-dash", "comment", "script", "end-tag", "empty-end-tag"],
)
def test_scan_resumes_after(html: str) -> None:
    assert triples(html) == [("name", "a", "1")]


@pytest.mark.parametrize(
    "stop",
    ["</head>", "</HEAD >", "<body>", '<BODY class="x">', "</body>", "</html>", "<frameset>"],
)
def test_stops_where_the_head_ends(stop: str) -> None:
    html = f'<head><meta name="a" content="1">{stop}<meta name="b" content="2">'
    assert triples(html) == [("name", "a", "1")]


def test_include_body_reads_on_and_marks_body_elements() -> None:
    html = b'<head><meta name="a" content="1"></head><body><meta name="robots" content="noai">'
    assert head_meta(html, include_body=True) == [
        MetaTag("a", "1", "name", in_head=True),
        MetaTag("robots", "noai", "name", in_head=False),
    ]


def test_document_without_head_markup_is_read_to_the_limit() -> None:
    html = '<p>text</p><meta name="robots" content="noai">'
    assert triples(html) == [("name", "robots", "noai")]


# -- decoding -----------------------------------------------------------------

CAFE_META = '<meta name="d" content="café">'


@pytest.mark.parametrize(
    ("body", "encoding"),
    [
        pytest.param(CAFE_META.encode(), None, id="utf-8-default"),
        pytest.param(b"\xef\xbb\xbf" + CAFE_META.encode(), None, id="utf-8-bom"),
        pytest.param(b"\xff\xfe" + CAFE_META.encode("utf-16-le"), None, id="utf-16le-bom"),
        pytest.param(b"\xfe\xff" + CAFE_META.encode("utf-16-be"), None, id="utf-16be-bom"),
        pytest.param(b"\xff\xfe" + CAFE_META.encode("utf-16-le"), "cp1252", id="bom-beats-given"),
        pytest.param(CAFE_META.encode("cp1252"), "windows-1252", id="given"),
        pytest.param(CAFE_META.encode("cp1252"), "iso-8859-1", id="given-latin1-is-1252"),
        pytest.param(CAFE_META.encode("utf-16-le"), "utf-16", id="given-bare-utf16"),
        pytest.param(
            b'<meta charset="windows-1252">' + CAFE_META.encode("cp1252"), None, id="meta-charset"
        ),
        pytest.param(
            b'<meta http-equiv="content-type" content="text/html; charset=ISO-8859-1">'
            + CAFE_META.encode("cp1252"),
            None,
            id="meta-http-equiv",
        ),
        pytest.param(
            b'<meta charset="rot13">' + CAFE_META.encode(), None, id="python-only-codec-refused"
        ),
        pytest.param(
            b'<meta charset="utf-16">' + CAFE_META.encode(), None, id="meta-utf16-means-utf8"
        ),
        pytest.param(CAFE_META.encode(), "no-such-encoding", id="unknown-given-label"),
    ],
)
def test_decoding(body: bytes, encoding: str | None) -> None:
    assert ("name", "d", "café") in triples(body, encoding=encoding)


def test_undecodable_bytes_are_replaced() -> None:
    assert triples(b'<meta name="d" content="\xff\xfe\xfd">') == [("name", "d", "\ufffd" * 3)]


def test_body_must_be_bytes() -> None:
    with pytest.raises(TypeError):
        head_meta('<meta name="a" content="b">')  # type: ignore[arg-type]


def test_accepts_bytearray_and_memoryview() -> None:
    data = b'<meta name="a" content="b">'
    assert head_meta(bytearray(data)) == head_meta(memoryview(data)) == head_meta(data)


# -- limits and hostile input -----------------------------------------------


def test_limit_is_respected() -> None:
    tag = b'<meta name="a" content="b">'
    body = b"<head>" + tag * 10 + b'<meta name="late" content="x">'
    assert len(head_meta(body, limit=6 + len(tag) * 3)) == 3
    # A tag cut by the limit is not reported.
    assert len(head_meta(body, limit=6 + len(tag) * 3 - 1)) == 2
    assert head_meta(body, limit=0) == []
    assert head_meta(body, limit=-5) == []
    assert head_meta(body)[-1].name == "late"


def test_huge_head_is_read_only_up_to_the_limit() -> None:
    tag = b'<meta name="a" content="b">'
    body = b"<html><head>" + tag * (MB5 // len(tag) + 1)
    assert len(body) >= MB5
    metas = head_meta(body)
    assert 0 < len(metas) <= DEFAULT_LIMIT // len(tag)


@pytest.mark.parametrize(
    "body",
    [
        b"<head><!--" + b'<meta name="a" content="b">' * (MB5 // 27),
        b"<head><script>" + b'<meta name="a" content="b">' * (MB5 // 27),
        b'<meta name="a" content="' + b"x" * MB5,
        b"<meta " + b"a=a " * (MB5 // 4),
        b"<" * MB5,
        b"<a " * (MB5 // 3),
        b"</a" * (MB5 // 3),
        b"<!" * (MB5 // 2),
        b"<!---->" * (MB5 // 7),
        b"<script></script>" * (MB5 // 17),
        b"<!--" + b"-" * MB5,
        b"\x00\xff" * (MB5 // 2),
    ],
    ids=[
        "unclosed-comment",
        "unclosed-script",
        "unclosed-quote",
        "endless-attributes",
        "less-than-signs",
        "unclosed-tags",
        "unclosed-end-tags",
        "bang",
        "many-comments",
        "many-scripts",
        "dashes",
        "binary",
    ],
)
def test_pathological_input_completes(body: bytes) -> None:
    assert head_meta(body) == []
    assert head_meta(body, include_body=True) == []
    assert head_meta(body[: 1024 * 1024], limit=1024 * 1024, include_body=True) == []


# -- real pages ---------------------------------------------------------------


def _corpus(kind: str) -> list[dict[str, str]]:
    with (CORPUS / "signals.jsonl").open(encoding="utf-8") as f:
        records = [json.loads(line) for line in f]
    return [r for r in records if r["kind"] == kind]


# What each html-meta-lines record of the corpus must yield, by source repository.
WILD_META = {
    "FUHI12342/NewFUHI": [("name", "robots", "noai, noimageai")],
    "Jan64X/janpetrlik.com": [("name", "robots", "noai, noimageai")],
    "healsdata/ai-training-opt-out": [
        ("name", "robots", "noai, noimageai"),
        ("name", "tdm-reservation", "1"),
    ],
    "xlr8harder/xlr8harder.github.io": [("name", "tdm-reservation", "0")],
    "zhangshi0512/zhangshi0512.github.io": [("name", "robots", "noai, noimageai")],
}


@pytest.mark.parametrize("record", _corpus("html-meta-lines"), ids=lambda r: r["source_repo"])
def test_corpus_meta_lines(record: dict[str, str]) -> None:
    assert triples(record["body"]) == WILD_META[record["source_repo"]]
    # The same lines in a full page, after a noisy head.
    page = (
        "<!doctype html><html><head><meta charset=utf-8><title>x</title>"
        "<script>if (a < b) {}</script><!-- <meta name=robots content=all> -->"
        f"{record['body']}</head><body><p>hello</p></body></html>"
    )
    assert triples(page) == WILD_META[record["source_repo"]]


def test_corpus_covers_every_meta_record() -> None:
    assert {r["source_repo"] for r in _corpus("html-meta-lines")} == set(WILD_META)


# -- properties ---------------------------------------------------------------

HTMLISH = st.lists(
    st.sampled_from(
        [
            "<",
            ">",
            "/",
            "=",
            '"',
            "'",
            " ",
            "\n",
            "!",
            "-",
            "?",
            "&amp;",
            "&",
            "<!--",
            "-->",
            "meta",
            "META",
            "name",
            "content",
            "property",
            "http-equiv",
            "charset",
            "robots",
            "noai",
            "script",
            "style",
            "head",
            "body",
            "</",
            "x",
            "é",
        ]
    ),
    max_size=60,
).map("".join)


def _well_formed(metas: list[MetaTag]) -> None:
    for meta in metas:
        assert meta.attr in {"name", "property", "http-equiv"}
        assert meta.name
        assert meta.name == meta.name.lower()
        assert meta.name == meta.name.strip("\t\n\f\r ")
        assert isinstance(meta.content, str)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=2000), st.integers(min_value=-1, max_value=3000), st.booleans())
def test_never_raises_on_bytes(body: bytes, limit: int, include_body: bool) -> None:
    _well_formed(head_meta(body, limit=limit, include_body=include_body))


@settings(max_examples=200, deadline=None)
@given(HTMLISH, st.booleans())
def test_never_raises_on_htmlish_text(text: str, include_body: bool) -> None:
    metas = head_meta(text.encode(), include_body=include_body)
    _well_formed(metas)
    if not include_body:
        assert all(m.in_head for m in metas)


@settings(max_examples=200, deadline=None)
@given(
    st.permutations(['name="robots"', 'content="noai"', 'lang="en"', "data-x"]),
    st.sampled_from([" ", "\n", "\t ", "  "]),
    st.sampled_from(["meta", "META", "Meta"]),
    st.sampled_from([">", "/>", " />"]),
)
def test_any_attribute_order_and_spacing(
    attrs: list[str], space: str, tag: str, close: str
) -> None:
    html = f"<head><{tag}{space}{space.join(attrs)}{close}</head>"
    assert triples(html) == [("name", "robots", "noai")]


@settings(max_examples=200, deadline=None)
@given(HTMLISH, st.integers(min_value=0, max_value=200))
def test_limit_cuts_like_truncation(text: str, limit: int) -> None:
    body = text.encode()
    assert head_meta(body, limit=limit) == head_meta(body[:limit], limit=len(body) + 1)
