"""``optout report``: exclusions from crawl ledgers; and escaping in every HTML report."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from helpers import run_crawl
from scrapy_optout.cli import main
from scrapy_optout.frontends.report import ledger_report, render_html
from scrapy_optout.frontends.survey.report_html import survey_report
from scrapy_optout.frontends.survey.summary import summarise
from scrapy_optout.stores.ledger import read_ledger
from test_survey import assert_self_contained, parse_page

HOSTILE = '<img src=x onerror="alert(1)">'


def _record(**fields: Any) -> dict[str, Any]:
    record = {
        "v": 1,
        "time": "2026-01-01T00:00:00.000Z",
        "url": "https://a.example/",
        "origin": "https://a.example:443",
        "domain": "a.example",
        "stage": "origin",
        "purpose": "train",
        "verdict": "reserved",
        "reasons": [
            {
                "signal": "robots.txt",
                "where": "file",
                "rule": "Disallow: /",
                "source": "https://a.example/robots.txt",
            }
        ],
        "evidence": [],
        "spider": "s",
    }
    record.update(fields)
    return record


def _reason(signal: str, rule: str, where: str = "header") -> dict[str, str]:
    return {"signal": signal, "where": where, "rule": rule, "source": "https://x.example/"}


@pytest.fixture
def ledgers(tmp_path: Path) -> list[Path]:
    first = [
        _record(),
        _record(url="https://a.example/b", time="2026-01-01T00:00:01.000Z"),
        _record(
            url="https://news.b.example/x",
            domain="b.example",
            stage="headers",
            reasons=[
                _reason("noai", "X-Robots-Tag: noai"),
                _reason("tdmrep", "tdm-reservation: 1"),
            ],
        ),
        _record(verdict="allowed", reasons=[], stage="body", mode="measure"),
    ]
    second = [
        _record(
            url="https://c.example/p",
            domain="c.example",
            stage="body",
            purpose="tdm",
            time="2026-01-02T00:00:00.000Z",
            reasons=[_reason("tdmrep", '<meta name="tdm-reservation" content="1">', "meta")],
        ),
        _record(
            url="https://c.example/i.png",
            domain="c.example",
            stage="item",
            reasons=[_reason("ai.txt", HOSTILE, "file")],
        ),
    ]
    paths = [tmp_path / "one.jsonl", tmp_path / "two.jsonl"]
    for path, records in zip(paths, (first, second), strict=True):
        path.write_text("".join(json.dumps(r) + "\n" for r in records) + '{"torn', "utf-8")
    return paths


def test_counts_across_ledgers(ledgers):
    report = ledger_report(ledgers)
    assert report["records"] == 6
    assert report["exclusions"] == 5
    assert report["allowed"] == 1
    assert report["domains"] == 3
    assert (report["first"], report["last"]) == (
        "2026-01-01T00:00:00.000Z",
        "2026-01-02T00:00:00.000Z",
    )
    assert report["by_signal"] == {
        "robots.txt": 2,
        "ai.txt": 1,
        "tdmrep": 2,
        "noai": 1,
        "content-usage": 0,
        "content-signal": 0,
        "rsl": 0,
        "licence": 0,
        "iptc": 0,
        "c2pa": 0,
        "registry": 0,
    }
    assert report["by_stage"] == {"origin": 2, "headers": 1, "body": 1, "item": 1}
    assert report["by_purpose"] == {"train": 4, "tdm": 1, "input": 0, "search": 0, "crawl": 0}
    assert report["by_domain"] == {"a.example": 2, "c.example": 2, "b.example": 1}
    assert report["top_rules"][0] == {
        "signal": "robots.txt",
        "rule": "Disallow: /",
        "exclusions": 2,
    }


def test_cli_json_text_and_html(ledgers, tmp_path, capsys):
    html_file = tmp_path / "report.html"
    assert main(["report", *map(str, ledgers), "--json", "--html", str(html_file)]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["exclusions"] == 5
    page = parse_page(html_file.read_text(encoding="utf-8"))
    assert {"chart-signal", "chart-stage", "chart-purpose", "chart-domain"} <= page.ids("figure")
    assert page.count("svg") == 4
    assert page.count("img") == 0  # the hostile rule is text, not markup
    assert_self_contained(page)
    assert main(["report", *map(str, ledgers)]) == 0
    text = capsys.readouterr().out
    assert text.startswith("5 exclusions in 6 ledger records (2 ledger(s), 3 domains)")
    assert "Exclusions by stage:" in text and "  origin " in text


def test_cli_missing_ledger(tmp_path, capsys):
    assert main(["report", str(tmp_path / "nope.jsonl")]) == 2
    assert "no such ledger" in capsys.readouterr().err


def test_report_of_a_real_crawl(farm, tmp_path):
    """Ledgers written by the add-on in a real crawl, read back by the report."""
    farm.reset()
    urls = [
        farm.url("robots-ai-groups", "/index.html"),
        farm.url("noai-header", "/"),
        farm.url("tdmrep-file", "/index.html"),
    ]
    result = run_crawl(tmp_path / "crawl", urls)
    ledger = tmp_path / "crawl" / "optout-ledger.jsonl"
    records = list(read_ledger(ledger))
    assert records
    report = ledger_report([ledger])
    assert report["exclusions"] == result.stats["optout/excluded_count"]
    for signal in ("robots.txt", "tdmrep", "noai"):
        assert report["by_signal"][signal] == result.stats.get(f"optout/excluded/{signal}", 0)
        assert report["by_signal"][signal] > 0, signal
    assert sum(report["by_stage"].values()) == report["exclusions"]
    assert report["by_domain"] == {"127.0.0.1": report["exclusions"]}
    assert_self_contained(parse_page(render_html(report)))


def test_survey_report_escapes_site_strings():
    records = [
        {
            "line": 1,
            "input": HOSTILE,
            "site": None,
            "error": f"not a valid host name: {HOSTILE}",
            "reachable": False,
        },
        {
            "line": 2,
            "input": "https://x.example/",
            "site": "https://x.example/",
            "host": "x.example",
            "suffix": "<b>bold</b>",
            "reachable": True,
            "month": "2025-01",
            "reserving": {"train": ["robots.txt"]},
            "signals_reserving": ["robots.txt"],
            "agents": {"GPTBot": {"named": "full", "effective": "full"}},
        },
    ]
    summary = summarise(records, extra={"input": HOSTILE})
    text = survey_report(summary, records)
    page = parse_page(text)
    assert page.count("img") == 0 and page.count("b") == 0
    assert_self_contained(page)
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in text
    assert "chart-time" in page.ids("figure")  # records with a month draw prevalence over time
