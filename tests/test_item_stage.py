"""The item stage: every reserved URL of an item, wherever the item was built.

Real crawls against loopback servers, with Scrapy's Files pipeline storing into
``tmp_path``; the files store is scanned after each crawl.
"""

from __future__ import annotations

import base64
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from scrapy.settings import Settings

from faultserver import Connection, FaultServer, Redirect, Respond, html, text
from helpers import TEST_UA, CrawlResult, run_crawl
from scrapy_optout.exceptions import ConfigurationError
from scrapy_optout.protocols.noai import data_uri_image, media_image_type, sniff_image
from scrapy_optout.scrapy.settings import OptOutSettings

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + b"\x00" * 64
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 64
PDF = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj <<>> endobj\n"
NOIMAGEAI = '<meta name="robots" content="noimageai">'


def _png_data_uri(media_type: str) -> str:
    return f"data:{media_type};base64,{base64.b64encode(PNG).decode()}"


def _binary(body: bytes, content_type: str) -> Respond:
    return Respond(200, body, (("Content-Type", content_type),))


@dataclass
class Flip:
    """Answers with *first*, then with *later* on every further request."""

    first: Respond
    later: Respond
    seen: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def serve(self, conn: Connection) -> None:
        with self.lock:
            self.seen += 1
            answer = self.first if self.seen == 1 else self.later
        answer.serve(conn)


#: Images under URLs that do not say so, one served as octet-stream with PNG bytes.
IMAGES = ["/photo?id=1", "/media/123", "/img", "/blob"]
DOCS = ["/doc?id=7", "/paper.pdf"]


def _gallery(body: str) -> Respond:
    return html(body, head_extra=NOIMAGEAI, title="gallery")


def _routes(gallery_body: str = "", **extra: Any) -> dict[str, Any]:
    images = "".join(f'<img src="{path}">' for path in IMAGES)
    docs = "".join(f'<a class="doc" href="{path}">doc</a>' for path in DOCS)
    return {
        "/robots.txt": text("User-agent: *\nAllow: /\n"),
        "/gallery.html": _gallery(images + docs + gallery_body),
        "/plain.html": html('<img src="/plain/photo?id=2"><a class="doc" href="/doc?id=8">d</a>'),
        "/next.html": html("an allowed page"),
        "/last.html": html("another allowed page"),
        "/photo": _binary(PNG, "image/png"),
        "/media/123": _binary(JPEG, "image/jpeg"),
        "/img": _binary(PNG, "image/png; charset=binary"),
        "/blob": _binary(PNG, "application/octet-stream"),
        "/plain/photo": _binary(PNG, "image/png"),
        "/doc": _binary(PDF, "application/pdf"),
        "/paper.pdf": _binary(PDF, "application/pdf"),
        **extra,
    }


def _settings(tmp_path: Path, **extra: Any) -> dict[str, Any]:
    return {
        "USER_AGENT": TEST_UA,
        "FILES_STORE": str(tmp_path / "files"),
        "OPTOUT_LEDGER": str(tmp_path / "ledger.jsonl"),
        **extra,
    }


def _stored(tmp_path: Path) -> list[bytes]:
    root = tmp_path / "files"
    return [p.read_bytes() for p in root.rglob("*") if p.is_file()] if root.exists() else []


def _stored_images(tmp_path: Path) -> list[bytes]:
    return [body for body in _stored(tmp_path) if sniff_image(body) is not None]


def _item_records(result: CrawlResult, verdict: str = "reserved") -> list[dict[str, Any]]:
    return [r for r in result.ledger if r["stage"] == "item" and r["verdict"] == verdict]


def _crawl(
    tmp_path: Path,
    server: FaultServer,
    paths: list[str],
    spider: str = "PageSpider",
    **settings: Any,
) -> CrawlResult:
    return run_crawl(
        tmp_path / "out",
        [server.url(p) for p in paths],
        _settings(tmp_path, **settings),
        spider=f"item_spiders:{spider}",
    )


# -- media of a noimageai page ---------------------------------------------------------------------


