"""Evaluate a URL against policy files you already have, without Scrapy or a network.

The same evaluator the Scrapy add-on and ``optout check`` use, for callers that
hold the files themselves: a dataset pipeline with stored captures, a test, a
notebook. :func:`evaluate_url` takes the three well-known files as bytes (or as
:class:`~scrapy_optout.policy.snapshot.PolicyFile` objects when the fetch
outcome matters: a 503, a timeout), and optionally the response's headers and
body, and returns the combined :class:`~scrapy_optout.verdict.Verdict`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from scrapy_optout.policy.evaluate import Assessment, Evaluator
from scrapy_optout.policy.snapshot import OriginPolicy, PolicyFile
from scrapy_optout.policy.urls import AI_TXT, ROBOTS_TXT, TDMREP_JSON, origin_of, policy_url
from scrapy_optout.verdict import Purpose, Verdict

__all__ = ["DEFAULT_USER_AGENT", "assess_url", "evaluate_url", "origin_policy"]

#: The User-Agent a caller that names none is judged as.
DEFAULT_USER_AGENT = "scrapy-optout/0.1 (+https://github.com/scrapy-optout/scrapy-optout)"

#: A policy file given as its body (answered 200), as fetched, or not at all.
FileInput = bytes | PolicyFile | None


def origin_policy(
    url: str,
    *,
    robots_txt: FileInput = None,
    ai_txt: FileInput = None,
    tdmrep_json: FileInput = None,
) -> OriginPolicy:
    """The policy snapshot of *url*'s origin built from files you hold.

    A file given as ``bytes`` is taken as a ``200`` answer with that body. A
    robots.txt given as ``None`` is taken as absent (a ``404``: everything
    allowed, RFC 9309 §2.3.1.3); an ai.txt or tdmrep.json given as ``None`` was
    not fetched and says nothing.
    """
    origin = origin_of(url)
    robots = _policy_file(origin, ROBOTS_TXT, robots_txt)
    if robots is None:
        robots = PolicyFile(ROBOTS_TXT, policy_url(origin, ROBOTS_TXT), 404)
    return OriginPolicy(
        origin,
        robots,
        _policy_file(origin, AI_TXT, ai_txt),
        _policy_file(origin, TDMREP_JSON, tdmrep_json),
    )


def assess_url(
    url: str,
    *,
    robots_txt: FileInput = None,
    ai_txt: FileInput = None,
    tdmrep_json: FileInput = None,
    headers: Mapping[str, str | Sequence[str]] | None = None,
    body: bytes | None = None,
    user_agent: str = DEFAULT_USER_AGENT,
    agents: Iterable[str] = (),
    reserve_unknown: bool = False,
) -> Assessment:
    """Every finding about *url*: its origin's files, then its headers and body when given.

    Without *headers* and *body* the assessment stops at the origin stage, as a
    crawler deciding before a request leaves. *agents* are extra robots.txt
    product tokens whose groups count as training reservations
    (``OPTOUT_AGENTS``); *reserve_unknown* is ``OPTOUT_UNKNOWN = "reserve"``.
    """
    evaluator = Evaluator(user_agent, extra_agents=agents, reserve_unknown=reserve_unknown)
    policy = origin_policy(url, robots_txt=robots_txt, ai_txt=ai_txt, tdmrep_json=tdmrep_json)
    assessment = evaluator.origin_stage(policy, url)
    if headers is None and body is None:
        return assessment
    lists = {
        name: [value] if isinstance(value, str) else list(value)
        for name, value in (headers or {}).items()
    }
    assessment = evaluator.headers_stage(assessment, lists)
    return evaluator.body_stage(assessment, body or b"")


def evaluate_url(
    url: str,
    *,
    purpose: Purpose | str = Purpose.TRAIN,
    robots_txt: FileInput = None,
    ai_txt: FileInput = None,
    tdmrep_json: FileInput = None,
    headers: Mapping[str, str | Sequence[str]] | None = None,
    body: bytes | None = None,
    user_agent: str = DEFAULT_USER_AGENT,
    agents: Iterable[str] = (),
    reserve_unknown: bool = False,
) -> Verdict:
    """Whether *url* is reserved for *purpose*, and why.

    The arguments are those of :func:`assess_url`; the result is the verdict
    for *purpose*, whose ``reasons`` are the findings that reserve it.
    """
    assessment = assess_url(
        url,
        robots_txt=robots_txt,
        ai_txt=ai_txt,
        tdmrep_json=tdmrep_json,
        headers=headers,
        body=body,
        user_agent=user_agent,
        agents=agents,
        reserve_unknown=reserve_unknown,
    )
    if headers is None and body is None:
        # Nothing more will come: a tdmrep.json reservation is no longer pending.
        assessment.final = True
    return assessment.verdict(Purpose(purpose))


def _policy_file(origin: str, kind: str, given: FileInput) -> PolicyFile | None:
    if given is None or isinstance(given, PolicyFile):
        return given
    if not isinstance(given, bytes | bytearray | memoryview):
        raise TypeError(f"{kind} must be bytes, a PolicyFile or None, not {type(given).__name__}")
    return PolicyFile(kind, policy_url(origin, kind), 200, bytes(given))
