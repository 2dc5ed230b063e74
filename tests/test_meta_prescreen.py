"""The byte test in front of the ``<meta>`` scan never hides an element the scan reads.

:func:`scrapy_optout.protocols.html.may_name_meta` lets the body stage skip
:func:`~scrapy_optout.protocols.html.head_meta` for pages that cannot name any
of the elements read (``robots``, the crawler's token, ``tdm-reservation``,
``tdm-policy``). Skipping one that does would let a reserved page through, so
every way of spelling a name is checked here, in every encoding the scan reads,
and generated markup is checked against the scan itself.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scrapy_optout import Evaluator, OriginPolicy, PolicyFile, Purpose
from scrapy_optout.protocols.html import head_meta, may_name_meta

NAMES = (b"robots", b"tdm-reservation", b"tdm-policy", b"kbot")

SPELLINGS = [
    '<meta name="robots" content="noai">',
    '<META NAME="ROBOTS" CONTENT="noai">',
    "<meta name=RoBoTs content=noai>",
    '<meta name="  robots\t" content="noai">',
    '<meta name="&#114;obots" content="noai">',
    '<meta name="rob&#x6F;ts" content="noai">',
    '<meta name="&#X52;OBOTS" content="noai">',
    '<meta content="noai" name="tdm-reservation">',
    '<meta name="TDM-Policy" content="https://example.com/p">',
    '<meta name="tdm&#45;reservation" content="1">',
    '<meta name="kbot" content="noai">',
    '<meta name="\u212abot" content="noai">',  # KELVIN SIGN lower-cases to "k"
    '<meta name="KBOT" content="noai">',
]
ENCODINGS = ["utf-8", "gb18030", "cp1252", "shift_jis", "utf-16-le", "utf-16-be"]


def _page(meta: str) -> str:
    return f"<!DOCTYPE html><html><head><title>t</title>{meta}</head><body><p>x</p></body></html>"


def _named(body: bytes, encoding: str | None) -> bool:
    metas = head_meta(body, encoding=encoding, include_body=True)
    return any(m.attr == "name" and m.name.encode("utf-8") in NAMES for m in metas)


def _encodable() -> list[tuple[str, str]]:
    # The Kelvin sign has no byte in cp1252 or Shift_JIS: those pairs are left out.
    pairs = []
    for meta in SPELLINGS:
        for encoding in ENCODINGS:
            try:
                meta.encode(encoding)
            except UnicodeEncodeError:
                continue
            pairs.append((meta, encoding))
    return pairs


@pytest.mark.parametrize(("meta", "encoding"), _encodable())
def test_every_spelling_of_a_name_is_seen(meta: str, encoding: str) -> None:
    body = _page(meta).encode(encoding)
    assert _named(body, encoding)
    assert may_name_meta(body, NAMES)


@pytest.mark.parametrize("bom", [b"\xff\xfe", b"\xfe\xff", b"\xef\xbb\xbf"])
def test_a_byte_order_mark_does_not_hide_a_name(bom: bytes) -> None:
    codec = {b"\xff\xfe": "utf-16-le", b"\xfe\xff": "utf-16-be", b"\xef\xbb\xbf": "utf-8"}[bom]
    body = bom + _page('<meta name="robots" content="noai">').encode(codec)
    assert _named(body, None)
    assert may_name_meta(body, NAMES)


def test_a_name_after_the_limit_is_not_looked_for() -> None:
    body = _page("<p>" + "x" * 5000 + '</p><meta name="robots" content="noai">').encode()
    assert may_name_meta(body, NAMES, limit=len(body))
    assert not may_name_meta(body, NAMES, limit=100)
    assert head_meta(body, limit=100, include_body=True) == []


def test_fjlig_reference_counts_for_names_with_fj() -> None:
    body = _page('<meta name="&fjlig;bot" content="noai">').encode()
    assert [m.name for m in head_meta(body)] == ["fjbot"]
    assert may_name_meta(body, (b"fjbot",))
    assert not may_name_meta(body, (b"robots",))


def test_ordinary_pages_are_skipped() -> None:
    page = _page(
        '<meta charset="utf-8"><meta name="viewport" content="width=device-width">'
        '<meta name="description" content="Caf\u00e9 &amp; bar">'
        '<meta property="og:title" content="K\u00f6ln">'
    )
    for encoding in ("utf-8", "cp1252", "gb18030"):
        assert not may_name_meta(page.encode(encoding), NAMES)


def test_a_kelvin_sign_elsewhere_only_matters_for_names_with_k() -> None:
    body = _page("<p>300 \u212a</p>").encode()
    assert may_name_meta(body, (b"kbot",))
    assert not may_name_meta(body, (b"robots",))


@pytest.mark.parametrize("kind", [tuple, list, frozenset, iter])
def test_names_may_come_in_any_collection(kind: type) -> None:
    # The test worked out for a collection of names is kept by its contents:
    # a list, a set or a one-shot iterable reads like the tuple.
    named = _page('<meta name="TDM-Policy" content="https://example.com/p">').encode()
    plain = _page('<meta name="viewport" content="width=device-width">').encode()
    assert may_name_meta(named, kind(NAMES))
    assert not may_name_meta(plain, kind(NAMES))
    assert may_name_meta(bytearray(named), kind([b"tdm-policy"]))
    assert not may_name_meta(bytearray(plain), kind([b"tdm-policy"]))


MARKUP = st.lists(
    st.sampled_from(
        [
            "<meta ",
            "<META ",
            "name=",
            'name="',
            '"',
            "'",
            " ",
            ">",
            "robots",
            "ROBOTS",
            "ro",
            "bots",
            "&#114;",
            "&#x72;",
            "&fjlig;",
            "\u212a",
            "bot",
            "tdm-",
            "reservation",
            "<head>",
            "</head>",
            "<body>",
            "<!--",
            "-->",
            "<script>",
            "</script>",
            "content=noai",
            "caf\u00e9",
        ]
    ),
    max_size=24,
).map("".join)


@settings(max_examples=400, deadline=None)
@given(MARKUP, st.sampled_from(["utf-8", "gb18030", "utf-16-le", "cp1252"]))
def test_generated_markup_never_hides_a_name(text: str, encoding: str) -> None:
    body = text.encode(encoding, "replace")
    if _named(body, encoding):
        assert may_name_meta(body, NAMES)


def test_the_body_stage_still_reads_a_reservation_hidden_in_references() -> None:
    origin = "http://127.0.0.1:9"
    policy = OriginPolicy(
        origin,
        PolicyFile("robots.txt", origin + "/robots.txt", 404, b""),
        PolicyFile("ai.txt", origin + "/ai.txt", 404, b""),
        PolicyFile("tdmrep.json", origin + "/.well-known/tdmrep.json", 404, b""),
    )
    evaluator = Evaluator("kbot/1.0")
    hidden = ('<meta name="&#114;obots" content="noai">', '<meta name="\u212aBOT" content="noai">')
    for meta in hidden:
        url = origin + "/page"
        prior = evaluator.headers_stage(
            evaluator.origin_stage(policy, url), {"Content-Type": ["text/html; charset=utf-8"]}
        )
        done = evaluator.body_stage(prior, _page(meta).encode(), encoding="utf-8")
        assert done.verdict(Purpose.TRAIN).reserved, meta
    plain = evaluator.body_stage(prior, _page("<p>nothing</p>").encode(), encoding="utf-8")
    assert not plain.verdict(Purpose.TRAIN).reserved
