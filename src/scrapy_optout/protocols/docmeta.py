"""Metadata embedded in documents: the TDMRep properties of an EPUB or a PDF.

The TDM Reservation Protocol lets a publication carry ``tdm:reservation`` and
``tdm:policy`` in its own metadata (TDMRep §5):

* EPUB: the package document named by ``META-INF/container.xml``, in its
  EPUB 2 form ``<meta name="tdm:reservation" content="1"/>`` or its EPUB 3
  form ``<meta property="tdm:reservation">1</meta>``. An EPUB 3 package that
  binds the prefix ``tdm`` to some other URI is not TDMRep; one that does not
  declare it at all is read anyway.
* PDF: an XMP packet declaring the TDMRep namespace (hash or slash form), as
  ``tdm:reservation`` elements or attributes, stored as plain text anywhere in
  the file or in a Flate-compressed metadata stream (``/Type /Metadata``).
  Plain-text packets in UTF-16 are not read.

This module only finds what a document declares, as written, with the markup
quoted as evidence (:class:`Declarations`); what the values mean is for
:func:`scrapy_optout.protocols.tdmrep.document_value` to say. The markup is
read by a forgiving scanner, not an XML parser: the report's own examples are
not well-formed.

Cheap and bounded, since documents are hostile input: archive members and
XMP packets are size-capped, at most :data:`_MAX_STREAMS` metadata streams are
inflated, each to at most :data:`_MAX_INFLATED` bytes and all together to
:data:`_MAX_INFLATED_TOTAL`. :func:`read_declarations` never raises.
"""

from __future__ import annotations

import html
import io
import re
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import unquote

from scrapy_optout.protocols import sniff
from scrapy_optout.protocols.sniff import BodyKind

__all__ = [
    "TDM_NAMESPACES",
    "Declarations",
    "epub_declarations",
    "pdf_declarations",
    "read_declarations",
]

# The EPUB 3 section binds the prefix to the hash form, the PDF section to the
# slash form; both are accepted in both places (tdmrep.md §5).
TDM_NAMESPACES = frozenset({"http://www.w3.org/ns/tdmrep#", "http://www.w3.org/ns/tdmrep/"})

# Bounds, so a hostile EPUB or PDF costs little.
_MAX_XML_BYTES = 1024 * 1024  # container.xml and the OPF package document
_MAX_PDF_HITS = 16  # places a PDF names the TDMRep namespace in plain text, read
_MAX_METADATA_MARKS = 256  # "/Metadata" names of a PDF looked at
_MAX_DICT = 4096  # bytes of a stream dictionary around its /Metadata
_MAX_STREAMS = 32  # metadata streams of a PDF inflated
_MAX_COMPRESSED = 4 * 1024 * 1024  # compressed bytes of one stream fed to zlib
_MAX_INFLATED = 4 * 1024 * 1024  # bytes one stream inflates to, at most
_MAX_INFLATED_TOTAL = 16 * 1024 * 1024  # bytes all the streams of a PDF inflate to
_MAX_PACKET = 256 * 1024  # characters of one XMP packet read
_MAX_TAG = 16 * 1024  # longer "tags" are garbage, not metadata
_MAX_QUOTE = 300  # characters of evidence quoted in ``rule``

_STREAM_KEYWORD = re.compile(rb"(?<!end)stream(?:\r\n|\n|\r)")
_FLATE = re.compile(rb"/Fl(?:ateDecode)?(?![A-Za-z])")


@dataclass(frozen=True, slots=True)
class Declarations:
    """The TDMRep properties one document declares, as written.

    ``reservations`` holds each ``tdm:reservation`` value in document order,
    with the markup that gave it (quoted as evidence); ``policy`` is the first
    non-empty ``tdm:policy``.
    """

    reservations: tuple[tuple[str, str], ...]
    policy: str | None


