"""XMP packets embedded in media files and documents, found and parsed safely.

XMP (ISO 16684-1; storage in files per the XMP Specification Part 3) is an
RDF/XML packet, ``<x:xmpmeta>`` wrapped in ``<?xpacket?>`` processing
instructions, that each format stores in its own place. :func:`xmp_packets`
reads those places:

========== =======================================================================
format     where the packet is
========== =======================================================================
JPEG       APP1 segment starting ``http://ns.adobe.com/xap/1.0/\\0``; extended XMP
           in APP1 segments ``http://ns.adobe.com/xmp/extension/\\0`` + GUID +
           full length + offset, reassembled by GUID
PNG        ``iTXt`` chunk with keyword ``XML:com.adobe.xmp`` (zlib-compressed or not)
WebP       ``XMP `` chunk of the RIFF form
GIF        application extension ``XMP DataXMP`` (the packet is written raw
           across the data sub-blocks)
TIFF       tag 700, either byte order
MP4, MOV   top-level ``uuid`` box BE7ACFCB-97A9-42E8-9C71-999491E3AFAC;
           ``XMP_`` box under ``moov/udta`` (and ``udta/meta``)
PDF        metadata streams, inflated when Flate-compressed
other      a bounded scan for ``<x:xmpmeta`` / ``<?xpacket begin``
========== =======================================================================

Formats without an exact place found (and MP4/HEIF files whose XMP is a
``meta`` item) get the bounded scan too, over the first :data:`SCAN_HEAD`
and last :data:`SCAN_TAIL` bytes. A recognised format whose walk finished
cleanly is not scanned: a large JPEG without XMP costs its headers only.

:func:`parse_xmp` parses a packet with ``defusedxml``: no DTD, no entity, no
external reference, and at most :data:`MAX_PACKET` bytes. Nothing here
performs I/O or imports Scrapy.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from scrapy_optout.protocols.containers import (
    Container,
    Part,
    Walk,
    bmff_boxes,
    container_of,
    jpeg_segments,
    png_chunks,
    riff_chunks,
    tiff_entries,
)

# PDF metadata streams: the one reading of them, shared with TDMRep.
from scrapy_optout.protocols.docmeta import flate_metadata_streams as pdf_metadata_streams

__all__ = [
    "MAX_PACKET",
    "SCAN_HEAD",
    "SCAN_TAIL",
    "XmpPacket",
    "find_packets",
    "parse_xmp",
    "xmp_packets",
]

#: Bytes of one XMP packet kept, at most. Packets with a preview thumbnail run
#: to a few hundred KiB; the rest is cut (and the cut packet is then broken XML).
MAX_PACKET = 4 * 1024 * 1024
#: Bytes at the start of a body the fallback scan looks at.
SCAN_HEAD = 16 * 1024 * 1024
#: Bytes at the end of a body the fallback scan looks at.
SCAN_TAIL = 1024 * 1024

_MAX_PACKETS = 16  # packets returned for one body, at most
_MAX_TOTAL = 16 * 1024 * 1024  # bytes of all the packets of one body together
_MAX_BMFF_DEPTH = 4
_MAX_EXTENDED = 4  # extended XMP packets (GUIDs) of one JPEG reassembled

_JPEG_XMP = b"http://ns.adobe.com/xap/1.0/\x00"
_JPEG_EXTENDED = b"http://ns.adobe.com/xmp/extension/\x00"
_PNG_KEYWORD = b"XML:com.adobe.xmp"
_GIF_XMP = b"\x21\xff\x0bXMP DataXMP"
_BMFF_XMP_UUID = bytes.fromhex("BE7ACFCB97A942E89C71999491E3AFAC")
_BMFF_CONTAINERS = frozenset({b"moov", b"udta", b"meta", b"trak"})
_STARTS = (b"<?xpacket begin", b"<x:xmpmeta")
_ENDS = (b"<?xpacket end", b"</x:xmpmeta>")


@dataclass(frozen=True, slots=True)
class XmpPacket:
    """One XMP packet as stored: its bytes, where it was, what was wrong with it."""

    data: bytes
    where: str  #: e.g. ``"JPEG APP1"``, ``"PNG iTXt"``, ``"scan"``
    problem: str = ""  #: why the packet may be incomplete, in words


def xmp_packets(body: bytes, content_type: str | None = None) -> list[XmpPacket]:
    """The XMP packets of *body*, at most :data:`_MAX_PACKETS`; never raises.

    *content_type* is a hint only: the first bytes decide the format.
    """
    if not isinstance(body, bytes):
        raise TypeError(f"body must be bytes, not {type(body).__name__}")
    kind = container_of(body, content_type)
    readers = {
        Container.JPEG: _jpeg,
        Container.PNG: _png,
        Container.RIFF: _riff,
        Container.GIF: _gif,
        Container.TIFF: _tiff,
        Container.BMFF: _bmff,
        Container.PDF: _pdf,
    }
    packets: list[XmpPacket] = []
    complete = False
    reader = readers.get(kind) if kind is not None else None
    if reader is not None:
        try:
            complete = reader(body, packets)
        except (struct.error, ValueError, zlib.error):
            complete = False  # a header the walker could not read: scan instead
    if not packets and not complete:
        packets.extend(find_packets(body, "scan"))
    budget = _MAX_TOTAL
    kept: list[XmpPacket] = []
    for packet in packets[:_MAX_PACKETS]:
        if budget <= 0:
            break
        kept.append(packet)
        budget -= len(packet.data)
    return kept


def find_packets(body: bytes, where: str, *, head: int = SCAN_HEAD) -> list[XmpPacket]:
    """Packets found by scanning for their opening text.

    Looks at the first *head* bytes and the last :data:`SCAN_TAIL` bytes; each
    packet runs to its closing text, or is cut at :data:`MAX_PACKET` bytes.
    """
    windows = [(0, min(len(body), head))]
    if len(body) > head:
        windows.append((max(head, len(body) - SCAN_TAIL), len(body)))
    found: list[XmpPacket] = []
    for window_start, window_end in windows:
        pos = window_start
        while len(found) < _MAX_PACKETS:
            start = _first(body, _STARTS, pos, window_end)
            if start < 0:
                break
            packet, problem = _packet_from(body, start, min(len(body), start + MAX_PACKET))
            found.append(XmpPacket(packet, where, problem))
            pos = start + max(len(packet), 1)
    return found


def parse_xmp(data: bytes) -> tuple[Element | None, str]:
    """Parse one packet safely: the root element, or ``None`` and why not.

    A document type declaration (and with it every entity, internal or
    external) is refused outright, so an entity-expansion bomb costs nothing.
    """
    if len(data) > MAX_PACKET:
        return None, f"packet larger than {MAX_PACKET} bytes"
    text = data.rstrip(b"\x00 \t\r\n")
    try:
        return fromstring(text, forbid_dtd=True), ""
    except DefusedXmlException as exc:
        return None, f"refused: {type(exc).__name__}"
    except ParseError as exc:
        return None, f"not well-formed XML ({exc})"
    except (ValueError, RecursionError) as exc:  # pragma: no cover - expat edge cases
        return None, f"not readable XML ({type(exc).__name__})"


# -- the formats -----------------------------------------------------------------------------------


def _first(body: bytes, needles: tuple[bytes, ...], start: int, end: int) -> int:
    hits = [hit for needle in needles if (hit := body.find(needle, start, end)) >= 0]
    return min(hits) if hits else -1


def _packet_from(data: bytes, start: int, end: int) -> tuple[bytes, str]:
    """The packet starting at *start*: up to its closing text, within *end*."""
    stop = _first(data, _ENDS, start, end)
    if stop < 0:
        return data[start:end], "packet has no closing text"
    close = data.find(b">", stop, min(end, stop + 64))
    return data[start : close + 1 if close >= 0 else end], ""


def _add(packets: list[XmpPacket], data: bytes, where: str, part: Part | None = None) -> None:
    if len(packets) >= _MAX_PACKETS:
        return
    problem = "cut short: its length runs past the end of the file" if part and part.cut else ""
    packets.append(XmpPacket(data[:MAX_PACKET], where, problem))


def _jpeg(body: bytes, packets: list[XmpPacket]) -> bool:
    walk = jpeg_segments(body)
    extended: dict[bytes, tuple[int, dict[int, bytes]]] = {}
    for part in walk.parts:
        if part.kind != b"\xe1":
            continue
        if body.startswith(_JPEG_XMP, part.start):
            _add(packets, body[part.start + len(_JPEG_XMP) : part.end], "JPEG APP1", part)
        elif body.startswith(_JPEG_EXTENDED, part.start):
            head = part.start + len(_JPEG_EXTENDED)
            if head + 40 > part.end:
                continue
            guid = body[head : head + 32]
            full, offset = struct.unpack_from(">II", body, head + 32)
            if guid not in extended and len(extended) >= _MAX_EXTENDED:
                continue
            pieces = extended.setdefault(guid, (full, {}))[1]
            if len(pieces) < 256:
                pieces[offset] = body[head + 40 : part.end]
    for full, pieces in extended.values():
        data, problem = _reassemble(full, pieces)
        packets.append(XmpPacket(data, "JPEG extended XMP", problem))
    return not walk.problem


def _reassemble(full: int, pieces: dict[int, bytes]) -> tuple[bytes, str]:
    """Put the pieces of an extended XMP packet together, within the bounds."""
    # Never more than the pieces can fill: a declared length is only a claim.
    size = min(full, MAX_PACKET, max(offset + len(piece) for offset, piece in pieces.items()))
    buffer = bytearray(size)
    covered = 0
    for offset in sorted(pieces):
        piece = pieces[offset][: max(0, size - offset)]
        buffer[offset : offset + len(piece)] = piece
        covered += len(piece)
    if full > MAX_PACKET:
        return bytes(buffer), f"extended XMP declares {full} bytes, more than the {MAX_PACKET} read"
    if covered < full:
        return bytes(buffer), f"extended XMP incomplete: {covered} of {full} bytes present"
    return bytes(buffer), ""


def _png(body: bytes, packets: list[XmpPacket]) -> bool:
    walk = png_chunks(body)
    for part in walk.parts:
        if part.kind != b"iTXt" or len(packets) >= _MAX_PACKETS:
            continue
        data = body[part.start : part.end]
        keyword, _, rest = data.partition(b"\x00")
        if keyword != _PNG_KEYWORD or len(rest) < 2:
            continue
        compressed = rest[0] == 1
        # Language tag and translated keyword, each NUL-terminated.
        _, _, rest = rest[2:].partition(b"\x00")
        _, _, text = rest.partition(b"\x00")
        if compressed:
            inflater = zlib.decompressobj()
            try:
                text = inflater.decompress(text, MAX_PACKET)
            except zlib.error:
                packets.append(XmpPacket(b"", "PNG iTXt", "compressed packet does not inflate"))
                continue
        _add(packets, text, "PNG iTXt" + (" (compressed)" if compressed else ""), part)
    return not walk.problem


def _riff(body: bytes, packets: list[XmpPacket]) -> bool:
    walk = riff_chunks(body)
    for part in walk.parts:
        if part.kind == b"XMP ":
            _add(packets, body[part.start : part.end], "WebP XMP chunk", part)
    return not walk.problem


def _gif(body: bytes, packets: list[XmpPacket]) -> bool:
    # The packet is written raw after the application identifier; its
    # sub-block length bytes are the packet's own characters, and a "magic
    # trailer" of 258 bytes follows it. The identifier is found, not walked
    # to: walking a GIF means stepping through every image sub-block.
    hit = body.find(_GIF_XMP, 0, SCAN_HEAD)
    if hit < 0 and len(body) > SCAN_HEAD:
        hit = body.find(_GIF_XMP, len(body) - SCAN_TAIL)
    if hit < 0:
        return True
    start = hit + len(_GIF_XMP)
    packet, problem = _packet_from(body, start, min(len(body), start + MAX_PACKET))
    packets.append(XmpPacket(packet, "GIF application extension", problem))
    return True


def _tiff(body: bytes, packets: list[XmpPacket]) -> bool:
    walk = tiff_entries(body, 700)
    for part in walk.parts:
        _add(packets, body[part.start : part.end], "TIFF tag 700", part)
    return not walk.problem


def _bmff(body: bytes, packets: list[XmpPacket]) -> bool:
    clean = _bmff_level(body, bmff_boxes(body), packets, 0)
    # An XMP packet of a HEIF or AVIF image is a "meta" item located through
    # "iloc": the scan finds it without that machinery.
    return clean and bool(packets)


def _bmff_level(body: bytes, walk: Walk, packets: list[XmpPacket], depth: int) -> bool:
    clean = not walk.problem
    for part in walk.parts:
        if part.kind == b"uuid" + _BMFF_XMP_UUID:
            _add(packets, body[part.start : part.end], "MP4 uuid box", part)
        elif part.kind == b"XMP_":
            _add(packets, body[part.start : part.end], "QuickTime XMP_ box", part)
        elif part.kind in _BMFF_CONTAINERS and depth < _MAX_BMFF_DEPTH:
            start = part.start
            # ISO "meta" is a full box (version and flags first); QuickTime's is not.
            if part.kind == b"meta" and body[start + 4 : start + 8] != b"hdlr":
                start += 4
            inner = bmff_boxes(body, start, part.end)
            clean = _bmff_level(body, inner, packets, depth + 1) and clean
    return clean


def _pdf(body: bytes, packets: list[XmpPacket]) -> bool:
    packets.extend(find_packets(body, "PDF metadata"))
    for stream in _iter_limited(pdf_metadata_streams(body)):
        packets.extend(find_packets(stream, "PDF metadata stream (compressed)"))
    return True


def _iter_limited(streams: Iterator[bytes]) -> Iterator[bytes]:
    for number, stream in enumerate(streams):
        if number >= _MAX_PACKETS:
            return
        yield stream
