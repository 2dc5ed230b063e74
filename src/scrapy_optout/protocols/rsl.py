"""RSL 1.0 (Really Simple Licensing): machine-readable licences for web content.

RSL-SPEC-1.0 became a Recommendation on 2025-11-06 (errata to 2026-05-27).
Documents use the namespace ``https://rslstandard.org/rsl`` and the media type
``application/rsl+xml``. This module reads them; fetching a licence is the
caller's job.

**Discovery.** A site points to its licences in four ways, each read here:

* ``License: <absolute URL>`` lines in robots.txt (:func:`license_urls`). They
  are global, not tied to a user-agent group, and the URL may be on another
  host;
* ``Link: <URL>; rel="license"; type="application/rsl+xml"`` on a response
  (:func:`link_licenses`, an RFC 8288 reader: several links per field,
  quoted parameters, relation types compared case-insensitively); it binds
  that response;
* ``<link rel="license" type="application/rsl+xml" href>`` in an HTML head,
  or the document itself inline in ``<script type="application/rsl+xml">``
  (:func:`html_licenses`).

**Document.** ``<rsl>`` holds ``<content url>`` entries (``url`` a full URL or
a path pattern; ``server`` a licence server, ``encrypted``, ``lastmod``), each
with ``<license>`` elements holding ``<permits type>`` / ``<prohibits type>``
(``usage``, ``user`` or ``geo``, comma-separated tokens), ``<payment type>``
(``<amount currency>``, ``<standard>``, ``<custom>``), ``<legal>``,
``<terms>``, ``<copyright>`` and ``<schema>``. Elements without a namespace are
read too, and ``<content>`` entries in the RSL namespace inside another
document (an RSS feed using the RSL module) are found wherever they are.

**Safety.** Parsing goes through defusedxml with any DTD refused, so entity
expansion (billion laughs) and external entities cannot happen; documents
over :data:`MAX_BYTES` are refused before parsing.

**Matching.** ``<content url>`` is an RFC 9309 path pattern (``*``, final
``$``), matched as robots.txt rules are, on every reading of the URL
(:mod:`scrapy_optout.protocols.patterns`). A full URL matches only its own
origin (scheme, host, port), with its path and query as the pattern; a path
matches on whatever site pointed to the document.

**Purposes.** RSL licenses the *use* of content; whether it may be fetched is
robots.txt's question, so RSL never bears on ``crawl``. A prohibition is read
broadly and a permission narrowly:

=========== ================================= ===================================
usage token  prohibited: reserves              permitted: grants
=========== ================================= ===================================
all          train, tdm, input, search         train, tdm, input, search
ai-all       train, tdm, input                 train, input
ai-train     train, tdm                        train
ai-input     input                             input
ai-index     input                             (nothing)
search       search                            search
=========== ================================= ===================================

``ai-index`` (building a search index for AI applications) is closest to
``input``: such an index exists to feed AI answers. Prohibiting it reserves
``input`` but not ``search``, so a site that bars AI indexes does not lose
ordinary search; permitting it grants nothing, since it is narrower than
every purpose of this project. ``tdm`` is broader than AI training, so only
``all`` grants it.

**Reading a licence for one purpose** (the spec leaves open whether a
``permits`` list is closed; this module reads it as closed, which never
allows silently):

1. a ``<prohibits type="usage">`` token reserving the purpose → reserved;
2. a licence with a ``<permits type="usage">`` list that does not grant the
   purpose → reserved ("not among the uses the licence permits");
3. a licence that grants the purpose (by its list, or without a list, by not
   prohibiting it) grants it only if it is free: no ``server`` (the spec: a
   licence must then be obtained even when free), not ``encrypted``, every
   ``<payment>`` of type ``free`` or ``attribution`` (a missing or unknown
   type is not free), and no ``user`` or ``geo`` condition, which a crawler
   cannot show it meets. Otherwise it is "licence required": reserved for a
   crawler without a licence, and the finding names the licence, payment,
   server and terms.

Several ``<license>`` elements of one ``<content>`` are alternatives: a
prohibition in any wins, else a free grant, else "licence required", else
"not permitted". Several matching ``<content>`` entries each give findings,
and across findings any reservation wins: the most restrictive entry
applies. A document that is not RSL (HTML, broken XML, 404) gives one
``unknown`` finding; the caller's default for unknown decides.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, NamedTuple
from urllib.parse import urljoin, urlsplit

from scrapy_optout.protocols.html import head_elements
from scrapy_optout.protocols.linkheader import parse_link_header
from scrapy_optout.protocols.patterns import Pattern, Rules, compile_pattern, path_readings
from scrapy_optout.protocols.text import decode_policy_text, printable
from scrapy_optout.verdict import Finding, Purpose, Signal, Stance, Where, clip

if TYPE_CHECKING:
    from xml.etree.ElementTree import Element

__all__ = [
    "FREE_PAYMENTS",
    "GRANTS",
    "MAX_BYTES",
    "MEDIA_TYPE",
    "NAMESPACE",
    "PURPOSES",
    "RESERVES",
    "Content",
    "HtmlLicenses",
    "License",
    "Payment",
    "RslDocument",
    "evaluate",
    "html_licenses",
    "license_urls",
    "link_licenses",
]

NAMESPACE = "https://rslstandard.org/rsl"
MEDIA_TYPE = "application/rsl+xml"

#: Largest RSL document parsed; a bigger one is refused, not cut (cut XML is broken).
MAX_BYTES = 512 * 1024
#: Most ``License:`` URLs taken from one robots.txt, and links from one response.
MAX_URLS = 16

#: The purposes RSL speaks about (never ``crawl``).
PURPOSES: frozenset[Purpose] = frozenset(
    {Purpose.TRAIN, Purpose.TDM, Purpose.INPUT, Purpose.SEARCH}
)
_TRAIN, _TDM, _INPUT, _SEARCH = Purpose.TRAIN, Purpose.TDM, Purpose.INPUT, Purpose.SEARCH

#: What a prohibited usage token reserves.
RESERVES: Mapping[str, frozenset[Purpose]] = {
    "all": PURPOSES,
    "ai-all": frozenset({_TRAIN, _TDM, _INPUT}),
    "ai-train": frozenset({_TRAIN, _TDM}),
    "ai-input": frozenset({_INPUT}),
    "ai-index": frozenset({_INPUT}),
    "search": frozenset({_SEARCH}),
}
#: What a permitted usage token grants.
GRANTS: Mapping[str, frozenset[Purpose]] = {
    "all": PURPOSES,
    "ai-all": frozenset({_TRAIN, _INPUT}),
    "ai-train": frozenset({_TRAIN}),
    "ai-input": frozenset({_INPUT}),
    "ai-index": frozenset(),
    "search": frozenset({_SEARCH}),
}
#: Payment types that need no licence to be acquired.
FREE_PAYMENTS = frozenset({"free", "attribution"})
_PAYMENT_TYPES = frozenset(
    {"free", "attribution", "purchase", "subscription", "training", "crawl", "use", "contribution"}
)
_KINDS = ("usage", "user", "geo")
# Namespaces read as RSL: the spec's, its http:// and trailing-slash slips, none.
_NAMESPACES = frozenset({NAMESPACE, NAMESPACE + "/", "http://rslstandard.org/rsl", ""})
_TRUE = frozenset({"true", "1", "yes"})
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_HTML = re.compile(rb"^\s*(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html[\s>])", re.I | re.S)
_XML_DECLARATION = re.compile(r"^\s*<\?xml[^>]*\?>")
_DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True, slots=True)
class Payment:
    """One ``<payment>``: its type (lower-cased, ``""`` when absent) and terms."""

    type: str
    amounts: tuple[tuple[str, str], ...] = ()  #: ``(amount, currency)`` pairs
    standard: str = ""
    custom: str = ""

    @property
    def free(self) -> bool:
        """Whether no licence must be acquired for this payment."""
        return self.type in FREE_PAYMENTS

    def describe(self) -> str:
        text = f"payment {self.type or '(no type)'}"
        if self.type and self.type not in _PAYMENT_TYPES:
            text += " (not an RSL payment type)"
        if self.amounts:
            text += " (" + ", ".join(f"{a} {c}".strip() for a, c in self.amounts) + ")"
        if self.standard:
            text += f", standard licence {self.standard}"
        if self.custom:
            text += f", custom terms {self.custom}"
        return text

    def quote(self) -> str:
        amounts = "".join(f'<amount currency="{c}">{a}</amount>' for a, c in self.amounts)
        kind = f' type="{self.type}"' if self.type else ""
        return f"<payment{kind}>{amounts}</payment>" if amounts else f"<payment{kind}/>"


@dataclass(frozen=True, slots=True)
class License:
    """One ``<license>``: what it permits and prohibits, and on which terms.

    ``permits`` and ``prohibits`` map a type (``usage``, ``user``, ``geo``) to
    its tokens, lower-cased (geo codes upper-cased), in document order.
    """

    permits: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    prohibits: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    payments: tuple[Payment, ...] = ()
    legal: tuple[str, ...] = ()
    terms: str = ""
    copyright: str = ""
    schema: str = ""

    @property
    def conditions(self) -> list[str]:
        """The ``user`` and ``geo`` conditions, in words."""
        return [
            f"{verb} {kind} {', '.join(tokens)}"
            for verb, table in (("permits", self.permits), ("prohibits", self.prohibits))
            for kind in ("user", "geo")
            if (tokens := table.get(kind))
        ]

    @property
    def free(self) -> bool:
        return all(payment.free for payment in self.payments)

    def reserved(self) -> frozenset[Purpose]:
        """The purposes a usage prohibition of this licence reserves."""
        tokens = self.prohibits.get("usage", ())
        return frozenset(p for token in tokens for p in RESERVES.get(token, ()))

    def granted(self) -> frozenset[Purpose]:
        """The purposes this licence covers: its permitted usage, or all not prohibited."""
        if "usage" in self.permits:
            tokens = self.permits["usage"]
            return frozenset(p for token in tokens for p in GRANTS.get(token, ())) - self.reserved()
        return PURPOSES - self.reserved()

    def quote(self) -> str:
        parts = [
            f'<{verb} type="{kind}">{",".join(tokens)}</{verb}>'
            for verb, table in (("permits", self.permits), ("prohibits", self.prohibits))
            for kind, tokens in table.items()
        ]
        parts += [payment.quote() for payment in self.payments]
        return "<license>" + "".join(parts) + "</license>"


@dataclass(frozen=True, slots=True)
class Content:
    """One ``<content>`` entry and its licences.

    ``origin`` is ``scheme://host:port`` when ``url`` is a full URL (the entry
    then binds that origin only), else ``None``; ``pattern`` is the path
    pattern matched against a URL's path and query.
    """

    url: str
    pattern: Pattern
    origin: str | None
    licenses: tuple[License, ...]
    server: str = ""
    encrypted: bool = False
    lastmod: str = ""
    rules: Rules[Content] | None = field(default=None, compare=False, repr=False)

    def matches(self, url: str) -> tuple[bool, tuple[str, str] | None]:
        """Whether the entry binds *url*, and the reading that matched if not the literal one."""
        if self.origin is not None and _origin(url) != self.origin:
            return False, None
        if self.rules is None:
            return False, None
        found, via = self.rules.decide(url, path_readings(url), _always)
        return found is not None, via

    def quote(self) -> str:
        attrs = f' url="{self.url}"'
        if self.server:
            attrs += f' server="{self.server}"'
        if self.encrypted:
            attrs += ' encrypted="true"'
        return f"<content{attrs}>"


def _always(_content: Content) -> bool:
    return True


class RslDocument:
    """A parsed RSL document.

    ``error`` is ``None`` when the document holds at least one usable
    ``<content>`` entry; otherwise it says why the body is not read as a
    licence, and it gives no signal. ``notes`` record what was tolerated.
    """

    __slots__ = ("contents", "error", "notes")

    def __init__(
        self,
        contents: Sequence[Content] = (),
        error: str | None = None,
        notes: Sequence[str] = (),
    ) -> None:
        self.contents: tuple[Content, ...] = tuple(contents)
        self.error: str | None = error
        self.notes: tuple[str, ...] = tuple(notes)

    def __repr__(self) -> str:
        return f"RslDocument(contents={len(self.contents)}, error={self.error!r})"

    @classmethod
    def parse(cls, body: bytes, *, content_type: str | None = None) -> RslDocument:
        """Parse an RSL document. Never raises on content: a bad body sets ``error``.

        *content_type* is only quoted in the error; the body decides.
        """
        if not isinstance(body, bytes | bytearray | memoryview):
            raise TypeError(f"body must be bytes, not {type(body).__name__}")
        data = bytes(body)
        labelled = f" (Content-Type: {content_type})" if content_type else ""
        if len(data) > MAX_BYTES:
            return cls(error=f"body is larger than {MAX_BYTES} bytes{labelled}")
        if not data.strip():
            return cls(error=f"body is empty{labelled}")
        if data[:1] in b" \t\r\n":
            data = data.lstrip()  # blank lines before the XML declaration
        return cls._from_xml(data, labelled)

    @classmethod
    def parse_text(cls, text: str) -> RslDocument:
        """Parse a document given as text, such as an inline ``<script>`` block."""
        if not isinstance(text, str):
            raise TypeError(f"text must be str, not {type(text).__name__}")
        # The text is decoded already: an encoding declaration no longer applies.
        return cls.parse(_XML_DECLARATION.sub("", text, count=1).encode("utf-8", "replace"))

    @classmethod
    def _from_xml(cls, data: bytes, labelled: str) -> RslDocument:
        if _HTML.match(data[:4096]):
            return cls(error=f"body is HTML, not an RSL document{labelled}")
        # The XML parser is loaded with the first document: a crawl that meets
        # none keeps its modules out of the heap the garbage collector walks.
        from xml.etree.ElementTree import ParseError

        from defusedxml import DefusedXmlException
        from defusedxml.ElementTree import fromstring

        try:
            root = fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
        except DefusedXmlException as exc:
            return cls(error=f"document refused: {type(exc).__name__} (no DTD or entities)")
        except (ParseError, ValueError, LookupError, UnicodeError) as exc:
            return cls(error=clip(f"body is not well-formed XML: {exc}{labelled}"))
        notes: list[str] = []
        namespace, name = _split(root.tag)
        if name == "rsl" and namespace in _NAMESPACES:
            if namespace != NAMESPACE:
                notes.append(f"namespace {namespace or '(none)'} read as {NAMESPACE}")
            elements = [c for c in root if _is(c, "content")]
        else:
            # A feed or another document carrying RSL <content> entries.
            elements = [e for e in root.iter() if _split(e.tag) == (NAMESPACE, "content")]
            if not elements:
                kind = "HTML" if name.lower() == "html" else f"<{printable(name)}>"
                return cls(error=f"not an RSL document: root element is {kind}{labelled}")
            notes.append(f"RSL entries read inside <{printable(name)}>")
        contents = []
        for element in elements:
            content = _content(element, notes)
            if content is not None:
                contents.append(content)
        if not contents:
            return cls(error="no <content> element with a url and a <license>", notes=notes)
        return cls(contents, None, notes)

    def matching(self, url: str) -> list[tuple[Content, tuple[str, str] | None]]:
        """The entries that bind *url*, in document order, with the reading that matched."""
        found = []
        for content in self.contents:
            hit, via = content.matches(url)
            if hit:
                found.append((content, via))
        return found


def _split(tag: object) -> tuple[str, str]:
    if not isinstance(tag, str):  # comments and processing instructions
        return "#", ""
    if tag.startswith("{"):
        namespace, _, name = tag[1:].partition("}")
        return namespace, name
    return "", tag


def _is(element: Element, name: str) -> bool:
    namespace, local = _split(element.tag)
    return local == name and namespace in _NAMESPACES


def _text(element: Element) -> str:
    return clip(printable(" ".join("".join(element.itertext()).split())))


def _children(element: Element, name: str) -> Iterator[Element]:
    return (child for child in element if _is(child, name))


def _content(element: Element, notes: list[str]) -> Content | None:
    url = (element.get("url") or "").strip()
    if not url:
        notes.append("a <content> without url skipped")
        return None
    licenses = tuple(_license(item, notes) for item in _children(element, "license"))
    if not licenses:
        notes.append(f"<content url={url!r}> without <license> skipped")
        return None
    origin: str | None = None
    path = url
    if "://" in url:
        origin = _origin(url)
        if origin is None:
            notes.append(f"<content url={url!r}>: not a usable URL, skipped")
            return None
        parts = urlsplit(url)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    pattern = compile_pattern(path)
    content = Content(
        url=clip(printable(url)),
        pattern=pattern,
        origin=origin,
        licenses=licenses,
        server=clip(printable((element.get("server") or "").strip())),
        encrypted=(element.get("encrypted") or "").strip().lower() in _TRUE,
        lastmod=clip(printable((element.get("lastmod") or "").strip())),
    )
    object.__setattr__(content, "rules", Rules([(pattern, content)]))
    return content


def _license(element: Element, notes: list[str]) -> License:
    permits: dict[str, list[str]] = {}
    prohibits: dict[str, list[str]] = {}
    payments: list[Payment] = []
    legal: list[str] = []
    terms = copyright_ = schema = ""
    for child in element:
        namespace, name = _split(child.tag)
        if namespace not in _NAMESPACES:
            continue
        if name in ("permits", "prohibits"):
            kind = (child.get("type") or "usage").strip().lower()
            if kind not in _KINDS:
                notes.append(f"<{name} type={kind!r}> is not an RSL type, ignored")
                continue
            tokens = _tokens(_text(child), upper=kind == "geo")
            unknown = [t for t in tokens if kind == "usage" and t not in RESERVES]
            if unknown:
                notes.append(f"usage tokens outside the vocabulary ignored: {', '.join(unknown)}")
            table = permits if name == "permits" else prohibits
            table.setdefault(kind, []).extend(t for t in tokens if t not in table.get(kind, ()))
        elif name == "payment":
            payments.append(_payment(child))
        elif name == "legal":
            legal.append(_text(child))
        elif name == "terms":
            terms = _text(child)
        elif name == "copyright":
            copyright_ = _text(child)
        elif name == "schema":
            schema = _text(child)
    return License(
        permits={k: tuple(v) for k, v in permits.items()},
        prohibits={k: tuple(v) for k, v in prohibits.items()},
        payments=tuple(payments),
        legal=tuple(legal),
        terms=terms,
        copyright=copyright_,
        schema=schema,
    )


def _payment(element: Element) -> Payment:
    amounts = tuple(
        (_text(a), clip(printable((a.get("currency") or "").strip()), 16))
        for a in _children(element, "amount")
    )
    standard = next((_text(e) for e in _children(element, "standard")), "")
    custom = next((_text(e) for e in _children(element, "custom")), "")
    kind = clip(printable((element.get("type") or "").strip().lower()), 40)
    return Payment(kind, amounts, standard, custom)


def _tokens(text: str, *, upper: bool = False) -> list[str]:
    words = text.replace(",", " ").split()
    return list(dict.fromkeys(w.upper() if upper else w.lower() for w in words))


def _origin(url: str) -> str | None:
    """``scheme://host:port`` of *url*, lower-cased, with the default port filled in."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").rstrip(".")
    if not scheme or not host:
        return None
    return f"{scheme}://{host}:{port or _DEFAULT_PORTS.get(scheme, 0)}"


