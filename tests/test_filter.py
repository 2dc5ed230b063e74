"""``optout filter`` and ``optout manifest`` on real files against loopback sites."""

from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from warcio.archiveiterator import ArchiveIterator

from faultserver import Silence, text
from filterdata import (
    OPEN_ROBOTS,
    Sites,
    reserve_change_site,
    running_sites,
    scan_for_markers,
    write_jsonl,
    write_parquet,
    write_warc,
)
from helpers import ROOT, TEST_UA
from scrapy_optout.cli import main
from scrapy_optout.frontends.filter import filter_dataset
from scrapy_optout.frontends.filter.formats import WARC_PROVENANCE_HEADER
from scrapy_optout.stores.folder import SnapshotFolder
from scrapy_optout.stores.ledger import read_ledger


@pytest.fixture
def sites() -> Iterator[Sites]:
    with running_sites() as running:
        yield running


def kept_jsonl(path: Path) -> list[dict[str, Any]]:
    data = path.read_bytes()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    return [json.loads(line) for line in data.splitlines() if line.strip()]


def kept_warc(path: Path) -> list[tuple[str, str, dict[str, Any] | None]]:
    """(type, WARC-Record-ID, provenance) of every record of a WARC."""
    out = []
    with path.open("rb") as handle:
        for record in ArchiveIterator(handle):
            value = record.rec_headers.get_header(WARC_PROVENANCE_HEADER)
            out.append(
                (
                    record.rec_type,
                    record.rec_headers.get_header("WARC-Record-ID"),
                    json.loads(value) if value else None,
                )
            )
    return out


def warc_ident(n: int) -> str:
    return f"<urn:uuid:{n:08d}-0000-0000-0000-000000000000>"


def check_output(
    out: Path,
    sites: Sites,
    kept: dict[str, dict[str, Any]],
    removed: dict[str, str],
    *,
    ids: dict[str, str] | None = None,
) -> None:
    """Kept and removed sets, ledger signals, provenance evidence, no reserved byte."""
    ids = ids or {sites.ident(p): sites.ident(p) for p in sites.pages}
    expected_removed = {ids[k]: v for k, v in removed.items()}
    assert set(kept) == {ids[k] for k in sites.idents()} - set(expected_removed)
    ledger = list(read_ledger(out / "ledger.jsonl"))
    assert {line["record_id"]: line["reasons"][0]["signal"] for line in ledger} == (
        expected_removed
    )
    assert all(line["stage"] == "dataset" and line["verdict"] == "reserved" for line in ledger)
    evidence = out / "ledger.evidence"
    for line in ledger:
        for entry in line["evidence"]:
            assert (evidence / entry["sha256"]).is_file()
    for entry in kept.values():
        assert entry["verdict"] == "allowed" and entry["purpose"] == "train"
        assert {e["source"].rsplit("/", 1)[1] for e in entry["evidence"]} == {
            "robots.txt",
            "ai.txt",
            "tdmrep.json",
        }
        for item in entry["evidence"]:
            assert (evidence / item["sha256"]).is_file()
            assert set(item) >= {"source", "status", "sha256", "fetched_at"}
    markers = {p.marker for p in sites.pages}
    assert scan_for_markers(out, markers) == []


@pytest.mark.parametrize("name", ["shard.jsonl", "shard.jsonl.gz"])
def test_jsonl_url_only_records(tmp_path: Path, sites: Sites, name: str) -> None:
    shard = write_jsonl(sites, tmp_path / name)
    out = tmp_path / "out"
    summary = filter_dataset([shard], out, user_agent=TEST_UA)
    kept = {r["id"]: r["optout"] for r in kept_jsonl(out / "kept" / name)}
    check_output(out, sites, kept, sites.expected_removed(full=False))
    removed = sites.expected_removed(full=False)
    assert summary["records_read"] == len(sites.pages)
    assert summary["removed"] == len(removed)
    assert summary["kept"] == len(sites.pages) - len(removed)
    assert summary["origin_only"] == len(sites.pages)
    assert summary["by_signal"] == dict(Counter(removed.values()))
    assert all(entry.get("origin_only") for entry in kept.values())
    # Kept lines are the input's lines with one key more, nothing else changed.
    source = {json.loads(line)["id"]: line for line in kept_jsonl_lines(shard)}
    for line in kept_jsonl_lines(out / "kept" / name):
        record = json.loads(line)
        del record["optout"]
        assert record == json.loads(source[record["id"]])


