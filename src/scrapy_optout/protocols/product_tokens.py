"""Product tokens: the names by which robots.txt-style files address crawlers.

RFC 9309 §2.2.1 names a crawler in a ``user-agent`` line by its *product
token*: letters, ``_`` and ``-`` only. These helpers read such names the way
Google's parser does, and are shared by every reader that groups rules by
agent: :mod:`scrapy_optout.protocols.robots`, :mod:`scrapy_optout.protocols.aitxt`
and the agent catalogue :mod:`scrapy_optout.protocols.agents`.

* :func:`product_token` finds the token a crawler obeys in its whole
  User-Agent string (``MyBot/1.0 (+https://...)`` gives ``MyBot``).
* :func:`normalise_agent` reads the token a ``user-agent`` line names (cut at
  the first character a token cannot hold, lower-cased; ``*`` for the global
  group); :func:`valid_product_token` tells whether a name is a token at all.
* :func:`listed_agents` reads every agent a line names against the
  one-token rule (``GPTBot, CCBot``), and :func:`listed_note` is what findings
  say of them.
* :func:`name_key` is how a name that is not a valid token (``img2dataset``,
  ``Kangaroo Bot``) is compared: spelled in full, case and spacing folded.
"""

from __future__ import annotations

import re

from scrapy_optout.protocols.text import printable

__all__ = [
    "listed_agents",
    "listed_note",
    "name_key",
    "normalise_agent",
    "product_token",
    "single_name",
    "valid_product_token",
]

_TOKEN = re.compile(r"[A-Za-z_-]+")
_COMPATIBLE = re.compile(r"[(;]\s*compatible\s*;\s*([A-Za-z_-]+)")
# A product token, maybe with a version: a name that stands alone in a list.
_NAMED = re.compile(r"[A-Za-z_-]+(?:/\S*)?")
_LIST_SEPARATOR = re.compile(r"[,;|]")
_COMMENT = re.compile(r"\([^)]*\)?")


def product_token(user_agent: str) -> str:
    """Return the product token a crawler with this User-Agent string obeys.

    That is the leading run of letters, ``_`` and ``-``:
    ``"MyBot/1.0 (+https://example.com/bot)"`` gives ``"MyBot"``, Scrapy's
    default ``"Scrapy/2.19 (+https://scrapy.org)"`` gives ``"Scrapy"``, and a
    browser-like string names its crawler in the ``compatible;`` comment, as
    in ``"Mozilla/5.0 (compatible; ExampleBot/2.1; +https://...)"``, which
    gives ``"ExampleBot"`` (without such a comment it gives ``"Mozilla"``).
    When the string does not start with a product token (empty, or starting
    with a digit), the result is ``"*"``: a crawler without a token can only
    be bound by the global group.
    """
    text = user_agent.strip()
    match = _TOKEN.match(text)
    if match is None:
        return "*"
    if match.group().lower() == "mozilla":
        compatible = _COMPATIBLE.search(text)
        if compatible is not None:
            return compatible.group(1)
    return match.group()


def valid_product_token(token: str) -> bool:
    """Tell whether *token* is a product token RFC 9309 allows (§2.2.1).

    Only letters, ``_`` and ``-``; no digits, dots, slashes or spaces.
    """
    return _TOKEN.fullmatch(token) is not None


def normalise_agent(value: str) -> str | None:
    """Return the token a ``user-agent`` value names, as groups are keyed.

    ``"*"`` (alone or followed by a space and more text) is the global group;
    otherwise the value is cut at the first character that cannot occur in a
    product token and lower-cased, so ``"ExampleBot/2.0"`` gives
    ``"examplebot"`` and ``"Kangaroo Bot"`` gives ``"kangaroo"``. ``None``
    when nothing is left (``"2bot"``, ``""``).
    """
    value = value.strip()
    if value.startswith("*") and (len(value) == 1 or value[1] in " \t"):
        return "*"
    match = _TOKEN.match(value)
    return match.group().lower() if match else None


def name_key(value: str) -> str:
    """How a ``user-agent`` value or agent name is compared when spelled in full.

    Lower-cased, runs of white space made one space: ``"Kangaroo  Bot"``
    gives ``"kangaroo bot"``.
    """
    return " ".join(value.lower().split())


def single_name(value: str) -> bool:
    """Tell whether *value* is one product token, maybe with a version (``GPTBot/1.2``)."""
    return _NAMED.fullmatch(value) is not None


def listed_agents(value: str) -> tuple[str, ...]:
    """Return every agent a ``user-agent`` value names, read leniently.

    RFC 9309 allows one product token per line; :func:`normalise_agent`
    reads that one. A value that names several agents against that rule
    names them all here: the items of a list split at ``,``, ``;`` or ``|``
    (``"GPTBot, CCBot"``, ``"GPTBot;CCBot"``), the words of an item made of
    several (``"GPTBot CCBot"``; ``"Kangaroo Bot"`` gives the item and both
    words), and the crawler of a ``(compatible; Name)`` comment. The rest of
    a parenthesised comment names nothing. ``*`` is returned when a list
    holds it. A plain token (``"GPTBot"``, ``"GPTBot/1.2"``) gives ``()``.
    """
    value = value.strip()
    if _NAMED.fullmatch(value) is not None or value == "*":
        return ()
    names: list[str] = []
    compatible = _COMPATIBLE.search(value)
    if compatible is not None:
        names.append(compatible.group(1))
    for part in _LIST_SEPARATOR.split(_COMMENT.sub(" ", value)):
        item = " ".join(part.split())
        if not item:
            continue
        names.append(item)
        words = item.split()
        if len(words) > 1:
            names.extend(word for word in words if _NAMED.fullmatch(word) or word == "*")
    return tuple(dict.fromkeys(names))


def listed_note(line: int, value: str) -> str:
    """What a finding says of an agent read from a line that names several."""
    return (
        f'the user-agent line {line} ("{printable(value)}") was read as naming several '
        "agents, though RFC 9309 allows one product token per line: erring toward the "
        "reservation"
    )
