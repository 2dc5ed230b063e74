"""The origin stage decided from a per-origin plan gives exactly what matching every URL gives.

:meth:`Evaluator.origin_stage` works out once per origin which of its policy
files can tell one URL from another, and matches only those for each URL; an
origin whose files cannot gives every URL the same findings and verdicts. The
reference here is the same evaluator matching every signal for every URL
(``Evaluator._assess`` with every signal's method): findings (detail text
included), the TDMRep value, the assumed reservation and the verdicts must be
equal, for every robots.txt of the 2019 corpus and the great-gpt-firewall
captures, with ai.txt and ``tdmrep.json`` files from the wild and by hand,
fetched or failed, RSL licences named by robots.txt and opt-out registries,
for several identities and purposes.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from benchmarks.corpora import firewall_sample, paths_for, robots_2019
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scrapy_optout.policy.evaluate import Assessment, Evaluator
from scrapy_optout.policy.registries import Registries
from scrapy_optout.policy.snapshot import RSL_LICENCE, Licence, OriginPolicy, PolicyFile
from scrapy_optout.protocols import aitxt, robots, tdmrep
from scrapy_optout.protocols.registry import Registry, unavailable
from scrapy_optout.protocols.robots import planning as robots_planning
from scrapy_optout.verdict import Purpose, Signal

CORPORA = Path(__file__).resolve().parent.parent / "fixtures" / "corpora"
ORIGIN = "https://site.example"

EVALUATORS = (
    Evaluator("benchbot/1.0 (+https://example.invalid/bot)"),
    Evaluator("GPTBot/1.2"),
    Evaluator("CCBot/2.0", extra_agents=("ExampleBot", "img2dataset")),
    Evaluator("Googlebot/2.1", reserve_unknown=True),
)

# ai.txt and tdmrep.json bodies: none (404), a path-independent one, path-dependent ones,
# and ones that are not files of their protocol.
AI_TXTS: tuple[bytes | None, ...] = (
    None,
    b"User-Agent: *\nDisallow: /\nDisallow: *\n",
    b"User-Agent: *\nDisallow: *.jpg\nDisallow: *.png\nAllow: /\n",
    b"User-Agent: GPTBot, CCBot\nDisallow: /private/\n\nUser-Agent: *\nAllow: /\n",
    b"<!doctype html><html><body>not here</body></html>",
)
TDMREPS: tuple[bytes | None, ...] = (
    None,
    b'[{"location": "/", "tdm-reservation": 1, "tdm-policy": "https://site.example/p.json"}]',
    b'[{"location": "*", "tdm-reservation": 0}]',
    b'[{"location": "/private/*", "tdm-reservation": 1}, {"location": "/", "tdm-reservation": 0}]',
    b'[{"location": "/%70ub/", "tdm-reservation": 1}]',
    b'[{"location": "/", "tdm-reservation": "1"}]',
    b"{not json",
)
# RSL licences (robots.txt ``License:`` lines): ones with path entries, one binding
# every path, one for another origin only, and ones that cannot be read.
_RSL = b'<rsl xmlns="https://rslstandard.org/rsl">%s</rsl>'
LICENCES: tuple[bytes, ...] = (
    _RSL
    % (
        b'<content url="/private/"><license><prohibits type="usage">ai-train</prohibits>'
        b'</license></content><content url="/paid/*"><license>'
        b'<permits type="usage">ai-train, search</permits><payment type="training">'
        b'<amount currency="USD">0.01</amount></payment></license></content>'
    ),
    _RSL
    % (b'<content url="/"><license><prohibits type="usage">all</prohibits></license></content>'),
    _RSL
    % (
        b'<content url="https://other.example/"><license><permits type="usage">all'
        b'</permits><payment type="free"/></license></content>'
    ),
    _RSL % b'<content url="/*.jpg$"><license><payment type="free"/></license></content>',
    b"<!doctype html><html><body>no licence here</body></html>",
    b"<rsl><unclosed>",
)
# Opt-out registries (JSON Lines): none for this origin, URL prefixes, domains, hashes.
_REGISTRY_LINES: tuple[bytes, ...] = (
    b'{"url": "https://other.example/", "declared_by": "Someone Else"}',
    b'{"domain": "other.example"}',
    b'{"url": "https://site.example/private/", "declared_by": "Site Owner"}',
    b'{"url": "http://site.example/a.jpg", "purposes": "train"}',
    b'{"domain": "site.example", "declared_at": "2026-04-04"}',
    b'{"domain": "example", "purposes": ["tdm"]}',
    b'{"sha256": "' + b"ab" * 32 + b'"}',
)


def _registries(lines: tuple[bytes, ...], problem: bool) -> Registries:
    registry = Registry()
    registry.load(b"\n".join(lines), source="reg.jsonl", format="jsonl")
    problems = [unavailable("https://registry.example/r.jsonl", "HTTP 503")] if problem else []
    sources = ["reg.jsonl"] + (["https://registry.example/r.jsonl"] if problem else [])
    return Registries(registry, problems, sources)


REGISTRIES: tuple[Registries | None, ...] = (
    None,
    _registries((), problem=True),
    _registries(_REGISTRY_LINES[:2], problem=False),
    _registries((_REGISTRY_LINES[0], _REGISTRY_LINES[6]), problem=True),
    _registries(_REGISTRY_LINES[2:4], problem=False),
    _registries((_REGISTRY_LINES[4],), problem=True),
    _registries((_REGISTRY_LINES[5],), problem=False),
    _registries(_REGISTRY_LINES, problem=True),
)

# How the fetch of a file went: a status, or a network error.
OUTCOMES: tuple[int | str, ...] = (200, 200, 200, 404, 503, 429, "connection refused")

# Besides each file's own rule paths: resolvable paths, escapes, and robots.txt itself.
EXTRA_PATHS = ("/a/../private/x", "/caf%C3%A9/%7Euser;jsessionid=1", "/robots.txt")


@cache
def _wild(kind: str) -> tuple[bytes, ...]:
    path = CORPORA / "ai-signals-in-the-wild" / "signals.jsonl"
    with path.open(encoding="utf-8") as lines:
        records = [json.loads(line) for line in lines]
    return tuple(r["body"].encode("utf-8") for r in records if r["kind"] == kind)


@cache
def robots_files() -> tuple[bytes, ...]:
    """Every robots.txt of the 2019 corpus, the great-gpt-firewall captures and the wild sample."""
    files = robots_2019() + firewall_sample()
    return tuple(f.body for f in files) + _wild("robots.txt")


def _file(kind: str, path: str, body: bytes | None, outcome: int | str = 200) -> PolicyFile:
    if body is None:
        return PolicyFile(kind, ORIGIN + path, 404, b"Not Found", content_type="text/html")
    if isinstance(outcome, str):
        return PolicyFile(kind, ORIGIN + path, None, error=outcome)
    return PolicyFile(kind, ORIGIN + path, outcome, body if outcome == 200 else b"oops")


def _licence(number: int, body: bytes, outcome: int | str = 200) -> Licence:
    path = f"/licences/{number}.xml"
    return Licence(_file(RSL_LICENCE, path, body, outcome))


def _policy(
    robots_body: bytes,
    ai_body: bytes | None = None,
    tdm_body: bytes | None = None,
    outcomes: tuple[int | str, int | str, int | str] = (200, 200, 200),
    licences: tuple[Licence, ...] = (),
) -> OriginPolicy:
    return OriginPolicy(
        ORIGIN + ":443",
        _file("robots.txt", "/robots.txt", robots_body, outcomes[0]),
        _file("ai.txt", "/ai.txt", ai_body, outcomes[1]),
        _file("tdmrep.json", "/.well-known/tdmrep.json", tdm_body, outcomes[2]),
        licences,
    )


@cache
def _with_registries(number: int, registries: int) -> Evaluator:
    """``EVALUATORS[number]``'s identity consulting ``REGISTRIES[registries]``."""
    base = EVALUATORS[number]
    return Evaluator(
        base.user_agent,
        extra_agents=base.extra_agents,
        reserve_unknown=base.reserve_unknown,
        registries=REGISTRIES[registries],
    )


