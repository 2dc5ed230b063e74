"""Bodies are read as what they are, not only as what they are labelled.

A reserved page served without a ``Content-Type``, as
``application/octet-stream``, as ``text/plain``, behind a byte-order mark or a
long comment; a PDF whose XMP packet is Flate-compressed, served as
``binary/octet-stream`` from a URL without an extension; an EPUB served as a
zip; a minified ``tdmrep.json`` over the size limit: each must be excluded
before the spider's callback, and its unreserved twin must reach it. The crawls
are real (loopback servers, a spider that records every callback whatever the
response type); the pure functions are also fed hostile input.
"""

from __future__ import annotations

import codecs
import functools
import io
import json
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from faultserver import Connection, FaultServer, Respond
from helpers import TEST_UA, run_crawl
from scrapy_optout.policy.evaluate import Evaluator, may_carry_body_signals
from scrapy_optout.policy.snapshot import OriginPolicy, PolicyFile
from scrapy_optout.protocols import sniff as sniffing
from scrapy_optout.protocols import tdmrep
from scrapy_optout.protocols.html import head_meta
from scrapy_optout.protocols.sniff import ALL_KINDS, BodyKind, body_kinds, sniff
from scrapy_optout.protocols.tdmrep import MAX_FILE_BYTES, TdmrepFile, document_value

MiB = 1024 * 1024
HTML, PDF, EPUB, MEDIA = BodyKind.HTML, BodyKind.PDF, BodyKind.EPUB, BodyKind.MEDIA
NOAI = '<meta name="robots" content="noai">'
INDEX = '<meta name="robots" content="index, follow">'
OCTET = "application/octet-stream"

# -- documents ------------------------------------------------------------------------------


def page(meta: str, *, before: str = "") -> str:
    return (
        f"{before}<!DOCTYPE html>\n<html><head><title>t</title>{meta}</head>"
        "<body><p>text</p></body></html>"
    )


def xmp(reservation: str | None) -> bytes:
    inner = (
        f"<tdm:reservation>{reservation}</tdm:reservation>"
        "<tdm:policy>https://example.com/policy.json</tdm:policy>"
        if reservation is not None
        else "<dc:format>application/pdf</dc:format>"
    )
    return (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/">'
        '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description rdf:about="" xmlns:tdm="http://www.w3.org/ns/tdmrep/"'
        ' xmlns:dc="http://purl.org/dc/elements/1.1/">'
        f"{inner}</rdf:Description></rdf:RDF></x:xmpmeta>\n"
        '<?xpacket end="w"?>'
    ).encode()


@functools.cache
def _deflate(data: bytes) -> bytes:
    return zlib.compress(data, 1)


