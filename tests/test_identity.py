"""The crawler is judged as the identity it sends, and request meta cannot lift a check.

* The product token comes from the ``User-Agent`` each request is sent with:
  ``USER_AGENT``, the spider's ``user_agent``, ``DEFAULT_REQUEST_HEADERS``, a
  header of the request, or one a later middleware sets; ``OPTOUT_USER_AGENT``
  overrides them all. Several identities in one crawl are each judged on their
  own, and each ledger line names its token and User-Agent.
* A ``file:`` or ``ftp:`` link is refused even when the spider copies a start
  response's meta (``is_start_request``) or a policy fetch's meta onto it.
* An ``optout_purpose`` or ``optout_mode`` that cannot be used drops the
  request with one ERROR line, never a traceback, never a page crawled under
  the defaults.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from scrapy import Request, Spider
from scrapy.exceptions import IgnoreRequest
from scrapy.utils.test import get_crawler

from faultserver import FaultServer, Respond, html, text
from helpers import CrawlResult, run_crawl
from scrapy_optout.exceptions import ConfigurationError
from scrapy_optout.scrapy.exceptions import InvalidOptOutMeta
from scrapy_optout.scrapy.fetcher import POLICY_META_KEY
from scrapy_optout.scrapy.runtime import OptOutCore, sent_user_agent
from scrapy_optout.verdict import Purpose

ROBOTS = """\
User-agent: BotA
Disallow: /x

User-agent: BotB
Disallow: /y

