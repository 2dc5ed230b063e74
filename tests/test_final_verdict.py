"""``Assessment.final_verdict``: the verdict of a URL when nothing more will be learned of it.

The dataset filter decides a record from its origin's files alone when the
record carries no response: a TDMRep reservation that a page could still have
lifted then counts. The verdict is the one the final assessments alike get, and
it is worked out once per origin and outcome, not once per record.
"""

from __future__ import annotations

import json

import pytest

from scrapy_optout import Evaluator, OriginPolicy, PolicyFile, Purpose
from scrapy_optout.frontends.filter.decide import decide_record
from scrapy_optout.verdict import decide

ORIGIN = "https://example.org:443"
ROBOTS = b"User-agent: CCBot\nDisallow: /news/\n\nUser-agent: *\nDisallow: /private/\n"
TDMREP = json.dumps(
    [
        {"location": "/reports/*", "tdm-reservation": 1},
        {"location": "/open/*", "tdm-reservation": 0},
    ]
).encode()
URLS = [
    ORIGIN + "/",
    ORIGIN + "/news/a",
    ORIGIN + "/news/b",
    ORIGIN + "/private/x",
    ORIGIN + "/reports/1",
    ORIGIN + "/reports/2",
    ORIGIN + "/open/1",
]


def _policy(tdmrep: bytes | None = TDMREP, robots: bytes = ROBOTS) -> OriginPolicy:
    return OriginPolicy(
        ORIGIN,
        PolicyFile("robots.txt", ORIGIN + "/robots.txt", 200, robots),
        PolicyFile("ai.txt", ORIGIN + "/ai.txt", 404, b""),
        PolicyFile(
            "tdmrep.json",
            ORIGIN + "/.well-known/tdmrep.json",
            200 if tdmrep is not None else 404,
            tdmrep or b"",
            content_type="application/json",
        ),
    )


@pytest.mark.parametrize("url", URLS)
@pytest.mark.parametrize("purpose", list(Purpose))
def test_it_is_the_verdict_of_every_finding_a_pending_reservation_included(
    url: str, purpose: Purpose
) -> None:
    evaluator = Evaluator("examplebot/1.0")
    assessment = evaluator.origin_stage(_policy(), url)
    assert not assessment.final
    expected = decide(assessment.all_findings, purpose)
    got = assessment.final_verdict(purpose)
    assert (got.label, got.reasons) == (expected.label, expected.reasons)
    # The one for the crawl, which leaves the pending reservation out, is untouched.
    assert assessment.verdict(purpose) == decide(assessment.findings, purpose)


def test_a_pending_tdmrep_reservation_counts() -> None:
    evaluator = Evaluator("examplebot/1.0")
    assessment = evaluator.origin_stage(_policy(), ORIGIN + "/reports/1")
    assert not assessment.verdict(Purpose.TDM).reserved  # a page could still lift it
    assert assessment.final_verdict(Purpose.TDM).reserved
    assert "tdmrep" in assessment.final_verdict(Purpose.TDM).signals


def test_urls_of_one_outcome_share_one_verdict_with_the_final_assessments_alike() -> None:
    # tdmrep.json the same for every URL (one pending reservation): robots.txt
    # alone tells URLs apart, and the URLs of each of its outcomes share their
    # findings and verdicts.
    evaluator = Evaluator("examplebot/1.0")
    whole_site = json.dumps([{"location": "/*", "tdm-reservation": 1}]).encode()
    policy = _policy(tdmrep=whole_site)
    first, second = (evaluator.origin_stage(policy, ORIGIN + f"/reports/{n}") for n in (1, 2))
    verdict = first.final_verdict(Purpose.TDM)
    assert verdict.reserved and "tdmrep" in verdict.signals
    assert second.final_verdict(Purpose.TDM) is verdict
    assert second.final_verdict("tdm") is verdict
    # A page of that outcome whose response adds nothing gets the same verdict object.
    page = evaluator.body_stage(
        evaluator.headers_stage(second, {"Content-Type": ["text/html"]}),
        b"<!doctype html><title>t</title><p>report</p>",
        encoding="utf-8",
    )
    assert page.final
    assert page.verdict(Purpose.TDM) is verdict
    # Another outcome of robots.txt has its own.
    other = evaluator.origin_stage(policy, ORIGIN + "/news/1")
    assert other.final_verdict(Purpose.TDM) is not verdict
    assert "robots.txt" in other.final_verdict(Purpose.TRAIN).signals
    assert "robots.txt" not in first.final_verdict(Purpose.TRAIN).signals


def test_a_final_assessment_gives_its_verdict() -> None:
    evaluator = Evaluator("examplebot/1.0")
    prior = evaluator.origin_stage(_policy(), ORIGIN + "/news/a")
    final = evaluator.body_stage(
        evaluator.headers_stage(prior, {"Content-Type": ["text/html"]}), b"<p>x</p>"
    )
    for purpose in Purpose:
        assert final.final_verdict(purpose) is final.verdict(purpose)


@pytest.mark.parametrize("url", URLS)
def test_the_filter_decides_an_origin_only_record_by_it(url: str) -> None:
    evaluator = Evaluator("examplebot/1.0")
    policy = _policy()
    for purpose in Purpose:
        decision = decide_record(evaluator, policy, url, purpose)
        assert decision.origin_only
        assert decision.verdict is not None
        expected = decide(evaluator.origin_stage(policy, url).all_findings, purpose)
        assert decision.keep is not expected.reserved
        assert decision.verdict.label == expected.label
