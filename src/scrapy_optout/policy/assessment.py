"""What is known of one URL at one stage, and the verdicts drawn from it.

:class:`Assessment` is what :class:`~scrapy_optout.policy.evaluate.Evaluator`
gives at each stage. Its verdicts are decided once per purpose; assessments
that hold the same findings (the origin stage of every URL that one
robots.txt outcome decides, and the later stages that add nothing to it)
share one set of them (:class:`SharedVerdicts`, :func:`share_verdicts`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from scrapy_optout.policy.snapshot import PolicyFile
from scrapy_optout.protocols import tdmrep
from scrapy_optout.verdict import Finding, Purpose, Stage, Verdict, decide

__all__ = ["Assessment", "SharedVerdicts", "share_verdicts"]


#: The headers of an assessment made before any response: one shared, read-only mapping.
_NO_HEADERS: Mapping[str, Sequence[str]] = MappingProxyType({})


def _no_headers() -> Mapping[str, Sequence[str]]:
    return _NO_HEADERS


@dataclass(slots=True)
class Assessment:
    """Everything known about one URL at one stage.

    ``findings`` holds every finding so far except TDMRep's; ``tdm`` is the
    TDMRep value after the sources seen so far. ``final`` is false while a later
    source could still override that value, and a pending TDMRep reservation
    does not count yet. ``image_findings`` are reservations that bind the images
    of an HTML page (``noimageai``), not the page itself. ``tdm_assumed`` is
    the reservation an evaluator that treats unknown as reserved assumes for a
    ``tdmrep.json`` it could not read; like a reservation made in the file, it
    holds unless a later TDMRep source (header, meta) gives a valid value.
    ``token`` is the product token of the evaluator that made it.
    """

    url: str
    stage: Stage
    findings: list[Finding]
    tdm: tdmrep.TdmValue | None
    final: bool
    files: list[PolicyFile]
    headers: Mapping[str, Sequence[str]] = field(default_factory=_no_headers)
    image_findings: Sequence[Finding] = ()
    tdm_assumed: Finding | None = None
    token: str | None = None
    # Verdicts by purpose: asked for again at each later hook of one response.
    _verdicts: dict[Purpose, Verdict] | None = field(
        default=None, init=False, repr=False, compare=False
    )

    @property
    def evidence(self) -> list[dict[str, Any]]:
        """The ledger's evidence list: one entry per policy file consulted."""
        return [f.evidence() for f in self.files]

    @property
    def tdm_findings(self) -> list[Finding]:
        found = tdmrep.findings(self.tdm)
        if self.tdm_assumed is not None and (self.tdm is None or self.tdm.reservation is None):
            found.append(self.tdm_assumed)
        return found

    @property
    def all_findings(self) -> list[Finding]:
        return self.findings + self.tdm_findings

    def verdict(self, purpose: Purpose | str) -> Verdict:
        """The verdict for *purpose*; a pending TDMRep reservation is left out."""
        verdicts = self._verdicts
        if verdicts is None or (self.final and type(verdicts) is SharedVerdicts):
            verdicts = self._verdicts = {}
        known = verdicts.get(purpose)  # type: ignore[arg-type]
        if known is None:
            known = decide(self.all_findings if self.final else self.findings, purpose)
            verdicts[known.purpose] = known
        return known

    def final_verdict(self, purpose: Purpose | str) -> Verdict:
        """The verdict if nothing more is learned of the URL: a pending TDMRep reservation counts.

        What :meth:`verdict` gives once the assessment is final; for one that is
        not (a dataset record, whose stored response is all there is), worked out
        as if it were, and kept with the verdicts of the final assessments alike
        (see :func:`share_verdicts`), so that the records of one origin and
        outcome decide it once.
        """
        if self.final:
            return self.verdict(purpose)
        shared = self._verdicts
        final = shared.finals() if type(shared) is SharedVerdicts else {}
        known = final.get(purpose)  # type: ignore[arg-type]
        if known is None:
            known = decide(self.all_findings, purpose)
            final[known.purpose] = known
        return known


class SharedVerdicts(dict[Purpose, Verdict]):
    """Verdicts shared by the origin-stage assessments of one plan, while not final.

    ``final`` holds the verdicts of the final assessments that later stages
    make from them without adding anything (:func:`share_verdicts`).
    """

    __slots__ = ("final",)

    def __init__(self) -> None:
        super().__init__()
        self.final: dict[Purpose, Verdict] | None = None

    def finals(self) -> dict[Purpose, Verdict]:
        """:attr:`final`, made on first use."""
        if self.final is None:
            self.final = {}
        return self.final


def share_verdicts(assessment: Assessment, prior: Assessment) -> None:
    """Give *assessment* the verdicts of *prior* when it adds nothing to it.

    Nothing added: no finding, the same TDMRep value and assumption, no image
    finding; the verdicts are then those of every assessment alike, kept once.
    """
    shared = prior._verdicts
    if (
        type(shared) is not SharedVerdicts
        or len(assessment.findings) != len(prior.findings)
        or assessment.tdm is not prior.tdm
        or assessment.tdm_assumed is not prior.tdm_assumed
        or assessment.image_findings
    ):
        return
    if not assessment.final:
        assessment._verdicts = shared
        return
    assessment._verdicts = shared.finals()
