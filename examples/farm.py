"""A loopback site farm: one HTTP origin per scenario folder.

The farm serves the scenario sites under ``fixtures/sites`` (or any folder laid
out the same way) so that tests, the demo and people trying the package can run
real crawls without touching the internet. Each scenario is a folder holding the
files of one small web site and a ``manifest.json`` that describes what the
files alone cannot: extra response headers, status codes, redirects, delays and
the verdicts a correct evaluator must reach for each page.

Every scenario gets its own :class:`http.server.ThreadingHTTPServer`, bound to
``("127.0.0.1", 0)`` so the operating system picks a free port, and therefore
its own origin (``http://127.0.0.1:PORT``): robots.txt, ai.txt and tdmrep.json
are per origin, so scenarios never see each other's policy files.

>>> with SiteFarm("fixtures/sites", ["open"]) as farm:  # doctest: +SKIP
...     farm.url("open", "/robots.txt")
'http://127.0.0.1:41234/robots.txt'

Run ``python -m examples.farm fixtures/sites`` to serve the farm by hand;
the manifest format is documented in ``fixtures/sites/README.md``.
"""

from __future__ import annotations

import argparse
import contextlib
import fnmatch
import gzip
import json
import re
import socket
import socketserver
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, NoReturn, Self, cast
from urllib.parse import unquote, urlsplit

from scrapy_optout.exceptions import ConfigurationError
from scrapy_optout.verdict import Purpose, Signal

__all__ = [
    "MANIFEST_NAME",
    "PRODUCT_TOKEN",
    "USER_AGENT",
    "Expectations",
    "Expected",
    "HeaderRule",
    "Manifest",
    "RecordedRequest",
    "ResponseSpec",
    "SiteFarm",
    "load_manifest",
    "load_manifests",
    "main",
]

#: The User-Agent every test crawler sends to the farm. Its product token,
#: :data:`PRODUCT_TOKEN`, is the one the scenarios' robots.txt groups address.
USER_AGENT = "optout-test/1.0 (+https://example.invalid/bot)"
PRODUCT_TOKEN = "optout-test"
MANIFEST_NAME = "manifest.json"

VERDICTS = ("reserved", "allowed")
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_MAX_DELAY = 60.0
_SCENARIO_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*\Z")
_TEMPLATE = re.compile(r"\{origin(?::([A-Za-z0-9][A-Za-z0-9._-]*))?\}")
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1?[0-9]?[0-9])"
_LOOPBACK = re.compile(rf"127(?:\.{_OCTET}){{3}}\Z")
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+\Z")
_FIXED_HEADERS = frozenset({"content-length", "content-encoding", "transfer-encoding"})

# A fixed table keeps Content-Type independent of the host's mime.types file.
_CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".htm": "text/html; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
    ".md": "text/markdown; charset=utf-8",
    ".json": "application/json",
    ".jsonld": "application/ld+json",
    ".xml": "application/xml",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".png": "image/png",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".svg": "image/svg+xml",
    ".pdf": "application/pdf",
    ".epub": "application/epub+zip",
}
_DEFAULT_CONTENT_TYPE = "application/octet-stream"

_Headers = tuple[tuple[str, str], ...]


# ---------------------------------------------------------------------------
# Manifest model
# ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HeaderRule:
    """Extra response headers for every path matching a glob.

    ``pattern`` is matched with :func:`fnmatch.fnmatchcase` against the
    request path (without the query), so ``*`` also crosses ``/``.
    """

    pattern: str
    headers: _Headers

    def matches(self, path: str) -> bool:
        return fnmatch.fnmatchcase(path, self.pattern)


@dataclass(frozen=True, slots=True)
class ResponseSpec:
    """How to answer one exact path, overriding the plain file response.

    ``status`` is ``None`` when the manifest leaves it to the file: 200 if the
    file exists, else 404. ``body`` (inline text) and ``body_file`` (a file of
    the scenario folder) replace the file at the request path.
    """

    status: int | None = None
    location: str | None = None
    delay: float = 0.0
    body: str | None = None
    body_file: str | None = None
    headers: _Headers = ()
    gzip: bool = False
    template: bool = False