def read_declarations(
    body: bytes, content_type: str | None = None, *, kinds: frozenset[BodyKind] | None = None
) -> list[Declarations]:
    """What *body* declares as an EPUB and as a PDF, whichever it is.

    What the body is comes from *kinds* (as :func:`sniff.body_kinds` gave
    it), else from *content_type* and the body's first bytes: a zip archive
    is tried as an EPUB and ``%PDF-`` near the start makes a PDF, whatever
    the label says. One entry per kind that declares something, EPUB first;
    empty for other bodies. Never raises.
    """
    if kinds is None:
        kinds = sniff.body_kinds(content_type, "", body)
    found: list[Declarations] = []
    for kind, read in ((BodyKind.EPUB, epub_declarations), (BodyKind.PDF, pdf_declarations)):
        if kind not in kinds:
            continue
        try:
            declared = read(body)
        except Exception:
            # Hostile or truncated archives fail inside zipfile/zlib in many
            # different ways; any of them just means "no readable metadata".
            declared = None
        if declared is not None:
            found.append(declared)
    return found


def epub_declarations(body: bytes) -> Declarations | None:
    """Read the TDMRep properties of an EPUB's package document; ``None`` when it has none.

    The package document is the one ``META-INF/container.xml`` names. May raise
    on a broken archive: :func:`read_declarations` is the careful entry point.
    """
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        container = _read_member(archive, "META-INF/container.xml")
        if container is None:
            return None
        package_path = None
        for name, attrs, _, _ in _tags(container):
            if _local(name) == "rootfile" and attrs.get("full-path"):
                package_path = attrs["full-path"]
                if attrs.get("media-type") == "application/oebps-package+xml":
                    break
        if package_path is None:
            return None
        package = _read_member(archive, package_path)
        if package is None:
            package = _read_member(archive, unquote(package_path))
        if package is None:
            return None
    return _package_declarations(package)


def _package_declarations(package: str) -> Declarations | None:
    """Read the TDMRep properties from an OPF package document."""
    tdm_prefix_ok = True
    reservations: list[tuple[str, str]] = []
    policy: str | None = None
    for name, attrs, start, end in _tags(package):
        local = _local(name)
        if local == "package":
            declared = dict(re.findall(r"([\w.-]+):\s+(\S+)", attrs.get("prefix", "")))
            if "tdm" in declared and declared["tdm"] not in TDM_NAMESPACES:
                tdm_prefix_ok = False
            continue
        if local != "meta" or "refines" in attrs:
            continue  # a refining meta describes another element, not the publication
        if attrs.get("name") in ("tdm:reservation", "tdm:policy"):  # EPUB 2
            prop, value, quote = attrs["name"], attrs.get("content", ""), package[start:end]
        elif attrs.get("property") in ("tdm:reservation", "tdm:policy") and tdm_prefix_ok:
            prop, value, quote = attrs["property"], *_element_text(package, end)  # EPUB 3
            quote = package[start:end] + quote
        else:
            continue
        if prop == "tdm:reservation":
            reservations.append((value, quote[:_MAX_QUOTE]))
        elif policy is None and value.strip():
            policy = value.strip()
    return _declarations(reservations, policy)


def pdf_declarations(body: bytes) -> Declarations | None:
    """Read the TDMRep properties of a PDF's XMP packets; ``None`` when it has none.

    Plain-text packets anywhere in the file and Flate-compressed metadata
    streams are read, within the bounds of this module.
    """
    reservations: list[tuple[str, str]] = []
    policy: str | None = None
    for text in _pdf_metadata(body):
        for packet in _xmp_packets(text):
            policy = _read_xmp(packet, reservations, policy)
    return _declarations(reservations, policy)


def _pdf_metadata(body: bytes) -> Iterator[str]:
    """Yield the stretches of a PDF that may hold a TDMRep XMP packet, as text.

    Plain-text packets: the text around each place the TDMRep namespace is
    named (the first :data:`_MAX_PDF_HITS` of them). Compressed ones: the
    metadata streams (``/Type /Metadata``) whose filter is Flate, inflated.
    """
    position = 0
    for _ in range(_MAX_PDF_HITS):
        hit = body.find(b"ns/tdmrep", position)
        if hit < 0:
            break
        # latin-1 maps bytes to characters one to one, so offsets stay
        # meaningful and no byte sequence can fail to decode; the values
        # read are ASCII.
        yield body[max(0, hit - _MAX_PACKET) : hit + _MAX_PACKET].decode("latin-1")
        position = hit + _MAX_PACKET
    for data in flate_metadata_streams(body):
        if b"ns/tdmrep" in data:
            yield data.decode("latin-1")
        elif b"n\x00s\x00/\x00t\x00d\x00m\x00" in data:
            yield data.decode("utf-16-le", "replace")
        elif b"\x00n\x00s\x00/\x00t\x00d\x00m" in data:
            yield data.decode("utf-16-be", "replace")


