"""A loopback HTTP server that misbehaves on purpose, for the fault tests.

Each :class:`FaultServer` is one origin, ``http://127.0.0.1:PORT``, bound to
``("127.0.0.1", 0)`` so that the operating system picks the port and nothing
races for it. Every path is answered by a *fault*: an object whose ``serve``
method gets the raw connection and may do anything with it, so a test can
make a server answer properly, answer wrongly, answer slowly, never answer,
or drop the connection mid-way. Paths without a route answer ``404``.

The server speaks just enough HTTP/1.1 for a client: it reads one request
head, answers it and closes the connection (``Connection: close``), so there
is no keep-alive state to get wrong. Requests are recorded before they are
answered (:meth:`FaultServer.hits`).

A real *connect* timeout needs a server that never completes the TCP
handshake. :class:`FullBacklog` gets one on loopback without touching the
network: a listening socket with a backlog of zero whose single accept-queue
place is taken by a connection that is never accepted. Linux then drops
every further SYN, so a client's ``connect()`` hangs until its own timeout,
exactly as with an unreachable host. On a system where the probe still
connects, :meth:`FullBacklog.times_out` is false and the tests fall back on
:class:`Silence` (accept, then never answer), the nearest thing.
"""

from __future__ import annotations

import contextlib
import gzip
import random
import socket
import struct
import threading
import time
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from types import TracebackType
from typing import Protocol, Self

Headers = Sequence[tuple[str, str]]

_REASONS = {
    200: "OK",
    204: "No Content",
    301: "Moved Permanently",
    302: "Found",
    303: "See Other",
    307: "Temporary Redirect",
    308: "Permanent Redirect",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    410: "Gone",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
}
_MAX_HEAD = 64 * 1024
_MiB = 1024 * 1024


class Fault(Protocol):
    def serve(self, conn: Connection) -> None: ...


@dataclass
class Connection:
    """One accepted connection and the request read from it."""

    sock: socket.socket
    server: FaultServer
    method: str
    target: str
    headers: dict[str, str]

    @property
    def path(self) -> str:
        return self.target.split("?", 1)[0]

    def send(self, data: bytes) -> bool:
        """Send *data*; false when the client has gone."""
        try:
            self.sock.sendall(data)
        except OSError:
            return False
        return True

    def wait(self, seconds: float) -> bool:
        """Sleep up to *seconds*; true when the server is stopping meanwhile."""
        return self.server.stopping.wait(seconds)


def head(status: int, headers: Headers = (), *, length: int | None = None) -> bytes:
    """A response status line and header block; repeated names are kept."""
    lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}"]
    lines += [f"{name}: {value}" for name, value in headers]
    if length is not None:
        lines.append(f"Content-Length: {length}")
    lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


# -- faults -----------------------------------------------------------------------------


@dataclass
class Respond:
    """A complete, well-formed response (whatever its status and body say)."""

    status: int = 200
    body: bytes = b""
    headers: Headers = (("Content-Type", "text/plain; charset=utf-8"),)

    def serve(self, conn: Connection) -> None:
        conn.send(head(self.status, self.headers, length=len(self.body)) + self.body)


def html(
    body: str = "", *, status: int = 200, head_extra: str = "", title: str = "page"
) -> Respond:
    """An HTML page, UTF-8, with *head_extra* inside ``<head>``."""
    text = (
        f"<!doctype html><html><head><title>{title}</title>{head_extra}</head>"
        f"<body><p>{body or title}</p></body></html>"
    )
    return Respond(status, text.encode(), (("Content-Type", "text/html; charset=utf-8"),))


def text(body: str | bytes, *, status: int = 200, content_type: str = "text/plain") -> Respond:
    data = body.encode() if isinstance(body, str) else body
    return Respond(status, data, (("Content-Type", content_type),))


@dataclass
class Redirect:
    """A redirect to *location*, which may be relative, on another origin, or not http."""

    location: str
    status: int = 302

    def serve(self, conn: Connection) -> None:
        conn.send(head(self.status, (("Location", self.location),), length=0))


@dataclass
class Chain:
    """``PREFIX/N`` redirects to ``PREFIX/N+1`` until ``PREFIX/hops``, which *final* answers.

    Route it under ``PREFIX`` with :meth:`FaultServer.route_prefix`. A chain of
    ``hops`` redirects ends at *final*; with ``loop=True`` the last hop points
    back at the first, so the chain never ends.
    """

    prefix: str
    hops: int
    final: Fault = field(default_factory=lambda: Respond(404))
    loop: bool = False

    def serve(self, conn: Connection) -> None:
        step = int(conn.path.rsplit("/", 1)[-1] or 0)
        if step >= self.hops and not self.loop:
            self.final.serve(conn)
            return
        following = (step + 1) % self.hops if self.loop else step + 1
        Redirect(f"{self.prefix}/{following}").serve(conn)


