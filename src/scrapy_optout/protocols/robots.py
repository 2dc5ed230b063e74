"""robots.txt (RFC 9309): parsing, group selection, matching and findings.

The parser is lenient about content and strict about meaning:

* **Lines.** Lines end with CR, LF or CRLF; ``#`` starts a comment anywhere;
  blank lines mean nothing. Keys are case-insensitive. Besides ``key: value``
  the parser accepts the forms Google's parser accepts: a missing colon when
  the line is exactly two words (``disallow /x``) and the misspellings
  ``useragent``, ``user agent``, ``dissallow``, ``dissalow``, ``disalow``,
  ``diasllow``, ``disallaw`` and ``site-map``. A line that cannot be read is
  skipped; it never invalidates the file (RFC 9309 §2.3.1.5).
* **Size.** Only the first 500 KiB (:data:`MAX_BYTES`, 512 000 bytes, the
  floor RFC 9309 §2.5 sets and the limit Google applies) are parsed. A line cut
  in half by the limit is dropped rather than read short, so a truncated
  ``Allow`` or ``Disallow`` never covers more than its author wrote. Lines have
  no length limit of their own (Google keeps only 16 663 bytes of each; no
  specification asks for that).
* **Encoding.** Bytes are decoded by
  :func:`scrapy_optout.protocols.text.decode_policy_text`: UTF-8, UTF-16 or
  UTF-32 as a byte order mark or the pattern of NUL bytes says; NUL padding
  and a byte order mark at the start of any line are dropped; an octet that
  is not UTF-8 stays a raw octet (a lone surrogate), and rule quotes show it
  as ``\xe9``. Findings from a file that was not plain UTF-8 say how it was
  decoded.
* **Groups** (RFC 9309 §2.1, §2.2.1). Consecutive ``user-agent`` lines share
  the rules that follow; the next ``user-agent`` line after a rule starts a
  new group. Rules are ``allow``, ``disallow`` and, after
  draft-ietf-aipref-attach, ``content-usage``. Every other line (``sitemap``,
  ``crawl-delay``, Cloudflare's ``content-signal``, unknown keys) is an "other
  record" and never ends a group. Rules before the first ``user-agent`` line
  belong to no group and are ignored.
* **Product tokens.** A ``user-agent`` value is cut at the first character
  that cannot occur in a product token (anything but letters, ``_`` and
  ``-``) and lower-cased, as Google does: ``ExampleBot/2.0`` and
  ``ExampleBot*`` both name ``examplebot``. ``*``, alone or followed by a
  space and more text, names the global group.
* **Choosing a group.** A crawler's token is compared for equality, ignoring
  case, with the group tokens; never as a substring, so ``User-agent: bot``
  does not bind ``GPTBot``. All groups naming the token are merged. Only when
  none does, the merged ``*`` groups apply; a group naming the token blocks
  that fallback even when it has no rules. A token that is not a valid
  product token (``img2dataset``, ``Kangaroo Bot``, as some AI crawlers call
  themselves) is compared with the ``user-agent`` values spelled in full
  instead, since its cut form (``img``) is another token.
* **Several agents on one line.** RFC 9309 allows one product token per
  ``user-agent`` line, and the reading above binds only the first of
  ``GPTBot, CCBot``, ``GPTBot CCBot`` or ``GPTBot;CCBot``. A site that writes
  such a line means every agent on it, so the others are *listed* too
  (:func:`listed_agents`): each item of a list split at ``,``, ``;`` or
  ``|``, each word of an item made of several words, and the crawler named
  in a ``(compatible; ...)`` comment; nothing else of a parenthesised
  comment, so ``Mozilla/5.0 (compatible; Foo)`` names ``Foo`` and not
  ``compatible``. ``Kangaroo Bot`` still names ``kangaroo`` (and, spelled in
  full, the agent ``Kangaroo Bot``); its word ``bot`` is listed, which binds
  only a crawler whose token is ``bot``. A listed name can only add
  reservations, never lift one: the group that lists an agent is evaluated
  apart from the group chosen above and only its ``disallow`` lines (and,
  for the crawler's own token, its reserving ``Content-Usage`` and
  ``Content-Signal`` lines) count. So a crawler found only on such a line
  is bound by that group *and* by its own group or ``*``, whichever
  reserves. ``*`` inside a list adds the group to the ``*`` fallback the same
  way. The findings say the line was read against RFC 9309's one-token rule.
* **Matching** (RFC 9309 §2.2.2, §2.2.3) uses :mod:`scrapy_optout.protocols.patterns`:
  path plus query, fragment removed, percent-encoding normalised, ``*`` and a
  final ``$``; the longest matching pattern wins and ``allow`` wins a tie.
  ``/robots.txt`` itself is always allowed.

:func:`evaluate` turns a fetched (or failed) robots.txt into findings for one
URL: the crawler's own group (all purposes), the groups of other agents that
collect content for AI training (training and TDM), and the ``Content-Usage``
and ``Content-Signal`` lines of the crawler's own group.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Literal, NamedTuple

from scrapy_optout.protocols.patterns import (
    Pattern,
    Reading,
    Rules,
    compile_pattern,
    path_readings,
)
from scrapy_optout.protocols.text import PolicyText, decode_policy_text, printable
from scrapy_optout.verdict import ALL_PURPOSES, Finding, Purpose, Signal, Stance, Where

if TYPE_CHECKING:
    from scrapy_optout.protocols.agents import Agent, AgentCatalogue

__all__ = [
    "MAX_BYTES",
    "TRAINING_PURPOSES",
    "Group",
    "RobotsTxt",
    "Rule",
    "ValueRule",
    "evaluate",
    "listed_agents",
    "normalise_agent",
    "product_token",
    "valid_product_token",
]

#: How much of a robots.txt file is parsed, in bytes (500 KiB, RFC 9309 §2.5).
MAX_BYTES = 512_000

#: Purposes that the groups of other agents bear on (see :func:`evaluate`).
TRAINING_PURPOSES = frozenset({Purpose.TRAIN, Purpose.TDM})
#: How a fetch ``error`` starts when the fetcher gave up on a redirect chain.
TOO_MANY_REDIRECTS = "too many redirects"

_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_TOKEN = re.compile(r"[A-Za-z_-]+")
_ROBOTS_PATH = "/robots.txt"
# A URL whose path and query hold only characters that normalisation leaves
# as they are (no "%", no fragment): its path is then already normalised, and
# path_readings(), which costs more than the matching, can be skipped unless
# the path holds something a server would resolve (";", "//", "/.").
_PLAIN_URL = re.compile(
    r"(?:[A-Za-z][A-Za-z0-9+.\-]*://[^/?#]*)?(/[A-Za-z0-9\-._~:/?\[\]@!$&'()*+,;=]*)"
).fullmatch

# Canonical key for every spelling the parser accepts.
_KEYS = {
    "user-agent": "user-agent",
    "useragent": "user-agent",
    "user agent": "user-agent",
    "allow": "allow",
    "disallow": "disallow",
    "dissallow": "disallow",
    "dissalow": "disallow",
    "disalow": "disallow",
    "diasllow": "disallow",
    "disallaw": "disallow",
    "sitemap": "sitemap",
    "site-map": "sitemap",
    "content-usage": "content-usage",
    "content-signal": "content-signal",
}
# Keys that are rules: they end a run of user-agent lines.
_RULE_KEYS = frozenset({"allow", "disallow", "content-usage"})

# -- product tokens --------------------------------------------------------------

_COMPATIBLE = re.compile(r"[(;]\s*compatible\s*;\s*([A-Za-z_-]+)")


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


@functools.lru_cache(maxsize=4096)
def _group_key(token: str) -> tuple[bool, str]:
    """How :meth:`RobotsTxt.named_group` looks *token* up: by token, or by name."""
    token = token.strip()
    if valid_product_token(token):
        return True, token.lower()
    return False, _name_key(token)


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


def _name_key(value: str) -> str:
    return " ".join(value.lower().split())


# A product token, maybe with a version: a name that stands alone in a list.
_NAMED = re.compile(r"[A-Za-z_-]+(?:/\S*)?")
_LIST_SEPARATOR = re.compile(r"[,;|]")
_COMMENT = re.compile(r"\([^)]*\)?")


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


# -- rules and groups --------------------------------------------------------------


class Rule:
    """One ``allow`` or ``disallow`` line of a group.

    ``text`` is the line as the site wrote it, comment and surrounding
    whitespace removed (``"Disallow: /private"``); ``line`` is its 1-based
    line number in the file.
    """

    __slots__ = ("allow", "line", "pattern", "text")

    def __init__(self, allow: bool, pattern: Pattern, text: str, line: int) -> None:
        self.allow = allow
        self.pattern = pattern
        self.text = text
        self.line = line

    @property
    def kind(self) -> Literal["allow", "disallow"]:
        return "allow" if self.allow else "disallow"

    def __repr__(self) -> str:
        return f"Rule({self.text!r}, line={self.line})"


class ValueRule:
    """A ``Content-Usage`` or ``Content-Signal`` line of a group.

    ``path`` is the compiled path the line is scoped to, or ``None`` when the
    line has no path and applies to the whole site; ``value`` is the
    preference string after the path, as written.
    """

    __slots__ = ("line", "path", "text", "value")

    def __init__(self, path: Pattern | None, value: str, text: str, line: int) -> None:
        self.path = path
        self.value = value
        self.text = text
        self.line = line

    @property
    def specificity(self) -> int:
        """Length of the path, for longest-match selection.

        A line without a path covers exactly what a line with path ``/``
        covers, so both weigh 1 and tie.
        """
        return self.path.length if self.path is not None else 1

    def applies(self, path: str) -> bool:
        """Tell whether this line covers *path* (already normalised)."""
        return self.path is None or _pattern_matches(self.path, path)

    def __repr__(self) -> str:
        return f"ValueRule({self.text!r}, line={self.line})"


def _readings_of(url: str) -> tuple[Reading, ...] | tuple[tuple[str, str]]:
    """The readings of *url* (a URL or a path), canonical path first; see :func:`path_readings`."""
    plain = _PLAIN_URL(url)
    if plain is not None:
        path: str = plain[1]
        if ";" not in path and "//" not in path and "/." not in path:
            return ((path, ""),)
    return path_readings(url)


def _path_of(url: str) -> str:
    """The canonical path and query of *url* (a URL or a path)."""
    return _readings_of(url)[0][0]


def _pattern_matches(pattern: Pattern, path: str) -> bool:
    """Match a compiled pattern against a path that is already normalised."""
    prefix = pattern.plain_prefix
    return path.startswith(prefix) if prefix is not None else pattern._matches_normalised(path)


def _disallows(rule: Rule) -> bool:
    return not rule.allow


def _union(
    lines_for: Callable[[str], tuple[ValueRule, ...]], readings: Sequence[tuple[str, str]]
) -> tuple[ValueRule, ...]:
    """The value lines that cover any reading, each once: a ``no`` for any reading counts."""
    if len(readings) == 1:
        return lines_for(readings[0][0])
    return tuple(dict.fromkeys(line for reading in readings for line in lines_for(reading[0])))


def _via(reading: tuple[str, str] | None) -> str:
    """Words for the detail of a finding decided by a resolved reading."""
    if reading is None:
        return ""
    return f"; matched as {reading[0]} after {reading[1] or 'resolving the path'}"


class Group:
    """The rules that apply to a set of product tokens.

    A group as written in the file, or several merged (see
    :meth:`RobotsTxt.group_for`). ``agents`` are the normalised tokens it
    names (``"*"`` for the global group) and ``names`` the ``user-agent``
    values as written; ``rules`` the ``allow`` and ``disallow`` lines;
    ``usage_rules`` the ``Content-Usage`` lines; ``signal_rules`` the
    ``Content-Signal`` lines, all in file order. ``listed`` holds the other
    agents its ``user-agent`` lines name against RFC 9309's one-token rule
    (see :func:`listed_agents`), each as ``(name, line number, value)``.
    """

    __slots__ = (
        "_table",
        "_unscoped_signals",
        "agents",
        "listed",
        "names",
        "rules",
        "signal_rules",
        "usage_rules",
    )

    def __init__(
        self,
        agents: Sequence[str],
        rules: Sequence[Rule] = (),
        usage_rules: Sequence[ValueRule] = (),
        signal_rules: Sequence[ValueRule] = (),
        names: Sequence[str] = (),
        listed: Sequence[tuple[str, int, str]] = (),
    ) -> None:
        self.agents = tuple(dict.fromkeys(agents))
        self.names = tuple(dict.fromkeys(names))
        self.listed = tuple(listed)
        self.rules = tuple(rules)
        self.usage_rules = tuple(usage_rules)
        self.signal_rules = tuple(signal_rules)
        # The rules ready for matching, built on first use (see _match_path): most
        # groups of a file (other crawlers') are never matched against a URL.
        self._table: Rules[Rule] | None = None
        # Content-Signal lines without a path (the usual form) cover every URL.
        scoped = any(r.path is not None for r in self.signal_rules)
        self._unscoped_signals = None if scoped else self.signal_rules

    @classmethod
    def merge(cls, groups: Sequence[Group]) -> Group:
        """Merge *groups* into one, as RFC 9309 §2.2.1 requires."""
        if len(groups) == 1:
            return groups[0]
        return cls(
            [a for g in groups for a in g.agents],
            [r for g in groups for r in g.rules],
            [r for g in groups for r in g.usage_rules],
            [r for g in groups for r in g.signal_rules],
            [n for g in groups for n in g.names],
            [entry for g in groups for entry in g.listed],
        )

    @property
    def content_signals(self) -> tuple[str, ...]:
        """The raw values of the group's ``Content-Signal`` lines."""
        return tuple(r.value for r in self.signal_rules)

    def match(self, url: str) -> Rule | None:
        """Return the rule that decides *url* (a URL or a path), or ``None``.

        ``None`` means no rule matches, so the URL is allowed. The special case
        of ``/robots.txt`` is left to :meth:`allowed`.
        """
        return self._decide(url, _readings_of(url))[0]

    def allowed(self, url: str) -> bool:
        """Tell whether this group lets a crawler fetch *url*.

        Every reading of the URL counts (see :func:`path_readings`): it is
        disallowed when any of them is.
        """
        readings = _readings_of(url)
        if readings[0][0] == _ROBOTS_PATH:
            return True
        rule = self._decide(url, readings)[0]
        return rule is None or rule.allow

    def content_usage(self, url: str) -> tuple[ValueRule, ...]:
        """The ``Content-Usage`` lines that apply to *url*.

        Per draft-ietf-aipref-attach §3.1 the line with the longest matching
        path applies; a line without a path weighs as much as one with path
        ``/``. Several lines with equally long paths are all returned, and
        their preferences combine with the vocabulary's rule: a disallow wins.
        Empty when no line covers the URL.
        """
        return _union(self._usage_for, _readings_of(url))

    def content_signal(self, url: str) -> tuple[ValueRule, ...]:
        """The ``Content-Signal`` lines that cover *url*, most specific first.

        A line may be scoped to a path (``Content-Signal: /blog/ ai-train=no``,
        a form several tools implement); a line without a path covers the
        whole site. :func:`evaluate` counts every line returned, so a ``no``
        wins over a ``yes`` whatever their paths.
        """
        return _union(self._signals_for, _readings_of(url))

    def coverage(self) -> Literal["full", "partial", "none"]:
        """How much of the site the group closes, for surveys.

        ``"full"`` when ``/`` is disallowed and no ``allow`` line reopens any
        part; ``"partial"`` when some ``disallow`` line has a path; else
        ``"none"``.
        """
        live = [rule for rule in self.rules if rule.pattern.length]  # rules with a pattern
        if all(rule.allow for rule in live):
            return "none"
        root = self._match_path("/")
        if root is not None and not root.allow and not any(rule.allow for rule in live):
            return "full"
        return "partial"

    # Internal versions taking an already normalised path.

    def _rules(self) -> Rules[Rule]:
        table = self._table
        if table is None:
            # RFC 9309 §2.2.2 order: longest pattern first, allow before
            # disallow on a tie, then file order; the first match wins.
            ordered = sorted(self.rules, key=lambda r: (-r.pattern.length, not r.allow))
            table = self._table = Rules([(r.pattern, r) for r in ordered])
        return table

    def _match_path(self, path: str) -> Rule | None:
        return self._rules().first(path)

    def _decide(
        self, url: str, readings: Sequence[tuple[str, str]]
    ) -> tuple[Rule | None, tuple[str, str] | None]:
        """The rule deciding *url* and the reading it matched, if not the literal one.

        Disallowed when any reading is (see :meth:`Rules.decide`).
        """
        return (self._table or self._rules()).decide(url, readings, _disallows)

    def _usage_for(self, path: str) -> tuple[ValueRule, ...]:
        best: list[ValueRule] = []
        length = 0
        for rule in self.usage_rules:
            if not rule.applies(path):
                continue
            if rule.specificity > length:
                best, length = [rule], rule.specificity
            elif rule.specificity == length:
                best.append(rule)
        return tuple(best)

    def _signals_for(self, path: str) -> tuple[ValueRule, ...]:
        if self._unscoped_signals is not None:
            return self._unscoped_signals
        found = [r for r in self.signal_rules if r.applies(path)]
        found.sort(key=lambda r: -r.specificity)
        return tuple(found)

    def __repr__(self) -> str:
        return f"Group(agents={list(self.agents)!r}, rules={len(self.rules)})"


