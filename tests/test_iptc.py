"""IPTC / PLUS DataMining in XMP: every container, every value form, hostile files."""

from __future__ import annotations

import struct
import time
import zlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mediafiles as mf
from scrapy_optout.protocols import containers, iptc, xmp
from scrapy_optout.protocols.iptc import KEYS, iptc_findings, key_of
from scrapy_optout.verdict import Finding, Purpose, Signal, Stance, Where, decide

SRC = "https://media.example/a"
TRAIN_TDM = frozenset({Purpose.TRAIN, Purpose.TDM})
AI = frozenset({Purpose.TRAIN, Purpose.TDM, Purpose.INPUT})
PROHIBIT_TRAINING = mf.attribute_form(mf.VOCAB + "DMI-PROHIBITED-AIMLTRAINING")


def only(findings: list[Finding]) -> Finding:
    assert len(findings) == 1, findings
    return findings[0]


# -- every container ---------------------------------------------------------------------------

CONTAINERS = {
    "jpeg": lambda p: mf.jpeg(mf.jpeg_xmp(p)),
    "jpeg-extended": lambda p: mf.jpeg(
        mf.jpeg_xmp(mf.xmp(">")), *mf.jpeg_extended_xmp(p + b" " * 5000, piece=1000)
    ),
    "png": lambda p: mf.png(mf.png_itxt(p)),
    "png-compressed": lambda p: mf.png(mf.png_itxt(p, compressed=True)),
    "png-after-idat": lambda p: mf.png(after_idat=(mf.png_itxt(p),)),
    "webp": lambda p: mf.webp(mf.riff_chunk(b"XMP ", p)),
    "gif": lambda p: mf.gif(p),
    "tiff-little-endian": lambda p: mf.tiff(p, order="<"),
    "tiff-big-endian": lambda p: mf.tiff(p, order=">"),
    "mp4-uuid": lambda p: mf.mp4(mf.mp4_xmp_uuid(p)),
    "mov-udta": lambda p: mf.mp4(udta=(mf.box(b"XMP_", p),)),
    "mov-udta-meta": lambda p: mf.mp4(
        udta=(mf.box(b"meta", b"\x00\x00\x00\x00" + mf.box(b"XMP_", p)),)
    ),
    "pdf": lambda p: mf.pdf(p),
    "pdf-compressed": lambda p: mf.pdf(p, compressed=True),
    "svg": lambda p: (
        b'<svg xmlns="http://www.w3.org/2000/svg"><metadata>' + p + b"</metadata></svg>"
    ),
}


@pytest.mark.parametrize("name", sorted(CONTAINERS))
def test_every_container_carries_the_reservation(name: str) -> None:
    body = CONTAINERS[name](PROHIBIT_TRAINING)
    finding = only(iptc_findings(body, source=SRC, content_type=None))
    assert finding.signal is Signal.IPTC and finding.where is Where.META
    assert finding.stance is Stance.RESERVE
    assert finding.purposes == TRAIN_TDM
    assert finding.rule == "plus:DataMining " + mf.VOCAB + "DMI-PROHIBITED-AIMLTRAINING"
    assert finding.source == SRC
    assert decide([finding], "train").reserved
    assert not decide([finding], "search").reserved


@pytest.mark.parametrize("name", sorted(CONTAINERS))
def test_every_container_without_the_property_says_nothing(name: str) -> None:
    body = CONTAINERS[name](mf.xmp(' xmlns:dc="http://purl.org/dc/elements/1.1/" dc:format="x">'))
    assert iptc_findings(body, source=SRC, content_type=None) == []


def test_where_the_packet_was_is_named() -> None:
    details = {
        name: only(iptc_findings(build(PROHIBIT_TRAINING), source=SRC)).detail
        for name, build in CONTAINERS.items()
    }
    assert details["jpeg"].startswith("XMP in JPEG APP1")
    assert details["jpeg-extended"].startswith("XMP in JPEG extended XMP")
    assert details["png-compressed"].startswith("XMP in PNG iTXt (compressed)")
    assert details["webp"].startswith("XMP in WebP XMP chunk")
    assert details["gif"].startswith("XMP in GIF application extension")
    assert details["tiff-big-endian"].startswith("XMP in TIFF tag 700")
    assert details["mp4-uuid"].startswith("XMP in MP4 uuid box")
    assert details["mov-udta"].startswith("XMP in QuickTime XMP_ box")
    assert details["pdf-compressed"].startswith("XMP in PDF metadata stream (compressed)")
    assert details["svg"].startswith("XMP in scan")


