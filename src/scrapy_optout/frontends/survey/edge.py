"""What the edge answered: one class per HTTP answer, for surveys.

Since 2026 the answer a crawler gets is itself a signal: content delivery
networks block AI crawlers at the edge (403, challenge pages), RSL servers
ask for a licence (``401`` with ``WWW-Authenticate: License``, RSL 1.0 §
"Crawler authorisation") and pay-per-crawl servers quote a price (``402``
with ``crawler-price``). A survey that reads only robots.txt undercounts
blocking; the survey therefore records, per site, what the surveying crawler
was answered for the home page and for each policy file, as a status and one
class (see ``docs/survey.md``):

================ ===================================================================
``ok``           2xx, and no challenge signature in the headers
``redirect``     3xx: a redirect that was not followed to an answer
``licence``      401 with a ``WWW-Authenticate`` challenge of the ``License`` scheme
``payment``      402 (the ``crawler-price`` quoted, when present)
``forbidden``    any other 401 or 403, and the 4xx answers that refuse a request
                 (400, 405, 406, 451...), 404 and 410 excepted
``not-found``    404 or 410
``challenge``    a challenge page: a mitigation header (``cf-mitigated: challenge``,
                 ``x-vercel-mitigated``, ``x-amzn-waf-action``) on any answer, or a
                 known challenge page in the body of an answer that is not a success
``rate-limited`` 429
``error``        5xx, and any status outside 200-599
``unreachable``  no answer at all (DNS, connection, TLS, timeout)
================ ===================================================================

A challenge is recognised before the status is read: challenge pages come as
403, 429, 503 or 202. Body signatures are read only in answers that are not a
plain success (2xx other than 202), so a page that merely embeds a CAPTCHA
widget is ``ok``. Everything here is pure: status, headers and the first bytes
of the body in, a class out.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["EDGE_CLASSES", "HEAD_BYTES", "edge_answer", "edge_class"]

#: Every class, in the order reports list them.
EDGE_CLASSES: tuple[str, ...] = (
    "ok",
    "redirect",
    "licence",
    "payment",
    "forbidden",
    "not-found",
    "challenge",
    "rate-limited",
    "error",
    "unreachable",
)

#: Bytes of a body searched for challenge signatures.
HEAD_BYTES = 16 * 1024

# Header fields whose value names a mitigation the edge applied.
_MITIGATION_HEADERS: dict[str, frozenset[str]] = {
    "cf-mitigated": frozenset({"challenge"}),
    "x-vercel-mitigated": frozenset({"challenge", "deny"}),
    "x-amzn-waf-action": frozenset({"challenge", "captcha"}),
}
# Page signatures of the common challenge services (lower-case).
_BODY_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"/cdn-cgi/challenge-platform/", "Cloudflare challenge platform"),
    (b"challenges.cloudflare.com", "Cloudflare Turnstile"),
    (b"<title>just a moment...</title>", "Cloudflare interstitial"),
    (b"captcha-delivery.com", "DataDome"),
    (b"_incapsula_resource", "Imperva Incapsula"),
    (b"px-captcha", "HUMAN (PerimeterX)"),
    (b"awswaf", "AWS WAF"),
    (b"sucuri_cloudproxy_js", "Sucuri"),
    (b"vercel security checkpoint", "Vercel"),
)
_LICENSE_SCHEME = re.compile(r"(?:^|,)\s*license(?:\s|,|$)", re.IGNORECASE)


def _values(headers: Mapping[str, Sequence[str] | str], name: str) -> list[str]:
    found: list[str] = []
    for key, values in headers.items():
        if key.lower() == name:
            found.extend([values] if isinstance(values, str) else values)
    return found


def _challenge(
    status: int, headers: Mapping[str, Sequence[str] | str], body_head: bytes
) -> str | None:
    """The signature of a challenge in this answer, or ``None``."""
    for name, wanted in _MITIGATION_HEADERS.items():
        for value in _values(headers, name):
            if value.strip().lower() in wanted:
                return f"{name}: {value.strip()}"
    if 200 <= status < 300 and status != 202:
        return None
    head = body_head[:HEAD_BYTES].lower()
    for signature, service in _BODY_SIGNATURES:
        if signature in head:
            return f"{service} page"
    return None


def edge_class(
    status: int | None,
    headers: Mapping[str, Sequence[str] | str] | None = None,
    body_head: bytes = b"",
) -> str:
    """The class of one HTTP answer (see the module's table).

    *status* is ``None`` when no answer came. *headers* maps field names (any
    case) to their values; *body_head* is the start of the body (only the
    first :data:`HEAD_BYTES` are read).
    """
    return _classify(status, headers or {}, body_head)[0]


def _classify(
    status: int | None, headers: Mapping[str, Sequence[str] | str], body_head: bytes
) -> tuple[str, str | None]:
    if status is not None and (not isinstance(status, int) or isinstance(status, bool)):
        raise TypeError(f"status must be an int or None, not {type(status).__name__}")
    if not isinstance(body_head, bytes | bytearray | memoryview):
        raise TypeError(f"body_head must be bytes, not {type(body_head).__name__}")
    if status is None:
        return "unreachable", None
    signature = _challenge(status, headers, bytes(body_head))
    if signature is not None:
        return "challenge", signature
    if 200 <= status < 300:
        return "ok", None
    if 300 <= status < 400:
        return "redirect", None
    if status == 401 and any(
        _LICENSE_SCHEME.search(v) for v in _values(headers, "www-authenticate")
    ):
        return "licence", None
    if status == 402:
        return "payment", None
    if status == 429:
        return "rate-limited", None
    if status in (404, 410):
        return "not-found", None
    if 400 <= status < 500:
        return "forbidden", None
    return "error", None


def edge_answer(
    status: int | None,
    headers: Mapping[str, Sequence[str] | str] | None = None,
    body_head: bytes = b"",
) -> dict[str, Any]:
    """The record's entry for one answer: ``{"status", "class"}``.

    ``price`` is added for a ``payment`` answer that quotes a
    ``crawler-price``, ``detail`` for a ``challenge`` (the signature seen).
    """
    headers = headers or {}
    klass, signature = _classify(status, headers, body_head)
    entry: dict[str, Any] = {"status": status, "class": klass}
    if klass == "payment":
        price = _values(headers, "crawler-price")
        if price:
            entry["price"] = price[0].strip()
    elif signature is not None:
        entry["detail"] = signature
    return entry
