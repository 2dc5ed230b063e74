"""Spawning's ``/ai.txt``: robots.txt syntax, read as a statement about AI training.

Spawning proposed ``/ai.txt`` in 2023 as a robots.txt look-alike that a dataset
builder reads when it *downloads* media, from the host that serves the media.
Its generator writes ``User-Agent: *`` followed by file-type rules such as
``Disallow: *.jpg``, and usually ends with ``Disallow: /`` and ``Disallow: *``.
There is no specification beyond that; this module reads the file the way the
specs digest (``ai-txt.md`` §3) recommends:

* the group for the crawler's product token is used, else the ``*`` group
  (a specific group is never merged with ``*``), as in RFC 9309;
* rules are robots path patterns (:mod:`scrapy_optout.protocols.patterns`):
  ``*.jpg`` is "``.jpg`` anywhere in the path", so it also matches
  ``/a.jpg?w=200`` and ``/a.jpgx`` but not ``/a.JPG``; no ``$`` is implied;
* the longest matching pattern wins, and ``Allow`` wins a tie;
* a ``Disallow`` that wins reserves the asset for training; an ``Allow`` that
  wins allows it; no matching rule means ai.txt says nothing about it.

ai.txt governs use for training, not fetching, so findings bear on the
``train`` purpose only. Many ``/ai.txt`` URLs answer with something else: an
HTML app shell, a Markdown "AI instructions" page, JSON, prose, or home-made
``Key: value`` vocabularies (``Disallow-Training: /``, ``AI-Training: no``).
Those are reported as "not an ai.txt" with the reason; they are never read as
reservations, and neither is a failed fetch. Keys are matched exactly (not by
Google's prefix rule), so ``Disallow-Training`` is not read as ``Disallow``.

The body is decoded as every policy file is
(:func:`scrapy_optout.protocols.text.decode_policy_text`: UTF-16 and UTF-32,
NUL padding, raw octets), and a ``User-Agent`` line that names several agents
against RFC 9309's one-token rule (``GPTBot, CCBot``) lists the others as
robots.txt does (:func:`scrapy_optout.protocols.product_tokens.listed_agents`):
a group that names the crawler only that way adds its winning ``Disallow`` to
the verdict of the group chosen the ordinary way, never its ``Allow``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass

from scrapy_optout.protocols.patterns import Pattern, Rules, compile_pattern, path_readings
from scrapy_optout.protocols.product_tokens import listed_agents, listed_note
from scrapy_optout.protocols.text import decode_policy_text, looks_binary, printable
from scrapy_optout.verdict import Finding, Purpose, Signal, Stance, Where

__all__ = ["PURPOSES", "AiTxt", "AiTxtGroup", "AiTxtRule", "evaluate"]

#: What an ai.txt rule speaks about.
PURPOSES: frozenset[Purpose] = frozenset({Purpose.TRAIN})

#: Bytes of an ai.txt that are parsed; the rest is ignored, as RFC 9309 §2.5
#: allows for robots.txt (whose floor is 500 KiB).
MAX_BYTES = 512 * 1024

_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_PRODUCT_TOKEN = re.compile(r"[A-Za-z_-]*")
# A markup line near the top: an app shell, an error page, a soft 404. (No
# robots-style line starts with "<", so this cannot hide a real rule.)
_MARKUP = re.compile(r"^[ \t]*<(!doctype|html|head|body|meta|title|script|!--|\?xml)", re.I | re.M)
_MARKDOWN = re.compile(r"^(?:#{2,6}\s|\s*[-*+]\s|\s*\d+\.\s|```)|\*\*|\]\(")


@dataclass(frozen=True, slots=True)
class AiTxtRule:
    """One ``Allow`` or ``Disallow`` line; ``line`` is the line as written."""

    allow: bool
    pattern: Pattern
    line: str
    lineno: int


@dataclass(frozen=True, slots=True)
class AiTxtGroup:
    """A run of ``User-Agent`` lines and the rules that follow them.

    ``agents`` holds the product tokens, lower-cased, with ``*`` for the
    group that applies to every crawler. ``listed`` holds the other agents
    its lines name against the one-token rule, each as ``(token, line number,
    value)``.
    """

    agents: tuple[str, ...]
    rules: tuple[AiTxtRule, ...]
    listed: tuple[tuple[str, int, str], ...] = ()


class AiTxt:
    """A parsed ``/ai.txt``.

    ``error`` is ``None`` when the body is a robots-style ai.txt with at least
    one rule; otherwise it says why the body is not one, and ``groups`` may be
    empty. A file with an error gives no signal. ``notes`` say how the file
    was decoded when it was not plain UTF-8.
    """

    __slots__ = ("__weakref__", "_indexes", "_listed_indexes", "error", "groups", "notes")

    def __init__(
        self,
        groups: Sequence[AiTxtGroup] = (),
        error: str | None = None,
        notes: Sequence[str] = (),
    ) -> None:
        self.groups: tuple[AiTxtGroup, ...] = tuple(groups)
        self.error: str | None = error
        self.notes: tuple[str, ...] = tuple(notes)
        # The rules for a token, ready for matching, by product token; the
        # same for the rules of groups that list it (with the note to give).
        self._indexes: dict[str, Rules[AiTxtRule] | None] = {}
        self._listed_indexes: dict[str, tuple[Rules[AiTxtRule] | None, str] | None] = {}

    def __repr__(self) -> str:
        return f"AiTxt(groups={len(self.groups)}, error={self.error!r})"

    @classmethod
    def parse(cls, body: bytes, *, content_type: str | None = None) -> AiTxt:
        """Parse an ai.txt body. Never raises: a body that is not one sets ``error``.

        The body decides what the file is; *content_type* is only quoted in
        the error, so a robots-style file served with the wrong type is
        still read, and an HTML shell served as ``text/plain`` is still HTML.
        """
        labelled = f" (Content-Type: {content_type})" if content_type else ""
        text, notes, _ = decode_policy_text(body, limit=MAX_BYTES)
        if not text.strip():
            return cls(error=f"body is empty{labelled}", notes=notes)
        if looks_binary(text):
            return cls(error=f"body is binary, not text{labelled}", notes=notes)
        head = text[:4096]
        markup = _MARKUP.search(head)
        if markup is not None:
            kind = "XML" if markup.group(1) == "?xml" else "HTML"
            return cls(error=f"body is {kind}, not robots-style lines{labelled}", notes=notes)
        if head.lstrip().startswith(("{", "[")) and _is_json(text):
            return cls(error=f"body is JSON, not robots-style lines{labelled}", notes=notes)
        parsed = _Parser(text).result()
        return cls(parsed.groups, parsed.error, notes) if notes else parsed

    def rules_for(self, token: str) -> tuple[AiTxtRule, ...] | None:
        """Return the rules that apply to *token*, or ``None`` if no group does.

        Groups naming the token (case-insensitively, the whole token) are
        merged; only if there is none are the ``*`` groups used.
        """
        wanted = _product_token(token)
        specific = [g for g in self.groups if wanted and wanted in g.agents]
        chosen = specific or [g for g in self.groups if "*" in g.agents]
        if not chosen:
            return None
        return tuple(rule for group in chosen for rule in group.rules)

    def listed_rules(self, token: str) -> tuple[tuple[AiTxtRule, ...], str] | None:
        """The rules of the groups that name *token* only on a line naming several agents.

        Groups that name it the ordinary way are left out; when none does,
        the groups listing ``*`` count too, as ``*`` would. Returns the rules
        and the note findings give, or ``None``.
        """
        wanted = _product_token(token)
        specific = [g for g in self.groups if wanted and wanted in g.agents]
        chosen = {id(g) for g in specific or [g for g in self.groups if "*" in g.agents]}
        keys = (wanted,) if specific else (wanted, "*")
        rules: list[AiTxtRule] = []
        first: tuple[str, int, str] | None = None
        for group in self.groups:
            if id(group) in chosen:
                continue
            entry = next((e for e in group.listed if e[0] in keys), None)
            if entry is not None:
                first = first or entry
                rules.extend(group.rules)
        if first is None:
            return None
        return tuple(rules), listed_note(first[1], first[2])

    def match(self, url_or_path: str, token: str) -> AiTxtRule | None:
        """Return the rule that decides *url_or_path* for *token*, if any.

        Longest pattern wins; on a tie ``Allow`` wins. Every reading of the
        URL counts (:func:`~scrapy_optout.protocols.patterns.path_readings`): a
        ``Disallow`` that wins for any of them decides.
        """
        return self.decide(url_or_path, token)[0]

    def decide(
        self, url_or_path: str, token: str
    ) -> tuple[AiTxtRule | None, tuple[str, str] | None]:
        """:meth:`match`, with the reading that matched when it is not the literal one."""
        index = self._index_for(token)
        if index is None:
            return None, None
        return index.decide(url_or_path, path_readings(url_or_path), _disallows)

    def is_path_independent(self, token: str) -> bool:
        """Whether :func:`evaluate` gives every URL the same findings for *token*.

        True for a file that is not an ai.txt (it says nothing anywhere) and
        when neither the group for *token* nor the groups that list it hold a
        rule, or one rule covering everything outranks the others in each
        (``Disallow: /`` alone, or ``Disallow: *`` before longer rules).
        """
        if self.error is not None:
            return True
        index = self._index_for(token)
        listed = self._listed_index(token)
        return (index is None or index.fixed()[0]) and (
            listed is None or listed[0] is None or listed[0].fixed()[0]
        )

    def _index_for(self, token: str) -> Rules[AiTxtRule] | None:
        key = _product_token(token)
        if key in self._indexes:
            return self._indexes[key]
        index = self._indexes[key] = _index(self.rules_for(token))
        return index

    def _listed_index(self, token: str) -> tuple[Rules[AiTxtRule] | None, str] | None:
        """:meth:`listed_rules` ready for matching, kept per token."""
        key = _product_token(token)
        if key in self._listed_indexes:
            return self._listed_indexes[key]
        listed = self.listed_rules(token)
        found = self._listed_indexes[key] = (
            (_index(listed[0]), listed[1]) if listed is not None else None
        )
        return found


def _index(rules: Sequence[AiTxtRule] | None) -> Rules[AiTxtRule] | None:
    """*rules* ready for matching: the longest pattern decides, ``Allow`` on a tie."""
    ordered = sorted(rules or (), key=lambda r: (-r.pattern.length, not r.allow))
    return Rules([(r.pattern, r) for r in ordered]) if ordered else None


def _disallows(rule: AiTxtRule) -> bool:
    return not rule.allow


def evaluate(
    aitxt: AiTxt | None,
    url: str,
    *,
    status: int | None,
    error: str | None,
    token: str,
    source: str,
) -> list[Finding]:
    """Findings of ai.txt for *url*, given how fetching the file went.

    *status* is the final HTTP status of ``/ai.txt`` (``None`` when unknown,
    e.g. for a stored capture) and *error* a network error message, if any;
    *token* is the crawler's product token and *source* the ai.txt URL.

    A winning ``Disallow`` reserves the ``train`` purpose and a winning
    ``Allow`` allows it. A missing file, a failed fetch or a body that is not
    an ai.txt gives one ``unknown`` finding saying so. No group for the token
    and no matching rule give no finding: the file says nothing about *url*.
    A group that names the token only on a line naming several agents adds
    a finding when its winning rule is a ``Disallow`` (see
    :meth:`AiTxt.listed_rules`).
    """
    if error is not None:
        return [_unknown(f"ai.txt not available ({error})", source)]
    if status is not None and not 200 <= status < 300:
        return [_unknown(f"ai.txt not available (HTTP {status})", source)]
    if aitxt is None:
        return [_unknown("ai.txt not available (no body)", source)]
    if aitxt.error is not None:
        return [_unknown(f"not an ai.txt: {aitxt.error}", source)]
    wanted = _product_token(token)
    note = f" [ai.txt {'; '.join(aitxt.notes)}]" if aitxt.notes else ""
    found: list[Finding] = []
    rule, via = aitxt.decide(url, token)
    if rule is not None:
        named = any(wanted and wanted in group.agents for group in aitxt.groups)
        if rule.allow:
            stance, detail = Stance.ALLOW, "ai.txt allows use for AI training"
        else:
            stance, detail = Stance.RESERVE, "ai.txt disallows use for AI training"
        found.append(
            Finding(
                Signal.AITXT,
                Where.FILE,
                stance,
                PURPOSES,
                rule.line,
                source,
                f"{detail} (line {rule.lineno}){_via(via)}{note}",
                agent=wanted if named else "*",
            )
        )
    listed = aitxt._listed_index(token)
    index = listed[0] if listed is not None else None
    extra, extra_via = (
        index.decide(url, path_readings(url), _disallows) if index is not None else (None, None)
    )
    if listed is not None and extra is not None and not extra.allow:
        found.append(
            Finding(
                Signal.AITXT,
                Where.FILE,
                Stance.RESERVE,
                PURPOSES,
                extra.line,
                source,
                f"ai.txt disallows use for AI training (line {extra.lineno}){_via(extra_via)};"
                f" {listed[1]}{note}",
                agent=wanted or "*",
            )
        )
    return found


def _via(reading: tuple[str, str] | None) -> str:
    return f"; matched as {reading[0]} after {reading[1]}" if reading is not None else ""


def _unknown(detail: str, source: str) -> Finding:
    return Finding(Signal.AITXT, Where.FILE, Stance.UNKNOWN, PURPOSES, "", source, detail)


def _product_token(value: str) -> str:
    """The product token at the start of *value*, lower-cased (Google's reading).

    ``ExampleBot/2.0`` and ``ExampleBot`` are the same crawler; a value that
    starts with ``*`` is the group for every crawler.
    """
    value = value.strip()
    if value.startswith("*"):
        return "*"
    token = _PRODUCT_TOKEN.match(value)
    return token.group().lower() if token else ""


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except (ValueError, RecursionError):
        return False
    return True


class _Parser:
    """Group the lines of a robots-style file (RFC 9309 §2.1, §2.2).

    A group is a run of ``User-Agent`` lines and the rules after it; a
    ``User-Agent`` line that follows a rule starts the next group. Other
    fields (``Sitemap``, ``License``...) are skipped without ending a group,
    and rules before the first ``User-Agent`` belong to no group. Whatever is
    not understood is remembered, to explain a file with no rules.
    """

    def __init__(self, text: str) -> None:
        self.groups: list[AiTxtGroup] = []
        self.agents: list[str] = []
        self.listed: list[tuple[str, int, str]] = []
        self.rules: list[AiTxtRule] = []
        self.user_agent_lines = 0
        self.orphan_rules = 0
        self.other_fields: dict[str, None] = {}  # ordered set of unknown keys
        self.prose_lines = 0
        self.markdown = False
        for lineno, raw in enumerate(_LINE_BREAK.split(text), start=1):
            self._line(lineno, raw)
        self._close_group()

    def _line(self, lineno: int, raw: str) -> None:
        if _MARKDOWN.search(raw):
            self.markdown = True
        line = raw.split("#", 1)[0].strip()
        if not line:
            return
        key, colon, value = line.partition(":")
        key = key.strip()
        if not colon or not key:
            self.prose_lines += 1
            return
        field = key.lower()
        value = value.strip()
        if field == "user-agent":
            self.user_agent_lines += 1
            if self.rules:  # a user-agent line after rules starts a new group
                self._close_group()
            self.agents.append(_product_token(value))
            for name in listed_agents(value):
                token = _product_token(name)
                if token:
                    self.listed.append((token, lineno, value))
        elif field in ("allow", "disallow"):
            if not self.agents:
                self.orphan_rules += 1
                return
            rule = AiTxtRule(field == "allow", compile_pattern(value), printable(line), lineno)
            self.rules.append(rule)
        elif " " in key:
            self.prose_lines += 1  # "Note: ..." style sentences, not a field name
        else:
            self.other_fields.setdefault(printable(key))

    def _close_group(self) -> None:
        if self.agents:
            listed = tuple(entry for entry in self.listed if entry[0] not in self.agents)
            self.groups.append(AiTxtGroup(tuple(self.agents), tuple(self.rules), listed))
        self.agents, self.listed, self.rules = [], [], []

    def result(self) -> AiTxt:
        if any(group.rules for group in self.groups):
            return AiTxt(self.groups)
        return AiTxt(self.groups, self._why_not())

    def _why_not(self) -> str:
        fields = ", ".join(list(self.other_fields)[:6])
        if len(self.other_fields) > 6:
            fields += ", ..."
        if self.markdown:
            return "body is Markdown (an AI-instructions file), not robots-style lines"
        if self.orphan_rules:
            return "Allow/Disallow lines come before any User-Agent line, so they apply to no one"
        if self.user_agent_lines:
            if fields:
                return (
                    f"User-Agent lines but no Allow or Disallow rules; fields {fields} "
                    "are not part of Spawning's robots-style format"
                )
            return "User-Agent lines but no Allow or Disallow rules"
        if fields:
            return (
                f"no User-Agent, Allow or Disallow lines; fields {fields} "
                "are a home-made vocabulary, not Spawning's robots-style format"
            )
        if self.prose_lines:
            return "no robots-style lines (prose or another format)"
        return "only comments, no rules"
