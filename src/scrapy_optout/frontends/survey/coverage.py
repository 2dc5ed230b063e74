"""How much of a site robots.txt closes to each agent, as published studies count it.

A survey reports, per agent of the catalogue, one of four coverages of a
robots.txt group: ``full`` when the group disallows the path ``/`` under
RFC 9309 §2.2.2 precedence (the longest matching rule decides; ``allow`` wins
a tie), ``full_with_exceptions`` when it does and the group also has an
``allow`` line, ``partial`` when ``/`` stays allowed but some ``disallow``
line has a path, ``none`` otherwise. Studies of AI opt-outs count the groups
that *name* an agent; what the agent must obey also counts the ``*`` group,
and a robots.txt that failed with a server error closes everything (RFC 9309
§2.3.1.4). Both bases are reported, with what binds the surveying crawler
itself (its ``access``) and which agents a ``User-agent`` line names at all.
"""

from __future__ import annotations

from typing import Any, Literal

from scrapy_optout.policy.snapshot import OriginPolicy
from scrapy_optout.protocols import robots
from scrapy_optout.protocols.agents import AgentCatalogue
from scrapy_optout.verdict import Stance

__all__ = ["Coverage", "access_of", "agent_coverage", "group_coverage", "named_agents"]

Coverage = Literal["full", "full_with_exceptions", "partial", "none"]


def group_coverage(group: robots.Group | None) -> Coverage:
    """How much of the site *group* closes, as published studies count it.

    ``full``: the rule that decides the path ``/`` (RFC 9309 §2.2.2: the
    longest matching pattern, ``allow`` on a tie) is a ``disallow``;
    ``full_with_exceptions``: full, and the group has an ``allow`` line with a
    path; ``partial``: ``/`` is allowed and some ``disallow`` line has a path;
    ``none``: no group, or no ``disallow`` line with a path.
    """
    if group is None:
        return "none"
    live = [rule for rule in group.rules if rule.pattern.length]
    root = group.match("/")
    if root is not None and not root.allow:
        return "full_with_exceptions" if any(rule.allow for rule in live) else "full"
    if any(not rule.allow for rule in live):
        return "partial"
    return "none"


def access_of(policy: OriginPolicy, token: str) -> dict[str, Any] | None:
    """What robots.txt closes to the surveying crawler itself.

    ``{"group": g, "coverage": c}``: *g* is the crawler's token when a group
    names it, ``*`` when the ``*`` group applies, ``None`` when no group does
    or robots.txt could not be read; *c* is :func:`group_coverage` of that
    group, or ``full`` for a robots.txt that failed with a server error, 429
    or no answer (RFC 9309 §2.3.1.4). ``None`` when robots.txt was not
    observed.
    """
    rf = policy.robots_file
    if rf.status is None and rf.error is None:
        return None
    if policy.robots is None:
        outcome = robots.evaluate(None, "/", status=rf.status, error=rf.error, token="*", source="")
        failed = not rf.ok and any(f.stance is Stance.RESERVE for f in outcome)
        return {"group": None, "coverage": "full" if failed else "none"}
    parsed = policy.robots
    if parsed.named_group(token) is not None:
        return {"group": token, "coverage": group_coverage(parsed.named_group(token))}
    star = parsed.group_for("*")
    return {"group": "*" if star is not None else None, "coverage": group_coverage(star)}


def agent_coverage(
    policy: OriginPolicy, catalogue: AgentCatalogue | None = None
) -> dict[str, dict[str, Coverage]]:
    """How much of the site robots.txt closes to each catalogue agent, on two bases.

    ``named``: the groups that name the agent (what studies of AI opt-outs
    count). ``effective``: the rules the agent must obey, that is the groups
    naming it or else the ``*`` group. Each is a :func:`group_coverage`. A
    robots.txt that could not be fetched for a server or network error counts
    as ``full`` on the effective basis (RFC 9309 §2.3.1.4); an unavailable one
    (4xx) as ``none``. An empty mapping means robots.txt was not observed.
    """
    catalogue = catalogue or AgentCatalogue.default()
    access = access_of(policy, "*")
    if access is None:
        return {}
    agents = [agent.token for agent in catalogue]
    if policy.robots is None:
        return {token: {"named": "none", "effective": access["coverage"]} for token in agents}
    parsed = policy.robots
    cache: dict[int, Coverage] = {}

    def coverage_of(group: robots.Group) -> Coverage:
        key = id(group)
        if key not in cache:
            cache[key] = group_coverage(group)
        return cache[key]

    # Most agents are named by no group: they all get the "*" group's coverage.
    fallback: Coverage = access["coverage"]
    result: dict[str, dict[str, Coverage]] = {}
    for token in agents:
        group = parsed.named_group(token)
        if group is None:
            result[token] = {"named": "none", "effective": fallback}
        else:
            named = coverage_of(group)
            result[token] = {"named": named, "effective": named}
    return result


def named_agents(policy: OriginPolicy, catalogue: AgentCatalogue | None = None) -> list[str]:
    """The catalogue agents a ``User-agent`` line of robots.txt names, whatever its rules.

    What mention counts (Common Crawl's "addresses a user agent", the press
    corpus collector's labels) count, read as RFC 9309 reads a group's name.
    """
    if policy.robots is None:
        return []
    catalogue = catalogue or AgentCatalogue.default()
    parsed = policy.robots
    return [agent.token for agent in catalogue if parsed.named_group(agent.token) is not None]
