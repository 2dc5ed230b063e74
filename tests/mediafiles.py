"""Builders of small, real media files for the metadata readers' tests.

Each builder writes the byte structure of its format as the format's
specification lays it out (JPEG markers, PNG chunks with CRCs, RIFF chunks,
GIF blocks, TIFF directories, ISO BMFF boxes, a PDF with a metadata stream),
so the files open in ordinary tools; the pixel data is a token minimum.
Also a tiny CBOR encoder and JUMBF/C2PA manifest-store builder.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Sequence
from typing import Any

from hypothesis import strategies as st

PLUS = "http://ns.useplus.org/ldf/xmp/1.0/"
VOCAB = "http://ns.useplus.org/ldf/vocab/"


# -- XMP -------------------------------------------------------------------------------------------


def xmp(description: str, *, extra_ns: str = "", wrap: bool = True) -> bytes:
    """An XMP packet whose rdf:Description holds *description* (attributes and children).

    *description* starts with the attributes (may be empty) and, after a
    ``>``, the child elements, e.g. ``' plus:DataMining="...">'``.
    """
    body = (
        '<x:xmpmeta xmlns:x="adobe:ns:meta/">'
        '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        f'<rdf:Description rdf:about="" xmlns:plus="{PLUS}"'
        ' xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/"'
        f"{extra_ns}{description}</rdf:Description></rdf:RDF></x:xmpmeta>"
    )
    if wrap:
        body = (
            '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'
            + body
            + "\n"
            + " " * 64
            + '\n<?xpacket end="w"?>'
        )
    return body.encode("utf-8")


def attribute_form(value: str) -> bytes:
    return xmp(f' plus:DataMining="{value}">')


def element_form(value: str) -> bytes:
    return xmp(f"><plus:DataMining>{value}</plus:DataMining>")


# -- JPEG ------------------------------------------------------------------------------------------


def segment(marker: int, payload: bytes) -> bytes:
    return b"\xff" + bytes([marker]) + struct.pack(">H", len(payload) + 2) + payload


def jpeg(*segments: bytes, scan: bytes = b"\x00") -> bytes:
    """A baseline 1x1 JPEG with *segments* after APP0."""
    return (
        b"\xff\xd8"
        + segment(0xE0, b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00")
        + b"".join(segments)
        + segment(0xDB, b"\x00" + bytes(range(1, 65)))
        + segment(0xC0, b"\x08\x00\x01\x00\x01\x01\x01\x11\x00")
        + segment(0xC4, b"\x00" + bytes([1] + [0] * 15) + b"\x00")
        + segment(0xDA, b"\x01\x01\x00\x00\x3f\x00")
        + scan
        + b"\xff\xd9"
    )


def jpeg_xmp(packet: bytes) -> bytes:
    return segment(0xE1, b"http://ns.adobe.com/xap/1.0/\x00" + packet)


def jpeg_extended_xmp(packet: bytes, guid: bytes = b"0" * 32, piece: int = 60000) -> list[bytes]:
    """APP1 segments carrying *packet* as extended XMP, cut into pieces."""
    out = []
    for offset in range(0, len(packet), piece):
        chunk = packet[offset : offset + piece]
        header = b"http://ns.adobe.com/xmp/extension/\x00" + guid
        out.append(segment(0xE1, header + struct.pack(">II", len(packet), offset) + chunk))
    return out


# -- PNG -------------------------------------------------------------------------------------------


def chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png(*chunks: bytes, after_idat: tuple[bytes, ...] = ()) -> bytes:
    ihdr = chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0))
    idat = chunk(b"IDAT", zlib.compress(b"\x00\x00"))
    return (
        b"\x89PNG\r\n\x1a\n"
        + ihdr
        + b"".join(chunks)
        + idat
        + b"".join(after_idat)
        + chunk(b"IEND", b"")
    )


def png_itxt(packet: bytes, *, compressed: bool = False) -> bytes:
    text = zlib.compress(packet) if compressed else packet
    flag = b"\x01\x00" if compressed else b"\x00\x00"
    return chunk(b"iTXt", b"XML:com.adobe.xmp\x00" + flag + b"\x00\x00" + text)


# -- WebP ------------------------------------------------------------------------------------------


def riff_chunk(kind: bytes, data: bytes) -> bytes:
    return kind + struct.pack("<I", len(data)) + data + (b"\x00" if len(data) % 2 else b"")


def webp(*chunks: bytes) -> bytes:
    vp8x = riff_chunk(b"VP8X", b"\x04\x00\x00\x00" + b"\x00\x00\x00" + b"\x00\x00\x00")
    vp8l = riff_chunk(b"VP8L", b"\x2f\x00\x00\x00\x00\x88\x88\x08")
    form = b"WEBP" + vp8x + vp8l + b"".join(chunks)
    return b"RIFF" + struct.pack("<I", len(form)) + form


# -- GIF -------------------------------------------------------------------------------------------


def gif(packet: bytes | None) -> bytes:
    out = b"GIF89a" + struct.pack("<HHBBB", 1, 1, 0x80, 0, 0) + b"\x00\x00\x00\xff\xff\xff"
    if packet is not None:
        # The packet raw, then the "magic trailer": 0x01, 0xFF down to 0x00, 0x00.
        trailer = b"\x01" + bytes(range(255, -1, -1)) + b"\x00"
        out += b"\x21\xff\x0bXMP DataXMP" + packet + trailer
    image = b"\x2c" + struct.pack("<HHHHB", 0, 0, 1, 1, 0) + b"\x02\x02\x44\x01\x00"
    return out + image + b"\x3b"


# -- TIFF ------------------------------------------------------------------------------------------


def tiff(packet: bytes | None, *, order: str = "<") -> bytes:
    """A 1x1 bilevel TIFF; *packet* in tag 700 (type BYTE), in *order* byte order."""
    entries = [(256, 3, 1, 1), (257, 3, 1, 1), (259, 3, 1, 1), (262, 3, 1, 0)]
    count = len(entries) + 2 + (1 if packet is not None else 0)
    ifd_size = 2 + 12 * count + 4
    data_at = 8 + ifd_size
    strip = b"\x00"
    extra = strip + (packet or b"")
    entries.append((273, 4, 1, data_at))
    entries.append((279, 4, 1, 1))
    if packet is not None:
        entries.append((700, 1, len(packet), data_at + 1))
    entries.sort()
    head = (b"II*\x00" if order == "<" else b"MM\x00*") + struct.pack(order + "I", 8)
    ifd = struct.pack(order + "H", len(entries))
    for tag, kind, number, value in entries:
        if kind == 3 and number == 1:
            packed = struct.pack(order + "H", value) + b"\x00\x00"
        else:
            packed = struct.pack(order + "I", value)
        ifd += struct.pack(order + "HHI", tag, kind, number) + packed
    ifd += struct.pack(order + "I", 0)
    return head + ifd + extra


# -- ISO BMFF --------------------------------------------------------------------------------------


def box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload) + 8) + kind + payload


def mp4(*boxes: bytes, udta: tuple[bytes, ...] = ()) -> bytes:
    ftyp = box(b"ftyp", b"isom\x00\x00\x02\x00isomiso2mp41")
    mvhd = box(b"mvhd", b"\x00" * 100)
    moov = box(b"moov", mvhd + (box(b"udta", b"".join(udta)) if udta else b""))
    return ftyp + moov + box(b"mdat", b"\x00" * 16) + b"".join(boxes)


def mp4_xmp_uuid(packet: bytes) -> bytes:
    return box(b"uuid", bytes.fromhex("BE7ACFCB97A942E89C71999491E3AFAC") + packet)


# -- PDF -------------------------------------------------------------------------------------------


def pdf(packet: bytes, *, compressed: bool = False) -> bytes:
    stream = zlib.compress(packet) if compressed else packet
    flate = b" /Filter /FlateDecode" if compressed else b""
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R /Metadata 3 0 R >>",
        b"<< /Type /Pages /Kids [] /Count 0 >>",
        b"<< /Type /Metadata /Subtype /XML /Length %d%s >>\nstream\n" % (len(stream), flate)
        + stream
        + b"\nendstream",
    ]
    out = b"%PDF-1.7\n"
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return out


# -- CBOR and JUMBF --------------------------------------------------------------------------------


def _head(major: int, value: int) -> bytes:
    if value < 24:
        return bytes([major << 5 | value])
    for info, size in ((24, 1), (25, 2), (26, 4), (27, 8)):
        if value < 1 << (8 * size):
            return bytes([major << 5 | info]) + value.to_bytes(size, "big")
    raise ValueError(value)


def cbor(value: Any) -> bytes:
    """Encode *value* (dict, list, str, bytes, int, bool, None, float) as CBOR."""
    if value is None:
        return b"\xf6"
    if value is True:
        return b"\xf5"
    if value is False:
        return b"\xf4"
    if isinstance(value, int):
        return _head(0, value) if value >= 0 else _head(1, -1 - value)
    if isinstance(value, float):
        return b"\xfb" + struct.pack(">d", value)
    if isinstance(value, bytes):
        return _head(2, len(value)) + value
    if isinstance(value, str):
        raw = value.encode("utf-8")
        return _head(3, len(raw)) + raw
    if isinstance(value, list):
        return _head(4, len(value)) + b"".join(cbor(item) for item in value)
    if isinstance(value, dict):
        return _head(5, len(value)) + b"".join(cbor(k) + cbor(v) for k, v in value.items())
    raise TypeError(type(value))


_TAIL = bytes.fromhex("00110010800000AA00389B71")


def jumb(kind: bytes, label: str, *content: bytes) -> bytes:
    """A JUMBF superbox: description box (type *kind* + C2PA tail, label) and content."""
    jumd = box(b"jumd", kind + _TAIL + b"\x03" + label.encode() + b"\x00")
    return box(b"jumb", jumd + b"".join(content))


def assertion(label: str, data: Any, *, raw: bytes | None = None) -> bytes:
    content = raw if raw is not None else cbor(data)
    return jumb(b"cbor", label, box(b"cbor", content))


def json_assertion(label: str, text: bytes) -> bytes:
    return jumb(b"json", label, box(b"json", text))


def manifest(label: str, *assertions: bytes, kind: bytes = b"c2ma") -> bytes:
    store = jumb(b"c2as", "c2pa.assertions", *assertions)
    claim = jumb(b"c2cl", "c2pa.claim.v2", box(b"cbor", cbor({"instanceID": "xmp:iid:1"})))
    return jumb(kind, label, store, claim)


def store(*manifests: bytes) -> bytes:
    return jumb(b"c2pa", "c2pa", *manifests)


def training(entries: dict[str, Any], label: str = "cawg.training-mining") -> bytes:
    """A manifest store with one manifest holding one training-mining assertion."""
    return store(manifest("urn:c2pa:test", assertion(label, {"entries": entries})))


def jpeg_app11(jumbf: bytes, *, instance: int = 1, piece: int = 65000) -> list[bytes]:
    """APP11 segments carrying *jumbf*, cut into packets that repeat its box header."""
    header, rest = jumbf[:8], jumbf[8:]
    out = []
    for number, offset in enumerate(range(0, len(rest), piece), start=1):
        data = rest[offset : offset + piece]
        payload = b"JP" + struct.pack(">HI", instance, number) + header + data
        out.append(segment(0xEB, payload))
    return out


def mp4_c2pa(jumbf: bytes) -> bytes:
    uuid = bytes.fromhex("D8FEC3D61B0E483C92975828877EC481")
    return box(b"uuid", uuid + b"\x00\x00\x00\x00manifest\x00" + b"\x00" * 8 + jumbf)


# -- fuzzing ---------------------------------------------------------------------------------------


def mutations(seeds: Sequence[bytes]) -> st.SearchStrategy[bytes]:
    """Files from *seeds* with a few bytes changed, cut out or put in."""

    @st.composite
    def mutated(draw: st.DrawFn) -> bytes:
        body = bytearray(draw(st.sampled_from(seeds)))
        for _ in range(draw(st.integers(0, 8))):
            if not body:
                break
            position = draw(st.integers(0, len(body) - 1))
            action = draw(st.integers(0, 2))
            if action == 0:
                body[position] = draw(st.integers(0, 255))
            elif action == 1:
                del body[position : position + draw(st.integers(1, 64))]
            else:
                body[position:position] = draw(st.binary(max_size=16))
        return bytes(body)

    return mutated()
