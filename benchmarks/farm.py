"""A fast loopback farm of many origins, for the benchmarks.

One process, one asyncio event loop, one listening socket per origin. Every
response is built once, before the first connection, and written with a single
``transport.write``; requests are parsed just enough to find the path. The
crawler under test runs in another process, so the two never share a GIL, and
:func:`cpu_seconds` lets the driver check that the server stayed far from
saturating its core.

Each origin serves the same small site:

* ``/`` and ``/p/1`` ... ``/p/{pages-1}``: ~2 KB HTML pages. Page ``k`` links
  to its children ``4k+1 .. 4k+4`` (a 4-ary tree, so 21 pages are exactly two
  levels under the home page and the crawl frontier widens fast), to its parent
  and to the home page (duplicates the dupe filter drops, as on real sites);
* ``/robots.txt``: everything allowed to everyone, plus a few groups for AI
  crawlers that disallow only ``/private/`` (which no page links to), so the
  add-on evaluates its whole agent catalogue and finds no reservation;
* ``/ai.txt`` and ``/.well-known/tdmrep.json``: 404 (``--aitxt`` serves a
  small ai.txt that allows everything instead).

Two ways to lay out origins (``--layout``):

* ``ports`` (default): ``http://127.0.0.1:PORT`` with one port per origin. All
  origins share one host name, hence one Scrapy download slot
  (``CONCURRENT_REQUESTS_PER_DOMAIN`` bounds the whole crawl);
* ``hosts``: ``http://127.0.0.N:PORT`` with one loopback address per origin
  and one port, so each origin gets its own download slot, as real sites do.

``--latency`` delays every answer, to stand for the network between a
crawler and real sites (the survey benchmark uses it).

Run ``python -m benchmarks.farm --origins 200 --pages 21``; it prints one JSON
line ``{"origins": [...], "pid": ...}`` when it is listening and serves until
its standard input closes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import sys
from collections.abc import Sequence

ROBOTS_TXT = b"""# Benchmark farm: nothing here is reserved.
User-agent: *
Disallow: /private/
Allow: /

User-agent: GPTBot
Disallow: /private/

User-agent: CCBot
User-agent: Google-Extended
Disallow: /private/
Disallow: /tmp/

User-agent: ClaudeBot
Allow: /
Disallow: /private/drafts/

Sitemap: /sitemap.xml
"""

AI_TXT = b"""# Spawning ai.txt: everything may be used.
User-Agent: *
Allow: /
"""

_FILLER = (
    "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor "
    "incididunt ut labore et dolore magna aliqua. Ut enim ad minim veniam, quis nostrud "
    "exercitation ullamco laboris nisi ut aliquip ex ea commodo consequat. "
)


def page_html(index: int, pages: int) -> bytes:
    """The HTML of page *index* of a site of *pages* pages (about 2 KB)."""
    path = "/" if index == 0 else f"/p/{index}"
    parent = (index - 1) // 4
    links = ['<a href="/">Home</a>']
    if index:
        links.append(f'<a href="{"/" if parent == 0 else f"/p/{parent}"}">Up</a>')
    children = [
        f'<li><a href="/p/{child}">Page {child}</a></li>'
        for child in range(4 * index + 1, 4 * index + 5)
        if child < pages
    ]
    body = "\n".join(f"<p>{_FILLER}</p>" for _ in range(6))
    html = f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Page {index}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="description" content="Benchmark page {index} at {path}">
<link rel="stylesheet" href="/style.css">
</head>
<body>
<nav>{" | ".join(links)}</nav>
<h1>Page {index}</h1>
{body}
<ul>
{chr(10).join(children)}
</ul>
<footer>Benchmark farm</footer>
</body>
</html>
"""
    return html.encode()


def _response(status: int, reason: str, content_type: str, body: bytes) -> bytes:
    head = (
        f"HTTP/1.1 {status} {reason}\r\n"
        f"Content-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Server: bench-farm\r\n"
        "\r\n"
    )
    return head.encode("latin-1") + body


def build_responses(pages: int, *, aitxt: bool = False) -> dict[bytes, bytes]:
    """Every response the farm sends, keyed by request path."""
    html = "text/html; charset=utf-8"
    table: dict[bytes, bytes] = {b"/": _response(200, "OK", html, page_html(0, pages))}
    for index in range(1, pages):
        table[f"/p/{index}".encode()] = _response(200, "OK", html, page_html(index, pages))
    table[b"/robots.txt"] = _response(200, "OK", "text/plain", ROBOTS_TXT)
    if aitxt:
        table[b"/ai.txt"] = _response(200, "OK", "text/plain", AI_TXT)
    return table


NOT_FOUND = _response(404, "Not Found", "text/html", b"<html><body>Not found</body></html>")