def _paths(body: bytes, limit: int) -> list[str]:
    """The file's own rule paths made concrete, each also one level deeper, then common paths."""
    return paths_for(body, limit) + list(EXTRA_PATHS)


def _plan(policy: OriginPolicy, evaluator: Evaluator) -> Any:
    (plan,) = (plan for plan in policy.plans if plan.identity == evaluator._identity)
    return plan


def _state(assessment: Assessment) -> tuple[Any, ...]:
    verdicts = []
    for purpose in (Purpose.TRAIN, Purpose.SEARCH, Purpose.CRAWL):
        verdict = assessment.verdict(purpose)
        verdicts.append((verdict.reserved, verdict.reasons, verdict.findings))
    return (
        assessment.url,
        assessment.stage,
        assessment.findings,
        assessment.tdm,
        assessment.tdm_assumed,
        assessment.final,
        assessment.evidence,
        verdicts,
    )


def _assert_same(evaluator: Evaluator, policy: OriginPolicy, url: str, *, final: bool) -> None:
    planned = evaluator.origin_stage(policy, url)
    matched = evaluator._assess(policy, url, Evaluator._ORIGIN_SIGNALS)
    assert _state(planned) == _state(matched), url
    if not final:
        return
    # Once final (nothing more will come), a pending TDMRep reservation counts.
    planned = evaluator.origin_stage(policy, url)
    matched = evaluator._assess(policy, url, Evaluator._ORIGIN_SIGNALS)
    planned.final = matched.final = True
    assert _state(planned) == _state(matched), url


