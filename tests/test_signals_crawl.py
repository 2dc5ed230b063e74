"""The signals of 2026 (RSL licences, licence and payment answers, opt-out registries) end to end.

Real crawls of the farm's scenarios for these signals, with the Files pipeline
on, and ``optout check`` and ``optout survey`` run on the same farm: every
reserved page and file is excluded at the stage where it can first be known,
with the expected signal and its evidence, nothing reserved is stored, nothing
allowed is lost, and the three front ends agree.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from typing import Any

import pytest
from examples.farm import load_manifests

from faultserver import FaultServer, Respond, text
from helpers import SITES, TEST_UA, run_crawl
from scrapy_optout.cli import main
from scrapy_optout.verdict import Purpose

MANIFESTS = load_manifests(SITES)
SCENARIOS = [
    "rsl-robots",
    "rsl-link",
    "licence-answers",
    "robots-402",
    "registry-works",
    "registry-domain",
]

#: Where each reserved URL must be excluded, and by which signal.
EXPECTED_STAGES = {
    ("rsl-robots", "/reserved/page.html"): ("origin", "rsl"),
    ("rsl-robots", "/paid/page.html"): ("origin", "rsl"),
    ("rsl-link", "/link/page.html"): ("headers", "rsl"),
    ("rsl-link", "/html/page.html"): ("body", "rsl"),
    ("rsl-link", "/inline/page.html"): ("body", "rsl"),
    ("rsl-link", "/img/licensed.png"): ("headers", "rsl"),
    ("licence-answers", "/paywall/article.html"): ("headers", "licence"),
    ("licence-answers", "/members/article.html"): ("headers", "licence"),
    ("licence-answers", "/img/paid.png"): ("headers", "licence"),
    ("licence-answers", "/img/licensed.png"): ("headers", "licence"),
    ("registry-works", "/declared/page.html"): ("origin", "registry"),
    ("registry-works", "/hashed.html"): ("body", "registry"),
    ("registry-works", "/img/declared.png"): ("body", "registry"),
    ("registry-domain", "/index.html"): ("origin", "registry"),
    ("registry-domain", "/about.html"): ("origin", "registry"),
}


def _origin(farm: Any, name: str) -> str:
    """The origin as records and ledgers write it: ``scheme://host:port``."""
    return farm.origin(name)


def _pages(farm: Any, names: list[str] = SCENARIOS) -> list[str]:
    return [farm.url(n, p) for n in names for p in sorted(MANIFESTS[n].expect.urls)]


def _expected(farm: Any, purpose: Purpose = Purpose.TRAIN) -> dict[str, bool]:
    """Every expected page and image of the scenarios: URL -> reserved for *purpose*."""
    found: dict[str, bool] = {}
    for name in SCENARIOS:
        expect = MANIFESTS[name].expect
        for path, entry in [*expect.urls.items(), *expect.images.items()]:
            verdict = entry.reserved(purpose)
            if verdict is not None and path != "/":
                found[farm.url(name, path)] = verdict
    return found


@pytest.fixture(scope="module")
def crawl(farm, tmp_path_factory):
    farm.reset()
    out = tmp_path_factory.mktemp("signals")
    settings = {
        "OPTOUT_REGISTRY": [str(p) for p in farm.registries()],
        # Even told to retry 401 and 402, the crawler must not: a licence or
        # payment answer is a decision, not an error.
        "RETRY_HTTP_CODES": [401, 402, 500, 503],
    }
    return run_crawl(out, _pages(farm), settings)


def test_reserved_excluded_at_the_expected_stage_with_the_signal(farm, crawl):
    reserved = {}
    for record in crawl.ledger:
        if record["stage"] != "item":
            reserved.setdefault(record["url"], record)
    problems = []
    for (name, path), (stage, signal) in EXPECTED_STAGES.items():
        record = reserved.get(farm.url(name, path))
        if record is None:
            problems.append((name, path, "not in the ledger"))
            continue
        signals = {r["signal"] for r in record["reasons"]}
        if record["stage"] != stage or signal not in signals:
            problems.append((name, path, record["stage"], signals))
    assert problems == []


def test_nothing_reserved_kept_nothing_allowed_lost(farm, crawl):
    stored = {p.stem for p in (crawl.out / "files").rglob("*") if p.is_file()}
    dropped_pages = {r["item_source"] for r in crawl.ledger if r["stage"] == "item"}
    images = {farm.url(n, p) for n in SCENARIOS for p in MANIFESTS[n].expect.images if "{" not in p}
    leaked, lost = [], []
    for url, reserved in _expected(farm).items():
        if url in images:
            kept = hashlib.sha1(url.encode()).hexdigest() in stored
        else:
            kept = url in crawl.item_urls
        if reserved and kept:
            leaked.append(url)
        elif not reserved and not kept and url not in dropped_pages:
            lost.append(url)
    assert (leaked, lost) == ([], [])
    # The allowed images of the galleries were stored.
    assert hashlib.sha1(farm.url("rsl-link", "/img/plain.png").encode()).hexdigest() in stored


