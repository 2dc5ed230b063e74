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

This module does no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from scrapy_optout.policy.evaluate import Assessment, Evaluator, may_carry_body_signals
from scrapy_optout.policy.provenance import PROVENANCE_VERSION, provenance_entry
from scrapy_optout.policy.snapshot import OriginPolicy
from scrapy_optout.verdict import Purpose, Verdict, decide

__all__ = ["PROVENANCE_VERSION", "Decision", "decide_record", "provenance"]


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
    if assessment.final:
        verdict = assessment.verdict(purpose)
    else:
        # The record is all there is: no later TDMRep source can arrive.
        verdict = decide(assessment.all_findings, purpose)
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
