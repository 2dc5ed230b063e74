"""What a response body is read as: HTML, PDF, EPUB, media, or none of them.

Opt-out signals hide in four kinds of body: HTML (``<meta>`` elements), PDF
(an XMP packet), EPUB (the package document) and media files (IPTC
``plus:DataMining`` in an XMP packet, a C2PA manifest store). Only the first
three can carry a TDMRep source that overrides earlier ones
(:data:`TDMREP_KINDS`); a media file's marks only ever add reservations. Servers label bodies badly:
no ``Content-Type`` at all, ``application/octet-stream`` for everything,
``text/plain`` for a page, ``application/zip`` for an EPUB. Scrapy itself
guesses in that case (``scrapy.responsetypes``: the header, else the URL's
extension, else the body), and a spider then parses whatever Scrapy decided,
so a reserved page must be recognised at least wherever Scrapy recognises it.

:func:`body_kinds` is the one decision, used both when the headers arrive
(with no body: every kind the body may still turn out to be) and once the
body is read. It errs toward reading: a body that *could* be one of the
kinds is read as it, since reading a head that holds no signal costs little
and missing one lets reserved content through.

* declared: ``text/html``, ``application/xhtml+xml`` and the other HTML types
  Scrapy maps to ``HtmlResponse``; ``application/pdf``; ``application/epub+zip``;
  ``image/*``, ``video/*`` and ``application/c2pa`` (a C2PA sidecar) as media;
* guessed as Scrapy does when the type is absent or generic
  (``application/octet-stream`` and the like): by the URL's extension, then,
  when that says nothing either, by the body (``<html>`` or
  ``<!doctype html>`` in its first 5000 bytes);
* sniffed, whatever the declared type: ``%PDF-`` in the first 1024 bytes
  (readers accept junk before the header); a zip archive (an EPUB is one
  whose first member is ``mimetype``; the EPUB reader then looks for
  ``META-INF/container.xml``); and HTML as the WHATWG MIME Sniffing standard
  recognises it (§7.1, "identifying a resource with an unknown MIME type"):
  after an optional UTF-8 or UTF-16 byte-order mark and white space, a
  comment, ``<!DOCTYPE HTML`` or one of its tag names (``<html``, ``<head``,
  ``<body``, ``<script``, ``<title``...), to which ``<meta`` and ``<link`` are
  added. An XML declaration or doctype before it is skipped; and media, a
  container format :func:`~scrapy_optout.protocols.containers.container_of`
  recognises by its first bytes (JPEG, PNG, RIFF, GIF, TIFF, ISO BMFF).

A ``text/plain`` body that starts as a page is read as HTML even though
Scrapy would give the spider a plain ``TextResponse``: the spider may still
parse it as markup, and the scan stops at the head.

Nothing here performs I/O or imports Scrapy.
"""

from __future__ import annotations

import codecs
import re
from enum import StrEnum
from functools import lru_cache
from urllib.parse import urlsplit

from scrapy_optout.protocols.containers import PDF_WINDOW, Container, container_of

__all__ = ["ALL_KINDS", "TDMREP_KINDS", "BodyKind", "body_kinds", "sniff"]


class BodyKind(StrEnum):
    """A kind of body that can carry opt-out signals."""

    HTML = "html"
    PDF = "pdf"
    EPUB = "epub"
    MEDIA = "media"  #: an image, video or C2PA sidecar: embedded IPTC and C2PA marks


ALL_KINDS: frozenset[BodyKind] = frozenset(BodyKind)
#: The kinds whose body can carry a TDMRep source overriding earlier ones.
TDMREP_KINDS: frozenset[BodyKind] = frozenset({BodyKind.HTML, BodyKind.PDF, BodyKind.EPUB})
_NONE: frozenset[BodyKind] = frozenset()

_DECLARED = {
    "text/html": BodyKind.HTML,
    "application/xhtml+xml": BodyKind.HTML,
    "application/vnd.wap.xhtml+xml": BodyKind.HTML,
    "application/pdf": BodyKind.PDF,
    "application/x-pdf": BodyKind.PDF,
    "application/epub+zip": BodyKind.EPUB,
    "application/c2pa": BodyKind.MEDIA,
}
_MEDIA_TYPES = ("image/", "video/")