def test_licence_evidence_in_the_ledger_and_the_evidence_store(farm, crawl):
    page = farm.url("rsl-robots", "/paid/page.html")
    record = next(r for r in crawl.ledger if r["url"] == page)
    licence_url = farm.url("rsl-licences", "/licences/site.xml")
    evidence = {e["source"]: e for e in record["evidence"]}
    served = (SITES / "rsl-licences" / "licences" / "site.xml").read_bytes()
    assert evidence[licence_url]["sha256"] == hashlib.sha256(served).hexdigest()
    assert evidence[licence_url]["status"] == 200
    stored = crawl.out / "optout-ledger.evidence" / evidence[licence_url]["sha256"]
    assert stored.read_bytes() == served
    reason = next(r for r in record["reasons"] if r["signal"] == "rsl")
    assert reason["source"] == licence_url
    assert 'content url="/paid/*"' in reason["rule"]
    # A licence named by a Link header is evidence of the response it came with.
    linked = next(r for r in crawl.ledger if r["url"] == farm.url("rsl-link", "/link/page.html"))
    no_ai = farm.url("rsl-licences", "/licences/no-ai.xml")
    assert no_ai in {e["source"] for e in linked["evidence"]}
    assert {r["where"] for r in linked["reasons"] if r["signal"] == "rsl"} == {"header"}


def test_licence_answers_quote_status_and_headers(farm, crawl):
    paywall = next(
        r for r in crawl.ledger if r["url"] == farm.url("licence-answers", "/paywall/article.html")
    )
    assert paywall["status"] == 402
    assert paywall["reasons"][0]["rule"] == "HTTP 402 Payment Required; crawler-price: USD 0.01"
    members = next(
        r for r in crawl.ledger if r["url"] == farm.url("licence-answers", "/members/article.html")
    )
    assert members["status"] == 401
    assert members["reasons"][0]["rule"].startswith(
        'HTTP 401 Unauthorized; WWW-Authenticate: License realm="licence-answers"'
    )


def test_licence_answers_are_never_retried(farm, crawl):
    for path in ("/paywall/article.html", "/members/article.html"):
        assert farm.hits("licence-answers", path) == 1, path
    # The Files pipeline asks for each gallery image once, and once is all it gets.
    for path in ("/img/paid.png", "/img/licensed.png"):
        assert farm.hits("licence-answers", path) == 1, path
    assert crawl.stats.get("retry/count", 0) == 0


def test_each_licence_fetched_once(farm, crawl):
    # Named by one robots.txt, by two responses' Link headers, by a missing URL.
    assert farm.hits("rsl-licences", "/licences/site.xml") == 1
    assert farm.hits("rsl-licences", "/licences/no-ai.xml") == 1
    assert farm.hits("rsl-licences", "/licences/gone.xml") == 1
    assert farm.hits("rsl-link", "/licences/page.xml") == 1


def test_stats(crawl):
    stats = crawl.stats
    assert stats["optout/registry/declarations"] == 4
    assert stats["optout/registry/skipped"] == 1
    assert stats["optout/registry/unavailable"] == 0
    for signal in ("rsl", "licence", "registry"):
        assert stats[f"optout/excluded/{signal}"] > 0, signal
    assert stats["optout/rsl/cache/miss"] == 4


def test_broken_licence_follows_optout_unknown(farm, tmp_path):
    pages = [farm.url("rsl-link", "/broken/page.html"), farm.url("rsl-link", "/about.html")]
    allowed = run_crawl(tmp_path / "allow", pages)
    assert farm.url("rsl-link", "/broken/page.html") in allowed.item_urls
    reserved = run_crawl(tmp_path / "reserve", pages, {"OPTOUT_UNKNOWN": "reserve"})
    record = reserved.reserved()[farm.url("rsl-link", "/broken/page.html")]
    assert record["stage"] == "headers"
    assert record["reasons"][0]["signal"] == "rsl"
    assert farm.url("rsl-link", "/about.html") in reserved.item_urls


def test_measure_mode_records_the_decisive_stage(farm, tmp_path):
    pages = [
        farm.url("registry-works", "/hashed.html"),
        farm.url("registry-works", "/declared/page.html"),
        farm.url("licence-answers", "/paywall/article.html"),
    ]
    settings = {"OPTOUT_MODE": "measure", "OPTOUT_REGISTRY": [str(farm.registry("registry-works"))]}
    result = run_crawl(tmp_path, pages, settings)
    stages = {
        r["url"]: r["stage"]
        for r in result.ledger
        if r["verdict"] == "reserved" and r["stage"] != "item"
    }
    assert stages[pages[0]] == "body"
    assert stages[pages[1]] == "origin"
    assert stages[pages[2]] == "headers"


