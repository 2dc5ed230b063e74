"""Loopback sites with known opt-outs, and datasets of their pages, for the filter tests.

Every page whose record must be removed carries a marker (``SECRET-<n>``) in
its body and in its dataset text, so a test can scan every byte written under
an output folder for reserved content.
"""

from __future__ import annotations

import gzip
import io
import json
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

import requests
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from faultserver import FaultServer, Respond, html, text

NO_FILE = Respond(404, b"not found")
OPEN_ROBOTS = "User-agent: *\nAllow: /\n"
AI_ROBOTS = "User-agent: CCBot\nDisallow: /\n\nUser-agent: *\nAllow: /\n"


@dataclass
class Page:
    """One page of a site and what each kind of record of it must come to."""

    site: str
    path: str
    #: the signal that removes it when the record is a bare URL (None: kept)
    url_only: str | None
    #: the signal that removes it when the record carries headers and body
    full: str | None
    headers: tuple[tuple[str, str], ...] = ()
    head: str = ""
    n: int = 0

    @property
    def marker(self) -> str:
        return f"SECRET-{self.n:03d}"


@dataclass
class Sites:
    servers: dict[str, FaultServer]
    pages: list[Page] = field(default_factory=list)

    def url(self, page: Page) -> str:
        return self.servers[page.site].url(page.path)

    def ident(self, page: Page) -> str:
        return f"doc-{page.n:03d}"

    def text(self, page: Page, *, full: bool) -> str:
        removed = page.full if full else page.url_only
        return f"text of {page.path}" + (f" {page.marker}" if removed else "")

    def expected_removed(self, *, full: bool) -> dict[str, str]:
        return {
            self.ident(p): signal
            for p in self.pages
            if (signal := (p.full if full else p.url_only)) is not None
        }

    def idents(self) -> set[str]:
        return {self.ident(p) for p in self.pages}


PAGES = [
    Page("open", "/a.html", None, None),
    Page("open", "/b.html", None, None),
    Page("robots", "/any.html", "robots.txt", "robots.txt"),
    Page("robots", "/other.html", "robots.txt", "robots.txt"),
    Page("aitxt", "/gallery.html", "ai.txt", "ai.txt"),
    Page("tdm", "/books/one.html", "tdmrep", "tdmrep"),
    # A page that lifts the file's reservation: only its own record can say so.
    Page(
        "tdm",
        "/books/lifted.html",
        "tdmrep",
        None,
        head='<meta name="tdm-reservation" content="0">',
    ),
    Page("tdm", "/free/two.html", None, None),
    Page("pages", "/noai.html", None, "noai", headers=(("X-Robots-Tag", "noai"),)),
    Page("pages", "/meta.html", None, "tdmrep", head='<meta name="tdm-reservation" content="1">'),
    Page("pages", "/plain.html", None, None),
    Page("down", "/page.html", "robots.txt", "robots.txt"),
    Page("change", "/story.html", None, None),
    Page("change", "/story2.html", None, None),
]


@contextmanager
def running_sites() -> Iterator[Sites]:
    """Start one loopback origin per site; stop them all at the end."""
    servers = {
        name: FaultServer(name=name)
        for name in ("open", "robots", "aitxt", "tdm", "pages", "down", "change")
    }
    policies = {
        "open": {"/robots.txt": text(OPEN_ROBOTS)},
        "robots": {"/robots.txt": text(AI_ROBOTS)},
        "aitxt": {
            "/robots.txt": text(OPEN_ROBOTS),
            "/ai.txt": text("User-Agent: *\nDisallow: /\n"),
        },
        "tdm": {
            "/robots.txt": text(OPEN_ROBOTS),
            "/.well-known/tdmrep.json": text(
                '[{"location": "/books/", "tdm-reservation": 1}]',
                content_type="application/json",
            ),
        },
        "pages": {"/robots.txt": text(OPEN_ROBOTS)},
        "down": {"/robots.txt": Respond(503, b"busy")},
        "change": {"/robots.txt": text(OPEN_ROBOTS)},
    }
    sites = Sites(servers)
    for n, page in enumerate(PAGES):
        page = Page(**{**page.__dict__, "n": n})
        sites.pages.append(page)
        server = servers[page.site]
        marker = f" {page.marker}" if page.full else ""
        body = html(f"body of {page.path}{marker}", head_extra=page.head)
        server.route(page.path, Respond(200, body.body, (*body.headers, *page.headers)))
    for name, routes in policies.items():
        for path, fault in routes.items():
            servers[name].route(path, fault)
    for server in servers.values():
        server.start()
    try:
        yield sites
    finally:
        for server in servers.values():
            server.stop()


