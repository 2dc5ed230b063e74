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
* **Encoding.** Bytes are decoded as UTF-8, invalid sequences replaced; a
  UTF-8 byte order mark, whole or cut short, is skipped.
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
* **Matching** (RFC 9309 §2.2.2, §2.2.3) uses :mod:`scrapy_optout.signals.patterns`:
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
from typing import TYPE_CHECKING, Literal

from scrapy_optout.signals.patterns import (
    Pattern,
    Reading,
    Rules,
    compile_pattern,
    path_readings,
)
from scrapy_optout.verdict import ALL_PURPOSES, Finding, Purpose, Signal, Stance, Where

if TYPE_CHECKING:
    from scrapy_optout.signals.agents import Agent, AgentCatalogue

__all__ = [
    "MAX_BYTES",
    "TRAINING_PURPOSES",
    "Group",
    "RobotsTxt",
    "Rule",
    "ValueRule",
    "evaluate",
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

_BOM = b"\xef\xbb\xbf"
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
    ``Content-Signal`` lines, all in file order.
    """

    __slots__ = (
        "_table",
        "_unscoped_signals",
        "agents",
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
    ) -> None:
        self.agents = tuple(dict.fromkeys(agents))
        self.names = tuple(dict.fromkeys(names))
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

    __slots__ = ("agents", "names", "rules", "signal_rules", "usage_rules")

    def __init__(self) -> None:
        self.agents: list[str] = []
        self.names: list[str] = []
        self.rules: list[Rule] = []
        self.usage_rules: list[ValueRule] = []
        self.signal_rules: list[ValueRule] = []

    def build(self) -> Group:
        return Group(self.agents, self.rules, self.usage_rules, self.signal_rules, self.names)


def _decode(body: bytes | str) -> tuple[str, bool]:
    """Return the text to parse and whether the size limit cut the file."""
    data = body.encode("utf-8", "surrogatepass") if isinstance(body, str) else bytes(body)
    # Skip a byte order mark, also when only its first bytes are there (as
    # Google does); a broken one then fails only the first line.
    for size in (3, 2, 1):
        if data.startswith(_BOM[:size]):
            data = data[size:]
            break
    truncated = len(data) > MAX_BYTES
    if truncated:
        data = data[:MAX_BYTES]
        # Drop the line the limit cut through, unless the cut fell on a break.
        if data[-1:] not in (b"\n", b"\r"):
            cut = max(data.rfind(b"\n"), data.rfind(b"\r"))
            data = data[: cut + 1]
    return data.decode("utf-8", "replace"), truncated


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
    :data:`MAX_BYTES` and its end was ignored.
    """

    __slots__ = (
        "_by_name",
        "_by_token",
        "_findings",
        "_global",
        "_merged",
        "_plans",
        "groups",
        "sitemaps",
        "truncated",
    )

    def __init__(
        self, groups: Sequence[Group], sitemaps: Sequence[str] = (), *, truncated: bool = False
    ) -> None:
        self.groups = tuple(groups)
        self.sitemaps = tuple(sitemaps)
        self.truncated = truncated
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
        self._global = tuple(by_token.pop("*", ()))
        self._by_token = {token: tuple(indexes) for token, indexes in by_token.items()}
        self._by_name = {name: tuple(indexes) for name, indexes in by_name.items()}
        # Merged groups by the indexes they merge, so that tokens named in the
        # same groups share one Group (and one evaluation per URL).
        self._merged: dict[tuple[int, ...], Group] = {}
        self._plans: dict[tuple[object, ...], _Plan] = {}
        self._findings: dict[tuple[object, ...], tuple[Finding, ...]] = {}

    @classmethod
    def parse(cls, body: bytes | str) -> RobotsTxt:
        """Parse a robots.txt body. Never raises on content.

        *body* is the response body as bytes (decoded as UTF-8) or text.
        """
        if not isinstance(body, bytes | bytearray | memoryview | str):
            raise TypeError(f"robots.txt body must be bytes or str, not {type(body).__name__}")
        text, truncated = _decode(bytes(body) if not isinstance(body, str) else body)
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
            elif key in _RULE_KEYS:
                reading_agents = False
                if current is None:
                    continue  # before the first user-agent line: no group (§2.2.2)
                if key == "content-usage":
                    path, preference = _scoped_value(value)
                    current.usage_rules.append(ValueRule(path, preference, line, number))
                elif value:  # "Disallow:" alone is a rule that matches nothing
                    rule = Rule(key == "allow", compile_pattern(value), line, number)
                    current.rules.append(rule)
            elif key == "content-signal":
                if current is not None:
                    path, preference = _scoped_value(value)
                    current.signal_rules.append(ValueRule(path, preference, line, number))
            elif key == "sitemap" and value:
                sitemaps.append(value)
        return cls([b.build() for b in builders], sitemaps, truncated=truncated)

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
    """An agent whose group is evaluated for training purposes."""

    __slots__ = ("agent", "label")

    def __init__(self, label: str, agent: Agent | None) -> None:
        self.label = label
        self.agent = agent


class _Plan:
    """What :func:`evaluate` looks at in one file for one crawler identity."""

    __slots__ = ("label", "matchers", "others", "own")

    def __init__(
        self,
        own: Group | None,
        label: str,
        others: tuple[tuple[Group, tuple[_Other, ...]], ...],
    ) -> None:
        self.own = own
        self.label = label
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
        from scrapy_optout.signals.agents import AgentCatalogue

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
    key = (plan, source, robots_path, own_rule, own_via, others, usage, signals)
    cached = robots._findings.get(key)
    if cached is None:
        cached = _findings(plan, source, robots_path, own_rule, own_via, others, usage, signals)
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
    seen: set[str] = set()
    if robots.groups:
        for name, agent in candidates:
            key = name.lower()
            if key in seen or key == own_key:
                continue  # the crawler's own group is evaluated for every purpose
            seen.add(key)
            group = robots.named_group(name)
            if group is None:
                continue
            entry = by_group.setdefault(id(group), (group, []))
            entry[1].append(_Other(name, agent))
    others = tuple((group, tuple(items)) for group, items in by_group.values())
    return _Plan(own, label, others)


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
            found.append(
                _robots_finding(
                    Stance.RESERVE,
                    rule.text,
                    source,
                    f"the group for {other.label} ({_describe(other.agent)}) disallows this URL "
                    f"(line {rule.line}); read as a reservation for AI training{_via(via)}",
                    TRAINING_PURPOSES,
                    other.label,
                )
            )

    if usage:
        found.extend(_usage_findings(usage, source, label))
    if signals:
        found.extend(_signal_findings(signals, source, label))
    return tuple(found)


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

    Each line is read by :mod:`scrapy_optout.signals.aipref` and reported on
    its own. Several lines only come together when their paths are equally
    long, and then a disallow must win (draft-ietf-aipref-vocab §5.1), which
    is what combining findings does anyway.
    """
    from scrapy_optout.signals import aipref

    found: list[Finding] = []
    for rule in rules:
        for finding in aipref.findings_for_value(
            rule.value, where=Where.FILE, rule=rule.text, source=source
        ):
            found.append(_in_group(finding, rule, label))
    return found


def _signal_findings(rules: tuple[ValueRule, ...], source: str, label: str) -> list[Finding]:
    """Findings for the ``Content-Signal`` lines that cover a URL.

    Each line is read by :mod:`scrapy_optout.signals.content_signal`. Every
    line that covers the URL counts, a path-scoped one included, so a ``no``
    anywhere wins over a ``yes``: Cloudflare defines no precedence, and the
    most restrictive reading is the safe one.
    """
    from scrapy_optout.signals import content_signal

    found: list[Finding] = []
    for rule in rules:
        for finding in content_signal.findings([rule.value], where=Where.FILE, source=source):
            found.append(_in_group(finding, rule, label))
    return found


def _in_group(finding: Finding, rule: ValueRule, label: str) -> Finding:
    """Quote the robots.txt line as written and say which group it is in."""
    detail = f"line {rule.line}, group for {label}: {finding.detail}"
    return replace(finding, rule=rule.text, detail=detail, agent=label)
