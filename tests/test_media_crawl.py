"""IPTC DataMining and C2PA/CAWG training-mining marks read during a real crawl.

The farm's ``media-marks`` gallery shows a JPEG whose XMP says
``DMI-PROHIBITED-AIMLTRAINING``, a PNG whose C2PA store says ``notAllowed``
for every CAWG use, and a JPEG marked ``DMI-ALLOWED``. Crawled with the Files
pipeline on, the two reserved images are refused at the body stage (their
downloads pass through the middleware), nothing reserved reaches the files
store, and ``optout check`` agrees.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from examples.farm import load_manifests

from helpers import SITES, TEST_UA, run_crawl
from mediafiles import VOCAB, attribute_form, jpeg, jpeg_xmp
from scrapy_optout.cli import main
from scrapy_optout.frontends.filter.decide import decide_record
from scrapy_optout.policy.evaluate import Evaluator
from scrapy_optout.policy.snapshot import OriginPolicy, PolicyFile
from scrapy_optout.verdict import Purpose, Signal

NAME = "media-marks"
IMAGES = load_manifests(SITES)[NAME].expect.images
FILES = Path(SITES) / NAME


@pytest.fixture(scope="module")
def crawl(farm, tmp_path_factory):
    out = tmp_path_factory.mktemp("media")
    return run_crawl(out, [farm.url(NAME, "/")])


def test_reserved_images_excluded_at_the_body_stage(farm, crawl):
    reserved = {r["url"]: r for r in crawl.ledger if r["verdict"] == "reserved"}
    for path, expected in IMAGES.items():
        url = farm.url(NAME, path)
        if not expected.reserved(Purpose.TRAIN):
            assert url not in reserved, path
            continue
        record = reserved[url]
        assert record["stage"] == "body", record
        assert {r["signal"] for r in record["reasons"]} == {str(expected.signal)}, record
    assert sum(1 for r in reserved.values() if "/img/" in r["url"]) == 2


def test_nothing_reserved_in_the_files_store(farm, crawl):
    stored = {p.read_bytes() for p in (crawl.out / "files").rglob("*") if p.is_file()}
    names = {p.stem for p in (crawl.out / "files").rglob("*") if p.is_file()}
    for path, expected in IMAGES.items():
        body = (FILES / path.lstrip("/")).read_bytes()
        key = hashlib.sha1(farm.url(NAME, path).encode()).hexdigest()
        kept = body in stored and key in names
        assert kept is not expected.reserved(Purpose.TRAIN), path
    # The gallery itself is kept, without the refused files.
    assert farm.url(NAME, "/gallery.html") in crawl.item_urls


@pytest.mark.parametrize("path", sorted(IMAGES))
def test_check_agrees_with_the_crawl(farm, capsys, path):
    expected = IMAGES[path]
    code = main(["check", farm.url(NAME, path), "--json", "--user-agent", TEST_UA])
    out = json.loads(capsys.readouterr().out)
    reserved = bool(expected.reserved(Purpose.TRAIN))
    assert code == (1 if reserved else 0), out
    assert out["verdict"] == ("reserved" if reserved else "allowed")
    if reserved:
        assert str(expected.signal) in {r["signal"] for r in out["reasons"]}


# -- the stages, without the network ----------------------------------------------------------


ORIGIN = "http://example.com"
PROHIBITED = jpeg(jpeg_xmp(attribute_form(VOCAB + "DMI-PROHIBITED")))


def _policy(tdmrep: bytes | None = None) -> OriginPolicy:
    robots = PolicyFile("robots.txt", ORIGIN + "/robots.txt", 404, b"")
    tdm = None
    if tdmrep is not None:
        tdm = PolicyFile("tdmrep.json", ORIGIN + "/.well-known/tdmrep.json", 200, tdmrep)
    return OriginPolicy(ORIGIN, robots, tdmrep_file=tdm)


def test_a_media_body_adds_its_marks_and_an_html_body_is_never_read_as_media():
    evaluator = Evaluator(TEST_UA)
    url = ORIGIN + "/a.jpg"
    prior = evaluator.headers_stage(
        evaluator.origin_stage(_policy(), url), {"Content-Type": ["image/jpeg"]}
    )
    done = evaluator.body_stage(prior, PROHIBITED)
    assert done.verdict(Purpose.INPUT).reserved
    assert {f.signal for f in done.verdict(Purpose.TRAIN).reasons} == {Signal.IPTC}
    # The same bytes quoted inside a page, or a page served as an image, are not read.
    page = b"<!doctype html><title>x</title><pre>" + PROHIBITED + b"</pre>"
    for ctype in ("text/html", "image/jpeg"):
        stage = evaluator.headers_stage(
            evaluator.origin_stage(_policy(), url), {"Content-Type": [ctype]}
        )
        assert not evaluator.body_stage(stage, page).verdict(Purpose.TRAIN).reserved, ctype


def test_media_headers_stage_stays_final_for_tdmrep():
    """A media body only adds reservations: a tdmrep.json one is decided on the headers."""
    evaluator = Evaluator(TEST_UA)
    url = ORIGIN + "/a.png"
    rules = b'[{"location": "/*", "tdm-reservation": 1}]'
    stage = evaluator.headers_stage(
        evaluator.origin_stage(_policy(rules), url), {"Content-Type": ["image/png"]}
    )
    assert stage.final
    assert stage.verdict(Purpose.TRAIN).reserved


def test_the_filter_reads_a_media_record_body():
    evaluator = Evaluator(TEST_UA)
    url = ORIGIN + "/a.jpg"
    decision = decide_record(
        evaluator,
        _policy(),
        url,
        Purpose.TRAIN,
        headers={"Content-Type": ["image/jpeg"]},
        body=PROHIBITED,
    )
    assert not decision.keep
    assert decision.verdict is not None
    assert {f.signal for f in decision.verdict.reasons} == {Signal.IPTC}