def reserve_change_site(sites: Sites) -> None:
    """The owner of the ``change`` site objects from now on (robots.txt, for CCBot)."""
    sites.servers["change"].route("/robots.txt", text(AI_ROBOTS))
    for page in sites.pages:
        if page.site == "change":
            page.url_only = page.full = "robots.txt"


def write_jsonl(sites: Sites, path: Path, *, full: bool = False, nested: bool = False) -> Path:
    """One JSON Lines record per page (gzip when *path* ends in .gz)."""
    lines = []
    for page in sites.pages:
        record: dict[str, object] = {"id": sites.ident(page), "text": sites.text(page, full=full)}
        if nested:
            record["metadata"] = {"url": sites.url(page), "lang": "en"}
        else:
            record["url"] = sites.url(page)
        if full:
            answer = requests.get(sites.url(page), timeout=10)
            record["headers"] = dict(answer.headers)
            record["html"] = answer.text
        lines.append(json.dumps(record))
    data = ("\n".join(lines) + "\n").encode()
    path.write_bytes(gzip.compress(data) if path.name.endswith(".gz") else data)
    return path


def write_parquet(sites: Sites, path: Path) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table(
        {
            "id": [sites.ident(p) for p in sites.pages],
            "text": [sites.text(p, full=False) for p in sites.pages],
            "metadata": [{"url": sites.url(p), "lang": "en"} for p in sites.pages],
        }
    )
    pq.write_table(table, path)
    return path


def write_warc(sites: Sites, path: Path) -> Path:
    """A WARC of the sites' answers: warcinfo, then request, response, conversion per page."""
    gz = path.name.endswith(".gz")
    with path.open("wb") as out:
        writer = WARCWriter(out, gzip=gz)
        writer.write_record(writer.create_warcinfo_record(path.name, {"software": "tests"}))
        for page in sites.pages:
            url = sites.url(page)
            answer = requests.get(url, timeout=10, stream=True)
            body = answer.raw.read()
            status = StatusAndHeaders(
                f"{answer.status_code} {answer.reason}",
                list(answer.raw.headers.items()),
                protocol="HTTP/1.1",
            )
            response = writer.create_warc_record(
                url,
                "response",
                payload=io.BytesIO(body),
                http_headers=status,
                warc_headers_dict={
                    "WARC-Record-ID": f"<urn:uuid:{page.n:08d}-0000-0000-0000-000000000000>"
                },
            )
            request = writer.create_warc_record(
                url,
                "request",
                payload=io.BytesIO(b""),
                http_headers=StatusAndHeaders(
                    f"GET {page.path} HTTP/1.1", [("Host", "127.0.0.1")], protocol="HTTP/1.1"
                ),
            )
            request.rec_headers.add_header(
                "WARC-Concurrent-To", response.rec_headers.get_header("WARC-Record-ID")
            )
            conversion = writer.create_warc_record(
                url,
                "conversion",
                payload=io.BytesIO(sites.text(page, full=True).encode()),
                warc_content_type="text/plain",
            )
            conversion.rec_headers.add_header(
                "WARC-Refers-To", response.rec_headers.get_header("WARC-Record-ID")
            )
            writer.write_record(request)
            writer.write_record(response)
            writer.write_record(conversion)
    return path


def scan_for_markers(folder: Path, markers: set[str]) -> list[tuple[str, str]]:
    """Every (file, marker) where a marker occurs in a file under *folder*, decompressed too."""
    found = []
    for file in folder.rglob("*"):
        if not file.is_file():
            continue
        data = file.read_bytes()
        views = [data]
        if data[:2] == b"\x1f\x8b":
            with suppress(OSError, EOFError):
                views.append(gzip.decompress(data))
        if data[:4] == b"PAR1":  # column pages may be compressed: read the values
            import pyarrow.parquet as pq

            views.append(json.dumps(pq.read_table(file).to_pylist(), default=str).encode())
        for marker in markers:
            if any(marker.encode() in view for view in views):
                found.append((str(file), marker))
    return found
