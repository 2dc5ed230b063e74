"""The decision on one dataset record, and the provenance of a kept one.

A record is judged by the same :class:`~scrapy_optout.policy.evaluate.Evaluator`
stages as a crawled response (design §2): the origin's policy files first,
then the HTTP headers and the body *the record itself carries* (a WARC
response, or a JSON Lines record with ``headers`` and ``html``). A record that
carries neither, a bare URL with its text, is decided on origin-level signals
alone: no later source can arrive, so a ``tdmrep.json`` reservation that a
page could have lifted counts as final.

Provenance (design §3.5) says why a kept record was let in: the purpose, the
verdict, the time, and the policy files (source, status, sha256, fetched_at)
whose bodies sit in the evidence store. Its shape is the crawl's too
(:mod:`scrapy_optout.policy.provenance`).

A removed record becomes one ledger line (:func:`ledger_record`): the crawl
ledger's schema (README, "Ledger"), with ``stage: "dataset"`` and the record's
id. ``optout filter`` and the datatrove block write the same lines.

This module does no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from scrapy_optout.policy.evaluate import Assessment, Evaluator, may_carry_body_signals
from scrapy_optout.policy.provenance import PROVENANCE_VERSION, provenance_entry
from scrapy_optout.policy.snapshot import OriginPolicy, isoformat, utcnow
from scrapy_optout.policy.urls import origin_from_parts, registrable_domain
from scrapy_optout.stores.record import SCHEMA_VERSION
from scrapy_optout.verdict import Purpose, Verdict

__all__ = [
    "DATASET_STAGE",
    "PROVENANCE_VERSION",
    "Decision",
    "Places",
    "decide_record",
    "ledger_record",
    "provenance",
]

#: The ``stage`` of every ledger line the dataset filters write.
DATASET_STAGE = "dataset"


@dataclass(frozen=True, slots=True)
class Decision:
    """What was decided about one record.

    ``unknown`` says why no decision could be made (no policy snapshot of the
    origin, no usable URL); ``keep`` then follows the filter's rule for
    unknowns. ``origin_only`` is true when the record had no headers or body
    and was decided on the origin's policy files alone.
    """

    url: str
    keep: bool
    verdict: Verdict | None
    assessment: Assessment | None
    origin_only: bool
    unknown: str | None = None

    @property
    def stage(self) -> str:
        return self.assessment.stage if self.assessment is not None else "origin"

    @property
    def signals(self) -> list[str]:
        return self.verdict.signals if self.verdict is not None else []


def decide_record(
    evaluator: Evaluator,
    policy: OriginPolicy | None,
    url: str,
    purpose: Purpose,
    *,
    headers: Mapping[str, Sequence[str]] | None = None,
    body: bytes | None = None,
    unknown: str | None = None,
    keep_unknown: bool = True,
) -> Decision:
    """Decide whether the record of *url* may be used for *purpose*.

    *policy* is its origin's snapshot, ``None`` when there is none (the
    decision is then unknown, and *unknown* may say why). *headers* and *body*
    are what the record carries of the response, if anything.
    """
    if policy is None:
        why = unknown or "no policy snapshot of the origin"
        return Decision(url, keep_unknown, None, None, False, why)
    assessment = evaluator.origin_stage(policy, url)
    origin_only = headers is None and body is None
    if headers is not None or body is not None:
        assessment = evaluator.headers_stage(assessment, headers or {})
        ctype = assessment.headers.get("content-type")
        if body is not None and (
            not assessment.final or may_carry_body_signals(ctype[-1] if ctype else None, url)
        ):
            assessment = evaluator.body_stage(assessment, body)
    # The record is all there is: no later TDMRep source can arrive.
    verdict = assessment.final_verdict(purpose)
    return Decision(url, not verdict.reserved, verdict, assessment, origin_only)


def provenance(
    decision: Decision, purpose: Purpose, *, token: str, time: str | None = None
) -> dict[str, Any]:
    """The provenance entry of a kept record (design §3.5), decided at *time* (default now)."""
    entry = provenance_entry(
        purpose=purpose,
        verdict=decision.verdict.label if decision.verdict is not None else "unknown",
        time=time,
        stage=decision.stage,
        token=token,
        evidence=decision.assessment.evidence if decision.assessment is not None else [],
    )
    if decision.origin_only:
        entry["origin_only"] = True
    if decision.unknown is not None:
        entry["unknown"] = decision.unknown
    return entry


def ledger_record(
    decision: Decision,
    purpose: Purpose,
    evaluator: Evaluator,
    *,
    origin: str | None,
    domain: str | None,
    record_id: str,
    policies: str,
    where: Mapping[str, Any],
) -> dict[str, Any]:
    """The ledger line of a removed record (the crawl ledger's schema, ``stage: "dataset"``).

    *origin* and *domain* (its registrable domain) place the record's URL
    (``None`` when it has none usable), *policies* where the policy snapshots came from, and
    *where* the fields that place the record in its dataset (``input`` and
    ``index`` for ``optout filter``, ``rank`` for the datatrove block).
    """
    url = decision.url
    verdict = decision.verdict
    assessment = decision.assessment
    record: dict[str, Any] = {
        "v": SCHEMA_VERSION,
        "time": isoformat(utcnow()),
        "url": url,
        "origin": origin if assessment is not None else None,
        "domain": domain if assessment is not None else None,
        "stage": DATASET_STAGE,
        "purpose": str(purpose),
        "verdict": "reserved",
        "mode": "enforce",
        "reasons": [f.reason() for f in verdict.reasons] if verdict is not None else [],
        "evidence": assessment.evidence if assessment is not None else [],
        "spider": None,
        "token": evaluator.token,
        "user_agent": evaluator.user_agent,
        "record_id": record_id,
        **where,
        "level": decision.stage,
        "policies": policies,
    }
    if decision.origin_only:
        record["origin_only"] = True
    if decision.unknown is not None:
        record["unknown"] = decision.unknown
    return record


#: How many URL prefixes :class:`Places` remembers the origin of.
_PREFIXES = 65536


def _authority_prefix(url: str) -> str | None:
    """The scheme and authority of a plain ``http(s)://`` URL, as written, else ``None``.

    What ``urlsplit`` reads them from: the authority ends at the first ``/``,
    ``?`` or ``#`` after ``//``. ``None`` for anything else (another scheme, a
    scheme in capitals, a tab or line break in the prefix, which ``urlsplit``
    removes wherever it is), which is then read the long way.
    """
    if url.startswith("https://"):
        start = 8
    elif url.startswith("http://"):
        start = 7
    else:
        return None
    end = url.find("/", start)
    if end < 0:
        end = len(url)
    at = url.find("?", start, end)
    if at >= 0:
        end = at
    at = url.find("#", start, end)
    if at >= 0:
        end = at
    prefix = url[:end]
    if "\t" in prefix or "\r" in prefix or "\n" in prefix:
        return None
    return prefix


class Places:
    """The origin and registrable domain of record URLs, remembered by host."""

    def __init__(self) -> None:
        self._origins: dict[tuple[str, str], str] = {}
        self._domains: dict[str, str] = {}
        # Origins by the prefix of the URLs they were read from (_authority_prefix):
        # a URL of a known prefix is not split again.
        self._prefixes: dict[str, str] = {}

    def origin(self, url: str | None) -> tuple[str | None, str | None]:
        """The origin of *url*, or ``None`` and why it cannot be decided."""
        if not url:
            return None, "no URL in the record"
        prefix = _authority_prefix(url)
        if prefix is not None:
            known = self._prefixes.get(prefix)
            if known is not None:
                return known, None
        origin, why = self._split(url)
        if prefix is not None and origin is not None:
            if len(self._prefixes) >= _PREFIXES:
                self._prefixes.clear()
            self._prefixes[prefix] = origin
        return origin, why

    def _split(self, url: str) -> tuple[str | None, str | None]:
        try:
            parts = urlsplit(url)
        except ValueError:
            return None, "not a valid URL"
        key = (parts.scheme, parts.netloc)
        origin = self._origins.get(key)
        if origin is not None:
            return origin, None
        try:
            parts.port  # noqa: B018 - raises on a port out of range
        except ValueError:
            return None, "not a valid URL"
        if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
            return None, "not an http(s) URL"
        origin = self._origins[key] = origin_from_parts(parts)
        return origin, None

    def domain(self, origin: str, url: str) -> str:
        """The registrable domain of *url*, whose origin is *origin* (the origin if none)."""
        domain = self._domains.get(origin)
        if domain is None:
            domain = self._domains[origin] = registrable_domain(url) or origin
        return domain