@dataclass(frozen=True, slots=True)
class Expected:
    """The verdicts a correct evaluator reaches for one URL.

    ``verdicts`` maps purposes to ``"reserved"`` or ``"allowed"``; purposes
    left out have no agreed answer for this scenario. ``signal`` names the
    signal that must appear among the reasons of every reserved purpose.
    ``from_page`` (images only) names the page whose own markup reserves the
    image: the image URL checked on its own carries no reservation.
    """

    verdicts: Mapping[Purpose, str]
    signal: Signal | None = None
    from_page: str | None = None
    note: str = ""

    def reserved(self, purpose: Purpose | str) -> bool | None:
        """True or False when the purpose is expected, else None."""
        verdict = self.verdicts.get(Purpose(purpose))
        return None if verdict is None else verdict == "reserved"


@dataclass(frozen=True, slots=True)
class Expectations:
    """The ``expect`` section of a manifest."""

    user_agent: str = USER_AGENT
    urls: Mapping[str, Expected] = field(default_factory=dict)
    images: Mapping[str, Expected] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Manifest:
    """A scenario's ``manifest.json``, validated."""

    name: str
    folder: Path
    description: str
    headers: tuple[HeaderRule, ...] = ()
    responses: Mapping[str, ResponseSpec] = field(default_factory=dict)
    expect: Expectations = field(default_factory=Expectations)
    links: bool = True
    notes: tuple[str, ...] = ()
    #: The loopback address the scenario is served on (its host).
    address: str = "127.0.0.1"
    #: The opt-out registry template the expectations assume is loaded
    #: (``OPTOUT_REGISTRY``, ``--registry``), or ``None``.
    registry: Path | None = None

    def references(self) -> frozenset[str]:
        """Names of the other scenarios that ``{origin:NAME}`` templates use."""
        texts: list[str] = []
        for rule in self.headers:
            texts.extend(value for _, value in rule.headers)
        for path, spec in self.responses.items():
            texts.extend(value for _, value in spec.headers)
            texts.extend(t for t in (spec.location, spec.body) if t is not None)
            if spec.template:
                texts.append(_read_text(self.folder / (spec.body_file or path.lstrip("/"))))
        texts.extend(self.expect.images)
        if self.registry is not None:
            texts.append(_read_text(self.registry))
        names = {m.group(1) for t in texts for m in _TEMPLATE.finditer(t) if m.group(1)}
        names.discard(self.name)
        return frozenset(names)


def load_manifest(folder: str | Path) -> Manifest:
    """Read and validate ``folder/manifest.json``.

    Raises :class:`~scrapy_optout.exceptions.ConfigurationError` naming the file
    and the offending key when the manifest does not follow the format.
    """
    folder = Path(folder)
    path = folder / MANIFEST_NAME
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigurationError(f"{path}: cannot read: {exc}") from exc
    except ValueError as exc:
        raise ConfigurationError(f"{path}: not valid JSON: {exc}") from exc
    return _ManifestReader(path, folder).read(data)


def load_manifests(root: str | Path) -> dict[str, Manifest]:
    """Every scenario under *root* (folders holding a manifest), by name."""
    return {name: load_manifest(folder) for name, folder in _discover(Path(root)).items()}