# -- evaluation -----------------------------------------------------------------------------------


class _Outcome(Enum):
    PROHIBITED = 1
    GRANTED = 2
    REQUIRED = 3
    NOT_LISTED = 4


def _outcome(content: Content, purpose: Purpose) -> tuple[_Outcome, License] | None:
    """How *content*'s licences, taken as alternatives, treat *purpose*."""
    best: tuple[_Outcome, License] | None = None
    rank = {_Outcome.GRANTED: 0, _Outcome.REQUIRED: 1, _Outcome.NOT_LISTED: 2}
    for licence in content.licenses:
        if purpose in licence.reserved():
            return _Outcome.PROHIBITED, licence
        if purpose not in licence.granted():
            outcome = _Outcome.NOT_LISTED
        elif content.server or content.encrypted or not licence.free or licence.conditions:
            outcome = _Outcome.REQUIRED
        else:
            outcome = _Outcome.GRANTED
        if best is None or rank[outcome] < rank[best[0]]:
            best = outcome, licence
    return best


def _required_because(content: Content, licence: License) -> str:
    reasons = []
    if content.server:
        reasons.append(f"licence server {content.server}")
    if content.encrypted:
        reasons.append("encrypted content")
    reasons += [payment.describe() for payment in licence.payments if not payment.free]
    reasons += licence.conditions
    return "; ".join(reasons)