# -- the file ------------------------------------------------------------------------


class _Builder:
    """A group while the parser is still reading it."""

    __slots__ = ("agents", "listed", "names", "rules", "signal_rules", "usage_rules")

    def __init__(self) -> None:
        self.agents: list[str] = []
        self.names: list[str] = []
        self.listed: list[tuple[str, int, str]] = []
        self.rules: list[Rule] = []
        self.usage_rules: list[ValueRule] = []
        self.signal_rules: list[ValueRule] = []

    def build(self) -> Group:
        return Group(
            self.agents, self.rules, self.usage_rules, self.signal_rules, self.names, self.listed
        )


def _decode(body: bytes | str) -> PolicyText:
    """Decode a body given as bytes or as text, up to :data:`MAX_BYTES`."""
    if isinstance(body, str):
        try:  # a raw octet kept as a lone surrogate goes back to its octet
            data = body.encode("utf-8", "surrogateescape")
        except UnicodeEncodeError:
            data = body.encode("utf-8", "surrogatepass")
    else:
        data = bytes(body)
    return decode_policy_text(data, limit=MAX_BYTES)


def _split_line(line: str) -> tuple[str, str] | None:
    """Return the canonical key and the value of a line, or ``None``."""
    key, colon, value = line.partition(":")
    if colon:
        canonical = _KEYS.get(" ".join(key.lower().split()))
        if canonical is not None:
            return canonical, value.strip()
    # Google accepts a missing colon when the line is exactly two words.
    words = line.split()
    if len(words) == 2:
        canonical = _KEYS.get(words[0].lower())
        if canonical is not None:
            return canonical, words[1]
    return None