def test_registry_by_url_is_fetched_through_the_engine(farm, tmp_path):
    body = farm.registry("registry-works").read_bytes()  # type: ignore[union-attr]
    with FaultServer(
        {
            "/optouts.jsonl": text(body, content_type="application/x-ndjson"),
            "/down.jsonl": Respond(503, b"busy"),
        }
    ) as server:
        pages = [
            farm.url("registry-works", "/declared/page.html"),
            farm.url("registry-works", "/about.html"),
        ]
        result = run_crawl(
            tmp_path / "url", pages, {"OPTOUT_REGISTRY": server.url("/optouts.jsonl")}
        )
        assert server.hits("/optouts.jsonl") == 1
        assert result.stats["optout/registry/declarations"] == 4
        assert pages[0] in result.reserved()
        assert pages[1] in result.item_urls
        # A registry that cannot be fetched is unknown: reserved when unknown is.
        down = run_crawl(
            tmp_path / "down",
            pages[1:],
            {"OPTOUT_REGISTRY": server.url("/down.jsonl"), "OPTOUT_UNKNOWN": "reserve"},
        )
        record = down.reserved()[pages[1]]
        assert record["reasons"][0] == {
            "signal": "registry",
            "where": "registry",
            "rule": "unknown",
            "source": server.url("/down.jsonl"),
        }
        assert down.stats["optout/registry/unavailable"] == 1


@pytest.mark.parametrize("purpose", [Purpose.TRAIN, Purpose.SEARCH])
def test_check_agrees_with_the_crawl(farm, crawl, capsys, purpose):
    ledger = {r["url"] for r in crawl.ledger if r["verdict"] == "reserved"}
    for url, reserved in _expected(farm, purpose).items():
        name = next(n for n in SCENARIOS if url.startswith(farm.origin(n) + "/"))
        registry = farm.registry(name)
        argv = ["check", url, "--json", "--user-agent", TEST_UA, "--purpose", str(purpose)]
        code = main([*argv, *(["--registry", str(registry)] if registry else [])])
        out = json.loads(capsys.readouterr().out)
        assert out["verdict"] == ("reserved" if reserved else "allowed"), (url, out)
        assert code == (1 if reserved else 0)
        if purpose is Purpose.TRAIN and "/img/" not in url:
            assert (url in ledger) is reserved, url


def test_check_text_explains_the_new_signals(farm, capsys):
    url = farm.url("licence-answers", "/paywall/article.html")
    assert main(["check", url, "--user-agent", TEST_UA]) == 1
    out = capsys.readouterr().out
    assert "fetched: HTTP 402" in out
    assert "licence (header) reserve" in out
    assert "crawler-price: USD 0.01" in out
    robots = farm.url("robots-402", "/private/page.html")
    assert main(["check", robots, "--user-agent", TEST_UA, "--json"]) == 0
    found = json.loads(capsys.readouterr().out)["findings"]
    assert any(
        "robots.txt answered 402 Payment Required (crawler-price: USD 0.002)" in f["detail"]
        for f in found
    )


def test_survey_agrees_with_the_crawl(farm, crawl, tmp_path):
    sites = tmp_path / "sites.txt"
    sites.write_text("".join(farm.origin(n) + "/\n" for n in SCENARIOS))
    out = tmp_path / "survey"
    registry = str(farm.registries()[0])
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    argv = ["survey", str(sites), "-o", str(out), "--user-agent", TEST_UA, "--quiet"]
    proc = subprocess.run(
        [sys.executable, "-m", "scrapy_optout", *argv, "--registry", registry],
        capture_output=True,
        text=True,
        timeout=240,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    records = {
        r["origin"]: r for r in map(json.loads, (out / "results.jsonl").read_text().splitlines())
    }
    excluded: dict[str, set[str]] = {}
    for record in crawl.ledger:
        signals = excluded.setdefault(record["origin"], set())
        signals.update(r["signal"] for r in record["reasons"])
    by_name = {}
    for name in SCENARIOS:
        record = by_name[name] = records[_origin(farm, name)]
        home = MANIFESTS[name].expect.urls["/"]
        want = "reserved" if home.reserved("train") else "allowed"
        assert record["home_verdict"]["train"] == want, name
        # Whatever the survey finds reserving the site, the crawl excluded something for.
        assert set(record["reserving"]["train"]) <= excluded.get(record["origin"], set()), name
    assert by_name["rsl-robots"]["reserving"]["train"] == ["rsl"]
    site_wide = {f["signal"] for f in by_name["rsl-robots"]["site_findings"]}
    assert site_wide == {"rsl"}
    assert by_name["registry-works"]["reserving"]["train"] == ["registry"]
    assert by_name["registry-domain"]["signals_reserving"] == ["registry"]
    robots_402 = by_name["robots-402"]["findings"]
    assert any("crawler-price: USD 0.002" in f.get("detail", "") for f in robots_402)