User-agent: GPTBot
Disallow: /w
"""
PAGES = ("/x", "/y", "/z", "/w", "/v")
UA_MIDDLEWARE = "scrapy.downloadermiddlewares.useragent.UserAgentMiddleware"
DH_MIDDLEWARE = "scrapy.downloadermiddlewares.defaultheaders.DefaultHeadersMiddleware"


@pytest.fixture(scope="module")
def site() -> Iterator[FaultServer]:
    routes: dict[str, Any] = {"/robots.txt": text(ROBOTS)}
    for path in PAGES:
        routes[path] = html(f"page {path}")
    with FaultServer(routes) as server:
        yield server


def _crawl(
    tmp_path: Path,
    requests: list[dict[str, Any]],
    settings: dict[str, Any] | None = None,
    **extra: Any,
) -> CrawlResult:
    base = {"DOWNLOAD_TIMEOUT": 5, "USER_AGENT": "BotC/1.0", "LOG_LEVEL": "INFO"}
    return run_crawl(
        tmp_path / "out",
        [],
        {**base, **(settings or {})},
        script="identity_crawl.py",
        extra={"requests": requests, **extra},
    )


def _get(server: FaultServer, path: str, agent: str | None = None, **meta: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {"url": server.url(path), "meta": meta}
    if agent is not None:
        entry["headers"] = {"User-Agent": agent}
    return entry


# -- the identity a crawl sends --------------------------------------------------------------


@pytest.mark.parametrize(
    ("settings", "spider_agent", "agent"),
    [
        ({"USER_AGENT": "BotA/1.0"}, None, "BotA/1.0"),
        # UserAgentMiddleware sends the spider's user_agent before USER_AGENT.
        (
            {"USER_AGENT": "BotB/1.0"},
            "BotA/2.0 (+https://a.example)",
            "BotA/2.0 (+https://a.example)",
        ),
        # DefaultHeadersMiddleware (400) sets the header before UserAgentMiddleware (500).
        (
            {"USER_AGENT": "BotB/1.0", "DEFAULT_REQUEST_HEADERS": {"User-Agent": "BotA/3.0"}},
            "BotB/2.0",
            "BotA/3.0",
        ),
        # ... unless UserAgentMiddleware is moved ahead of it.
        (
            {
                "USER_AGENT": "BotB/1.0",
                "DEFAULT_REQUEST_HEADERS": {"User-Agent": "BotB/3.0"},
                "DOWNLOADER_MIDDLEWARES": {UA_MIDDLEWARE: 300},
            },
            "BotA/4.0",
            "BotA/4.0",
        ),
    ],
    ids=[
        "USER_AGENT",
        "spider-attribute",
        "DEFAULT_REQUEST_HEADERS",
        "user-agent-middleware-first",
    ],
)
def test_the_crawl_is_judged_as_the_user_agent_it_sends(
    site: FaultServer,
    tmp_path: Path,
    settings: dict[str, Any],
    spider_agent: str | None,
    agent: str,
) -> None:
    requests = [_get(site, "/x"), _get(site, "/y")]
    result = _crawl(tmp_path, requests, settings, spider_user_agent=spider_agent)
    assert {item["user_agent"] for item in result.items} == {agent}
    assert result.item_urls == {site.url("/y")}
    (record,) = result.ledger
    assert record["url"] == site.url("/x")
    assert record["stage"] == "origin"
    assert record["token"] == "BotA"
    assert record["user_agent"] == agent
    assert record["reasons"][0]["rule"] == "Disallow: /x"


def test_each_identity_of_one_crawl_is_judged_on_its_own(site: FaultServer, tmp_path: Path) -> None:
    requests = [
        _get(site, "/x?who=a", "BotA/1.0"),
        _get(site, "/x?who=b", "BotB/1.0"),
        _get(site, "/y?who=a", "Mozilla/5.0 (compatible; BotA/2.0; +https://a.example)"),
        _get(site, "/y?who=b", "BotB/2.0"),
        _get(site, "/x?who=c"),
        _get(site, "/y?who=c"),
    ]
    result = _crawl(tmp_path, requests)
    assert result.item_urls == {
        site.url(p) for p in ("/x?who=b", "/y?who=a", "/x?who=c", "/y?who=c")
    }
    reserved = result.reserved()
    assert set(reserved) == {site.url("/x?who=a"), site.url("/y?who=b")}
    assert reserved[site.url("/x?who=a")]["token"] == "BotA"
    assert reserved[site.url("/x?who=a")]["user_agent"] == "BotA/1.0"
    assert reserved[site.url("/y?who=b")]["token"] == "BotB"
    assert reserved[site.url("/y?who=b")]["reasons"][0]["rule"] == "Disallow: /y"


def test_measure_mode_records_every_verdict_with_its_identity(
    site: FaultServer, tmp_path: Path
) -> None:
    requests = [
        _get(site, "/x?who=a", "BotA/1.0"),
        _get(site, "/x?who=b", "BotB/1.0"),
        _get(site, "/x?who=c"),
    ]
    result = _crawl(tmp_path, requests, {"OPTOUT_MODE": "measure"})
    by_url = {r["url"]: r for r in result.ledger if r["stage"] != "item"}
    assert {u: (r["token"], r["verdict"]) for u, r in by_url.items()} == {
        site.url("/x?who=a"): ("BotA", "reserved"),
        site.url("/x?who=b"): ("BotB", "allowed"),
        site.url("/x?who=c"): ("BotC", "allowed"),
    }
    assert by_url[site.url("/x?who=c")]["user_agent"] == "BotC/1.0"


def test_optout_user_agent_overrides_what_is_sent(site: FaultServer, tmp_path: Path) -> None:
    requests = [_get(site, "/x", "BotB/1.0"), _get(site, "/y", "BotB/1.0")]
    result = _crawl(tmp_path, requests, {"OPTOUT_USER_AGENT": "BotA/1.0"})
    assert result.item_urls == {site.url("/y")}
    (record,) = result.ledger
    assert (record["url"], record["token"], record["user_agent"]) == (
        site.url("/x"),
        "BotA",
        "BotA/1.0",
    )


def test_a_user_agent_set_after_the_middleware_is_judged_when_the_response_arrives(
    site: FaultServer, tmp_path: Path
) -> None:
    # Judged as BotC before it leaves, sent as BotA by a later middleware.
    requests = [_get(site, "/x"), _get(site, "/z")]
    result = _crawl(tmp_path, requests, late_user_agent="BotA/9.0")
    assert result.item_urls == {site.url("/z")}
    (record,) = result.ledger
    assert record["url"] == site.url("/x")
    assert record["stage"] == "headers"
    assert (record["token"], record["user_agent"]) == ("BotA", "BotA/9.0")
    assert record["reasons"][0]["signal"] == "robots.txt"
    assert result.stats["optout/identity_changed"] == 2


# -- schemes and markers that copied meta carries ---------------------------------------------


@pytest.fixture
def secrets(tmp_path: Path) -> dict[str, str]:
    folder = tmp_path / "local"
    folder.mkdir()
    secret = folder / "secret.html"
    secret.write_text("<html><head><title>CANARY</title></head><body>CANARY</body></html>")
    index = folder / "index.html"
    index.write_text(f'<html><body><a href="{secret.as_uri()}">secret</a></body></html>')
    return {"secret": secret.as_uri(), "index": index.as_uri()}


def _linking(server: FaultServer, secret: str) -> str:
    page = (
        f'<html><body><a href="{secret}">a</a><a href="ftp://127.0.0.1/x">b</a>'
        '<a href="/x">c</a><a href="/z">d</a></body></html>'
    )
    server.route("/start.html", Respond(200, page.encode(), (("Content-Type", "text/html"),)))
    return server.url("/start.html")


@pytest.mark.parametrize("follow", ["copy", "policy"])
def test_copied_meta_does_not_smuggle_local_files_or_lift_checks(
    site: FaultServer, tmp_path: Path, secrets: dict[str, str], follow: str
) -> None:
    start = _linking(site, secrets["secret"])
    requests = [{"url": start}]
    result = _crawl(tmp_path, requests, {"USER_AGENT": "BotA/1.0"}, follow=follow)
    assert result.item_urls == {start, site.url("/z")}
    assert result.stats["optout/refused_scheme"] == 2
    # The copied meta of a policy fetch does not make /x one: it is judged, and reserved.
    assert set(result.reserved()) == {site.url("/x")}
    assert "CANARY" not in (tmp_path / "out" / "items.jsonl").read_text()
    assert "Traceback" not in result.log


def test_a_local_start_file_may_be_read_but_not_the_files_it_links(
    tmp_path: Path, secrets: dict[str, str]
) -> None:
    result = _crawl(tmp_path, [{"url": secrets["index"]}], follow="copy")
    assert result.item_urls == {secrets["index"]}
    assert result.stats["optout/refused_scheme"] == 1
    assert "CANARY" not in (tmp_path / "out" / "items.jsonl").read_text()


# -- per-request options --------------------------------------------------------------------


def test_per_request_purpose_and_mode_apply_and_invalid_values_drop_the_request(
    site: FaultServer, tmp_path: Path
) -> None:
    requests = [
        _get(site, "/w?purpose=default"),
        _get(site, "/w?purpose=search", optout_purpose="SEARCH"),
        _get(site, "/w?mode=measure", optout_mode="measure"),
        _get(site, "/v?bad=purpose", optout_purpose="bogus"),
        _get(site, "/v?bad=number", optout_mode=3),
        _get(site, "/v?bad=none", optout_purpose=None),
        _get(site, "/v?bad=typo", optout_mode="measur"),
    ]
    result = _crawl(tmp_path, requests)
    # GPTBot's group reserves training, not search.
    assert site.url("/w?purpose=search") in result.item_urls
    assert result.item_urls <= {site.url("/w?purpose=search"), site.url("/w?mode=measure")}
    decided = [r for r in result.ledger if r["stage"] != "item"]
    assert {(r["url"], r["verdict"], r["mode"]) for r in decided} == {
        (site.url("/w?purpose=default"), "reserved", "enforce"),
        (site.url("/w?mode=measure"), "reserved", "measure"),
    }
    assert result.stats["optout/invalid_meta"] == 4
    errors = [line for line in result.log.splitlines() if "] ERROR:" in line]
    assert len(errors) == 4
    assert any("'optout_purpose'] is 'bogus'" in line for line in errors)
    assert any("'optout_mode'] is 3;" in line for line in errors)
    assert all("must be one of" in line for line in errors)
    assert "Traceback" not in result.log
    assert site.hits("/v") == 0


# -- the pieces, in process -----------------------------------------------------------------


def _core(tmp_path: Path, settings: dict[str, Any] | None = None) -> OptOutCore:
    crawler = get_crawler(Spider, {"OPTOUT_LEDGER": str(tmp_path / "l.jsonl"), **(settings or {})})
    return OptOutCore.for_crawler(crawler)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("optout_purpose", "bogus"),
        ("optout_purpose", 3),
        ("optout_purpose", None),
        ("optout_purpose", ["train"]),
        ("optout_mode", "measur"),
        ("optout_mode", True),
        ("optout_mode", ""),
    ],
)
def test_an_unusable_meta_value_raises(tmp_path: Path, key: str, value: Any) -> None:
    core = _core(tmp_path)
    request = Request("http://example.com/", meta={key: value})
    with pytest.raises(InvalidOptOutMeta) as caught:
        core.purpose_for(request)
        core.measuring(request)
    assert isinstance(caught.value, IgnoreRequest)
    assert isinstance(caught.value, ConfigurationError)
    assert (caught.value.key, caught.value.value) == (key, value)
    assert repr(value) in str(caught.value)


def test_usable_meta_values(tmp_path: Path) -> None:
    core = _core(tmp_path, {"OPTOUT_PURPOSE": "tdm", "OPTOUT_MODE": "measure"})
    assert core.purpose_for(None) is Purpose.TDM
    assert core.measuring(Request("http://example.com/"))
    for value, purpose in (("Search", Purpose.SEARCH), (Purpose.INPUT, Purpose.INPUT)):
        assert core.purpose_for(Request("http://e.com/", meta={"optout_purpose": value})) is purpose
    assert not core.measuring(Request("http://e.com/", meta={"optout_mode": "ENFORCE"}))


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ({"USER_AGENT": "A/1"}, "A/1"),
        ({"USER_AGENT": "A/1", "DEFAULT_REQUEST_HEADERS": {"user-agent": "B/1"}}, "B/1"),
        ({"USER_AGENT": "A/1", "DEFAULT_REQUEST_HEADERS": {"User-Agent": None}}, "A/1"),
        (
            {
                "USER_AGENT": "A/1",
                "DEFAULT_REQUEST_HEADERS": {"User-Agent": "B/1"},
                "DOWNLOADER_MIDDLEWARES": {DH_MIDDLEWARE: None},
            },
            "A/1",
        ),
        (
            {
                "USER_AGENT": "A/1",
                "DOWNLOADER_MIDDLEWARES": {UA_MIDDLEWARE: None},
            },
            "",
        ),
    ],
)
def test_the_user_agent_scrapy_would_send(settings: dict[str, Any], expected: str) -> None:
    assert sent_user_agent(get_crawler(Spider, settings)) == expected


def test_one_evaluator_per_token(tmp_path: Path) -> None:
    core = _core(tmp_path, {"USER_AGENT": "BotA/1.0"})
    default = core.evaluator
    assert default.token == "BotA"
    same = core.evaluator_for(Request("http://e.com/", headers={"User-Agent": "BotA/2.0"}))
    other = core.evaluator_for(Request("http://e.com/", headers={"User-Agent": "BotB/1.0"}))
    assert same is default
    assert other.token == "BotB"
    assert core.evaluator_for(Request("http://e.com/")) is default
    pinned = _core(tmp_path, {"OPTOUT_USER_AGENT": "BotP/1.0"})
    assert pinned.user_agent_for(Request("http://e.com/", headers={"User-Agent": "X/1"})) == (
        "BotP/1.0"
    )


def test_a_policy_marker_without_a_running_fetch_is_not_one(tmp_path: Path) -> None:
    core = _core(tmp_path)
    forged = Request("http://e.com/", meta={POLICY_META_KEY: "robots.txt", "_optout_fetch": 0})
    assert not core.store.owns(forged)