def test_noimageai_page_item_is_dropped_with_every_image_recorded(tmp_path):
    with FaultServer(_routes()) as server:
        result = _crawl(tmp_path, server, ["/gallery.html", "/plain.html"])
    gallery = server.url("/gallery.html")
    assert result.item_urls == {server.url("/plain.html")}
    records = _item_records(result)
    assert sorted(r["url"] for r in records) == sorted(server.url(p) for p in IMAGES)
    for record in records:
        assert record["item_source"] == gallery
        assert record["item_field"] == "file_urls"
        assert [r["signal"] for r in record["reasons"]] == ["noai"]
        assert record["reasons"][0]["source"] == gallery
    assert result.stats["optout/items_dropped"] == 1
    assert result.stats["optout/excluded_stage/item"] == len(IMAGES)
    # The allowed page's image and document are stored; nothing of the gallery is.
    stored = _stored(tmp_path)
    assert sorted(stored) == sorted([PNG, PDF])
    assert "optout/urls_stripped" not in result.stats


def test_noimageai_page_item_is_stripped_of_its_images_and_keeps_its_documents(tmp_path):
    with FaultServer(_routes()) as server:
        result = _crawl(tmp_path, server, ["/gallery.html"], OPTOUT_ITEM_ACTION="strip")
    (item,) = result.items
    assert item["file_urls"] == [server.url(p) for p in DOCS]
    assert sorted(f["url"] for f in item["files"]) == sorted(server.url(p) for p in DOCS)
    assert len(_item_records(result)) == len(IMAGES)
    assert result.stats["optout/urls_stripped"] == len(IMAGES)
    assert result.stats["optout/items_stripped"] == 1
    assert "optout/items_dropped" not in result.stats
    assert _stored_images(tmp_path) == []
    assert _stored(tmp_path) == [PDF, PDF]


def test_media_download_is_judged_by_what_it_turns_out_to_be(tmp_path):
    """A URL that answers a document first and an image later is refused when it is an image."""
    extra = {
        # The pipeline's look sees a PDF; the Files pipeline's download gets an image.
        "/swap": Flip(_binary(PDF, "application/pdf"), _binary(PNG, "image/png")),
        "/sneak": Flip(_binary(PDF, "application/pdf"), _binary(PNG, "application/octet-stream")),
        # ... or a redirect to an image elsewhere.
        "/moved": Flip(_binary(PDF, "application/pdf"), Redirect("/cdn/pic")),
        "/cdn/pic": _binary(PNG, "image/png"),
    }
    body = "".join(f'<a class="doc" href="{p}">s</a>' for p in ("/swap", "/sneak", "/moved"))
    with FaultServer(_routes(body, **extra)) as server:
        result = _crawl(
            tmp_path,
            server,
            ["/gallery.html"],
            OPTOUT_ITEM_ACTION="strip",
            MEDIA_ALLOW_REDIRECTS=True,
        )
        looks = server.hits("/swap"), server.hits("/sneak")
    # One look by the pipeline, one download by the Files pipeline.
    assert looks == (2, 2)
    (item,) = result.items
    assert server.url("/swap") in item["file_urls"]
    refused = {r["url"]: r for r in result.ledger if r["stage"] in ("headers", "body")}
    assert refused[server.url("/swap")]["stage"] == "headers"
    assert refused[server.url("/swap")]["media_type"] == "image/png"
    assert refused[server.url("/sneak")]["stage"] == "body"
    assert refused[server.url("/cdn/pic")]["redirect_urls"] == [server.url("/moved")]
    for record in refused.values():
        assert record["item_source"] == server.url("/gallery.html")
    assert result.stats["optout/media_refused"] == 3
    assert _stored_images(tmp_path) == []
    assert _stored(tmp_path) == [PDF, PDF]


def test_an_image_served_as_a_document_is_an_image(tmp_path):
    body = '<a class="doc" href="/liar">l</a><a class="doc" href="/vector">v</a>'
    svg = b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg"></svg>'
    extra = {
        "/liar": _binary(JPEG, "application/pdf"),
        "/vector": _binary(svg, "text/plain"),
    }
    with FaultServer(_routes(body, **extra)) as server:
        result = _crawl(tmp_path, server, ["/gallery.html"], OPTOUT_ITEM_ACTION="strip")
    reserved = {r["url"] for r in _item_records(result)}
    assert {server.url("/liar"), server.url("/vector")} <= reserved
    (item,) = result.items
    assert item["file_urls"] == [server.url(p) for p in DOCS]
    assert _stored_images(tmp_path) == []


# -- items carried to another callback -------------------------------------------------------------


