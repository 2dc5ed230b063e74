"""The ledger never loses a line.

* A ledger or evidence folder that cannot be written stops the crawl before
  any request is sent, with an error naming the setting and the path.
* A write that fails mid-crawl (here a real file size limit, ``RLIMIT_FSIZE``)
  stops the crawl with a non-zero exit: nothing is kept or excluded without
  its record.
* A torn last line is moved into ``<ledger>.torn`` before the next append.
* Evidence files are never written through a planted symbolic link.
* ``optout report`` skips and counts malformed lines, and counts measure-mode
  records as "would exclude", once per URL.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import resource
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from faultserver import Connection, Custom, FaultServer, Respond, text
from helpers import TEST_UA, CrawlResult, run_crawl
from scrapy_optout import LedgerError
from scrapy_optout.cli import main
from scrapy_optout.frontends.report import ledger_report, render_html
from scrapy_optout.policy.snapshot import PolicyFile
from scrapy_optout.stores.ledger import Ledger, read_ledger, torn_path_for

ROBOTS = b"User-agent: *\nDisallow: /blocked/\n"
NOAI_META = '<meta name="robots" content="noai">'
NOIMAGEAI_META = '<meta name="robots" content="noimageai">'
PAGE_KINDS = ("allowed", "headers", "body", "origin")


def _page_kind(number: int) -> str:
    return PAGE_KINDS[number % len(PAGE_KINDS)]


def _page(conn: Connection) -> None:
    """``/p/N.html``: allowed, or reserved by its headers or by its meta, as N says."""
    number = int(conn.path.rsplit("/", 1)[-1].split(".")[0])
    kind = _page_kind(number)
    headers = [("Content-Type", "text/html; charset=utf-8")]
    meta = ""
    if kind == "headers":
        headers.append(("X-Robots-Tag", "noai"))
    elif kind == "body":
        meta = NOAI_META
    body = f"<html><head><title>{kind} {number}</title>{meta}</head><body>p</body></html>"
    data = body.encode()
    lines = ["HTTP/1.1 200 OK", *(f"{k}: {v}" for k, v in headers)]
    lines += [f"Content-Length: {len(data)}", "Connection: close", "", ""]
    conn.send("\r\n".join(lines).encode() + data)


@pytest.fixture(scope="module")
def server() -> Iterator[FaultServer]:
    site = FaultServer(
        {
            "/robots.txt": Respond(200, ROBOTS, (("Content-Type", "text/plain"),)),
            "/ai.txt": Respond(404),
            "/.well-known/tdmrep.json": Respond(404),
        }
    )
    site.route_prefix("/p", Custom(_page))
    site.route_prefix("/blocked", Custom(_page))
    with site:
        yield site


def _url(server: FaultServer, number: int) -> str:
    folder = "blocked" if _page_kind(number) == "origin" else "p"
    return server.url(f"/{folder}/{number}.html")


def _urls(server: FaultServer, count: int, offset: int = 0) -> list[str]:
    return [_url(server, n) for n in range(offset, offset + count)]


def _reserved_urls(server: FaultServer, count: int, offset: int = 0) -> set[str]:
    return {_url(server, n) for n in range(offset, offset + count) if _page_kind(n) != "allowed"}


def _settings(ledger: Path, **extra: Any) -> dict[str, Any]:
    return {
        "USER_AGENT": TEST_UA,
        "OPTOUT_LEDGER": str(ledger),
        "LOG_LEVEL": "INFO",
        "DOWNLOAD_TIMEOUT": 5,
        "CONCURRENT_REQUESTS": 4,
        **extra,
    }


def _file_size_limit(limit: int) -> Callable[[], None]:
    """A ``preexec_fn``: files written by the crawl cannot grow past *limit* bytes."""

    def apply() -> None:
        hard = resource.getrlimit(resource.RLIMIT_FSIZE)[1]
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))

    return apply


def _all_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() or p.is_symlink())


def _hits(server: FaultServer, urls: list[str]) -> int:
    """Requests the server had for robots.txt and *urls* (the module's crawls share it)."""
    paths = ["/robots.txt", *(u.removeprefix(server.origin) for u in urls)]
    return sum(server.hits(path) for path in paths)


# -- start-up check --------------------------------------------------------------------------------


def _refused(
    server: FaultServer,
    tmp_path: Path,
    settings: dict[str, Any],
    *,
    offset: int,
    preexec_fn: Callable[[], None] | None = None,
) -> CrawlResult:
    urls = _urls(server, 8, offset)
    before = _hits(server, urls)
    result = run_crawl(tmp_path / "out", urls, settings, expect_failure=True, preexec_fn=preexec_fn)
    assert "LedgerError" in result.log
    assert _hits(server, urls) == before, "a request was sent before the ledger was checked"
    return result


def test_a_ledger_that_is_a_directory_stops_the_crawl_before_any_request(server, tmp_path):
    ledger = tmp_path / "run" / "ledger.jsonl"
    ledger.mkdir(parents=True)
    result = _refused(server, tmp_path, _settings(ledger), offset=1000)
    assert f"OPTOUT_LEDGER: the ledger {ledger} is a directory" in result.log


def test_a_ledger_folder_that_is_a_file_stops_the_crawl(server, tmp_path):
    (tmp_path / "run").write_text("not a folder")
    ledger = tmp_path / "run" / "ledger.jsonl"
    result = _refused(server, tmp_path, _settings(ledger), offset=1100)
    assert "OPTOUT_LEDGER" in result.log and str(ledger) in result.log


def test_a_symlinked_ledger_is_refused_and_its_target_untouched(server, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    target = outside / "elsewhere.jsonl"
    target.write_text("")
    run = tmp_path / "run"
    run.mkdir()
    ledger = run / "ledger.jsonl"
    ledger.symlink_to(target)
    result = _refused(server, tmp_path, _settings(ledger), offset=1200)
    assert f"OPTOUT_LEDGER: the ledger {ledger} is a symbolic link" in result.log
    assert target.read_bytes() == b""
    assert _all_files(outside) == [target]


def test_a_symlinked_evidence_folder_is_refused_and_nothing_written_outside(server, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    run = tmp_path / "run"
    run.mkdir()
    (run / "ledger.evidence").symlink_to(outside, target_is_directory=True)
    result = _refused(server, tmp_path, _settings(run / "ledger.jsonl"), offset=1300)
    assert "OPTOUT_EVIDENCE_DIR" in result.log
    assert "symbolic link" in result.log and str(run / "ledger.evidence") in result.log
    assert list(outside.iterdir()) == []


def test_an_evidence_dir_that_is_a_file_stops_the_crawl(server, tmp_path):
    evidence = tmp_path / "evidence"
    evidence.write_text("a file")
    settings = _settings(tmp_path / "run" / "ledger.jsonl", OPTOUT_EVIDENCE_DIR=str(evidence))
    result = _refused(server, tmp_path, settings, offset=1400)
    assert f"OPTOUT_EVIDENCE_DIR: cannot use the evidence folder {evidence}" in result.log


def test_a_folder_that_cannot_be_written_stops_the_crawl(server, tmp_path):
    """The write probe fails (a file size limit of 0 bytes: no write succeeds)."""
    ledger = tmp_path / "run" / "ledger.jsonl"
    result = _refused(
        server, tmp_path, _settings(ledger), offset=1500, preexec_fn=_file_size_limit(0)
    )
    assert f"OPTOUT_LEDGER: cannot write the ledger {ledger}" in result.log
    assert "File too large" in result.log
    assert not list((tmp_path / "run").glob(".optout-probe-*"))


# -- a write that fails mid-crawl --------------------------------------------------------------


def _crawl_until_the_ledger_fills(
    server: FaultServer, tmp_path: Path, *, offset: int, mode: str
) -> tuple[CrawlResult, Path, list[str]]:
    ledger = tmp_path / "run" / "ledger.jsonl"
    urls = _urls(server, 160, offset)
    result = run_crawl(
        tmp_path / "out",
        urls,
        _settings(ledger, OPTOUT_MODE=mode),
        expect_failure=True,
        preexec_fn=_file_size_limit(12 * 1024),
    )
    return result, ledger, urls


def _complete_records(ledger: Path) -> tuple[list[dict[str, Any]], bytes]:
    data = ledger.read_bytes()
    *complete, tail = data.split(b"\n")
    return [json.loads(line) for line in complete], tail


def test_a_full_ledger_stops_an_enforcing_crawl_and_nothing_escapes(server, tmp_path):
    result, ledger, urls = _crawl_until_the_ledger_fills(
        server, tmp_path, offset=2000, mode="enforce"
    )
    assert result.stats["finish_reason"] == "optout_ledger_failed"
    assert result.stats["optout/ledger_failed"] == 1
    assert f"OPTOUT_LEDGER: writing to the ledger {ledger} failed: File too large" in result.log
    assert "The crawl stopped because its ledger could not be written" in result.log
    records, tail = _complete_records(ledger)
    assert 5 <= len(records) < len(_reserved_urls(server, 160, 2000)), "stopped part-way"
    assert ledger.stat().st_size <= 12 * 1024
    # Every exclusion acted on has its line; no reserved page was kept.
    recorded = {r["url"] for r in records}
    logged = set(re.findall(r"Excluded (\S+) for train", result.log))
    assert logged and logged <= recorded
    assert not result.item_urls & _reserved_urls(server, 160, 2000)
    assert result.stats["optout/excluded_count"] == len(logged)
    # The crawl did not go on: far from every start URL was requested.
    requested = sum(server.hits(u.removeprefix(server.origin)) for u in urls)
    assert requested < len(urls)

    # The next crawl moves the cut line aside and appends whole records.
    restart = run_crawl(tmp_path / "again", _urls(server, 12, 2500), _settings(ledger))
    again, after_tail = _complete_records(ledger)
    assert after_tail == b""
    assert again[: len(records)] == records
    assert {r["url"] for r in again[len(records) :]} == _reserved_urls(server, 12, 2500)
    assert restart.stats["optout/ledger_records"] == len(again) - len(records)
    torn = torn_path_for(ledger)
    if tail:
        assert torn.read_bytes() == tail + b"\n"
    else:
        assert not torn.exists()


def test_a_full_ledger_stops_a_measuring_crawl_and_keeps_no_unrecorded_page(server, tmp_path):
    result, ledger, _urls_crawled = _crawl_until_the_ledger_fills(
        server, tmp_path, offset=3000, mode="measure"
    )
    assert result.stats["finish_reason"] == "optout_ledger_failed"
    records, _tail = _complete_records(ledger)
    assert records and all(r["mode"] == "measure" for r in records)
    # In measure mode every page is recorded before it reaches the spider:
    # each item kept has its line.
    assert result.items
    assert result.item_urls <= {r["url"] for r in records}
    assert len(records) < 160


SPIDER = """
import scrapy


class PagesSpider(scrapy.Spider):
    name = "pages"
    custom_settings = {"ADDONS": {"scrapy_optout.Addon": 500}}

    def __init__(self, urls="", **kwargs):
        super().__init__(**kwargs)
        self.start_urls = urls.split(",")

    def parse(self, response):
        yield {"url": response.url}
"""


def _runspider(
    tmp_path: Path, urls: list[str], ledger: Path, preexec_fn: Callable[[], None] | None = None
) -> subprocess.CompletedProcess[str]:
    spider = tmp_path / "pages.py"
    spider.write_text(SPIDER)
    command = [sys.executable, "-m", "scrapy", "runspider", str(spider)]
    command += ["-a", "urls=" + ",".join(urls)]
    for name, value in _settings(ledger, TELEMETRY_ENABLED=False).items():
        command += ["-s", f"{name}={value}"]
    return subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=240,
        cwd=tmp_path,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
        preexec_fn=preexec_fn,
    )


def test_scrapy_runspider_exits_non_zero_when_the_ledger_fills(server, tmp_path):
    """The exit status a shell script or scheduler sees from Scrapy's own command."""
    ledger = tmp_path / "ledger.jsonl"
    urls = _urls(server, 80, 6000)
    proc = _runspider(tmp_path, urls, ledger, _file_size_limit(6 * 1024))
    assert proc.returncode == 1, proc.stderr[-4000:]
    assert "Spider closed (optout_ledger_failed)" in proc.stderr
    records, _tail = _complete_records(ledger)
    assert records and len(records) < len(_reserved_urls(server, 80, 6000))
    # The same command, with room for the ledger, exits 0.
    ledger.unlink()
    proc = _runspider(tmp_path, urls, ledger)
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert {r["url"] for r in read_ledger(ledger)} == _reserved_urls(server, 80, 6000)


def test_scrapy_runspider_exits_non_zero_when_the_ledger_cannot_be_written(server, tmp_path):
    ledger = tmp_path / "ledger.jsonl"
    ledger.mkdir()
    urls = _urls(server, 8, 6500)
    before = _hits(server, urls)
    proc = _runspider(tmp_path, urls, ledger)
    assert proc.returncode == 1, proc.stderr[-4000:]
    assert f"OPTOUT_LEDGER: the ledger {ledger} is a directory" in proc.stderr
    assert _hits(server, urls) == before


# -- torn tails ------------------------------------------------------------------------------------

RECORD = {"v": 1, "url": "https://a.example/", "verdict": "reserved", "stage": "origin"}


def _line(**fields: Any) -> bytes:
    return json.dumps({**RECORD, **fields}).encode() + b"\n"


@pytest.mark.parametrize(
    "fragment",
    [
        b'{"v":1,"url":"https://a.example/x","verd',
        b"\x00\xff\xfe binary \x80",
        b"{",
        b"[1, 2",
        "\u00e9\u00e8 half a UTF-8 character: \u20ac".encode()[:-1],
    ],
    ids=["json", "binary", "brace", "array", "utf8"],
)
def test_a_torn_last_line_is_moved_aside_before_the_next_append(tmp_path, fragment):
    path = tmp_path / "ledger.jsonl"
    whole = _line(url="https://a.example/1") + _line(url="https://a.example/2")
    path.write_bytes(whole + fragment)
    ledger = Ledger(path)
    ledger.open()
    ledger.write({**RECORD, "url": "https://a.example/3"})
    ledger.close()
    assert path.read_bytes() == whole + _line_compact(url="https://a.example/3")
    assert torn_path_for(path).read_bytes() == fragment + b"\n"
    malformed: list[int] = []
    assert [r["url"] for r in read_ledger(path, malformed=malformed)] == [
        "https://a.example/1",
        "https://a.example/2",
        "https://a.example/3",
    ]
    assert malformed == []


def _line_compact(**fields: Any) -> bytes:
    return json.dumps({**RECORD, **fields}, separators=(",", ":")).encode() + b"\n"


def test_torn_lines_of_several_crashes_accumulate_and_a_whole_file_can_be_torn(tmp_path):
    path = tmp_path / "ledger.jsonl"
    path.write_bytes(b'{"torn one')  # no newline at all: the whole file is one torn line
    Ledger(path).open()
    assert path.read_bytes() == b""
    path.write_bytes(_line() + b'{"torn two')
    Ledger(path).open()
    assert path.read_bytes() == _line()
    assert torn_path_for(path).read_bytes() == b'{"torn one\n{"torn two\n'


def test_a_complete_record_without_its_newline_is_kept_and_ended(tmp_path):
    path = tmp_path / "ledger.jsonl"
    path.write_bytes(_line() + _line(url="https://a.example/last")[:-1])
    ledger = Ledger(path)
    ledger.open()
    ledger.write({**RECORD, "url": "https://a.example/next"})
    ledger.close()
    urls = [r["url"] for r in read_ledger(path)]
    assert urls == ["https://a.example/", "https://a.example/last", "https://a.example/next"]
    assert not torn_path_for(path).exists()


def test_a_long_torn_line_is_found_across_read_chunks(tmp_path):
    path = tmp_path / "ledger.jsonl"
    fragment = b'{"rule":"' + b"x" * 200_000
    path.write_bytes(_line() + fragment)
    Ledger(path).open()
    assert path.read_bytes() == _line()
    assert torn_path_for(path).read_bytes() == fragment + b"\n"


# -- failed writes, in process ---------------------------------------------------------------------


def _swap_fd(ledger: Ledger, device: str) -> None:
    """Point the open ledger at *device* (``/dev/full`` answers every write with ENOSPC)."""
    assert ledger._fd is not None
    replacement = os.open(device, os.O_WRONLY)
    os.dup2(replacement, ledger._fd)
    os.close(replacement)


def test_a_full_disk_fails_the_write_and_every_later_one(tmp_path):
    path = tmp_path / "ledger.jsonl"
    ledger = Ledger(path)
    ledger.open()
    ledger.write(RECORD)
    _swap_fd(ledger, "/dev/full")
    with pytest.raises(LedgerError, match=r"writing to the ledger .* failed: No space left"):
        ledger.write(RECORD)
    with pytest.raises(LedgerError):
        ledger.write(RECORD)
    with pytest.raises(LedgerError):
        ledger.store_evidence([PolicyFile("robots.txt", "https://a.example/robots.txt", 200)])
    assert ledger.records_written == 1
    ledger.close()
    assert path.read_bytes() == _line_compact()


def test_a_closed_descriptor_fails_the_write(tmp_path):
    ledger = Ledger(tmp_path / "ledger.jsonl")
    ledger.open()
    assert ledger._fd is not None
    os.close(ledger._fd)
    with pytest.raises(LedgerError, match="Bad file descriptor"):
        ledger.write(RECORD)
    ledger._fd = None  # already closed above
    ledger.close()


def test_a_write_probe_leaves_no_file_behind(tmp_path):
    ledger = Ledger(tmp_path / "run" / "ledger.jsonl", tmp_path / "evidence")
    ledger.open()
    ledger.close()
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["evidence", "ledger.jsonl", "run"]


# -- evidence files --------------------------------------------------------------------------------


def _policy(body: bytes) -> PolicyFile:
    return PolicyFile("robots.txt", "https://a.example/robots.txt", 200, body)


def test_a_planted_symlink_at_an_evidence_path_is_replaced_not_followed(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    victim = outside / "victim"
    victim.write_bytes(b"precious")
    evidence = tmp_path / "ledger.evidence"
    evidence.mkdir()
    body = b"User-agent: *\nDisallow: /\n"
    policy = _policy(body)
    (evidence / policy.sha256).symlink_to(victim)
    (evidence / _policy(b"other").sha256).symlink_to(outside / "new-file")
    ledger = Ledger(tmp_path / "ledger.jsonl")
    ledger.store_evidence([policy, _policy(b"other")])
    assert victim.read_bytes() == b"precious"
    assert sorted(p.name for p in outside.iterdir()) == ["victim"]
    for name, content in ((policy.sha256, body), (_policy(b"other").sha256, b"other")):
        stored = evidence / name
        assert not stored.is_symlink() and stored.read_bytes() == content


def test_an_evidence_file_already_there_is_kept_when_it_matches_and_replaced_when_not(tmp_path):
    evidence = tmp_path / "ledger.evidence"
    evidence.mkdir()
    good, torn = _policy(b"good body"), _policy(b"a body cut short by a crash")
    (evidence / good.sha256).write_bytes(b"good body")
    inode = (evidence / good.sha256).stat().st_ino
    (evidence / torn.sha256).write_bytes(b"a body cut")
    os.mkfifo(evidence / _policy(b"fifo").sha256)  # opening it must not block
    Ledger(tmp_path / "ledger.jsonl").store_evidence([good, torn, _policy(b"fifo")])
    assert (evidence / good.sha256).stat().st_ino == inode
    assert (evidence / torn.sha256).read_bytes() == b"a body cut short by a crash"
    assert (evidence / _policy(b"fifo").sha256).read_bytes() == b"fifo"
    assert not list(evidence.glob(".*"))


def test_an_evidence_folder_swapped_for_a_symlink_mid_crawl_is_not_followed(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    ledger = Ledger(tmp_path / "ledger.jsonl")
    ledger.open()
    evidence = tmp_path / "ledger.evidence"
    evidence.rename(tmp_path / "moved")
    evidence.symlink_to(outside, target_is_directory=True)
    ledger.store_evidence([_policy(b"body")])
    ledger.close()
    assert list(outside.iterdir()) == []
    assert (tmp_path / "moved" / _policy(b"body").sha256).read_bytes() == b"body"


def test_a_crawl_with_planted_evidence_symlinks_writes_nothing_outside(server, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    victim = outside / "victim"
    victim.write_bytes(b"precious")
    run = tmp_path / "run"
    evidence = run / "ledger.evidence"
    evidence.mkdir(parents=True)
    # The site's robots.txt body is known in advance, and so is its file name.
    digest = hashlib.sha256(ROBOTS).hexdigest()
    (evidence / digest).symlink_to(victim)
    empty = hashlib.sha256(b"").hexdigest()  # the 404s of ai.txt and tdmrep.json
    (evidence / empty).symlink_to(outside / "planted")
    result = run_crawl(tmp_path / "out", _urls(server, 8, 4000), _settings(run / "ledger.jsonl"))
    assert result.reserved()
    assert victim.read_bytes() == b"precious"
    assert sorted(p.name for p in outside.iterdir()) == ["victim"]
    assert (evidence / digest).read_bytes() == ROBOTS and not (evidence / digest).is_symlink()
    cited = {e["sha256"] for r in result.ledger for e in r["evidence"]}
    for name in cited:
        stored = evidence / name
        assert not stored.is_symlink()
        assert hashlib.sha256(stored.read_bytes()).hexdigest() == name


# -- measure mode: one record per URL and stage ----------------------------------------------------


def _showing_logo(title: str, head: str) -> Respond:
    page = (
        f"<html><head><title>{title}</title>{head}</head><body>"
        '<img src="/img/logo.png"><a href="/a.html">a</a> <a href="/b.html">b</a>'
        ' <a href="/c.html">c</a></body></html>'
    )
    return Respond(200, page.encode(), (("Content-Type", "text/html"),))


def test_measure_mode_records_each_url_once_per_stage(tmp_path):
    """Three pages show one image, two under noimageai: one item-stage record per verdict."""
    routes = {
        "/robots.txt": text("User-agent: *\nAllow: /\n"),
        "/a.html": _showing_logo("a", NOIMAGEAI_META),
        "/b.html": _showing_logo("b", NOIMAGEAI_META),
        "/c.html": _showing_logo("c", ""),
        "/img/logo.png": Respond(
            200, b"\x89PNG\r\n\x1a\n" + bytes(32), (("Content-Type", "image/png"),)
        ),
    }
    with FaultServer(routes) as site:
        urls = [site.url("/a.html"), site.url("/b.html"), site.url("/c.html"), site.url("/a.html")]
        result = run_crawl(
            tmp_path,
            urls,
            _settings(tmp_path / "ledger.jsonl", OPTOUT_MODE="measure"),
        )
    keys = Counter((r["url"], r["stage"], r["purpose"], r["verdict"]) for r in result.ledger)
    assert keys and max(keys.values()) == 1, keys
    logo = site.url("/img/logo.png")
    verdicts = sorted(
        r["verdict"] for r in result.ledger if r["stage"] == "item" and r["url"] == logo
    )
    assert verdicts == ["allowed", "reserved"]
    assert len(result.items) == 3  # measure mode keeps every page
    assert all(r["mode"] == "measure" for r in result.ledger)
    report = ledger_report([tmp_path / "ledger.jsonl"])
    assert report["exclusions"] == 0
    assert report["would_exclude"] == 1  # the image, counted once
    assert report["would_exclude_by_signal"]["noai"] == 1
    assert report["allowed"] == len({r["url"] for r in result.ledger}) - 1


# -- optout report -------------------------------------------------------------------------------

MALFORMED = [
    b"garbage that is not JSON",
    b"\x00\x01\x02\xff\xfe binary",
    b'{"v":1,"url":"https://a.example/t","verdict":"reserv',
    b"[1, 2, 3]",
    b'"a string"',
    b"42",
    b"null",
    b"true",
    b'{"v":1,"verdict":"reserved","stage":"origin"}',
    b'{"url":"https://a.example/","verdict":5,"stage":"origin"}',
    b'{"url":"https://a.example/","verdict":"maybe","stage":"origin"}',
    b'{"url":["x"],"verdict":"reserved","stage":"origin"}',
    b'{"url":"https://a.example/","verdict":"reserved","stage":"origin","reasons":5}',
    b'{"url":"https://a.example/","verdict":"reserved","stage":"origin","reasons":"abc"}',
    b'{"url":"https://a.example/","verdict":"reserved","stage":"origin","time":3}',
    b'{"url":"https://a.example/","verdict":"reserved","stage":"origin","mode":true}',
    b'{"url":"https://a.example/","verdict":"reserved","stage":null}',
    b"[" * 100_000,
    b'{"url":"\xff\xfe","verdict":"reserved","stage":"origin"}',
]


def _record(**fields: Any) -> dict[str, Any]:
    return {
        "v": 1,
        "time": "2026-01-01T00:00:00.000Z",
        "url": "https://a.example/",
        "domain": "a.example",
        "stage": "origin",
        "purpose": "train",
        "verdict": "reserved",
        "mode": "enforce",
        "reasons": [{"signal": "robots.txt", "where": "file", "rule": "Disallow: /"}],
        "evidence": [],
        "spider": "s",
        **fields,
    }


def test_report_skips_and_counts_every_kind_of_malformed_line(tmp_path, capsys):
    path = tmp_path / "ledger.jsonl"
    good = [_record(), _record(url="https://a.example/2", reasons=[1, "x", None])]
    lines = [json.dumps(good[0]).encode(), *MALFORMED, b"", b"   ", json.dumps(good[1]).encode()]
    path.write_bytes(b"\n".join(lines) + b"\n" + b'{"torn')
    report = ledger_report([path])
    assert report["records"] == 2
    assert report["exclusions"] == 2
    assert report["malformed_lines"] == len(MALFORMED) + 1
    assert report["by_signal"]["robots.txt"] == 1
    assert main(["report", str(path)]) == 0
    out = capsys.readouterr().out
    assert f"{len(MALFORMED) + 1} malformed lines skipped" in out
    assert main(["report", str(path), "--json", "--html", str(tmp_path / "r.html")]) == 0
    assert json.loads(capsys.readouterr().out)["malformed_lines"] == len(MALFORMED) + 1
    assert "malformed lines skipped" in (tmp_path / "r.html").read_text()


def test_read_ledger_names_the_malformed_lines(tmp_path):
    path = tmp_path / "ledger.jsonl"
    path.write_bytes(
        json.dumps(_record()).encode() + b"\nnot json\n\n" + json.dumps([1]).encode() + b"\n"
    )
    malformed: list[int] = []
    assert len(list(read_ledger(path, malformed=malformed))) == 1
    assert malformed == [2, 4]


def test_report_of_a_ledger_of_nothing_but_garbage(tmp_path, capsys):
    path = tmp_path / "ledger.jsonl"
    path.write_bytes(os.urandom(4096).replace(b"\n", b"") + b"\n" + b"\xff" * 100)
    report = ledger_report([path])
    assert (report["records"], report["exclusions"], report["malformed_lines"]) == (0, 0, 2)
    assert render_html(report)
    assert main(["report", str(path)]) == 0
    assert "2 malformed lines skipped" in capsys.readouterr().out


def test_report_refuses_an_unreadable_ledger(tmp_path, capsys):
    assert main(["report", str(tmp_path)]) == 2
    assert "no such ledger" in capsys.readouterr().err


def test_measure_records_are_would_exclude_once_per_url_never_exclusions(tmp_path, capsys):
    measure = {"mode": "measure"}
    noai = [{"signal": "noai", "where": "meta", "rule": "noai"}]
    path = tmp_path / "ledger.jsonl"
    records = [
        _record(),  # an exclusion
        _record(url="https://a.example/enf", stage="body"),  # another
        _record(url="https://m.example/1", **measure),
        _record(url="https://m.example/1", stage="item", reasons=noai, **measure),
        _record(url="https://m.example/1", **measure),  # a second run over the same site
        _record(url="https://m.example/2", stage="headers", reasons=noai, **measure),
        _record(url="https://m.example/2", purpose="search", verdict="allowed", **measure),
        _record(url="https://m.example/3", verdict="allowed", reasons=[], **measure),
        _record(url="https://m.example/3", verdict="allowed", reasons=[], **measure),
        _record(url="https://m.example/4", verdict="allowed", reasons=[], **measure),
        _record(url="https://m.example/4", stage="item", reasons=noai, **measure),
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    report = ledger_report([path])
    assert report["exclusions"] == 2
    assert report["by_stage"] == {"origin": 1, "headers": 0, "body": 1, "item": 0}
    assert report["by_domain"] == {"a.example": 2}
    assert report["would_exclude"] == 3  # m/1, m/2 and m/4 for train
    assert report["allowed"] == 2  # m/2 for search, m/3 for train
    assert report["would_exclude_by_signal"]["robots.txt"] == 1
    assert report["would_exclude_by_signal"]["noai"] == 3
    assert main(["report", str(path)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("2 exclusions in 11 ledger records")
    assert "measure mode: 3 URLs would be excluded, 2 allowed" in out
    assert "Would exclude (measure mode, URLs) by signal:" in out


def test_report_of_a_real_measuring_crawl(server, tmp_path):
    ledger = tmp_path / "ledger.jsonl"
    urls = _urls(server, 24, 5000)
    result = run_crawl(tmp_path / "out", urls, _settings(ledger, OPTOUT_MODE="measure"))
    assert len(result.items) == 24  # measure mode drops nothing
    report = ledger_report([ledger])
    assert report["exclusions"] == 0
    assert report["would_exclude"] == len(_reserved_urls(server, 24, 5000))
    assert report["allowed"] == 24 - report["would_exclude"]
