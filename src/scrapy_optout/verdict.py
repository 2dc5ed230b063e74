"""Purposes, findings and the rule that combines them into a verdict.

Every protocol module reports what it saw as :class:`Finding` objects. A finding
says which purposes it bears on, whether it reserves or allows them, and quotes
the rule or value that made it so, with the URL of the evidence. The verdict for
one purpose is then a pure function of the findings: any reservation wins.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Purpose(StrEnum):
    """What the crawler intends to do with the content."""

    TRAIN = "train"  #: use in AI model training (the default)
    TDM = "tdm"  #: any text-and-data mining
    INPUT = "input"  #: use at inference time: RAG, grounding, answers
    SEARCH = "search"  #: search indexing
    CRAWL = "crawl"  #: fetching at all


class Signal(StrEnum):
    """The opt-out protocols, by the names used in findings and the ledger."""

    ROBOTS = "robots.txt"
    AITXT = "ai.txt"
    TDMREP = "tdmrep"
    NOAI = "noai"
    CONTENT_USAGE = "content-usage"
    CONTENT_SIGNAL = "content-signal"
    RSL = "rsl"  #: RSL 1.0 licences (Really Simple Licensing)
    LICENCE = "licence"  #: 401 ``WWW-Authenticate: License`` and 402 answers
    IPTC = "iptc"  #: XMP ``plus:DataMining`` in media files
    C2PA = "c2pa"  #: C2PA / CAWG training-and-data-mining assertions
    REGISTRY = "registry"  #: declarations in an opt-out registry


class Where(StrEnum):
    """Where a signal was found."""

    FILE = "file"  #: a well-known or linked policy file (robots.txt, tdmrep.json, an RSL licence)
    HEADER = "header"  #: an HTTP response header
    META = "meta"  #: an HTML ``<meta>`` element or embedded document metadata
    REGISTRY = "registry"  #: a declaration in an opt-out registry


class Stage(StrEnum):
    """Where a decision is taken, by the names used in the ledger."""

    ORIGIN = "origin"  #: before a request leaves, from its origin's policy files
    HEADERS = "headers"  #: when the response headers arrive
    BODY = "body"  #: once the body (HTML head, document or media metadata) is read
    ITEM = "item"  #: in the item pipeline, for an item's source URLs
    DATASET = "dataset"  #: when filtering a dataset that already exists


class Stance(StrEnum):
    """What a finding says about its purposes."""

    RESERVE = "reserve"
    ALLOW = "allow"
    UNKNOWN = "unknown"


ALL_PURPOSES: frozenset[Purpose] = frozenset(Purpose)

#: Longest quote of a rule, value or explanation kept in a finding: a site's
#: policy file must not be able to bloat the ledger.
QUOTE_MAX = 300


def clip(text: str, limit: int = QUOTE_MAX) -> str:
    """*text* cut to *limit* characters, with an ellipsis when cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass(frozen=True, slots=True)
class Finding:
    """One observation of one signal.

    ``rule`` quotes the matched rule or value as the site wrote it; ``source``
    is the URL of the evidence; ``detail`` explains in words (for example why a
    file was not read as a policy). A finding with stance ``unknown`` records
    that a signal was looked for and what was found instead.
    """

    signal: Signal
    where: Where
    stance: Stance
    purposes: frozenset[Purpose]
    rule: str
    source: str
    detail: str = ""
    agent: str | None = None

    def bears_on(self, purpose: Purpose) -> bool:
        return purpose in self.purposes

    def reason(self) -> dict[str, str]:
        """The ledger's reason shape: ``{signal, where, rule, source}``."""
        return {
            "signal": str(self.signal),
            "where": str(self.where),
            "rule": self.rule,
            "source": self.source,
        }

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = self.reason()
        data["stance"] = str(self.stance)
        data["purposes"] = sorted(str(p) for p in self.purposes)
        if self.detail:
            data["detail"] = self.detail
        if self.agent is not None:
            data["agent"] = self.agent
        return data


@dataclass(frozen=True, slots=True)
class Verdict:
    """The combined decision for one URL and one purpose."""

    purpose: Purpose
    reserved: bool
    reasons: tuple[Finding, ...] = ()
    findings: tuple[Finding, ...] = field(default=(), repr=False)

    @property
    def label(self) -> str:
        return "reserved" if self.reserved else "allowed"

    @property
    def signals(self) -> list[str]:
        """The distinct signals that reserved, in order of first appearance."""
        return list(dict.fromkeys(str(f.signal) for f in self.reasons))


def decide(findings: Iterable[Finding], purpose: Purpose | str) -> Verdict:
    """Combine findings for *purpose*: any reservation wins, else allowed.

    Findings that do not bear on *purpose* are kept out of the verdict's
    ``findings``. A purpose with no finding at all is allowed: the protocols
    leave that case to the crawler, and the EU text-and-data-mining exception
    applies where no reservation was made.
    """
    if type(purpose) is not Purpose:
        purpose = Purpose(purpose)
    relevant = tuple([f for f in findings if purpose in f.purposes])
    reasons = tuple([f for f in relevant if f.stance is Stance.RESERVE]) if relevant else ()
    return Verdict(purpose, bool(reasons), reasons, relevant)