class InTurn:
    """Answers with each fault in turn, then with the last one for good."""

    def __init__(self, *faults: Fault) -> None:
        self._faults = list(faults)
        self._lock = threading.Lock()

    def serve(self, conn: Connection) -> None:
        with self._lock:
            fault = self._faults.pop(0) if len(self._faults) > 1 else self._faults[0]
        fault.serve(conn)


class Silence:
    """Read the request and never answer: a read timeout for the client."""

    def serve(self, conn: Connection) -> None:
        conn.wait(3600)


@dataclass
class Drip:
    """Send the response head at once, then the body *chunk* bytes every *interval* s.

    With ``drip_head=True`` the head itself is dripped too.
    """

    body: bytes
    headers: Headers = (("Content-Type", "text/plain; charset=utf-8"),)
    status: int = 200
    chunk: int = 1
    interval: float = 0.5
    drip_head: bool = False

    def serve(self, conn: Connection) -> None:
        start = head(self.status, self.headers, length=len(self.body))
        payload = self.body
        if self.drip_head:
            payload = start + payload
        elif not conn.send(start):
            return
        for offset in range(0, len(payload), self.chunk):
            if not conn.send(payload[offset : offset + self.chunk]):
                return
            if conn.wait(self.interval):
                return


@dataclass
class Reset:
    """Abort the connection with a TCP reset, after sending *partial* (maybe nothing)."""

    partial: bytes = b""

    def serve(self, conn: Connection) -> None:
        if self.partial:
            conn.send(self.partial)
            time.sleep(0.05)
        conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        conn.sock.close()


