"""How one robots.txt is read for one crawler identity: its plan.

A :class:`Plan` is worked out once per parsed file and identity, and kept on
the file: the crawler's own group (its token, else ``*``), the group that
lists it on a line naming several agents, and the groups of the agents in the
:class:`~scrapy_optout.protocols.agents.AgentCatalogue` that count for
training; which of their decisions cannot depend on the URL; and, when the
groups are a few plain prefixes, one table that decides a path by the longest
prefix it starts with. :mod:`~scrapy_optout.protocols.robots.evaluation`
turns a plan and a URL into findings.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import NamedTuple

from scrapy_optout.protocols.agents import Agent, AgentCatalogue
from scrapy_optout.protocols.patterns import Rules
from scrapy_optout.protocols.robots.parsing import Group, RobotsTxt, Rule, _group_key

__all__ = ["EMPTY", "Listed", "Other", "Plan", "plan_for"]


class Other:
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


class Listed(NamedTuple):
    """The group naming the crawler only on a line that names several agents."""

    group: Group
    note: str
    label: str


class Plan:
    """What :func:`evaluate` looks at in one file for one crawler identity.

    ``fixed_others`` holds the decisions of the other agents' groups when
    none of them depends on the URL (see :meth:`Rules.fixed`), so that they
    are not matched again for every URL; ``path_independent`` tells whether
    nothing the plan looks at depends on the URL, ``/robots.txt`` aside.
    """

    __slots__ = (
        "fixed_others",
        "groups",
        "label",
        "listed",
        "note",
        "others",
        "own",
        "path_independent",
        "quick",
    )

    def __init__(
        self,
        own: Group | None,
        label: str,
        others: tuple[tuple[Group, tuple[Other, ...]], ...],
        listed: Listed | None = None,
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
        # The groups matched for each URL (no bound methods: objects the collector walks).
        self.groups = tuple(group for group, _ in others)
        fixed = [group._rules().fixed() for group, _ in others]
        self.fixed_others: tuple[tuple[Rule | None, None], ...] | None = (
            tuple((rule, None) for _, rule in fixed) if all(known for known, _ in fixed) else None
        )
        # The groups' decisions by one table, for a URL with one reading and no
        # escapes, when each group is a few plain prefixes (the crawler's own
        # group first, when it has one, then those whose decisions are not
        # fixed): see _quick_table.
        self.quick: _Quick | None = None
        groups = [own] if own is not None else []
        if self.fixed_others is None:
            groups += [group for group, _ in others]
        indexes = [group._rules() for group in groups]
        tables = [index.prefixes() for index in indexes]
        if all(table is not None for table in tables):
            prefixes = {prefix for table in tables if table is not None for prefix in table[0]}
            self.quick = _quick_table(indexes, prefixes)
        self.path_independent = (
            self.fixed_others is not None
            and (own is None or (own._rules().fixed()[0] and _covers_all(own)))
            and (listed is None or _covers_all(listed.group))
        )


_Decision = tuple["Rule | None", None]
#: Distinct prefix lengths (longest first), the decisions of every group by
#: the longest prefix a path starts with, and the decisions when it starts
#: with none.
_Quick = tuple[tuple[int, ...], dict[str, tuple[_Decision, ...]], tuple[_Decision, ...]]
#: A quick table is built when it holds at most this many decisions.
_QUICK_CELLS = 4096


def _quick_table(indexes: list[Rules[Rule]], prefixes: set[str]) -> _Quick | None:
    """The decisions of groups made of plain prefixes (*indexes*, all of whose *prefixes* they are).

    A group's decision for a path is the rule of its first prefix the path
    starts with. Of the prefixes of all the groups, a path starts with those
    that its longest one starts with (each is a prefix of the path, so the
    shorter of two is a prefix of the longer): the decisions of every group
    for a path are their decisions for that longest prefix, worked out here
    once, and a path is decided by one lookup per distinct prefix length.
    """
    if len(prefixes) * len(indexes) > _QUICK_CELLS:
        return None

    def decisions(path: str) -> tuple[_Decision, ...]:
        return tuple(
            _UNDECIDED if rule is None else (rule, None)
            for rule in (index.first(path) for index in indexes)
        )

    lengths = tuple(sorted({len(prefix) for prefix in prefixes}, reverse=True))
    return lengths, {prefix: decisions(prefix) for prefix in prefixes}, decisions("")


def _covers_all(group: Group) -> bool:
    """Whether every ``Content-Usage`` and ``Content-Signal`` line of *group* covers every path."""
    return all(
        rule.path is None or rule.path.covers_everything
        for rules in (group.usage_rules, group.signal_rules)
        for rule in rules
    )


#: What a group with no rule for a path decides.
_UNDECIDED: tuple[None, None] = (None, None)


def plan_for(
    robots: RobotsTxt, token: str, catalogue: AgentCatalogue | None, extra_tokens: Iterable[str]
) -> Plan:
    """The plan of *robots* for the crawler *token* (made on first use, kept on the file).

    *catalogue* (default: the built-in one) and *extra_tokens* name the agents
    whose groups count for training.
    """
    if catalogue is None:
        catalogue = AgentCatalogue.default()
    extra = extra_tokens if type(extra_tokens) is tuple else tuple(extra_tokens)
    plan_key = (token, catalogue, extra)
    plan: Plan | None = robots._plans.get(plan_key)
    if plan is None:
        plan = robots._plans[plan_key] = _make_plan(robots, token, catalogue, extra)
    return plan


EMPTY = RobotsTxt(())


def _make_plan(
    robots: RobotsTxt, token: str, catalogue: AgentCatalogue, extra: tuple[str, ...]
) -> Plan:
    own_key = token.strip().lower()
    own = robots.group_for(token)
    label = token.strip() if robots.named_group(token) is not None else "*"
    by_group: dict[int, tuple[Group, list[Other]]] = {}

    def add(group: Group, other: Other) -> None:
        by_group.setdefault(id(group), (group, []))[1].append(other)

    seen: set[str] = set()
    listed: Listed | None = None
    if robots.groups:
        candidates = _candidates(catalogue, extra)
        # The candidates the file names, in the catalogue's order: looked up by
        # the file's few group names, not by every agent of the catalogue.
        positions = _candidate_positions(catalogue, extra)
        named = sorted(
            {
                at
                for by_token, keys in (
                    (False, robots._by_name),
                    (False, robots._listed_by_name),
                    (True, robots._by_token),
                    (True, robots._listed_by_token),
                )
                for key in keys
                for at in positions.get((by_token, key), ())
            }
        )
        for at in named:
            name, agent, key, _ = candidates[at]
            if key in seen or key == own_key:
                continue  # the crawler's own group is evaluated for every purpose
            seen.add(key)
            group = robots.named_group(name)
            if group is not None:
                add(group, Other(name, agent))
            found = robots._listed(name)
            if found is not None:
                add(found[0], Other(name, agent, found[1]))
        # The crawler's own token on a line naming several agents: that group
        # applies besides the one chosen (which may be "*"), any reservation
        # winning, so a listed name can never lift the "*" group's rules.
        own_label = token.strip() or "*"
        found = robots._listed(own_label)
        if found is None and label == "*":
            own_label, found = "*", robots._listed("*")
        if found is not None:
            listed = Listed(found[0], found[1], own_label)
            add(listed.group, Other(own_label, None, listed.note, own=True))
    others = tuple((group, _shared(items)) for group, items in by_group.values())
    note = f" [robots.txt {'; '.join(robots.notes)}]" if robots.notes else ""
    return Plan(own, label, others, listed, note)


#: The agents a group binds, as plans keep them: one tuple of the same
#: (read-only) objects for every file that names the same agents the same
#: way, so that an origin's plan adds none for the garbage collector to walk.
_SHARED_OTHERS: dict[tuple[tuple[str, Agent | None, str, bool], ...], tuple[Other, ...]] = {}
_SHARED_OTHERS_SIZE = 4096


def _shared(items: list[Other]) -> tuple[Other, ...]:
    key = tuple((item.label, item.agent, item.listed, item.own) for item in items)
    found = _SHARED_OTHERS.get(key)
    if found is None:
        if len(_SHARED_OTHERS) >= _SHARED_OTHERS_SIZE:
            _SHARED_OTHERS.clear()
        found = _SHARED_OTHERS[key] = tuple(items)
    return found


@functools.lru_cache(maxsize=64)
def _candidates(
    catalogue: AgentCatalogue, extra: tuple[str, ...]
) -> tuple[tuple[str, Agent | None, str, tuple[bool, str]], ...]:
    """The agents whose groups count for training: name, agent, name lower-cased, group key.

    The group key is how :meth:`RobotsTxt.named_group` looks the name up.
    """
    candidates: list[tuple[str, Agent | None]] = [(a.token, a) for a in catalogue.training_agents()]
    candidates += [(t.strip(), None) for t in extra if t.strip() and t.strip() != "*"]
    return tuple((name, agent, name.lower(), _group_key(name)) for name, agent in candidates)


@functools.lru_cache(maxsize=64)
def _candidate_positions(
    catalogue: AgentCatalogue, extra: tuple[str, ...]
) -> dict[tuple[bool, str], tuple[int, ...]]:
    """Positions in :func:`_candidates` by group key."""
    positions: dict[tuple[bool, str], list[int]] = {}
    for at, (_, _, _, group_key) in enumerate(_candidates(catalogue, extra)):
        positions.setdefault(group_key, []).append(at)
    return {key: tuple(found) for key, found in positions.items()}
