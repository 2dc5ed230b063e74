"""IETF aipref: the ``Content-Usage`` preference vocabulary and HTTP header.

draft-ietf-aipref-vocab-07 defines two categories, ``train-ai`` (AI model
training) and ``search``, each either allowed (Token ``y``) or disallowed
(Token ``n``). draft-ietf-aipref-attach-05 carries a statement in a
``Content-Usage`` response header and in a robots.txt ``Content-Usage`` rule;
this module reads the header and gives the robots.txt reader the shared
parser. The rules are strict, and followed to the letter here:

* the value is an RFC 9651 Dictionary, parsed with :mod:`http_sfv`. If the
  dictionary does not parse (an upper-case key, a trailing comma, spaces
  around ``=``), *every* preference is unknown;
* only the Tokens ``y`` and ``n`` mean something; any other value (``yes``,
  ``"n"``, ``?0``, a bare key) leaves that category unknown; parameters are
  ignored;
* a key given twice keeps its last value, and several header field lines are
  one field, joined in order, so a later line overrides an earlier one;
* labels from earlier drafts (``ai``, ``train-genai``, ``bots``...) are not in
  the vocabulary and are ignored. -07 also dropped the category hierarchy, so
  no label implies another.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from scrapy_optout.verdict import Finding, Purpose, Signal, Stance, Where, clip

__all__ = [
    "MAX_VALUE_LENGTH",
    "UNKNOWN_PURPOSES",
    "VOCABULARY",
    "findings_for_preferences",
    "findings_for_value",
    "header_findings",
    "parse_content_usage",
]

#: The categories of draft-ietf-aipref-vocab-07 and the purpose each governs.
VOCABULARY: Mapping[str, Purpose] = {"train-ai": Purpose.TRAIN, "search": Purpose.SEARCH}

#: The purposes a statement that cannot be read leaves unknown.
UNKNOWN_PURPOSES = frozenset(VOCABULARY.values())

# RFC 9651 sets no upper bound, and a preference statement is a few dozen
# bytes. The parser slices its input at every member, so a huge value costs
# time quadratic in its length; past this length a value is not read.
MAX_VALUE_LENGTH = 64 * 1024

_MEANINGS = {"y": Stance.ALLOW, "n": Stance.RESERVE}
_WORDS = {Stance.ALLOW: "allowed", Stance.RESERVE: "disallowed"}


def parse_content_usage(value: str) -> dict[str, str] | None:
    """Parse a preference statement into ``{label: "y" | "n"}``.

    Members whose value is not the Token ``y`` or ``n`` are left out, as they
    mean "unknown". Labels outside :data:`VOCABULARY` are kept, so a caller
    can report them, but carry no meaning. Returns ``None`` when *value* is
    not an RFC 9651 Dictionary: then every preference is unknown. An empty
    value is an empty dictionary, ``{}``.
    """
    return _parse(value)[0]


def header_findings(values: Sequence[str], *, source: str) -> list[Finding]:
    """Findings of the ``Content-Usage`` header field lines *values*.

    The lines are joined with ``", "`` in order and parsed as one field;
    empty lines are skipped. *source* is the URL of the response.
    """
    if not values:
        return []
    lines = [line.strip(" \t") for line in values]
    joined = ", ".join(line for line in lines if line)
    rule = f"Content-Usage: {joined}"
    return findings_for_value(joined, where=Where.HEADER, rule=rule, source=source)


def findings_for_value(value: str, *, where: Where, rule: str, source: str) -> list[Finding]:
    """Parse *value* and report it, saying why when it cannot be read.

    The same as ``findings_for_preferences(parse_content_usage(value), ...)``
    with a more precise ``detail`` on a parse failure.
    """
    prefs, why = _parse(value)
    return _findings(prefs, why, where=where, rule=rule, source=source)


def findings_for_preferences(
    prefs: Mapping[str, str] | None, *, where: Where, rule: str, source: str
) -> list[Finding]:
    """Findings of a parsed statement (see :func:`parse_content_usage`).

    One finding for the disallowed categories, one for the allowed ones, both
    quoting *rule*. A statement that is ``None``, or names no category of the
    vocabulary, yields a single ``unknown`` finding that says why.
    """
    why = "not a valid RFC 9651 dictionary" if prefs is None else ""
    return _findings(prefs, why, where=where, rule=rule, source=source)


def _findings(
    prefs: Mapping[str, str] | None, why: str, *, where: Where, rule: str, source: str
) -> list[Finding]:
    quoted = clip(rule)

    def finding(stance: Stance, purposes: frozenset[Purpose], detail: str) -> Finding:
        return Finding(
            signal=Signal.CONTENT_USAGE,
            where=where,
            stance=stance,
            purposes=purposes,
            rule=quoted,
            source=source,
            detail=detail,
        )

    if prefs is None:
        return [finding(Stance.UNKNOWN, UNKNOWN_PURPOSES, f"{why}: every preference is unknown")]
    findings = []
    for stance in (Stance.RESERVE, Stance.ALLOW):
        labels = [
            label
            for label, purpose in VOCABULARY.items()
            if _MEANINGS.get(prefs.get(label, "")) is stance
        ]
        if labels:
            purposes = frozenset(VOCABULARY[label] for label in labels)
            detail = ", ".join(f"{label}={prefs[label]}" for label in labels)
            findings.append(finding(stance, purposes, f"{detail}: {_WORDS[stance]}"))
    if not findings:
        ignored = sorted(label for label in prefs if label not in VOCABULARY)
        detail = "no train-ai or search preference"
        if ignored:
            detail += "; labels outside the vocabulary ignored: " + ", ".join(ignored)
        findings.append(finding(Stance.UNKNOWN, UNKNOWN_PURPOSES, detail))
    return findings


def _parse(value: str) -> tuple[dict[str, str] | None, str]:
    """Parse *value*; on failure return ``None`` and the reason in words."""
    if not value.isascii():
        # No RFC 9651 construct admits a byte outside ASCII.
        return None, "not a valid RFC 9651 dictionary (non-ASCII characters)"
    if len(value) > MAX_VALUE_LENGTH:
        return None, f"value longer than {MAX_VALUE_LENGTH} characters, not read"
    data = value.encode("ascii").strip(b" \t")
    if not data:
        # RFC 9651 parses an empty field value as an empty dictionary; the
        # parser library raises instead.
        return {}, ""
    # The structured-field parser is loaded with the first value: a crawl that
    # meets none keeps its modules out of the heap the garbage collector walks.
    from http_sfv.dictionary import Dictionary
    from http_sfv.item import Item
    from http_sfv.types import Token

    parsed = Dictionary()
    try:
        parsed.parse(data)
    except ValueError as exc:
        cause = str(exc.__cause__ or exc)
        reason = f" ({cause})" if cause else ""
        return None, f"not a valid RFC 9651 dictionary{reason}"
    prefs = {}
    for label, member in parsed.items():
        # Items only: an inner list is not a Token. Parameters are ignored.
        if isinstance(member, Item) and isinstance(member.value, Token):
            token = str(member.value)
            if token in _MEANINGS:
                prefs[label] = token
    return prefs, ""