def test_item_carried_to_another_callback_answers_to_its_page(tmp_path):
    with FaultServer(_routes()) as server:
        result = _crawl(
            tmp_path,
            server,
            ["/gallery.html", "/plain.html"],
            spider="CarrySpider",
            TEST_NEXT=server.url("/next.html"),
            TEST_LAST=server.url("/last.html"),
        )
    gallery = server.url("/gallery.html")
    plain = server.url("/plain.html")
    # The allowed page's three items arrive (one by each path); the gallery's none.
    assert sorted(item["via"] for item in result.items) == ["cb_kwargs", "meta", "two hops"]
    assert result.item_urls == {plain}
    records = _item_records(result)
    assert {r["item_source"] for r in records} == {gallery}
    assert len(records) == 3 * len(IMAGES)
    assert result.stats["optout/items_dropped"] == 3
    assert sorted(_stored(tmp_path)) == sorted([PNG, PDF])


def test_carried_item_is_stripped_too(tmp_path):
    with FaultServer(_routes()) as server:
        result = _crawl(
            tmp_path,
            server,
            ["/gallery.html"],
            spider="CarrySpider",
            TEST_NEXT=server.url("/next.html"),
            TEST_LAST=server.url("/last.html"),
            OPTOUT_ITEM_ACTION="strip",
        )
    assert len(result.items) == 3
    for item in result.items:
        assert item["file_urls"] == [server.url(p) for p in DOCS], item["via"]
    assert result.stats["optout/urls_stripped"] == 3 * len(IMAGES)
    assert _stored_images(tmp_path) == []


# -- data: URIs, lenient URL fields ----------------------------------------------------------------


def test_data_uri_images_of_a_noimageai_page_are_reserved(tmp_path):
    uris = [_png_data_uri("image/png"), _png_data_uri("application/octet-stream")]
    body = "".join(f'<img src="{uri}">' for uri in uris) + '<img src="data:text/plain,hello">'
    routes = _routes()
    routes["/gallery.html"] = _gallery(body)
    with FaultServer(routes) as server:
        result = _crawl(tmp_path, server, ["/gallery.html"], OPTOUT_ITEM_ACTION="strip")
    (item,) = result.items
    assert item["file_urls"] == ["data:text/plain,hello"]
    records = _item_records(result)
    assert len(records) == 2
    for record, uri in zip(records, uris, strict=True):
        assert len(record["url"]) <= 120
        assert uri.startswith(record["url"].rstrip("…"))
        assert record["origin"] == server.origin
        assert record["data_length"] == len(uri)
    assert _stored(tmp_path) == [b"hello"]


def test_url_fields_are_read_leniently(tmp_path):
    raw = [
        "  HTTP://127.0.0.1:{port}/photo?id=5 \n",
        "img/a.jpg",
        "//127.0.0.1:{port}/b.png",
        "/doc?id=9",
    ]
    with FaultServer() as server:
        spans = "".join(
            f'<span class="raw" data-url="{r.format(port=server.port)}"></span>' for r in raw
        )
        raw_img = f'<img class="raw" src=" HTTP://127.0.0.1:{server.port}/photo?id=6 ">'
        for path, fault in _routes().items():
            server.route(path, fault)
        server.route("/gallery.html", _gallery(spans + raw_img + '<img src="/plain/photo?id=3">'))
        result = _crawl(
            tmp_path,
            server,
            ["/gallery.html"],
            OPTOUT_ITEM_ACTION="strip",
            OPTOUT_ITEM_URL_FIELDS=["pictures", "picture"],
        )
    (item,) = result.items
    reserved = {(r["item_field"], r["url"]) for r in _item_records(result)}
    assert reserved >= {
        ("pictures", server.url("/img/a.jpg")),
        ("pictures", server.url("/b.png")),
        ("file_urls", server.url("/photo?id=6")),
        ("file_urls", server.url("/plain/photo?id=3")),
    }
    # An extension-less URL in a field the Files pipeline does not download is
    # checked against its origin only.
    assert item["pictures"] == [raw[0].format(port=server.port), "/doc?id=9"]
    assert item["picture"] == raw[0].format(port=server.port)
    assert item["file_urls"] == []
    assert _stored(tmp_path) == []