def _scoped_value(value: str) -> tuple[Pattern | None, str]:
    """Split ``[path] preference`` (draft-ietf-aipref-attach §3.2).

    A value starting with ``/`` begins with a path, which ends at the first
    space or tab; the rest is the preference string.
    """
    if not value.startswith("/"):
        return None, value
    parts = value.split(None, 1)
    return compile_pattern(parts[0]), parts[1].strip() if len(parts) > 1 else ""


class RobotsTxt:
    """A parsed robots.txt file. Build one with :meth:`parse`.

    ``groups`` are the groups as written, in file order; ``sitemaps`` the
    ``Sitemap`` URLs; ``truncated`` tells whether the file was longer than
    :data:`MAX_BYTES` and its end was ignored; ``notes`` say how the file was
    decoded when it was not plain UTF-8 (see
    :func:`~scrapy_optout.protocols.text.decode_policy_text`).
    """

    __slots__ = (
        "_by_name",
        "_by_token",
        "_findings",
        "_global",
        "_listed_by_name",
        "_listed_by_token",
        "_listed_lines",
        "_merged",
        "_plans",
        "groups",
        "notes",
        "sitemaps",
        "truncated",
    )

    def __init__(
        self,
        groups: Sequence[Group],
        sitemaps: Sequence[str] = (),
        *,
        truncated: bool = False,
        notes: Sequence[str] = (),
    ) -> None:
        self.groups = tuple(groups)
        self.sitemaps = tuple(sitemaps)
        self.truncated = truncated
        self.notes = tuple(notes)
        by_token: dict[str, list[int]] = {}
        by_name: dict[str, list[int]] = {}
        for index, group in enumerate(self.groups):
            for agent in group.agents:
                by_token.setdefault(agent, []).append(index)
            for name in group.names:
                if normalise_agent(name) == "*":
                    continue
                key = _name_key(name)
                # "MJ12bot/1.0" also names "MJ12bot".
                for alias in (key, key.split("/", 1)[0].strip()):
                    indexes = by_name.setdefault(alias, [])
                    if index not in indexes:
                        indexes.append(index)
        self._index_listed(by_token, by_name)
        self._global = tuple(by_token.pop("*", ()))
        self._by_token = {token: tuple(indexes) for token, indexes in by_token.items()}
        self._by_name = {name: tuple(indexes) for name, indexes in by_name.items()}
        # Merged groups by the indexes they merge, so that tokens named in the
        # same groups share one Group (and one evaluation per URL).
        self._merged: dict[tuple[int, ...], Group] = {}
        self._plans: dict[tuple[object, ...], _Plan] = {}
        self._findings: dict[tuple[object, ...], tuple[Finding, ...]] = {}

    def _index_listed(self, by_token: dict[str, list[int]], by_name: dict[str, list[int]]) -> None:
        """Index the agents groups list against the one-token rule (:func:`listed_agents`).

        A group is indexed under a listed name only when it does not name
        that agent the ordinary way already.
        """
        listed_by_token: dict[str, list[int]] = {}
        listed_by_name: dict[str, list[int]] = {}
        self._listed_lines: dict[tuple[bool, str], tuple[int, str]] = {}
        for index, group in enumerate(self.groups):
            for name, line, value in group.listed:
                keys: list[tuple[bool, str]] = []
                if name == "*" or _NAMED.fullmatch(name) is not None:
                    keys.append((True, normalise_agent(name) or name))
                if name != "*":
                    key = _name_key(name)
                    keys += [(False, key), (False, key.split("/", 1)[0].strip())]
                for by_token_key, key in keys:
                    if index in (by_token if by_token_key else by_name).get(key, ()):
                        continue
                    indexes = (listed_by_token if by_token_key else listed_by_name).setdefault(
                        key, []
                    )
                    if index not in indexes:
                        indexes.append(index)
                    self._listed_lines.setdefault((by_token_key, key), (line, value))
        self._listed_by_token = {key: tuple(found) for key, found in listed_by_token.items()}
        self._listed_by_name = {key: tuple(found) for key, found in listed_by_name.items()}

    @classmethod
    def parse(cls, body: bytes | str) -> RobotsTxt:
        """Parse a robots.txt body. Never raises on content.

        *body* is the response body as bytes (decoded as
        :func:`~scrapy_optout.protocols.text.decode_policy_text` reads policy
        files) or text.
        """
        if not isinstance(body, bytes | bytearray | memoryview | str):
            raise TypeError(f"robots.txt body must be bytes or str, not {type(body).__name__}")
        text, notes, truncated = _decode(bytes(body) if not isinstance(body, str) else body)
        builders: list[_Builder] = []
        sitemaps: list[str] = []
        current: _Builder | None = None
        reading_agents = False  # the last rule-or-agent line was a user-agent line
        for number, raw in enumerate(_LINE_BREAK.split(text), 1):
            line = raw.split("#", 1)[0].strip()
            if not line:
                continue
            parsed = _split_line(line)
            if parsed is None:
                continue  # unknown record: it must not end a group (RFC 9309 §2.2.4)
            key, value = parsed
            if key == "user-agent":
                if current is None or not reading_agents:
                    current = _Builder()
                    builders.append(current)
                    reading_agents = True
                agent = normalise_agent(value)
                if agent is not None:
                    current.agents.append(agent)
                if value:
                    current.names.append(value)
                    current.listed.extend((name, number, value) for name in listed_agents(value))
            elif key in _RULE_KEYS:
                reading_agents = False
                if current is None:
                    continue  # before the first user-agent line: no group (§2.2.2)
                if key == "content-usage":
                    path, preference = _scoped_value(value)
                    current.usage_rules.append(ValueRule(path, preference, printable(line), number))
                elif value:  # "Disallow:" alone is a rule that matches nothing
                    rule = Rule(key == "allow", compile_pattern(value), printable(line), number)
                    current.rules.append(rule)
            elif key == "content-signal":
                if current is not None:
                    path, preference = _scoped_value(value)
                    current.signal_rules.append(
                        ValueRule(path, preference, printable(line), number)
                    )
            elif key == "sitemap" and value:
                sitemaps.append(value)
        return cls([b.build() for b in builders], sitemaps, truncated=truncated, notes=notes)

    def tokens(self) -> frozenset[str]:
        """Every product token a group names, normalised; ``*`` excluded."""
        return frozenset(self._by_token)

    def named_group(self, token: str) -> Group | None:
        """The merged groups that name *token*, or ``None``; never ``*``.

        Pass a product token (see :func:`product_token`), not a whole
        User-Agent string. A valid token is compared, ignoring case, with the
        normalised ``user-agent`` values, so ``User-agent: ExampleBot/2.0``
        names ``ExampleBot``. A token that is not valid (digits, dots,
        spaces: ``img2dataset``, ``Kangaroo Bot``) is compared, ignoring case,
        with the values as written (and their part before a ``/``): its
        normalised form would be another token (``img``), whose group is not
        meant for it. Never a substring match.
        """
        by_token, key = _group_key(token)
        indexes = (self._by_token if by_token else self._by_name).get(key)
        return self._merge(indexes) if indexes else None

    def group_for(self, token: str) -> Group | None:
        """The group that binds a crawler with product token *token*.

        The merged groups naming *token* (see :meth:`named_group`); failing
        that the merged ``*`` groups; ``None`` when neither exists
        (everything is allowed).
        """
        return self.named_group(token) or (self._merge(self._global) if self._global else None)

    def listed_group(self, token: str) -> Group | None:
        """The merged groups that name *token* only through a line naming several agents.

        See :func:`listed_agents`; groups that name *token* the ordinary way
        (:meth:`named_group`) are left out. Pass ``"*"`` for the groups whose
        lines list ``*``. ``None`` when there are none.
        """
        found = self._listed(token)
        return found[0] if found is not None else None

    def _listed(self, token: str) -> tuple[Group, str] | None:
        """:meth:`listed_group` with the note findings give, quoting the first line."""
        token = token.strip()
        by_token, key = (True, "*") if token == "*" else _group_key(token)
        indexes = (self._listed_by_token if by_token else self._listed_by_name).get(key)
        if not indexes:
            return None
        line, value = self._listed_lines[(by_token, key)]
        return self._merge(indexes), listed_note(line, value)

    def allowed(self, url: str, token: str) -> bool:
        """Tell whether a crawler with product token *token* may fetch *url*."""
        group = self.group_for(token)
        return group is None or group.allowed(url)

    def _merge(self, indexes: tuple[int, ...]) -> Group:
        group = self._merged.get(indexes)
        if group is None:
            group = self._merged[indexes] = Group.merge([self.groups[i] for i in indexes])
        return group

    def __repr__(self) -> str:
        return f"<RobotsTxt groups={len(self.groups)} tokens={len(self._by_token)}>"


