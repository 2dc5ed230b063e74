"""Cheap, bounded extraction of ``<meta>`` elements from an HTML document.

Several opt-out protocols live in ``<meta>`` elements: TDMRep
(``tdm-reservation``, ``tdm-policy``) and the ``noai`` / ``noimageai`` rules of
``<meta name="robots">``. Reading them must not cost a full HTML parse, and it
must stay fast on whatever a hostile or broken server sends. So this module is a
small hand-written scanner that follows the shape of the WHATWG tokenizer only
as far as needed to find tags correctly:

* comments (``<!-- ... -->``), doctypes and other bogus comments are skipped, so
  a commented-out ``<meta>`` is not read;
* the contents of ``<script>``, ``<style>``, ``<title>``, ``<textarea>``,
  ``<template>`` and the other raw-text elements are skipped;
* attributes may come in any order, in any case, double-, single- or unquoted;
  character references (``&amp;``) in values are decoded;
* a tag cut off by the end of input is dropped, as a browser drops it.

Every search moves forward and a failed search ends the scan, so the work is
linear in the input, and at most ``limit`` bytes are looked at.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from html import unescape

__all__ = [
    "DEFAULT_LIMIT",
    "HeadElement",
    "MetaTag",
    "head_elements",
    "head_meta",
    "may_name_meta",
]

#: Default number of bytes of a document that :func:`head_meta` looks at.
DEFAULT_LIMIT = 512 * 1024

# How much of the document is searched for a <meta charset> when neither the
# caller nor a byte-order mark says what the encoding is (the HTML standard's
# prescan looks at the first 1024 bytes).
_PRESCAN_BYTES = 1024

_WHITESPACE = "\t\n\f\r "
_TAG_OPEN = re.compile(r"<[!/?A-Za-z]")
_TAG_NAME = re.compile(r"[^\t\n\f\r />]*")
_GAP = re.compile(r"[\t\n\f\r /]*")
_SPACES = re.compile(r"[\t\n\f\r ]*")
# An attribute name may begin with "=" (the tokenizer keeps it as a name
# character there), but not continue with one.
_ATTR_NAME = re.compile(r"[^\t\n\f\r />][^\t\n\f\r />=]*")
_UNQUOTED_VALUE = re.compile(r"[^\t\n\f\r >]*")
_COMMENT_END = re.compile(r"--!?>")
# The rest of a tag after its name, to the ">" that ends it, in one C-level
# match: exactly the positions _read_tag() walks through. Every quantifier is possessive and
# the one choice ("=" and a value, or no "=") is forced, so the pattern cannot
# find another reading when _read_tag() finds none: it fails exactly where
# _read_tag() returns None (end of input inside the tag, an unclosed quote).
_TAG_REST = (
    r"(?:[\t\n\f\r /]*+[^\t\n\f\r />][^\t\n\f\r />=]*+[\t\n\f\r ]*+"  # an attribute
    r"(?:=[\t\n\f\r ]*+(?:\"[^\"]*+\"|'[^']*+'|(?![\"'])[^\t\n\f\r >]*+)|(?!=)))*+"
    r"[\t\n\f\r /]*+>"
)

# One attribute, with its value double-, single- or unquoted: the same
# pattern, read inside a tag that _HEAD_SCAN matched (so every one is complete).
_ATTR = re.compile(
    r"[\t\n\f\r /]*+([^\t\n\f\r />][^\t\n\f\r />=]*+)[\t\n\f\r ]*+"
    r"(?:=[\t\n\f\r ]*+(?:\"([^\"]*+)\"|'([^']*+)'|(?![\"'])([^\t\n\f\r >]*+)))?"
)
# Where a <meta> start tag may begin; none after the head means none to find.
_META_START = re.compile(r"<meta[\t\n\f\r />]", re.IGNORECASE)
_CHARSET = re.compile(r"charset[\t\n\f\r ]*=[\t\n\f\r ]*[\"']?([^\t\n\f\r \"';]+)", re.IGNORECASE)

# Elements whose content is text, not markup: a "<meta" inside them is not a
# tag. <template> content is markup, but inert: it is not part of the document.
_RAW_TEXT = frozenset(
    {"script", "style", "title", "textarea", "template", "xmp", "iframe", "noembed", "noframes"}
)
_RAW_TEXT_END = {name: re.compile(rf"</{name}[\t\n\f\r />]", re.IGNORECASE) for name in _RAW_TEXT}

# Where the head ends as far as an author is concerned. (An HTML parser also
# ends it at the first non-head element; authors and crawlers do not think of
# a <meta> after a stray <div> as being "in the body", so neither do we.)
_BODY_START_TAGS = frozenset({"body", "frameset"})
_HEAD_END_TAGS = frozenset({"head", "body", "html"})

# head_meta()'s scanner: the same reading as _tags(), with the tags it has no
# use for consumed in C. One match of _HEAD_SCAN skips text, comments, bogus
# comments, raw-text elements and all other tags (_DULL), then ends at the next
# token that matters: a <meta>, the start of the body, the end of the head, or
# the place where _tags() would stop (an unclosed tag, comment or raw-text
# element, <plaintext>, the end of input). Names compare ASCII
# case-insensitively, as str.lower() does for every name that can equal these.
_NAME_ENDS = r"(?![^\t\n\f\r />])"
_RAW_TEXT_ELEMENT = "|".join(
    rf"(?ai:{name}){_NAME_ENDS}{_TAG_REST}(?s:.*?)(?=</(?i:{name})[\t\n\f\r />])"
    for name in sorted(_RAW_TEXT)
)
_KEPT_START = "|".join(["meta", "plaintext", *sorted(_BODY_START_TAGS), *sorted(_RAW_TEXT)])
_KEPT_END = "|".join(sorted(_HEAD_END_TAGS))
_DULL = (
    r"(?:[^<]++|<(?:"
    r"(?![!/?A-Za-z])"  # "<" as text
    rf"|(?!(?ai:{_KEPT_START}){_NAME_ENDS})[A-Za-z][^\t\n\f\r />]*+{_TAG_REST}"
    rf"|/(?:(?!(?ai:{_KEPT_END}){_NAME_ENDS})[A-Za-z][^\t\n\f\r />]*+{_TAG_REST}|>)"
    r"|!--(?:-?>|(?s:.*?)--!?>)"
    r"|(?:!(?!--)|\?|/(?![A-Za-z>]))[^>]*+>"
    rf"|{_RAW_TEXT_ELEMENT}"
    r"))*+"
)
_HEAD_SCAN = re.compile(
    _DULL
    + rf"(?:(?P<meta><(?ai:meta){_NAME_ENDS}(?P<attrs>{_TAG_REST}))"
    + rf"|(?P<body><(?ai:{'|'.join(sorted(_BODY_START_TAGS))}){_NAME_ENDS}{_TAG_REST})"
    + rf"|(?P<end></(?ai:{_KEPT_END}){_NAME_ENDS}{_TAG_REST})"
    + r"|(?P<stop><|\Z))"
)

# The encodings of the WHATWG Encoding Standard, by Python codec name. Labels
# naming anything else (Python-only codecs such as "rot13" or "idna") are not
# trusted: a document cannot choose an arbitrary Python codec for us.
# Written as the names codecs.lookup() gives (tests/unit/test_web_encodings.py
# checks them): looking the labels up here would load some forty codec
# modules at import time, whether or not a page ever needs one.
_WEB_ENCODINGS = frozenset(
    (
        "big5",
        "cp1250",
        "cp1251",
        "cp1252",
        "cp1253",
        "cp1254",
        "cp1255",
        "cp1256",
        "cp1257",
        "cp1258",
        "cp866",
        "cp874",
        "euc_jp",
        "euc_kr",
        "gb18030",
        "gbk",
        "iso2022_jp",
        "iso8859-10",
        "iso8859-13",
        "iso8859-14",
        "iso8859-15",
        "iso8859-16",
        "iso8859-2",
        "iso8859-3",
        "iso8859-4",
        "iso8859-5",
        "iso8859-6",
        "iso8859-7",
        "iso8859-8",
        "koi8-r",
        "koi8-u",
        "mac-cyrillic",
        "mac-roman",
        "shift_jis",
        "utf-16-be",
        "utf-16-le",
        "utf-8",
    )
)
# The HTML standard reads these labels as windows-1252.
_WINDOWS_1252_LABELS = {"iso8859-1": "cp1252", "ascii": "cp1252"}
_UTF16_DEFAULTS = {"utf-16": "utf-16-le"}
_BOMS = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
)


@dataclass(frozen=True, slots=True)
class MetaTag:
    """One ``<meta>`` element that names something.

    ``attr`` says which attribute carried the name: ``"name"``, ``"property"``
    or ``"http-equiv"``; ``name`` is that attribute's value, trimmed and
    lower-cased (HTML compares these names case-insensitively). ``content`` is
    the ``content`` attribute with character references decoded and otherwise
    as written (empty when absent). ``in_head`` is false for elements found
    after the head ended, which :func:`head_meta` reports only on request.
    """

    name: str
    content: str
    attr: str
    in_head: bool = True


def head_meta(
    body: bytes,
    *,
    encoding: str | None = None,
    limit: int = DEFAULT_LIMIT,
    include_body: bool = False,
) -> list[MetaTag]:
    """Return the named ``<meta>`` elements of an HTML document, in order.

    At most *limit* bytes of *body* are read. The scan stops where the head
    ends, at ``</head>`` or ``<body>``; with *include_body* it goes on to the
    limit and marks later elements ``in_head=False``. Google reads robots
    ``<meta>`` elements anywhere in a page, so the ``noai`` evaluation asks for
    the body too, while TDMRep places its elements in the head.

    The text is decoded with the encoding given by a byte-order mark, else
    *encoding* (typically the HTTP ``Content-Type`` charset), else a
    ``<meta charset>`` near the start, else UTF-8; undecodable bytes become
    U+FFFD. An element with both ``name`` and ``property`` yields one
    :class:`MetaTag` for each.
    """
    if not isinstance(body, bytes | bytearray | memoryview):
        raise TypeError(f"body must be bytes, not {type(body).__name__}")
    if limit <= 0:
        return []
    data = bytes(body[:limit])
    text = _decode(data, encoding)
    metas: list[MetaTag] = []
    in_head = True
    scan = _HEAD_SCAN.match
    pos = 0
    while True:
        token = scan(text, pos)
        assert token is not None  # the last alternative matches anywhere _DULL stops
        kind = token.lastgroup
        if kind == "stop":
            break
        pos = token.end()
        if kind == "meta":
            attrs: dict[str, str] = {}
            for attr in _ATTR.finditer(text, token.start("attrs"), pos - 1):
                key, double, single, bare = attr.groups()
                value = double if double is not None else single if single is not None else bare
                attrs.setdefault(key.lower(), value or "")
            metas.extend(_meta_tags(attrs, in_head))
            if not in_head and _META_START.search(text, pos) is None:
                break
        elif in_head:  # the body starts or the head ends
            if not include_body or _META_START.search(text, pos) is None:
                break  # the head is over, and no <meta> follows in the body
            in_head = False
    return metas


#: U+212A KELVIN SIGN in the encodings of :data:`_WEB_ENCODINGS` that have it
#: (UTF-16 aside): ``"\u212a".lower() == "k"``, the one character outside ASCII
#: that lower-cases to an ASCII letter.
_KELVIN_SIGN = (b"\xe2\x84\xaa", b"\x816\xbf2")


def _anchor(name: bytes) -> bytes | None:
    """A byte of *name* that is no letter, digit or ``-`` (bytes pages are full of), or ``None``."""
    for byte in name:
        if not (chr(byte).isalnum() or byte == 0x2D):
            return bytes([byte])
    return None


@dataclass(frozen=True, slots=True)
class _NameTest:
    """What :func:`may_name_meta` looks for, worked out once per collection of names."""

    #: Each name with its :func:`_anchor`.
    names: tuple[tuple[bytes, bytes | None], ...]
    #: Whether a name holds "fj" (spelled ``&fjlig;`` in a page) or "k" (U+212A).
    fj: bool
    kelvin: bool


#: The tests of the collections of names :func:`may_name_meta` was given.
_NAME_TESTS: dict[tuple[bytes, ...], _NameTest] = {}


def _name_test(names: Collection[bytes]) -> _NameTest:
    key = names if type(names) is tuple else tuple(names)
    test = _NAME_TESTS.get(key)
    if test is None:
        if len(_NAME_TESTS) >= 64:
            _NAME_TESTS.clear()
        test = _NAME_TESTS[key] = _NameTest(
            tuple((name, _anchor(name)) for name in key),
            any(name.find(b"fj") >= 0 for name in key),
            any(name.find(b"k") >= 0 for name in key),
        )
    return test


def may_name_meta(body: bytes, names: Collection[bytes], *, limit: int = DEFAULT_LIMIT) -> bool:
    """Whether :func:`head_meta` could find a ``<meta>`` named one of *names* in *body*.

    A test on the bytes, many times cheaper than the scan, for the usual page
    that names none of them: *names* are lower-case ASCII, and ``False`` is
    given only when no reading of the first *limit* bytes can hold such an
    element. Every encoding :func:`head_meta` decodes with writes ASCII
    letters and ``-`` as the same bytes, except UTF-16, whose markup has NUL
    bytes; a name can also be spelled with a numeric character reference
    (``&#114;obots``), with ``&fjlig;`` (``fj``), or with U+212A KELVIN SIGN,
    which lower-cases to ``k`` (in UTF-8 or GB 18030). Any of those, or any of the names in any
    letter case, anywhere in the bytes, gives ``True``.
    """
    data = bytes(body[:limit]) if len(body) > limit else body
    test = _name_test(names)
    # bytes.find rather than "in": for a bytes operand, CPython 3.11's "in"
    # first tries it as an integer and raises (and clears) a TypeError.
    # Single bytes first (memchr); the longer searches only where they can hit.
    find = data.find
    if find(b"\x00") >= 0:
        return True
    if find(b"&") >= 0 and (find(b"&#") >= 0 or (test.fj and find(b"&fjlig") >= 0)):
        return True
    low = data.lower()
    for name, anchor in test.names:
        # A name with a byte that pages seldom hold (the "+" of "rsl+xml") is
        # looked for only where that byte is (one memchr over the page).
        if (anchor is None or find(anchor) >= 0) and low.find(name) >= 0:
            return True
    return test.kelvin and (find(_KELVIN_SIGN[0]) >= 0 or find(_KELVIN_SIGN[1]) >= 0)


@dataclass(frozen=True, slots=True)
class HeadElement:
    """One element of a document's head, as :func:`head_elements` reads it.

    ``name`` is the lower-cased tag name; ``attrs`` maps lower-cased attribute
    names to their values with character references decoded (the first of a
    repeated attribute counts, as in a browser). ``text`` is the raw content
    of a raw-text element such as ``<script>``, empty for other elements.
    """

    name: str
    attrs: dict[str, str]
    text: str = ""


def head_elements(
    body: bytes,
    names: Collection[str],
    *,
    encoding: str | None = None,
    limit: int = DEFAULT_LIMIT,
) -> list[HeadElement]:
    """Return the head's elements named in *names* (lower-case), in order.

    The same tokenizer as the rest of this module (comments and raw-text
    elements skipped, any attribute quoting), stopping where the head ends and
    after at most *limit* bytes; the text is decoded as for :func:`head_meta`.
    A raw-text element whose end tag is missing is dropped. For ``<link>`` and
    inline ``<script>`` data blocks, which :func:`head_meta` does not report.
    """
    if not isinstance(body, bytes | bytearray | memoryview):
        raise TypeError(f"body must be bytes, not {type(body).__name__}")
    if limit <= 0:
        return []
    wanted = frozenset(names)
    text = _decode(bytes(body[:limit]), encoding)
    found: list[HeadElement] = []
    for is_start, name, attrs, end in _tags(text):
        if not is_start:
            if name in _HEAD_END_TAGS:
                break
            continue
        if name in _BODY_START_TAGS:
            break
        if name not in wanted:
            continue
        decoded = {key: unescape(value) for key, value in attrs.items()}
        content = ""
        closing = _RAW_TEXT_END.get(name)
        if closing is not None:
            match = closing.search(text, end)
            if match is None:
                break
            content = text[end : match.start()]
        found.append(HeadElement(name, decoded, content))
    return found


def _meta_tags(attrs: dict[str, str], in_head: bool) -> Iterator[MetaTag]:
    content = unescape(attrs.get("content", ""))
    for attr in ("name", "property", "http-equiv"):
        value = attrs.get(attr)
        if value is None:
            continue
        name = unescape(value).strip(_WHITESPACE).lower()
        if name:
            yield MetaTag(name=name, content=content, attr=attr, in_head=in_head)


def _tags(text: str) -> Iterator[tuple[bool, str, dict[str, str], int]]:
    """Yield ``(is_start, name, attributes, end)`` for each tag of *text*.

    Names are lower-cased; *end* is the position after the tag's ``>``. For an
    attribute given twice the first value counts, as in a browser. End tags
    carry no attributes.
    """
    size = len(text)
    pos = 0
    while True:
        # A "<" that starts no tag ("a < b", "<3") is text: skip it in C.
        match = _TAG_OPEN.search(text, pos)
        if match is None:
            return
        lt = match.start()
        nxt = text[lt + 1]
        if nxt == "!":
            if text.startswith("<!--", lt):
                start = lt + 4
                # "<!-->" and "<!--->" are complete (empty) comments.
                if text.startswith(">", start):
                    pos = start + 1
                    continue
                if text.startswith("->", start):
                    pos = start + 2
                    continue
                match = _COMMENT_END.search(text, start)
                if match is None:
                    return  # an unclosed comment runs to the end
                pos = match.end()
                continue
            pos = _skip_bogus(text, lt + 2)  # doctype, CDATA and the like
        elif nxt == "?":
            pos = _skip_bogus(text, lt + 2)
        elif nxt == "/":
            if lt + 2 < size and _is_ascii_letter(text[lt + 2]):
                tag = _read_tag(text, lt + 2)
                if tag is None:
                    return
                name, _attrs, pos = tag
                yield False, name, {}, pos
            elif text.startswith("</>", lt):
                pos = lt + 3
            else:
                pos = _skip_bogus(text, lt + 2)
        else:  # an ASCII letter
            tag = _read_tag(text, lt + 1)
            if tag is None:
                return
            name, attrs, pos = tag
            yield True, name, attrs, pos
            if name == "plaintext":
                return  # everything after <plaintext> is text
            end = _RAW_TEXT_END.get(name)
            if end is not None:
                match = end.search(text, pos)
                if match is None:
                    return
                pos = match.start()
        if pos < 0:
            return


def _skip_bogus(text: str, start: int) -> int:
    """Position after the ``>`` ending a bogus comment, or -1 at end of input."""
    gt = text.find(">", start)
    return gt + 1 if gt >= 0 else -1


def _read_tag(text: str, start: int) -> tuple[str, dict[str, str], int] | None:
    """Read a tag whose name begins at *start*.

    Returns the lower-cased name, the attributes and the position after the
    closing ``>``, or ``None`` when the input ends inside the tag.
    """
    size = len(text)
    match = _TAG_NAME.match(text, start)
    assert match is not None  # the pattern also matches the empty string
    name = match.group().lower()
    pos = match.end()
    attrs: dict[str, str] = {}
    while True:
        pos = _end_of(_GAP, text, pos)
        if pos >= size:
            return None
        if text[pos] == ">":
            return name, attrs, pos + 1
        match = _ATTR_NAME.match(text, pos)
        assert match is not None  # text[pos] is none of whitespace, "/", ">"
        attr = match.group().lower()
        pos = _end_of(_SPACES, text, match.end())
        value = ""
        if pos < size and text[pos] == "=":
            pos = _end_of(_SPACES, text, pos + 1)
            if pos >= size:
                return None
            quote = text[pos]
            if quote in "\"'":
                close = text.find(quote, pos + 1)
                if close < 0:
                    return None
                value = text[pos + 1 : close]
                pos = close + 1
            else:
                match = _UNQUOTED_VALUE.match(text, pos)
                assert match is not None
                value = match.group()
                pos = match.end()
        attrs.setdefault(attr, value)


def _end_of(pattern: re.Pattern[str], text: str, pos: int) -> int:
    match = pattern.match(text, pos)
    return pos if match is None else match.end()


def _is_ascii_letter(char: str) -> bool:
    return char.isascii() and char.isalpha()


def _decode(data: bytes, encoding: str | None) -> str:
    # A byte-order mark outranks even the HTTP charset, as in the HTML
    # standard: it cannot be there by accident.
    for bom, codec in _BOMS:
        if data.startswith(bom):
            return data[len(bom) :].decode(codec, "replace")
    codec = _web_codec(encoding, declared_in_document=False) or _prescan_charset(data) or "utf-8"
    return data.decode(codec, "replace")


def _prescan_charset(data: bytes) -> str | None:
    """The encoding a ``<meta>`` near the start of *data* declares, if usable."""
    # Latin-1 maps every byte to one character, so ASCII markup reads right
    # whatever the real encoding is.
    head = data[:_PRESCAN_BYTES].decode("latin-1")
    for is_start, name, attrs, _end in _tags(head):
        if not is_start or name != "meta":
            continue
        label = attrs.get("charset")
        if label is None and attrs.get("http-equiv", "").strip().lower() == "content-type":
            match = _CHARSET.search(attrs.get("content", ""))
            label = match.group(1) if match else None
        codec = _web_codec(label, declared_in_document=True)
        if codec is not None:
            return codec
    return None


def _web_codec(label: str | None, *, declared_in_document: bool) -> str | None:
    """The Python codec for an encoding *label*, or ``None`` if not usable."""
    if not label:
        return None
    try:
        name = codecs.lookup(label.strip(_WHITESPACE)).name
    except (LookupError, ValueError):
        return None
    if name.startswith("utf-16"):
        # A document readable far enough to declare UTF-16 in ASCII is not
        # UTF-16; a bare "utf-16" label from the caller means little-endian.
        name = "utf-8" if declared_in_document else _UTF16_DEFAULTS.get(name, name)
    name = _WINDOWS_1252_LABELS.get(name, name)
    return name if name in _WEB_ENCODINGS else None