def pdf(*streams: bytes, junk: bytes = b"", flate: bool = True) -> bytes:
    """A PDF-shaped file whose metadata streams hold *streams* (compressed with *flate*)."""
    out = [junk, b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"]
    out.append(b"1 0 obj\n<< /Type /Catalog /Pages 2 0 R /Metadata 3 0 R >>\nendobj\n")
    out.append(b"2 0 obj\n<< /Type /Pages /Kids [] /Count 0 >>\nendobj\n")
    for number, stream in enumerate(streams, start=3):
        data = _deflate(stream) if flate else stream
        flt = b" /Filter /FlateDecode" if flate else b""
        out.append(
            b"%d 0 obj\n<< /Type /Metadata /Subtype /XML /Length %d%s >>\nstream\r\n"
            % (number, len(data), flt)
            + data
            + b"\r\nendstream\nendobj\n"
        )
    out.append(b"trailer\n<< /Root 1 0 R >>\n%%EOF\n")
    return b"".join(out)


def epub(reservation: str | None, *, first: str = "mimetype") -> bytes:
    meta = f'<meta property="tdm:reservation">{reservation}</meta>' if reservation else ""
    package = (
        '<?xml version="1.0"?>\n<package xmlns="http://www.idpf.org/2007/opf" version="3.0"'
        ' prefix="tdm: http://www.w3.org/ns/tdmrep#"><metadata>'
        f"<dc:title>t</dc:title>{meta}</metadata></package>"
    )
    container = (
        '<?xml version="1.0"?><container version="1.0"'
        ' xmlns="urn:oasis:names:tc:opendocument:xmlns:container"><rootfiles>'
        '<rootfile full-path="OEBPS/content.opf" media-type="application/oebps-package+xml"/>'
        "</rootfiles></container>"
    )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        members = [
            ("mimetype", "application/epub+zip"),
            ("META-INF/container.xml", container),
            ("OEBPS/content.opf", package),
        ]
        members.sort(key=lambda m: m[0] != first)
        for name, text in members:
            archive.writestr(name, text, compress_type=zipfile.ZIP_DEFLATED)
    return buffer.getvalue()


def big_tdmrep(size: int = 2 * MiB) -> bytes:
    """A minified tdmrep.json of *size* bytes and more: a reservation first, then filler rules."""
    rules: list[dict[str, Any]] = [
        {"location": "/tdm/reserved/", "tdm-reservation": 1},
        {"location": "/tdm/open/", "tdm-reservation": 0},
    ]
    out = bytearray(b"[")
    out += b",".join(json.dumps(r, separators=(",", ":")).encode() for r in rules)
    number = 0
    while len(out) < size:
        number += 1
        rule = {"location": f"/café/straße/{number:07d}/", "tdm-reservation": 0}
        out += b"," + json.dumps(rule, separators=(",", ":"), ensure_ascii=False).encode()
    return bytes(out + b"]")


# -- the type decision ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content_type", "url", "body", "kinds"),
    [
        ("text/html; charset=utf-8", "/a", b"hello", {HTML}),
        ("application/xhtml+xml", "/a", b"", {HTML}),
        (None, "/a", b"\xef\xbb\xbf<!-- hi --><meta name=x>", {HTML}),
        (None, "/a", page(NOAI, before="<!--" + "x" * 100_000 + "-->").encode(), {HTML}),
        (OCTET, "/a", " <HTML>".encode("utf-16"), {HTML}),
        (OCTET, "/a", "<head>".encode("utf-16-be"), {HTML}),
        ("text/plain", "/a.txt", b"<!DOCTYPE html>\n<p>", {HTML}),
        ("text/plain", "/a.txt", b"just text <html> later", set()),
        (None, "/a", b"just text, <html> later", {HTML}),  # Scrapy's own body guess
        (None, "/a", b'<?xml version="1.0"?>\n<!DOCTYPE html PUBLIC "x">\n<html>', {HTML}),
        (None, "/a", b"<svg><title>x</title></svg>", set()),
        ("binary/octet-stream", "/doc?id=3", b"\r\n%PDF-1.4\n", {PDF}),
        (OCTET, "/a", b"junk" * 200 + b"%PDF-1.7", {PDF}),
        (OCTET, "/a", b"junk" * 300 + b"%PDF-1.7", set()),  # past the first 1024 bytes
        ("application/zip", "/book.zip", epub("1"), {EPUB}),
        ("application/zip", "/book.zip", epub("1", first="OEBPS/content.opf"), {EPUB}),
        (OCTET, "/a.pdf", b"", {PDF}),
        (None, "/a.epub", b"", {EPUB}),
        ("image/png", "/a.png", b"\x89PNG\r\n\x1a\n", {MEDIA}),
        (OCTET, "/photo?id=1", b"\xff\xd8\xff\xe0\x00\x10JFIF", {MEDIA}),  # sniffed
        ("image/png", "/a.png", b"<!doctype html><title>gone</title>", {MEDIA, HTML}),
        ("text/html", "/a", b"<!--wide-->\n<html>", {HTML, MEDIA}),  # BMFF-like start
        ("application/c2pa", "/a.c2pa", b"\x00\x00\x00\x10jumb", {MEDIA}),
        ("application/json", "/a", b'{"a": 1}', set()),
        ("application/json", "/a", b"\n<html><body>error</body></html>", {HTML}),
    ],
)
def test_body_kinds(content_type: str | None, url: str, body: bytes, kinds: set[BodyKind]) -> None:
    assert body_kinds(content_type, "http://example.com" + url, body) == kinds


