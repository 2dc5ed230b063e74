"""The datatrove block on real files, against loopback sites, under the Local and Ray executors.

One module-scoped Ray cluster (``ray.init(num_cpus=2)``) runs the same
pipeline as two local tasks: JSON Lines reader -> :class:`OptOutFilter` ->
JSON Lines writer, over two shards whose origins' policy files were
prefetched into a snapshot folder. Ray is kept offline: no usage report, no
dashboard, no ``uv run`` environment.

datatrove 0.10.1 places each Ray task with ``.options(placement_group=...,
placement_group_bundle_index=...)``, which Ray 2.60 answers with a
``DeprecationWarning``. With warnings as errors (this suite's setting) that
warning is raised in the executor's submitting thread, whose failure datatrove
never reports: ``RayPipelineExecutor.run`` then waits forever. The two warnings
are ignored here, by their message; with Python's default filters they are not
shown at all and nothing hangs.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from datatrove.data import Document
from datatrove.executor.local import LocalPipelineExecutor
from datatrove.executor.ray import RayPipelineExecutor
from datatrove.pipeline.readers.jsonl import JsonlReader
from datatrove.pipeline.writers.jsonl import JsonlWriter

import scrapy_optout
from filterdata import Sites, reserve_change_site, running_sites, scan_for_markers, write_jsonl
from helpers import TEST_UA
from scrapy_optout.datatrove import OptOutFilter, ledger_path, prefetch_policies
from scrapy_optout.exceptions import ConfigurationError
from scrapy_optout.stores.folder import SnapshotFolder
from scrapy_optout.stores.ledger import read_ledger

pytestmark = pytest.mark.filterwarnings(
    "ignore:placement_group(_bundle_index)? parameter is deprecated:DeprecationWarning"
)

RAY_ENV = {
    "RAY_ENABLE_UV_RUN_RUNTIME_ENV": "0",
    "RAY_USAGE_STATS_ENABLED": "0",
    "RAY_DISABLE_DOCKER_CPU_WARNING": "1",
}


@pytest.fixture(scope="module")
def sites() -> Iterator[Sites]:
    with running_sites() as running:
        yield running


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[None]:
    import ray

    with pytest.MonkeyPatch.context() as patch:
        for name, value in RAY_ENV.items():
            patch.setenv(name, value)
        # The workers import this very package, whichever copy the tests run.
        here = str(Path(scrapy_optout.__file__).parent.parent)
        patch.setenv(
            "PYTHONPATH", os.pathsep.join(filter(None, [here, os.environ.get("PYTHONPATH")]))
        )
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
        try:
            yield
        finally:
            ray.shutdown()


@pytest.fixture(scope="module")
def dataset(sites: Sites, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two shards: bare URLs (``doc-``), and records with headers and HTML (``full-``)."""
    folder = tmp_path_factory.mktemp("dataset")
    inputs = folder / "in"
    inputs.mkdir()
    write_jsonl(sites, inputs / "a.jsonl")
    full = write_jsonl(sites, folder / "full.jsonl", full=True)
    lines = []
    for line in full.read_text().splitlines():
        record = json.loads(line)
        record["id"] = record["id"].replace("doc-", "full-")
        lines.append(json.dumps(record))
    (inputs / "b.jsonl").write_text("\n".join(lines) + "\n")
    full.unlink()
    return folder


@pytest.fixture(scope="module")
def policies(dataset: Path) -> Path:
    store = dataset / "policies"
    counts = prefetch_policies(JsonlReader(str(dataset / "in")), store, user_agent=TEST_UA)
    assert counts == {"urls": 28, "origins": 7, "fetched": 7, "no_origin": 0}
    # A second prefetch finds every origin in the folder and fetches nothing.
    again = prefetch_policies(JsonlReader(str(dataset / "in")), store, user_agent=TEST_UA)
    assert again["fetched"] == 0 and again["origins"] == 7
    return store


def expected_removed(sites: Sites) -> dict[str, str]:
    removed = dict(sites.expected_removed(full=False))
    for ident, signal in sites.expected_removed(full=True).items():
        removed[ident.replace("doc-", "full-")] = signal
    return removed


def pipeline(inputs: Path, policies: Path, out: Path, **options: Any) -> list[Any]:
    return [
        JsonlReader(str(inputs)),
        OptOutFilter(
            purpose="train",
            user_agent=TEST_UA,
            policies=policies,
            ledger_folder=out / "ledger",
            url_key="url",
            **options,
        ),
        JsonlWriter(str(out / "kept"), compression=None),
    ]


def outcome(out: Path) -> dict[str, Any]:
    """Kept documents with their provenance and the ledger lines, less the times."""
    kept: dict[str, dict[str, Any]] = {}
    for file in sorted((out / "kept").glob("*.jsonl")):
        for line in file.read_text().splitlines():
            doc = json.loads(line)
            entry = dict(doc["metadata"]["optout"])
            assert entry.pop("time")
            kept[doc["id"]] = entry
    ledger = []
    for file in sorted((out / "ledger").glob("ledger-*.jsonl")):
        for line in read_ledger(file):
            assert line.pop("time")
            ledger.append(line)
    return {"kept": kept, "ledger": sorted(ledger, key=lambda line: line["record_id"])}


