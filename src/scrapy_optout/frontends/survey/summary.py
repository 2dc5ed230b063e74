"""Prevalence figures over a survey's records: what ``summary.json`` holds.

Every figure counts sites (records), never pages or findings. A site is
*reachable* when its robots.txt or its home page answered; *unreachable*
sites and *invalid* input lines are counted apart and take no part in the
prevalence figures, which are all counted among reachable sites.

Records of stored captures carry a ``month``. When they do, each site may
have several records (one per month): the top-level figures then describe
each site's most recent record, and ``by_month`` gives the figures of every
month, for prevalence over time.

Field by field documentation is in ``docs/survey.md``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from scrapy_optout.policy.snapshot import isoformat, utcnow
from scrapy_optout.protocols.agents import AgentCatalogue
from scrapy_optout.verdict import Purpose, Signal

__all__ = ["RANK_BUCKETS", "SUMMARY_VERSION", "rank_bucket", "summarise"]

SUMMARY_VERSION = 1

#: Upper bounds of the rank buckets, and their labels.
RANK_BUCKETS: tuple[tuple[int, str], ...] = (
    (10, "1-10"),
    (100, "11-100"),
    (1_000, "101-1k"),
    (10_000, "1k-10k"),
    (100_000, "10k-100k"),
    (1_000_000, "100k-1M"),
)
_LAST_BUCKET = ">1M"
NO_SUFFIX = "(none)"


def rank_bucket(rank: int) -> str:
    """The label of the bucket holding *rank* (``1-10``, ``11-100``, ... ``>1M``)."""
    for bound, label in RANK_BUCKETS:
        if rank <= bound:
            return label
    return _LAST_BUCKET


def summarise(
    records: Sequence[Mapping[str, Any]],
    *,
    purpose: Purpose | str = Purpose.TRAIN,
    catalogue: AgentCatalogue | None = None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The ``summary.json`` of *records* for *purpose*.

    *extra* is merged in first (the input, the user agent...), so the
    figures always win over it.
    """
    purpose = Purpose(purpose)
    catalogue = catalogue or AgentCatalogue.default()
    tokens = [agent.token for agent in catalogue]
    latest = _latest_per_site(records)
    summary: dict[str, Any] = {"v": SUMMARY_VERSION, **(extra or {})}
    summary["generated_at"] = isoformat(utcnow())
    summary["purpose"] = str(purpose)
    summary["records"] = len(records)
    summary.update(_figures(latest, purpose, tokens))
    summary["by_purpose"] = {
        str(p): sum(1 for r in latest if _reachable(r) and _signals(r, p)) for p in Purpose
    }
    summary["robots_txt"] = _robots_breakdown(latest, purpose)
    summary["agent_categories"] = {agent.token: agent.category for agent in catalogue}

    ranked = [r for r in latest if isinstance(r.get("rank"), int)]
    if ranked:
        buckets: dict[str, list[Mapping[str, Any]]] = {}
        for record in sorted(ranked, key=lambda r: int(r["rank"])):
            buckets.setdefault(rank_bucket(int(record["rank"])), []).append(record)
        summary["by_rank_bucket"] = {
            label: _figures(items, purpose, tokens, agents=False)
            for label, items in buckets.items()
        }
    suffixes: dict[str, list[Mapping[str, Any]]] = {}
    for record in latest:
        if record.get("site"):
            suffixes.setdefault(record.get("suffix") or NO_SUFFIX, []).append(record)
    ordered = sorted(suffixes.items(), key=lambda item: (-len(item[1]), item[0]))
    summary["by_suffix"] = {
        suffix: _figures(items, purpose, tokens, agents=False) for suffix, items in ordered
    }
    months: dict[str, list[Mapping[str, Any]]] = {}
    for record in records:
        if record.get("month"):
            months.setdefault(str(record["month"]), []).append(record)
    if months:
        summary["by_month"] = {
            month: _figures(months[month], purpose, tokens) for month in sorted(months)
        }
    return summary


def _latest_per_site(records: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Each site's most recent record; records without a month all count."""
    latest: dict[str, Mapping[str, Any]] = {}
    plain: list[Mapping[str, Any]] = []
    for record in records:
        if not record.get("month"):
            plain.append(record)
            continue
        key = str(record.get("host") or record.get("site") or record.get("input"))
        kept = latest.get(key)
        if kept is None or _when(record) >= _when(kept):
            latest[key] = record
    return plain + list(latest.values())


def _when(record: Mapping[str, Any]) -> str:
    return str(record.get("date") or record.get("month") or "")


def _reachable(record: Mapping[str, Any]) -> bool:
    return bool(record.get("reachable"))


def _signals(record: Mapping[str, Any], purpose: Purpose) -> list[str]:
    reserving = record.get("reserving") or {}
    return list(reserving.get(str(purpose), []))


def _figures(
    records: Iterable[Mapping[str, Any]],
    purpose: Purpose,
    tokens: Sequence[str],
    *,
    agents: bool = True,
) -> dict[str, Any]:
    items = list(records)
    invalid = sum(1 for r in items if not r.get("site"))
    reachable = [r for r in items if _reachable(r)]
    by_signal: Counter[str] = Counter()
    reserved_any = 0
    for record in reachable:
        signals = _signals(record, purpose)
        reserved_any += bool(signals)
        by_signal.update(set(signals))
    figures: dict[str, Any] = {
        "sites": len(items),
        "reachable": len(reachable),
        "unreachable": len(items) - len(reachable) - invalid,
        "invalid": invalid,
        "reserved_any": reserved_any,
        "by_signal": {str(s): by_signal[str(s)] for s in Signal},
    }
    if agents:
        figures["by_agent"] = _agent_counts(reachable, tokens, "named")
        figures["by_agent_effective"] = _agent_counts(reachable, tokens, "effective")
    return figures


def _agent_counts(
    records: Sequence[Mapping[str, Any]], tokens: Sequence[str], basis: str
) -> dict[str, dict[str, int]]:
    counts = {token: {"full": 0, "partial": 0} for token in tokens}
    for record in records:
        for token, bases in (record.get("agents") or {}).items():
            coverage = bases.get(basis) if isinstance(bases, Mapping) else None
            if coverage in ("full", "partial"):
                counts.setdefault(token, {"full": 0, "partial": 0})[coverage] += 1
    return counts


def _robots_breakdown(records: Sequence[Mapping[str, Any]], purpose: Purpose) -> dict[str, int]:
    """Why robots.txt counts: the crawler's own (or ``*``) group, or AI agents' groups."""
    own = agents = 0
    for record in records:
        if not _reachable(record) or "robots.txt" not in _signals(record, purpose):
            continue
        found = [
            f
            for f in (*record.get("findings", ()), *record.get("site_findings", ()))
            if f.get("signal") == "robots.txt"
            and f.get("stance") == "reserve"
            and str(purpose) in f.get("purposes", ())
        ]
        own += any(set(f.get("purposes", ())) == {str(p) for p in Purpose} for f in found)
        agents += any(set(f.get("purposes", ())) != {str(p) for p in Purpose} for f in found)
    return {"own_or_star_group": own, "ai_agent_groups": agents}