@pytest.mark.parametrize(
    ("content_type", "url", "kinds"),
    [
        ("text/html", "/a.jpg", {HTML}),
        ("application/pdf", "/a", {PDF}),
        (None, "/a", ALL_KINDS),
        (None, "/", ALL_KINDS),
        (OCTET, "/doc?id=3", ALL_KINDS),
        ("binary/octet-stream", "/download", ALL_KINDS),
        (OCTET, "/a.pdf", {PDF}),
        (OCTET, "/a.htm", {HTML}),
        (OCTET, "/a.jpg", {MEDIA}),  # the extension names an image, as in Scrapy
        (OCTET, "/a.css", set()),  # the extension names another type
        ("text/plain", "/a.txt", ALL_KINDS),
        ("application/zip", "/a.zip", ALL_KINDS),
        ("image/jpeg", "/a", {MEDIA}),
        ("video/mp4", "/a", {MEDIA}),
        ("audio/mpeg", "/a", set()),
        ("text/css", "/a", set()),
    ],
)
def test_kinds_a_body_may_turn_out_to_be(
    content_type: str | None, url: str, kinds: set[BodyKind]
) -> None:
    """The headers stage waits for every body that may still be read as a document."""
    full = "http://example.com" + url
    assert body_kinds(content_type, full) == kinds
    assert may_carry_body_signals(content_type, full) is bool(kinds)


def test_sniff_never_raises_on_any_start() -> None:
    for first in range(256):
        for second in (0, 0x3C, 0xFE, 0xFF):
            assert sniff(bytes([first, second]) * 600) <= ALL_KINDS
    assert sniff(b"") == frozenset()


_STARTS = st.lists(
    st.sampled_from(
        [
            " ",
            "\n",
            "<!--",
            "-->",
            "<?xml version='1.0'?>",
            "<!DOCTYPE",
            "<!doctype",
            " html",
            " HTML",
            " svg",
            ">",
            "<html",
            "<HEAD",
            "<body",
            "<p",
            "<meta",
            "<x",
            "/",
            "caf\u00e9",
            "\ufeff",
            "%PDF-1.7",
            "a" * 300,
        ]
    ),
    max_size=12,
).map("".join)


@settings(max_examples=300, deadline=None)
@given(_STARTS, st.sampled_from(["latin-1", "utf-8", "utf-8-sig", "utf-16", "utf-16-le"]))
def test_the_html_sniffer_reads_a_short_prefix_as_the_whole_window(text: str, codec: str) -> None:
    # The sniffer tries the first bytes before the whole window: the answer is the window's.
    body = text.encode(codec, "replace")
    start = body[: sniffing._HTML_WINDOW * 2]
    whole = sniffing._HTML_PREFIX
    try:
        sniffing._HTML_PREFIX = len(start) + 1  # no shortcut: the window alone
        expected = sniffing._looks_html(start)
    finally:
        sniffing._HTML_PREFIX = whole
    assert sniffing._looks_html(start) is expected


_BODY_STARTS = st.one_of(
    _STARTS.map(lambda text: text.encode("utf-8")),
    st.sampled_from(
        [b"%PDF-1.7\n", b"PK\x03\x04", b"\xff\xd8\xff\xe0", b"\x89PNG\r\n\x1a\n", b"GIF89a"]
    ).flatmap(lambda magic: _STARTS.map(lambda text: magic + text.encode("utf-8"))),
)


@settings(max_examples=300, deadline=None)
@given(
    _BODY_STARTS,
    st.sampled_from(["text/html", "text/html; charset=utf-8", "application/xhtml+xml"]),
)
def test_a_body_declared_as_html_is_sniffed_for_the_rest(body: bytes, content_type: str) -> None:
    # The markup test is left out when the type says HTML: the kinds are the same.
    declared = body_kinds(content_type, "http://example.com/p")
    assert BodyKind.HTML in declared
    page = bytes(bytearray(body))  # not the object another test last asked about
    assert body_kinds(content_type, "http://example.com/p", page) == declared | sniff(page)


# -- the head scanner behind a byte-order mark or a comment ---------------------------------


