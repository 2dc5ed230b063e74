"""TDMRep, the W3C TDM Reservation Protocol (Community Group Final Report, 10 May 2024).

A rightsholder says whether text-and-data-mining rights over a resource are
reserved with two properties: ``tdm-reservation`` (``1`` reserved, ``0`` not
reserved) and, optionally, ``tdm-policy`` (the URL of licensing terms). They
can be given in four places, read in this order, each later one overriding the
earlier ones *only if it supplies a value*:

1. the origin's ``/.well-known/tdmrep.json`` (:class:`TdmrepFile`);
2. the response headers (:func:`header_value`);
3. the HTML ``<meta>`` elements (:func:`meta_value`);
4. EPUB or PDF embedded metadata (:func:`document_value`).

:func:`resolve` applies that priority and :func:`findings` turns the result
into :class:`~scrapy_optout.verdict.Finding` objects.

Readings of the report where it is silent or loose, each chosen so as to keep
what the site author evidently wrote without inventing permissions:

* ``tdm-reservation`` counts only as the values ``0`` and ``1``. In
  ``tdmrep.json`` that means the JSON *numbers* (``1.0`` is the same JSON
  number and counts); the string ``"1"``, ``true`` and ``2`` are protocol
  errors and leave the value unset (the strict reading of vector ``f18``).
  Headers and ``<meta>`` content are text, so there the text ``1`` / ``0``
  counts, after trimming surrounding white space.
* In ``tdmrep.json`` the first rule in array order whose ``location`` matches
  wins, as the report says. If that rule's ``tdm-reservation`` is invalid the
  value is unset: the search does not go on to later rules. A rule missing
  either mandatory member (``location``, ``tdm-reservation``) is skipped.
* A value that is present but invalid never overrides a valid earlier one
  (an invalid header leaves the file's value standing), and ``tdm-policy`` is
  carried forward on its own the same way.
* Several ``tdm-reservation`` header fields, or one field listing several
  values, are invalid unless all the values are the same: HTTP folds repeated
  fields into one list, and a list is not a valid value.
* Several ``<meta>`` elements, or several declarations in one EPUB or PDF,
  have no combination rule; the most restrictive valid value wins.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from scrapy_optout.protocols import docmeta
from scrapy_optout.protocols.html import MetaTag
from scrapy_optout.protocols.patterns import Pattern, Rules, compile_pattern, path_readings
from scrapy_optout.protocols.sniff import BodyKind
from scrapy_optout.protocols.text import decode_policy_text, looks_binary, printable
from scrapy_optout.verdict import Finding, Purpose, Signal, Stance, Where

__all__ = [
    "PURPOSES",
    "WELL_KNOWN_PATH",
    "TdmRule",
    "TdmValue",
    "TdmrepFile",
    "document_value",
    "findings",
    "header_value",
    "meta_value",
    "resolve",
]

WELL_KNOWN_PATH = "/.well-known/tdmrep.json"

#: What a TDM reservation restricts. TDM includes model training; use at
#: inference (RAG, grounding) is marked [U] in the specs' purpose table and is
#: included here as that table says.
PURPOSES: frozenset[Purpose] = frozenset({Purpose.TDM, Purpose.TRAIN, Purpose.INPUT})

#: tdmrep.json bodies above this size are refused. The report sets no limit;
#: real files are a few hundred bytes, and a publisher's long rule list fits
#: comfortably.
MAX_FILE_BYTES = 1024 * 1024

_JSON_SPACE = re.compile(r"[ \t\r\n]*")

# A raw octet that is not UTF-8, as decode_policy_text keeps it.
_RAW_OCTET = re.compile("[\udc80-\udcff]")
# What a cut through the last character leaves: at most three raw octets of an
# incomplete UTF-8 sequence, or a replaced half of a UTF-16 surrogate pair.
_CUT_CHARACTER = re.compile("(?:[\udc80-\udcff]{1,3}|\ufffd)\\Z")


@dataclass(frozen=True, slots=True)
class TdmValue:
    """The TDMRep properties found in one place, with the evidence.

    ``reservation`` is ``1``, ``0`` or ``None`` when unset (absent or not a
    valid value). ``rule`` quotes what the site wrote, ``where`` says which
    technique it came from and ``source`` is the URL of the evidence.
    ``note`` says how the file holding it was decoded, when not as plain UTF-8.
    ``matched_as`` is set when a ``tdmrep.json`` rule matched a resolved
    reading of the URL rather than its literal path: the reading, and how a
    server gets there.
    """

    reservation: int | None
    policy: str | None
    rule: str
    where: Where
    source: str
    note: str = ""
    matched_as: tuple[str, str] | None = None


@dataclass(frozen=True, slots=True)
class TdmRule:
    """One usable rule of a ``tdmrep.json`` file, in file order.

    ``reservation`` is ``None`` when the rule's ``tdm-reservation`` is not a
    valid value; ``text`` is the rule as JSON, for quoting.
    """

    location: str
    pattern: Pattern
    reservation: int | None
    policy: str | None
    text: str


class TdmrepFile:
    """A parsed ``/.well-known/tdmrep.json``.

    ``rules`` holds the rules that can be used, in file order. ``error`` is
    ``None`` for a file that follows the report; otherwise it says, in words,
    why the file is not a valid tdmrep.json. A body that is not a JSON array
    of rules (HTML, broken JSON, a single object, JSON-LD...) has no rules at
    all. A valid array with some broken rules keeps the rules that can still
    be read: discarding a whole file over one bad rule would drop reservations
    its author clearly made. Either way the error is worth reporting.
    ``notes`` say how the file was decoded when it was not plain UTF-8 (see
    :func:`~scrapy_optout.protocols.text.decode_policy_text`); values looked up
    in it carry them.
    """

    __slots__ = ("__weakref__", "_index", "error", "notes", "rules")

    def __init__(
        self, rules: Sequence[TdmRule] = (), error: str | None = None, notes: Sequence[str] = ()
    ) -> None:
        self.rules: tuple[TdmRule, ...] = tuple(rules)
        self.error: str | None = error
        self.notes: tuple[str, ...] = tuple(notes)
        self._index: Rules[TdmRule] | None = None

    def __repr__(self) -> str:
        return f"TdmrepFile(rules={len(self.rules)}, error={self.error!r})"

    @classmethod
    def parse(
        cls, body: bytes, *, content_type: str | None = None, truncated: bool = False
    ) -> TdmrepFile:
        """Parse a tdmrep.json body. Never raises: problems end up in ``error``.

        *content_type* only enriches the error message; the body decides,
        because servers mislabel static files and SPA shells alike.

        *truncated* says that *body* is the start of a longer file (the fetch
        stopped at its size limit). A body over :data:`MAX_FILE_BYTES` is
        treated the same way, from its first :data:`MAX_FILE_BYTES` bytes. If
        that start is not a whole JSON document, the complete rules before the
        cut are read where they stand, one at a time (nothing is decoded and
        encoded again, so nothing grows past the limit), and ``error`` says the
        file was cut short: the first matching rule wins, so those rules decide
        every path they match exactly as the whole file would, and a later
        rule might have reserved any other path.
        """
        cut = truncated or len(body) > MAX_FILE_BYTES
        text, problem, notes = _decode_json_text(
            body[:MAX_FILE_BYTES] if cut else body, content_type, cut
        )
        if text is None:
            return cls(error=problem, notes=notes)
        try:
            document = json.loads(text)
        except json.JSONDecodeError as exc:
            where = f"{exc.msg} (line {exc.lineno}, column {exc.colno})"
            if not cut:
                if _RAW_OCTET.search(text) is not None:
                    return cls(error=f"body is not UTF-8 text, and not JSON: {where}", notes=notes)
                return cls(error=f"not JSON: {where}", notes=notes)
            salvaged = cls._prefix(text, len(body))
            if salvaged is not None:
                return cls(salvaged.rules, salvaged.error, notes=notes)
            kept = min(len(body), MAX_FILE_BYTES)
            return cls(
                error=f"file cut short after {kept} bytes, before its first rule: {where}",
                notes=notes,
            )
        except RecursionError:
            return cls(error="not JSON: nested too deeply", notes=notes)
        if not isinstance(document, list):
            return cls(error=printable(_describe_non_array(document)), notes=notes)
        rules: list[TdmRule] = []
        problems: list[str] = []
        for number, item in enumerate(document, start=1):
            rule = _read_rule(number, item, problems)
            if rule is not None:
                rules.append(rule)
        error = _summarise(problems)
        return cls(rules, printable(error) if error else None, notes=notes)

    @classmethod
    def _prefix(cls, text: str, size: int) -> TdmrepFile | None:
        """The complete rules at the start of *text*, a JSON array cut short.

        ``None`` when *text* does not start an array or holds no complete item.
        """
        decoder = json.JSONDecoder()
        pos = _skip_space(text, 0)
        if not text.startswith("[", pos):
            return None
        rules: list[TdmRule] = []
        problems: list[str] = []
        number = 0
        pos += 1
        while True:
            pos = _skip_space(text, pos)
            try:
                item, pos = decoder.raw_decode(text, pos)
            except (ValueError, RecursionError):
                break
            number += 1
            rule = _read_rule(number, item, problems)
            if rule is not None:
                rules.append(rule)
            pos = _skip_space(text, pos)
            if not text.startswith(",", pos):
                break
            pos += 1
        if not number:
            return None
        note = (
            f"file cut short: its first {min(size, MAX_FILE_BYTES)} bytes hold {number}"
            " complete rules, which were read; a rule after the cut may reserve any path"
            " they do not match, so such a path is unknown"
        )
        summary = _summarise(problems)
        return cls(rules, f"{note}; {summary}" if summary else note)

    def lookup(self, url_or_path: str, *, source: str) -> TdmValue | None:
        """Return the value of the first rule whose ``location`` matches, or ``None``.

        The first match in array order wins even when a later rule is longer
        (the report: "the most specific match is the first in sequence"). A
        matching rule with an invalid ``tdm-reservation`` gives a value whose
        ``reservation`` is ``None``. *source* is the file's URL.

        Every reading of the URL counts
        (:func:`~scrapy_optout.protocols.patterns.path_readings`): when the first
        matching rule of any reading reserves, that rule decides; otherwise
        the literal path does.
        """
        rule, via = self._rules().decide(url_or_path, path_readings(url_or_path), _reserves)
        if rule is None:
            return None
        note = f"tdmrep.json {'; '.join(self.notes)}" if self.notes else ""
        return TdmValue(rule.reservation, rule.policy, rule.text, Where.FILE, source, note, via)

    def is_path_independent(self) -> bool:
        """Whether :meth:`lookup` gives every URL the same value.

        True without rules, and when the first rule's ``location`` covers
        every path (``/``, ``*``): being first, it matches before any other.
        """
        return self._rules().fixed()[0]

    def _rules(self) -> Rules[TdmRule]:
        index = self._index
        if index is None:
            index = self._index = Rules([(r.pattern, r) for r in self.rules], by_length=False)
        return index


def _reserves(rule: TdmRule) -> bool:
    return rule.reservation == 1


def header_value(headers: Mapping[str, Sequence[str]], *, source: str) -> TdmValue | None:
    """Read ``tdm-reservation`` / ``tdm-policy`` from response headers.

    *headers* maps field names (matched case-insensitively) to their values.
    Returns ``None`` when neither field is present. *source* is the URL of
    the response.
    """
    reservations = _field_values(headers, "tdm-reservation")
    policies = _field_values(headers, "tdm-policy")
    if not reservations and not policies:
        return None
    policy = next((p.strip() for p in policies if p.strip()), None)
    if not reservations:
        return TdmValue(None, policy, f"tdm-policy: {policy or ''}", Where.HEADER, source)
    # Repeated fields fold into one comma-separated list (RFC 9110 §5.3).
    items = {part.strip() for value in reservations for part in value.split(",")}
    reservation = _text_value(items.pop()) if len(items) == 1 else None
    written = ", ".join(value.strip() for value in reservations)
    return TdmValue(reservation, policy, f"tdm-reservation: {written}", Where.HEADER, source)


def meta_value(metas: Sequence[MetaTag], *, source: str) -> TdmValue | None:
    """Read ``<meta name="tdm-reservation">`` / ``tdm-policy`` from an HTML head.

    *metas* are the page's ``<meta>`` elements as read by
    :func:`scrapy_optout.protocols.html.head_meta`. Only the ``name=`` form is
    TDMRep; ``property=`` and ``http-equiv=`` are not part of the report.
    Elements after the head are read too if the caller passes them (the
    report's examples use the head, but do not require it). Returns ``None``
    when neither property is present.
    """
    found: list[tuple[str, str]] = []
    policy: str | None = None
    policy_quote = ""
    for meta in metas:
        if meta.attr != "name":
            continue
        name = meta.name.strip().lower()
        if name == "tdm-reservation":
            found.append((meta.content, _meta_quote(name, meta.content)))
        elif name == "tdm-policy" and policy is None and meta.content.strip():
            policy, policy_quote = meta.content.strip(), _meta_quote(name, meta.content)
    if not found:
        if policy is None:
            return None
        return TdmValue(None, policy, policy_quote, Where.META, source)
    reservation, quote = _most_restrictive(found)
    return TdmValue(reservation, policy, quote, Where.META, source)


def _meta_quote(name: str, content: str) -> str:
    return f'<meta name="{name}" content="{html.escape(content)}">'


def document_value(
    body: bytes,
    content_type: str | None = None,
    *,
    source: str,
    kinds: frozenset[BodyKind] | None = None,
) -> TdmValue | None:
    """Read TDMRep metadata embedded in an EPUB or a PDF.

    What the body is comes from *kinds* (as :func:`sniff.body_kinds` gave
    it), else from *content_type* and the body's first bytes: a zip archive
    is tried as an EPUB and ``%PDF-`` near the start makes a PDF, whatever
    the label says.

    EPUB: the package document named by ``META-INF/container.xml``, in its
    EPUB 2 form ``<meta name="tdm:reservation" content="1"/>`` or its EPUB 3
    form ``<meta property="tdm:reservation">1</meta>`` (an EPUB 3 package that
    binds the prefix ``tdm`` to some other URI is not TDMRep; one that does
    not declare it at all is read anyway). PDF: an XMP packet declaring the
    TDMRep namespace (hash or slash form), as ``tdm:reservation`` elements or
    attributes, stored as plain text anywhere in the file or in a
    Flate-compressed metadata stream. A body that is both gives the most
    restrictive value. Other bodies give ``None``.

    The documents are read by :mod:`scrapy_optout.protocols.docmeta`, cheaply
    and within bounds. Never raises.
    """
    values = [
        value
        for declared in docmeta.read_declarations(body, content_type, kinds=kinds)
        if (value := _declared(declared, source)) is not None
    ]
    for wanted in (1, 0):
        for value in values:
            if value.reservation == wanted:
                return value
    return values[0] if values else None


def resolve(*values: TdmValue | None) -> TdmValue | None:
    """Combine values in processing order: file, header, HTML meta, EPUB/PDF.

    A later value overrides an earlier one only if it supplies a valid
    ``tdm-reservation``; absence (``None``) or an invalid value never resets
    what was found before. ``tdm-policy`` is carried forward the same way,
    separately. The result quotes the evidence of the deciding value.
    """
    present = [value for value in values if value is not None]
    if not present:
        return None
    deciding = present[-1]
    for value in present:
        if value.reservation is not None:
            deciding = value
    policy = deciding.policy
    for value in present:
        if value.policy is not None:
            policy = value.policy
    return replace(deciding, policy=policy)


def findings(
    value: TdmValue | None,
    *,
    file_error: str | None = None,
    source_file: str | None = None,
) -> list[Finding]:
    """Turn a (resolved) TDMRep value into findings.

    Reservation ``1`` reserves and ``0`` allows :data:`PURPOSES`; a value
    without a valid reservation gives an ``unknown`` finding that says so; no
    value gives nothing. *file_error* (a :attr:`TdmrepFile.error`, or the
    caller's account of a failed fetch) adds one ``unknown`` finding saying
    why the tdmrep.json at *source_file* was not, or not fully, usable.
    """
    result: list[Finding] = []
    if file_error is not None:
        result.append(
            Finding(
                Signal.TDMREP,
                Where.FILE,
                Stance.UNKNOWN,
                PURPOSES,
                rule="",
                source=source_file or "",
                detail=f"tdmrep.json: {file_error}",
            )
        )
    if value is None:
        return result
    if value.reservation == 1:
        stance = Stance.RESERVE
        detail = "TDM rights reserved (tdm-reservation 1)"
        if value.policy:
            detail += f"; licensing policy: {value.policy}"
        if value.matched_as is not None:
            detail += f"; matched as {value.matched_as[0]} after {value.matched_as[1]}"
    elif value.reservation == 0:
        stance = Stance.ALLOW
        detail = "TDM rights not reserved (tdm-reservation 0)"
    else:
        stance = Stance.UNKNOWN
        detail = "no valid tdm-reservation value (only 0 or 1 count), so it is unset"
    if value.note:
        detail += f" [{value.note}]"
    result.append(
        Finding(Signal.TDMREP, value.where, stance, PURPOSES, value.rule, value.source, detail)
    )
    return result


# -- tdmrep.json -----------------------------------------------------------------------------------


def _decode_json_text(
    body: bytes, content_type: str | None, cut: bool = False
) -> tuple[str | None, str, list[str]]:
    """Return the body as text, or ``None`` and the reason it is not JSON text.

    The third item holds the decoding notes of
    :func:`~scrapy_optout.protocols.text.decode_policy_text` (UTF-16 or UTF-32
    with or without a byte order mark, NUL padding, raw octets). With *cut*,
    *body* is the start of a longer file: a character split by the cut is
    dropped rather than kept as raw octets.
    """
    labelled = f" (Content-Type: {content_type})" if content_type else ""
    if len(body) > MAX_FILE_BYTES:
        return None, f"file is larger than {MAX_FILE_BYTES >> 20} MiB", []
    text, notes, _ = decode_policy_text(body)
    if cut:
        text = _CUT_CHARACTER.sub("", text)
    stripped = text.lstrip()
    if not stripped:
        return None, "body is empty", notes
    if looks_binary(text):
        return None, f"body is binary{labelled}", notes
    if stripped.startswith("<"):
        kind = "XML" if stripped[:5].lower() == "<?xml" else "HTML"
        return None, f"body is {kind}{labelled}", notes
    return text, "", notes


def _skip_space(text: str, pos: int) -> int:
    match = _JSON_SPACE.match(text, pos)
    return match.end() if match else pos


def _describe_non_array(document: Any) -> str:
    """Explain, for the common real-world mistakes, why a JSON value is not a rule list."""
    if not isinstance(document, dict):
        kind = {str: "a string", bool: "a boolean", int: "a number", float: "a number"}
        name = "null" if document is None else kind.get(type(document), "a scalar")
        return f"JSON is {name}, not an array of rules"
    message = "JSON is an object, not an array of rules"
    if "@context" in document:
        return f"{message} (a JSON-LD document; TDMRep files are plain arrays)"
    if "tdm-reservation" in document:
        hint = "a single rule must still be wrapped in [ ]"
        if "location" not in document:
            hint += ", and needs a location"
        return f"{message} ({hint})"
    if any("_" in key and key.replace("_", "-") == "tdm-reservation" for key in document):
        return f'{message} (and it spells "tdm-reservation" with an underscore)'
    keys = ", ".join(sorted(map(str, document))[:5])
    return f"{message} (keys: {keys})" if keys else message


def _read_rule(number: int, item: Any, problems: list[str]) -> TdmRule | None:
    """Validate one array item; record problems; return it if it can be used."""
    if not isinstance(item, dict):
        problems.append(f"rule {number} is not an object")
        return None
    location = item.get("location")
    if location is None:
        problems.append(f"rule {number} has no location")
        return None
    if not isinstance(location, str) or not location.strip():
        problems.append(f"rule {number} has an empty or non-string location")
        return None
    if not location.lstrip().startswith(("/", "*")):
        # A full URL or a bare word never matches a path; say so instead of
        # silently ignoring what is probably meant to be a reservation.
        problems.append(
            f"rule {number} has location {json.dumps(location)}, which does not start "
            'with "/" and can never match'
        )
        return None
    if "tdm-reservation" not in item:
        # Both members are mandatory; a rule without one is not a rule.
        problems.append(f"rule {number} has no tdm-reservation")
        return None
    reservation = _json_value(item["tdm-reservation"])
    if reservation is None:
        shown = json.dumps(item["tdm-reservation"])
        what = (
            "a string, not the number 0 or 1"
            if isinstance(item["tdm-reservation"], str)
            else "not 0 or 1"
        )
        problems.append(f"rule {number} has tdm-reservation {shown}, which is {what}")
    policy = item.get("tdm-policy")
    if policy is not None and not (isinstance(policy, str) and policy.strip()):
        problems.append(f"rule {number} has a tdm-policy that is not a URL string")
        policy = None
    text = printable(json.dumps(item, ensure_ascii=False))
    return TdmRule(
        location,
        compile_pattern(location),
        reservation,
        policy.strip() if isinstance(policy, str) else None,
        text,
    )


def _json_value(value: Any) -> int | None:
    """Return 0 or 1 for the JSON numbers 0 and 1, else ``None``."""
    # bool is a subclass of int in Python: true must not pass as 1.
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return int(value) if value in (0, 1) else None


def _summarise(problems: list[str]) -> str | None:
    if not problems:
        return None
    if len(problems) <= 3:
        return "; ".join(problems)
    return "; ".join(problems[:3]) + f"; and {len(problems) - 3} more problems"


# -- headers and HTML ------------------------------------------------------------------------------


def _field_values(headers: Mapping[str, Sequence[str]], name: str) -> list[str]:
    values: list[str] = []
    for key, value in headers.items():
        if key.lower() == name:
            values.extend([value] if isinstance(value, str) else value)
    return values


def _text_value(text: str) -> int | None:
    text = text.strip()
    return int(text) if text in ("0", "1") else None


def _most_restrictive(found: Sequence[tuple[str, str]]) -> tuple[int | None, str]:
    """Pick among several declarations: a valid 1, else a valid 0, else unset."""
    for wanted in (1, 0):
        for text, quote in found:
            if _text_value(text) == wanted:
                return wanted, quote
    return None, found[0][1]


# -- EPUB and PDF ----------------------------------------------------------------------------------


def _declared(declared: docmeta.Declarations, source: str) -> TdmValue | None:
    """What the properties an EPUB or a PDF declares say, as a value."""
    if declared.reservations:
        reservation, quote = _most_restrictive(declared.reservations)
        return TdmValue(reservation, declared.policy, quote, Where.META, source)
    if declared.policy is not None:
        return TdmValue(None, declared.policy, f"tdm:policy {declared.policy}", Where.META, source)
    return None
