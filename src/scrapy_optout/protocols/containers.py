"""Bounded walkers over the structure of media files: where their metadata sits.

Embedded marks (an XMP packet, a C2PA manifest store) live in a few
well-known places of each container format. These walkers find those places
by reading only the structure (segment, chunk and box headers), never by
scanning the payload, so a large image without metadata costs a few header
reads:

* JPEG (ITU T.81 Annex B): marker segments from SOI up to the first SOS; the
  entropy-coded data after it holds no metadata and is never read.
* PNG (ISO/IEC 15948 §5): chunks from the signature up to IEND.
* RIFF (WebP, "RIFF Container Specification"): chunks of the RIFF form.
* ISO base media file format (ISO/IEC 14496-12 §4.2: MP4, MOV, HEIF, AVIF):
  boxes at one level; the caller descends into the containers it wants.
* TIFF 6.0 §2: the entries of the image file directories.

Every walker is lenient about content and bounded: it visits at most
:data:`MAX_PARTS` parts, clamps a length that runs past the end of the body
to the end (and says so), and stops at the first header it cannot read.
What went wrong is returned in words alongside the parts, never raised.

Nothing here performs I/O or imports Scrapy.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

__all__ = [
    "MAX_PARTS",
    "Container",
    "Part",
    "Walk",
    "bmff_boxes",
    "container_of",
    "jpeg_segments",
    "png_chunks",
    "riff_chunks",
    "tiff_entries",
]

#: Parts (segments, chunks, boxes, directory entries) one walk visits at most.
#: Real files have a few dozen before their pixel data; a PNG cut into tiny
#: IDAT chunks may have a few thousand.
MAX_PARTS = 10_000

_TIFF_IFDS = 8  # image file directories of a TIFF followed, at most


class Container(StrEnum):
    """A container format recognised by its first bytes."""

    JPEG = "jpeg"
    PNG = "png"
    RIFF = "riff"  #: WebP, and other RIFF forms
    GIF = "gif"
    TIFF = "tiff"
    BMFF = "bmff"  #: MP4, MOV, HEIF, AVIF, JPEG XL in its box form
    PDF = "pdf"


@dataclass(frozen=True, slots=True)
class Part:
    """One segment, chunk or box: its type and where its payload lies.

    ``start`` and ``end`` delimit the payload in the body (clamped to the body);
    ``cut`` is true when the declared length ran past the end of the body.
    """

    kind: bytes
    start: int
    end: int
    cut: bool = False


@dataclass(frozen=True, slots=True)
class Walk:
    """The parts a walker visited, and what stopped it early, in words."""

    parts: tuple[Part, ...]
    problem: str = ""


_BMFF_TYPES = frozenset({b"ftyp", b"moov", b"mdat", b"free", b"skip", b"wide", b"pnot", b"uuid"})


# The first bytes of the JPEG, PNG, RIFF, GIF and TIFF signatures.
_SIGNATURE_STARTS = frozenset({b"\xff", b"\x89", b"R", b"G", b"I", b"M"})

#: How far into a body ``%PDF-`` is looked for (readers accept junk before it).
PDF_WINDOW = 1024


def container_of(body: bytes, content_type: str | None = None) -> Container | None:
    """The container format of *body*, by its first bytes.

    *content_type* only breaks ties the bytes leave open (none, today); the
    bytes decide, since servers label media as ``application/octet-stream``
    or by the wrong image type.
    """
    head = body[:16]
    if head[:1] in _SIGNATURE_STARTS:  # else markup, text, or a box or PDF header
        if head.startswith(b"\xff\xd8\xff"):
            return Container.JPEG
        if head.startswith(b"\x89PNG\r\n\x1a\n"):
            return Container.PNG
        if head.startswith(b"RIFF") and len(head) >= 12:
            return Container.RIFF
        if head.startswith((b"GIF87a", b"GIF89a")):
            return Container.GIF
        if head.startswith((b"II*\x00", b"MM\x00*")):
            return Container.TIFF
    if head[4:8] in _BMFF_TYPES:
        return Container.BMFF
    # PDF readers accept junk before the header, as sniff.py does. (A "%" is
    # looked for first: one memchr, where the header is searched for only
    # behind the first "%".)
    percent = body.find(b"%", 0, PDF_WINDOW)
    if percent >= 0 and body.find(b"%PDF-", percent, PDF_WINDOW) >= 0:
        return Container.PDF
    return None


def jpeg_segments(body: bytes) -> Walk:
    """The marker segments of a JPEG from SOI up to SOS (or EOI).

    ``kind`` is the marker byte (``b"\\xe1"`` for APP1). Standalone markers
    (RSTn, TEM) and fill bytes are skipped.
    """
    parts: list[Part] = []
    size = len(body)
    pos = 2
    while len(parts) < MAX_PARTS:
        while pos < size and body[pos] == 0xFF and pos + 1 < size and body[pos + 1] == 0xFF:
            pos += 1  # fill bytes before a marker
        if pos + 2 > size:
            return Walk(tuple(parts), "file ends before its image data")
        if body[pos] != 0xFF:
            return Walk(tuple(parts), f"no marker at byte {pos}")
        marker = body[pos + 1]
        if marker in (0xD9, 0xDA):  # EOI, SOS: no metadata after this
            return Walk(tuple(parts))
        if marker == 0x01 or 0xD0 <= marker <= 0xD8:
            pos += 2
            continue
        if pos + 4 > size:
            return Walk(tuple(parts), "file ends inside a segment header")
        (length,) = struct.unpack_from(">H", body, pos + 2)
        if length < 2:
            return Walk(tuple(parts), f"segment at byte {pos} declares length {length}")
        end = pos + 2 + length
        cut = end > size
        parts.append(Part(bytes((marker,)), pos + 4, min(end, size), cut))
        if cut:
            return Walk(tuple(parts), f"segment at byte {pos} runs past the end of the file")
        pos = end
    return Walk(tuple(parts), f"stopped after {MAX_PARTS} segments")


def png_chunks(body: bytes) -> Walk:
    """The chunks of a PNG up to IEND; ``kind`` is the chunk type."""
    # Length, type, data, then a 4-byte CRC.
    return _chunks(body, 8, len(body), ">I4s", lambda length: 4, b"IEND", "IEND")


def riff_chunks(body: bytes) -> Walk:
    """The chunks inside a RIFF form (a WebP file's ``VP8X``, ``XMP ``...)."""
    size = len(body)
    (declared,) = struct.unpack_from("<I", body, 4) if size >= 8 else (0,)
    walk = _chunks(body, 12, min(size, 8 + declared), "<4sI", lambda length: length & 1)
    if not walk.problem and 8 + declared > size:
        return Walk(walk.parts, "file shorter than its RIFF header says")
    return walk


def _chunks(
    body: bytes,
    pos: int,
    limit: int,
    header: str,
    trailer: Callable[[int], int],
    last: bytes = b"",
    last_name: str = "",
) -> Walk:
    """Length-prefixed chunks from *pos* to *limit*.

    *header* unpacks a chunk's 8-byte header (length and type, in the
    format's order); *trailer* gives the bytes after a chunk's data (a CRC,
    padding). A chunk of type *last* ends the walk.
    """
    parts: list[Part] = []
    size = len(body)
    length_first = header[1] == "I"
    while len(parts) < MAX_PARTS:
        if pos + 8 > limit:
            return Walk(tuple(parts), f"file ends before {last_name}" if last_name else "")
        first, second = struct.unpack_from(header, body, pos)
        length, kind = (first, second) if length_first else (second, first)
        end = pos + 8 + length
        cut = end > size
        parts.append(Part(kind, pos + 8, min(end, size), cut))
        if cut:
            return Walk(tuple(parts), f"chunk at byte {pos} runs past the end of the file")
        if last and kind == last:
            return Walk(tuple(parts))
        pos = end + trailer(length)
    return Walk(tuple(parts), f"stopped after {MAX_PARTS} chunks")


def bmff_boxes(
    body: bytes, start: int = 0, end: int | None = None, *, limit: int = MAX_PARTS
) -> Walk:
    """The boxes between *start* and *end* (one level, not their children).

    ``kind`` is the box type; for a ``uuid`` box it is ``b"uuid"`` followed by
    the 16-byte extended type, and the payload starts after it. A size of 0
    means "to the end of the enclosing space"; a size of 1 means a 64-bit size
    follows. At most *limit* boxes (and never more than :data:`MAX_PARTS`) are read.
    """
    parts: list[Part] = []
    most = min(limit, MAX_PARTS)
    limit = len(body) if end is None else min(end, len(body))
    pos = start
    while len(parts) < most and pos + 8 <= limit:
        size, kind = struct.unpack_from(">I4s", body, pos)
        header = 8
        if size == 1:
            if pos + 16 > limit:
                return Walk(tuple(parts), f"box at byte {pos} ends inside its header")
            (size,) = struct.unpack_from(">Q", body, pos + 8)
            header = 16
        elif size == 0:
            size = limit - pos
        if size < header:
            return Walk(tuple(parts), f"box at byte {pos} declares size {size}")
        if kind == b"uuid":
            if pos + header + 16 > limit:
                return Walk(tuple(parts), f"uuid box at byte {pos} ends inside its header")
            kind += body[pos + header : pos + header + 16]
            header += 16
        box_end = pos + size
        cut = box_end > limit
        parts.append(Part(kind, pos + header, min(box_end, limit), cut))
        if cut:
            return Walk(tuple(parts), f"box at byte {pos} runs past its container")
        pos = box_end
    if len(parts) >= most and pos + 8 <= limit:
        return Walk(tuple(parts), f"stopped after {most} boxes")
    return Walk(tuple(parts))


def tiff_entries(body: bytes, tag: int) -> Walk:
    """The values of *tag* in the image file directories of a TIFF.

    ``kind`` is the tag's field type as two big-endian bytes; the payload is
    the value's bytes, wherever they are stored. Follows the chain of
    directories for at most a few steps, never the same one twice.
    """
    if len(body) < 8:
        return Walk((), "file ends inside its header")
    order = "<" if body[:2] == b"II" else ">"
    (offset,) = struct.unpack_from(order + "I", body, 4)
    parts: list[Part] = []
    seen: set[int] = set()
    visited = 0
    size = len(body)
    sizes = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8}
    for _ in range(_TIFF_IFDS):
        if offset == 0:
            return Walk(tuple(parts))
        if offset in seen or offset + 2 > size:
            return Walk(tuple(parts), f"directory offset {offset} is outside the file or a loop")
        seen.add(offset)
        (count,) = struct.unpack_from(order + "H", body, offset)
        pos = offset + 2
        for _ in range(count):
            visited += 1
            if visited > MAX_PARTS:
                return Walk(tuple(parts), f"stopped after {MAX_PARTS} directory entries")
            if pos + 12 > size:
                return Walk(tuple(parts), "file ends inside a directory")
            entry_tag, kind, number, value = struct.unpack_from(order + "HHII", body, pos)
            if entry_tag == tag:
                length = sizes.get(kind, 1) * number
                start = pos + 8 if length <= 4 else value
                stop = start + length
                if start <= size:
                    parts.append(Part(struct.pack(">H", kind), start, min(stop, size), stop > size))
            pos += 12
        if pos + 4 > size:
            return Walk(tuple(parts))
        (offset,) = struct.unpack_from(order + "I", body, pos)
    return Walk(tuple(parts))