@pytest.mark.parametrize(
    "body",
    [
        codecs.BOM_UTF8 + page(NOAI).encode(),
        codecs.BOM_UTF16_LE + page(NOAI).encode("utf-16-le"),
        codecs.BOM_UTF16_BE + page(NOAI).encode("utf-16-be"),
        page(NOAI, before="<!--" + "-x- <meta name=robots content=all> " * 5000 + "-->").encode(),
        codecs.BOM_UTF8 + page(NOAI, before="<!-- a -->\n<!-- b -->\n  ").encode(),
        page(NOAI, before='<?xml version="1.0" encoding="utf-8"?>\n').encode(),
    ],
)
@pytest.mark.parametrize("encoding", [None, "utf-8", "cp1252", "utf-16"])
def test_head_scanner_reads_meta_behind_bom_and_comments(body: bytes, encoding: str | None) -> None:
    if encoding != "utf-16":  # the scanner trusts its caller; the evaluator checks the label
        metas = head_meta(body, encoding=encoding, include_body=True)
        assert [(m.name, m.content, m.in_head) for m in metas] == [("robots", "noai", True)]
    evaluator = Evaluator(TEST_UA)
    policy = OriginPolicy("http://x:80", PolicyFile("robots.txt", "http://x/robots.txt", 404))
    for content_type in ([], ["text/html"], [OCTET], ["text/plain; charset=utf-16"]):
        prior = evaluator.headers_stage(
            evaluator.origin_stage(policy, "http://x/p"), {"Content-Type": content_type}
        )
        done = evaluator.body_stage(prior, body, encoding=encoding)
        assert done.verdict("train").reserved, (content_type, encoding)


@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be"])
@pytest.mark.parametrize("declared", [None, "utf-8", "utf-16"])
def test_utf16_page_without_a_byte_order_mark(codec: str, declared: str | None) -> None:
    body = page(NOAI, before=" ").encode(codec)
    assert body_kinds(OCTET, "http://x/p", body) == {HTML}
    evaluator = Evaluator(TEST_UA)
    policy = OriginPolicy("http://x:80", PolicyFile("robots.txt", "http://x/robots.txt", 404))
    prior = evaluator.headers_stage(evaluator.origin_stage(policy, "http://x/p"), {})
    assert evaluator.body_stage(prior, body, encoding=declared).verdict("train").reserved


# -- PDF ------------------------------------------------------------------------------------


def _reservation(body: bytes, content_type: str | None = None) -> int | None:
    value = document_value(body, content_type, source="https://example.com/doc")
    return None if value is None else value.reservation


@pytest.mark.parametrize("content_type", [None, OCTET, "binary/octet-stream", "application/pdf"])
def test_flate_compressed_xmp_is_read(content_type: str | None) -> None:
    assert _reservation(pdf(xmp("1")), content_type) == 1
    assert _reservation(pdf(xmp("0")), content_type) == 0
    assert _reservation(pdf(xmp(None)), content_type) is None
    assert _reservation(pdf(xmp("1"), junk=b"\x00junk before the header\n"), content_type) == 1


def test_flate_xmp_variants() -> None:
    raw = zlib.compressobj(wbits=-15)
    raw_deflate = raw.compress(xmp("1")) + raw.flush()
    body = pdf(xmp("0")).replace(b"%%EOF", b"") + (
        b"9 0 obj\n<</Type/Metadata/Subtype/XML/Filter[/FlateDecode]>>stream\n"
        + raw_deflate
        + b"\nendstream\nendobj\n%%EOF\n"
    )
    assert _reservation(body) == 1  # raw deflate, a filter array, no spaces; 1 beats 0
    utf16 = pdf(xmp("1").decode().encode("utf-16-le"))
    assert _reservation(utf16) == 1
    # Plain and compressed packets in one file, the plain one far from either end.
    plain = pdf(b"x" * 9 * MiB, xmp("1"), flate=False)
    assert _reservation(plain) == 1