# -- evaluation ------------------------------------------------------------------------


class _Other:
    """An agent whose group is evaluated apart from the crawler's own group.

    Usually an agent counted for training. ``listed`` is the note to give when
    the group names the agent only on a line naming several (see
    :func:`listed_agents`); ``own`` marks the crawler's own token found that
    way, whose group then reserves every purpose.
    """

    __slots__ = ("agent", "label", "listed", "own")

    def __init__(
        self, label: str, agent: Agent | None, listed: str = "", *, own: bool = False
    ) -> None:
        self.label = label
        self.agent = agent
        self.listed = listed
        self.own = own


class _Listed(NamedTuple):
    """The group naming the crawler only on a line that names several agents."""

    group: Group
    note: str
    label: str


class _Plan:
    """What :func:`evaluate` looks at in one file for one crawler identity."""

    __slots__ = ("label", "listed", "matchers", "note", "others", "own")

    def __init__(
        self,
        own: Group | None,
        label: str,
        others: tuple[tuple[Group, tuple[_Other, ...]], ...],
        listed: _Listed | None = None,
        note: str = "",
    ) -> None:
        self.own = own
        self.label = label
        # The group naming the crawler only on a line naming several agents,
        # with the note to give: it adds its reservations to the own group's.
        self.listed = listed
        # How the file was decoded, when not as plain UTF-8.
        self.note = note
        # Distinct merged groups, each with the training agents it binds.
        self.others = others
        self.matchers = tuple(group._decide for group, _ in others)


