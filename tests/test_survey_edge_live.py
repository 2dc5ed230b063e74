"""Edge answers and further pages in live surveys, against loopback servers.

* a farm of edge answers (licence, payment with a price, forbidden, a
  challenge page, rate limiting, server errors, redirect loops, a redirect
  without ``Location``, an unreachable site), each recorded with its known
  class in ``results.jsonl`` for the home page and for robots.txt, and
  counted in ``summary.json``'s ``by_edge``;
* ``--compare-user-agent``: a site that serves a browser and blocks the
  surveying crawler differs, the others do not;
* ``--pages``: a ``noai`` meta tag on a deeper page is found with ``--pages 3``
  (and named with its page), not with ``--pages 0``; links robots.txt closes
  to the surveyor, links to other origins and links past N are never fetched.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from faultserver import (
    Chain,
    Connection,
    Custom,
    FaultServer,
    Redirect,
    Respond,
    html,
    text,
)
from scrapy_optout.cli import main
from scrapy_optout.exceptions import ConfigurationError
from scrapy_optout.frontends.survey import read_records
from scrapy_optout.frontends.survey.edge import EDGE_CLASSES
from scrapy_optout.frontends.survey.spider import SurveySpider
from test_survey import closed_port, parse_page, run_optout

BROWSER = "Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0"
CF_PAGE = (
    b"<!DOCTYPE html><html><head><title>Just a moment...</title></head><body>"
    b'<script src="/cdn-cgi/challenge-platform/h/g/orchestrate/chl_page/v1"></script>'
    b"</body></html>"
)
OPEN_ROBOTS = text("User-agent: *\nDisallow:\n")


def _answer(status: int, *headers: tuple[str, str], body: bytes = b"") -> Respond:
    return Respond(status, body, (("Content-Type", "text/html; charset=utf-8"), *headers))


def _browser_only(conn: Connection) -> None:
    """The home page for browsers; a 403 for anything that says it is a bot."""
    agent = conn.headers.get("user-agent", "")
    (html(title="welcome") if agent.startswith("Mozilla/") else _answer(403)).serve(conn)


def _loop(server: FaultServer, path: str) -> FaultServer:
    """*path* redirects into a loop of three URLs that never ends."""
    server.route_prefix("/loop", Chain("/loop", 3, loop=True))
    return server.route(path, Redirect("/loop/0"))


def _edge_farm() -> dict[str, FaultServer]:
    """One origin per edge answer; the key is the class its home page must get."""
    challenge = ("cf-mitigated", "challenge")
    price = ("crawler-price", "USD 0.002")
    farm = {
        "ok": FaultServer({"/": html(), "/robots.txt": OPEN_ROBOTS}),
        "licence": FaultServer(
            {"/": _answer(401, ("WWW-Authenticate", 'License realm="articles"'))}
        ),
        "payment": FaultServer({"/": _answer(402, price), "/robots.txt": _answer(402, price)}),
        "forbidden": FaultServer({"/": _answer(403, body=b"<html>Access denied</html>")}),
        "challenge": FaultServer(
            {
                "/": _answer(403, challenge, body=CF_PAGE),
                "/robots.txt": _answer(403, challenge, body=CF_PAGE),
            }
        ),
        "rate-limited": FaultServer({"/": _answer(429, ("Retry-After", "3600"))}),
        "error": FaultServer({"/": _answer(503), "/robots.txt": _answer(500)}),
        "redirect": _loop(FaultServer(), "/"),
        "redirect-nowhere": FaultServer({"/": _answer(302)}),
        "ua-blocked": FaultServer({"/": Custom(_browser_only), "/robots.txt": OPEN_ROBOTS}),
    }
    _loop(farm["redirect"], "/robots.txt")
    return farm


@pytest.fixture(scope="module")
def edge_survey(tmp_path_factory) -> Iterator[dict[str, Any]]:
    farm = _edge_farm()
    for server in farm.values():
        server.start()
    try:
        folder = tmp_path_factory.mktemp("edge")
        names = [*farm, "unreachable"]
        urls = [server.url("/") for server in farm.values()]
        urls.append(f"http://127.0.0.1:{closed_port()}/")
        sites = folder / "sites.txt"
        sites.write_text("\n".join(urls) + "\n", encoding="utf-8")
        out = folder / "out"
        proc = run_optout(
            "survey", str(sites), "-o", str(out), "--quiet", "--compare-user-agent", BROWSER
        )
        assert proc.returncode == 0, proc.stderr[-4000:]
        records = list(read_records(out / "results.jsonl"))
        yield {
            "records": dict(zip(names, records, strict=True)),
            "summary": json.loads((out / "summary.json").read_text()),
            "report": (out / "report.html").read_text(encoding="utf-8"),
        }
    finally:
        for server in farm.values():
            server.stop()


EXPECTED_HOME = {
    "ok": {"status": 200, "class": "ok"},
    "licence": {"status": 401, "class": "licence"},
    "payment": {"status": 402, "class": "payment", "price": "USD 0.002"},
    "forbidden": {"status": 403, "class": "forbidden"},
    "challenge": {"status": 403, "class": "challenge", "detail": "cf-mitigated: challenge"},
    "rate-limited": {"status": 429, "class": "rate-limited"},
    "error": {"status": 503, "class": "error"},
    "redirect": {"status": 302, "class": "redirect"},
    "redirect-nowhere": {"status": 302, "class": "redirect"},
    "ua-blocked": {"status": 403, "class": "forbidden"},
    "unreachable": {"status": None, "class": "unreachable"},
}


@pytest.mark.parametrize("name", sorted(EXPECTED_HOME))
def test_home_page_answer_is_recorded_with_its_class(edge_survey, name):
    home = edge_survey["records"][name]["edge"]["home"]
    detail = home.pop("detail", None)
    if name == "redirect":
        # Scrapy gave up on the chain: the last answer was a redirect.
        assert detail is not None and detail.startswith("too many redirects")
    expected = dict(EXPECTED_HOME[name])
    if "detail" in expected:
        assert detail == expected.pop("detail")
    assert home == expected


def test_policy_file_answers_keep_their_headers(edge_survey):
    records = edge_survey["records"]
    robots = {name: record["edge"]["robots.txt"] for name, record in records.items()}
    assert robots["ok"] == {"status": 200, "class": "ok"}
    # Headers of a policy file's answer: the price and the mitigation header.
    assert robots["payment"] == {"status": 402, "class": "payment", "price": "USD 0.002"}
    assert robots["challenge"] == {
        "status": 403,
        "class": "challenge",
        "detail": "cf-mitigated: challenge",
    }
    assert robots["error"] == {"status": 500, "class": "error"}
    assert robots["licence"] == {"status": 404, "class": "not-found"}
    # Five redirects followed, then the fetch contract gives up: a redirect answer.
    assert robots["redirect"]["class"] == "redirect"
    assert robots["redirect"]["status"] == 302
    assert robots["redirect"]["detail"].startswith("too many redirects")
    assert robots["unreachable"] == {"status": None, "class": "unreachable"}
    for record in records.values():
        assert set(record["edge"]) >= {"home", "robots.txt", "ai.txt", "tdmrep.json"}


def test_summary_counts_every_class(edge_survey):
    summary = edge_survey["summary"]
    expected = dict.fromkeys(EDGE_CLASSES, 0)
    for answer in EXPECTED_HOME.values():
        expected[answer["class"]] += 1
    assert summary["by_edge"] == expected
    assert (summary["sites"], summary["reachable"]) == (11, 10)
    assert summary["compare_user_agent"] == BROWSER


def test_compare_user_agent_finds_the_site_that_blocks_the_crawler(edge_survey):
    records = edge_survey["records"]
    blocked = records["ua-blocked"]["edge"]
    assert blocked["home_compare"] == {"status": 200, "class": "ok", "user_agent": BROWSER}
    assert blocked["differs"] is True
    # Every other site answers both identities alike.
    assert [name for name, r in records.items() if r["edge"]["differs"]] == ["ua-blocked"]
    assert records["payment"]["edge"]["home_compare"]["price"] == "USD 0.002"
    summary = edge_survey["summary"]
    assert summary["edge_differs"] == 1
    expected = {**dict.fromkeys(EDGE_CLASSES, 0)}
    for name, answer in EXPECTED_HOME.items():
        expected["ok" if name == "ua-blocked" else answer["class"]] += 1
    assert summary["by_edge_compare"] == expected
    text = "".join(parse_page(edge_survey["report"]).text)
    assert "second identity" in text
    assert f"1 site(s) answered the second identity ({BROWSER})" in text


# -- further pages ------------------------------------------------------------------------


def _links(*paths: str) -> str:
    return "".join(f'<a href="{path}">{path}</a> ' for path in paths)


@pytest.fixture(scope="module")
def deep_site() -> Iterator[tuple[FaultServer, FaultServer]]:
    """A site whose home page says nothing and whose third readable link says ``noai``."""
    other = FaultServer({"/elsewhere": html(head_extra='<meta name="robots" content="noai">')})
    site = FaultServer(
        {
            "/robots.txt": text("User-agent: *\nDisallow: /private\n"),
            "/": html(
                _links(
                    "/private/noai",
                    other.url("/elsewhere"),
                    "/a#top",
                    "/a",
                    "/logo.png",
                    "/b",
                    "/deep",
                    "/late",
                )
            ),
            "/a": html(title="a"),
            "/b": html(title="b"),
            "/deep": html(title="deep", head_extra='<meta name="robots" content="noai">'),
            "/late": html(title="late", head_extra='<meta name="robots" content="noai">'),
            "/private/noai": html(head_extra='<meta name="robots" content="noai">'),
        }
    )
    with other, site:
        yield site, other


def _survey(site: FaultServer, out: Path, *flags: str) -> tuple[dict[str, Any], dict[str, Any]]:
    sites = out.parent / f"{out.name}.txt"
    sites.write_text(site.url("/") + "\n", encoding="utf-8")
    proc = run_optout("survey", str(sites), "-o", str(out), "--quiet", *flags)
    assert proc.returncode == 0, proc.stderr[-4000:]
    (record,) = read_records(out / "results.jsonl")
    return record, json.loads((out / "summary.json").read_text())


def test_a_deeper_page_reserves_with_pages_3(deep_site, tmp_path):
    site, other = deep_site
    record, summary = _survey(site, tmp_path / "three", "--pages", "3")
    assert [page["url"] for page in record["pages"]] == [
        site.url("/a"),
        site.url("/b"),
        site.url("/deep"),
    ]
    deep = record["pages"][2]
    assert deep["edge"] == {"status": 200, "class": "ok"}
    assert deep["reserving"]["train"] == ["noai"]
    (finding,) = deep["findings"]
    assert (finding["signal"], finding["where"], finding["source"]) == (
        "noai",
        "meta",
        site.url("/deep"),
    )
    assert record["pages"][0]["findings"] == [] and record["pages"][0]["reserving"]["train"] == []
    # The home page says nothing; the site reserves through its deeper page.
    assert record["findings"] == [] or all(f["signal"] != "noai" for f in record["findings"])
    assert record["signals_reserving"] == ["noai"]
    assert record["reserved"]["train"] is True
    assert (summary["reserved_any"], summary["by_signal"]["noai"]) == (1, 1)
    assert summary["pages"] == 3
    # robots.txt closes /private to the surveyor: recorded, never fetched.
    (skipped,) = record["pages_skipped"]
    assert skipped["url"] == site.url("/private/noai")
    assert "robots.txt" in skipped["reason"] and "Disallow: /private" in skipped["reason"]
    assert site.hits("/private/noai") == 0
    # Other origins, images and links past the third are not read.
    assert other.hits("/elsewhere") == 0
    assert site.hits("/logo.png") == 0 and site.hits("/late") == 0
    assert site.hits("/a") == 1  # /a#top and /a are one page


def test_the_deeper_page_is_not_read_with_pages_0(deep_site, tmp_path):
    site, _ = deep_site
    before = site.hits("/deep")
    record, summary = _survey(site, tmp_path / "zero", "--pages", "0")
    assert record["pages"] == [] and "pages_skipped" not in record
    assert record["signals_reserving"] == []
    assert (summary["reserved_any"], summary["by_signal"]["noai"]) == (0, 0)
    assert site.hits("/deep") == before
    # No second identity asked for: no comparison recorded.
    assert "home_compare" not in record["edge"] and "by_edge_compare" not in summary


@pytest.mark.parametrize("pages", ["-1", "three", "1.5"])
def test_pages_must_be_a_whole_number(tmp_path, capsys, pages):
    sites = tmp_path / "sites.txt"
    sites.write_text("example.com\n", encoding="utf-8")
    assert main(["survey", str(sites), "-o", str(tmp_path / "out"), "--pages", pages]) == 2
    assert "--pages" in capsys.readouterr().err
    with pytest.raises(ConfigurationError, match="pages must be a whole number"):
        SurveySpider(input=str(sites), pages=pages)
    assert SurveySpider(input=str(sites)).pages == 0
    assert SurveySpider(input=str(sites), pages="2").pages == 2
