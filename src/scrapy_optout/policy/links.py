"""Which RSL licences a response names, and how its body is read to find them.

The adapters fetch the licences a response's ``Link`` header and HTML head
name before :meth:`Evaluator.body_stage
<scrapy_optout.policy.evaluate.Evaluator.body_stage>` reads them; the
evaluator's body stage uses the same tests. Pure functions over bytes and
headers, as the rest of the policy layer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from scrapy_optout.policy.assessment import Assessment
from scrapy_optout.protocols import rsl, sniff
from scrapy_optout.protocols.sniff import BodyKind

__all__ = [
    "body_licence_links",
    "content_type_of",
    "header_licence_links",
    "mentions_rsl",
    "scan_encoding",
]


def content_type_of(headers: Mapping[str, Sequence[str]]) -> str | None:
    """The last ``Content-Type`` value of *headers* (lower-case names), or ``None``."""
    values = headers.get("content-type")
    return values[-1] if values else None


def header_licence_links(hdrs: Mapping[str, Sequence[str]], url: str) -> list[str]:
    """The RSL licence URLs a response's ``Link`` header names (lower-case header names)."""
    links = hdrs.get("link")
    return rsl.link_licenses(links, base=url) if links else []


def body_licence_links(prior: Assessment, body: bytes, *, encoding: str | None = None) -> list[str]:
    """The RSL licence URLs an HTML body links to (``<link rel="license">``).

    *prior* is the response's headers stage. Empty for a body that is not
    HTML; the adapter fetches these before :meth:`Evaluator.body_stage`.
    """
    if BodyKind.HTML not in sniff.body_kinds(content_type_of(prior.headers), prior.url, body):
        return []
    if not mentions_rsl(body):
        return []
    return rsl.html_licenses(body, base=prior.url, encoding=scan_encoding(body, encoding)).links


def mentions_rsl(body: bytes) -> bool:
    """Whether an HTML body may name an RSL licence (UTF-16 markup is always looked at).

    ``rsl+xml`` in any case before ``+xml`` or ``+XML``, in the head (the
    licences are read from there): plain searches, many times faster than
    one case-insensitive regular expression. The answer for the last body
    asked about is kept (the adapter asks before the body stage does).
    """
    global _LAST_RSL
    last = _LAST_RSL
    if last is not None and last[0] is body:
        return last[1]
    found = _search_rsl(body)
    _LAST_RSL = (body, found)
    return found


#: The last body :func:`mentions_rsl` was asked about, and its answer.
_LAST_RSL: tuple[bytes, bool] | None = None


def _search_rsl(body: bytes) -> bool:
    end = rsl.MAX_BYTES
    for opening in (b"<body", b"<BODY", b"<Body"):
        found = body.find(opening, 0, end)
        if found >= 0:
            end = found
    for ending in (b"+xml", b"+XML"):
        at = body.find(ending, 3, end)
        while at >= 0:
            if body[at - 3 : at].lower() == b"rsl":
                return True
            at = body.find(ending, at + 4, end)
    # find, not "in": CPython 3.11 first tries a bytes operand of "in" as an integer.
    return body.find(b"\x00", 0, 1024) >= 0


def scan_encoding(body: bytes, declared: str | None) -> str | None:
    """The encoding to read *body* with when looking for ``<meta>`` elements.

    A UTF-16 label on a body whose first bytes hold no NUL is a lie (ASCII
    markup in UTF-16 is every other byte NUL); trusting it would turn the
    markup into noise and hide the page's meta elements, so the document's own
    declaration (or UTF-8) is used instead. A byte-order mark still wins.
    Conversely, ASCII markup with every other byte NUL is UTF-16 whatever the
    label says (the sniffer reads such a body as HTML).
    """
    start4 = body[:4]
    if len(start4) == 4 and not start4.startswith((b"\xff\xfe", b"\xfe\xff")):
        if start4[0] and start4[2] and not start4[1] and not start4[3]:
            return "utf-16-le"
        if start4[1] and start4[3] and not start4[0] and not start4[2]:
            return "utf-16-be"
    if declared and declared.lower().replace("_", "-").startswith(("utf-16", "utf16")):
        start = body[:1024]
        if not start.startswith((b"\xff\xfe", b"\xfe\xff")) and start.find(b"\x00") < 0:
            return None
    return declared