# -- every value form ------------------------------------------------------------------------------

FORMS = [
    # (packet, stance, purposes, rule)
    (
        mf.attribute_form(mf.VOCAB + "DMI-PROHIBITED"),
        Stance.RESERVE,
        AI,
        "plus:DataMining http://ns.useplus.org/ldf/vocab/DMI-PROHIBITED",
    ),
    (mf.element_form("DMI-PROHIBITED-GENAIMLTRAINING"), Stance.RESERVE, TRAIN_TDM, None),
    (mf.element_form("Prohibited for AI/ML training"), Stance.RESERVE, TRAIN_TDM, None),
    (mf.element_form("Prohibited except for search engine indexing"), Stance.RESERVE, AI, None),
    (mf.element_form("Prohibited for Generative AI/ML training"), Stance.RESERVE, TRAIN_TDM, None),
    (mf.element_form("Prohibited"), Stance.RESERVE, AI, None),
    (mf.element_form("Allowed"), Stance.ALLOW, AI, None),
    (mf.element_form("Unspecified - no prohibition defined"), Stance.UNKNOWN, AI, None),
    (
        mf.xmp(f'><plus:DataMining rdf:resource="{mf.VOCAB}DMI-PROHIBITED-SEECONSTRAINT"/>'),
        Stance.RESERVE,
        AI,
        None,
    ),
    (
        mf.xmp(
            '><plus:DataMining><rdf:Alt><rdf:li xml:lang="x-default">'
            f"{mf.VOCAB}DMI-PROHIBITED-AIMLTRAINING</rdf:li></rdf:Alt></plus:DataMining>"
        ),
        Stance.RESERVE,
        TRAIN_TDM,
        None,
    ),
    (
        mf.xmp(
            "><plus:DataMining><rdf:Bag><rdf:li>DMI-PROHIBITED-EXCEPTSEARCHENGINEINDEXING"
            "</rdf:li></rdf:Bag></plus:DataMining>"
        ),
        Stance.RESERVE,
        AI,
        None,
    ),
    (
        mf.xmp(' Iptc4xmpExt:DataMining="Iptc4xmpExt:DMI-PROHIBITED-AIMLTRAINING">'),
        Stance.RESERVE,
        TRAIN_TDM,
        "Iptc4xmpExt:DataMining Iptc4xmpExt:DMI-PROHIBITED-AIMLTRAINING",
    ),
    (
        mf.xmp(
            '><plus:DataMining rdf:parseType="Resource"><rdf:value>dmi-allowed</rdf:value>'
            "</plus:DataMining>"
        ),
        Stance.ALLOW,
        AI,
        None,
    ),
    (mf.attribute_form("DMI-PROHIBITED-SOMETHINGNEW"), Stance.RESERVE, TRAIN_TDM, None),
    (mf.attribute_form("DMI-SOMETHINGELSE"), Stance.UNKNOWN, AI, None),
    (mf.attribute_form("whatever this means"), Stance.UNKNOWN, AI, None),
    (mf.xmp("><plus:DataMining/>"), Stance.UNKNOWN, AI, "plus:DataMining (empty)"),
]


@pytest.mark.parametrize(("packet", "stance", "purposes", "rule"), FORMS)
def test_value_forms(
    packet: bytes, stance: Stance, purposes: frozenset[Purpose], rule: str | None
) -> None:
    finding = only(iptc_findings(mf.jpeg(mf.jpeg_xmp(packet)), source=SRC))
    assert (finding.stance, finding.purposes) == (stance, purposes)
    if rule is not None:
        assert finding.rule == rule