def test_every_corpus_robots_txt_plans_as_it_matches() -> None:
    files = robots_files()
    assert len(files) > 4900
    evaluators = EVALUATORS[:2]
    fixed = [0] * len(evaluators)
    for body in files:
        policy = _policy(body)
        paths = _paths(body, limit=10)
        for number, evaluator in enumerate(evaluators):
            for path in paths:
                _assert_same(evaluator, policy, ORIGIN + path, final=False)
            fixed[number] += _plan(policy, evaluator).fixed is not None
    # Both kinds of origin are among them, for each identity: both ways are compared.
    assert all(0 < count < len(files) for count in fixed)


_SEGMENT = st.one_of(
    st.sampled_from(
        [
            "",
            ".",
            "..",
            "private",
            "wp-admin",
            "robots.txt",
            "a.jpg",
            "%2F",
            "%2e%2E",
            "%70rivate",
            "x;jsessionid=1",
            "*",
            "$",
            "caf\u00e9",
            "a\\b",
            "%",
            "%zz",
            "index.html",
        ]
    ),
    st.text(alphabet="abcxyz/-_.~%;*$", max_size=8),
)


@st.composite
def urls(draw: st.DrawFn, body: bytes) -> str:
    rule_paths = _paths(body, limit=20)
    start = draw(st.sampled_from(rule_paths))
    tail = draw(st.lists(_SEGMENT, max_size=4))
    path = start.rstrip("/") + "/" + "/".join(tail) if tail else start
    if draw(st.booleans()):
        path += "?" + draw(st.sampled_from(["q=1", "a=%2F", "robots.txt", "x=/private/"]))
    if draw(st.booleans()):
        path += "#frag"
    return ORIGIN + path if draw(st.integers(0, 9)) else path


@st.composite
def cases(draw: st.DrawFn) -> tuple[Evaluator, OriginPolicy, list[str]]:
    files = robots_files()
    body = files[draw(st.integers(0, len(files) - 1))]
    ai_body = draw(st.sampled_from(AI_TXTS + _wild("ai.txt")))
    tdm_body = draw(st.sampled_from(TDMREPS + _wild("tdmrep.json")))
    outcome = st.sampled_from(OUTCOMES)
    licences = tuple(
        _licence(number, LICENCES[index], draw(outcome))
        for number, index in enumerate(
            draw(st.lists(st.integers(0, len(LICENCES) - 1), max_size=3))
        )
    )
    policy = _policy(
        body, ai_body, tdm_body, (draw(outcome), draw(outcome), draw(outcome)), licences
    )
    evaluator = _with_registries(
        draw(st.integers(0, len(EVALUATORS) - 1)), draw(st.integers(0, len(REGISTRIES) - 1))
    )
    return evaluator, policy, draw(st.lists(urls(body), min_size=1, max_size=6))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases())
def test_random_urls_plan_as_they_match(case: tuple[Evaluator, OriginPolicy, list[str]]) -> None:
    evaluator, policy, urls_ = case
    for url in urls_:
        _assert_same(evaluator, policy, url, final=True)


# -- which files the plan can skip --------------------------------------------------