_FINDINGS_CACHE_SIZE = 2048


def evaluate(
    robots: RobotsTxt | None,
    url: str,
    *,
    status: int | None,
    error: str | None,
    token: str,
    source: str,
    catalogue: AgentCatalogue | None = None,
    extra_tokens: Iterable[str] = (),
) -> list[Finding]:
    """Return the findings robots.txt gives for fetching and using *url*.

    *robots* is the parsed file (``None`` when there is no body to parse);
    *status* the final HTTP status of its fetch after redirects and *error* a
    short description when the fetch failed (network error, too many
    redirects); *token* the crawler's product token; *source* the robots.txt
    URL. The outcome of the fetch decides first (RFC 9309 §2.3.1):

    * 2xx: the file applies (below). 3xx as final status: nothing to follow,
      read as unavailable.
    * 4xx except 429 ("unavailable"): everything is allowed.
    * 5xx, 429 and network errors ("unreachable"): everything is reserved.
      RFC 9309 §2.3.1.4 requires assuming a complete disallow; 429 is treated
      as Google treats it, like a server error.
    * An error that mentions redirects (more than the crawler follows): read
      as unavailable, as RFC 9309 §2.3.1.2 permits.

    When the file applies:

    * the crawler's own group (its token, else ``*``) disallowing the URL
      reserves every purpose; allowing it gives an ``allow`` finding;
    * the group of an agent in *catalogue* that counts for training (training
      crawlers, dataset builders, AI control tokens such as Google-Extended),
      or of one of *extra_tokens*, that names the agent exactly and disallows
      the URL reserves :attr:`~Purpose.TRAIN` and :attr:`~Purpose.TDM`, one
      finding per agent. This reading is policy, not protocol: robots.txt
      binds only the named crawler, but a site that shuts out training
      crawlers states a training reservation. The ``*`` group never counts
      here, and search or user-triggered agents never count;
    * when the URL is crawlable, the ``Content-Usage`` rule (aipref) and the
      ``Content-Signal`` lines (Cloudflare) of the crawler's own group give
      findings for the purposes they name.

    Without *status* and *error*, a given *robots* applies as if fetched with
    a 2xx status (a stored copy), and without *robots* either there are no
    findings: robots.txt was not consulted.
    """
    if status is None and error is None and robots is not None:
        status = 200  # a parsed file whose fetch status is unknown (a stored copy)
    if error is not None or status is None or not 200 <= status < 300:
        return list(_fetch_outcome(status, error, source))
    if robots is None:
        robots = _EMPTY  # a 2xx response without a body to parse
    if catalogue is None:
        from scrapy_optout.protocols.agents import AgentCatalogue

        catalogue = AgentCatalogue.default()
    extra = extra_tokens if type(extra_tokens) is tuple else tuple(extra_tokens)
    plan_key = (token, catalogue, extra)
    plan = robots._plans.get(plan_key)
    if plan is None:
        plan = robots._plans[plan_key] = _make_plan(robots, token, catalogue, extra)

    readings = _readings_of(url)
    robots_path = readings[0][0] == _ROBOTS_PATH
    own = plan.own
    own_via = None
    if own is None or robots_path:
        own_rule = None
        usage: tuple[ValueRule, ...] = ()
        signals: tuple[ValueRule, ...] = ()
    else:
        own_rule, own_via = own._decide(url, readings)
        if own_rule is not None and not own_rule.allow:
            usage = signals = ()  # not crawlable: no usage preference (attach §3.1)
        else:
            usage = _union(own._usage_for, readings) if own.usage_rules else ()
            signals = _union(own._signals_for, readings) if own.signal_rules else ()
    others = tuple([decide(url, readings) for decide in plan.matchers])
    listed_usage: tuple[ValueRule, ...] = ()
    listed_signals: tuple[ValueRule, ...] = ()
    if plan.listed is not None and not robots_path:
        group = plan.listed.group
        listed_usage = _union(group._usage_for, readings) if group.usage_rules else ()
        listed_signals = _union(group._signals_for, readings) if group.signal_rules else ()
    key = (
        plan,
        source,
        robots_path,
        own_rule,
        own_via,
        others,
        usage,
        signals,
        listed_usage,
        listed_signals,
    )
    cached = robots._findings.get(key)
    if cached is None:
        cached = _findings(
            plan,
            source,
            robots_path,
            own_rule,
            own_via,
            others,
            usage,
            signals,
            listed_usage,
            listed_signals,
        )
        if len(robots._findings) >= _FINDINGS_CACHE_SIZE:
            robots._findings.clear()
        robots._findings[key] = cached
    return list(cached)