def kept_jsonl_lines(path: Path) -> list[str]:
    data = path.read_bytes()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    return [line for line in data.decode().splitlines() if line.strip()]


def test_jsonl_records_with_headers_and_html_are_decided_on_the_page(
    tmp_path: Path, sites: Sites
) -> None:
    shard = write_jsonl(sites, tmp_path / "pages.jsonl", full=True)
    out = tmp_path / "out"
    summary = filter_dataset([shard], out, user_agent=TEST_UA)
    kept = {r["id"]: r["optout"] for r in kept_jsonl(out / "kept" / "pages.jsonl")}
    check_output(out, sites, kept, sites.expected_removed(full=True))
    assert summary["origin_only"] == 0


def test_parquet_with_a_nested_url(tmp_path: Path, sites: Sites) -> None:
    shard = write_parquet(sites, tmp_path / "shard.parquet")
    out = tmp_path / "out"
    summary = filter_dataset([shard], out, user_agent=TEST_UA, url_field="metadata.url")
    table = pq.read_table(out / "kept" / "shard.parquet")
    assert table.schema.names == ["id", "text", "metadata", "optout"]
    kept = {row["id"]: json.loads(row["optout"]) for row in table.to_pylist()}
    check_output(out, sites, kept, sites.expected_removed(full=False))
    assert summary["kept"] == table.num_rows


@pytest.mark.parametrize("name", ["crawl.warc", "crawl.warc.gz"])
def test_warc_records_are_decided_on_their_headers_and_bodies(
    tmp_path: Path, sites: Sites, name: str
) -> None:
    warc = write_warc(sites, tmp_path / name)
    out = tmp_path / "out"
    summary = filter_dataset([warc], out, user_agent=TEST_UA, batch_size=5)
    records = kept_warc(out / "kept" / name)
    kept = {ident: entry for kind, ident, entry in records if kind == "response" and entry}
    ids = {sites.ident(p): warc_ident(p.n) for p in sites.pages}
    check_output(out, sites, kept, sites.expected_removed(full=True), ids=ids)
    assert summary["origin_only"] == 0
    assert records[0][0] == "warcinfo"
    # A conversion (the page's text) goes where its response went.
    kinds = Counter(kind for kind, _, _ in records)
    assert kinds["conversion"] == kinds["response"] == len(kept)
    # The kept responses are the input's records, byte for byte, with one header more.
    with warc.open("rb") as handle:
        source = {
            r.rec_headers.get_header("WARC-Record-ID"): r.content_stream().read()
            for r in ArchiveIterator(handle)
            if r.rec_type == "response"
        }
    with (out / "kept" / name).open("rb") as handle:
        for record in ArchiveIterator(handle):
            if record.rec_type == "response":
                ident = record.rec_headers.get_header("WARC-Record-ID")
                assert record.content_stream().read() == source[ident]


