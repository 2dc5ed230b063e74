"""``noai`` and ``noimageai`` in ``X-Robots-Tag`` headers and robots ``<meta>``.

DeviantArt introduced the two rules in 2022 and artist platforms and CMS
plugins copied them; no standard defines them. ``noai`` reserves the content
of the response from AI use; ``noimageai`` reserves its images only. DeviantArt's
terms forbid both training and use as input to an AI system, so a reservation
covers :attr:`~Purpose.TRAIN` and :attr:`~Purpose.INPUT`.

The rules ride on Google's robots rule syntax, which this module follows:

* every ``X-Robots-Tag`` field line counts, and each may name a crawler first
  (``X-Robots-Tag: examplebot: noai, noimageai``), in which case the rest of
  the line is for that crawler only. A rule with a value (``max-snippet:50``,
  ``unavailable_after: 2030-01-01``) is not a crawler name. When a later item
  on a line names a crawler again (``noindex, examplebot: noai``, as a proxy
  that merges lines would produce), the scope switches there;
* ``<meta name="robots">`` binds every crawler, ``<meta name="<token>">`` only
  the crawler with that product token;
* names and rules compare case-insensitively; restrictions add up, so one
  reserving line or element is enough. Rules separated by spaces instead of
  commas (``noai noimageai``) are read as well.

``noml`` and ``noimageml``, a variant promoted in an open letter by a search
engine (``new-signals-2026.md`` §6), are read as ``noai`` and ``noimageai``;
findings quote the rule as the site wrote it.

Search rules (``noindex``, ``noimageindex``, ``nosnippet``...) and Bing's
``noarchive`` / ``nocache`` are not read as AI opt-outs.

On an HTML page ``noimageai`` does not reserve the page's text but does reserve
the images the page shows. :func:`xrobots_findings` and :func:`meta_findings`
report what binds the response itself; :func:`image_findings` reports what
binds the images embedded in or linked from a page, for the item pipeline to
apply to ``image_urls``.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterator, Sequence
from urllib.parse import unquote_to_bytes, urlsplit

from scrapy_optout.protocols.html import MetaTag
from scrapy_optout.verdict import Finding, Purpose, Signal, Stance, Where, clip

__all__ = [
    "PURPOSES",
    "data_uri_image",
    "image_findings",
    "is_image_type",
    "media_image_type",
    "meta_findings",
    "sniff_image",
    "xrobots_findings",
]

#: The purposes a ``noai`` or ``noimageai`` reservation covers.
PURPOSES = frozenset({Purpose.TRAIN, Purpose.INPUT})

NOAI = "noai"
NOIMAGEAI = "noimageai"
# The rules that reserve any response, and those that reserve images only.
_CONTENT_RULES = (NOAI, "noml")
_IMAGE_RULES = (*_CONTENT_RULES, NOIMAGEAI, "noimageml")

# Google's rules that take a value after a colon: their names must not be
# mistaken for a crawler's product token.
_VALUED_RULES = frozenset(
    {"max-snippet", "max-image-preview", "max-video-preview", "unavailable_after"}
)
# A crawler name as it may stand before a colon: a product token, possibly
# with digits or dots (``googlebot-news``, ``examplebot2``).
_AGENT = re.compile(r"[A-Za-z0-9_.\-]+")

_IMAGE_EXTENSIONS = frozenset(
    {
        "apng",
        "avif",
        "bmp",
        "gif",
        "heic",
        "heif",
        "ico",
        "jfif",
        "jpe",
        "jpeg",
        "jpg",
        "jxl",
        "png",
        "svg",
        "tif",
        "tiff",
        "webp",
    }
)
# Content types that say nothing about what the bytes are; the URL decides.
_GENERIC_TYPES = frozenset(
    {"", "application/octet-stream", "binary/octet-stream", "application/x-download"}
)


def xrobots_findings(
    values: Sequence[str], *, token: str, is_image: bool, source: str
) -> list[Finding]:
    """Findings of the ``X-Robots-Tag`` field lines *values* for the response.

    *values* holds every field line separately, in order (a line may itself
    be comma-joined). *token* is the crawler's product token. ``noai``
    reserves the response; ``noimageai`` does so only when *is_image* (see
    :func:`is_image_type`). One finding per reserving line, quoting it.
    """
    return [
        _finding(Where.HEADER, rule, source, reserving, agent)
        for rule, reserving, agent in _header_hits(values, token, is_image)
    ]


def meta_findings(
    metas: Sequence[MetaTag], *, token: str, is_image: bool, source: str
) -> list[Finding]:
    """Findings of robots ``<meta>`` elements for the response that holds them.

    Reads ``<meta name="robots">`` and ``<meta name="<token>">``; *metas* as
    returned by :func:`~scrapy_optout.protocols.html.head_meta`, which should be
    asked for the body's elements too (``include_body=True``): Google reads
    robots ``<meta>`` anywhere in a page. ``noimageai`` reserves the response
    only when *is_image*; for a page, see :func:`image_findings`.
    """
    return [
        _finding(Where.META, rule, source, reserving, agent)
        for rule, reserving, agent in _meta_hits(metas, token, is_image)
    ]


def image_findings(
    values: Sequence[str], metas: Sequence[MetaTag], *, token: str, source: str
) -> list[Finding]:
    """Findings that bind the images embedded in or linked from a page.

    *values* are the page's ``X-Robots-Tag`` field lines, *metas* its
    ``<meta>`` elements, *source* its URL. ``noimageai`` reserves the page's
    images; so does ``noai``, which reserves all of the page's content. A
    conservative reading: DeviantArt puts ``noimageai`` on a work's page
    precisely to protect the image shown there, wherever it is served from.
    """
    detail = "binds the images embedded in or linked from this page"
    return [
        _finding(Where.HEADER, rule, source, reserving, agent, detail)
        for rule, reserving, agent in _header_hits(values, token, is_image=True)
    ] + [
        _finding(Where.META, rule, source, reserving, agent, detail)
        for rule, reserving, agent in _meta_hits(metas, token, is_image=True)
    ]


def is_image_type(content_type: str | None, url: str) -> bool:
    """Whether a response is an image, for ``noimageai``.

    An ``image/*`` content type says yes and any other specific type says no
    (an HTML viewer page at ``/photo.jpg`` is not an image). Without a content
    type, or with a generic one such as ``application/octet-stream``, the
    extension of the URL's path decides.
    """
    mime = (content_type or "").split(";", 1)[0].strip().lower()
    if mime.startswith("image/"):
        return True
    if mime not in _GENERIC_TYPES:
        return False
    try:
        path = urlsplit(url).path
    except ValueError:  # e.g. an unbalanced "[" in the host
        return False
    _, dot, extension = path.rpartition(".")
    return bool(dot) and "/" not in extension and extension.lower() in _IMAGE_EXTENSIONS


#: Bytes of a body enough to tell an image by its signature.
SNIFF_BYTES = 1024

# (offset, signature, type) of the image formats a browser or an image
# library would read; checked in order.
_MAGIC = (
    (0, b"\x89PNG\r\n\x1a\n", "image/png"),
    (0, b"\xff\xd8\xff", "image/jpeg"),
    (0, b"GIF87a", "image/gif"),
    (0, b"GIF89a", "image/gif"),
    (0, b"II*\x00", "image/tiff"),
    (0, b"MM\x00*", "image/tiff"),
    (0, b"\x00\x00\x01\x00", "image/x-icon"),
    (0, b"\x00\x00\x02\x00", "image/x-icon"),  # .cur
    (0, b"\xff\x0a", "image/jxl"),
    (4, b"JXL \r\n\x87\n", "image/jxl"),
)
# ISO base media brands of still images (AVIF, HEIF): ``....ftyp<brand>``.
_IMAGE_BRANDS = frozenset({b"avif", b"avis", b"heic", b"heix", b"heim", b"heis", b"mif1", b"msf1"})
_SVG = re.compile(rb"<svg[\s>/]", re.IGNORECASE)
_HTML = re.compile(rb"<(?:!doctype\s+html|html|head|body)[\s>]", re.IGNORECASE)


def sniff_image(body: bytes) -> str | None:
    """The image type *body* starts with (``"image/png"``...), or ``None``.

    Reads signatures, not what a server or a URL claims: PNG, JPEG, GIF, WebP,
    AVIF/HEIF, SVG, BMP, TIFF, ICO/CUR and JPEG XL. Only the first
    :data:`SNIFF_BYTES` bytes are looked at. An ``<svg`` element near the start
    of a text body (after an XML declaration, comments or a doctype) counts.
    """
    head = body[:SNIFF_BYTES]
    for offset, magic, mime in _MAGIC:
        if head.startswith(magic, offset):
            return mime
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[4:8] == b"ftyp" and head[8:12] in _IMAGE_BRANDS:
        return "image/avif" if head[8:11] == b"avi" else "image/heif"
    # BMP: "BM", the file size, then four reserved bytes that writers leave zero.
    if head[:2] == b"BM" and head[6:10] == b"\x00\x00\x00\x00":
        return "image/bmp"
    # SVG is markup: an <svg> root, not one inside an HTML page.
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    svg = _SVG.search(text) if text.startswith(b"<") else None
    if svg is not None and _HTML.search(text, 0, svg.start()) is None:
        return "image/svg+xml"
    return None


def media_image_type(content_type: str | None, body: bytes) -> str | None:
    """Whether a downloaded response is an image, by its type or its bytes.

    ``image/*`` in *content_type* says yes whatever the bytes; otherwise the
    body's signature decides (:func:`sniff_image`), whatever the declared type:
    a PNG served as ``application/octet-stream`` or ``application/pdf`` is an
    image all the same. Returns the image type found, or ``None``.
    """
    mime = (content_type or "").split(";", 1)[0].strip().lower()
    if mime.startswith("image/"):
        return mime
    return sniff_image(body)


def data_uri_image(uri: str) -> str | None:
    """The image type of a ``data:`` URI, or ``None`` when it holds no image.

    The declared media type decides when it is ``image/*``; otherwise (no type,
    ``application/octet-stream``, anything else) the start of the decoded data
    is sniffed. A URI that cannot be decoded is not an image.
    """
    header, comma, payload = uri[5:].partition(",")
    if not comma:
        return None
    params = [p.strip().lower() for p in header.split(";")]
    if params[0].startswith("image/"):
        return params[0]
    head = payload[: SNIFF_BYTES * 2].strip()
    try:
        if "base64" in params[1:]:
            head = re.sub(r"\s+", "", head)
            data = base64.b64decode(head[: len(head) - len(head) % 4])
        else:
            data = unquote_to_bytes(head)
    except (binascii.Error, ValueError):
        return None
    return sniff_image(data)


_Hit = tuple[str, list[str], str | None]  # (quoted rule, reserving rules, agent)


def _header_hits(values: Sequence[str], token: str, is_image: bool) -> Iterator[_Hit]:
    for line in values:
        for agent, rules in _line_scopes(line, token):
            reserving = _reserving(rules, is_image)
            if reserving:
                yield f"X-Robots-Tag: {line.strip()}", reserving, agent


def _meta_hits(metas: Sequence[MetaTag], token: str, is_image: bool) -> Iterator[_Hit]:
    for meta, agent in _our_metas(metas, token):
        reserving = _reserving(_split_rules(meta.content), is_image)
        if reserving:
            yield _quote_meta(meta), reserving, agent


def _line_scopes(line: str, token: str) -> Iterator[tuple[str | None, list[str]]]:
    """Split one field line into ``(agent, rules)`` runs that apply to *token*.

    ``agent`` is ``None`` for rules that bind every crawler and *token* for
    rules addressed to us; runs addressed to other crawlers are left out.
    """
    ours = token.strip().lower()
    scope: str | None = None  # the crawler the current run addresses, if any
    rules: list[str] = []
    for item in line.split(","):
        name, colon, rest = item.partition(":")
        name = name.strip()
        if colon and _AGENT.fullmatch(name) and name.lower() not in _VALUED_RULES:
            if rules:
                yield (None if scope is None else token.strip()), rules
            scope, rules, item = name.lower(), [], rest
        if scope is None or scope == ours:
            rules.extend(_split_rules(item))
    if rules:
        yield (None if scope is None else token.strip()), rules


def _our_metas(metas: Sequence[MetaTag], token: str) -> Iterator[tuple[MetaTag, str | None]]:
    ours = token.strip().lower()
    for meta in metas:
        if meta.attr != "name":
            continue
        if meta.name == "robots":
            yield meta, None
        elif ours and meta.name == ours:
            yield meta, token.strip()


def _split_rules(text: str) -> list[str]:
    # Commas separate rules; whitespace is accepted too, because "noai
    # noimageai" is a common slip and reading it costs no false positive.
    return text.lower().replace(",", " ").split()


def _reserving(rules: Sequence[str], is_image: bool) -> list[str]:
    """The AI rules among *rules* that reserve the content at hand, in order."""
    wanted = _IMAGE_RULES if is_image else _CONTENT_RULES
    return [rule for rule in dict.fromkeys(rules) if rule in wanted]


def _finding(
    where: Where,
    rule: str,
    source: str,
    reserving: Sequence[str],
    agent: str | None,
    detail: str = "",
) -> Finding:
    what = ", ".join(reserving)
    return Finding(
        signal=Signal.NOAI,
        where=where,
        stance=Stance.RESERVE,
        purposes=PURPOSES,
        rule=clip(rule),
        source=source,
        detail=f"{what}: {detail}" if detail else f"{what}: no AI training or AI input use",
        agent=agent,
    )


def _quote_meta(meta: MetaTag) -> str:
    content = meta.content.replace('"', "&quot;")
    return f'<meta name="{meta.name}" content="{content}">'
