"""Prevalence figures over a survey's records: what ``summary.json`` holds.

Every figure counts sites (records), never pages or findings. A site is
*reachable* when its robots.txt or its home page answered; *unreachable*
sites and *invalid* input lines are counted apart and take no part in the
prevalence figures, which are all counted among reachable sites.

Records of stored captures carry a ``month``. When they do, each site may
have several records (one per month): the top-level figures then describe
each site's most recent record, and ``by_month`` gives the figures of every
month, for prevalence over time.

The figures are summed as records stream past (:class:`Summariser`), so a
summary of millions of records holds only its counters. A site's latest
record is known without holding the records when they arrive grouped by site
in time order, as capture surveys write them (``sorted_by_site``); otherwise
:func:`summarise` keeps one index per dated site.

Field by field documentation is in ``docs/survey.md``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from scrapy_optout.frontends.survey.edge import EDGE_CLASSES
from scrapy_optout.frontends.survey.record import PRESENCE_KEYS
from scrapy_optout.policy.snapshot import isoformat, utcnow
from scrapy_optout.protocols.agents import AgentCatalogue
from scrapy_optout.verdict import Purpose, Signal

__all__ = ["RANK_BUCKETS", "SUMMARY_VERSION", "Summariser", "rank_bucket", "summarise"]

SUMMARY_VERSION = 2

#: The counts of ``by_agent``: ``full`` includes ``full_with_exceptions``.
AGENT_COUNTS = ("full", "full_with_exceptions", "partial")

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
    records: Iterable[Mapping[str, Any]],
    *,
    purpose: Purpose | str = Purpose.TRAIN,
    catalogue: AgentCatalogue | None = None,
    extra: Mapping[str, Any] | None = None,
    sorted_by_site: bool = False,
) -> dict[str, Any]:
    """The ``summary.json`` of *records* for *purpose*.

    *extra* is merged in first (the input, the user agent...), so the
    figures always win over it. With *sorted_by_site*, *records* is read once,
    as a stream, and must hold each dated site's records together in time
    order (capture surveys write them so); otherwise it is read twice, so
    pass a sequence.
    """
    summariser = Summariser(purpose=purpose, catalogue=catalogue, extra=extra)
    if sorted_by_site:
        for record, latest in _flag_latest_sorted(records):
            summariser.add(record, latest=latest)
    else:
        items = records if isinstance(records, Sequence) else list(records)
        latest_of = _latest_indexes(items)
        for index, record in enumerate(items):
            summariser.add(record, latest=not record.get("month") or index in latest_of)
    return summariser.summary()


class Summariser:
    """Sums the figures of ``summary.json`` one record at a time.

    :meth:`add` each record, saying whether it is its site's latest (the
    top-level figures count only those; ``by_month`` counts every dated
    record), then read :meth:`summary`. Memory grows with the number of
    months, rank buckets and public suffixes, never with the number of records.
    """

    def __init__(
        self,
        *,
        purpose: Purpose | str = Purpose.TRAIN,
        catalogue: AgentCatalogue | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        self.purpose = Purpose(purpose)
        self.catalogue = catalogue or AgentCatalogue.default()
        self.extra = dict(extra or {})
        self.tokens = [agent.token for agent in self.catalogue]
        self.records = 0
        self._top = _Tally(self.tokens, self.purpose, agents=True)
        self._by_purpose: Counter[str] = Counter()
        self._buckets: dict[str, _Tally] = {}
        self._suffixes: dict[str, _Tally] = {}
        self._months: dict[str, _Tally] = {}

    def add(self, record: Mapping[str, Any], *, latest: bool = True) -> None:
        """Count *record*; *latest* when it is its site's most recent record."""
        self.records += 1
        month = record.get("month")
        if month:
            tally = self._months.get(str(month))
            if tally is None:
                tally = self._months[str(month)] = _Tally(self.tokens, self.purpose, agents=True)
            tally.add(record)
        if not latest:
            return
        self._top.add(record)
        if _reachable(record):
            for purpose in Purpose:
                self._by_purpose[str(purpose)] += bool(_signals(record, purpose))
        rank = record.get("rank")
        if isinstance(rank, int) and not isinstance(rank, bool):
            label = rank_bucket(rank)
            tally = self._buckets.get(label)
            if tally is None:
                tally = self._buckets[label] = _Tally(self.tokens, self.purpose, agents=False)
            tally.add(record)
        if record.get("site"):
            suffix = record.get("suffix") or NO_SUFFIX
            tally = self._suffixes.get(suffix)
            if tally is None:
                tally = self._suffixes[suffix] = _Tally(self.tokens, self.purpose, agents=False)
            tally.add(record)

    def summary(self) -> dict[str, Any]:
        """The summary of the records added so far."""
        summary: dict[str, Any] = {"v": SUMMARY_VERSION, **self.extra}
        summary["generated_at"] = isoformat(utcnow())
        summary["purpose"] = str(self.purpose)
        summary["records"] = self.records
        summary.update(self._top.figures())
        summary["by_purpose"] = {str(p): self._by_purpose[str(p)] for p in Purpose}
        summary["robots_txt"] = {
            "own_or_star_group": summary["access_restricted"],
            "ai_agent_groups": summary["by_signal"][str(Signal.ROBOTS)],
        }
        summary["agent_categories"] = {agent.token: agent.category for agent in self.catalogue}
        if self._buckets:
            order = [label for _, label in RANK_BUCKETS] + [_LAST_BUCKET]
            summary["by_rank_bucket"] = {
                label: self._buckets[label].figures() for label in order if label in self._buckets
            }
        ordered = sorted(self._suffixes.items(), key=lambda item: (-item[1].sites, item[0]))
        summary["by_suffix"] = {suffix: tally.figures() for suffix, tally in ordered}
        if self._months:
            summary["by_month"] = {
                month: self._months[month].figures() for month in sorted(self._months)
            }
        return summary


