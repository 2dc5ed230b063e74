"""Origins that serve the same policy file share one parse of it, and keep their own evidence.

:class:`OriginPolicy` parses each distinct robots.txt, ai.txt and tdmrep.json
body once while a snapshot holds it; what the evaluator works out per origin
(findings naming the origin's own file, verdicts) must be what an unshared
parse gives, whichever origin asks first.
"""

from __future__ import annotations

import gc

import pytest
from benchmarks.corpora import robots_2019

from scrapy_optout.policy import snapshot
from scrapy_optout.policy.evaluate import Evaluator
from scrapy_optout.policy.snapshot import OriginPolicy, PolicyFile
from scrapy_optout.protocols import aitxt, robots, tdmrep
from scrapy_optout.verdict import Purpose

AI_TXT = b"User-Agent: GPTBot\nDisallow: /private/\n\nUser-Agent: *\nAllow: /\n"
TDMREP = (
    b'[{"location": "/private/*", "tdm-reservation": 1}, {"location": "/", "tdm-reservation": 0}]'
)
EVALUATORS = (
    Evaluator("benchbot/1.0 (+https://example.invalid/bot)"),
    Evaluator("GPTBot/1.2"),
    Evaluator("CCBot/2.0", extra_agents=("ExampleBot",)),
)
PATHS = ("/", "/private/x", "/a/b.html", "/search?q=1", "/wp-admin/", "/%7Euser/")


def _policy(origin: str, robots_body: bytes | memoryview, **kwargs: object) -> OriginPolicy:
    return OriginPolicy(
        origin,
        PolicyFile("robots.txt", origin + "/robots.txt", 200, robots_body),  # type: ignore[arg-type]
        PolicyFile(
            "ai.txt",
            origin + "/ai.txt",
            200,
            AI_TXT,
            content_type=str(kwargs.get("aitxt_type", "text/plain")),
        ),
        PolicyFile(
            "tdmrep.json",
            origin + "/.well-known/tdmrep.json",
            200,
            TDMREP,
            content_type="application/json",
            truncated=bool(kwargs.get("truncated", False)),
        ),
    )


def test_same_bodies_share_one_parse() -> None:
    body = b"User-agent: *\nDisallow: /private/\n"
    first, second = _policy("https://a.example", body), _policy("https://b.example", body)
    assert first.robots is second.robots is not None
    assert first.aitxt is second.aitxt is not None
    assert first.tdmrep is second.tdmrep is not None
    other = _policy("https://c.example", body + b"Disallow: /tmp/\n")
    assert other.robots is not first.robots
    # What the body is read with counts too.
    assert _policy("https://d.example", body, aitxt_type="text/html").aitxt is not first.aitxt
    assert _policy("https://e.example", body, truncated=True).tdmrep is not first.tdmrep


def test_a_body_that_is_no_bytes_object_is_parsed_unshared() -> None:
    body = b"User-agent: *\nDisallow: /x/\n"
    viewed = _policy("https://a.example", memoryview(body))
    assert viewed.robots is not None
    assert viewed.robots is not _policy("https://b.example", memoryview(body)).robots
    decision = EVALUATORS[0].origin_stage(viewed, "https://a.example/x/1")
    assert decision.verdict(Purpose.TRAIN).reserved


def test_a_parse_goes_with_the_last_snapshot_that_holds_it() -> None:
    body = b"User-agent: *\nDisallow: /gone/\n# a body no other test uses\n"
    key = (robots.RobotsTxt.parse, body)
    first, second = _policy("https://a.example", body), _policy("https://b.example", body)
    assert key in snapshot._PARSED
    del first
    gc.collect()
    assert key in snapshot._PARSED
    del second
    gc.collect()
    assert key not in snapshot._PARSED


def _unshared(policy: OriginPolicy) -> OriginPolicy:
    """The same snapshot with its files parsed for it alone."""
    alone = OriginPolicy(policy.origin, policy.robots_file)
    alone.aitxt_file, alone.tdmrep_file = policy.aitxt_file, policy.tdmrep_file
    alone._files = policy.files
    alone.robots = robots.RobotsTxt.parse(policy.robots_file.body)
    alone.aitxt = aitxt.AiTxt.parse(AI_TXT, content_type="text/plain")
    alone.tdmrep = tdmrep.TdmrepFile.parse(TDMREP, content_type="application/json")
    return alone


@pytest.mark.parametrize("start", range(0, 4231, 700))
def test_each_origin_keeps_its_own_evidence(start: int) -> None:
    # Three origins serve each corpus file; they ask in turn, and every answer
    # (findings with their source, TDMRep value, verdicts) is the one an
    # unshared parse gives that origin.
    for corpus_file in robots_2019()[start : start + 40]:
        body = corpus_file.body
        policies = [_policy(f"https://o{n}.example", body) for n in range(3)]
        assert policies[0].robots is policies[2].robots
        references = [_unshared(p) for p in policies]
        for evaluator in EVALUATORS:
            for path in PATHS:
                for policy, reference in zip(policies, references, strict=True):
                    url = policy.origin + path
                    got = evaluator.origin_stage(policy, url)
                    want = evaluator.origin_stage(reference, url)
                    assert got.findings == want.findings
                    assert all(f.source.startswith(policy.origin) for f in got.findings if f.source)
                    assert (got.tdm, got.tdm_assumed) == (want.tdm, want.tdm_assumed)
                    for purpose in Purpose:
                        assert got.verdict(purpose) == want.verdict(purpose)


def test_origins_sharing_a_parse_keep_their_findings_apart() -> None:
    # Each origin keeps its own findings by outcome: thousands of origins asking
    # in turn through one parsed file neither evict each other's findings nor
    # make their plans work the same outcome out again.
    body = b"User-agent: *\nDisallow: /private/\n\nUser-agent: CCBot\nDisallow: /\n"
    evaluator = EVALUATORS[0]
    policies = [
        OriginPolicy(  # robots.txt alone tells URLs apart: the plan keeps its outcomes
            origin,
            PolicyFile("robots.txt", origin + "/robots.txt", 200, body),
            PolicyFile("ai.txt", origin + "/ai.txt", 404, b""),
            PolicyFile("tdmrep.json", origin + "/.well-known/tdmrep.json", 404, b""),
        )
        for origin in (f"https://s{n}.example" for n in range(3000))
    ]
    for round_ in range(3):
        for policy in policies:
            for path in ("/", f"/p/{round_}", "/private/x"):
                evaluator.origin_stage(policy, policy.origin + path)
    shared = policies[0].robots
    assert shared is not None and all(p.robots is shared for p in policies)
    assert not shared._findings  # the file's own cache is not the origins'
    for policy in policies[::300]:
        assert len(policy.robots_findings) == 2  # allowed, and /private/
        (plan,) = policy.plans
        assert plan.single is not None and len(plan.memo) == 2