def flate_metadata_streams(body: bytes) -> Iterator[bytes]:
    """Inflate the Flate-compressed metadata streams of a PDF, within the bounds.

    A metadata stream cannot sit inside an object stream (streams never do),
    so its dictionary is in the file as written: ``N 0 obj << ... /Metadata
    ... /Filter /FlateDecode ... >> stream``.
    """
    budget = _MAX_INFLATED_TOTAL
    inflated = 0
    position = 0
    for _ in range(_MAX_METADATA_MARKS):
        hit = body.find(b"/Metadata", position)
        if hit < 0 or inflated >= _MAX_STREAMS or budget <= 0:
            return
        position = hit + len(b"/Metadata")
        keyword = _STREAM_KEYWORD.search(body, position, position + _MAX_DICT)
        if keyword is None or b"obj" in body[position : keyword.start()]:
            continue  # a reference (/Metadata 12 0 R), not a stream's dictionary
        opening = body.rfind(b"obj", max(0, hit - _MAX_DICT), hit)
        dictionary = body[opening if opening >= 0 else max(0, hit - _MAX_DICT) : keyword.start()]
        if _FLATE.search(dictionary) is None:
            continue  # uncompressed: read as plain text above
        start = keyword.end()
        end = body.find(b"endstream", start, start + _MAX_COMPRESSED)
        data = body[start : end if end >= 0 else start + _MAX_COMPRESSED]
        inflated += 1
        out = _inflate(data, min(_MAX_INFLATED, budget))
        budget -= len(out)
        if out:
            yield out


def _inflate(data: bytes, limit: int) -> bytes:
    """Inflate zlib (or, failing that, raw deflate) *data* to at most *limit* bytes.

    A broken stream gives what was inflated before the break.
    """
    for wbits in (15, -15):
        inflater = zlib.decompressobj(wbits)
        try:
            return inflater.decompress(data, limit)
        except zlib.error:
            continue
    return b""


def _read_xmp(packet: str, reservations: list[tuple[str, str]], policy: str | None) -> str | None:
    """Add the ``tdm:reservation`` values of one XMP packet; return the policy so far."""
    prefixes = {
        key[6:]
        for _, attrs, _, _ in _tags(packet)
        for key, value in attrs.items()
        if key.startswith("xmlns:") and value in TDM_NAMESPACES
    }
    if not prefixes:
        return policy
    for name, attrs, start, end in _tags(packet):
        prefix, _, local = name.partition(":")
        if prefix.lower() in prefixes and local in ("reservation", "policy"):
            value, closing = _element_text(packet, end)
            found = [(local, value, (packet[start:end] + closing)[:_MAX_QUOTE])]
        else:
            found = []
        for key, value in attrs.items():  # the abbreviated RDF form
            prefix, _, local = key.partition(":")
            if prefix in prefixes and local in ("reservation", "policy"):
                found.append((local, value, f'{key}="{html.escape(value)}"'))
        for local, value, quote in found:
            if local == "reservation":
                reservations.append((value, quote))
            elif policy is None and value.strip():
                policy = value.strip()
    return policy


def _xmp_packets(text: str) -> Iterator[str]:
    """Yield the ``rdf:RDF`` blocks of XMP metadata.

    A block starts at its enclosing ``x:xmpmeta`` element when there is one
    close by, so that namespaces declared there are seen too.
    """
    position = 0
    while True:
        start = text.find("<rdf:RDF", position)
        if start < 0:
            return
        end = text.find("</rdf:RDF>", start)
        end = start + _MAX_PACKET if end < 0 else min(end + 10, start + _MAX_PACKET)
        wrapper = text.rfind("<x:xmpmeta", max(position, start - 4096), start)
        yield text[start if wrapper < 0 else wrapper : end]
        position = end


