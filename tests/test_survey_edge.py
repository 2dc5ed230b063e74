"""Edge answers, presence and capture grouping of the survey.

* :func:`edge_class` on a table of answers, one per class and the edge cases
  between them (a challenge behind a 403 or a 503, a CAPTCHA widget on a
  normal page, 401 with another scheme);
* the same classes read from captures of a home page and policy files, into
  the record's ``edge`` and ``summary.json``'s ``by_edge``;
* ``presence``: files served and robots.txt lines carried, whatever they say;
* grouping captures through sorted runs on disk gives the same groups, in the
  same order, as grouping them in memory.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from scrapy_optout.frontends.survey import read_records, survey_captures
from scrapy_optout.frontends.survey.captures import Capture, group_captures, kind_of
from scrapy_optout.frontends.survey.edge import EDGE_CLASSES, edge_answer, edge_class

UA = "optout-test/1.0 (+https://example.invalid/bot)"
CF_CHALLENGE = (
    b"<!DOCTYPE html><html><head><title>Just a moment...</title></head>"
    b'<body><script src="/cdn-cgi/challenge-platform/h/g/orchestrate/chl_page/v1"></script>'
)


@pytest.mark.parametrize(
    ("status", "headers", "body", "expected"),
    [
        (200, {}, b"<html></html>", "ok"),
        (204, {}, b"", "ok"),
        (301, {"Location": ["https://elsewhere.example/"]}, b"", "redirect"),
        (308, {}, b"", "redirect"),
        (401, {"WWW-Authenticate": ['License realm="rsl"']}, b"", "licence"),
        (401, {"www-authenticate": "Basic realm=x, License"}, b"", "licence"),
        (401, {"WWW-Authenticate": ['Basic realm="members"']}, b"", "forbidden"),
        (401, {}, b"", "forbidden"),
        (402, {"crawler-price": ["USD 0.01"]}, b"", "payment"),
        (402, {}, b"", "payment"),
        (403, {}, b"<html>Access denied</html>", "forbidden"),
        (451, {}, b"", "forbidden"),
        (404, {}, b"<html>Not found</html>", "not-found"),
        (410, {}, b"", "not-found"),
        (403, {"cf-mitigated": ["challenge"]}, b"", "challenge"),
        (503, {"CF-Mitigated": "challenge"}, b"", "challenge"),
        (403, {}, CF_CHALLENGE, "challenge"),
        (503, {}, b"<html><script src='https://challenges.cloudflare.com/x'>", "challenge"),
        (202, {"x-amzn-waf-action": ["challenge"]}, b"", "challenge"),
        (429, {"x-vercel-mitigated": ["challenge"]}, b"", "challenge"),
        (403, {}, b"<html><script src='https://ct.captcha-delivery.com/c.js'>", "challenge"),
        # A normal page that embeds a CAPTCHA widget is a normal answer.
        (200, {}, b"<html><script src='https://challenges.cloudflare.com/turnstile'>", "ok"),
        (429, {"Retry-After": ["60"]}, b"", "rate-limited"),
        (500, {}, b"", "error"),
        (503, {}, b"<html>Service unavailable</html>", "error"),
        (103, {}, b"", "error"),
        (None, {}, b"", "unreachable"),
    ],
)
def test_edge_class(status, headers, body, expected):
    assert edge_class(status, headers, body) == expected
    assert expected in EDGE_CLASSES


def test_edge_answer_quotes_the_price_and_the_signature():
    assert edge_answer(402, {"Crawler-Price": ["USD 0.01"]}) == {
        "status": 402,
        "class": "payment",
        "price": "USD 0.01",
    }
    assert edge_answer(403, {"cf-mitigated": ["challenge"]}) == {
        "status": 403,
        "class": "challenge",
        "detail": "cf-mitigated: challenge",
    }
    assert edge_answer(None) == {"status": None, "class": "unreachable"}


def test_edge_class_is_strict_about_argument_types():
    with pytest.raises(TypeError):
        edge_class("403")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        edge_class(403, {}, "body")  # type: ignore[arg-type]


# -- from captures to records and summary ----------------------------------------------------


def _captures(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def test_edge_and_presence_from_captures(tmp_path):
    day = "2026-10-01"
    rows = [
        # a: pay-per-crawl home page; robots.txt with Content-Signal and an RSL licence line.
        {
            "url": "https://a.example/robots.txt",
            "body": "License: https://a.example/license.xml\nUser-agent: *\n"
            "Content-Signal: search=yes, ai-train=no\nAllow: /\n",
            "date": day,
        },
        {
            "url": "https://a.example/",
            "status": 402,
            "headers": {"crawler-price": "USD 0.01"},
            "body": "",
            "date": day,
        },
        # b: RSL licence required; Content-Usage line; an ai.txt that is an HTML page.
        {
            "url": "https://b.example/robots.txt",
            "body": "User-agent: *\nContent-Usage: train-ai=n\n",
            "date": day,
        },
        {
            "url": "https://b.example/ai.txt",
            "headers": {"Content-Type": "text/html"},
            "body": "<!DOCTYPE html><html><body>Home</body></html>",
            "date": day,
        },
        {
            "url": "https://b.example/",
            "status": 401,
            "headers": {"WWW-Authenticate": 'License realm="b"'},
            "body": "",
            "date": day,
        },
        # c: a challenge page at the edge, and a robots.txt that is one too.
        {
            "url": "https://c.example/robots.txt",
            "status": 403,
            "headers": {"cf-mitigated": "challenge"},
            "body": CF_CHALLENGE.decode(),
            "date": day,
        },
        {
            "url": "https://c.example/",
            "status": 403,
            "headers": {"cf-mitigated": "challenge"},
            "body": CF_CHALLENGE.decode(),
            "date": day,
        },
        # d: served ai.txt and tdmrep.json, a plain home page.
        {"url": "https://d.example/robots.txt", "body": "User-agent: *\nDisallow:\n", "date": day},
        {"url": "https://d.example/ai.txt", "body": "User-Agent: *\nAllow: /\n", "date": day},
        {
            "url": "https://d.example/.well-known/tdmrep.json",
            "body": '[{"location": "/", "tdm-reservation": 0}]',
            "date": day,
        },
        {"url": "https://d.example/", "body": "<html><head></head></html>", "date": day},
    ]
    out = tmp_path / "out"
    summary = survey_captures([_captures(tmp_path / "c.jsonl", rows)], out, user_agent=UA)
    records = {r["host"]: r for r in read_records(out / "results.jsonl")}
    assert records["a.example"]["edge"]["home"] == {
        "status": 402,
        "class": "payment",
        "price": "USD 0.01",
    }
    assert records["a.example"]["edge"]["robots.txt"] == {"status": 200, "class": "ok"}
    assert records["b.example"]["edge"]["home"] == {"status": 401, "class": "licence"}
    assert records["c.example"]["edge"]["home"]["class"] == "challenge"
    assert records["c.example"]["edge"]["robots.txt"]["class"] == "challenge"
    assert records["d.example"]["edge"]["tdmrep.json"] == {"status": 200, "class": "ok"}
    assert summary["by_edge"] == {
        **dict.fromkeys(EDGE_CLASSES, 0),
        "ok": 1,
        "payment": 1,
        "licence": 1,
        "challenge": 1,
    }
    assert records["a.example"]["presence"] == {
        "robots.txt": True,
        "ai.txt": False,
        "tdmrep.json": False,
        "content-signal": True,
        "content-usage": False,
        "license": True,
    }
    # An HTML page at /ai.txt is not an ai.txt; a 403 robots.txt is not served.
    assert records["b.example"]["presence"]["ai.txt"] is False
    assert records["c.example"]["presence"]["robots.txt"] is False
    assert summary["presence"] == {
        "robots.txt": 3,
        "ai.txt": 1,
        "tdmrep.json": 1,
        "content-signal": 1,
        "content-usage": 1,
        "license": 1,
    }
    # Presence is not reservation: d serves an ai.txt and a tdmrep.json reserving nothing.
    assert records["d.example"]["signals_reserving"] == []


# -- grouping on disk ----------------------------------------------------------------------


def _synthetic(count: int) -> list[Capture]:
    captures = []
    for n in range(count):
        host = f"h{(n * 7919) % 53}.example"
        month = f"2025-{1 + n % 4:02d}"
        path = ("/robots.txt", "/", "/page", "/ai.txt")[n % 4]
        url = f"https://{host}{path}"
        body = f"User-agent: GPTBot\nDisallow: /{n}\n".encode()
        captures.append(Capture(url, kind_of(url), body, 200, {}, f"{month}-{1 + n % 28:02d}"))
    return captures


def _in_memory(captures: list[Capture]) -> list[tuple[str, str, list[str]]]:
    groups: dict[tuple[str, str], list[str]] = defaultdict(list)
    for capture in captures:
        groups[capture.host, capture.month or ""].append(capture.url)
    return [(host, month, urls) for (host, month), urls in sorted(groups.items())]


def test_grouping_through_runs_on_disk_matches_grouping_in_memory(tmp_path):
    captures = _synthetic(2_000)
    spilled = []
    for group in group_captures(iter(captures), run_captures=37, tmpdir=tmp_path):
        spilled.append((group.host, group.month or "", group))
        # Runs live in a temporary folder while the groups are read.
        assert any(tmp_path.iterdir())
    assert not any(tmp_path.iterdir())  # and are gone afterwards
    expected = _in_memory(captures)
    assert [(h, m) for h, m, _ in spilled] == [(h, m) for h, m, _ in expected]
    for (_, _, group), (_, _, urls) in zip(spilled, expected, strict=True):
        assert group.seen == len(urls)
        # The latest capture of each file wins, whatever run it was spilled in.
        robots = [c for c in captures if c.url == f"https://{group.host}/robots.txt"]
        robots = [c for c in robots if c.month == group.month]
        if robots:
            assert group.files["robots.txt"].date == max(c.date or "" for c in robots)


def test_many_runs_are_merged_in_stages(tmp_path, monkeypatch):
    from scrapy_optout.frontends.survey import captures as module

    monkeypatch.setattr(module, "MAX_FAN_IN", 4)
    captures = _synthetic(600)
    hosts = [
        (g.host, g.month) for g in group_captures(iter(captures), run_captures=10, tmpdir=tmp_path)
    ]
    assert hosts == [(h, m or None) for h, m, _ in _in_memory(captures)]
