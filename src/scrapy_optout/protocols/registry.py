"""Opt-out registries: lists of works whose owners reserved them, declared out of band.

No registry format is standardised (``new-signals-2026.md`` §5: the EUIPO's
2025 study recommends one; collective-management proposals have rights
holders declare works through a platform and require training data to be
filtered against the declarations). This module reads a simple, documented
one, in JSON Lines or CSV with the same columns, one declaration per line:

=============== ===========================================================
column          meaning
=============== ===========================================================
``url``         a URL prefix: every URL that starts with it is declared
``domain``      a host or registrable domain, its subdomains included
``sha256``      the SHA-256 of a body, 64 hex digits
``purposes``    the purposes reserved: a JSON list, or a string separated
                by ``;`` or ``,``; default ``train``, ``tdm``, ``input``
``declared_by`` who declared it (quoted in findings)
``declared_at`` when (quoted in findings, as written)
=============== ===========================================================

Exactly one of ``url``, ``domain`` and ``sha256`` per line. A line that
cannot be read is skipped and counted by reason, never raised; purposes
outside this project's vocabulary are dropped from a line and counted, and a
line left with none is skipped.

**Matching.** URL prefixes compare after normalising the scheme away (a
declaration of ``https://a.example/x`` also covers ``http://a.example/x``),
lower-casing the host, dropping default ports and bringing the path to the
canonical escaping of :mod:`scrapy_optout.protocols.patterns`; every reading
a server could give the URL's path counts. A prefix is a plain text prefix
(``/photo`` covers ``/photos/1``). Domains match the host and every
subdomain. Lookups walk the URL's path once and its host's labels once, so
their cost does not grow with the size of the registry.

Loading a registry from a URL is the caller's job (pass the bytes); a
registry that cannot be fetched is "unknown", never "allowed"
(:func:`unavailable`).
"""

from __future__ import annotations

import csv
import gc
import io
import json
import re
import sys
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, Literal, NamedTuple
from urllib.parse import urlsplit

from scrapy_optout.protocols.patterns import normalise_path, path_readings
from scrapy_optout.protocols.text import printable
from scrapy_optout.verdict import Finding, Purpose, Signal, Stance, Where, clip

__all__ = [
    "COLUMNS",
    "DEFAULT_PURPOSES",
    "Declaration",
    "Registry",
    "unavailable",
]

#: The columns of a registry file.
COLUMNS = ("url", "domain", "sha256", "purposes", "declared_by", "declared_at")
#: Purposes a declaration reserves when it names none.
DEFAULT_PURPOSES: frozenset[Purpose] = frozenset({Purpose.TRAIN, Purpose.TDM, Purpose.INPUT})

Kind = Literal["url", "domain", "sha256"]
_KINDS: tuple[Kind, ...] = ("url", "domain", "sha256")
_HEX64 = re.compile(r"[0-9a-fA-F]{64}")
# Host names: labels of letters, digits, "_" and "-", joined by dots (one
# unambiguous pattern, so matching is linear; hyphens are checked apart).
_NAME_CHARS = re.compile(r"[a-z0-9_\-]+(?:\.[a-z0-9_\-]+)*").fullmatch
# An http(s) URL with a plain ASCII host and no user information.
_PLAIN_URL = re.compile(r"(?i)(https?)://([a-z0-9_.\-]+)(?::([0-9]{1,5}))?(?=[/?#]|\Z)")
_DEFAULT_PORTS = {"http": 80, "https": 443}
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_PURPOSE_SPLIT = re.compile(r"[;,\s]+")
# Most reasons kept per kind of skipped line, with their line numbers.
_EXAMPLES = 5


class Declaration(NamedTuple):
    """One registry line: what it declares and who declared it.

    ``key`` is the normalised value matched against (``host/path`` for a URL
    prefix, the host for a domain, lower-case hex for a sha256); ``value``
    is the value as written and ``line`` the line as written (clipped).
    """

    kind: Kind
    key: str
    value: str
    purposes: frozenset[Purpose]
    declared_by: str
    declared_at: str
    source: str
    lineno: int
    line: str

    def finding(self, *, subject: str) -> Finding:
        """The reservation this declaration makes about *subject* (a URL or a hash)."""
        who = self.declared_by or "an unnamed declarant"
        when = f" on {self.declared_at}" if self.declared_at else ""
        what = {"url": "URL prefix", "domain": "domain", "sha256": "SHA-256"}[self.kind]
        return Finding(
            signal=Signal.REGISTRY,
            where=Where.REGISTRY,
            stance=Stance.RESERVE,
            purposes=self.purposes,
            rule=self.line,
            source=self.source,
            detail=clip(
                f"declared by {who}{when} (line {self.lineno}): {what} {self.value} "
                f"covers {subject}"
            ),
        )