def stats(out: Path) -> dict[str, Any]:
    data = json.loads((out / "logs" / "stats.json").read_text())
    (block,) = [step for step in data if step["name"].endswith(OptOutFilter.name)]
    # A figure is a number, or its summary (total, mean...) when tasks or documents differ.
    return {
        key: value if isinstance(value, int) else value["total"]
        for key, value in block["stats"].items()
        if key not in ("doc_len", "batches")
    }


def check(out: Path, sites: Sites) -> dict[str, Any]:
    result = outcome(out)
    removed = expected_removed(sites)
    everyone = {sites.ident(p) for p in sites.pages} | {
        sites.ident(p).replace("doc-", "full-") for p in sites.pages
    }
    assert set(result["kept"]) == everyone - set(removed)
    assert {line["record_id"]: line["reasons"][0]["signal"] for line in result["ledger"]} == (
        removed
    )
    evidence = out / "ledger" / "ledger.evidence"
    for line in result["ledger"]:
        assert line["stage"] == "dataset" and line["verdict"] == "reserved"
        assert line["input"].endswith(("a.jsonl", "b.jsonl"))
        assert line["rank"] in (0, 1)
        for entry in line["evidence"]:
            assert (evidence / entry["sha256"]).is_file()
    for ident, entry in result["kept"].items():
        assert entry["verdict"] == "allowed" and entry["purpose"] == "train"
        assert entry.get("origin_only", False) is ident.startswith("doc-")
        assert len(entry["evidence"]) == 3
        for item in entry["evidence"]:
            assert (evidence / item["sha256"]).is_file()
    # One ledger file per task, each holding the removals of its own shard.
    assert sorted(p.name for p in (out / "ledger").glob("ledger-*.jsonl")) == [
        "ledger-00000.jsonl",
        "ledger-00001.jsonl",
    ]
    assert scan_for_markers(out, {p.marker for p in sites.pages}) == []
    return result


def test_local_and_ray_give_the_same_result(
    tmp_path: Path, sites: Sites, dataset: Path, policies: Path, ray_cluster: None
) -> None:
    local = tmp_path / "local"
    LocalPipelineExecutor(
        pipeline(dataset / "in", policies, local),
        tasks=2,
        workers=2,
        logging_dir=str(local / "logs"),
    ).run()
    on_ray = tmp_path / "ray"
    RayPipelineExecutor(
        pipeline(dataset / "in", policies, on_ray),
        tasks=2,
        logging_dir=str(on_ray / "logs"),
        mem_per_cpu_gb=0.25,
    ).run()
    assert check(local, sites) == check(on_ray, sites)
    removed = expected_removed(sites)
    counted = stats(local)
    assert counted == stats(on_ray)
    assert counted["total"] == 2 * len(sites.pages)
    assert counted["dropped"] == len(removed)
    assert counted["forwarded"] == 2 * len(sites.pages) - len(removed)
    assert counted["origin_only"] == len(sites.pages)
    assert "unknown" not in counted
    for signal in set(removed.values()):
        assert counted[f"signal_{signal}"] == list(removed.values()).count(signal)
    # The ledgers of the tasks concatenate into one ledger of the whole run.
    whole = tmp_path / "ledger.jsonl"
    whole.write_bytes(b"".join(ledger_path(on_ray / "ledger", r).read_bytes() for r in (0, 1)))
    assert len(list(read_ledger(whole))) == len(removed)


def docs(urls: list[str]) -> list[Document]:
    return [
        Document(text=f"text {n} SECRET-UNKNOWN", id=f"u{n}", metadata={"url": url})
        for n, url in enumerate(urls)
    ]


def test_an_origin_missing_from_the_folder_is_unknown(
    tmp_path: Path, sites: Sites, policies: Path
) -> None:
    store = tmp_path / "empty"
    SnapshotFolder(store).create()
    url = sites.url(sites.pages[2])  # reserved by robots.txt, but the folder does not say so
    allow = OptOutFilter(user_agent=TEST_UA, policies=store, ledger_folder=tmp_path / "a")
    (kept,) = list(allow.run(iter(docs([url]))))
    assert kept.metadata["optout"]["verdict"] == "unknown"
    assert "no policy snapshot" in kept.metadata["optout"]["unknown"]
    assert allow.stats["unknown"].total == 1
    assert store.joinpath("origins").is_dir() and not any(store.joinpath("origins").iterdir())

    reserve = OptOutFilter(
        user_agent=TEST_UA, policies=store, ledger_folder=tmp_path / "r", unknown="reserve"
    )
    assert list(reserve.run(iter(docs([url, "mailto:someone@example.org"])))) == []
    lines = list(read_ledger(ledger_path(tmp_path / "r", 0)))
    assert [line["unknown"] for line in lines] == [
        f"no policy snapshot of the origin in {store}",
        "not an http(s) URL",
    ]
    assert reserve.stats["dropped_unknown"].total == 2