class _ManifestReader:
    """Validation of one manifest; every error names the file and the key."""

    def __init__(self, path: Path, folder: Path) -> None:
        self.path = path
        self.folder = folder

    def fail(self, where: str, message: str) -> ConfigurationError:
        return ConfigurationError(f"{self.path}: {where}: {message}")

    def read(self, data: Any) -> Manifest:
        obj = self.object(data, "manifest")
        self.keys(
            obj,
            "manifest",
            {
                "description",
                "notes",
                "headers",
                "responses",
                "expect",
                "links",
                "address",
                "registry",
            },
        )
        description = obj.get("description")
        if not isinstance(description, str) or not description.strip():
            raise self.fail("description", "a non-empty string is required")
        links = obj.get("links", True)
        if not isinstance(links, bool):
            raise self.fail("links", "must be true or false")
        headers = tuple(
            HeaderRule(
                self.url_path(pattern, "headers"), self.header_set(value, f"headers.{pattern}")
            )
            for pattern, value in self.object(obj.get("headers", {}), "headers").items()
        )
        responses = {
            self.url_path(p, "responses"): self.response(value, f"responses.{p}")
            for p, value in self.object(obj.get("responses", {}), "responses").items()
        }
        address = obj.get("address", "127.0.0.1")
        if not isinstance(address, str) or not _LOOPBACK.match(address):
            raise self.fail("address", "must be a loopback IPv4 address (127.x.y.z)")
        registry = obj.get("registry")
        if registry is not None:
            target = (self.folder / str(registry)).resolve() if isinstance(registry, str) else None
            if target is None or not target.is_file():
                raise self.fail("registry", f"{registry!r} is not a file")
            registry = target
        return Manifest(
            name=self.folder.name,
            folder=self.folder,
            description=description.strip(),
            headers=headers,
            responses=responses,
            expect=self.expectations(obj.get("expect", {})),
            links=links,
            notes=self.notes(obj.get("notes", ())),
            address=address,
            registry=registry,
        )

    # -- generic checks -----------------------------------------------------

    def object(self, value: Any, where: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(where, "must be a JSON object")
        return value

    def keys(self, obj: Mapping[str, Any], where: str, allowed: Iterable[str]) -> None:
        unknown = sorted(set(obj) - set(allowed))
        if unknown:
            raise self.fail(where, f"unknown key(s) {', '.join(unknown)}")

    def url_path(self, value: str, where: str) -> str:
        if not value.startswith("/"):
            raise self.fail(where, f"path {value!r} must start with '/'")
        return value

    def notes(self, value: Any) -> tuple[str, ...]:
        if isinstance(value, str):
            return (value,)
        if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
            return tuple(value)
        raise self.fail("notes", "must be a string or a list of strings")

    def header_set(self, value: Any, where: str) -> _Headers:
        lines: list[tuple[str, str]] = []
        for name, raw in self.object(value, where).items():
            if not _HEADER_NAME.match(name):
                raise self.fail(where, f"{name!r} is not a valid header name")
            if name.lower() in _FIXED_HEADERS:
                raise self.fail(where, f"{name} is computed by the farm and cannot be set")
            values = raw if isinstance(raw, list) else [raw]
            for item in values:
                if not isinstance(item, str) or "\r" in item or "\n" in item:
                    raise self.fail(f"{where}.{name}", "values must be single-line strings")
                lines.append((name, item))
        return tuple(lines)

    def local_file(self, value: Any, where: str) -> str:
        if not isinstance(value, str) or not value:
            raise self.fail(where, "must be a file path relative to the scenario folder")
        target = (self.folder / value).resolve()
        if not target.is_relative_to(self.folder.resolve()) or not target.is_file():
            raise self.fail(where, f"{value!r} is not a file inside the scenario folder")
        return value

    # -- sections -------------------------------------------------------------

    def response(self, value: Any, where: str) -> ResponseSpec:
        obj = self.object(value, where)
        self.keys(
            obj,
            where,
            {"status", "location", "delay", "body", "body_file", "headers", "gzip", "template"},
        )
        status = obj.get("status")
        if status is not None and (
            isinstance(status, bool) or not isinstance(status, int) or not 200 <= status <= 599
        ):
            raise self.fail(f"{where}.status", "must be an integer from 200 to 599")
        location = obj.get("location")
        if location is not None:
            if not isinstance(location, str) or not location:
                raise self.fail(f"{where}.location", "must be a non-empty string")
            if status not in _REDIRECT_STATUSES:
                raise self.fail(where, "location needs a redirect status (301, 302, 303, 307, 308)")
        elif status in _REDIRECT_STATUSES:
            raise self.fail(where, f"status {status} needs a location")
        delay = obj.get("delay", 0.0)
        if isinstance(delay, bool) or not isinstance(delay, int | float):
            raise self.fail(f"{where}.delay", "must be a number of seconds")
        if not 0 <= delay <= _MAX_DELAY:
            raise self.fail(f"{where}.delay", f"must be between 0 and {_MAX_DELAY:g} seconds")
        body = obj.get("body")
        if body is not None and not isinstance(body, str):
            raise self.fail(f"{where}.body", "must be a string")
        body_file = obj.get("body_file")
        if body_file is not None:
            if body is not None:
                raise self.fail(where, "body and body_file exclude each other")
            body_file = self.local_file(body_file, f"{where}.body_file")
        flags = {}
        for key in ("gzip", "template"):
            flags[key] = obj.get(key, False)
            if not isinstance(flags[key], bool):
                raise self.fail(f"{where}.{key}", "must be true or false")
        return ResponseSpec(
            status=status,
            location=location,
            delay=float(delay),
            body=body,
            body_file=body_file,
            headers=self.header_set(obj.get("headers", {}), f"{where}.headers"),
            gzip=flags["gzip"],
            template=flags["template"],
        )

    def expectations(self, value: Any) -> Expectations:
        obj = self.object(value, "expect")
        self.keys(obj, "expect", {"user_agent", "urls", "images"})
        user_agent = obj.get("user_agent", USER_AGENT)
        if not isinstance(user_agent, str) or not user_agent:
            raise self.fail("expect.user_agent", "must be a non-empty string")
        urls = {
            self.url_path(p, "expect.urls"): self.expected(v, f"expect.urls.{p}", image=False)
            for p, v in self.object(obj.get("urls", {}), "expect.urls").items()
        }
        images = {}
        for ref, v in self.object(obj.get("images", {}), "expect.images").items():
            if not (ref.startswith("/") or _TEMPLATE.match(ref)):
                raise self.fail("expect.images", f"{ref!r} must be a path or start with {{origin}}")
            images[ref] = self.expected(v, f"expect.images.{ref}", image=True)
        return Expectations(user_agent=user_agent, urls=urls, images=images)

    def expected(self, value: Any, where: str, *, image: bool) -> Expected:
        obj = self.object(value, where)
        purposes = {str(p) for p in Purpose}
        allowed_keys = purposes | {"signal", "note"} | ({"from_page"} if image else set())
        self.keys(obj, where, allowed_keys)
        verdicts: dict[Purpose, str] = {}
        for key in sorted(purposes & set(obj)):
            if obj[key] not in VERDICTS:
                raise self.fail(f"{where}.{key}", "must be 'reserved' or 'allowed'")
            verdicts[Purpose(key)] = obj[key]
        if not verdicts:
            raise self.fail(where, "expects no purpose")
        signal: Signal | None = None
        if "signal" in obj:
            try:
                signal = Signal(obj["signal"])
            except ValueError:
                names = ", ".join(str(s) for s in Signal)
                raise self.fail(f"{where}.signal", f"must be one of {names}") from None
        reserving = "reserved" in verdicts.values()
        if reserving and signal is None:
            raise self.fail(where, "a reserved purpose needs the signal that reserves it")
        if signal is not None and not reserving:
            raise self.fail(where, "signal given but nothing is reserved")
        from_page = obj.get("from_page")
        if from_page is not None and not (isinstance(from_page, str) and from_page.startswith("/")):
            raise self.fail(f"{where}.from_page", "must be a path starting with '/'")
        note = obj.get("note", "")
        if not isinstance(note, str):
            raise self.fail(f"{where}.note", "must be a string")
        return Expected(verdicts=verdicts, signal=signal, from_page=from_page, note=note)


def _read_text(path: Path) -> str:
    return path.read_text(encoding="utf-8", errors="replace") if path.is_file() else ""


def _discover(root: Path) -> dict[str, Path]:
    if not root.is_dir():
        raise ConfigurationError(f"{root}: not a directory")
    found = {}
    for folder in sorted(root.iterdir()):
        if folder.is_dir() and (folder / MANIFEST_NAME).is_file():
            if not _SCENARIO_NAME.match(folder.name):
                raise ConfigurationError(f"{folder}: not a usable scenario name")
            found[folder.name] = folder
    return found


# ---------------------------------------------------------------------------
# Serving
# ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """One request received by a scenario server.

    ``target`` is the request target as sent (path and query); ``path`` is
    its path alone, still percent-encoded; ``headers`` keeps every header line
    in the order received.
    """

    method: str
    target: str
    path: str
    headers: _Headers
    time: float

    def header(self, name: str) -> str | None:
        """The first value of header *name* (case-insensitive), or None."""
        values = self.header_list(name)
        return values[0] if values else None

    def header_list(self, name: str) -> list[str]:
        lowered = name.lower()
        return [value for key, value in self.headers if key.lower() == lowered]

    @property
    def user_agent(self) -> str | None:
        return self.header("User-Agent")


@dataclass(frozen=True, slots=True)
class _Reply:
    status: int
    headers: _Headers
    body: bytes
    delay: float = 0.0


class _Site:
    """Turns a request for one scenario into a reply; no sockets here."""

    def __init__(self, manifest: Manifest, farm: SiteFarm) -> None:
        self.manifest = manifest
        self.folder = manifest.folder.resolve()
        self.farm = farm

    def reply(self, path: str, accept_encoding: str) -> _Reply:
        name = self.manifest.name
        spec = self.manifest.responses.get(path, ResponseSpec())
        status = spec.status
        body: bytes | None = None
        served_as = path
        if spec.body is not None:
            body = self.farm.expand(name, spec.body).encode("utf-8")
        else:
            file = self._file(spec.body_file) if spec.body_file else self._file_for(path)
            if file is not None:
                body = file.read_bytes()
                served_as = file.name
                if spec.template:
                    # surrogateescape keeps any non-UTF-8 bytes as they were
                    text = body.decode("utf-8", "surrogateescape")
                    body = self.farm.expand(name, text).encode("utf-8", "surrogateescape")
        if status is None:
            status = 200 if body is not None else 404
        if body is None:
            body, served_as = self._status_page(status), "status.html"

        headers: list[tuple[str, str]] = [("Content-Type", _content_type(served_as))]
        if spec.location is not None:
            headers.append(("Location", self.farm.expand(name, spec.location)))
        extra = [h for rule in self.manifest.headers if rule.matches(path) for h in rule.headers]
        for key, value in [*extra, *spec.headers]:
            value = self.farm.expand(name, value)
            if key.lower() == "content-type":
                headers[0] = (key, value)
            else:
                headers.append((key, value))
        if spec.gzip:
            headers.append(("Vary", "Accept-Encoding"))
            if _accepts_gzip(accept_encoding):
                body = gzip.compress(body, mtime=0)
                headers.append(("Content-Encoding", "gzip"))
        return _Reply(status, tuple(headers), body, spec.delay)

    def _file(self, relative: str) -> Path | None:
        try:
            target = (self.folder / relative).resolve()
            if target.is_dir():
                target = target / "index.html"
            usable = target.is_file()
        except (OSError, ValueError):  # e.g. a NUL byte sent as %00
            return None
        if not usable or not target.is_relative_to(self.folder):
            return None
        return None if target == self.folder / MANIFEST_NAME else target

    def _file_for(self, path: str) -> Path | None:
        return self._file(path.lstrip("/") or "index.html")

    @staticmethod
    def _status_page(status: int) -> bytes:
        if status in (204, 304):
            return b""
        reason = BaseHTTPRequestHandler.responses.get(status, ("Unknown",))[0]
        return (
            f"<!DOCTYPE html>\n<html><head><title>{status} {reason}</title></head>"
            f"<body><h1>{status} {reason}</h1></body></html>\n"
        ).encode()


def _content_type(name: str) -> str:
    suffix = Path(name).suffix.lower()
    return _CONTENT_TYPES.get(suffix, _DEFAULT_CONTENT_TYPE)


def _accepts_gzip(accept_encoding: str) -> bool:
    for item in accept_encoding.split(","):
        coding, _, params = item.strip().partition(";")
        if coding.strip().lower() in ("gzip", "x-gzip", "*"):
            q = params.strip().lower()
            try:
                return not (q.startswith("q=") and float(q[2:]) == 0)
            except ValueError:
                return True
    return False


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # Keep-alive connections of a client that is still open must not make
    # stop() wait for their handler threads.
    block_on_close = False
    # The default listen backlog of 5 drops connections when a crawler opens
    # many at once, and each drop costs the client a one-second SYN retry.
    request_queue_size = 128

    def __init__(self, site: _Site) -> None:
        self.site = site
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__((site.manifest.address, 0), _Handler)

    def finish_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        try:
            super().finish_request(request, client_address)
        finally:
            with self._connections_lock:
                self._connections.discard(request)

    def close_connections(self) -> None:
        """End the keep-alive connections still open, so a stopped farm is silent."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def server_bind(self) -> None:
        # HTTPServer.server_bind asks for the host's FQDN, which can stall on a
        # host without DNS; the farm only ever serves 127.0.0.1.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            return  # the client went away; nothing to report
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "scrapy-optout-farm"
    sys_version = ""
    timeout = 30  # idle keep-alive connections end on their own
    # Headers and body go out in two writes; with Nagle's algorithm on, the
    # client's delayed ACK would add some 40 ms to every response.
    disable_nagle_algorithm = True

    def do_GET(self) -> None:
        self._answer(send_body=True)

    def do_HEAD(self) -> None:
        self._answer(send_body=False)

    def _not_allowed(self) -> None:
        self._record()
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        body = _Site._status_page(405)
        self.close_connection = True
        self.send_response(405)
        self.send_header("Allow", "GET, HEAD")
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _not_allowed

    def version_string(self) -> str:
        return self.server_version

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the farm is quiet; tests assert on recorded requests instead

    def _record(self) -> str:
        path = urlsplit(self.path).path or "/"
        site = cast(_Server, self.server).site
        site.farm._record(
            site.manifest.name,
            RecordedRequest(
                method=self.command,
                target=self.path,
                path=path,
                headers=tuple(self.headers.items()),
                time=time.time(),
            ),
        )
        return path

    def _answer(self, *, send_body: bool) -> None:
        path = self._record()
        site = cast(_Server, self.server).site
        reply = site.reply(unquote(path), self.headers.get("Accept-Encoding", ""))
        if reply.delay:
            time.sleep(reply.delay)
        try:
            self.send_response(reply.status)
            for key, value in reply.headers:
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(reply.body)))
            self.end_headers()
            if send_body:
                self.wfile.write(reply.body)
        except (ConnectionError, TimeoutError):
            self.close_connection = True


