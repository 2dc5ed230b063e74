"""Licence and payment answers: ``401`` with ``WWW-Authenticate: License``, and ``402``.

Two ways a server says "not without a licence" in the status line itself
(``new-signals-2026.md`` §1 and §2):

* **RSL crawler authorisation.** A licensed crawler sends ``Authorization:
  License <token>``; without one the server answers ``401 Unauthorized`` with
  a ``License`` challenge in ``WWW-Authenticate``. The challenge list follows
  RFC 9110 §11.6.1: several challenges in one field value or over several
  field lines, each a scheme (compared case-insensitively) followed by a
  ``token68`` or by ``name=value`` parameters (values tokens or quoted
  strings). A ``401`` with only ``Basic`` or ``Bearer`` challenges is an
  ordinary login and no licence signal.
* **Pay per crawl.** ``402 Payment Required``, usually with ``crawler-price:
  USD 0.01``. This project never pays and never retries a ``402`` as an error.

Either way the body that came back is not the content: the content is not
available without a licence or a payment, for any purpose the crawl pursues.
Both answers therefore reserve **every** purpose, ``crawl`` included (the
answer is not passed on as if it were the page), with the status and the
relevant headers quoted in the finding (``where`` = ``header``).

robots.txt is different: RFC 9309 §2.3.1.3 reads any 4xx answer to
``/robots.txt`` (429 aside) as "unavailable", so everything is allowed.
:func:`robots_answer_detail` words that case for the robots.txt evaluator,
so that a 401/402/403 on robots.txt is recorded rather than passing silently.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import NamedTuple

from scrapy_optout.protocols.text import printable
from scrapy_optout.verdict import ALL_PURPOSES, Finding, Signal, Stance, Where, clip

__all__ = [
    "PRICE_HEADERS",
    "Challenge",
    "licence_findings",
    "parse_challenges",
    "robots_answer_detail",
]

#: Headers of a pay-per-crawl answer that are quoted as evidence.
PRICE_HEADERS = ("crawler-price", "crawler-charged")

_REASONS = {401: "Unauthorized", 402: "Payment Required", 403: "Forbidden"}
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_TOKEN68 = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
_OWS = re.compile(r"[ \t]*")


class Challenge(NamedTuple):
    """One authentication challenge: scheme (lower-cased), parameters, token68."""

    scheme: str
    params: Mapping[str, str]
    token68: str = ""
    text: str = ""  #: the challenge as written


def parse_challenges(values: Sequence[str]) -> list[Challenge]:
    """Parse ``WWW-Authenticate`` field values into challenges, in order.

    Commas separate both challenges and the parameters of one challenge: an
    item of the form ``name=value`` continues the current challenge, any
    other item starts a new one. Parameter names are lower-cased; quoted
    values are unescaped. Never raises on content: what cannot be read is
    skipped up to the next comma.
    """
    found: list[Challenge] = []
    for value in values:
        found.extend(_challenges(value))
    return found


def _skip(text: str, pos: int) -> int:
    match = _OWS.match(text, pos)
    return match.end() if match else pos


def _challenges(text: str) -> list[Challenge]:
    found: list[Challenge] = []
    pos, size = 0, len(text)
    scheme = ""
    start = 0
    params: dict[str, str] = {}
    token68 = ""

    def close(end: int) -> None:
        if scheme:
            found.append(Challenge(scheme, dict(params), token68, text[start:end].strip(" \t,")))

    while pos < size:
        pos = _skip(text, pos)
        if pos < size and text[pos] == ",":
            pos += 1
            continue
        if pos >= size:
            break
        param = _param(text, pos) if scheme and not token68 else None
        if param is not None:
            name, value, pos = param
            params.setdefault(name, value)
            continue
        token = _TOKEN.match(text, pos)
        if token is None:
            pos = _next_comma(text, pos)
            continue
        close(pos)
        scheme, start, params, token68 = token.group().lower(), pos, {}, ""
        pos = token.end()
        after = _skip(text, pos)
        if after > pos and after < size and text[after] != ",":
            # A token68 after the scheme, unless parameters follow.
            if _param(text, after) is None:
                blob = _TOKEN68.match(text, after)
                if blob is not None and _ends_item(text, blob.end()):
                    token68 = blob.group()
                    pos = blob.end()
                    continue
            pos = after
    close(size)
    return found


def _ends_item(text: str, pos: int) -> bool:
    """Whether only white space stands between *pos* and a comma or the end."""
    pos = _skip(text, pos)
    return pos >= len(text) or text[pos] == ","


def _param(text: str, pos: int) -> tuple[str, str, int] | None:
    """``name = value`` at *pos*, ending at a comma or the end, or ``None``."""
    name = _TOKEN.match(text, pos)
    if name is None:
        return None
    pos = _skip(text, name.end())
    if pos >= len(text) or text[pos] != "=":
        return None
    pos = _skip(text, pos + 1)
    if pos < len(text) and text[pos] == '"':
        out: list[str] = []
        pos += 1
        while pos < len(text) and text[pos] != '"':
            if text[pos] == "\\" and pos + 1 < len(text):
                pos += 1
            out.append(text[pos])
            pos += 1
        if pos >= len(text):
            return None  # an unclosed quote
        value, pos = "".join(out), pos + 1
    else:
        token = _TOKEN.match(text, pos)
        if token is None:
            return None
        value, pos = token.group(), token.end()
    if not _ends_item(text, pos):
        return None
    return name.group().lower(), value, _skip(text, pos)


def _next_comma(text: str, pos: int) -> int:
    comma = text.find(",", pos)
    return len(text) if comma < 0 else comma + 1


def _values(headers: Mapping[str, Sequence[str]], name: str) -> list[str]:
    values: list[str] = []
    for key, found in headers.items():
        if key.lower() == name:
            values.extend(found)
    return values


def _price(headers: Mapping[str, Sequence[str]]) -> list[str]:
    quoted = []
    for name in PRICE_HEADERS:
        for value in _values(headers, name):
            quoted.append(f"{name}: {printable(value.strip())}")
    return quoted


def licence_findings(
    status: int, headers: Mapping[str, Sequence[str]], *, source: str
) -> list[Finding]:
    """Findings of a response's status and headers: a licence or payment answer.

    *headers* maps field names (any case) to their field lines. A ``401``
    with a ``License`` challenge and any ``402`` reserve every purpose; the
    rule quotes the status line and the challenge or price, the detail says
    what it means. Any other answer gives no finding.
    """
    if not isinstance(status, int):
        raise TypeError(f"status must be int, not {type(status).__name__}")
    if status == 401:
        challenges = [
            c
            for c in parse_challenges(_values(headers, "www-authenticate"))
            if c.scheme == "license"
        ]
        if not challenges:
            return []
        evidence = [f"WWW-Authenticate: {printable(c.text)}" for c in challenges]
        detail = (
            "the server requires an RSL licence (Authorization: License): the content is not "
            "available without one, reserved for every purpose"
        )
    elif status == 402:
        evidence = _price(headers)
        detail = (
            "the server asks for payment (pay per crawl): the content is not available without "
            "paying, which this crawler never does; reserved for every purpose"
        )
    else:
        return []
    rule = "; ".join([f"HTTP {status} {_REASONS[status]}", *evidence])
    return [
        Finding(
            signal=Signal.LICENCE,
            where=Where.HEADER,
            stance=Stance.RESERVE,
            purposes=ALL_PURPOSES,
            rule=clip(rule),
            source=source,
            detail=detail,
        )
    ]


def robots_answer_detail(status: int, headers: Mapping[str, Sequence[str]]) -> str | None:
    """The words for a robots.txt answered 401, 402 or 403, else ``None``.

    For example ``robots.txt answered 402 Payment Required (crawler-price:
    USD 0.01): RFC 9309 treats it as unavailable, everything allowed``.
    """
    if status not in _REASONS:
        return None
    evidence: list[str] = []
    if status == 401:
        challenges = parse_challenges(_values(headers, "www-authenticate"))
        evidence = [f"WWW-Authenticate: {printable(c.text)}" for c in challenges[:2]]
    elif status == 402:
        evidence = _price(headers)
    said = f" ({'; '.join(evidence)})" if evidence else ""
    return clip(
        f"robots.txt answered {status} {_REASONS[status]}{said}: RFC 9309 treats it as "
        "unavailable, everything allowed"
    )