@pytest.mark.parametrize(
    ("body", "token", "expected"),
    [
        (b"", "benchbot", True),
        (b"User-agent: *\nDisallow:\n", "benchbot", True),
        (b"User-agent: *\nDisallow: /\n", "benchbot", True),
        (b"User-agent: *\nDisallow: /\nAllow: /\n", "benchbot", True),
        (b"User-agent: *\nDisallow: /*\nDisallow: /private\n", "benchbot", False),
        (b"User-agent: *\nDisallow: /private/\n", "benchbot", False),
        (b"User-agent: *\nDisallow: /$\n", "benchbot", False),
        (b"User-agent: *\nDisallow: %2F\n", "benchbot", False),
        (b"User-agent: GPTBot\nDisallow: /\n\nUser-agent: *\nAllow: /\n", "benchbot", True),
        (b"User-agent: GPTBot\nDisallow: /private/\n", "benchbot", False),
        (b"User-agent: *\nContent-Usage: train-ai=n\n", "benchbot", True),
        (b"User-agent: *\nContent-Usage: /blog/ train-ai=n\n", "benchbot", False),
        (b"User-agent: *\nContent-Signal: ai-train=no\n", "benchbot", True),
        (b"User-agent: *\nContent-Signal: /news/ ai-train=no\n", "benchbot", False),
        (b"User-agent: benchbot\nDisallow: /x\n\nUser-agent: *\nDisallow: /\n", "benchbot", False),
    ],
)
def test_robots_path_independence(body: bytes, token: str, expected: bool) -> None:
    parsed = robots.RobotsTxt.parse(body)
    assert robots.is_path_independent(parsed, status=200, error=None, token=token) is expected


@pytest.mark.parametrize("status", [404, 500, 429, None])
def test_a_robots_fetch_without_a_file_is_path_independent(status: int | None) -> None:
    parsed = robots.RobotsTxt.parse(b"User-agent: *\nDisallow: /private/\n")
    error = "timeout" if status is None else None
    assert robots.is_path_independent(parsed, status=status, error=error, token="benchbot")


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"User-Agent: *\nDisallow: /\nDisallow: *\n", True),
        (b"User-Agent: *\nDisallow: *.jpg\n", False),
        (b"User-Agent: CCBot\nDisallow: /x\n", True),  # no group for this crawler
        (b"User-Agent: benchbot, GPTBot\nDisallow: /x\n\nUser-Agent: *\nDisallow: /\n", False),
        (b"<html><body>nothing</body></html>", True),
    ],
)
def test_aitxt_path_independence(body: bytes, expected: bool) -> None:
    assert aitxt.AiTxt.parse(body).is_path_independent("GPTBot") is expected


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"[]", True),
        (b'[{"location": "/", "tdm-reservation": 1}]', True),
        (
            b'[{"location": "/*", "tdm-reservation": 1}, {"location": "/a", "tdm-reservation": 0}]',
            True,
        ),
        (
            b'[{"location": "/a", "tdm-reservation": 0}, {"location": "/", "tdm-reservation": 1}]',
            False,
        ),
        (b'[{"location": "/$", "tdm-reservation": 1}]', False),
        (b"not json", True),
    ],
)
def test_tdmrep_path_independence(body: bytes, expected: bool) -> None:
    assert tdmrep.TdmrepFile.parse(body).is_path_independent() is expected


def test_an_origin_reserving_everything_is_decided_without_matching() -> None:
    evaluator = EVALUATORS[0]
    policy = _policy(b"User-agent: *\nDisallow: /\n")
    first = evaluator.origin_stage(policy, ORIGIN + "/a")
    second = evaluator.origin_stage(policy, ORIGIN + "/b/c?d")
    assert _plan(policy, evaluator).fixed is not None
    assert first.verdict(Purpose.TRAIN).reserved and second.verdict(Purpose.TRAIN).reserved
    assert first.findings == second.findings
    assert (
        first.findings[0].detail
        == "the group for * disallows this URL (line 2): not to be fetched at all"
    )
    # robots.txt itself stays allowed.
    own = evaluator.origin_stage(policy, ORIGIN + "/robots.txt")
    assert not own.verdict(Purpose.CRAWL).reserved
    assert own.findings[0].detail == "/robots.txt is always allowed (RFC 9309 §2.2.2)"


def test_a_pending_tdmrep_reservation_counts_once_a_planned_assessment_is_final() -> None:
    evaluator = EVALUATORS[0]
    policy = _policy(b"User-agent: *\nAllow: /\n", tdm_body=TDMREPS[1])
    pending = evaluator.origin_stage(policy, ORIGIN + "/a")
    assert not pending.verdict(Purpose.TRAIN).reserved  # shared with every URL of the origin
    final = evaluator.origin_stage(policy, ORIGIN + "/b")
    final.final = True
    assert final.verdict(Purpose.TRAIN).reserved
    assert not evaluator.origin_stage(policy, ORIGIN + "/c").verdict(Purpose.TRAIN).reserved


