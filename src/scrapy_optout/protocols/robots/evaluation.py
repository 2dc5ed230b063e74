"""What robots.txt says about one URL, for one crawler: the findings.

:func:`evaluate` applies RFC 9309's rules for the outcome of the fetch
(§2.3.1), matches the URL against the groups the file's plan for the crawler
binds (:mod:`~scrapy_optout.protocols.robots.planning`: the crawler's own
group or ``*``, a group listing it on a line naming several agents, the
groups of the agents in the :class:`~scrapy_optout.protocols.agents.AgentCatalogue`
that count for training), and reads the ``Content-Usage`` lines (aipref) and
``Content-Signal`` lines (Cloudflare) of the crawler's own group through
:mod:`scrapy_optout.protocols.aipref` and
:mod:`scrapy_optout.protocols.content_signal`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Required, TypedDict, Unpack

from scrapy_optout.protocols import aipref, content_signal
from scrapy_optout.protocols.agents import Agent, AgentCatalogue
from scrapy_optout.protocols.licence import robots_answer_detail
from scrapy_optout.protocols.robots.parsing import (
    ROBOTS_PATH,
    RobotsTxt,
    Rule,
    ValueRule,
    lines_covering,
    readings_of,
)
from scrapy_optout.protocols.robots.planning import EMPTY, Listed, Plan, plan_for
from scrapy_optout.verdict import ALL_PURPOSES, Finding, Purpose, Signal, Stance, Where

__all__ = ["TOO_MANY_REDIRECTS", "TRAINING_PURPOSES", "evaluate", "is_path_independent"]

#: Purposes that the groups of other agents bear on (see :func:`evaluate`).
TRAINING_PURPOSES = frozenset({Purpose.TRAIN, Purpose.TDM})
#: How a fetch ``error`` starts when the fetcher gave up on a redirect chain.
TOO_MANY_REDIRECTS = "too many redirects"


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
    headers: Mapping[str, Sequence[str]] | None = None,
) -> list[Finding]:
    """Return the findings robots.txt gives for fetching and using *url*.

    *robots* is the parsed file (``None`` when there is no body to parse);
    *status* the final HTTP status of its fetch after redirects and *error* a
    short description when the fetch failed (network error, too many
    redirects); *token* the crawler's product token; *source* the robots.txt
    URL. The outcome of the fetch decides first (RFC 9309 §2.3.1):

    * 2xx: the file applies (below). 3xx as final status: nothing to follow,
      read as unavailable.
    * 4xx except 429 ("unavailable"): everything is allowed. A 401, 402 or
      403 answer is worded by :func:`~scrapy_optout.protocols.licence.robots_answer_detail`
      from the answer's *headers* (a ``License`` challenge, a ``crawler-price``):
      a licence or payment asked for robots.txt itself is recorded, not obeyed.
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
    return list(
        shared_findings(
            robots,
            url,
            status=status,
            error=error,
            token=token,
            source=source,
            catalogue=catalogue,
            extra_tokens=extra_tokens,
            headers=headers,
        )
    )


class FindingsOptions(TypedDict, total=False):
    """What :func:`shared_findings` takes besides the file and the URL (see :func:`evaluate`)."""

    status: Required[int | None]
    error: Required[str | None]
    token: Required[str]
    source: Required[str]
    catalogue: AgentCatalogue | None
    extra_tokens: Iterable[str]
    headers: Mapping[str, Sequence[str]] | None
    cache: dict[tuple[object, ...], tuple[Finding, ...]] | None


def shared_findings(
    robots: RobotsTxt | None, url: str, **options: Unpack[FindingsOptions]
) -> tuple[Finding, ...]:
    """:func:`evaluate`, as a tuple that every URL with the same findings shares.

    The same tuple object comes back for every URL that the same rules decide
    (while the findings cache keeps it), so a caller can key its own work on
    it. The cache is *cache* when given, else the file's own: a file parsed
    once for several origins (see :class:`~scrapy_optout.policy.snapshot.OriginPolicy`)
    is better given one cache per origin, whose findings name its own file.
    A caller that reads many URLs of one origin prepares a :func:`findings_reader`.
    """
    return findings_reader(robots, **options)(url)


def findings_reader(
    robots: RobotsTxt | None,
    *,
    status: int | None,
    error: str | None,
    token: str,
    source: str,
    catalogue: AgentCatalogue | None = None,
    extra_tokens: Iterable[str] = (),
    headers: Mapping[str, Sequence[str]] | None = None,
    cache: dict[tuple[object, ...], tuple[Finding, ...]] | None = None,
) -> Callable[[str], tuple[Finding, ...]]:
    """:func:`shared_findings` with everything but the URL given: a function of the URL.

    What depends on the file and the crawler alone (the fetch outcome, the
    groups that bind the crawler) is worked out once, for a caller that reads
    many URLs of one origin.
    """
    applied = _applied(robots, status, error, token, catalogue, extra_tokens, cache)
    if applied is None:
        outcome = _fetch_outcome(status, error, source, headers)
        return lambda url: outcome
    plan, known = applied
    return functools.partial(_url_findings, plan, source, known)


