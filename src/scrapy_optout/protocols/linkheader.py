"""The HTTP ``Link`` field (RFC 8288 §3): links and their parameters.

Pure and lenient: a link that cannot be read is skipped up to the next comma
outside quotes and angle brackets, never raised on. RSL discovery
(:func:`scrapy_optout.protocols.rsl.link_licenses`) reads licences from it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from typing import NamedTuple

__all__ = ["LinkValue", "parse_link_header"]


class LinkValue(NamedTuple):
    """One link of a ``Link`` field: its target as written and its parameters.

    Parameter names are lower-cased; the first occurrence of a name counts
    (RFC 8288 §3.3 for ``rel``).
    """

    target: str
    params: Mapping[str, str]

    @property
    def rels(self) -> tuple[str, ...]:
        """The relation types, lower-cased (``rel`` holds a space-separated list)."""
        return tuple(r.lower() for r in self.params.get("rel", "").split())


_TOKEN_END = re.compile(r"[\s;,=\"<>]")
_VALUE_END = re.compile(r"[\s;,]")


def parse_link_header(values: Sequence[str]) -> list[LinkValue]:
    """Parse ``Link`` field values (RFC 8288 §3) into links, in order.

    Each value may hold several comma-separated links; parameters are
    tokens or quoted strings (with ``\\`` escapes), in any case. A link that
    cannot be read is skipped up to the next comma outside quotes and angle
    brackets. Never raises on content.
    """
    links: list[LinkValue] = []
    for value in values:
        links.extend(_links(value))
    return links


def _links(text: str) -> Iterator[LinkValue]:
    pos, size = 0, len(text)
    while pos < size:
        while pos < size and text[pos] in " \t,":
            pos += 1
        if pos >= size:
            return
        if text[pos] != "<":
            pos = _resync(text, pos)
            continue
        close = text.find(">", pos + 1)
        if close < 0:
            return
        target = text[pos + 1 : close].strip()
        params: dict[str, str] = {}
        pos = close + 1
        while True:
            while pos < size and text[pos] in " \t":
                pos += 1
            if pos >= size or text[pos] != ";":
                break
            pos += 1
            while pos < size and text[pos] in " \t":
                pos += 1
            end = _TOKEN_END.search(text, pos)
            stop = end.start() if end else size
            name = text[pos:stop].lower()
            pos = stop
            while pos < size and text[pos] in " \t":
                pos += 1
            value = ""
            if pos < size and text[pos] == "=":
                pos += 1
                while pos < size and text[pos] in " \t":
                    pos += 1
                value, pos = _param_value(text, pos)
            if name:
                params.setdefault(name, value)
        if pos < size and text[pos] != ",":
            pos = _resync(text, pos)  # junk after the link: drop it
            continue
        yield LinkValue(target, params)


def _param_value(text: str, pos: int) -> tuple[str, int]:
    size = len(text)
    if pos < size and text[pos] == '"':
        out: list[str] = []
        pos += 1
        while pos < size and text[pos] != '"':
            if text[pos] == "\\" and pos + 1 < size:
                pos += 1
            out.append(text[pos])
            pos += 1
        return "".join(out), min(pos + 1, size)
    end = _VALUE_END.search(text, pos)
    stop = end.start() if end else size
    return text[pos:stop], stop


def _resync(text: str, pos: int) -> int:
    """Position after the next comma outside quotes and angle brackets."""
    quoted = angled = False
    while pos < len(text):
        char = text[pos]
        if quoted:
            if char == "\\":
                pos += 1
            elif char == '"':
                quoted = False
        elif char == '"':
            quoted = True
        elif char == "<":
            angled = True
        elif char == ">":
            angled = False
        elif char == "," and not angled:
            return pos + 1
        pos += 1
    return pos
