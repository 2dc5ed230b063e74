"""What a hostile site cannot do: inject markup into reports, steer files, or reach past http(s).

* Every string a site can write (host names, rules, signals, error texts) comes
  out of the HTML reports escaped, in text and inside SVG charts.
* The ledger and its evidence live where the settings say, named by the
  sha256 of their content: no URL, header or body picks a file name.
* No request leaves for a non-http(s) URL: redirects of policy files and of
  pages to ``file:``, ``ftp:`` or ``javascript:`` are not followed, and neither
  is a ``<meta http-equiv="refresh">`` to a local file.
"""

from __future__ import annotations

import hashlib
import json
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from faultserver import FaultServer, Redirect, Respond, html, text
from helpers import TEST_UA, run_crawl
from scrapy_optout.cli import main
from scrapy_optout.frontends.report import ledger_report, render_html
from scrapy_optout.frontends.survey.report_html import survey_report
from scrapy_optout.frontends.survey.summary import summarise
from scrapy_optout.policy.snapshot import PolicyFile
from scrapy_optout.stores.ledger import Ledger

HOSTILE = [
    "<script>alert(1)</script>",
    '"><svg onload=alert(2)>',
    "</svg><script>alert(3)</script>",
    "' onmouseover='alert(4)",
    "</title></head><body><iframe src=//evil.example>",
]
SETTINGS: dict[str, Any] = {"DOWNLOAD_TIMEOUT": 5, "USER_AGENT": TEST_UA}