def _terms(licence: License) -> str:
    parts = []
    if licence.terms:
        parts.append(f"terms {licence.terms}")
    parts += [f"legal: {text}" for text in licence.legal if text]
    if licence.copyright:
        parts.append(f"copyright {licence.copyright}")
    return "; " + "; ".join(parts) if parts else ""


def _finding_for(
    content: Content,
    outcome: _Outcome,
    licence: License,
    purposes: frozenset[Purpose],
    where: Where,
    source: str,
    suffix: str,
) -> Finding:
    names = ", ".join(sorted(str(p) for p in purposes))
    if outcome is _Outcome.PROHIBITED:
        usage = licence.prohibits.get("usage", ())
        tokens = [t for t in usage if RESERVES.get(t, frozenset()) & purposes]
        detail = f"the licence prohibits {', '.join(tokens)}: reserved for {names}"
    elif outcome is _Outcome.NOT_LISTED:
        listed = ", ".join(licence.permits.get("usage", ())) or "no usage"
        detail = f"the licence permits only {listed}: {names} not permitted"
    elif outcome is _Outcome.REQUIRED:
        detail = (
            f"licence required for {names} ({_required_because(content, licence)}): "
            f"reserved for a crawler without a licence"
        )
    else:
        attribution = any(p.type == "attribution" for p in licence.payments)
        duty = " (attribution required)" if attribution else ""
        detail = f"the licence permits {names} free of charge{duty}"
    stance = Stance.ALLOW if outcome is _Outcome.GRANTED else Stance.RESERVE
    return Finding(
        signal=Signal.RSL,
        where=where,
        stance=stance,
        purposes=purposes,
        rule=clip(content.quote() + licence.quote()),
        source=source,
        detail=clip(f"{detail}; licence {source}{_terms(licence)}{suffix}", 600),
    )