_EMPTY = RobotsTxt(())


def _make_plan(
    robots: RobotsTxt, token: str, catalogue: AgentCatalogue, extra: tuple[str, ...]
) -> _Plan:
    own_key = token.strip().lower()
    own = robots.group_for(token)
    label = token.strip() if robots.named_group(token) is not None else "*"
    candidates: list[tuple[str, Agent | None]] = [(a.token, a) for a in catalogue.training_agents()]
    candidates += [(t.strip(), None) for t in extra if t.strip() and t.strip() != "*"]
    by_group: dict[int, tuple[Group, list[_Other]]] = {}

    def add(group: Group, other: _Other) -> None:
        by_group.setdefault(id(group), (group, []))[1].append(other)

    seen: set[str] = set()
    listed: _Listed | None = None
    if robots.groups:
        for name, agent in candidates:
            key = name.lower()
            if key in seen or key == own_key:
                continue  # the crawler's own group is evaluated for every purpose
            seen.add(key)
            group = robots.named_group(name)
            if group is not None:
                add(group, _Other(name, agent))
            found = robots._listed(name)
            if found is not None:
                add(found[0], _Other(name, agent, found[1]))
        # The crawler's own token on a line naming several agents: that group
        # applies besides the one chosen (which may be "*"), any reservation
        # winning, so a listed name can never lift the "*" group's rules.
        own_label = token.strip() or "*"
        found = robots._listed(own_label)
        if found is None and label == "*":
            own_label, found = "*", robots._listed("*")
        if found is not None:
            listed = _Listed(found[0], found[1], own_label)
            add(listed.group, _Other(own_label, None, listed.note, own=True))
    others = tuple((group, tuple(items)) for group, items in by_group.values())
    note = f" [robots.txt {'; '.join(robots.notes)}]" if robots.notes else ""
    return _Plan(own, label, others, listed, note)