@pytest.mark.parametrize(
    ("written", "key"),
    [
        ("http://ns.useplus.org/ldf/vocab/DMI-UNSPECIFIED", "DMI-UNSPECIFIED"),
        ("dmi-prohibited-aimltraining", "DMI-PROHIBITED-AIMLTRAINING"),
        ("Iptc4xmpExt:DMI-PROHIBITED-SEELINKEDRIGHTSEXPR", "DMI-PROHIBITED-SEELINKEDRIGHTSEXPR"),
        ("Prohibited, see plus:OtherConstraints", "DMI-PROHIBITED-SEECONSTRAINT"),
        (
            "Prohibited, see Embedded Encoded Rights Expression",
            "DMI-PROHIBITED-SEEEMBEDDEDRIGHTSEXPR",
        ),
        ("Prohibited, see Linked Encoded Rights Expression", "DMI-PROHIBITED-SEELINKEDRIGHTSEXPR"),
        ("  Prohibited   for AI/ML   training ", "DMI-PROHIBITED-AIMLTRAINING"),
        ("Not allowed", "DMI-PROHIBITED"),
        ("", None),
        ("yes", None),
    ],
)
def test_key_of(written: str, key: str | None) -> None:
    assert key_of(written) == key


def test_the_mapping_follows_the_digest() -> None:
    for key, (stance, purposes) in KEYS.items():
        assert Purpose.SEARCH not in purposes and Purpose.CRAWL not in purposes
        if key.startswith("DMI-PROHIBITED"):
            assert stance is Stance.RESERVE and purposes >= TRAIN_TDM
    assert KEYS["DMI-PROHIBITED"] == (Stance.RESERVE, AI)
    assert KEYS["DMI-ALLOWED"][0] is Stance.ALLOW
    assert KEYS["DMI-UNSPECIFIED"][0] is Stance.UNKNOWN


def test_other_constraints_are_quoted() -> None:
    packet = mf.xmp(
        f' plus:DataMining="{mf.VOCAB}DMI-PROHIBITED-SEECONSTRAINT">'
        '<plus:OtherConstraints><rdf:Alt><rdf:li xml:lang="x-default">'
        "Licence for AI training: ai@example.org</rdf:li></rdf:Alt></plus:OtherConstraints>"
    )
    finding = only(iptc_findings(mf.png(mf.png_itxt(packet)), source=SRC))
    assert finding.stance is Stance.RESERVE
    assert "plus:OtherConstraints: Licence for AI training: ai@example.org" in finding.detail


def test_linked_rights_expression_is_quoted_for_its_pointer() -> None:
    packet = mf.xmp(
        f' plus:DataMining="{mf.VOCAB}DMI-PROHIBITED-SEELINKEDRIGHTSEXPR">'
        '<Iptc4xmpExt:LinkedEncRightsExpr><rdf:Bag><rdf:li rdf:parseType="Resource">'
        "<Iptc4xmpExt:LinkedRightsExpr>https://rights.example/odrl.json"
        "</Iptc4xmpExt:LinkedRightsExpr></rdf:li></rdf:Bag></Iptc4xmpExt:LinkedEncRightsExpr>"
    )
    finding = only(iptc_findings(mf.jpeg(mf.jpeg_xmp(packet)), source=SRC))
    assert "linked rights expression: https://rights.example/odrl.json" in finding.detail


def test_allowed_and_prohibited_in_two_packets_reserve() -> None:
    body = mf.jpeg(
        mf.jpeg_xmp(mf.attribute_form("DMI-ALLOWED")),
        *mf.jpeg_extended_xmp(mf.xmp("><plus:DataMining>DMI-PROHIBITED</plus:DataMining>")),
    )
    findings = iptc_findings(body, source=SRC)
    assert sorted(str(f.stance) for f in findings) == ["allow", "reserve"]
    verdict = decide(findings, "train")
    assert verdict.reserved and verdict.reasons[0].rule == "plus:DataMining DMI-PROHIBITED"


# -- broken and hostile packets --------------------------------------------------------------------