def test_policies_are_fetched_once_and_a_snapshot_folder_is_reused(
    tmp_path: Path, sites: Sites
) -> None:
    first = write_jsonl(sites, tmp_path / "first.jsonl")
    second = write_warc(sites, tmp_path / "second.warc.gz")
    out = tmp_path / "out"
    filter_dataset([first, second], out, user_agent=TEST_UA, workers=4)
    assert all(server.hits("/robots.txt") == 1 for server in sites.servers.values())
    assert set(SnapshotFolder(out / "policies").origins()) == {
        s.origin + (":80" if s.origin.count(":") == 1 else "") for s in sites.servers.values()
    }
    again = tmp_path / "again"
    summary = filter_dataset([second], again, user_agent=TEST_UA, policies=str(out / "policies"))
    assert all(server.hits("/robots.txt") == 1 for server in sites.servers.values())
    assert summary["policies"]["fetched"] == 0
    assert summary["removed"] == len(sites.expected_removed(full=True))


def test_recheck_names_exactly_the_records_reserved_since(tmp_path: Path, sites: Sites) -> None:
    shard = write_jsonl(sites, tmp_path / "shard.jsonl")
    month = tmp_path / "month"
    filter_dataset([shard], month, user_agent=TEST_UA)
    reserve_change_site(sites)
    later = tmp_path / "later"
    summary = filter_dataset([month / "kept" / "shard.jsonl"], later, user_agent=TEST_UA)
    newly = {sites.ident(p) for p in sites.pages if p.site == "change"}
    assert summary["removed"] == summary["changed"]["newly_reserved"] == len(newly)
    assert {r["id"] for r in summary["changed"]["records"]} == newly
    assert summary["changed"]["by_signal"] == {"robots.txt": len(newly)}
    ledger = list(read_ledger(later / "ledger.jsonl"))
    assert {line["record_id"] for line in ledger} == newly
    assert all(line["recheck"]["previous_verdict"] == "allowed" for line in ledger)
    kept = kept_jsonl(later / "kept" / "shard.jsonl")
    assert {r["id"] for r in kept} == sites.idents() - set(sites.expected_removed(full=False))
    # The provenance was renewed, not stacked.
    assert all(set(r["optout"]) >= {"time", "evidence"} for r in kept)


def test_an_interrupted_run_resumes_without_duplicates(tmp_path: Path, sites: Sites) -> None:
    shard = write_jsonl(sites, tmp_path / "shard.jsonl")
    # The change site's robots.txt hangs, so the run stops in the middle of the file.
    sites.servers["change"].route("/robots.txt", Silence())
    out = tmp_path / "out"
    argv = [sys.executable, "-m", "scrapy_optout.cli", "filter", str(shard), "-o", str(out)]
    argv += ["--user-agent", TEST_UA, "--batch-size", "3", "--quiet"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}
    process = subprocess.Popen(argv, env=env, start_new_session=True)
    checkpoint = out / "checkpoints" / "shard.jsonl.jsonl"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if checkpoint.exists() and checkpoint.read_text().count('"batch"') >= 4:
                break
            time.sleep(0.05)
        else:
            pytest.fail("the filter made no progress")
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    assert not (out / "kept" / "shard.jsonl").exists()
    # As if killed between the ledger lines and the checkpoint of the last batch.
    lines = checkpoint.read_text().splitlines()
    checkpoint.write_text("\n".join(lines[:-1]) + "\n" + lines[-1][:10])
    sites.servers["change"].route("/robots.txt", text(OPEN_ROBOTS))
    summary = filter_dataset([shard], out, user_agent=TEST_UA, batch_size=3)
    ledger = list(read_ledger(out / "ledger.jsonl"))
    assert len(ledger) == len({line["index"] for line in ledger})
    kept = kept_jsonl(out / "kept" / "shard.jsonl")
    assert sorted(r["id"] for r in kept) == sorted(
        sites.idents() - set(sites.expected_removed(full=False))
    )
    assert summary["records_read"] == len(sites.pages)
    assert {line["record_id"] for line in ledger} == set(sites.expected_removed(full=False))
    # A run over a finished output changes nothing.
    assert filter_dataset([shard], out, user_agent=TEST_UA, batch_size=3)["kept"] == len(kept)
    assert len(list(read_ledger(out / "ledger.jsonl"))) == len(ledger)