# Types that say nothing about the body: Scrapy then guesses from the URL and
# the body, and so do we.
_GENERIC = frozenset(
    {
        "",
        "application/octet-stream",
        "binary/octet-stream",
        "application/unknown",
        "application/x-unknown",
        "application/download",
        "application/x-download",
        "application/force-download",
        "unknown/unknown",
        "*/*",
    }
)

# Declared types whose body is often something else: a misconfigured server
# sends pages and PDFs as text/plain, and EPUBs as zip archives. The headers
# stage waits for such a body before deciding a tdmrep.json reservation.
_VAGUE = frozenset({"text/plain", "application/zip", "application/x-zip-compressed"})

# What an extension says when the type is generic, as Scrapy's mime.types
# would: a document kind, or another specific type (None).
_EXTENSIONS: dict[str, BodyKind | None] = {
    **dict.fromkeys(("html", "htm", "xhtml", "xht", "shtml", "php", "asp", "aspx"), BodyKind.HTML),
    "pdf": BodyKind.PDF,
    "epub": BodyKind.EPUB,
    **dict.fromkeys(
        (
            "jpg", "jpeg", "png", "gif", "webp", "avif", "heic", "heif", "tif", "tiff",
            "mp4", "m4v", "mov", "c2pa",
        ),
        BodyKind.MEDIA,
    ),
    **dict.fromkeys(
        (
            "bmp", "ico", "svg", "mp3", "m4a", "ogg", "oga", "ogv", "wav", "webm", "flac", "avi",
            "woff", "woff2", "ttf", "otf", "css", "js", "mjs", "json", "xml", "csv", "txt",
            "gz", "tgz", "bz2", "xz", "zst", "7z", "rar", "tar", "wasm",
        ),
        None,
    ),
}  # fmt: skip

# Bytes looked at by each sniffer (PDF: containers.PDF_WINDOW).
_HTML_WINDOW = 1024
_SCRAPY_WINDOW = 5000

_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
_BOMS = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
# The start of a document as WHATWG sniffs it, after what may come first: an
# XML declaration or other processing instruction, a doctype other than HTML's.
_HTML_START = re.compile(
    r"[\t\n\f\r ]*+"
    r"(?:(?:<\?[^>]*+>|<!(?!--)(?!(?i:doctype)[\t\n\f\r ]+(?i:html))[^>]*+>)[\t\n\f\r ]*+)*+"
    r"<(?:!--|!(?i:doctype)[\t\n\f\r ]+(?i:html)[\t\n\f\r >]"
    r"|(?i:html|head|body|meta|link|script|iframe|h1|div|font|table|a|style|title|b|br|p)"
    r"[\t\n\f\r />])"
)
# Scrapy's own last resort (responsetypes.from_body), for an unlabelled text body.
_SCRAPY_HTML = (b"<html>", b"<!doctype html>")
_BINARY = bytes(sorted(set(range(32)) - {9, 10, 13}))