def test_only_the_files_with_path_rules_are_matched() -> None:
    evaluator = EVALUATORS[0]
    policy = _policy(
        b"User-agent: *\nDisallow: /private/\n", AI_TXTS[1], TDMREPS[3], (200, 200, 200)
    )
    evaluator.origin_stage(policy, ORIGIN + "/")
    plan = _plan(policy, evaluator)
    kinds = ["known" if isinstance(step, tuple) else "matched" for step in plan.steps]
    assert kinds == ["matched", "known", "matched", "known", "known"]
    assert plan.fixed is None


@pytest.mark.parametrize(
    ("status", "error"), [(200, None), (None, None), (404, None), (503, None), (None, "timed out")]
)
def test_the_findings_reader_gives_what_shared_findings_gives(
    status: int | None, error: str | None
) -> None:
    evaluator = EVALUATORS[0]
    for body in robots_files()[:300:7]:
        parsed = robots.RobotsTxt.parse(body)
        given = {
            "status": status,
            "error": error,
            "token": evaluator.token,
            "source": ORIGIN + "/robots.txt",
            "catalogue": evaluator.catalogue,
            "cache": {},
        }
        read = robots.findings_reader(parsed, **given)
        for path in _paths(body, limit=5):
            found = robots.shared_findings(parsed, ORIGIN + path, **given)
            assert read(ORIGIN + path) == found
            if error is None and status in (200, None):  # the file applies
                # The same tuple object: callers key their own work on it.
                assert read(ORIGIN + path) is found


def test_a_plan_reads_robots_txt_alone_through_its_reader() -> None:
    evaluator = EVALUATORS[0]
    policy = _policy(b"User-agent: *\nDisallow: /private/\n")
    assert evaluator.origin_stage(policy, ORIGIN + "/private/a").verdict(Purpose.TRAIN).reserved
    plan = _plan(policy, evaluator)
    assert plan.single is not None and plan.read is not None
    url = ORIGIN + "/private/b"
    assert plan.read(url) is Evaluator._robots(evaluator, policy, url).findings
    # Another signal telling URLs apart: each URL takes every step, no reader.
    policy = _policy(b"User-agent: *\nDisallow: /private/\n", AI_TXTS[1], TDMREPS[3])
    evaluator.origin_stage(policy, ORIGIN + "/")
    assert _plan(policy, evaluator).read is None


# -- RSL licences and registries in the plan --------------------------------------------

LICENSED = b"User-agent: *\nAllow: /\nLicense: https://site.example/licences/0.xml\n"
PATHS = ("/", "/private/x", "/paid/a", "/a.jpg", "/caf%C3%A9", "/robots.txt", "private/y")


@pytest.mark.parametrize(
    ("body", "outcome", "expected"),
    [
        (LICENCES[0], 200, False),
        (LICENCES[1], 200, False),  # readable: its entries are matched for each URL
        (LICENCES[3], 200, False),
        (LICENCES[4], 200, True),  # HTML, not RSL
        (LICENCES[5], 200, True),  # not well-formed
        (LICENCES[0], 404, True),
        (LICENCES[0], 503, True),
        (LICENCES[0], "connection refused", True),
    ],
)
def test_rsl_path_independence(body: bytes, outcome: int | str, expected: bool) -> None:
    assert _licence(0, body, outcome).is_path_independent() is expected


@pytest.mark.parametrize(
    ("registries", "expected"),
    [
        (1, True),  # a registry that could not be read: the same unknown for every URL
        (2, True),  # declarations about other hosts only
        (3, True),  # another host's prefix, a hash
        (4, False),  # URL prefixes of this host
        (5, False),  # its domain: the finding names the URL
        (6, False),  # a parent domain
        (7, False),
    ],
)
def test_registry_path_independence(registries: int, expected: bool) -> None:
    found = REGISTRIES[registries]
    assert found is not None
    assert found.is_path_independent(ORIGIN + ":443") is expected


@pytest.mark.parametrize("registries", range(len(REGISTRIES)))
@pytest.mark.parametrize(
    "licences",
    [(), (0,), (1,), (2,), (3,), (4,), (1, 4), (5, 0)],
)
@pytest.mark.parametrize("outcome", [200, 503])
@pytest.mark.parametrize("number", range(len(EVALUATORS)))
def test_licences_and_registries_plan_as_they_match(
    registries: int, licences: tuple[int, ...], outcome: int, number: int
) -> None:
    evaluator = _with_registries(number, registries)
    for robots_body in (LICENSED, b"User-agent: *\nDisallow: /private/\n"):
        policy = _policy(
            robots_body,
            licences=tuple(
                _licence(n, LICENCES[index], outcome) for n, index in enumerate(licences)
            ),
        )
        for path in PATHS:
            _assert_same(evaluator, policy, ORIGIN + path, final=True)