def test_lenient_urls_meet_their_origin_policy(tmp_path):
    with FaultServer({"/robots.txt": text("User-agent: optout-test\nDisallow: /\n")}) as closed:
        body = f'<span class="raw" data-url=" HTTP://127.0.0.1:{closed.port}/a.pdf "></span>'
        routes = _routes()
        routes["/plain.html"] = html(body)
        with FaultServer(routes) as server:
            result = _crawl(
                tmp_path,
                server,
                ["/plain.html"],
                OPTOUT_ITEM_URL_FIELDS=["picture"],
            )
    assert result.items == []
    (record,) = _item_records(result)
    assert record["url"] == closed.url("/a.pdf")
    assert record["reasons"][0]["signal"] == "robots.txt"


# -- per-request purpose and mode ------------------------------------------------------------------


def test_per_request_purpose_reaches_the_item_stage(tmp_path):
    with FaultServer(_routes()) as server:
        result = _crawl(
            tmp_path,
            server,
            ["/gallery.html"],
            TEST_START_META={"optout_purpose": "search"},
        )
    # noimageai reserves training and AI input, not search indexing.
    (item,) = result.items
    assert len(item["files"]) == len(IMAGES) + len(DOCS)
    assert _item_records(result) == []
    assert "optout/media_probed" not in result.stats


def test_per_request_measure_mode_reaches_the_item_stage(tmp_path):
    with FaultServer(_routes()) as server:
        result = _crawl(
            tmp_path,
            server,
            ["/gallery.html"],
            TEST_START_META={"optout_mode": "measure"},
        )
    (item,) = result.items
    assert len(item["files"]) == len(IMAGES) + len(DOCS)
    measured = [r for r in result.ledger if r["verdict"] == "reserved"]
    assert measured
    assert all(r["mode"] == "measure" for r in measured)
    # Each image is measured when its download shows what it is.
    assert {r["url"] for r in measured if r["stage"] == "body"} == {server.url(p) for p in IMAGES}
    assert "optout/excluded_count" not in result.stats


# -- pieces ----------------------------------------------------------------------------------------


def test_item_action_setting_is_validated():
    assert OptOutSettings.from_settings(Settings()).item_action == "drop"
    assert OptOutSettings.from_settings(Settings({"OPTOUT_ITEM_ACTION": "STRIP"})).item_action == (
        "strip"
    )
    with pytest.raises(ConfigurationError, match="OPTOUT_ITEM_ACTION"):
        OptOutSettings.from_settings(Settings({"OPTOUT_ITEM_ACTION": "delete"}))


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (PNG, "image/png"),
        (JPEG, "image/jpeg"),
        (b"GIF89a\x01\x00", "image/gif"),
        (b"GIF87a\x01\x00", "image/gif"),
        (b"RIFF\x24\x00\x00\x00WEBPVP8 ", "image/webp"),
        (b"\x00\x00\x00\x1cftypavif\x00\x00", "image/avif"),
        (b"\x00\x00\x00\x18ftypheic\x00\x00", "image/heif"),
        (b"<svg xmlns='http://www.w3.org/2000/svg'/>", "image/svg+xml"),
        (b"\xef\xbb\xbf<?xml version='1.0'?><!-- c --><svg>", "image/svg+xml"),
        (b"BM\x36\x00\x0c\x00\x00\x00\x00\x00\x36\x00", "image/bmp"),
        (b"II*\x00\x08\x00", "image/tiff"),
        (b"MM\x00*\x00\x08", "image/tiff"),
        (b"\x00\x00\x01\x00\x01\x00", "image/x-icon"),
        (PDF, None),
        (b"<!doctype html><html><body><svg></svg></body></html>", None),
        (b"<html><svg>", None),
        (b"BMW is a car", None),
        (b"PK\x03\x04", None),
        (b"", None),
    ],
)
def test_sniff_image(body, expected):
    assert sniff_image(body) == expected


def test_media_and_data_uri_types():
    assert media_image_type("image/webp; q=1", PDF) == "image/webp"
    assert media_image_type("application/pdf", PNG) == "image/png"
    assert media_image_type("application/pdf", PDF) is None
    assert data_uri_image(_png_data_uri("image/png")) == "image/png"
    assert data_uri_image(_png_data_uri("")) == "image/png"
    assert data_uri_image("data:IMAGE/GIF,xyz") == "image/gif"
    assert data_uri_image("data:text/plain,hello") is None
    assert data_uri_image("data:;base64,!!!") is None
    assert data_uri_image("data:no-comma") is None
