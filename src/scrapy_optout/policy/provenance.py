"""Provenance: the permission a kept record or item was admitted under (design §3.5).

The ledger says why content was left out; a provenance entry says why the rest
was let in. One shape serves the dataset filter (a kept record's ``optout``
field, or its WARC header) and the crawl (an item's ``optout`` field, or its
line in the side file): :func:`provenance_entry` builds its common part, the
same keys in the same order wherever it is made:

``v``
    :data:`PROVENANCE_VERSION`.
``purpose``, ``verdict``, ``time``, ``stage``
    What was decided, for what, when (UTC ISO-8601) and at which stage.
``token``
    The product token the content was judged for; a crawl adds ``user_agent``.
``evidence``
    One ``{source, status, sha256, fetched_at}`` entry (the ledger's evidence
    shape, see :meth:`~scrapy_optout.policy.snapshot.PolicyFile.evidence`) per
    policy file that admitted it. Whoever attaches an entry keeps each body it
    names in the evidence store, under its sha256.

A maker adds its own keys after these. This module does no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from scrapy_optout.policy.snapshot import isoformat, utcnow
from scrapy_optout.verdict import Purpose

__all__ = ["PROVENANCE_FIELD", "PROVENANCE_VERSION", "merged_evidence", "provenance_entry"]

#: The version of the entry's shape, its ``v``.
PROVENANCE_VERSION = 1
#: The field (of a JSON record, a Parquet row, an item) that holds the entry.
PROVENANCE_FIELD = "optout"


def provenance_entry(
    *,
    purpose: Purpose | str,
    verdict: str,
    stage: str,
    token: str,
    evidence: list[dict[str, Any]],
    time: str | None = None,
    user_agent: str | None = None,
) -> dict[str, Any]:
    """The common part of a provenance entry, decided at *time* (default now).

    *user_agent* is given by makers that know the whole User-Agent string the
    content was fetched with (a crawl), not only its product token.
    """
    entry: dict[str, Any] = {
        "v": PROVENANCE_VERSION,
        "purpose": str(purpose),
        "verdict": verdict,
        "time": time or isoformat(utcnow()),
        "stage": stage,
        "token": token,
    }
    if user_agent is not None:
        entry["user_agent"] = user_agent
    entry["evidence"] = evidence
    return entry


def merged_evidence(
    groups: Iterable[Iterable[Mapping[str, Any]]],
) -> tuple[list[dict[str, Any]], list[list[int]]]:
    """The evidence entries of *groups* with each file once, and where each group's went.

    A file is the same file when its source and sha256 are. Returns the merged
    entries, in order of first appearance, and for each group the positions of
    its entries in that list.
    """
    seen: dict[tuple[Any, Any], int] = {}
    merged: list[dict[str, Any]] = []
    positions: list[list[int]] = []
    for group in groups:
        places: list[int] = []
        for entry in group:
            key = (entry.get("source"), entry.get("sha256"))
            place = seen.get(key)
            if place is None:
                place = seen[key] = len(merged)
                merged.append(dict(entry))
            places.append(place)
        positions.append(places)
    return merged, positions