class _Elements(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.attributes: list[tuple[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attributes.extend(attrs)


def _elements(page: str) -> _Elements:
    parser = _Elements()
    parser.feed(page)
    parser.close()
    return parser


def _assert_inert(page: str, benign: str) -> None:
    """*page* holds the hostile strings as text only: no element, no attribute they made."""
    for hostile in HOSTILE:
        assert hostile not in page
    hostile_page, baseline = _elements(page), _elements(benign)
    assert "script" not in hostile_page.tags
    assert "iframe" not in hostile_page.tags
    assert set(hostile_page.tags) <= set(baseline.tags)
    names = {name for name, _ in hostile_page.attributes}
    assert not any(name.startswith("on") for name in names), names
    assert names <= {name for name, _ in baseline.attributes}
    assert "&lt;script&gt;" in page


# -- HTML reports --------------------------------------------------------------------------


def _ledger_record(n: int, hostile: str | None) -> dict[str, Any]:
    word = hostile if hostile is not None else f"site{n}"
    return {
        "v": 1,
        "time": f"2026-01-01T00:00:0{n}.000Z",
        "url": f"https://{word}/page?q={word}",
        "origin": f"https://{word}:443",
        "domain": word,
        "stage": "origin" if hostile is None else word,
        "purpose": "train" if hostile is None else word,
        "verdict": "reserved",
        "reasons": [
            {"signal": "robots.txt", "where": "file", "rule": f"Disallow: /{word}", "source": "s"},
            {"signal": word, "where": "header", "rule": word, "source": f"https://{word}/"},
        ],
        "evidence": [],
        "spider": word,
    }


def _ledger_page(tmp_path: Path, hostile: bool) -> str:
    path = tmp_path / ("hostile.jsonl" if hostile else "benign.jsonl")
    records = [_ledger_record(n, h if hostile else None) for n, h in enumerate(HOSTILE)]
    path.write_text("".join(json.dumps(r) + "\n" for r in records), "utf-8")
    return render_html(ledger_report([path]))


def test_ledger_report_escapes_site_strings(tmp_path):
    _assert_inert(_ledger_page(tmp_path, True), _ledger_page(tmp_path, False))


def _survey_records(hostile: bool) -> list[dict[str, Any]]:
    records = []
    for n, word in enumerate(HOSTILE):
        name = word if hostile else f"site{n}"
        records.append(
            {
                "line": n + 1,
                "input": name,
                "site": f"https://{name}/",
                "host": name,
                "suffix": name,
                "rank": n + 1,
                "reachable": True,
                "month": f"2025-0{n + 1}",
                "error": name,
                "reserving": {"train": [name, "robots.txt"]},
                "signals_reserving": [name, "robots.txt"],
                "agents": {name: {"named": "full", "effective": "partial"}},
            }
        )
    records.append(
        {
            "line": 99,
            "input": HOSTILE[0] if hostile else "x",
            "site": None,
            "error": f"not a host: {HOSTILE[1] if hostile else 'x'}",
            "reachable": False,
        }
    )
    return records


def _survey_page(hostile: bool) -> str:
    records = _survey_records(hostile)
    extra = {"input": HOSTILE[2], "user_agent": HOSTILE[3]} if hostile else {"input": "in"}
    return survey_report(summarise(records, extra=extra), records)


def test_survey_report_escapes_site_strings():
    _assert_inert(_survey_page(True), _survey_page(False))


# -- the ledger and evidence paths -----------------------------------------------------------------

STEERING = [
    "/../../escape.html",
    "/%2e%2e/%2e%2e/escape.html",
    "/..%2f..%2fescape.html",
    "/a/..%5c..%5cescape.html",
    "/evidence/../../../tmp/escape.html",
]


def _all_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def test_ledger_and_evidence_paths_are_not_steered_by_a_site(tmp_path):
    noai = '<meta name="robots" content="noai">'
    routes: dict[str, Any] = {
        "/robots.txt": Respond(
            200,
            b"User-agent: *\nDisallow: /blocked/\n# ../../escape.html\n",
            (
                ("Content-Type", "text/plain"),
                ("Content-Disposition", 'attachment; filename="../../escape.txt"'),
            ),
        ),
        "/ai.txt": text("User-Agent: *\nDisallow: /../../escape\n"),
        "/.well-known/tdmrep.json": text(
            '[{"location": "/../../escape*", "tdm-reservation": 1}]',
            content_type="application/json",
        ),
    }
    with FaultServer(routes) as server:
        server.fallback = html("reserved by its meta", head_extra=noai)
        run_dir = tmp_path / "run"
        ledger = run_dir / "ledger.jsonl"
        urls = [server.url(path) for path in STEERING] + [server.url("/blocked/x")]
        result = run_crawl(tmp_path / "out", urls, {**SETTINGS, "OPTOUT_LEDGER": str(ledger)})
    assert result.ledger and all(r["verdict"] == "reserved" for r in result.ledger)
    evidence_dir = run_dir / "ledger.evidence"
    produced = {p.relative_to(tmp_path).as_posix() for p in _all_files(tmp_path)}
    crawl_outputs = {"out/config.json", "out/stats.json", "out/items.jsonl"}
    evidence = {p for p in produced if p.startswith("run/ledger.evidence/")}
    assert produced - evidence - crawl_outputs == {"run/ledger.jsonl"}
    assert evidence
    for name in evidence:
        path = tmp_path / name
        assert re.fullmatch(r"[0-9a-f]{64}", path.name)
        assert hashlib.sha256(path.read_bytes()).hexdigest() == path.name
    cited = {e["sha256"] for r in result.ledger for e in r["evidence"]}
    assert cited == {p.name for p in evidence_dir.iterdir()}
    assert not any("escape" in p.name for p in _all_files(tmp_path.parent))


def test_evidence_is_named_by_its_hash_whatever_the_file_says(tmp_path):
    ledger = Ledger(tmp_path / "l.jsonl", tmp_path / "ev")
    hostile = PolicyFile(
        "../../../kind", "file:///../../etc/passwd", 200, b"../../x", error="../../y"
    )
    ledger.store_evidence([hostile])
    assert [p.name for p in (tmp_path / "ev").iterdir()] == [hashlib.sha256(b"../../x").hexdigest()]
    assert _all_files(tmp_path) == [tmp_path / "ev" / hostile.sha256]


# -- no request to a non-http(s) URL ---------------------------------------------------------------


@pytest.fixture
def canaries(tmp_path):
    """Local files that would change the outcome if they were ever read."""
    folder = tmp_path / "canary"
    folder.mkdir()
    files = {
        "robots": folder / "robots.txt",
        "ai": folder / "ai.txt",
        "tdmrep": folder / "tdmrep.json",
        "page": folder / "page.html",
    }
    files["robots"].write_text("User-agent: *\nDisallow: /\n")
    files["ai"].write_text("User-Agent: *\nDisallow: /\n")
    files["tdmrep"].write_text('[{"location": "/*", "tdm-reservation": 1}]')
    files["page"].write_text("<html><head><title>CANARY</title></head><body>CANARY</body></html>")
    return {name: path.as_uri() for name, path in files.items()}


def test_no_request_to_non_http_urls(canaries, tmp_path):
    refresh = f'<meta http-equiv="refresh" content="0; url={canaries["page"]}">'
    routes: dict[str, Any] = {
        "/robots.txt": Redirect(canaries["robots"]),
        "/ai.txt": Redirect(canaries["ai"], status=301),
        "/.well-known/tdmrep.json": Redirect(canaries["tdmrep"], status=307),
        "/to-file": Redirect(canaries["page"]),
        "/to-ftp": Redirect("ftp://127.0.0.1/page.html"),
        "/to-javascript": Redirect("javascript:alert(1)"),
        "/to-data": Redirect("data:text/html,<title>CANARY</title>"),
        "/refresh.html": html("refreshes", head_extra=refresh),
        "/page.html": html("an allowed page"),
    }
    with FaultServer(routes) as server:
        urls = [server.url(path) for path in routes if not path.endswith((".txt", ".json"))]
        result = run_crawl(tmp_path / "out", urls, SETTINGS)
        http_requests = sum(server.hits(path) for path in routes)
    # The policy files' redirects were not followed: had the canaries been read,
    # robots.txt, ai.txt and tdmrep.json would each reserve every page.
    assert result.ledger == []
    assert server.url("/page.html") in result.item_urls
    assert server.url("/refresh.html") in result.item_urls
    assert not any(
        "CANARY" in json.dumps(item) or not item["url"].startswith("http") for item in result.items
    )
    assert result.stats["downloader/request_count"] == http_requests
    assert not any(
        key.startswith("downloader/request_method_count/") and "file" in key for key in result.stats
    )


def test_check_does_not_follow_non_http_redirects(canaries, capsys):
    routes: dict[str, Any] = {
        "/robots.txt": Redirect(canaries["robots"]),
        "/ai.txt": Redirect(canaries["ai"]),
        "/.well-known/tdmrep.json": Redirect(canaries["tdmrep"]),
        "/page.html": html("an allowed page"),
        "/to-file": Redirect(canaries["page"]),
    }
    with FaultServer(routes) as server:
        code = main(["check", server.url("/page.html"), "--user-agent", TEST_UA, "--json"])
        report = json.loads(capsys.readouterr().out)
        assert code == 0, report
        assert report["reasons"] == []
        statuses = {e["source"].rsplit("/", 1)[-1]: e["status"] for e in report["evidence"]}
        assert statuses == {"robots.txt": 302, "ai.txt": 302, "tdmrep.json": 302}
        code = main(["check", server.url("/to-file"), "--user-agent", TEST_UA, "--json"])
        captured = capsys.readouterr()
        assert code == 2
        assert "non-http" in captured.err
        assert "CANARY" not in captured.out + captured.err


def test_a_page_cannot_make_the_crawl_read_local_files(canaries, tmp_path):
    """``<img src="file:...">`` would have the Files pipeline copy a local file."""
    image = canaries["page"].replace("page.html", "secret.png")
    Path(image.removeprefix("file://")).write_bytes(b"\x89PNG secret")
    page = f'<html><body><img src="{image}"><img src="ftp://127.0.0.1/x.png"></body></html>'
    routes: dict[str, Any] = {
        "/robots.txt": text("User-agent: *\nAllow: /\n"),
        "/gallery.html": Respond(200, page.encode(), (("Content-Type", "text/html"),)),
    }
    with FaultServer(routes) as server:
        # A start request is the operator's own choice, file: or not.
        urls = [server.url("/gallery.html"), canaries["page"]]
        result = run_crawl(tmp_path / "out", urls, SETTINGS)
    assert server.url("/gallery.html") in result.item_urls
    assert canaries["page"] in result.item_urls
    stored = [p for p in (tmp_path / "out" / "files").rglob("*") if p.is_file()]
    assert stored == []
    assert result.stats["optout/refused_scheme"] == 2