@dataclass
class StreamedBomb:
    """A compressed body generated on the fly, expanding to *size* bytes.

    The decompressed body is *prefix* followed by zeros (or *filler*). With
    gzip it is sent as a chain of gzip members (RFC 1952 §2.2 allows any
    number): *prefix*, then one 1 MiB member of filler, compressed once and
    sent again and again, so a gigabyte costs about a megabyte on the wire and
    nothing to produce. With deflate one zlib stream is compressed 1 MiB of
    input at a time. Either way the server never holds more than 1 MiB of
    it. The body is close-delimited (no ``Content-Length``), as a streaming
    server sends it.
    """

    prefix: bytes
    size: int = 1024 * _MiB
    encoding: str = "gzip"
    content_type: str = "text/plain"
    filler: bytes = b"\0"

    def serve(self, conn: Connection) -> None:
        headers = (("Content-Type", self.content_type), ("Content-Encoding", self.encoding))
        if not conn.send(head(200, headers)):
            return
        block = self.filler * (_MiB // len(self.filler))
        produced = len(self.prefix)
        if self.encoding == "gzip":
            member = gzip_body(block)
            if not conn.send(gzip_body(self.prefix)):
                return
            while produced < self.size and not conn.server.stopping.is_set():
                if not conn.send(member):
                    return
                produced += len(block)
            return
        compressor = zlib.compressobj(9, zlib.DEFLATED, 15)
        if not conn.send(compressor.compress(self.prefix)):
            return
        while produced < self.size and not conn.server.stopping.is_set():
            data = compressor.compress(block)
            produced += len(block)
            if data and not conn.send(data):
                return
        conn.send(compressor.flush())


@dataclass
class Custom:
    """Whatever *handler* does with the connection."""

    handler: Callable[[Connection], None]

    def serve(self, conn: Connection) -> None:
        self.handler(conn)


# -- bodies -----------------------------------------------------------------------------


def gzip_body(data: bytes) -> bytes:
    return gzip.compress(data, compresslevel=9, mtime=0)


def deflate_body(data: bytes) -> bytes:
    """``Content-Encoding: deflate`` as HTTP means it: a zlib stream."""
    return zlib.compress(data, 9)


def compressed(data: bytes, encoding: str, content_type: str = "text/plain") -> Respond:
    body = gzip_body(data) if encoding == "gzip" else deflate_body(data)
    return Respond(200, body, (("Content-Type", content_type), ("Content-Encoding", encoding)))


@cache
def garbage(size: int = 4096, seed: int = 9309) -> bytes:
    """Random bytes, the same on every call."""
    return random.Random(seed).randbytes(size)


@cache
def padded(prefix: bytes, size: int, filler: bytes = b" ") -> bytes:
    """*prefix* followed by *filler* up to *size* bytes."""
    return prefix + filler * ((size - len(prefix)) // len(filler))


def big_robots(early: str, late: str, size: int = 10 * _MiB, late_at: int = 600 * 1024) -> bytes:
    """A robots.txt of *size* bytes: the *early* lines first, *late* after *late_at* bytes.

    The padding is comment lines, so every line is well-formed.
    """
    out = bytearray(early.encode())
    comment = b"# " + b"x" * 77 + b"\n"
    while len(out) < late_at:
        out += comment
    out += late.encode()
    while len(out) < size:
        out += comment
    return bytes(out[:size])


# -- servers ----------------------------------------------------------------------------


class FaultServer:
    """One loopback origin whose paths each answer with a :class:`Fault`."""

    def __init__(self, routes: Mapping[str, Fault] | None = None, name: str = "") -> None:
        self.name = name
        self.routes: dict[str, Fault] = dict(routes or {})
        self.prefixes: dict[str, Fault] = {}
        #: What answers a path without a route.
        self.fallback: Fault = Respond(404, b"not found")
        self.stopping = threading.Event()
        self._hits: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._conns: set[socket.socket] = set()
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(128)
        self._sock.settimeout(0.2)
        self.port: int = self._sock.getsockname()[1]
        self._thread = threading.Thread(target=self._accept_loop, daemon=True)

    # -- set-up --------------------------------------------------------------------

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        return self.origin + path

    def route(self, path: str, fault: Fault) -> Self:
        self.routes[path] = fault
        return self

    def route_prefix(self, prefix: str, fault: Fault) -> Self:
        """Answer every path under ``prefix/`` with *fault*."""
        self.prefixes[prefix.rstrip("/") + "/"] = fault
        return self

    def hits(self, path: str) -> int:
        with self._lock:
            return self._hits[path]

    def start(self) -> Self:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        self._thread.join(5)
        self._sock.close()
        with self._lock:
            conns = list(self._conns)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- serving -------------------------------------------------------------------

    def _accept_loop(self) -> None:
        while not self.stopping.is_set():
            try:
                sock, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._handle, args=(sock,), daemon=True).start()

    def _handle(self, sock: socket.socket) -> None:
        with self._lock:
            self._conns.add(sock)
        try:
            request = self._read_request(sock)
            if request is None:
                return
            fault = self._fault_for(request.path)
            with self._lock:
                self._hits[request.path] += 1
            fault.serve(request)
        except OSError:
            pass
        finally:
            with self._lock:
                self._conns.discard(sock)
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_WR)
            with contextlib.suppress(OSError):
                sock.close()

    def _fault_for(self, path: str) -> Fault:
        fault = self.routes.get(path)
        if fault is not None:
            return fault
        for prefix, handler in self.prefixes.items():
            if path.startswith(prefix):
                return handler
        return self.fallback

    def _read_request(self, sock: socket.socket) -> Connection | None:
        sock.settimeout(10)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(4096)
            if not chunk or len(data) > _MAX_HEAD:
                return None
            data += chunk
        sock.settimeout(None)
        lines = data.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
        parts = lines[0].split(" ")
        if len(parts) != 3:
            return None
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        return Connection(sock, self, parts[0], parts[1], headers)


class FullBacklog:
    """A listening address whose TCP handshakes never complete: a connect timeout.

    The socket listens with a backlog of zero and is never accepted from; one
    connection made here fills its accept queue. Linux then drops incoming
    SYNs, so clients hang in ``connect()`` until their own timeout.
    """

    def __init__(self) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(0)
        self.port: int = self._sock.getsockname()[1]
        self._fillers: list[socket.socket] = []
        # Each probe that connects stays in the accept queue; once it is full,
        # the next probe times out.
        for _ in range(8):
            if self.times_out():
                break

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        return self.origin + path

    def times_out(self) -> bool:
        """Whether a new connection to this address fails to complete quickly."""
        probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        probe.settimeout(0.3)
        try:
            probe.connect(("127.0.0.1", self.port))
        except TimeoutError:
            probe.close()
            return True
        except OSError:
            probe.close()
            return False
        self._fillers.append(probe)  # it waits in the accept queue now: keep it there
        return False

    def close(self) -> None:
        for sock in [*self._fillers, self._sock]:
            sock.close()


def start_all(servers: Iterable[FaultServer]) -> list[FaultServer]:
    return [server.start() for server in servers]