def _applied(
    robots: RobotsTxt | None,
    status: int | None,
    error: str | None,
    token: str,
    catalogue: AgentCatalogue | None,
    extra_tokens: Iterable[str],
    cache: dict[tuple[object, ...], tuple[Finding, ...]] | None,
) -> tuple[Plan, dict[tuple[object, ...], tuple[Finding, ...]]] | None:
    """The plan and findings cache of a file that applies; ``None`` when the fetch decides."""
    if status is None and error is None and robots is not None:
        status = 200  # a parsed file whose fetch status is unknown (a stored copy)
    if error is not None or status is None or not 200 <= status < 300:
        return None
    if robots is None:
        robots = EMPTY  # a 2xx response without a body to parse
    plan = plan_for(robots, token, catalogue, extra_tokens)
    return plan, robots._findings if cache is None else cache


def _url_findings(
    plan: Plan,
    source: str,
    known: dict[tuple[object, ...], tuple[Finding, ...]],
    url: str,
) -> tuple[Finding, ...]:
    """The findings of a file that applies (its *plan*) for *url*, shared through *known*."""
    readings = readings_of(url)
    path = readings[0][0]
    robots_path = path == ROBOTS_PATH
    own = plan.own
    own_via = None
    quick = plan.quick
    decided: tuple[tuple[Rule | None, tuple[str, str] | None], ...] | None = None
    if quick is not None and len(readings) == 1 and "%" not in url:
        lengths, table, decided = quick
        size = len(path)
        for length in lengths:
            if length <= size:
                found = table.get(path[:length])
                if found is not None:
                    decided = found
                    break
    if own is None or robots_path:
        own_rule = None
        usage: tuple[ValueRule, ...] = ()
        signals: tuple[ValueRule, ...] = ()
    else:
        own_rule, own_via = decided[0] if decided is not None else own._decide(url, readings)
        if own_rule is not None and not own_rule.allow:
            usage = signals = ()  # not crawlable: no usage preference (attach §3.1)
        else:
            usage = lines_covering(own._usage_for, readings) if own.usage_rules else ()
            signals = lines_covering(own._signals_for, readings) if own.signal_rules else ()
    others: tuple[tuple[Rule | None, tuple[str, str] | None], ...] | None = plan.fixed_others
    if others is None:
        if decided is not None:
            others = decided[1:] if own is not None else decided
        else:
            others = tuple([group._decide(url, readings) for group in plan.groups])
    listed_usage: tuple[ValueRule, ...] = ()
    listed_signals: tuple[ValueRule, ...] = ()
    if plan.listed is not None and not robots_path:
        group = plan.listed.group
        listed_usage = lines_covering(group._usage_for, readings) if group.usage_rules else ()
        listed_signals = lines_covering(group._signals_for, readings) if group.signal_rules else ()
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
    cached = known.get(key)
    if cached is None:
        cached = _findings(*key)
        if len(known) >= _FINDINGS_CACHE_SIZE:
            known.clear()
        known[key] = cached
    return cached


def is_path_independent(
    robots: RobotsTxt | None,
    *,
    status: int | None,
    error: str | None,
    token: str,
    catalogue: AgentCatalogue | None = None,
    extra_tokens: Iterable[str] = (),
) -> bool:
    """Whether :func:`evaluate` gives every URL of the origin the same findings.

    The arguments are those of :func:`evaluate`, less the URL and the
    source. A fetch that gave no file to apply decides every URL alike; so
    does a file whose groups that bind the crawler hold no rule, or only
    rules that one rule covering everything outranks (``Disallow: /`` alone),
    and whose ``Content-Usage`` and ``Content-Signal`` lines have no path.
    ``/robots.txt`` itself is the exception either way: it is always allowed
    when the file applies.
    """
    applied = _applied(robots, status, error, token, catalogue, extra_tokens, None)
    return applied is None or applied[0].path_independent


def _fetch_outcome(
    status: int | None,
    error: str | None,
    source: str,
    headers: Mapping[str, Sequence[str]] | None = None,
) -> tuple[Finding, ...]:
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
        answered = robots_answer_detail(status, headers or {})
        return (
            _robots_finding(
                Stance.ALLOW,
                f"HTTP {status}",
                source,
                f"{answered} (RFC 9309 §2.3.1.3)"
                if answered
                else f"robots.txt unavailable (HTTP {status}): everything allowed"
                " (RFC 9309 §2.3.1.3)",
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
    plan: Plan,
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
    usage: tuple[ValueRule, ...], signals: tuple[ValueRule, ...], source: str, listed: Listed
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


def _via(reading: tuple[str, str] | None) -> str:
    """Words for the detail of a finding decided by a resolved reading."""
    if reading is None:
        return ""
    return f"; matched as {reading[0]} after {reading[1] or 'resolving the path'}"


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
    found: list[Finding] = []
    for rule in rules:
        for finding in content_signal.findings([rule.value], where=Where.FILE, source=source):
            found.append(_in_group(finding, rule, label))
    return found


def _in_group(finding: Finding, rule: ValueRule, label: str) -> Finding:
    """Quote the robots.txt line as written and say which group it is in."""
    detail = f"line {rule.line}, group for {label}: {finding.detail}"
    return replace(finding, rule=rule.text, detail=detail, agent=label)
