"""How RSL licences, licence answers and registries pass through the stages, without a crawl.

The evaluator with licence documents and registries handed to it, the policy
store's licence cache, the cold store, the registry loaders, the settings and
the command line's ``--registry``.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from pathlib import Path

import pytest

from faultserver import FaultServer, Respond, text
from helpers import FIXTURES
from scrapy_optout.cli import main
from scrapy_optout.exceptions import ConfigurationError
from scrapy_optout.frontends.http import HttpFetcher
from scrapy_optout.frontends.report import ledger_report
from scrapy_optout.policy.evaluate import Evaluator
from scrapy_optout.policy.links import body_licence_links, header_licence_links
from scrapy_optout.policy.registries import Registries, is_body_declaration
from scrapy_optout.policy.snapshot import Licence, OriginPolicy, PolicyFile
from scrapy_optout.protocols.registry import Registry
from scrapy_optout.scrapy.settings import OptOutSettings
from scrapy_optout.stores.coldstore import ColdStore
from scrapy_optout.stores.memory import MemoryPolicyStore
from scrapy_optout.stores.registries import (
    REGISTRY_KIND,
    REGISTRY_LIMITS,
    RegistryRefresh,
    load_registries,
    load_registries_async,
)
from scrapy_optout.verdict import Purpose, Stage, Stance

UA = "optout-test/1.0"
SITE = "https://news.example"
LICENCE_URL = "https://licensing.example/site.xml"
NO_AI = (FIXTURES / "rsl" / "site-no-ai.xml").read_bytes()
PAID = (FIXTURES / "rsl" / "paid-training.xml").read_bytes()


def robots(body: str, status: int = 200, **headers: str) -> PolicyFile:
    kept = tuple((name.replace("_", "-"), value) for name, value in headers.items())
    return PolicyFile("robots.txt", f"{SITE}/robots.txt", status, body.encode(), headers=kept)


def licence(body: bytes | None, url: str = LICENCE_URL, status: int | None = 200) -> Licence:
    if body is None:
        return Licence(PolicyFile("rsl", url, None, error="connection refused"))
    return Licence(PolicyFile("rsl", url, status, body))


def with_licence(doc: Licence) -> OriginPolicy:
    policy = OriginPolicy(f"{SITE}:443", robots(f"User-agent: *\nAllow: /\nLicense: {doc.url}\n"))
    assert policy.licence_urls == [doc.url]
    return policy.with_licences([doc])


# -- origin stage ---------------------------------------------------------------------------------


def test_robots_licence_reserves_at_the_origin_stage() -> None:
    policy = with_licence(licence(NO_AI))
    assessment = Evaluator(UA).origin_stage(policy, f"{SITE}/a.html")
    verdict = assessment.verdict(Purpose.TRAIN)
    assert verdict.signals == ["rsl"]
    assert verdict.reasons[0].source == LICENCE_URL
    assert not assessment.verdict(Purpose.SEARCH).reserved
    assert not assessment.verdict(Purpose.CRAWL).reserved  # RSL never bears on fetching
    assert LICENCE_URL in {e["source"] for e in assessment.evidence}


def test_paid_licence_is_licence_required() -> None:
    policy = with_licence(licence(PAID))
    assessment = Evaluator(UA).origin_stage(policy, f"{SITE}/articles/one")
    reason = assessment.verdict(Purpose.TRAIN).reasons[0]
    assert "licence required" in reason.detail
    assert "USD" in reason.detail
    # Search is free, but the content has a licence server: a licence must be obtained.
    assert assessment.verdict(Purpose.SEARCH).reserved


@pytest.mark.parametrize(
    "doc",
    [licence(None), licence(b"<html><body>nope</body></html>"), licence(b"", status=404)],
    ids=["unreachable", "html", "404"],
)
def test_broken_licence_follows_reserve_unknown(doc: Licence) -> None:
    policy = with_licence(doc)
    lenient = Evaluator(UA).origin_stage(policy, f"{SITE}/a.html")
    assert not lenient.verdict(Purpose.TRAIN).reserved
    assert [f.stance for f in lenient.findings if f.signal == "rsl"] == [Stance.UNKNOWN]
    strict = Evaluator(UA, reserve_unknown=True).origin_stage(policy, f"{SITE}/a.html")
    reason = strict.verdict(Purpose.TRAIN).reasons[0]
    assert reason.signal == "rsl"
    assert "OPTOUT_UNKNOWN = 'reserve'" in reason.detail


# -- headers stage --------------------------------------------------------------------------------


def test_link_header_licence_at_the_headers_stage() -> None:
    link = f'<{LICENCE_URL}>; rel="license"; type="application/rsl+xml"'
    headers = {"Link": [link], "Content-Type": ["image/png"]}
    evaluator = Evaluator(UA)
    prior = evaluator.origin_stage(OriginPolicy(f"{SITE}:443", robots("")), f"{SITE}/i.png")
    assert header_licence_links({"link": [link]}, f"{SITE}/i.png") == [LICENCE_URL]
    done = evaluator.headers_stage(prior, headers, licences={LICENCE_URL: licence(NO_AI)})
    reasons = done.verdict(Purpose.TRAIN).reasons
    assert [(r.signal, r.where) for r in reasons] == [("rsl", "header")]
    # Not handed the licence: an unknown finding says it was not fetched.
    blind = evaluator.headers_stage(prior, headers)
    assert not blind.verdict(Purpose.TRAIN).reserved
    assert "was not fetched" in next(f for f in blind.findings if f.signal == "rsl").detail


@pytest.mark.parametrize(
    ("status", "headers", "rule"),
    [
        (
            402,
            {"Crawler-Price": ["USD 0.01"]},
            "HTTP 402 Payment Required; crawler-price: USD 0.01",
        ),
        (
            401,
            {"WWW-Authenticate": ['License realm="x"']},
            'HTTP 401 Unauthorized; WWW-Authenticate: License realm="x"',
        ),
    ],
)
def test_licence_answers_reserve_every_purpose(status, headers, rule) -> None:
    evaluator = Evaluator(UA)
    prior = evaluator.origin_stage(OriginPolicy(f"{SITE}:443", robots("")), f"{SITE}/a")
    for done in (
        evaluator.headers_stage(prior, headers, status=status),
        evaluator.with_status(evaluator.headers_stage(prior, headers), status),
    ):
        assert done.stage is Stage.HEADERS
        for purpose in Purpose:
            verdict = done.verdict(purpose)
            assert verdict.signals == ["licence"]
            assert verdict.reasons[0].rule == rule


def test_an_ordinary_login_is_no_licence_answer() -> None:
    evaluator = Evaluator(UA)
    prior = evaluator.origin_stage(OriginPolicy(f"{SITE}:443", robots("")), f"{SITE}/a")
    basic = {"WWW-Authenticate": ['Basic realm="staff"']}
    assert not evaluator.headers_stage(prior, basic, status=401).verdict(Purpose.TRAIN).reserved
    assert evaluator.with_status(prior, 200) is prior


@pytest.mark.parametrize(
    ("status", "headers", "said"),
    [
        (401, {"www-authenticate": 'License realm="rsl"'}, "robots.txt answered 401 Unauthorized"),
        (402, {"crawler-price": "USD 0.01"}, "(crawler-price: USD 0.01)"),
        (403, {}, "robots.txt answered 403 Forbidden"),
    ],
)
def test_robots_txt_licence_answers_are_allowed_and_said(status, headers, said) -> None:
    rf = robots("User-agent: *\nDisallow: /\n", status, **headers)
    found = Evaluator(UA).origin_stage(OriginPolicy(f"{SITE}:443", rf), f"{SITE}/a")
    assert not found.verdict(Purpose.CRAWL).reserved
    detail = next(f.detail for f in found.findings if f.signal == "robots.txt")
    assert said in detail
    assert "RFC 9309" in detail


# -- body stage -----------------------------------------------------------------------------------


def test_html_licences_linked_and_inline() -> None:
    page = (
        b"<html><head><title>t</title>"
        b'<link rel="license" type="application/rsl+xml" href="/licence.xml">'
        b"</head><body>x</body></html>"
    )
    evaluator = Evaluator(UA)
    prior = evaluator.headers_stage(
        evaluator.origin_stage(OriginPolicy(f"{SITE}:443", robots("")), f"{SITE}/p.html"),
        {"Content-Type": ["text/html"]},
    )
    assert body_licence_links(prior, page) == [f"{SITE}/licence.xml"]
    done = evaluator.body_stage(
        prior, page, licences={f"{SITE}/licence.xml": licence(NO_AI, f"{SITE}/licence.xml")}
    )
    assert [(r.signal, r.where) for r in done.verdict(Purpose.TRAIN).reasons] == [("rsl", "meta")]
    inline = page.replace(
        b'<link rel="license" type="application/rsl+xml" href="/licence.xml">',
        b'<script type="application/rsl+xml">' + NO_AI.split(b"?>", 1)[1] + b"</script>",
    )
    assert body_licence_links(prior, inline) == []
    done = evaluator.body_stage(prior, inline)
    reason = done.verdict(Purpose.TRAIN).reasons[0]
    assert (reason.signal, reason.source) == ("rsl", f"{SITE}/p.html")


def _registry(*lines: dict[str, object]) -> Registries:
    registry = Registry()
    registry.load("\n".join(json.dumps(line) for line in lines).encode(), source="reg.jsonl")
    return Registries(registry, sources=["reg.jsonl"])


def test_registry_at_origin_and_body_stages() -> None:
    image = b"\x89PNG\r\n\x1a\n-declared"
    registries = _registry(
        {"url": f"{SITE}/declared/", "declared_by": "Alice"},
        {"sha256": hashlib.sha256(image).hexdigest(), "purposes": "train"},
    )
    evaluator = Evaluator(UA, registries=registries)
    policy = OriginPolicy(f"{SITE}:443", robots(""))
    declared = evaluator.origin_stage(policy, f"{SITE}/declared/a")
    assert declared.verdict(Purpose.TRAIN).signals == ["registry"]
    assert "declared by Alice" in declared.verdict(Purpose.TRAIN).reasons[0].detail
    prior = evaluator.headers_stage(
        evaluator.origin_stage(policy, f"{SITE}/i.png"), {"Content-Type": ["image/png"]}
    )
    assert not prior.verdict(Purpose.TRAIN).reserved
    done = evaluator.body_stage(prior, image)
    reason = done.verdict(Purpose.TRAIN).reasons[0]
    assert reason.signal == "registry" and is_body_declaration(reason)
    assert not is_body_declaration(declared.verdict(Purpose.TRAIN).reasons[0])
    assert not done.verdict(Purpose.INPUT).reserved
    assert not evaluator.body_stage(prior, image + b"x").verdict(Purpose.TRAIN).reserved


def test_registry_site_findings() -> None:
    registries = _registry({"url": f"{SITE}/deep/path/"}, {"domain": "other.example"})
    assert [f.signal for f in registries.site_findings(SITE)] == ["registry"]
    assert registries.site_findings("https://www.other.example")
    assert registries.site_findings("https://third.example") == []


# -- the policy store's licences ------------------------------------------------------------------


def test_store_fetches_each_licence_once_and_keeps_it() -> None:
    calls: list[str] = []

    async def fetch_licence(url: str) -> PolicyFile:
        calls.append(url)
        await asyncio.sleep(0.01)
        return PolicyFile("rsl", url, 200, NO_AI)

    async def fetch(origin: str) -> OriginPolicy:
        return OriginPolicy(origin, robots(f"User-agent: *\nAllow: /\nLicense: {LICENCE_URL}\n"))

    now = [0.0]
    store = MemoryPolicyStore(fetch, ttl=100, fetch_licence=fetch_licence, clock=lambda: now[0])

    async def run() -> None:
        policies = await asyncio.gather(
            store.get("https://a.example:443"),
            store.get("https://b.example:443"),
            store.licence(LICENCE_URL),
        )
        assert [len(p.licences) for p in policies[:2]] == [1, 1]
        assert store.cached_licences([LICENCE_URL]) is not None
        now[0] = 101  # past the TTL: fetched again
        assert store.cached_licences([LICENCE_URL]) is None
        await store.licence(LICENCE_URL)

    asyncio.run(run())
    assert calls == [LICENCE_URL, LICENCE_URL]


def test_store_records_a_licence_fetch_that_raised() -> None:
    async def fetch_licence(url: str) -> PolicyFile:
        raise ConnectionRefusedError

    async def fetch(origin: str) -> OriginPolicy:
        return OriginPolicy(origin, robots(""))

    store = MemoryPolicyStore(fetch, fetch_licence=fetch_licence)
    found = asyncio.run(store.licence(LICENCE_URL))
    assert found.file.status is None and found.file.error
    assert found.document is None


def test_cold_store_keeps_licences() -> None:
    policy = with_licence(licence(NO_AI))
    cold = ColdStore()
    ref = cold.freeze(policy)
    assert ref is not None
    thawed = cold.thaw(ref)
    assert [lic.url for lic in thawed.licences] == [LICENCE_URL]
    assert thawed.licences[0].document is not None
    assert len(thawed.files) == 2
    cold.close()


# -- loading registries ---------------------------------------------------------------------------


def test_load_registries_from_paths_and_urls(tmp_path: Path) -> None:
    example = FIXTURES / "registry" / "example.jsonl"
    csv_file = FIXTURES / "registry" / "example.csv"
    with FaultServer(
        {
            "/reg.csv": text(csv_file.read_bytes(), content_type="text/csv"),
            "/gone.jsonl": Respond(404, b"no"),
        }
    ) as server:
        fetcher = HttpFetcher(UA, timeout=5)
        found = load_registries(
            [str(example), server.url("/reg.csv"), server.url("/gone.jsonl"), str(tmp_path / "x")],
            lambda url: fetcher.file_at(url, REGISTRY_KIND, REGISTRY_LIMITS),
        )
    assert found.declarations == 6
    assert [p.detail for p in found.problems] == [
        "registry not available (HTTP 404)",
        "registry not available (cannot read the file: No such file or directory)",
    ]
    assert found.url_findings("https://photos.example/alice/cat.jpg")[0].signal == "registry"


def test_registry_refresh_reloads_after_the_ttl(tmp_path: Path) -> None:
    path = tmp_path / "reg.jsonl"
    path.write_text('{"domain": "a.example"}\n')
    now = [0.0]

    async def never(url: str) -> PolicyFile:
        raise AssertionError("no URL to fetch")

    refresh = RegistryRefresh([str(path)], never, ttl=10, clock=lambda: now[0])

    async def run() -> None:
        assert refresh.due()
        assert (await refresh.load()).declarations == 1
        assert not refresh.due()
        path.write_text('{"domain": "a.example"}\n{"domain": "b.example"}\n')
        now[0] = 10
        assert refresh.due()
        assert (await refresh.load()).declarations == 2
        assert (await load_registries_async([], never)).declarations == 0

    asyncio.run(run())
    assert refresh.loads == 2


# -- settings and command line --------------------------------------------------------------------


def test_optout_registry_setting(tmp_path: Path) -> None:
    from scrapy.settings import Settings

    path = tmp_path / "reg.jsonl"
    path.write_text("")
    for value, expected in [
        (str(path), (str(path),)),
        (path, (str(path),)),
        (
            [str(path), "https://registry.example/r.jsonl"],
            (str(path), "https://registry.example/r.jsonl"),
        ),
        (f"{path}, https://registry.example/r.csv", (str(path), "https://registry.example/r.csv")),
        ([], ()),
    ]:
        assert (
            OptOutSettings.from_settings(Settings({"OPTOUT_REGISTRY": value})).registry == expected
        )
    with pytest.raises(ConfigurationError, match="OPTOUT_REGISTRY must be a readable file"):
        OptOutSettings.from_settings(Settings({"OPTOUT_REGISTRY": str(tmp_path / "nope.jsonl")}))


def test_check_refuses_a_missing_registry(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code = main(["check", "https://example.invalid/", "--registry", str(tmp_path / "nope.jsonl")])
    assert code == 2
    assert "no such registry file" in capsys.readouterr().err
    code = main(
        [
            "survey",
            str(FIXTURES / "registry" / "README.md"),
            "-o",
            str(tmp_path),
            "--registry",
            "nope",
        ]
    )
    assert code == 2


def test_report_counts_the_new_signals(tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.jsonl"
    lines = []
    for signal, stage in [("rsl", "origin"), ("licence", "headers"), ("registry", "body")]:
        lines.append(
            {
                "v": 1,
                "time": "2026-06-01T00:00:00.000Z",
                "url": f"https://a.example/{signal}",
                "origin": "https://a.example:443",
                "domain": "a.example",
                "stage": stage,
                "purpose": "train",
                "verdict": "reserved",
                "mode": "enforce",
                "reasons": [{"signal": signal, "where": "file", "rule": "r", "source": "s"}],
                "evidence": [],
                "spider": "s",
            }
        )
    ledger.write_text("".join(json.dumps(line) + "\n" for line in lines))
    report = ledger_report([str(ledger)])
    assert {k: v for k, v in report["by_signal"].items() if v} == {
        "rsl": 1,
        "licence": 1,
        "registry": 1,
    }