def test_broken_packet_errs_toward_the_reservation() -> None:
    packet = (
        b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF><rdf:Description '
        b'plus:DataMining="http://ns.useplus.org/ldf/vocab/DMI-PROHIBITED-AIMLTRAINING">'
        b"<dc:title>unclosed & broken</x:xmpmeta>"
    )
    finding = only(iptc_findings(mf.jpeg(mf.jpeg_xmp(packet)), source=SRC))
    assert finding.stance is Stance.RESERVE and finding.purposes == TRAIN_TDM
    assert "the packet is broken" in finding.detail and "read leniently" in finding.detail


def test_broken_packet_element_form_and_display_string() -> None:
    packet = (
        b"<x:xmpmeta><rdf:Description><plus:DataMining><rdf:Alt><rdf:li>"
        b"Prohibited for AI/ML training</rdf:li></rdf:Alt></plus:DataMining><oops></x:xmpmeta>"
    )
    finding = only(iptc_findings(mf.webp(mf.riff_chunk(b"XMP ", packet)), source=SRC))
    assert finding.stance is Stance.RESERVE
    assert finding.rule == "plus:DataMining Prohibited for AI/ML training"


def test_broken_packet_without_a_readable_value_is_unknown() -> None:
    packet = b"<x:xmpmeta><rdf:Description><plus:DataMining></x:xmpmeta>"
    finding = only(iptc_findings(mf.jpeg(mf.jpeg_xmp(packet)), source=SRC))
    assert finding.stance is Stance.UNKNOWN


BOMB = (
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    + b"".join(
        b'<!ENTITY lol%d "%s">' % (n, (b"&lol%d;" % (n - 1) if n > 1 else b"&lol;") * 10)
        for n in range(1, 10)
    )
    + b']><x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
    b'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description '
    b'xmlns:plus="http://ns.useplus.org/ldf/xmp/1.0/" plus:DataMining="&lol9;"/>'
    b"</rdf:RDF></x:xmpmeta>"
)


def test_entity_bomb_is_never_expanded() -> None:
    started = time.perf_counter()
    finding = only(iptc_findings(mf.jpeg(mf.jpeg_xmp(BOMB)), source=SRC))
    assert time.perf_counter() - started < 5
    assert finding.stance is Stance.UNKNOWN
    assert "refused: DTDForbidden" in finding.detail
    assert "lollol" not in finding.rule


def test_external_entity_is_refused() -> None:
    packet = (
        b'<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
        b'<x:xmpmeta xmlns:x="adobe:ns:meta/">'
        b'<rdf:Description xmlns:plus="http://ns.useplus.org/ldf/xmp/1.0/" '
        b'plus:DataMining="DMI-PROHIBITED">&e;</rdf:Description></x:xmpmeta>'
    )
    root, problem = xmp.parse_xmp(packet)
    assert root is None and problem == "refused: DTDForbidden"
    finding = only(iptc_findings(mf.png(mf.png_itxt(packet)), source=SRC))
    assert finding.stance is Stance.RESERVE  # read leniently from the text, never from the file


def test_truncated_segment_still_reads_what_is_there() -> None:
    body = mf.jpeg(mf.jpeg_xmp(PROHIBIT_TRAINING))
    cut = body[: body.index(b"DMI-PROHIBITED") + 60]
    finding = only(iptc_findings(cut, source=SRC))
    assert finding.stance is Stance.RESERVE
    assert "cut short" in finding.detail


def test_lying_lengths_never_raise() -> None:
    lying_jpeg = (
        b"\xff\xd8\xff\xe1\xff\xff" + b"http://ns.adobe.com/xap/1.0/\x00" + PROHIBIT_TRAINING
    )
    assert only(iptc_findings(lying_jpeg, source=SRC)).stance is Stance.RESERVE
    lying_png = b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 2**32 - 1) + b"iTXt" + b"x" * 10
    assert iptc_findings(lying_png, source=SRC) == []
    lying_box = struct.pack(">I", 1) + b"uuid" + struct.pack(">Q", 2**63) + b"\x00" * 8
    assert iptc_findings(b"\x00\x00\x00\x10ftypisom\x00\x00\x00\x00" + lying_box, source=SRC) == []
    lying_tiff = b"II*\x00" + struct.pack("<I", 8) + struct.pack("<H", 1)
    lying_tiff += struct.pack("<HHII", 700, 1, 2**31, 2**31) + struct.pack("<I", 8)  # a loop
    assert iptc_findings(lying_tiff, source=SRC) == []
    huge_extended = mf.jpeg(
        mf.segment(
            0xE1,
            b"http://ns.adobe.com/xmp/extension/\x00"
            + b"0" * 32
            + struct.pack(">II", 2**32 - 1, 0)
            + PROHIBIT_TRAINING,
        )
    )
    finding = only(iptc_findings(huge_extended, source=SRC))
    assert finding.stance is Stance.RESERVE and "declares 4294967295 bytes" in finding.detail