def _fetch_outcome(status: int | None, error: str | None, source: str) -> tuple[Finding, ...]:
    """The findings of a fetch that gave no file to apply (not 2xx, or failed)."""
    if error is not None:
        if error.startswith(TOO_MANY_REDIRECTS):
            return (
                _robots_finding(
                    Stance.ALLOW,
                    error,
                    source,
                    f"robots.txt unavailable ({error}): everything allowed; RFC 9309 §2.3.1.2 "
                    "lets a crawler treat a redirect chain longer than it follows as unavailable",
                ),
            )
        return (
            _robots_finding(
                Stance.RESERVE,
                f"unreachable: {error}",
                source,
                f"robots.txt unreachable ({error}): RFC 9309 §2.3.1.4 requires assuming a "
                "complete disallow",
            ),
        )
    if status is None:
        return ()
    if 300 <= status < 400:
        return (
            _robots_finding(
                Stance.ALLOW,
                f"HTTP {status}",
                source,
                f"robots.txt unavailable (HTTP {status}, a redirect with nowhere to go): "
                "everything allowed (RFC 9309 §2.3.1.3)",
            ),
        )
    if 400 <= status < 500 and status != 429:
        return (
            _robots_finding(
                Stance.ALLOW,
                f"HTTP {status}",
                source,
                f"robots.txt unavailable (HTTP {status}): everything allowed (RFC 9309 §2.3.1.3)",
            ),
        )
    if status == 429:
        why = "too many requests, treated like a server error"
    elif 500 <= status < 600:
        why = "server error"
    else:
        why = "unexpected status"
    return (
        _robots_finding(
            Stance.RESERVE,
            f"HTTP {status}",
            source,
            f"robots.txt unreachable (HTTP {status}, {why}): RFC 9309 §2.3.1.4 requires "
            "assuming a complete disallow",
        ),
    )


def _robots_finding(
    stance: Stance,
    rule: str,
    source: str,
    detail: str,
    purposes: frozenset[Purpose] = ALL_PURPOSES,
    agent: str | None = None,
) -> Finding:
    return Finding(Signal.ROBOTS, Where.FILE, stance, purposes, rule, source, detail, agent)