def test_an_origin_with_licences_and_a_registry_is_planned_per_signal() -> None:
    registries = REGISTRIES[7]
    evaluator = Evaluator("benchbot/1.0", registries=registries)
    policy = _policy(LICENSED, licences=(_licence(0, LICENCES[0]), _licence(1, LICENCES[4])))
    private = evaluator.origin_stage(policy, ORIGIN + "/private/x")
    plan = _plan(policy, evaluator)
    kinds = ["known" if isinstance(step, tuple) else "matched" for step in plan.steps]
    assert kinds == ["known", "known", "known", "matched", "matched"]
    assert plan.fixed is None
    signals = {f.signal for f in private.findings}
    assert {Signal.RSL, Signal.REGISTRY} <= signals
    assert private.verdict(Purpose.TRAIN).reserved
    # A domain declaration's finding names the URL: never shared between URLs.
    other = evaluator.origin_stage(policy, ORIGIN + "/other")
    assert [f.detail for f in other.findings if f.signal is Signal.REGISTRY] != [
        f.detail for f in private.findings if f.signal is Signal.REGISTRY
    ]


def test_unreadable_licences_and_registries_leave_the_origin_fixed() -> None:
    evaluator = Evaluator("benchbot/1.0", reserve_unknown=True, registries=REGISTRIES[1])
    policy = _policy(b"User-agent: *\nDisallow: /\n", licences=(_licence(0, LICENCES[0], 503),))
    first = evaluator.origin_stage(policy, ORIGIN + "/a")
    plan = _plan(policy, evaluator)
    assert plan.fixed is not None
    second = evaluator.origin_stage(policy, ORIGIN + "/b")
    assert first.findings == second.findings
    assumed = [f for f in first.findings if f.signal in (Signal.RSL, Signal.REGISTRY)]
    assert len(assumed) == 2
    assert all("OPTOUT_UNKNOWN" in f.detail for f in assumed)


def test_registries_loaded_again_get_a_plan_of_their_own() -> None:
    evaluator = Evaluator("benchbot/1.0", registries=REGISTRIES[2])
    policy = _policy(b"User-agent: *\nAllow: /\n")
    url = ORIGIN + "/private/x"
    before = evaluator.origin_stage(policy, url)
    assert not any(f.signal is Signal.REGISTRY for f in before.findings)
    assert _plan(policy, evaluator).fixed is not None
    evaluator.registries = REGISTRIES[4]  # a reload that declares this origin's paths
    after = evaluator.origin_stage(policy, url)
    assert [f.signal for f in after.findings if f.signal is Signal.REGISTRY] == [Signal.REGISTRY]
    assert after.verdict(Purpose.TRAIN).reserved
    assert len(policy.plans) == 2
    assert _plan(policy, evaluator).fixed is None


def test_groups_of_a_few_plain_prefixes_decide_by_their_prefixes_as_by_their_rules() -> None:
    # Most groups are a few plain prefixes: a URL with one reading is decided by
    # the longest of their prefixes it starts with (the plan's ``quick`` table).
    # Every corpus file, with the table and without it, for the URLs of its own
    # rules (also cut short), must give the same findings.
    evaluator = EVALUATORS[1]
    files = robots_files()
    quick = 0
    for body in files:
        policy = _policy(body)
        parsed = policy.robots
        if parsed is None:
            continue
        plan = robots_planning.plan_for(parsed, evaluator.token, evaluator.catalogue, ())
        if plan.quick is None:
            continue
        quick += 1
        paths = _paths(body, limit=10)
        # Cut short too: a path that stops inside a prefix, or just before it.
        for path in (
            paths + [p[:-1] or "/" for p in paths] + [p[: len(p) // 2] or "/" for p in paths]
        ):
            url = ORIGIN + path
            kwargs: dict[str, Any] = {
                "status": 200,
                "error": None,
                "token": evaluator.token,
                "source": ORIGIN + "/robots.txt",
                "catalogue": evaluator.catalogue,
            }
            fast = robots.shared_findings(parsed, url, **kwargs)
            table, plan.quick = plan.quick, None
            try:
                parsed._findings.clear()
                slow = robots.shared_findings(parsed, url, **kwargs)
            finally:
                plan.quick = table
                parsed._findings.clear()
            assert fast == slow, (body[:200], url)
    # Both kinds of file are among them.
    assert 0 < quick < len(files)
