"""The robots.txt file: its groups and rules, parsed, and matching a URL against them.

See :mod:`scrapy_optout.protocols.robots` for how lines, groups, product tokens
and paths are read. :class:`RobotsTxt` is one parsed file, :class:`Group` the
rules that bind a set of product tokens, :class:`Rule` an ``allow`` or
``disallow`` line and :class:`ValueRule` a ``Content-Usage`` or
``Content-Signal`` line. Which groups bind a crawler, and what that means for
a URL, is :mod:`scrapy_optout.protocols.robots.evaluation`.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Sequence
from typing import Any, Literal

from scrapy_optout.protocols.patterns import (
    Pattern,
    Reading,
    Rules,
    compile_pattern,
    path_readings,
)
from scrapy_optout.protocols.product_tokens import (
    listed_agents,
    listed_note,
    name_key,
    normalise_agent,
    single_name,
    valid_product_token,
)
from scrapy_optout.protocols.text import PolicyText, decode_policy_text, printable
from scrapy_optout.verdict import Finding

__all__ = [
    "MAX_BYTES",
    "ROBOTS_PATH",
    "Group",
    "RobotsTxt",
    "Rule",
    "ValueRule",
    "lines_covering",
    "readings_of",
]

#: How much of a robots.txt file is parsed, in bytes (500 KiB, RFC 9309 §2.5).
MAX_BYTES = 512_000
#: The path of the file itself, which every crawler may fetch (RFC 9309 §2.2.2).
ROBOTS_PATH = "/robots.txt"

_LINE_BREAK = re.compile(r"\r\n|\r|\n")
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


def readings_of(url: str) -> tuple[Reading, ...] | tuple[tuple[str, str]]:
    """The readings of *url* (a URL or a path), canonical path first; see :func:`path_readings`."""
    plain = _PLAIN_URL(url)
    if plain is not None:
        path: str = plain[1]
        if ";" not in path and "//" not in path and "/." not in path:
            return ((path, ""),)
    return path_readings(url)


def _pattern_matches(pattern: Pattern, path: str) -> bool:
    """Match a compiled pattern against a path that is already normalised."""
    prefix = pattern.plain_prefix
    return path.startswith(prefix) if prefix is not None else pattern._matches_normalised(path)


def _disallows(rule: Rule) -> bool:
    return not rule.allow


def lines_covering(
    lines_for: Callable[[str], tuple[ValueRule, ...]], readings: Sequence[tuple[str, str]]
) -> tuple[ValueRule, ...]:
    """The value lines that cover any reading, each once: a ``no`` for any reading counts."""
    if len(readings) == 1:
        return lines_for(readings[0][0])
    return tuple(dict.fromkeys(line for reading in readings for line in lines_for(reading[0])))


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
        return self._decide(url, readings_of(url))[0]

    def allowed(self, url: str) -> bool:
        """Tell whether this group lets a crawler fetch *url*.

        Every reading of the URL counts (see :func:`path_readings`): it is
        disallowed when any of them is.
        """
        readings = readings_of(url)
        if readings[0][0] == ROBOTS_PATH:
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
        return lines_covering(self._usage_for, readings_of(url))

    def content_signal(self, url: str) -> tuple[ValueRule, ...]:
        """The ``Content-Signal`` lines that cover *url*, most specific first.

        A line may be scoped to a path (``Content-Signal: /blog/ ai-train=no``,
        a form several tools implement); a line without a path covers the
        whole site. :func:`evaluate` counts every line returned, so a ``no``
        wins over a ``yes`` whatever their paths.
        """
        return lines_covering(self._signals_for, readings_of(url))

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
            table.share(self.rules)  # most groups are written in that order already
        return table

    def _match_path(self, path: str) -> Rule | None:
        return self._rules().first(path)

    def _decide(
        self, url: str, readings: Sequence[tuple[str, str]]
    ) -> tuple[Rule | None, tuple[str, str] | None]:
        """The rule deciding *url* and the reading it matched, if not the literal one.

        Disallowed when any reading is (see :meth:`Rules.decide`).
        """
        table = self._table
        return (table if table is not None else self._rules()).decide(url, readings, _disallows)

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


@functools.lru_cache(maxsize=4096)
def _group_key(token: str) -> tuple[bool, str]:
    """How :meth:`RobotsTxt.named_group` looks *token* up: by token, or by name."""
    token = token.strip()
    if valid_product_token(token):
        return True, token.lower()
    return False, name_key(token)


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
        "__weakref__",
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
                key = name_key(name)
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
        # What robots.evaluation looks at per crawler identity, and the findings
        # it gave per outcome: a file is evaluated for many URLs.
        self._plans: dict[tuple[object, ...], Any] = {}
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
                if name == "*" or single_name(name):
                    keys.append((True, normalise_agent(name) or name))
                if name != "*":
                    key = name_key(name)
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