# ---------------------------------------------------------------------------
# The farm
# ---------------------------------------------------------------------------


class SiteFarm:
    """Serve scenario folders, one loopback origin each.

    *root* holds one folder per scenario (a folder counts when it contains a
    ``manifest.json``). *scenarios* restricts the farm to those names; the
    scenarios they point to through ``{origin:NAME}`` templates are added, so
    cross-origin redirects and embeds always resolve. Manifests are validated
    here, before anything listens.

    Use it as a context manager, or call :meth:`start` and :meth:`stop`.
    """

    def __init__(self, root: str | Path, scenarios: Iterable[str] | None = None) -> None:
        self.root = Path(root)
        available = _discover(self.root)
        wanted = list(available) if scenarios is None else list(dict.fromkeys(scenarios))
        unknown = [name for name in wanted if name not in available]
        if unknown:
            raise ConfigurationError(f"{self.root}: no scenario named {', '.join(unknown)}")
        self._manifests: dict[str, Manifest] = {}
        pending = list(wanted)
        while pending:
            name = pending.pop()
            if name in self._manifests:
                continue
            manifest = load_manifest(available[name])
            missing = sorted(manifest.references() - set(available))
            if missing:
                raise ConfigurationError(
                    f"{available[name] / MANIFEST_NAME}: refers to unknown scenario(s) "
                    f"{', '.join(missing)}"
                )
            self._manifests[name] = manifest
            pending.extend(manifest.references())
        #: Names of the scenarios served, sorted.
        self.scenarios: list[str] = sorted(self._manifests)
        self._servers: dict[str, _Server] = {}
        self._threads: list[threading.Thread] = []
        self._origins: dict[str, str] = {}
        self._lock = threading.Lock()
        self._records: dict[str, list[RecordedRequest]] = {name: [] for name in self.scenarios}
        self._registry_dir: tempfile.TemporaryDirectory[str] | None = None
        self._rendered: dict[Path, Path] = {}
        # Crawlers started from several threads ask for the registries at once:
        # one folder, each registry written once.
        self._registry_lock = threading.Lock()

    # -- life cycle -----------------------------------------------------------

    def start(self) -> None:
        """Bind one server per scenario, then serve them all in daemon threads."""
        if self._servers:
            return
        try:
            for name in self.scenarios:
                server = _Server(_Site(self._manifests[name], self))
                self._servers[name] = server
                address = self._manifests[name].address
                self._origins[name] = f"http://{address}:{server.server_port}"
        except BaseException:
            self.stop()
            raise
        for name, server in self._servers.items():
            thread = threading.Thread(
                target=server.serve_forever,
                kwargs={"poll_interval": 0.1},
                name=f"sitefarm-{name}",
                daemon=True,
            )
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        """Stop every server and free its port. Safe to call twice."""
        servers, self._servers = list(self._servers.values()), {}
        if self._threads:
            # shutdown() waits for one poll of serve_forever; do all at once.
            stoppers = [threading.Thread(target=s.shutdown) for s in servers]
            for stopper in stoppers:
                stopper.start()
            for stopper in stoppers:
                stopper.join()
        for server in servers:
            server.server_close()
            server.close_connections()
        for thread in self._threads:
            thread.join()
        self._threads = []
        self._origins = {}
        self._rendered = {}
        if self._registry_dir is not None:
            self._registry_dir.cleanup()
            self._registry_dir = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- addresses ------------------------------------------------------------

    def origin(self, scenario: str) -> str:
        """``http://127.0.0.1:PORT`` of a running scenario."""
        self._check(scenario)
        try:
            return self._origins[scenario]
        except KeyError:
            raise RuntimeError("the site farm is not running; call start() first") from None

    def url(self, scenario: str, path: str = "/") -> str:
        """Absolute URL of *path* on *scenario*.

        *path* may also be a template such as ``{origin:other}/img/a.jpg``
        (the form used by cross-origin keys of ``expect.images``).
        """
        if _TEMPLATE.match(path):
            return self.expand(scenario, path)
        if not path.startswith("/"):
            raise ValueError(f"path {path!r} must start with '/'")
        return self.origin(scenario) + path

    def expand(self, scenario: str, text: str) -> str:
        """Replace ``{origin}`` and ``{origin:NAME}`` in *text*."""

        def replace(match: re.Match[str]) -> str:
            return self.origin(match.group(1) or scenario)

        return _TEMPLATE.sub(replace, text)

    def manifest(self, scenario: str) -> Manifest:
        self._check(scenario)
        return self._manifests[scenario]

    def registry(self, scenario: str) -> Path | None:
        """The registry *scenario*'s expectations assume, its templates expanded.

        Written once per template into a folder that lives as long as the
        running farm; ``None`` when the scenario names no registry.
        """
        template = self.manifest(scenario).registry
        if template is None:
            return None
        with self._registry_lock:
            rendered = self._rendered.get(template)
            if rendered is None:
                if self._registry_dir is None:
                    self._registry_dir = tempfile.TemporaryDirectory(prefix="sitefarm-registry-")
                rendered = Path(self._registry_dir.name) / f"{len(self._rendered)}-{template.name}"
                text = template.read_text(encoding="utf-8")
                rendered.write_text(self.expand(scenario, text), encoding="utf-8")
                self._rendered[template] = rendered
        return rendered

    def registries(self) -> list[Path]:
        """Every registry the farm's scenarios assume, expanded (see :meth:`registry`)."""
        found = (self.registry(name) for name in self.scenarios)
        return list(dict.fromkeys(path for path in found if path is not None))

    # -- what the servers saw ---------------------------------------------------

    def hits(self, scenario: str, path: str | None = None) -> int:
        """Requests received by *scenario*, in total or for one path.

        *path* is compared with the request path without its query, unless it
        contains ``?``, in which case the whole request target must match.
        """
        records = self.requests(scenario)
        if path is None:
            return len(records)
        if "?" in path:
            return sum(1 for r in records if r.target == path)
        return sum(1 for r in records if r.path == path)

    def requests(self, scenario: str) -> list[RecordedRequest]:
        """A copy of the requests received by *scenario*, oldest first."""
        self._check(scenario)
        with self._lock:
            return list(self._records[scenario])

    def reset(self, scenario: str | None = None) -> None:
        """Forget recorded requests (of one scenario, or of all)."""
        names = self.scenarios if scenario is None else [scenario]
        for name in names:
            self._check(name)
        with self._lock:
            for name in names:
                self._records[name].clear()

    def _record(self, scenario: str, request: RecordedRequest) -> None:
        with self._lock:
            self._records[scenario].append(request)

    def _check(self, scenario: str) -> None:
        if scenario not in self._manifests:
            raise ConfigurationError(f"scenario {scenario!r} is not part of this farm")

    def __repr__(self) -> str:
        state = "running" if self._servers else "stopped"
        return f"<SiteFarm {str(self.root)!r} {len(self.scenarios)} scenarios, {state}>"