def _findings(
    plan: _Plan,
    source: str,
    robots_path: bool,
    own_rule: Rule | None,
    own_via: tuple[str, str] | None,
    others: tuple[tuple[Rule | None, tuple[str, str] | None], ...],
    usage: tuple[ValueRule, ...],
    signals: tuple[ValueRule, ...],
    listed_usage: tuple[ValueRule, ...] = (),
    listed_signals: tuple[ValueRule, ...] = (),
) -> tuple[Finding, ...]:
    label = plan.label
    found: list[Finding] = []
    if robots_path:
        found.append(
            _robots_finding(
                Stance.ALLOW, "", source, "/robots.txt is always allowed (RFC 9309 §2.2.2)"
            )
        )
    elif plan.own is None:
        found.append(
            _robots_finding(
                Stance.ALLOW, "", source, "no group applies to this crawler: everything allowed"
            )
        )
    elif own_rule is None:
        found.append(
            _robots_finding(
                Stance.ALLOW,
                "",
                source,
                f"no rule of the group for {label} matches: allowed",
                agent=label,
            )
        )
    elif own_rule.allow:
        found.append(
            _robots_finding(
                Stance.ALLOW,
                own_rule.text,
                source,
                f"the group for {label} allows this URL (line {own_rule.line})",
                agent=label,
            )
        )
    else:
        found.append(
            _robots_finding(
                Stance.RESERVE,
                own_rule.text,
                source,
                f"the group for {label} disallows this URL (line {own_rule.line}): "
                f"not to be fetched at all{_via(own_via)}",
                agent=label,
            )
        )

    for (_, agents), (rule, via) in zip(plan.others, others, strict=True):
        if rule is None or rule.allow:
            continue
        for other in agents:
            if other.own:
                detail = (
                    f"the group for {other.label} disallows this URL (line {rule.line}): "
                    "not to be fetched at all"
                )
            else:
                detail = (
                    f"the group for {other.label} ({_describe(other.agent)}) disallows this "
                    f"URL (line {rule.line}); read as a reservation for AI training"
                )
            found.append(
                _robots_finding(
                    Stance.RESERVE,
                    rule.text,
                    source,
                    f"{detail}{_via(via)}; {other.listed}" if other.listed else detail + _via(via),
                    ALL_PURPOSES if other.own else TRAINING_PURPOSES,
                    other.label,
                )
            )

    if usage:
        found.extend(_usage_findings(usage, source, label))
    if signals:
        found.extend(_signal_findings(signals, source, label))
    if plan.listed is not None and (listed_usage or listed_signals):
        found.extend(_listed_values(listed_usage, listed_signals, source, plan.listed))
    if plan.note:
        return tuple(replace(f, detail=f.detail + plan.note) for f in found)
    return tuple(found)


def _listed_values(
    usage: tuple[ValueRule, ...], signals: tuple[ValueRule, ...], source: str, listed: _Listed
) -> list[Finding]:
    """The reserving ``Content-Usage`` and ``Content-Signal`` lines of the
    group that names the crawler only on a line naming several agents.

    Only reservations count: that group adds to the crawler's own, it never
    lifts what the own group reserves.
    """
    found = _usage_findings(usage, source, listed.label) if usage else []
    if signals:
        found += _signal_findings(signals, source, listed.label)
    return [
        replace(f, detail=f"{f.detail}; {listed.note}") for f in found if f.stance is Stance.RESERVE
    ]


def _describe(agent: Agent | None) -> str:
    if agent is None or agent.configured:
        return "agent configured to count for training"
    kinds = {
        "training": "AI training crawler",
        "dataset": "dataset builder",
        "control": "AI training control token",
    }
    what = kinds.get(agent.category, "agent counted for training")
    return f"{what} of {agent.operator}" if agent.operator else what


def _usage_findings(rules: tuple[ValueRule, ...], source: str, label: str) -> list[Finding]:
    """Findings for the ``Content-Usage`` lines chosen for a URL.

    Each line is read by :mod:`scrapy_optout.protocols.aipref` and reported on
    its own. Several lines only come together when their paths are equally
    long, and then a disallow must win (draft-ietf-aipref-vocab §5.1), which
    is what combining findings does anyway.
    """
    from scrapy_optout.protocols import aipref

    found: list[Finding] = []
    for rule in rules:
        for finding in aipref.findings_for_value(
            rule.value, where=Where.FILE, rule=rule.text, source=source
        ):
            found.append(_in_group(finding, rule, label))
    return found


def _signal_findings(rules: tuple[ValueRule, ...], source: str, label: str) -> list[Finding]:
    """Findings for the ``Content-Signal`` lines that cover a URL.

    Each line is read by :mod:`scrapy_optout.protocols.content_signal`. Every
    line that covers the URL counts, a path-scoped one included, so a ``no``
    anywhere wins over a ``yes``: Cloudflare defines no precedence, and the
    most restrictive reading is the safe one.
    """
    from scrapy_optout.protocols import content_signal

    found: list[Finding] = []
    for rule in rules:
        for finding in content_signal.findings([rule.value], where=Where.FILE, source=source):
            found.append(_in_group(finding, rule, label))
    return found


def _in_group(finding: Finding, rule: ValueRule, label: str) -> Finding:
    """Quote the robots.txt line as written and say which group it is in."""
    detail = f"line {rule.line}, group for {label}: {finding.detail}"
    return replace(finding, rule=rule.text, detail=detail, agent=label)