def _mime(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def _by_extension(url: str) -> BodyKind | bool | None:
    """The kind the URL's extension names, ``None`` for another known type, ``False`` if unknown."""
    try:
        path = urlsplit(url).path
    except ValueError:
        return False
    _, dot, extension = path.rpartition("/")[2].rpartition(".")
    if not dot:
        return False
    return _EXTENSIONS.get(extension.lower(), False)


def sniff(body: bytes) -> frozenset[BodyKind]:
    """The kinds *body* looks like from its first bytes, whatever it was labelled."""
    return _sniff(body, markup=True)


def _sniff(body: bytes, *, markup: bool) -> frozenset[BodyKind]:
    # Without *markup*, HTML is known already (declared): it is not looked for.
    container = container_of(body)  # Container.PDF: "%PDF-" in the same window
    zipped = body.startswith(_ZIP_MAGIC)
    html = markup and _looks_html(body[: _HTML_WINDOW * 2])
    if container is None:
        # Neither PDF nor media: the usual page, or nothing.
        return _BY_MARKUP[zipped, html]
    kinds: set[BodyKind] = set()
    if container is Container.PDF or body.find(b"%PDF-", 0, PDF_WINDOW) >= 0:
        kinds.add(BodyKind.PDF)
    if zipped:
        kinds.add(BodyKind.EPUB)
    if container is not Container.PDF:
        kinds.add(BodyKind.MEDIA)
    if html:
        kinds.add(BodyKind.HTML)
    return frozenset(kinds)


# What sniff() gives a body that is neither PDF nor media: by (zip archive, HTML).
_BY_MARKUP = {
    (zipped, html): frozenset(
        kind for kind, present in ((BodyKind.EPUB, zipped), (BodyKind.HTML, html)) if present
    )
    for zipped in (False, True)
    for html in (False, True)
}
# Markup that decides is near the start: a short prefix is tried first (a
# match on it is a match on the whole window, since each token the pattern
# reads ends inside the text it matched).
_HTML_PREFIX = 256


def _looks_html(start: bytes) -> bool:
    codec = "latin-1"  # one character per byte: ASCII markup reads right in any ASCII superset
    for bom, name in _BOMS:
        if start.startswith(bom):
            start, codec = start[len(bom) :], name
            break
    else:
        if start[:1] == b"\x00" or start[1:2] == b"\x00":
            # UTF-16 without a byte-order mark: ASCII markup with every other byte NUL.
            codec = "utf-16-be" if start[:1] == b"\x00" else "utf-16-le"
    if len(start) > _HTML_PREFIX and _HTML_START.match(
        start[:_HTML_PREFIX].decode(codec, "replace")
    ):
        return True
    return _HTML_START.match(start.decode(codec, "replace")) is not None


def _scrapy_sees_html(body: bytes) -> bool:
    chunk = body[:_SCRAPY_WINDOW]
    if len(chunk.translate(None, _BINARY)) != len(chunk):
        return False  # Scrapy's binary_is_text(): control characters mean binary
    lowered = chunk.lower()
    return any(marker in lowered for marker in _SCRAPY_HTML)


def body_kinds(
    content_type: str | None, url: str = "", body: bytes | None = None
) -> frozenset[BodyKind]:
    """The kinds a response body is read as (see the module docstring).

    Without *body* (the headers have arrived, the body has not): every kind
    the body may still turn out to be. Empty means that the body carries no
    signal worth waiting for; none of :data:`TDMREP_KINDS` means that whatever
    it holds cannot override what the headers and policy files said (a media
    body only adds reservations). With *body*: the kinds to read it as,
    declared, guessed and sniffed together.
    """
    if body is not None:
        last = _last_body
        if last[2] is body and last[0] == content_type and last[1] == url:
            return last[3]  # the same response, asked again by another step of its stage
    kinds, generic, vague = _declared(content_type)
    guessed: BodyKind | bool | None = False
    if generic:
        guessed = _by_extension(url)
        if isinstance(guessed, BodyKind):
            kinds = kinds | {guessed}
    if body is None:
        if kinds:
            return kinds
        if vague or (generic and guessed is False):
            return ALL_KINDS
        return _NONE
    # A body declared as HTML is read as HTML whatever its markup: only what
    # else it may be (a PDF, media, an archive) is sniffed.
    sniffed = _sniff(body, markup=BodyKind.HTML not in kinds)
    found = kinds | sniffed if sniffed else kinds
    if generic and guessed is False and BodyKind.HTML not in found and _scrapy_sees_html(body):
        found = found | {BodyKind.HTML}
    _remember(content_type, url, body, found)
    return found


@lru_cache(maxsize=256)
def _declared(content_type: str | None) -> tuple[frozenset[BodyKind], bool, bool]:
    """What a ``Content-Type`` value says of the body.

    The kinds it declares, whether it is generic (says nothing) and whether it
    is vague (often sent with another kind of body).
    """
    mime = _mime(content_type)
    declared = _DECLARED.get(mime)
    if declared is None and mime.startswith(_MEDIA_TYPES):
        declared = BodyKind.MEDIA
    kinds = frozenset({declared}) if declared is not None else _NONE
    return kinds, mime in _GENERIC, mime in _VAGUE


# The last body judged, with its kinds: one response is asked about by several
# steps of its body stage in a row (RSL links, then the stage itself). Bytes are
# immutable, so the same object with the same type and URL has the same kinds;
# the tuple is replaced whole, so a reader in another thread sees one consistent entry.
_last_body: tuple[str | None, str, bytes | None, frozenset[BodyKind]] = (
    None,
    "",
    None,
    frozenset(),
)


def _remember(content_type: str | None, url: str, body: bytes, kinds: frozenset[BodyKind]) -> None:
    global _last_body
    _last_body = (content_type, url, body, kinds)