def evaluate(
    doc: RslDocument | None,
    url: str,
    *,
    source: str,
    status: int | None = None,
    error: str | None = None,
    where: Where = Where.FILE,
) -> list[Finding]:
    """Findings of an RSL document for *url*, given how fetching it went.

    *source* is the URL of the licence (or of the page holding it inline,
    with *where* :attr:`~Where.META`); *status* its final HTTP status
    (``None`` when not fetched over HTTP) and *error* a network error. A
    failed fetch, a non-2xx status or a body that is not RSL gives one
    ``unknown`` finding; a document with no entry for *url* gives none.
    Otherwise each matching ``<content>`` entry gives a finding per outcome
    (see the module documentation).
    """
    if error is not None:
        return [_unknown(f"RSL licence not available ({error})", source, where)]
    if status is not None and not 200 <= status < 300:
        return [_unknown(f"RSL licence not available (HTTP {status})", source, where)]
    if doc is None:
        return [_unknown("RSL licence not available (no body)", source, where)]
    if doc.error is not None:
        return [_unknown(f"not an RSL licence: {doc.error}", source, where)]
    matches = doc.matching(url)
    several = "; several <content> entries match: the most restrictive applies"
    note = f" [{'; '.join(doc.notes)}]" if doc.notes else ""
    found: list[Finding] = []
    for content, via in matches:
        suffix = (f"; matched as {via[0]} after {via[1]}" if via else "") + (
            several if len(matches) > 1 else ""
        )
        groups: dict[tuple[_Outcome, int], set[Purpose]] = {}
        licences: dict[int, License] = {}
        for purpose in sorted(PURPOSES):
            decided = _outcome(content, purpose)
            if decided is None:
                continue
            outcome, licence = decided
            licences[id(licence)] = licence
            groups.setdefault((outcome, id(licence)), set()).add(purpose)
        for (outcome, key), purposes in groups.items():
            found.append(
                _finding_for(
                    content,
                    outcome,
                    licences[key],
                    frozenset(purposes),
                    where,
                    source,
                    suffix + note,
                )
            )
    return found


