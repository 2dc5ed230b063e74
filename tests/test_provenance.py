"""``OPTOUT_PROVENANCE``: every kept item names the permission it was admitted under.

Real crawls against loopback servers (one per origin): a page origin and a
media origin, items of every kind the pipeline meets, items carried from one
callback to another, and an origin whose robots.txt is missing.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from faultserver import FaultServer, Respond, html, text
from helpers import TEST_UA, CrawlResult, run_crawl
from scrapy_optout.frontends.filter.decide import Decision, provenance
from scrapy_optout.frontends.filter.manifest import build_manifest
from scrapy_optout.policy.provenance import PROVENANCE_VERSION, merged_evidence
from scrapy_optout.scrapy.pipeline import item_key
from scrapy_optout.stores.ledger import provenance_path_for
from scrapy_optout.verdict import Purpose

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + b"\x00" * 64
ROBOTS = "User-agent: *\nDisallow: /private/\n"
MEDIA_ROBOTS = "User-agent: *\nAllow: /\n"
#: Kinds whose items take the entry in their own field, and those that go to the side file.
IN_FIELD = {"dict", "item-field", "dataclass-field", "attrs-field"}
SIDE_FILE = {"item-nofield", "dataclass-nofield", "attrs-nofield", "quote"}
KIND_OF_TYPE = {
    "PageWithoutField": "item-nofield",
    "DataWithoutField": "dataclass-nofield",
    "AttrsWithoutField": "attrs-nofield",
    "Quote": "quote",
}
ENTRY_KEYS = [
    "v",
    "purpose",
    "verdict",
    "time",
    "stage",
    "token",
    "user_agent",
    "evidence",
    "item_source",
    "pages",
    "media",
]


def _media_server() -> FaultServer:
    return FaultServer(
        {
            "/robots.txt": text(MEDIA_ROBOTS),
            "/ai.txt": text("User-Agent: *\nAllow: /\n"),
            "/img/a.png": Respond(200, PNG, (("Content-Type", "image/png"),)),
        }
    )


def _site(media: FaultServer, *, robots: str | None = ROBOTS) -> FaultServer:
    routes: dict[str, Any] = {
        "/page.html": html(f'<img src="{media.url("/img/a.png")}">', title="a page"),
        "/next.html": html("the next page"),
    }
    if robots is not None:
        routes["/robots.txt"] = text(robots)
    return FaultServer(routes)


def _crawl(tmp_path: Path, urls: list[str], spider: str, **settings: Any) -> CrawlResult:
    return run_crawl(
        tmp_path / "out",
        urls,
        {
            "USER_AGENT": TEST_UA,
            "FILES_STORE": str(tmp_path / "files"),
            "OPTOUT_LEDGER": str(tmp_path / "ledger.jsonl"),
            **settings,
        },
        spider=f"provenance_spiders:{spider}",
    )


def _kinds(tmp_path: Path, url: str, **settings: Any) -> CrawlResult:
    """One page crawled by :class:`KindsSpider`, with provenance on unless *settings* say not."""
    return _crawl(tmp_path, [url], "KindsSpider", **{"OPTOUT_PROVENANCE": True, **settings})


def _side_file(tmp_path: Path) -> list[dict[str, Any]]:
    path = provenance_path_for(tmp_path / "ledger.jsonl")
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def _entries(result: CrawlResult, tmp_path: Path) -> dict[str, dict[str, Any]]:
    """Every provenance entry of the crawl (one item of each kind), by the kind of item."""
    entries = {item["kind"]: item["optout"] for item in result.items if item.get("optout")}
    for line in _side_file(tmp_path):
        entries[KIND_OF_TYPE[line["item_type"].rsplit(".", 1)[1]]] = line["optout"]
    return entries


def _files(entry: dict[str, Any], part: dict[str, Any]) -> list[dict[str, Any]]:
    """The evidence entries of the files a page or media origin of *entry* names."""
    return [entry["evidence"][place] for place in part["evidence"]]


def _assert_evidence_stored(entry: dict[str, Any], folder: Path) -> None:
    """Every file the entry names is described, and stored under its hash."""
    assert entry["evidence"]
    for part in entry["pages"] + entry["media"]:
        files = _files(entry, part)
        assert len(files) == 3
        origin = part.get("origin") or part["url"].rsplit("/", 1)[0]
        assert all(e["source"].startswith(origin + "/") for e in files)
    for evidence in entry["evidence"]:
        path = folder / evidence["sha256"]
        assert path.is_file(), evidence
        assert hashlib.sha256(path.read_bytes()).hexdigest() == evidence["sha256"]


# -- every kind of item ----------------------------------------------------------------------------


def test_every_kind_of_item_carries_or_is_keyed_to_its_provenance(tmp_path):
    with _media_server() as media, _site(media) as site:
        result = _kinds(tmp_path, site.url("/page.html"))
        page, media_origin = site.url("/page.html"), media.origin
    (result.out / "kept").mkdir()
    (result.out / "items.jsonl").rename(result.out / "kept" / "items.jsonl")
    assert {item["kind"] for item in result.items} == IN_FIELD | SIDE_FILE
    side = _side_file(tmp_path)
    assert sorted(line["item_type"] for line in side) == sorted(
        f"provenance_spiders.{name}" for name in KIND_OF_TYPE
    )
    for item in result.items:
        assert ("optout" in item) == (item["kind"] in IN_FIELD), item["kind"]
    # Keyed by the URL field where there is one, else by the hash of the content.
    exported = next(item for item in result.items if item["kind"] == "quote")
    assert {line["key"] for line in side} == {page, item_key(exported)}
    quote = next(line for line in side if line["item_type"].endswith(".Quote"))
    assert quote["key"].startswith("sha256:")

    entries = _entries(result, tmp_path)
    assert set(entries) == IN_FIELD | SIDE_FILE
    for kind, entry in entries.items():
        assert list(entry) == ENTRY_KEYS, kind
        assert entry["v"] == PROVENANCE_VERSION
        assert (entry["purpose"], entry["verdict"], entry["stage"]) == ("train", "allowed", "item")
        assert (entry["token"], entry["user_agent"]) == ("optout-test", TEST_UA)
        assert entry["item_source"] == page
        assert [(p["url"], p["stage"]) for p in entry["pages"]] == [(page, "body")]
        sources = [e["source"] for e in _files(entry, entry["pages"][0])]
        assert sources == [f"{site.origin}/robots.txt", f"{site.origin}/ai.txt",
                           f"{site.origin}/.well-known/tdmrep.json"]  # fmt: skip
        expected_media = [] if kind == "quote" else [media_origin]
        assert [m["origin"] for m in entry["media"]] == expected_media
        if expected_media:
            media_files = _files(entry, entry["media"][0])
            ai = next(e for e in media_files if e["source"].endswith("/ai.txt"))
            assert ai["status"] == 200
            assert len(entry["evidence"]) == 6  # no file twice
            merged, _ = merged_evidence([_files(entry, entry["pages"][0]), media_files])
            assert entry["evidence"] == merged
        _assert_evidence_stored(entry, tmp_path / "ledger.evidence")
    assert result.stats["optout/provenance_attached"] == len(IN_FIELD)
    assert result.stats["optout/provenance_side_file"] == len(SIDE_FILE)
    # Nothing was excluded, yet the policy bodies are in the evidence store.
    assert result.ledger == []
    robots = next(e for e in entries["dict"]["evidence"] if e["source"].endswith("/robots.txt"))
    assert (tmp_path / "ledger.evidence" / robots["sha256"]).read_text() == ROBOTS
    # The entries are the dataset filter's: its manifest reads the crawl's kept items.
    manifest = build_manifest([tmp_path / "ledger.jsonl"], kept=result.out / "kept")
    assert manifest["kept"]["total"] == len(IN_FIELD)
    assert manifest["kept"]["by_verdict"] == {"allowed": len(IN_FIELD)}
    assert {e["sha256"] for e in manifest["evidence"]} == {
        e["sha256"] for e in entries["dict"]["evidence"]
    }


def test_with_the_setting_off_nothing_is_added(tmp_path):
    with _media_server() as media, _site(media) as site:
        result = _kinds(tmp_path, site.url("/page.html"), OPTOUT_PROVENANCE=False)
    assert {item["kind"] for item in result.items} == IN_FIELD | SIDE_FILE
    for item in result.items:
        assert item.get("optout") is None, item["kind"]
    assert "optout" not in next(item for item in result.items if item["kind"] == "dict")
    assert "optout" not in next(item for item in result.items if item["kind"] == "item-field")
    assert not provenance_path_for(tmp_path / "ledger.jsonl").exists()
    assert not any(key.startswith("optout/provenance") for key in result.stats)
    # The evidence store holds what exclusions name, and here nothing was excluded.
    assert list((tmp_path / "ledger.evidence").iterdir()) == []


# -- where the item came from ---------------------------------------------------------------------


def test_items_from_an_origin_without_robots_txt_carry_its_404(tmp_path):
    with _media_server() as media, _site(media, robots=None) as site:
        result = _kinds(tmp_path, site.url("/page.html"))
        robots_url = f"{site.origin}/robots.txt"
    entries = _entries(result, tmp_path)
    assert set(entries) == IN_FIELD | SIDE_FILE
    empty = hashlib.sha256(b"").hexdigest()
    for entry in entries.values():
        robots = next(e for e in entry["evidence"] if e["source"] == robots_url)
        assert robots["status"] == 404
        # The 404's own body, as served, is what the hash names.
        assert robots["sha256"] == hashlib.sha256(b"not found").hexdigest() != empty
        _assert_evidence_stored(entry, tmp_path / "ledger.evidence")
    assert (tmp_path / "ledger.evidence" / robots["sha256"]).read_bytes() == b"not found"


def test_an_item_carried_in_cb_kwargs_names_the_page_it_was_built_from(tmp_path):
    with _media_server() as media, _site(media) as start, FaultServer() as other:
        other.route("/robots.txt", text("User-agent: *\nAllow: /\n"))
        other.route("/next.html", html("where the item is yielded"))
        result = _crawl(
            tmp_path,
            [start.url("/page.html")],
            "CarrySpider",
            OPTOUT_PROVENANCE=True,
            TEST_NEXT=other.url("/next.html"),
        )
        built, yielded = start.url("/page.html"), other.url("/next.html")
        start_robots, other_robots = start.url("/robots.txt"), other.url("/robots.txt")
    items = {item["kind"]: item for item in result.items}
    assert set(items) == {"carried", "own"}
    # Reached by a plain link, which passes nothing on: its item names its page alone.
    assert [p["url"] for p in items["own"]["optout"]["pages"]] == [yielded]
    carried = items["carried"]
    assert carried["url"] == built
    entry = carried["optout"]
    assert entry["item_source"] == yielded
    pages = entry["pages"]
    assert [(p["url"], p.get("carried", False)) for p in pages] == [
        (yielded, False),
        (built, True),
    ]
    assert [p["stage"] for p in pages] == ["body", "body"]
    # Each page names its own origin's files.
    assert _files(entry, pages[0])[0]["source"] == other_robots
    assert _files(entry, pages[1])[0]["source"] == start_robots
    assert [m["origin"] for m in entry["media"]] == [media.origin]
    for item in items.values():
        _assert_evidence_stored(item["optout"], tmp_path / "ledger.evidence")
    start_file = tmp_path / "ledger.evidence" / _files(entry, pages[1])[0]["sha256"]
    assert start_file.read_text() == ROBOTS


def test_stripped_urls_leave_their_origin_out(tmp_path):
    """With ``strip``, the kept item names the media origins it still uses, not the reserved one."""
    with _media_server() as media, _site(media) as site, FaultServer() as closed:
        closed.route("/robots.txt", text("User-agent: optout-test\nDisallow: /\n"))
        site.route(
            "/both.html",
            html(f'<img src="{media.url("/img/a.png")}"><img src="{closed.url("/x.png")}">'),
        )
        result = _kinds(tmp_path, site.url("/both.html"), OPTOUT_ITEM_ACTION="strip")
        media_origin, closed_origin = media.origin, closed.origin
    item = next(item for item in result.items if item["kind"] == "dict")
    assert item["file_urls"] == [f"{media_origin}/img/a.png"]
    assert [m["origin"] for m in item["optout"]["media"]] == [media_origin]
    assert closed_origin not in json.dumps(item["optout"])
    assert {r["url"] for r in result.ledger} == {f"{closed_origin}/x.png"}


def test_measured_items_say_what_was_found(tmp_path):
    with _media_server() as media, _site(media, robots="User-agent: *\nDisallow: /\n") as site:
        result = _kinds(tmp_path, site.url("/page.html"), OPTOUT_MODE="measure")
    entry = next(item for item in result.items if item["kind"] == "dict")["optout"]
    assert (entry["verdict"], entry["mode"]) == ("reserved", "measure")
    _assert_evidence_stored(entry, tmp_path / "ledger.evidence")


# -- the setting and the shared shape -------------------------------------------------------------


def test_a_side_file_that_cannot_be_written_stops_the_crawl_before_any_request(tmp_path):
    side = provenance_path_for(tmp_path / "ledger.jsonl")
    side.mkdir(parents=True)
    with _media_server() as media, _site(media) as site:
        result = run_crawl(
            tmp_path / "out",
            [site.url("/page.html")],
            {"OPTOUT_LEDGER": str(tmp_path / "ledger.jsonl"), "OPTOUT_PROVENANCE": True},
            spider="provenance_spiders:KindsSpider",
            expect_failure=True,
        )
        assert site.hits("/page.html") == site.hits("/robots.txt") == 0
    assert f"OPTOUT_PROVENANCE: the provenance side file {side} is a directory" in result.log
    assert result.items == []


def test_the_dataset_filter_builds_the_same_shape():
    decision = Decision("https://example.com/a", True, None, None, False, "no snapshot")
    entry = provenance(decision, Purpose.TRAIN, token="bot", time="2026-01-01T00:00:00.000Z")
    assert list(entry)[:7] == [k for k in ENTRY_KEYS if k != "user_agent"][:7]
    assert entry["verdict"] == "unknown"
    assert entry["unknown"] == "no snapshot"


def test_item_key_is_stable_and_ignores_field_order():
    first = item_key({"text": "é", "n": 1})
    assert first == item_key({"n": 1, "text": "é"})
    assert first.startswith("sha256:") and len(first) == len("sha256:") + 64
    assert item_key({"url": "https://example.com/", "n": 1}) == "https://example.com/"
