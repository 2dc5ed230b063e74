"""Robots-style path patterns, shared by robots.txt, ai.txt and TDMRep locations.

The pattern language is the one of RFC 9309 §2.2.3, which TDMRep borrows for
the ``location`` of its ``tdmrep.json`` rules:

* a pattern matches a path when the path *starts with* it (prefix match),
  comparing octet by octet and case-sensitively;
* ``*`` stands for any run of characters, ``/`` included;
* ``$`` as the **last** character anchors the pattern at the end of the path;
  anywhere else it is an ordinary character;
* a literal ``*`` or ``$`` is written ``%2A`` or ``%24``.

**One spelling.** Before comparing, pattern and path are brought to one
spelling, the canonical form (RFC 9309 §2.2.2 and all three columns of its
figure 4): a ``%XX`` escape of a character that may stand unescaped in a URI
(RFC 3986 §2.2, §2.3: letters, digits, ``-._~`` and the reserved characters
``:/?[]@!$&'()*+,;=``, ``#`` excepted) is decoded; every other escape is kept,
with upper-case hex digits (so ``%25`` stays ``%25``); other characters
(non-ASCII, space, controls, ``"<>\\^`{|}``) are written as their UTF-8 octets
in ``%XX`` form. So ``/pc:`` and ``/pc%3A`` are one path, as are
``/foo/bar?baz=https://foo.bar`` and ``/foo/bar?baz=https%3A%2F%2Ffoo.bar``,
``/a/b`` and ``/a%2Fb``, ``/café`` and ``/caf%C3%A9``. A raw octet that is not
UTF-8, read with ``errors="surrogateescape"`` (a lone surrogate U+DC80 to
U+DCFF), is written as exactly its own ``%XX``. ``*`` and ``$`` are decoded
too, so that a pattern's ``%2A`` matches a URL whether the URL spells the star
``*`` or ``%2A``.

**Every reading a server could give it.** Common servers resolve a path before
serving it: they percent-decode it (some more than once), remove ``.`` and
``..`` segments (RFC 3986 §5.2.4), merge doubled slashes, read ``\\`` as ``/``
and drop a segment's ``;parameters`` (Tomcat, Jetty). :func:`path_readings`
gives the canonical path and each distinct form those resolutions turn it
into; a URL is reserved when *any* of its readings is, so ``/a/../private/x``,
``//private/x`` and ``/private;jsessionid=1/x`` are all read as
``/private/x``. Case is never folded: RFC 9309 matching is case-sensitive and
``/Private`` is another path.

"Path" means path plus query, as in Google's reading of RFC 9309: ``/*.pdf$``
does not match ``/a.pdf?dl=1``. The fragment is never part of it.

Matching never uses regular expressions. A compiled pattern is a list of
literal pieces between stars; each piece is looked up left-most after the
previous one, which is all a star-only glob needs, so ``/*a*a*a*a*a*b`` cannot
make it backtrack. :class:`RuleIndex` holds the rules of a group ready for
matching: plain prefixes in hash tables keyed by their text, and, when a file
has many patterns with wildcards, all of them in one bit-parallel automaton,
so that a decision costs one pass over the path whatever the number of rules.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Generic, NamedTuple, TypeVar
from urllib.parse import unquote

__all__ = [
    "STRICT",
    "Pattern",
    "Reading",
    "RuleIndex",
    "Rules",
    "compile_pattern",
    "normalise_path",
    "path_readings",
    "strict_path",
]

_T = TypeVar("_T")

_HEX = frozenset("0123456789abcdefABCDEF")
# ASCII characters that may stand unescaped in a URI (RFC 3986 §2.2 and §2.3).
# Anything else in the ASCII range (space, controls, quotes, braces...) is
# escaped, so a pattern and a URL that differ only in escaping still match.
_URI_CHARS = frozenset(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~:/?#[]@!$&'()*+,;="
)
# Escapes decoded in the canonical form: every URI character but "#", which
# would end the path if it stood unescaped (and "%", which is no URI character).
_DECODE = _URI_CHARS - {"#"}
# Escapes decoded in the strict form, RFC 9309 §2.2.2 to the letter: unreserved
# characters only, and the two characters the pattern language cannot spell.
_DECODE_STRICT = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~*$")
_SCHEME_AUTHORITY = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://[^/?#]*")
# Text made of _URI_CHARS only (so ASCII, without "%"): already canonical.
_CANONICAL = re.compile("[" + re.escape("".join(sorted(_URI_CHARS))) + "]*").fullmatch


def _escape(char: str) -> str:
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:  # a raw octet kept by errors="surrogateescape"
        return f"%{code - 0xDC00:02X}"
    return "".join(f"%{byte:02X}" for byte in char.encode("utf-8", "surrogatepass"))


def _normalise(text: str, decode: frozenset[str] = _DECODE) -> str:
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
                out.append(decoded if decoded in decode else "%" + text[i + 1 : i + 3].upper())
                i += 3
                continue
            out.append("%25")  # a lone "%" is not an escape; spell it as one
        elif char in _URI_CHARS and char != "#":
            out.append(char)
        else:
            out.append(_escape(char))
        i += 1
    return "".join(out)


def _path_and_query(url_or_path: str) -> str:
    """The path and query of *url_or_path* as written, starting with ``/``."""
    text = url_or_path.split("#", 1)[0]
    authority = _SCHEME_AUTHORITY.match(text)
    if authority is not None:
        text = text[authority.end() :]
    return text if text.startswith("/") else "/" + text


@lru_cache(maxsize=4096)
def normalise_path(url_or_path: str) -> str:
    """Return the canonical path of a URL, the literal reading patterns are matched against.

    That is the path plus the query (``?`` included), without the fragment,
    in canonical escaping; it always starts with ``/`` (an empty path becomes
    ``/``). *url_or_path* may be an absolute URL (``https://host/a?b``) or
    already a path (``/a?b``). Normalising twice changes nothing.
    """
    return _normalise(_path_and_query(url_or_path))


@lru_cache(maxsize=4096)
def strict_path(url_or_path: str) -> str:
    """The path of a URL with reserved characters compared only as spelled (``%2F`` is not ``/``).

    RFC 9309 §2.2.2 read to the letter: only escapes of unreserved characters
    are decoded. Evaluators use it beside the canonical form so that an
    ``Allow`` spelled ``/a%2Fb`` does not open ``/a/b`` where a server tells
    the two apart.
    """
    return _normalise(_path_and_query(url_or_path), _DECODE_STRICT)


@lru_cache(maxsize=4096)
def _compile_strict(pattern: Pattern) -> Pattern:
    text = pattern.text.strip()
    body = text[:-1] if pattern.anchored else text
    pieces = tuple(_normalise(piece, _DECODE_STRICT) for piece in body.split("*"))
    return Pattern(pattern.text, pieces, pattern.anchored, pattern.length)


# -- readings -------------------------------------------------------------------------------------


class Reading(NamedTuple):
    """One form of a URL's path that patterns are matched against.

    ``path`` is in canonical form; ``how`` says how a server gets there from
    the URL as written (``"resolving dot segments"``), empty for the literal
    reading.
    """

    path: str
    how: str


# A path (query excluded) that a server could resolve to another path: an
# escape, a backslash, a ";parameter", a doubled slash or a dot segment.
_RESOLVABLE = re.compile(r"[%\\;]|//|/\.\.?(?:/|$)").search
_PARAMS = re.compile(r";[^/]*")
_SLASHES = re.compile(r"//+")
# Nested escapes decoded at most this many times (%252570 -> %2570 -> %70 -> p).
_DECODE_ROUNDS = 4


def _decode_fully(path: str) -> str:
    for _ in range(_DECODE_ROUNDS):
        if "%" not in path:
            break
        decoded = unquote(path, errors="surrogateescape")
        if decoded == path:
            break
        path = decoded
    return path


def _remove_dot_segments(path: str) -> str:
    """RFC 3986 §5.2.4 for an absolute path: ``/a/./b/../c`` becomes ``/a/c``."""
    segments = path.split("/")[1:]
    out: list[str] = []
    for segment in segments:
        if segment == "..":
            if out:
                out.pop()
        elif segment != ".":
            out.append(segment)
    if segments and segments[-1] in (".", ".."):
        out.append("")  # "/a/." and "/a/b/.." both end with a slash
    return "/" + "/".join(out)


_BACKSLASH = ("reading \\ as /", lambda p: p.replace("\\", "/"))
_PARAMETERS = ("dropping ;parameters", lambda p: _PARAMS.sub("", p))
_MERGE = ("merging doubled slashes", lambda p: _SLASHES.sub("/", p))
_DOTS = ("resolving dot segments", _remove_dot_segments)
# How common servers resolve a path after decoding it: RFC 3986 alone (and IIS,
# which reads "\\" as "/"), with doubled slashes merged (nginx, Apache), with
# ";parameters" dropped (Tomcat, Jetty), and both.
_RESOLUTIONS = (
    (),
    (_BACKSLASH, _DOTS),
    (_BACKSLASH, _MERGE, _DOTS),
    (_BACKSLASH, _PARAMETERS, _DOTS),
    (_BACKSLASH, _PARAMETERS, _MERGE, _DOTS),
)


@lru_cache(maxsize=4096)
def path_readings(url_or_path: str) -> tuple[Reading, ...]:
    """Return the readings of *url_or_path*: its canonical path first, then the others.

    The others are what a common server could resolve the path to (see the
    module docstring): fully percent-decoded, then with ``\\`` read as
    ``/`` and dot segments removed, with or without merging doubled slashes
    and dropping ``;parameters``; each in canonical form, each once, at most
    six in all. The query is kept as it is. A URL whose path holds none of
    ``%``, ``\\``, ``;``, ``//`` or a dot segment has one reading.
    """
    text = _path_and_query(url_or_path)
    canonical = _normalise(text)
    path, mark, query = text.partition("?")
    if _RESOLVABLE(path) is None:
        return (Reading(canonical, ""),)
    tail = mark + _normalise(query) if mark else ""
    decoded = _decode_fully(path)
    decoding = ["percent-decoding"] if _normalise(decoded) != _normalise(path) else []
    readings = {canonical: ""}
    for steps in _RESOLUTIONS:
        resolved = decoded
        names = list(decoding)
        for name, apply in steps:
            changed = apply(resolved)
            if changed != resolved:
                resolved = changed
                names.append(name)
        readings.setdefault(_normalise(resolved) + tail, ", ".join(names))
    return tuple(Reading(path, how) for path, how in readings.items())


# -- patterns -------------------------------------------------------------------------------------


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
        """Tell whether this pattern matches the canonical path of *path* (a path or a URL).

        Only the literal reading; :class:`RuleIndex` and the protocol
        evaluators look at every reading.
        """
        if not self.pieces:
            return False
        return self._matches_normalised(normalise_path(path))

    @property
    def plain_prefix(self) -> str | None:
        """The pattern's text when it is a plain prefix (no ``*``, no final ``$``)."""
        return self.pieces[0] if len(self.pieces) == 1 and not self.anchored else None

    @property
    def covers_everything(self) -> bool:
        """Whether the pattern matches every path in every spelling (``/``, ``*``, ``/*``, ``/*$``).

        A pattern written with an escape is left out: its strict form
        (:func:`strict_path`) may not match what its canonical form does.
        """
        pieces = self.pieces
        return (
            self.length > 0
            and pieces[0] in ("", "/")
            and not any(pieces[1:])
            and (len(pieces) > 1 or not self.anchored)
            and "%" not in self.text
        )

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


# -- many rules at once ---------------------------------------------------------------------------

_NO_RANK = 1 << 62
# Plain prefixes are filed under their first characters, so that a path is
# tested against few of them.
_BUCKET = 4
# With at least this many distinct wildcard patterns, one automaton matches
# them all in a single pass over the path instead of one pass per pattern.
_AUTOMATON_MIN = 24
# Up to this many patterns, an index tries them one by one (RuleIndex._tiny).
_TINY = 4


def _lengths(texts: Iterable[str]) -> tuple[int, ...]:
    """The distinct lengths of *texts*, longest first."""
    return tuple(sorted({len(text) for text in texts}, reverse=True))


class _Automaton:
    """Wildcard patterns matched together, one bit per literal character (Shift-And).

    Bit ``i`` of the state is set when some placement of the pattern owning
    position ``i`` has matched up to that character, ending at the current
    character of the path. Reading a character shifts every bit to the next
    position and keeps those whose character it is; the last character of a
    piece followed by ``*`` (and of an unanchored pattern) keeps its bit for
    good, which is the star. One spare bit between patterns stops a shift from
    crossing into the next one. Each step costs a few operations on integers
    of one bit per literal character, so the whole match is linear in the
    length of the path and never backtracks.
    """

    __slots__ = (
        "_owners",
        "always",
        "char_masks",
        "ends",
        "ends_mask",
        "everything",
        "hold",
        "start",
    )

    def __init__(self, patterns: Sequence[Pattern]) -> None:
        positions: dict[str, list[int]] = {}
        hold: list[int] = []
        start: list[int] = []
        always: list[int] = []
        ends: list[int] = []
        self.everything = _NO_RANK  # index of the first pattern that matches any path
        owners: list[int] = []
        position = 0
        for index, pattern in enumerate(patterns):
            pieces = list(pattern.pieces)
            anchored = pattern.anchored
            if len(pieces) > 1 and not pieces[-1]:
                anchored = False  # "/a*" and "/a*$" match what "/a" matches
            literal = [piece for piece in pieces if piece]
            if not literal:
                if len(pieces) > 1 or not anchored:
                    self.everything = min(self.everything, index)
                continue  # a lone "$" matches only the empty path, which no URL has
            for number, piece in enumerate(literal):
                if number == 0:
                    (start if pieces[0] else always).append(position)
                for char in piece:
                    positions.setdefault(char, []).append(position)
                    position += 1
                if number < len(literal) - 1 or not anchored:
                    hold.append(position - 1)
            ends.append(position - 1)
            owners.append(index)
            position += 1  # the spare bit
        self.char_masks = {char: _bits(found) for char, found in positions.items()}
        self.hold = _bits(hold)
        self.start = _bits(start)
        self.always = _bits(always)
        self.ends = ends
        self.ends_mask = _bits(ends)
        self._owners = owners

    def first(self, path: str) -> int:
        """The index of the first pattern that matches *path*, or a huge number."""
        masks = self.char_masks.get
        hold, always = self.hold, self.always
        inject = self.start | always
        state = 0
        for char in path:
            state = (((state << 1) | inject) & masks(char, 0)) | (state & hold)
            inject = always
            if not state and not always:
                break  # every pattern is anchored at the start and has failed
        found = state & self.ends_mask
        if not found:
            return self.everything
        lowest = (found & -found).bit_length() - 1
        return min(self._owners[bisect_left(self.ends, lowest)], self.everything)


def _bits(positions: Sequence[int]) -> int:
    if not positions:
        return 0
    size = max(positions) // 8 + 1
    data = bytearray(size)
    for position in positions:
        data[position >> 3] |= 1 << (position & 7)
    return int.from_bytes(data, "little")


class RuleIndex(Generic[_T]):
    """Patterns in rank order, ready to tell which one first matches a path.

    *entries* are ``(pattern, payload)`` pairs in rank order: for robots.txt
    and ai.txt longest pattern first, ``allow`` before ``disallow`` on a tie,
    file order after that; for TDMRep file order. :meth:`first` returns the
    payload of the matching entry ranked first. With *by_length* the caller
    promises that ranks follow pattern length, which lets a lookup stop at the
    longest matching plain prefix.

    Empty patterns match nothing and are left out; a pattern written twice
    counts once, at its better rank. Up to four patterns are simply tried in
    rank order. With more, plain prefixes are looked up by their text, one
    hash lookup per distinct length under the path's first characters;
    patterns with ``*`` or ``$`` are tested one by one while they are few,
    and all at once in an automaton when there are many. Either way no
    decision costs more than a few passes over the path.
    """

    __slots__ = (
        "_automaton",
        "_best",
        "_buckets",
        "_by_length",
        "_head",
        "_payloads",
        "_short",
        "_tiny",
        "_wild",
    )

    def __init__(self, entries: Sequence[tuple[Pattern, _T]], *, by_length: bool = True) -> None:
        self._by_length = by_length
        kept = [(pattern, payload) for pattern, payload in entries if pattern.length]
        self._tiny: tuple[str | Pattern, ...] | None = None
        if len(kept) <= _TINY:
            # A few patterns (most groups of a robots.txt): tried in rank order,
            # the first that matches wins; nothing to build.
            self._tiny = tuple(
                pattern if pattern.plain_prefix is None else pattern.plain_prefix
                for pattern, _ in kept
            )
            self._payloads: tuple[_T, ...] = tuple(payload for _, payload in kept)
            self._best: dict[str, int] = {}
            self._short: tuple[int, ...] = ()
            self._buckets: dict[str, tuple[int, ...]] = {}
            self._wild: tuple[tuple[int, Pattern], ...] = ()
            self._head: tuple[tuple[int, str, Pattern], ...] = ()
            self._automaton: _Automaton | None = None
            return
        payloads: list[_T] = []
        # The best rank of each plain prefix, and the prefixes by their first
        # characters (shorter ones apart). Only strings, integers and tuples
        # of integers: the collector stops tracking them, and an origin's
        # parsed files hold many of these tables for as long as they are kept.
        best: dict[str, int] = {}
        buckets: dict[str, list[str]] = {}
        short: list[str] = []
        wild: dict[tuple[tuple[str, ...], bool], tuple[int, Pattern]] = {}
        for pattern, payload in kept:
            rank = len(payloads)
            payloads.append(payload)
            prefix = pattern.plain_prefix
            if prefix is None:
                wild.setdefault((pattern.pieces, pattern.anchored), (rank, pattern))
                continue
            if prefix not in best:
                best[prefix] = rank
                if len(prefix) < _BUCKET:
                    short.append(prefix)
                else:
                    buckets.setdefault(prefix[:_BUCKET], []).append(prefix)
        self._payloads = tuple(payloads)
        self._best = best
        self._short = _lengths(short)
        self._buckets = {lead: _lengths(texts) for lead, texts in buckets.items()}
        self._wild = tuple(wild.values())
        self._head = tuple(
            (rank, pattern.pieces[0], pattern) for rank, pattern in self._wild[:_AUTOMATON_MIN]
        )
        self._automaton = (
            _Automaton([pattern for _, pattern in self._wild])
            if len(self._wild) >= _AUTOMATON_MIN
            else None
        )

    def __len__(self) -> int:
        return len(self._payloads)

    def share(self, payloads: tuple[_T, ...]) -> None:
        """Keep *payloads* instead of the index's own tuple when they are equal.

        For a caller that holds the payloads in rank order already: one tuple
        for both, one object fewer for the garbage collector.
        """
        if payloads == self._payloads:
            self._payloads = payloads

    def first(self, path: str) -> _T | None:
        """The payload of the first-ranked entry matching *path* (canonical), or ``None``."""
        tiny = self._tiny
        if tiny is not None:
            for test, payload in zip(tiny, self._payloads, strict=False):  # same lengths
                if isinstance(test, str):
                    if path.startswith(test):
                        return payload
                elif test._matches_normalised(path):
                    return payload
            return None
        best = _NO_RANK
        lengths = self._buckets.get(path[:_BUCKET])
        if lengths is not None:
            best = self._lookup(lengths, path, best)
        if self._short and not (self._by_length and best != _NO_RANK):
            best = self._lookup(self._short, path, best)
        # The best-ranked wildcard patterns one by one: often one of them
        # decides, and then the automaton is not needed.
        for rank, lead, pattern in self._head:
            if rank > best:
                break
            if path.startswith(lead) and pattern._matches_normalised(path):
                return self._payloads[rank]
        else:
            automaton = self._automaton
            if automaton is not None:
                found = automaton.first(path)
                if found != _NO_RANK:
                    best = min(best, self._wild[found][0])
        return self._payloads[best] if best != _NO_RANK else None

    def _lookup(self, lengths: tuple[int, ...], path: str, best: int) -> int:
        # Prefixes of one length under one bucket are the path's own prefix of
        # that length or none: one lookup each, in the table of every prefix.
        texts = self._best
        size = len(path)
        for length in lengths:
            if length > size:
                continue
            rank = texts.get(path[:length])
            if rank is not None and rank < best:
                best = rank
                if self._by_length:
                    break
        return best


#: How a finding explains a decision taken on the strict form (:func:`strict_path`).
STRICT = "comparing reserved characters only as spelled (RFC 9309 §2.2.2 to the letter)"


class Rules(RuleIndex[_T]):
    """A rule list that decides a URL on every reading, erring toward the reservation.

    *entries* and *by_length* are as for :class:`RuleIndex`, whose
    :meth:`~RuleIndex.first` it answers for the canonical path (one object:
    an origin's parsed files hold one per group for as long as they are
    kept). :meth:`decide` matches each reading of a URL
    (:func:`path_readings`) and, when escapes are involved, the strict form
    (:func:`strict_path`); the first reading whose winning rule *reserves*
    decides, else the literal reading does.
    """

    __slots__ = ("_entries", "_escaped", "_same", "_same_entry", "_strict", "by_length")

    def __init__(self, entries: Sequence[tuple[Pattern, _T]], *, by_length: bool = True) -> None:
        super().__init__(entries, by_length=by_length)
        self.by_length = by_length
        self._escaped = any("%" in pattern.text for pattern, _ in entries)
        # The entries are kept only to build the strict index from; without
        # escapes the index at hand is the strict one (see decide()).
        self._entries = tuple(entries) if self._escaped else ()
        self._strict: RuleIndex[_T] | None = None
        # What fixed() answers, kept apart rather than as a pair (one object
        # fewer for the collector per rule list).
        self._same = True
        self._same_entry: _T | None = None
        for pattern, payload in entries:
            if pattern.length:
                self._same = pattern.covers_everything
                self._same_entry = payload if self._same else None
                break

    def prefixes(self) -> tuple[tuple[str, ...], tuple[_T, ...]] | None:
        """The few plain prefixes of this list in rank order, with their entries, or ``None``.

        For a list of at most four patterns, none with ``*``, ``$`` or an
        escape: :meth:`decide` on a URL without ``%`` and with one reading
        then answers the entry of the first prefix of its path, with no reading.
        """
        tiny = self._tiny
        if tiny is None or self._escaped or not all(isinstance(test, str) for test in tiny):
            return None
        return tuple(test for test in tiny if isinstance(test, str)), self._payloads

    def fixed(self) -> tuple[bool, _T | None]:
        """Whether :meth:`decide` gives every URL the same answer, and that answer's entry.

        So it does when no entry can match (``None``), and when the entry
        ranked first matches every path in every spelling: it then wins every
        reading, the strict form included, whatever the other entries say.
        """
        return self._same, self._same_entry

    def decide(
        self,
        url: str,
        readings: Sequence[tuple[str, str]],
        reserves: Callable[[_T], bool],
    ) -> tuple[_T | None, tuple[str, str] | None]:
        """The entry that decides *url*, and the reading it matched unless it is the literal one."""
        first = self.first(readings[0][0])
        if len(readings) == 1 and not self._escaped and "%" not in url:
            return first, None  # one reading, and the strict form is the same
        if first is not None and reserves(first):
            return first, None
        for reading in readings[1:]:
            found = self.first(reading[0])
            if found is not None and reserves(found):
                return found, reading
        path = strict_path(url) if "%" in url else readings[0][0]
        if self._escaped or path != readings[0][0]:
            # Without escapes in the patterns their strict form is their
            # canonical form, and the index at hand serves.
            strict: RuleIndex[_T] = self
            if self._escaped:
                strict = self._strict or self._build_strict()
            found = strict.first(path)
            if found is not None and reserves(found):
                return found, (path, STRICT)
        return first, None

    def _build_strict(self) -> RuleIndex[_T]:
        entries = [(_compile_strict(p), payload) for p, payload in self._entries]
        self._strict = RuleIndex(entries, by_length=self.by_length)
        return self._strict