def _unknown(detail: str, source: str, where: Where) -> Finding:
    return Finding(Signal.RSL, where, Stance.UNKNOWN, PURPOSES, "", source, clip(detail))


# -- discovery ------------------------------------------------------------------------------------


def license_urls(robots: str | bytes, *, base: str | None = None) -> list[str]:
    """The ``License:`` URLs of a robots.txt, in order, each once.

    The field name compares case-insensitively and ``#`` starts a comment, as
    for every robots.txt line; the lines are global, wherever they stand.
    Absolute ``http``/``https`` URLs are kept; a relative one is resolved
    against *base* (the robots.txt URL) when given, else skipped. At most
    :data:`MAX_URLS` are returned. *robots* may be the body as bytes.
    """
    if isinstance(robots, bytes | bytearray):
        robots = decode_policy_text(bytes(robots)).text
    elif not isinstance(robots, str):
        raise TypeError(f"robots must be str or bytes, not {type(robots).__name__}")
    urls: dict[str, None] = {}
    for line in _LINE_BREAK.split(robots):
        key, colon, value = line.split("#", 1)[0].partition(":")
        if not colon or key.strip().lower() != "license":
            continue
        url = _absolute(value.strip(), base)
        if url is not None:
            urls.setdefault(url)
            if len(urls) >= MAX_URLS:
                break
    return list(urls)