def test_fetch_missing_fills_the_folder(tmp_path: Path, sites: Sites) -> None:
    store = tmp_path / "store"
    block = OptOutFilter(
        user_agent=TEST_UA, policies=store, ledger_folder=tmp_path / "l", fetch_missing=True
    )
    urls = [sites.url(p) for p in sites.pages if p.site in ("open", "robots")]
    kept = list(block.run(iter(docs(urls))))
    assert [d.id for d in kept] == ["u0", "u1"]
    assert block.stats["policies_fetched"].total == 2
    assert len(SnapshotFolder(store).origins()) == 2


def test_nested_url_key_headers_and_html_in_text(
    tmp_path: Path, sites: Sites, policies: Path
) -> None:
    noai = next(p for p in sites.pages if p.full == "noai")
    meta = next(p for p in sites.pages if p.path == "/meta.html")
    plain = next(p for p in sites.pages if p.path == "/plain.html")
    block = OptOutFilter(
        user_agent=TEST_UA,
        policies=policies,
        ledger_folder=tmp_path,
        url_key="warc.url",
        headers_key="warc.headers",
        text_is_html=True,
    )
    batch = [
        Document(
            text="<html><body>x</body></html>",
            id="noai",
            metadata={"warc": {"url": sites.url(noai), "headers": [["X-Robots-Tag", "noai"]]}},
        ),
        Document(
            text='<html><head><meta name="tdm-reservation" content="1"></head></html>',
            id="meta",
            metadata={"warc": {"url": sites.url(meta)}},
        ),
        Document(text="<html></html>", id="plain", metadata={"warc": {"url": sites.url(plain)}}),
    ]
    kept = list(block.run(iter(batch)))
    assert [d.id for d in kept] == ["plain"]
    assert "origin_only" not in kept[0].metadata["optout"]
    signals = {
        line["record_id"]: line["reasons"][0]["signal"]
        for line in read_ledger(ledger_path(tmp_path, 0))
    }
    assert signals == {"noai": "noai", "meta": "tdmrep"}


def test_the_exclusion_writer_holds_reserved_text(
    tmp_path: Path, sites: Sites, policies: Path, caplog: pytest.LogCaptureFixture
) -> None:
    robots = next(p for p in sites.pages if p.site == "robots")
    writer = JsonlWriter(str(tmp_path / "excluded"), compression=None)
    block = OptOutFilter(
        user_agent=TEST_UA, policies=policies, ledger_folder=tmp_path / "l", exclusion_writer=writer
    )
    assert "will hold the content of every reserved document" in caplog.text
    assert list(block.run(iter(docs([sites.url(robots)])))) == []
    (written,) = (tmp_path / "excluded").glob("*.jsonl")
    excluded = json.loads(written.read_text())
    assert "SECRET-UNKNOWN" in excluded["text"]
    assert excluded["metadata"]["filter_reason"] == "robots.txt"


def test_recheck_with_a_fresh_snapshot_names_the_new_objections(tmp_path: Path) -> None:
    with running_sites() as sites:
        inputs = tmp_path / "in"
        inputs.mkdir()
        write_jsonl(sites, inputs / "shard.jsonl")
        first, second = tmp_path / "first", tmp_path / "second"
        for source, out in ((inputs, first), (first / "kept", second)):
            if out == second:
                reserve_change_site(sites)
            prefetch_policies(JsonlReader(str(source)), out / "policies", user_agent=TEST_UA)
            LocalPipelineExecutor(
                pipeline(source, out / "policies", out), logging_dir=str(out / "logs")
            ).run()
        newly = {
            line["record_id"]: line["reasons"][0]["signal"]
            for line in read_ledger(ledger_path(second / "ledger", 0))
        }
        assert newly == {sites.ident(p): "robots.txt" for p in sites.pages if p.site == "change"}


def test_arguments_are_checked(tmp_path: Path) -> None:
    common: dict[str, Any] = {"user_agent": TEST_UA, "ledger_folder": tmp_path}
    with pytest.raises(ConfigurationError, match="no policy store for redis://"):
        OptOutFilter(policies="redis://localhost:6379/0", **common)
    with pytest.raises(ConfigurationError, match="purpose must be one of"):
        OptOutFilter(purpose="everything", policies=tmp_path, **common)
    with pytest.raises(ConfigurationError, match="unknown must be"):
        OptOutFilter(policies=tmp_path, unknown="maybe", **common)
    with pytest.raises(TypeError, match="policies must be"):
        OptOutFilter(policies=42, **common)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="one string"):
        prefetch_policies("https://example.org/", tmp_path, user_agent=TEST_UA)
    block = OptOutFilter(policies=f"file://{tmp_path}", **common)
    assert block.policies == tmp_path
    with pytest.raises(RuntimeError, match="inside run"):
        block.filter(Document(text="x", id="1", metadata={"url": "https://example.org/"}))