#: Connections accepted and requests answered since the farm started (and of
#: those, requests for policy files), served as JSON at STATS_PATH (on every
#: origin) for the benchmark driver.
COUNTERS = {"connections": 0, "requests": 0, "policy_requests": 0}
POLICY_PATHS = frozenset({b"/robots.txt", b"/ai.txt", b"/.well-known/tdmrep.json"})
STATS_PATH = b"/__farm_stats"


class _HttpProtocol(asyncio.Protocol):
    """HTTP/1.1 with keep-alive; GET and HEAD, no request bodies."""

    __slots__ = ("buffer", "latency", "table", "transport")

    def __init__(self, table: dict[bytes, bytes], latency: float = 0.0) -> None:
        self.table = table
        self.latency = latency
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        COUNTERS["connections"] += 1

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer + data if self.buffer else data
        out = []
        close = False
        while True:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                break
            head = buffer[:end]
            buffer = buffer[end + 4 :]
            line_end = head.find(b"\r\n")
            first = head if line_end < 0 else head[:line_end]
            parts = first.split(b" ")
            target = parts[1] if len(parts) > 2 else b"/"
            path = target.split(b"?", 1)[0]
            response = self.table.get(path)
            if response is None:
                if path == STATS_PATH:
                    body = json.dumps(COUNTERS).encode()
                    response = _response(200, "OK", "application/json", body)
                else:
                    response = NOT_FOUND
            COUNTERS["requests"] += 1
            if path in POLICY_PATHS:
                COUNTERS["policy_requests"] += 1
            if parts[0] == b"HEAD":
                response = response[: response.find(b"\r\n\r\n") + 4]
            out.append(response)
            lower = head.lower()
            if b"connection: close" in lower or parts[-1] == b"HTTP/1.0":
                close = True
                break
        self.buffer = buffer
        if out and self.transport is not None:
            data = b"".join(out) if len(out) > 1 else out[0]
            if self.latency:
                asyncio.get_running_loop().call_later(self.latency, self._send, data, close)
            else:
                self._send(data, close)

    def _send(self, data: bytes, close: bool) -> None:
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        transport.write(data)
        if close:
            transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None


def _listen(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(1024)
    sock.setblocking(False)
    return sock


def open_sockets(origins: int, layout: str) -> tuple[list[socket.socket], list[str]]:
    """Bind one listening socket per origin; return them and their base URLs."""
    sockets: list[socket.socket] = []
    if layout == "ports":
        for _ in range(origins):
            sockets.append(_listen("127.0.0.1", 0))
        urls = [f"http://127.0.0.1:{s.getsockname()[1]}" for s in sockets]
        return sockets, urls
    if layout != "hosts":
        raise ValueError(f"unknown layout {layout!r}")
    if origins > 250 * 250:
        raise ValueError("too many origins for the hosts layout")
    # One port, free on the first address, reused on 127.0.0.2, 127.0.0.3, ...
    for _attempt in range(20):
        first = _listen("127.0.0.2", 0)
        port = first.getsockname()[1]
        first.close()
        try:
            for index in range(origins):
                host = f"127.0.{index // 250}.{2 + index % 250}"
                sockets.append(_listen(host, port))
        except OSError:
            for s in sockets:
                s.close()
            sockets = []
            continue
        urls = [f"http://{s.getsockname()[0]}:{port}" for s in sockets]
        return sockets, urls
    raise OSError("could not find a port free on every loopback address")


async def serve(
    origins: int,
    pages: int,
    *,
    layout: str = "ports",
    aitxt: bool = False,
    latency: float = 0.0,
) -> None:
    table = build_responses(pages, aitxt=aitxt)
    sockets, urls = open_sockets(origins, layout)
    loop = asyncio.get_running_loop()
    servers = [
        await loop.create_server(lambda: _HttpProtocol(table, latency), sock=sock, backlog=1024)
        for sock in sockets
    ]
    print(json.dumps({"origins": urls, "pid": os.getpid()}), flush=True)
    # Serve until the parent closes our standard input.
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while await reader.read(4096):
        pass
    for server in servers:
        server.close()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.farm", description=__doc__)
    parser.add_argument("--origins", type=int, default=200)
    parser.add_argument("--pages", type=int, default=21)
    parser.add_argument("--layout", choices=["ports", "hosts"], default="ports")
    parser.add_argument("--aitxt", action="store_true", help="serve an ai.txt instead of 404")
    parser.add_argument(
        "--latency", type=float, default=0.0, help="seconds before each answer (network delay)"
    )
    args = parser.parse_args(argv)
    asyncio.run(
        serve(args.origins, args.pages, layout=args.layout, aitxt=args.aitxt, latency=args.latency)
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