def _declarations(reservations: list[tuple[str, str]], policy: str | None) -> Declarations | None:
    if not reservations and policy is None:
        return None
    return Declarations(tuple(reservations), policy)


def _read_member(archive: zipfile.ZipFile, name: str) -> str | None:
    """Read one archive member as text, refusing anything over the size cap."""
    try:
        info = archive.getinfo(name)
    except KeyError:
        return None
    if info.file_size > _MAX_XML_BYTES:
        return None
    with archive.open(info) as member:
        # The declared size can lie; never inflate more than the cap.
        data = member.read(_MAX_XML_BYTES + 1)
    if len(data) > _MAX_XML_BYTES:
        return None
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16", "replace")
    return data.decode("utf-8-sig", "replace")


def _tags(text: str) -> Iterator[tuple[str, dict[str, str], int, int]]:
    """Yield ``(name, attributes, start, end)`` for each start tag in *text*.

    A deliberately forgiving scanner rather than an XML parser: the metadata
    examples printed in the report are not well-formed XML themselves
    (unquoted attribute values, literal "..."), and real files are no better.
    Comments are skipped. It only moves forward, so it runs in linear time.
    """
    position = 0
    length = len(text)
    while position < length:
        start = text.find("<", position)
        if start < 0:
            return
        if text.startswith("<!--", start):
            close = text.find("-->", start + 4)
            if close < 0:
                return
            position = close + 3
            continue
        end = text.find(">", start + 1)
        if end < 0:
            return
        position = end + 1
        if end - start > _MAX_TAG:
            continue
        inner = text[start + 1 : end]
        if not inner or inner[0] in "/?!":
            continue
        name, attrs = _split_tag(inner)
        if name:
            yield name, attrs, start, end + 1


def _split_tag(inner: str) -> tuple[str, dict[str, str]]:
    """Split the inside of a start tag into its name and attributes (names lower-cased).

    The "/" of a self-closing tag is read as a valueless attribute and
    dropped; it is not stripped up front, where it would eat the last
    character of an unquoted value such as ``xmlns:tdm=http://www.w3.org/ns/tdmrep/``.
    """
    length = len(inner)
    i = 0
    while i < length and not inner[i].isspace() and inner[i] != "/":
        i += 1
    name = inner[:i]
    attrs: dict[str, str] = {}
    while i < length:
        while i < length and inner[i].isspace():
            i += 1
        key_start = i
        while i < length and not inner[i].isspace() and inner[i] != "=":
            i += 1
        key = inner[key_start:i].lower()
        while i < length and inner[i].isspace():
            i += 1
        value = ""
        if i < length and inner[i] == "=":
            i += 1
            while i < length and inner[i].isspace():
                i += 1
            if i < length and inner[i] in "\"'":
                close = inner.find(inner[i], i + 1)
                close = length if close < 0 else close
                value = inner[i + 1 : close]
                i = close + 1
            else:
                value_start = i
                while i < length and not inner[i].isspace():
                    i += 1
                value = inner[value_start:i]
        if key and key != "/" and key not in attrs:
            attrs[key] = html.unescape(value)
    return name, attrs


def _element_text(text: str, end: int) -> tuple[str, str]:
    """Return the text after a start tag ending at *end*, and it with its closing tag.

    For a self-closing tag the text is empty.
    """
    if text[end - 2 : end] == "/>":
        return "", ""
    stop = text.find("<", end)
    stop = len(text) if stop < 0 else stop
    value = text[end:stop]
    if stop - end > _MAX_QUOTE:
        return "", ""
    close = text.find(">", stop)
    closing = text[end : close + 1] if 0 <= close - stop <= 64 else value
    return html.unescape(value).strip(), closing


def _local(name: str) -> str:
    return name.rpartition(":")[2].lower()