class _Tally:
    """The figures of one set of sites (all, a rank bucket, a suffix, a month)."""

    def __init__(self, tokens: Sequence[str], purpose: Purpose, *, agents: bool) -> None:
        self.tokens = tokens
        self.purpose = purpose
        self.agents = agents
        self.sites = 0
        self.invalid = 0
        self.reachable = 0
        self.reserved_any = 0
        self.access_restricted = 0
        self.by_signal: Counter[str] = Counter()
        self.presence: Counter[str] = Counter()
        self.by_edge: Counter[str] = Counter()
        self.by_edge_compare: Counter[str] = Counter()
        self.edge_differs = 0
        self.named: dict[str, Counter[str]] = {}
        self.mentioned: Counter[str] = Counter()
        self.effective: dict[str, Counter[str]] = {}

    def add(self, record: Mapping[str, Any]) -> None:
        self.sites += 1
        if not record.get("site"):
            self.invalid += 1
            return
        edge = record.get("edge") or {}
        home = edge.get("home")
        if isinstance(home, Mapping) and home.get("class"):
            self.by_edge[str(home["class"])] += 1
        compare = edge.get("home_compare")
        if isinstance(compare, Mapping) and compare.get("class"):
            self.by_edge_compare[str(compare["class"])] += 1
            self.edge_differs += bool(edge.get("differs"))
        if not _reachable(record):
            return
        self.reachable += 1
        signals = set(_signals(record, self.purpose))
        self.reserved_any += bool(signals)
        self.by_signal.update(signals)
        access = record.get("access")
        if isinstance(access, Mapping) and access.get("coverage") not in (None, "none"):
            self.access_restricted += 1
        present = record.get("presence") or {}
        self.presence.update(key for key in PRESENCE_KEYS if present.get(key))
        if self.agents:
            self.mentioned.update(record.get("agents_named") or ())
            for token, bases in (record.get("agents") or {}).items():
                if not isinstance(bases, Mapping):
                    continue
                named, effective = bases.get("named"), bases.get("effective")
                if named != "none":
                    _count(self.named, token, named)
                if effective != "none":
                    _count(self.effective, token, effective)

    def figures(self) -> dict[str, Any]:
        figures: dict[str, Any] = {
            "sites": self.sites,
            "reachable": self.reachable,
            "unreachable": self.sites - self.reachable - self.invalid,
            "invalid": self.invalid,
            "reserved_any": self.reserved_any,
            "by_signal": {str(s): self.by_signal[str(s)] for s in Signal},
            "access_restricted": self.access_restricted,
            "presence": {key: self.presence[key] for key in PRESENCE_KEYS},
            "by_edge": {klass: self.by_edge[klass] for klass in EDGE_CLASSES},
        }
        if self.by_edge_compare:
            # Live surveys with --compare-user-agent: the second identity's answers.
            figures["by_edge_compare"] = {k: self.by_edge_compare[k] for k in EDGE_CLASSES}
            figures["edge_differs"] = self.edge_differs
        if self.agents:
            figures["by_agent"] = _agent_figures(self.named, self.tokens)
            figures["by_agent_effective"] = _agent_figures(self.effective, self.tokens)
            figures["by_agent_named"] = {
                token: self.mentioned[token]
                for token in [*self.tokens, *sorted(set(self.mentioned) - set(self.tokens))]
            }
        return figures


def _count(table: dict[str, Counter[str]], token: str, coverage: Any) -> None:
    if coverage in ("full", "full_with_exceptions", "partial"):
        counts = table.get(token)
        if counts is None:
            counts = table[token] = Counter()
        if coverage == "full_with_exceptions":
            counts["full"] += 1
        counts[coverage] += 1


def _agent_figures(
    table: Mapping[str, Counter[str]], tokens: Sequence[str]
) -> dict[str, dict[str, int]]:
    ordered = [*tokens, *sorted(set(table) - set(tokens))]
    return {
        token: {key: table.get(token, Counter())[key] for key in AGENT_COUNTS} for token in ordered
    }


def _site_key(record: Mapping[str, Any]) -> str:
    return str(record.get("host") or record.get("site") or record.get("input"))


def _latest_indexes(records: Sequence[Mapping[str, Any]]) -> set[int]:
    """Indexes of each dated site's most recent record."""
    latest: dict[str, int] = {}
    for index, record in enumerate(records):
        if not record.get("month"):
            continue
        key = _site_key(record)
        kept = latest.get(key)
        if kept is None or _when(record) >= _when(records[kept]):
            latest[key] = index
    return set(latest.values())


def _flag_latest_sorted(
    records: Iterable[Mapping[str, Any]],
) -> Iterator[tuple[Mapping[str, Any], bool]]:
    """Each record with whether it is its site's latest, for records grouped by site."""
    previous: Mapping[str, Any] | None = None
    for record in records:
        if previous is not None:
            same = bool(previous.get("month")) and (
                bool(record.get("month")) and _site_key(record) == _site_key(previous)
            )
            yield previous, not same
        previous = record
    if previous is not None:
        yield previous, True


def _when(record: Mapping[str, Any]) -> str:
    return str(record.get("date") or record.get("month") or "")


def _reachable(record: Mapping[str, Any]) -> bool:
    return bool(record.get("reachable"))


def _signals(record: Mapping[str, Any], purpose: Purpose) -> list[str]:
    reserving = record.get("reserving") or {}
    return list(reserving.get(str(purpose), []))