def test_hostile_inputs_are_counted_never_fatal(tmp_path: Path, sites: Sites) -> None:
    good = write_jsonl(sites, tmp_path / "good.jsonl")
    lines = good.read_text().splitlines()
    broken = tmp_path / "broken.jsonl"
    broken.write_bytes(
        "\n".join([lines[0], "{not json", "[1, 2]", '"a string"', lines[2]]).encode()
        + b"\n\xff\xfe\x00garbage\n"
        + b'{"url": 7, "text": "no url SECRET-999"}\n'
    )
    gz = write_jsonl(sites, tmp_path / "cut.jsonl.gz")
    gz.write_bytes(gz.read_bytes()[: len(gz.read_bytes()) // 2])
    warc = write_warc(sites, tmp_path / "cut.warc.gz")
    warc.write_bytes(warc.read_bytes()[: len(warc.read_bytes()) * 2 // 3])
    garbage = tmp_path / "garbage.warc"
    garbage.write_bytes(b"WARC/1.0\r\nnonsense\r\n\r\n" + os.urandom(2000))
    fake = tmp_path / "fake.parquet"
    fake.write_bytes(b"PAR1" + os.urandom(100))
    out = tmp_path / "out"
    files = [str(f) for f in (broken, gz, warc, garbage, fake)]
    code = main(
        [
            "filter",
            *files,
            "-o",
            str(out),
            "--user-agent",
            TEST_UA,
            "--quiet",
            "--unknown",
            "reserve",
        ]
    )
    assert code == 0
    summary = json.loads((out / "summary.json").read_text())
    by_input = {Path(i["input"]).name: i for i in summary["inputs"]}
    assert by_input["broken.jsonl"]["malformed"] == 4
    assert by_input["broken.jsonl"]["read"] == 3
    assert by_input["broken.jsonl"]["unknown"] == 1
    broken_inputs = {Path(p).name for p in summary["broken_inputs"]}
    assert broken_inputs - {"garbage.warc"} == {"cut.jsonl.gz", "cut.warc.gz", "fake.parquet"}
    garbage_info = by_input["garbage.warc"]
    assert garbage_info["read"] == 0
    assert garbage_info["malformed"] or "garbage.warc" in broken_inputs
    assert 0 < by_input["cut.warc.gz"]["read"] < len(sites.pages)
    markers = {p.marker for p in sites.pages} | {"SECRET-999"}
    assert scan_for_markers(out, markers) == []


def test_captures_decide_as_of_the_stored_files(tmp_path: Path, sites: Sites) -> None:
    shard = write_jsonl(sites, tmp_path / "shard.jsonl")
    captured = [
        {"url": sites.servers[name].url("/robots.txt"), "body": body, "date": "2026-01-15"}
        for name, body in (
            ("open", OPEN_ROBOTS),
            ("robots", OPEN_ROBOTS),
            ("change", "User-agent: CCBot\nDisallow: /\n"),
        )
    ]
    captures = tmp_path / "captures.jsonl"
    captures.write_text("\n".join(json.dumps(c) for c in captured) + "\n")
    out = tmp_path / "out"
    summary = filter_dataset([shard], out, user_agent=TEST_UA, captures=[captures])
    assert all(server.hits("/robots.txt") == 0 for server in sites.servers.values())
    kept = {r["id"]: r["optout"] for r in kept_jsonl(out / "kept" / "shard.jsonl")}
    by_site = {sites.ident(p): p.site for p in sites.pages}
    assert {i for i in kept if kept[i]["verdict"] == "allowed"} == {
        i for i, s in by_site.items() if s in ("open", "robots")
    }
    assert {i for i in kept if kept[i]["verdict"] == "unknown"} == {
        i for i, s in by_site.items() if s not in ("open", "robots", "change")
    }
    assert summary["removed"] == 2 and summary["by_signal"] == {"robots.txt": 2}
    assert kept[sites.ident(sites.pages[0])]["evidence"][0]["fetched_at"].startswith("2026-01-15")
    strict = filter_dataset(
        [shard], tmp_path / "strict", user_agent=TEST_UA, captures=[captures], unknown="reserve"
    )
    assert strict["kept"] == 4 and strict["unknown"] == len(sites.pages) - 6


def test_manifest_of_a_filtered_dataset(
    tmp_path: Path, sites: Sites, capsys: pytest.CaptureFixture[str]
) -> None:
    shard = write_jsonl(sites, tmp_path / "shard.jsonl")
    out = tmp_path / "out"
    argv = ["filter", str(shard), "-o", str(out), "--user-agent", TEST_UA, "--quiet"]
    assert main(argv) == 0
    assert "removed" in capsys.readouterr().out
    manifest_path, page = tmp_path / "manifest.json", tmp_path / "manifest.html"
    argv = ["manifest", str(out / "ledger.jsonl"), "--kept", str(out / "kept")]
    assert main([*argv, "-o", str(manifest_path), "--html", str(page)]) == 0
    manifest = json.loads(manifest_path.read_text())
    removed = sites.expected_removed(full=False)
    assert manifest["removed"]["total"] == len(removed)
    assert manifest["removed"]["by_signal"] == dict(Counter(removed.values()))
    assert manifest["kept"]["total"] == len(sites.pages) - len(removed)
    assert manifest["purposes"] == ["train"]
    assert manifest["crawler"]["tokens"] == ["optout-test"]
    assert {p["signal"] for p in manifest["protocols"]} >= {"robots.txt", "tdmrep", "ai.txt"}
    assert manifest["period"]["from"] <= manifest["period"]["to"]
    for entry in manifest["evidence"]:
        assert (out / "ledger.evidence" / entry["sha256"]).is_file()
    assert sum(t["records"] for t in manifest["top_domains"]) == len(sites.pages)
    assert "Compliance manifest" in page.read_text()


def test_bad_usage_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["filter", str(tmp_path / "missing.jsonl"), "-o", str(tmp_path / "o")]) == 2
    assert "no such file" in capsys.readouterr().err
    shard = tmp_path / "s.jsonl"
    shard.write_text("{}\n")
    assert main(["filter", str(shard), "-o", str(tmp_path), "--policies", str(tmp_path / "x")]) == 2
    assert main(["filter", str(shard), "-o", str(tmp_path / "o"), "--workers", "0"]) == 2


def test_a_registry_declaration_removes_the_records_it_covers(tmp_path: Path, sites: Sites) -> None:
    shard = write_jsonl(sites, tmp_path / "shard.jsonl")
    (declared,) = [p for p in sites.pages if p.site == "open" and p.path == "/a.html"]
    registry = tmp_path / "registry.jsonl"
    declaration = {
        "url": sites.url(declared),
        "purposes": ["train"],
        "declared_by": "Alice Example",
        "declared_at": "2026-11-30",
    }
    registry.write_text(json.dumps(declaration) + "\n")
    out = tmp_path / "out"
    args = [str(shard), "-o", str(out), "--user-agent", TEST_UA, "--quiet"]
    assert main(["filter", *args, "--registry", str(registry)]) == 0
    expected = set(sites.expected_removed(full=False)) | {sites.ident(declared)}
    ledger = {r["record_id"]: r for r in read_ledger(out / "ledger.jsonl")}
    assert set(ledger) == expected
    (reason,) = ledger[sites.ident(declared)]["reasons"]
    assert reason["signal"] == "registry"
    kept = {r["id"] for r in kept_jsonl(out / "kept" / "shard.jsonl")}
    assert kept == sites.idents() - expected
    # A registry path that names no file is an error, not an empty registry.
    missing = tmp_path / "none.jsonl"
    assert main(["filter", *args, "-o", str(tmp_path / "out2"), "--registry", str(missing)]) == 2