def test_pdf_hostile_inputs_are_bounded() -> None:
    # A Flate bomb: the packet comes after more than the per-stream bound of padding.
    bomb = pdf(b" " * (64 * MiB) + xmp("1"))
    assert len(bomb) < MiB
    assert _reservation(bomb) is None
    # Within the bound it is found.
    assert _reservation(pdf(b" " * MiB + xmp("1"))) == 1
    # Broken streams: cut, corrupted, not deflate at all.
    good = zlib.compress(xmp("1"))
    for data in (good[: len(good) // 2], good[:10] + b"\xff" * 50 + good[60:], b"\x00" * 100):
        body = (
            b"%PDF-1.7\n3 0 obj\n<< /Type /Metadata /Filter /FlateDecode >>\nstream\n"
            + data
            + b"\nendstream\nendobj\n"
        )
        assert _reservation(body) in (None, 1)
    # Thousands of metadata streams, each a small bomb: only the first few are inflated.
    many = pdf(*([b"\x00" * MiB] * 200), xmp("1"))
    assert _reservation(many) is None
    # A huge packet, and thousands of namespace mentions in plain text.
    huge = pdf(xmp("1").replace(b"<tdm:reservation>", b"<x>" * (4 * MiB) + b"<tdm:reservation>"))
    assert _reservation(huge) in (None, 1)
    mentions = b"%PDF-1.7\n" + b"xmlns:tdm='http://www.w3.org/ns/tdmrep/' " * 200_000
    assert _reservation(mentions) is None
    # A "/Metadata" with no stream after it, at the very end.
    assert _reservation(b"%PDF-1.7\n/Metadata") is None


# -- EPUB -----------------------------------------------------------------------------------


@pytest.mark.parametrize("content_type", [None, OCTET, "application/zip", "application/epub+zip"])
def test_epub_found_by_sniffing(content_type: str | None) -> None:
    assert _reservation(epub("1"), content_type) == 1
    assert _reservation(epub("0"), content_type) == 0
    assert _reservation(epub(None), content_type) is None
    # A zip whose first member is not "mimetype" but that has a container.
    assert _reservation(epub("1", first="META-INF/container.xml"), content_type) == 1


def test_zip_hostile_inputs_are_bounded() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("mimetype", "application/epub+zip", compress_type=zipfile.ZIP_STORED)
        # A container that inflates to 64 MiB.
        archive.writestr("META-INF/container.xml", b"\x00" * (64 * MiB), zipfile.ZIP_DEFLATED)
    bomb = buffer.getvalue()
    assert len(bomb) < MiB
    assert _reservation(bomb) is None
    assert _reservation(bomb[: len(bomb) // 2]) is None  # cut short
    assert _reservation(b"PK\x03\x04" + b"\xff" * 5000) is None
    assert _reservation(b"PK\x05\x06" + b"\x00" * 18) is None
    # A plain zip with no container is no EPUB.
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("data.csv", "a,b\n1,2\n")
    assert _reservation(buffer.getvalue(), "application/zip") is None


# -- tdmrep.json over the size limit ---------------------------------------------------------


def test_minified_tdmrep_over_the_limit_keeps_its_first_rules() -> None:
    body = big_tdmrep()
    assert len(body) > 2 * MiB
    for kept, truncated in ((body[:MAX_FILE_BYTES], True), (body, False)):
        parsed = TdmrepFile.parse(kept, truncated=truncated)
        assert parsed.error is not None and "cut short" in parsed.error, parsed.error
        assert "may reserve" in parsed.error
        assert len(parsed.rules) > 10_000
        first = parsed.lookup("/tdm/reserved/a.html", source="s")
        assert first is not None and first.reservation == 1
        last = parsed.rules[-1]
        assert last.location.startswith("/café/straße/")
        assert parsed.lookup("/elsewhere", source="s") is None


@pytest.mark.parametrize("cut", range(1, 9))
def test_cut_inside_a_character_or_a_rule(cut: int) -> None:
    head = '[{"location":"/é/","tdm-reservation":1},{"location":"/ü/","tdm-reservation":0}'
    body = head.encode()
    # Every cut through the second rule and its two-byte characters keeps the first.
    prefix = body[: len(body) - cut]
    parsed = TdmrepFile.parse(prefix, truncated=True)
    assert [r.location for r in parsed.rules] == ["/é/"]
    assert parsed.error is not None and "cut short" in parsed.error
    utf16 = codecs.BOM_UTF16_LE + head.encode("utf-16-le")
    parsed = TdmrepFile.parse(utf16[: len(utf16) - cut], truncated=True)
    assert [r.location for r in parsed.rules] == ["/é/"]


def test_cut_tdmrep_in_the_origin_policy() -> None:
    kept = big_tdmrep()[:MAX_FILE_BYTES]
    robots = PolicyFile("robots.txt", "http://x/robots.txt", 404)
    tdm = PolicyFile("tdmrep.json", "http://x/.well-known/tdmrep.json", 200, kept, truncated=True)
    policy = OriginPolicy("http://x:80", robots, None, tdm)
    assert policy.tdmrep is not None and policy.tdmrep.rules
    assert policy.tdmrep_file is not None and "cut short" in (policy.tdmrep_file.problem or "")
    evaluator = Evaluator(TEST_UA)
    origin = evaluator.origin_stage(policy, "http://x/tdm/reserved/a")
    assert origin.tdm is not None and origin.tdm.reservation == 1
    # Whoever treats unknown as reserved keeps a path none of the read rules decides reserved.
    strict = Evaluator(TEST_UA, reserve_unknown=True)
    other = strict.origin_stage(policy, "http://x/other")
    assert other.tdm is None and other.tdm_assumed is not None


# -- deferring a tdmrep.json reservation to the body -----------------------------------------


def test_tdmrep_reservation_waits_for_a_body_that_may_lift_it() -> None:
    robots = PolicyFile("robots.txt", "http://x/robots.txt", 404)
    tdm = PolicyFile(
        "tdmrep.json", "http://x/.well-known/tdmrep.json", 200,
        b'[{"location": "/", "tdm-reservation": 1}]',
    )  # fmt: skip
    policy = OriginPolicy("http://x:80", robots, None, tdm)
    evaluator = Evaluator(TEST_UA)
    for url, body, reserved in (
        ("http://x/doc?id=3", pdf(xmp("0")), False),
        ("http://x/doc?id=3", pdf(xmp(None)), True),
        ("http://x/doc?id=3", b"\x89PNG\r\n", True),
        ("http://x/page", page('<meta name="tdm-reservation" content="0">').encode(), False),
    ):
        origin = evaluator.origin_stage(policy, url)
        headers = evaluator.headers_stage(origin, {"Content-Type": [OCTET]})
        assert not headers.final
        done = evaluator.body_stage(headers, body)
        assert done.final
        assert done.verdict("train").reserved is reserved, url
    jpeg = evaluator.headers_stage(
        evaluator.origin_stage(policy, "http://x/a.jpg"), {"Content-Type": [OCTET]}
    )
    assert jpeg.final and jpeg.verdict("train").reserved


# -- real crawls ----------------------------------------------------------------------------

_PAGE_CASES: dict[str, tuple[tuple[tuple[str, str], ...], Any]] = {
    # name: (headers, body for a meta tag)
    "no-type": ((), lambda meta: page(meta).encode()),
    "octet": ((("Content-Type", OCTET),), lambda meta: page(meta).encode()),
    "text-plain": ((("Content-Type", "text/plain"),), lambda meta: page(meta).encode()),
    "utf8-bom": ((), lambda meta: codecs.BOM_UTF8 + page(meta).encode()),
    "utf16-bom": (
        (("Content-Type", OCTET),),
        lambda meta: codecs.BOM_UTF16_LE + page(meta).encode("utf-16-le"),
    ),
    "long-comment": ((), lambda meta: page(meta, before="<!--" + "c" * 300_000 + "-->").encode()),
}
_DOC_CASES: dict[str, tuple[str, str, Any]] = {
    # name: (path, content type, body for a reservation value)
    "pdf-octet": ("/files/{v}.pdf", OCTET, lambda v: pdf(xmp(v))),
    "pdf-binary": ("/doc?id={v}", "binary/octet-stream", lambda v: pdf(xmp(v))),
    "epub-zip": ("/books/{v}.zip", "application/zip", lambda v: epub(v)),
}


@dataclass
class ByQuery:
    """Answers a path by its query string too (routes match the path alone)."""

    answers: dict[str, Respond] = field(default_factory=dict)

    def serve(self, conn: Connection) -> None:
        self.answers.get(conn.target, Respond(404, b"not found")).serve(conn)


def _route(server: FaultServer, target: str, answer: Respond) -> None:
    path = target.split("?", 1)[0]
    if "?" not in target:
        server.route(path, answer)
        return
    by_query = server.routes.get(path)
    if not isinstance(by_query, ByQuery):
        by_query = ByQuery()
        server.route(path, by_query)
    by_query.answers[target] = answer


def _routes(server: FaultServer) -> Iterator[tuple[str, bool, str]]:
    """Install every case; yield (url, reserved, signal)."""
    for name, (headers, build) in _PAGE_CASES.items():
        for meta, reserved in ((NOAI, True), (INDEX, False)):
            path = f"/pages/{name}/{'reserved' if reserved else 'open'}"
            _route(server, path, Respond(200, build(meta), headers))
            yield server.url(path), reserved, "noai"
    for name, (template, ctype, build) in _DOC_CASES.items():
        for value, reserved in (("1", True), ("0", False)):
            path = template.format(v=value)
            _route(server, path, Respond(200, build(value), (("Content-Type", ctype),)))
            yield server.url(path), reserved, "tdmrep"
        del name


def test_reserved_bodies_never_reach_the_callback(tmp_path: Path) -> None:
    pages = FaultServer(name="pages")
    cases = list(_routes(pages))
    # An origin whose minified 2 MiB tdmrep.json reserves /tdm/reserved/ in its first rule.
    big = FaultServer(name="big-tdmrep")
    big.route(
        tdmrep.WELL_KNOWN_PATH, Respond(200, big_tdmrep(), (("Content-Type", "application/json"),))
    )
    for path, reserved in (("/tdm/reserved/page", True), ("/tdm/open/page", False)):
        big.route(path, Respond(200, page(INDEX).encode(), (("Content-Type", "text/html"),)))
        cases.append((big.url(path), reserved, "tdmrep"))
    # An origin whose tdmrep.json reserves everything: a generic body may lift it, or not.
    lift = FaultServer(name="lift")
    lift.route(
        tdmrep.WELL_KNOWN_PATH,
        Respond(
            200,
            b'[{"location": "/", "tdm-reservation": 1}]',
            (("Content-Type", "application/json"),),
        ),
    )
    for path, body, reserved in (
        ("/doc?id=1", pdf(xmp("0")), False),
        ("/doc?id=2", pdf(xmp(None)), True),
        ("/a.jpg", b"\xff\xd8\xff\xe0 not really", True),
        ("/book", epub("0"), False),
    ):
        _route(lift, path, Respond(200, body, (("Content-Type", OCTET),)))
        cases.append((lift.url(path), reserved, "tdmrep"))
    with pages, big, lift:
        result = run_crawl(
            tmp_path,
            [url for url, _, _ in cases],
            {"USER_AGENT": TEST_UA, "DOWNLOAD_TIMEOUT": 20},
            spider="callbacks",
        )
    reached = result.item_urls
    excluded = result.reserved()
    for url, reserved, signal in cases:
        if reserved:
            assert url not in reached, f"reserved body reached the callback: {url}"
            assert url in excluded, f"no ledger line for {url}"
            assert signal in {r["signal"] for r in excluded[url]["reasons"]}, excluded[url]
        else:
            assert url in reached, f"allowed body lost: {url}\n{result.log[-3000:]}"
            assert url not in excluded
    # The cut file is on record as such, and its early rule still decided.
    record = excluded[big.url("/tdm/reserved/page")]
    evidence = [e for e in record["evidence"] if e["source"].endswith("tdmrep.json")]
    assert evidence and evidence[0].get("truncated") is True
    assert "cut short" in evidence[0].get("problem", "")
    assert excluded[lift.url("/a.jpg")]["stage"] == "headers"
    assert excluded[lift.url("/doc?id=2")]["stage"] == "body"
