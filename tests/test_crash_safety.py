"""A crawl killed with SIGKILL loses no exclusion, and the next one appends cleanly."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from faultserver import Connection, Custom, FaultServer, Respond, text
from helpers import ROOT, TEST_UA, run_crawl
from scrapy_optout.stores.ledger import read_ledger, torn_path_for

PAGES = 3000
NOAI_META = b'<meta name="robots" content="noai">'


def _slow_page(conn: Connection) -> None:
    """Pages reserved at the three stages, each answered after a short wait."""
    if conn.path.startswith("/blocked/"):
        return  # never asked for: robots.txt disallows it
    conn.wait(0.05)
    number = int(conn.path.rsplit("/", 1)[-1].split(".")[0])
    headers = [("Content-Type", "text/html; charset=utf-8")]
    meta = b""
    if number % 2:
        headers.append(("X-Robots-Tag", "noai"))
    else:
        meta = NOAI_META
    body = b"<html><head><title>p</title>" + meta + b"</head><body>p</body></html>"
    lines = ["HTTP/1.1 200 OK", *(f"{k}: {v}" for k, v in headers)]
    lines += [f"Content-Length: {len(body)}", "Connection: close", "", ""]
    conn.send("\r\n".join(lines).encode() + body)


@pytest.fixture(scope="module")
def server():
    site = FaultServer(
        {
            "/robots.txt": text("User-agent: *\nDisallow: /blocked/\n"),
            "/ai.txt": Respond(404),
            "/.well-known/tdmrep.json": Respond(404),
        }
    )
    site.fallback = Custom(_slow_page)
    with site:
        yield site


def _urls(server: FaultServer, count: int, offset: int = 0) -> list[str]:
    urls = []
    for n in range(offset, offset + count):
        folder = "blocked" if n % 3 == 0 else "p"
        urls.append(server.url(f"/{folder}/{n}.html"))
    return urls


def _lines(path: Path) -> tuple[list[bytes], bytes]:
    """The complete lines of a file and what follows the last newline."""
    data = path.read_bytes()
    *complete, tail = data.split(b"\n")
    return complete, tail


def _start_crawl(out: Path, urls: list[str], settings: dict[str, object]) -> subprocess.Popen[str]:
    out.mkdir(parents=True, exist_ok=True)
    config = out / "config.json"
    config.write_text(json.dumps({"start_urls": urls, "out": str(out), "settings": settings}))
    return subprocess.Popen(
        [sys.executable, str(ROOT / "tests" / "run_crawl.py"), str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
        cwd=out,
        text=True,
    )


def test_sigkill_loses_nothing_and_restart_appends(server, tmp_path):
    ledger = tmp_path / "ledger.jsonl"
    log = tmp_path / "crawl.log"
    settings = {
        "USER_AGENT": TEST_UA,
        "OPTOUT_LEDGER": str(ledger),
        "LOG_FILE": str(log),
        "LOG_LEVEL": "INFO",
        "CONCURRENT_REQUESTS": 4,
        "DOWNLOAD_TIMEOUT": 5,
    }
    proc = _start_crawl(tmp_path / "killed", _urls(server, PAGES), settings)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if ledger.exists() and ledger.read_bytes().count(b"\n") >= 300:
                break
            assert proc.poll() is None, "the crawl ended before it could be killed"
            time.sleep(0.02)
        else:
            pytest.fail("the crawl wrote too few ledger lines in time")
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait(30)
    assert proc.returncode == -signal.SIGKILL

    # Every complete line is a record; only the last may be cut short.
    complete, tail = _lines(ledger)
    records = [json.loads(line) for line in complete]
    assert 300 <= len(records) < PAGES, "not killed mid-way"
    assert all(r["verdict"] == "reserved" for r in records)
    if tail:
        with pytest.raises(json.JSONDecodeError):
            json.loads(tail)
    stages = {r["stage"] for r in records}
    assert {"origin", "headers", "body"} <= stages, stages

    # Every exclusion the crawl logged was written to the ledger first.
    logged = re.findall(r"Excluded (\S+) for train", log.read_text(errors="replace"))
    assert len(logged) >= 250
    in_ledger = {r["url"] for r in records}
    assert sorted(set(logged) - in_ledger) == []

    # A crash in the middle of a write leaves a torn line: a restart over the
    # same ledger moves it aside and appends whole records after the old ones.
    before = ledger.read_bytes()
    if not tail:
        before += b'{"v":1,"time":"2026-11-21T10:00:00.000Z","url":"http://torn'
        ledger.write_bytes(before)
    kept = before[: before.rindex(b"\n") + 1]
    restart = run_crawl(
        tmp_path / "restart",
        _urls(server, 60, offset=PAGES),
        {**settings, "LOG_FILE": str(tmp_path / "restart.log"), "CONCURRENT_REQUESTS": 16},
    )
    after = ledger.read_bytes()
    assert after.startswith(kept), "records of the killed crawl were changed"
    # The torn fragment is not thrown away: it is kept in <ledger>.torn.
    assert torn_path_for(ledger).read_bytes() == before[len(kept) :] + b"\n"
    complete, tail = _lines(ledger)
    assert tail == b""
    parsed = [json.loads(line) for line in complete]
    assert len(parsed) == len(records) + 60
    assert parsed[: len(records)] == records
    assert {r["url"] for r in parsed[len(records) :]} == set(_urls(server, 60, offset=PAGES))
    assert restart.stats["optout/ledger_records"] == 60
    assert list(read_ledger(ledger)) == parsed


def test_evidence_is_written_before_the_line_that_cites_it(server, tmp_path):
    result = run_crawl(tmp_path, _urls(server, 30), {"USER_AGENT": TEST_UA})
    evidence_dir = tmp_path / "optout-ledger.evidence"
    for record in result.ledger:
        for evidence in record["evidence"]:
            assert (evidence_dir / evidence["sha256"]).is_file()
    # Only content-addressed files, and no temporary file left behind.
    names = [p.name for p in evidence_dir.iterdir()]
    assert names and all(re.fullmatch(r"[0-9a-f]{64}", name) for name in names), names