def _absolute(value: str, base: str | None) -> str | None:
    if not value or any(c.isspace() for c in value):
        return None
    try:
        scheme = urlsplit(value).scheme.lower()
        if not scheme and base:
            value = urljoin(base, value)
            scheme = urlsplit(value).scheme.lower()
    except ValueError:
        return None
    return value if scheme in ("http", "https") else None


def _is_rsl_type(value: str | None) -> bool:
    return (value or "").split(";", 1)[0].strip().lower() == MEDIA_TYPE


def link_licenses(values: Sequence[str], *, base: str) -> list[str]:
    """The RSL licence URLs a response's ``Link`` fields name, resolved against *base*.

    Links with relation type ``license`` and ``type="application/rsl+xml"``
    count; a link with an ``anchor`` parameter is about another resource and
    is left out. At most :data:`MAX_URLS`, each once.
    """
    urls: dict[str, None] = {}
    for link in parse_link_header(values):
        if "license" not in link.rels or "anchor" in link.params:
            continue
        if not _is_rsl_type(link.params.get("type")):
            continue
        url = _absolute(link.target, base)
        if url is not None:
            urls.setdefault(url)
            if len(urls) >= MAX_URLS:
                break
    return list(urls)


class HtmlLicenses(NamedTuple):
    """What an HTML head says about RSL: linked licence URLs and inline documents."""

    links: list[str]
    inline: list[RslDocument]