def test_many_extended_packets_claiming_gigabytes_are_bounded() -> None:
    segments = [
        mf.segment(
            0xE1,
            b"http://ns.adobe.com/xmp/extension/\x00"
            + b"%032d" % n
            + struct.pack(">II", 2**32 - 1, 2**31)
            + b"x",
        )
        for n in range(5000)
    ]
    packets = xmp.xmp_packets(mf.jpeg(*segments))
    assert len(packets) == 4 and all(len(p.data) <= 2**31 + 1 for p in packets)
    assert sum(len(p.data) for p in packets) <= 4 * xmp.MAX_PACKET


def test_a_hundred_thousand_chunks_are_bounded() -> None:
    many = b"".join(mf.chunk(b"tEXt", b"") for _ in range(100_000))
    body = mf.png(many, after_idat=(mf.png_itxt(PROHIBIT_TRAINING),))
    walk = containers.png_chunks(body)
    assert len(walk.parts) == containers.MAX_PARTS and "stopped after" in walk.problem
    started = time.perf_counter()
    # The walk stopped early, so the bounded scan takes over and still finds the packet.
    assert only(iptc_findings(body, source=SRC)).stance is Stance.RESERVE
    assert time.perf_counter() - started < 5


def test_compressed_packet_inflates_within_the_bound() -> None:
    bomb = zlib.compress(b"DataMining" + b" " * (64 * 1024 * 1024))
    body = mf.png(mf.chunk(b"iTXt", b"XML:com.adobe.xmp\x00\x01\x00\x00\x00" + bomb))
    packets = xmp.xmp_packets(body)
    assert len(packets) == 1 and len(packets[0].data) == xmp.MAX_PACKET


def test_packet_count_and_size_are_bounded() -> None:
    body = mf.jpeg(*(mf.jpeg_xmp(PROHIBIT_TRAINING) for _ in range(200)))
    assert len(xmp.xmp_packets(body)) == 16
    assert len(iptc_findings(body, source=SRC)) == 1  # the same value, once


def test_strict_about_argument_types() -> None:
    with pytest.raises(TypeError):
        iptc_findings("not bytes", source=SRC)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        iptc_findings(b"", source=None)  # type: ignore[arg-type]


# -- the common case is cheap ----------------------------------------------------------------------


def test_a_jpeg_without_xmp_is_read_by_its_headers_only() -> None:
    small = mf.jpeg(scan=b"\x00")
    large = mf.jpeg(scan=b"\x5a" * (32 * 1024 * 1024))
    assert containers.jpeg_segments(small) == containers.jpeg_segments(large)
    assert [p.kind for p in containers.jpeg_segments(large).parts] == [
        b"\xe0",
        b"\xdb",
        b"\xc0",
        b"\xc4",
    ]
    assert iptc_findings(large, source=SRC) == []


# -- fuzz ------------------------------------------------------------------------------------------

SEEDS = [build(PROHIBIT_TRAINING) for build in CONTAINERS.values()] + [mf.jpeg(mf.jpeg_xmp(BOMB))]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.one_of(mf.mutations(SEEDS), st.binary(max_size=2048)), st.sampled_from([None, "image/jpeg"])
)
def test_fuzz_never_raises(body: bytes, content_type: str | None) -> None:
    findings = iptc.iptc_findings(body, source=SRC, content_type=content_type)
    for finding in findings:
        assert finding.signal is Signal.IPTC and finding.where is Where.META
        assert len(finding.rule) <= 300 and len(finding.detail) <= 300