# ---------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m examples.farm",
        description=(
            "Serve the scenario sites of a site farm on 127.0.0.1, one origin per "
            "scenario, until interrupted with Ctrl-C."
        ),
    )
    parser.add_argument(
        "root",
        nargs="?",
        default="fixtures/sites",
        help="folder holding one sub-folder per scenario (default: %(default)s)",
    )
    parser.add_argument(
        "-s",
        "--scenario",
        action="append",
        metavar="NAME",
        help="serve only this scenario (repeatable); referenced scenarios are added",
    )
    parser.add_argument(
        "--list",
        action="store_true",
        help="print the scenarios and their descriptions, then exit",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m examples.farm``; returns the exit status."""
    args = _parser().parse_args(argv)
    try:
        if args.list:
            manifests = load_manifests(args.root)
            selected = args.scenario or list(manifests)
            for name in selected:
                if name not in manifests:
                    raise ConfigurationError(f"{args.root}: no scenario named {name}")
                print(f"{name}\t{manifests[name].description}")
            return 0
        farm = SiteFarm(args.root, args.scenario)
    except ConfigurationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    # Ctrl-C may come as soon as the first origin is printed, so it ends the
    # whole serving block, not only the wait.
    with farm, contextlib.suppress(KeyboardInterrupt):
        width = max(len(name) for name in farm.scenarios) if farm.scenarios else 0
        for name in farm.scenarios:
            print(f"{name:<{width}}  {farm.origin(name)}")
        print("Serving; press Ctrl-C to stop.", file=sys.stderr, flush=True)
        sys.stdout.flush()
        _wait_forever()
    return 0


def _wait_forever() -> NoReturn:
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    raise SystemExit(main())
