"""Robots-style path patterns, shared by TDMRep locations and ai.txt rules.

The pattern language is the one of RFC 9309 §2.2.3, which TDMRep borrows for
the ``location`` of its ``tdmrep.json`` rules:

* a pattern matches a path when the path *starts with* it (prefix match),
  comparing octet by octet and case-sensitively;
* ``*`` stands for any run of characters, ``/`` included;
* ``$`` as the **last** character anchors the pattern at the end of the path;
  anywhere else it is an ordinary character;
* a literal ``*`` or ``$`` is written ``%2A`` or ``%24``.

Before comparing, pattern and path are brought to one spelling
(RFC 9309 §2.2.2): ``%XX`` escapes of unreserved characters (letters, digits,
``-._~``) are decoded, every other escape is kept with upper-case hex digits,
and non-ASCII characters are written as their UTF-8 octets in ``%XX`` form.
``%2F`` therefore never matches ``/``, while ``/café`` and ``/caf%C3%A9``
are the same path. ``*`` and ``$`` are decoded too, so that a pattern's
``%2A`` matches a URL whether the URL spells the star ``*`` or ``%2A``.

"Path" means path plus query, as in Google's reading of RFC 9309: ``/*.pdf$``
does not match ``/a.pdf?dl=1``. The fragment is never part of it.

Matching never uses regular expressions. A compiled pattern is a list of
literal pieces between stars; each piece is looked up left-most after the
previous one, which is all a star-only glob needs. So matching costs roughly
one pass over the path whatever the pattern, and ``/*a*a*a*a*a*b`` cannot make
it backtrack.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

__all__ = ["Pattern", "compile_pattern", "normalise_path"]

_HEX = frozenset("0123456789abcdefABCDEF")
# RFC 3986 §2.3 unreserved characters, plus the two characters the pattern
# language itself cannot spell literally (see the module docstring).
_DECODE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~*$")
# ASCII characters that may stand unescaped in a URI (RFC 3986 §2.2 and §2.3).
# Anything else in the ASCII range (space, controls, quotes, braces...) is
# escaped, so a pattern and a URL that differ only in escaping still match.
_URI_CHARS = frozenset(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~:/?#[]@!$&'()*+,;="
)
_SCHEME_AUTHORITY = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://[^/?#]*")
# Text made of _URI_CHARS only (so ASCII, without "%"): already canonical.
_CANONICAL = re.compile("[" + re.escape("".join(sorted(_URI_CHARS))) + "]*").fullmatch


def _normalise(text: str) -> str:
    """Bring *text* to the canonical escaping described in the module docstring."""
    if _CANONICAL(text) is not None:
        return text  # the usual case: nothing to rewrite
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        char = text[i]
        if char == "%":
            if i + 2 < n and text[i + 1] in _HEX and text[i + 2] in _HEX:
                decoded = chr(int(text[i + 1 : i + 3], 16))
                out.append(decoded if decoded in _DECODE else "%" + text[i + 1 : i + 3].upper())
                i += 3
                continue
            out.append("%25")  # a lone "%" is not an escape; spell it as one
        elif char in _URI_CHARS:
            out.append(char)
        else:
            out.extend(f"%{byte:02X}" for byte in char.encode("utf-8", "surrogatepass"))
        i += 1
    return "".join(out)


@lru_cache(maxsize=4096)
def normalise_path(url_or_path: str) -> str:
    """Return the part of a URL that patterns are matched against.

    That is the path plus the query (``?`` included), without the fragment,
    in canonical escaping; an empty path becomes ``/``. *url_or_path* may be
    an absolute URL (``https://host/a?b``) or already a path (``/a?b``).
    Normalising twice changes nothing.
    """
    text = url_or_path.split("#", 1)[0]
    authority = _SCHEME_AUTHORITY.match(text)
    if authority is not None:
        text = text[authority.end() :]
    if not text.startswith("/") and (authority is not None or not text):
        text = "/" + text  # "https://host" and "https://host?q" have the path "/"
    return _normalise(text)


@dataclass(frozen=True, slots=True)
class Pattern:
    """A compiled path pattern; build it with :func:`compile_pattern`.

    ``length`` is the length of the pattern in canonical escaping, ``*`` and
    ``$`` included. It ranks rules for longest-match protocols (robots.txt,
    ai.txt), so a rule written ``/%61`` weighs the same as one written ``/a``.
    The empty pattern (``Disallow:`` with no value) matches nothing.
    """

    text: str
    pieces: tuple[str, ...]
    anchored: bool
    length: int

    def matches(self, path: str) -> bool:
        """Tell whether this pattern matches *path* (a path or a whole URL)."""
        if not self.pieces:
            return False
        return self._matches_normalised(normalise_path(path))

    def _matches_normalised(self, path: str) -> bool:
        pieces = self.pieces
        first = pieces[0]
        if not path.startswith(first):
            return False
        if len(pieces) == 1:
            return path == first if self.anchored else True
        start, stop = len(first), len(path)
        middle = pieces[1:]
        if self.anchored:
            # The last piece must sit at the very end, after everything before it.
            last = pieces[-1]
            stop -= len(last)
            if stop < start or not path.endswith(last):
                return False
            middle = pieces[1:-1]
        # Left-most placement of each piece leaves the most room for the rest,
        # so one forward scan decides the match; no backtracking is needed.
        for piece in middle:
            found = path.find(piece, start, stop)
            if found < 0:
                return False
            start = found + len(piece)
        return True


@lru_cache(maxsize=4096)
def compile_pattern(pattern: str) -> Pattern:
    """Compile a robots-style path pattern (``*`` wildcards, trailing ``$``).

    Compiled patterns are cached, so compiling the same text again is cheap.
    Surrounding whitespace is not part of the pattern and is ignored.
    """
    text = pattern.strip()
    if not text:
        return Pattern(pattern, (), False, 0)
    anchored = text.endswith("$")
    body = text[:-1] if anchored else text
    # Split on the raw stars before normalising, so that an escaped "%2A"
    # becomes a literal star inside a piece instead of a wildcard.
    pieces = tuple(_normalise(piece) for piece in body.split("*"))
    length = sum(map(len, pieces)) + len(pieces) - 1 + anchored
    return Pattern(pattern, pieces, anchored, length)
