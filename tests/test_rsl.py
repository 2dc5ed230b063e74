"""Tests for RSL 1.0 licences, :mod:`scrapy_optout.protocols.rsl`."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scrapy_optout.protocols import rsl
from scrapy_optout.protocols.linkheader import parse_link_header
from scrapy_optout.protocols.rsl import RslDocument, evaluate
from scrapy_optout.verdict import Finding, Purpose, Signal, Stance, Where, decide

FIXTURES = Path(__file__).parent.parent / "fixtures" / "rsl"
LICENCE = "https://publisher.example/license.xml"
R, A = "reserved", "allowed"


def load(name: str) -> RslDocument:
    return RslDocument.parse((FIXTURES / name).read_bytes())


def verdicts(found: list[Finding]) -> dict[str, str]:
    """``{purpose: "reserved" | "allowed"}`` for each purpose some finding bears on."""
    for f in found:
        assert f.signal is Signal.RSL
        assert f.source == LICENCE
        assert Purpose.CRAWL not in f.purposes
    out = {}
    for purpose in rsl.PURPOSES:
        verdict = decide(found, purpose)
        if verdict.findings:
            out[str(purpose)] = verdict.label
    return out


# The reading of each fixture for a URL, purpose by purpose (a purpose left
# out has no finding: the document says nothing about it).
CASES = [
    # The smallest "no AI use" document: AI purposes reserved, search not.
    ("site-no-ai.xml", "https://site.example/", {"train": R, "tdm": R, "input": R, "search": A}),
    (
        "site-no-ai.xml",
        "https://site.example/a/b?c",
        {"train": R, "tdm": R, "input": R, "search": A},
    ),
    # A licence server: a licence is needed even where the licence is free;
    # tdm is granted by neither licence (closed world).
    (
        "paid-training.xml",
        "https://publisher.example/articles/1",
        {"train": R, "tdm": R, "input": R, "search": R},
    ),
    ("paid-training.xml", "https://publisher.example/about", {}),
    # Overlapping entries: the most restrictive applies.
    (
        "overlap.xml",
        "https://publisher.example/press/release",
        {"train": R, "tdm": R, "input": R, "search": A},
    ),
    (
        "overlap.xml",
        "https://publisher.example/news",
        {"train": R, "tdm": R, "input": R, "search": A},
    ),
    # Permits only ai-index: nothing of this project's purposes is granted.
    (
        "ai-index-only.xml",
        "https://site.example/x",
        {"train": R, "tdm": R, "input": R, "search": R},
    ),
    # Free, but only for some users and countries: a crawler cannot show it qualifies.
    (
        "conditional.xml",
        "https://lab.example/research/paper.pdf",
        {"train": R, "tdm": R, "input": R, "search": R},
    ),
    ("conditional.xml", "https://lab.example/teaching/", {}),
    # Full URLs bind their own origin only; "$" anchors the pattern.
    (
        "full-url.xml",
        "https://news.example/archive/2020/a.pdf",
        {"train": R, "tdm": R, "input": A, "search": A},
    ),
    ("full-url.xml", "https://news.example/archive/a.pdf?page=2", {}),
    ("full-url.xml", "http://news.example/archive/a.pdf", {}),
    ("full-url.xml", "https://other.example/archive/a.pdf", {}),
    (
        "full-url.xml",
        "https://NEWS.example:443/archive/a.pdf",
        {"train": R, "tdm": R, "input": A, "search": A},
    ),
    (
        "full-url.xml",
        "https://news.example:8443/x",
        {"train": A, "tdm": A, "input": A, "search": R},
    ),
    # No namespace; attribution is free of charge.
    (
        "no-namespace.xml",
        "https://site.example/photos/1.jpg",
        {"train": R, "tdm": R, "input": A, "search": A},
    ),
    # Entries inside an RSS feed.
    (
        "feed.xml",
        "https://publisher.example/stories/1",
        {"train": R, "tdm": R, "input": A, "search": A},
    ),
    ("feed.xml", "https://publisher.example/stories/2", {}),
]


@pytest.mark.parametrize(("name", "url", "expected"), CASES)
def test_documents(name: str, url: str, expected: dict[str, str]) -> None:
    doc = load(name)
    assert doc.error is None, doc.error
    assert verdicts(evaluate(doc, url, source=LICENCE, status=200)) == expected


def test_licence_required_names_licence_payment_server_and_terms() -> None:
    found = evaluate(
        load("paid-training.xml"), "https://publisher.example/articles/1", source=LICENCE
    )
    train = next(f for f in found if Purpose.TRAIN in f.purposes)
    assert train.stance is Stance.RESERVE
    assert train.where is Where.FILE
    assert train.purposes == {Purpose.TRAIN, Purpose.INPUT}
    assert train.rule == (
        '<content url="/articles/*" server="https://licensing.example/api">'
        '<license><permits type="usage">ai-train,ai-input</permits>'
        '<payment type="training"><amount currency="USD">0.015</amount></payment></license>'
    )
    assert train.detail.startswith(
        "licence required for input, train (licence server https://licensing.example/api; "
        "payment training (0.015 USD)): reserved for a crawler without a licence; "
        f"licence {LICENCE}; terms https://publisher.example/ai-terms; legal: none"
    )
    tdm = next(f for f in found if Purpose.TDM in f.purposes)
    assert tdm.detail.startswith("the licence permits only search: tdm not permitted")


def test_prohibition_and_overlap_are_explained() -> None:
    found = evaluate(load("overlap.xml"), "https://publisher.example/press/x", source=LICENCE)
    prohibits = [f for f in found if f.stance is Stance.RESERVE]
    assert [f.rule for f in prohibits] == [
        '<content url="/"><license><prohibits type="usage">ai-all</prohibits></license>'
    ]
    assert prohibits[0].detail.startswith(
        "the licence prohibits ai-all: reserved for input, tdm, train"
    )
    assert "several <content> entries match: the most restrictive applies" in prohibits[0].detail
    granted = [f for f in found if f.stance is Stance.ALLOW and Purpose.TRAIN in f.purposes]
    assert granted[0].detail.startswith("the licence permits input, search, tdm, train free")
    assert "copyright Press Office, Publisher Example" in granted[0].detail


def test_attribution_duty_and_namespace_note() -> None:
    doc = load("no-namespace.xml")
    assert doc.notes == ("namespace (none) read as https://rslstandard.org/rsl",)
    found = evaluate(doc, "https://site.example/photos/1.jpg", source=LICENCE)
    allowed = next(f for f in found if f.stance is Stance.ALLOW)
    assert "free of charge (attribution required)" in allowed.detail
    assert "[namespace (none) read as" in allowed.detail


def test_every_reading_of_the_url_counts() -> None:
    found = evaluate(
        load("paid-training.xml"), "https://publisher.example/x/../articles/1", source=LICENCE
    )
    assert decide(found, "train").reserved
    assert "matched as /articles/1 after resolving dot segments" in found[0].detail


def test_model() -> None:
    doc = load("paid-training.xml")
    (content,) = doc.contents
    assert content.server == "https://licensing.example/api"
    assert content.lastmod == "2026-03-01T00:00:00Z"
    assert content.origin is None
    free, paid = content.licenses
    assert free.permits == {"usage": ("search",)} and free.free
    assert paid.permits == {"usage": ("ai-train", "ai-input")} and not paid.free
    assert paid.payments[0].amounts == (("0.015", "USD"),)
    assert paid.terms == "https://publisher.example/ai-terms"
    assert paid.legal == ("none",)
    conditional = load("conditional.xml").contents[0].licenses[0]
    assert conditional.permits["geo"] == ("DE", "FR")
    assert conditional.conditions == [
        "permits user non-commercial, education",
        "permits geo DE, FR",
    ]
    full = load("full-url.xml").contents
    assert [c.origin for c in full] == ["https://news.example:443", "https://news.example:8443"]


def doc_from(body: str) -> RslDocument:
    return RslDocument.parse(body.encode())


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        # Unknown payment types and a payment without a type are not free.
        ('<payment type="barter"/>', R),
        ("<payment/>", R),
        ('<payment type="FREE"/>', A),
        ('<payment type="free"/><payment type="purchase"/>', R),
        # A licence of one user type: conditional.
        ('<prohibits type="user">commercial</prohibits>', R),
        # permits without type is a usage list; unknown tokens are ignored.
        ("<permits>ai-train</permits>", A),
        ("<permits>ai-training</permits>", R),
        # An unknown permits type is ignored altogether.
        ('<permits type="colour">blue</permits>', A),
    ],
)
def test_licence_terms_for_training(body: str, expected: str) -> None:
    doc = doc_from(
        f'<rsl xmlns="{rsl.NAMESPACE}"><content url="/"><license>{body}</license></content></rsl>'
    )
    assert doc.error is None
    found = evaluate(doc, "https://s.example/", source=LICENCE)
    assert decide(found, Purpose.TRAIN).label == expected


def test_encrypted_content_needs_a_licence() -> None:
    doc = doc_from('<rsl><content url="/" encrypted="true"><license/></content></rsl>')
    found = evaluate(doc, "https://s.example/", source=LICENCE)
    assert decide(found, Purpose.SEARCH).reserved
    assert "encrypted content" in found[0].detail


def test_alternative_licences_prohibition_wins() -> None:
    doc = doc_from(
        "<rsl><content url='/'>"
        "<license><permits type='usage'>all</permits><payment type='free'/></license>"
        "<license><prohibits type='usage'>ai-train</prohibits></license>"
        "</content></rsl>"
    )
    found = evaluate(doc, "https://s.example/", source=LICENCE)
    assert decide(found, Purpose.TRAIN).reserved
    assert not decide(found, Purpose.INPUT).reserved


def unknown_detail(found: list[Finding]) -> str:
    (finding,) = found
    assert finding.stance is Stance.UNKNOWN
    assert finding.purposes == rsl.PURPOSES
    assert finding.signal is Signal.RSL
    return finding.detail


@pytest.mark.parametrize(
    ("name", "detail"),
    [
        ("billion-laughs.xml", "not an RSL licence: document refused: DTDForbidden"),
        ("external-entity.xml", "not an RSL licence: document refused: DTDForbidden"),
        ("not-rsl.html", "not an RSL licence: body is HTML, not an RSL document"),
    ],
)
def test_hostile_and_wrong_documents(name: str, detail: str) -> None:
    start = time.perf_counter()
    doc = load(name)
    assert time.perf_counter() - start < 1
    assert doc.contents == ()
    assert unknown_detail(evaluate(doc, "https://s.example/", source=LICENCE)).startswith(detail)


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b"", "body is empty"),
        (b"<rsl><content url='/'>", "body is not well-formed XML"),
        (b"<html><body>hi</body></html>", "body is HTML, not an RSL document"),
        (b'<xhtml:html xmlns:xhtml="urn:x"/>', "not an RSL document: root element is HTML"),
        (b"<licence/>", "not an RSL document: root element is <licence>"),
        (b'<rsl xmlns="urn:other"/>', "not an RSL document: root element is <rsl>"),
        (b"<rsl><content url='/'/></rsl>", "no <content> element with a url and a <license>"),
        (b"<rsl><content><license/></content></rsl>", "no <content> element with a url"),
        (b"<?xml version='1.0' encoding='no-such'?><rsl/>", "body is not well-formed XML"),
        (b"<rsl>" + b" " * rsl.MAX_BYTES + b"</rsl>", "body is larger than 524288 bytes"),
        (b'{"content": "/"}', "body is not well-formed XML"),
    ],
)
def test_not_a_licence(body: bytes, error: str) -> None:
    doc = RslDocument.parse(body, content_type="text/plain")
    assert doc.error is not None and doc.error.startswith(error), doc.error


@pytest.mark.parametrize(
    ("status", "error", "detail"),
    [
        (404, None, "RSL licence not available (HTTP 404)"),
        (503, None, "RSL licence not available (HTTP 503)"),
        (None, "connection refused", "RSL licence not available (connection refused)"),
    ],
)
def test_unavailable_licence_is_unknown(status: int | None, error: str | None, detail: str) -> None:
    doc = load("site-no-ai.xml")
    found = evaluate(doc, "https://s.example/", source=LICENCE, status=status, error=error)
    assert unknown_detail(found) == detail
    assert unknown_detail(evaluate(None, "https://s.example/", source=LICENCE)).endswith(
        "(no body)"
    )


def test_whitespace_before_declaration_and_utf16() -> None:
    text = (FIXTURES / "site-no-ai.xml").read_text()
    assert RslDocument.parse(b"\n\n" + text.encode()).error is None
    utf16 = text.replace('encoding="UTF-8"', 'encoding="UTF-16"').encode("utf-16")
    assert RslDocument.parse(utf16).error is None


def test_deep_nesting_is_bounded() -> None:
    body = b"<rsl>" + b"<a>" * 50_000 + b"</a>" * 50_000 + b"</rsl>"
    start = time.perf_counter()
    doc = RslDocument.parse(body)
    assert time.perf_counter() - start < 5
    assert doc.error == "no <content> element with a url and a <license>"


# -- discovery ------------------------------------------------------------------------------------


def test_license_lines_of_robots_txt() -> None:
    robots = (
        "User-agent: *\nDisallow: /private\n"
        "License: https://publisher.example/license.xml\n"
        "LICENSE:https://rsl.example/collective/feed.xml  # the collective's feed\n"
        "license: /relative.xml\n"
        "License: ftp://publisher.example/x.xml\n"
        "License: https://publisher.example/license.xml\n"
        "Licence: https://publisher.example/other.xml\n"
        "# License: https://publisher.example/commented.xml\n"
        "User-agent: GPTBot\nLicense: https://publisher.example/in-a-group.xml\n"
    )
    assert rsl.license_urls(robots) == [
        "https://publisher.example/license.xml",
        "https://rsl.example/collective/feed.xml",
        "https://publisher.example/in-a-group.xml",
    ]
    assert rsl.license_urls(robots.encode("utf-16"), base="https://publisher.example/robots.txt")[
        2
    ] == ("https://publisher.example/relative.xml")
    many = "".join(f"License: https://p.example/{i}.xml\n" for i in range(100))
    assert len(rsl.license_urls(many)) == rsl.MAX_URLS
    with pytest.raises(TypeError):
        rsl.license_urls(None)  # type: ignore[arg-type]


def test_link_header_syntax() -> None:
    links = parse_link_header(
        [
            '<https://a.example/l.xml>; rel="license"; type="application/rsl+xml", '
            '</next>; rel=next; title="a, b; c"',
            '</x.xml> ;REL = "License  describedby" ; Type=Application/RSL+XML;charset=utf-8',
            "junk, <https://b.example/>; rel=license",
        ]
    )
    assert [(link.target, link.rels) for link in links] == [
        ("https://a.example/l.xml", ("license",)),
        ("/next", ("next",)),
        ("/x.xml", ("license", "describedby")),
        ("https://b.example/", ("license",)),
    ]
    assert links[1].params["title"] == "a, b; c"


def test_link_licenses() -> None:
    values = [
        '<https://a.example/l.xml>; rel="license"; type="application/rsl+xml", '
        '</cc>; rel="license"; type="text/html"',
        '</x.xml>; REL="License other"; TYPE="Application/RSL+XML"',
        '</y.xml>; rel="license"; type="application/rsl+xml"; anchor="/other"',
        '</z.xml>; rel="alternate"; type="application/rsl+xml"',
        "<https://a.example/l.xml>; rel=license; type=application/rsl+xml",
    ]
    assert rsl.link_licenses(values, base="https://site.example/page") == [
        "https://a.example/l.xml",
        "https://site.example/x.xml",
    ]


def test_html_licenses() -> None:
    page = b"""<!doctype html><html><head>
    <!-- <link rel="license" type="application/rsl+xml" href="/commented.xml"> -->
    <link rel="stylesheet" href="/s.css">
    <LINK REL="License" TYPE="application/rsl+xml" HREF="/license.xml?a=1&amp;b=2">
    <link rel="license" href="https://creativecommons.org/licenses/by/4.0/">
    <script type="application/rsl+xml"><?xml version="1.0" encoding="ISO-8859-1"?>
      <rsl xmlns="https://rslstandard.org/rsl"><content url="/"><license>
      <prohibits type="usage">ai-train</prohibits></license></content></rsl>
    </script>
    <script>var s = '<link rel="license" type="application/rsl+xml" href="/in-js">';</script>
    </head><body>
    <link rel="license" type="application/rsl+xml" href="/in-body.xml">
    </body></html>"""
    found = rsl.html_licenses(page, base="https://site.example/a/page")
    assert found.links == ["https://site.example/license.xml?a=1&b=2"]
    (inline,) = found.inline
    assert inline.error is None
    result = evaluate(inline, "https://site.example/a/page", source="x", where=Where.META)
    assert decide(result, Purpose.TRAIN).reserved
    assert result[0].where is Where.META
    assert rsl.html_licenses(b"<html><head><title>x</title></head></html>", base="x") == ([], [])


# -- robustness -----------------------------------------------------------------------------------

FRAGMENTS = st.sampled_from(
    [
        "<rsl>",
        "</rsl>",
        f'<rsl xmlns="{rsl.NAMESPACE}">',
        '<content url="/">',
        '<content url="https://a.example:99999/">',
        "<content url='*'>",
        "</content>",
        "<license>",
        "</license>",
        '<permits type="usage">',
        '<prohibits type="geo">',
        "</permits>",
        "</prohibits>",
        '<payment type="purchase">',
        "<amount currency='EUR'>",
        "</amount>",
        "</payment>",
        "ai-all, search",
        "&amp;",
        "&lt;",
        "<!DOCTYPE x>",
        "<![CDATA[x]]>",
        "<?pi?>",
        "\x00",
        "é",
        "<",
        '"',
    ]
)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=3000))
def test_arbitrary_bytes_never_raise(body: bytes) -> None:
    doc = RslDocument.parse(body)
    for finding in evaluate(doc, "https://s.example/a", source=LICENCE):
        assert finding.signal is Signal.RSL


@settings(max_examples=300, deadline=None)
@given(st.lists(FRAGMENTS, max_size=40), st.sampled_from(["/", "/a?b", "/%2e%2e/x"]))
def test_xml_shaped_input_never_raises(parts: list[str], path: str) -> None:
    doc = RslDocument.parse("".join(parts).encode())
    assert (doc.error is None) == bool(doc.contents)
    for finding in evaluate(doc, "https://a.example" + path, source=LICENCE):
        assert len(finding.rule) <= 300


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=400))
def test_discovery_never_raises(text: str) -> None:
    rsl.license_urls(text)
    parse_link_header([text])
    rsl.link_licenses([text], base="https://s.example/")
    rsl.html_licenses(text.encode("utf-8", "surrogatepass") + b"rsl+xml", base="https://s.example/")
