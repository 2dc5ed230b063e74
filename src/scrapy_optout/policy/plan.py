"""What one evaluator needs of one origin's files for every URL of it.

An :class:`OriginPlan` is made on an origin's first URL and kept on its
snapshot: the signals whose files cannot tell one URL from another give their
:class:`Outcome` once, and only the others are read for each URL (see
:meth:`~scrapy_optout.policy.evaluate.Evaluator.origin_stage`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple, TypeAlias

from scrapy_optout.policy.assessment import Assessment, SharedVerdicts
from scrapy_optout.policy.snapshot import OriginPolicy
from scrapy_optout.protocols import tdmrep
from scrapy_optout.verdict import Finding, Stage

__all__ = ["MEMO_SIZE", "NOTHING", "OriginPlan", "Outcome", "Step", "freeze"]


class Outcome(NamedTuple):
    """What one origin-level signal says of a URL.

    ``tdm`` is a TDMRep value and ``assumed`` the reservation assumed for a
    file that could not be read (:attr:`Assessment.tdm_assumed`).
    """

    findings: Sequence[Finding]
    tdm: tdmrep.TdmValue | None = None
    assumed: Finding | None = None

    def assessment(self, url: str, policy: OriginPolicy, token: str) -> Assessment:
        return Assessment(
            url,
            Stage.ORIGIN,
            list(self.findings),
            self.tdm,
            False,
            policy.files,
            tdm_assumed=self.assumed,
            token=token,
        )


#: The outcome of a signal that says nothing.
NOTHING = Outcome(())
#: A signal's method giving its outcome for a URL.
#: (Its first argument is the :class:`~scrapy_optout.policy.evaluate.Evaluator`.)
Step: TypeAlias = "Callable[[Any, OriginPolicy, str], Outcome]"
#: Entries of an origin plan's memo (:meth:`Evaluator._assess_single`).
MEMO_SIZE = 64


class OriginPlan:
    """What one evaluator needs of one origin's files for every URL.

    ``steps`` holds, per origin-level signal, its outcome when it is the same
    for every URL of the origin (``/robots.txt`` aside), else the method
    that reads a URL; only the signals whose files have rules that tell
    URLs apart are matched for each URL. When no signal does, ``fixed`` is
    the outcome of them all and ``verdicts`` the verdicts, by purpose,
    shared by every assessment made from it.
    """

    __slots__ = ("fixed", "identity", "memo", "read", "single", "steps", "verdicts")

    def __init__(self, identity: tuple[Any, ...], steps: tuple[Outcome | Step, ...]) -> None:
        #: What the evaluator's outcomes depend on: evaluators alike share plans.
        self.identity = identity
        self.steps = steps
        self.fixed: Outcome | None = None
        self.verdicts: SharedVerdicts | None = None
        outcomes = [step for step in self.steps if type(step) is Outcome]
        # When exactly one signal (most often robots.txt) tells URLs apart: its
        # position and method, and the assessments' parts by its findings.
        self.single: tuple[int, Step] | None = None
        self.memo: dict[int, tuple[Any, ...]] = {}
        # When that signal gives findings alone (robots.txt): a function of the
        # URL giving them, with what depends on the file alone worked out once.
        self.read: Callable[[str], Sequence[Finding]] | None = None
        variable = [(i, s) for i, s in enumerate(self.steps) if not isinstance(s, Outcome)]
        if len(variable) == 1:
            self.single = variable[0]
        if len(outcomes) == len(self.steps):
            tdm = [o.tdm for o in outcomes if o.tdm is not None]
            assumed = [o.assumed for o in outcomes if o.assumed is not None]
            self.fixed = Outcome(
                tuple(f for o in outcomes for f in o.findings),
                tdm[-1] if tdm else None,
                assumed[-1] if assumed else None,
            )
            self.verdicts = SharedVerdicts()


def freeze(outcome: Outcome) -> Outcome:
    """*outcome* with its findings as a tuple (itself when they are one: NOTHING stays shared)."""
    if type(outcome.findings) is tuple:
        return outcome
    return outcome._replace(findings=tuple(outcome.findings))