def unavailable(
    source: str, reason: str, purposes: frozenset[Purpose] = DEFAULT_PURPOSES
) -> Finding:
    """An ``unknown`` finding for a registry that could not be fetched or read."""
    return Finding(
        Signal.REGISTRY,
        Where.REGISTRY,
        Stance.UNKNOWN,
        purposes,
        "",
        source,
        clip(f"registry not available ({reason})"),
    )


class Registry:
    """Declarations from one or more registry files, indexed for lookup.

    ``loaded`` counts the declarations read; ``skipped`` counts the lines
    skipped, by reason, and ``examples`` keeps the first few line numbers of
    each reason (``"source:line"``).
    """

    __slots__ = ("_by_domain", "_by_hash", "_lengths", "_prefixes", "examples", "loaded", "skipped")

    def __init__(self) -> None:
        # URL prefixes: by host key, then by path prefix.
        self._prefixes: dict[str, dict[str, list[Declaration]]] = {}
        self._lengths: dict[str, tuple[int, ...]] = {}
        self._by_domain: dict[str, list[Declaration]] = {}
        self._by_hash: dict[str, list[Declaration]] = {}
        self.loaded = 0
        self.skipped: Counter[str] = Counter()
        self.examples: dict[str, list[str]] = {}

    def __len__(self) -> int:
        return self.loaded

    def __repr__(self) -> str:
        return f"Registry(loaded={self.loaded}, skipped={sum(self.skipped.values())})"

    # -- loading ----------------------------------------------------------------------------------

    def load_path(self, path: str | Path) -> int:
        """Load a registry file; returns the number of declarations read from it.

        ``.csv`` files are read as CSV, ``.jsonl``, ``.ndjson`` and ``.json``
        as JSON Lines, anything else by its first character.
        """
        path = Path(path)
        suffix = path.suffix.lower()
        fmt: Literal["jsonl", "csv"] | None = (
            "csv"
            if suffix == ".csv"
            else "jsonl"
            if suffix in (".jsonl", ".ndjson", ".json")
            else None
        )
        return self.load(path.read_bytes(), source=str(path), format=fmt)

    def load(
        self, data: bytes, *, source: str, format: Literal["jsonl", "csv"] | None = None
    ) -> int:
        """Load a registry from *data*; returns the number of declarations read.

        *source* names the registry in findings (a path or URL). *format* is
        ``"jsonl"`` or ``"csv"``; ``None`` guesses from the first character
        (``{`` for JSON Lines). Never raises on content.
        """
        if not isinstance(data, bytes | bytearray | memoryview):
            raise TypeError(f"data must be bytes, not {type(data).__name__}")
        text = bytes(data).decode("utf-8", "replace").lstrip("\ufeff")
        if format is None:
            format = "jsonl" if text.lstrip()[:1] == "{" else "csv"
        rows = _jsonl_rows(text) if format == "jsonl" else _csv_rows(text)
        before = self.loaded
        # Millions of small objects that all live on: the cyclic collector
        # would walk the growing heap again and again for nothing.
        collecting = gc.isenabled()
        gc.disable()
        try:
            self._add_rows(rows, source)
        finally:
            if collecting:
                gc.enable()
        self._lengths.clear()
        return self.loaded - before

    def _add_rows(self, rows: Iterable[_Row], source: str) -> None:
        for lineno, row, line in rows:
            if row is None:
                self._skip(line, source, lineno)
                continue
            made = _declaration(row, source, lineno, line)
            if isinstance(made, str):
                self._skip(made, source, lineno)
                continue
            declaration, ignored = made
            for reason in ignored:
                self._skip(reason, source, lineno, counted_only=True)
            self.add(declaration)

    def _skip(self, reason: str, source: str, lineno: int, *, counted_only: bool = False) -> None:
        self.skipped[reason] += 1
        if not counted_only:
            examples = self.examples.setdefault(reason, [])
            if len(examples) < _EXAMPLES:
                examples.append(f"{source}:{lineno}")

    def add(self, declaration: Declaration) -> None:
        """Add one declaration to the index."""
        if declaration.kind == "url":
            host, _, path = declaration.key.partition("/")
            by_path = self._prefixes.setdefault(host, {})
            by_path.setdefault("/" + path, []).append(declaration)
            self._lengths.pop(host, None)
        elif declaration.kind == "domain":
            self._by_domain.setdefault(declaration.key, []).append(declaration)
        else:
            self._by_hash.setdefault(declaration.key, []).append(declaration)
        self.loaded += 1

    # -- lookup -----------------------------------------------------------------------------------

    def match_url(self, url: str) -> list[Declaration]:
        """The declarations covering *url*: URL prefixes first, then domains."""
        host = _host_key(url)
        if host is None:
            return []
        found: list[Declaration] = []
        by_path = self._prefixes.get(host)
        if by_path:
            lengths = self._lengths.get(host)
            if lengths is None:
                lengths = self._lengths[host] = tuple(sorted({len(p) for p in by_path}))
            seen: set[str] = set()
            for reading in path_readings(url):
                path = reading.path
                for length in lengths:
                    if length > len(path):
                        break
                    prefix = path[:length]
                    if prefix not in seen and prefix in by_path:
                        seen.add(prefix)
                        found.extend(by_path[prefix])
        if self._by_domain:
            name = host.partition(":")[0]
            while name:
                found.extend(self._by_domain.get(name, ()))
                name = name.partition(".")[2]
        return found

    @property
    def has_hashes(self) -> bool:
        """Whether any declaration is a SHA-256 (else bodies need not be hashed)."""
        return bool(self._by_hash)

    def match_sha256(self, digest: str) -> list[Declaration]:
        """The declarations of the body whose SHA-256 is *digest* (hex, any case)."""
        if not isinstance(digest, str):
            raise TypeError(f"digest must be str, not {type(digest).__name__}")
        return list(self._by_hash.get(digest.strip().lower(), ()))

    def site_declarations(self, url: str) -> list[Declaration]:
        """The declarations about any part of *url*'s site: its URL prefixes and domains."""
        host = _host_key(url)
        if host is None:
            return []
        found = [d for by_path in self._prefixes.get(host, {}).values() for d in by_path]
        name = host.partition(":")[0]
        while name:
            found.extend(self._by_domain.get(name, ()))
            name = name.partition(".")[2]
        return found

    def findings(self, url: str, *, sha256: str | None = None) -> list[Finding]:
        """Reserving findings for *url* (and its body's *sha256*, when known)."""
        found = [d.finding(subject=url) for d in self.match_url(url)]
        if sha256 is not None:
            found += [d.finding(subject=f"the body of {url}") for d in self.match_sha256(sha256)]
        return found