def html_licenses(
    body: bytes, *, base: str, encoding: str | None = None, limit: int = MAX_BYTES
) -> HtmlLicenses:
    """RSL licences of an HTML page: ``<link rel="license">`` and inline documents.

    Reads the head (at most *limit* bytes): ``<link>`` elements whose ``rel``
    includes ``license`` and whose ``type`` is ``application/rsl+xml``
    (``href`` resolved against *base*, the page's URL), and ``<script
    type="application/rsl+xml">`` blocks, parsed. A page that never
    mentions ``rsl+xml`` is not scanned.
    """
    if not isinstance(body, bytes | bytearray | memoryview):
        raise TypeError(f"body must be bytes, not {type(body).__name__}")
    head = bytes(body[:limit])
    if b"rsl+xml" not in head.lower() and b"\x00" not in head[:1024]:
        return HtmlLicenses([], [])  # the usual page: nothing to scan for
    links: dict[str, None] = {}
    inline: list[RslDocument] = []
    for element in head_elements(head, ("link", "script"), encoding=encoding, limit=limit):
        if not _is_rsl_type(element.attrs.get("type")):
            continue
        if element.name == "script":
            if len(inline) < MAX_URLS:
                inline.append(RslDocument.parse_text(element.text))
            continue
        rels = element.attrs.get("rel", "").lower().split()
        url = _absolute(element.attrs.get("href", "").strip(), base) if "license" in rels else None
        if url is not None and len(links) < MAX_URLS:
            links.setdefault(url)
    return HtmlLicenses(list(links), inline)