# -- reading lines --------------------------------------------------------------------------------

_Row = tuple[int, Mapping[str, Any] | None, str]  # (line number, row or None, line or reason)


def _jsonl_rows(text: str) -> Iterator[_Row]:
    lines = [
        (lineno, stripped)
        for lineno, line in enumerate(_LINE_BREAK.split(text), start=1)
        if (stripped := line.strip()) and not stripped.startswith("#")
    ]
    # One call to the JSON decoder for the whole file is several times faster
    # than one per line; a file with a bad line is read line by line instead.
    try:
        rows = json.loads("[" + ",".join(line for _, line in lines) + "]")
    except (ValueError, RecursionError):
        rows = None
    if not isinstance(rows, list) or len(rows) != len(lines):
        rows = [_json_line(line) for _, line in lines]
    for (lineno, line), row in zip(lines, rows, strict=True):
        if isinstance(row, dict):
            yield lineno, row, line
        else:
            yield lineno, None, "not valid JSON" if row is _INVALID else "not a JSON object"


_INVALID = object()


def _json_line(line: str) -> object:
    try:
        return json.loads(line)
    except (ValueError, RecursionError):
        return _INVALID


def _csv_rows(text: str) -> Iterator[_Row]:
    try:
        reader = csv.reader(io.StringIO(text, newline=""))
        header: list[str] | None = None
        for fields in reader:
            lineno = reader.line_num
            if not any(f.strip() for f in fields) or fields[0].lstrip().startswith("#"):
                continue
            if header is None:
                header = [f.strip().lower() for f in fields]
                if not {"url", "domain", "sha256"} & set(header):
                    yield lineno, None, "CSV header names none of url, domain, sha256"
                    return
                continue
            if len(fields) > len(header):
                yield lineno, None, "more fields than the header names"
                continue
            row = {name: value for name, value in zip(header, fields, strict=False) if name}
            yield lineno, row, ",".join(fields)
    except csv.Error:
        yield reader.line_num, None, "CSV syntax error; the rest of the file is skipped"


def _declaration(
    row: Mapping[str, Any], source: str, lineno: int, line: str
) -> tuple[Declaration, tuple[str, ...]] | str:
    """A declaration from *row*, with notes on what was dropped, or why the line is skipped."""
    given = [(kind, row[kind]) for kind in _KINDS if row.get(kind) not in (None, "")]
    if len(given) != 1:
        return (
            "none of url, domain, sha256" if not given else "more than one of url, domain, sha256"
        )
    kind, value = given[0]
    if not isinstance(value, str):
        return f"{kind} is not a string"
    key = _key(kind, value.strip())
    if key is None:
        return f"invalid {kind}"
    purposes, ignored = _purposes(row.get("purposes"))
    if purposes is None:
        return "purposes is neither a list nor a string"
    if not purposes:
        return "no known purpose"
    declared_by, declared_at = row.get("declared_by"), row.get("declared_at")
    return (
        Declaration(
            kind=kind,
            key=key,
            value=clip(printable(value.strip()), 200),
            purposes=purposes,
            declared_by=sys.intern(clip(printable(str(declared_by)), 200)) if declared_by else "",
            declared_at=clip(printable(str(declared_at)), 64) if declared_at else "",
            source=source,
            lineno=lineno,
            line=clip(printable(line)),
        ),
        ignored,
    )


_PURPOSE_SETS: dict[str | tuple[str, ...], tuple[frozenset[Purpose], tuple[str, ...]]] = {}
_PURPOSE_NAMES = frozenset(str(p) for p in Purpose)


def _purposes(value: object) -> tuple[frozenset[Purpose] | None, tuple[str, ...]]:
    """The purposes of a ``purposes`` cell, and notes on the names dropped."""
    if value is None or value == "":
        return DEFAULT_PURPOSES, ()
    key: str | tuple[str, ...]
    if isinstance(value, str):
        key = value
    elif isinstance(value, list):
        key = tuple(v if isinstance(v, str) else str(v) for v in value)
    else:
        return None, ()
    cached = _PURPOSE_SETS.get(key)
    if cached is not None:
        return cached
    names = _PURPOSE_SPLIT.split(key.strip()) if isinstance(key, str) else key
    words = [n.strip().lower() for n in names if n.strip()]
    known = frozenset(Purpose(w) for w in words if w in _PURPOSE_NAMES)
    ignored = tuple(
        f"unknown purpose {printable(clip(w, 40))!r} ignored" for w in words if w not in known
    )
    if len(_PURPOSE_SETS) < 4096:
        _PURPOSE_SETS[key] = known, ignored  # the same few cells on every line
    return known, ignored


def _key(kind: Kind, value: str) -> str | None:
    if kind == "sha256":
        return value.lower() if _HEX64.fullmatch(value) else None
    if kind == "domain":
        return _domain(value)
    host = _host_key(value)
    return None if host is None else host + normalise_path(value)


def _domain(value: str) -> str | None:
    name = value.strip().rstrip(".").lower()
    if not name.isascii():
        try:
            name = name.encode("idna").decode("ascii")
        except UnicodeError:
            return None
    return name if _is_name(name) else None


def _is_name(name: str) -> bool:
    return (
        len(name) <= 253
        and _NAME_CHARS(name) is not None
        and name[0] != "-"
        and name[-1] != "-"
        and ".-" not in name
        and "-." not in name
    )


def _host_key(url: str) -> str | None:
    """``host`` or ``host:port`` (non-default port) of an http(s) URL, else ``None``."""
    fast = _PLAIN_URL.match(url)
    if fast is not None:  # the usual URL, read without urlsplit()
        scheme, name, port_text = fast.groups()
        host = name.lower()
        port = int(port_text) if port_text else None
        scheme = scheme.lower()
        if not _is_name(host):
            return None
    else:
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError:
            return None
        scheme = parts.scheme.lower()
        if scheme not in _DEFAULT_PORTS or not parts.hostname:
            return None
        if ":" in parts.hostname:
            host = f"[{parts.hostname}]"  # an IPv6 literal
        else:
            found = _domain(parts.hostname)
            if found is None:
                return None
            host = found
    return host if port in (None, _DEFAULT_PORTS[scheme]) else f"{host}:{port}"
