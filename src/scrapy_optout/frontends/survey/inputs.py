"""Reading a survey's site list.

A site list holds one site per line, in any of three forms, freely mixed:

* a bare domain or host name, optionally with a port (``example.com``,
  ``news.example.co.uk:8443``): surveyed as ``https://HOST/``, and over plain
  ``http://`` when no HTTPS connection can be made at all;
* a base URL (``https://example.com/``, ``http://127.0.0.1:8123/``): surveyed
  exactly as written; its path, if any, is the page read as the home page;
* ``rank,domain`` as in the Tranco and Alexa lists (``1,google.com``), with
  or without a header line such as ``rank,domain``; the second field may also
  be a base URL.

Blank lines and lines starting with ``#`` are not sites. Every other line is
one site, also when it repeats an earlier one or cannot be read: the survey
writes exactly one result per site line, so a researcher can join results back
to the list by line number. A line that cannot be read becomes a
:class:`SiteLine` with an ``error``.
"""

from __future__ import annotations

import csv
import ipaddress
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

__all__ = ["SiteLine", "parse_line", "parse_lines", "read_sites"]

# A host name label as found in the wild: letters, digits, "-" and "_" (the
# last is not allowed by DNS rules for host names, but real lists contain it).
_LABEL = r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?"
_HOSTNAME = re.compile(rf"{_LABEL}(?:\.{_LABEL})*\.?")
# Words a header line of a rank list uses.
_HEADER_WORDS = frozenset({"rank", "domain", "site", "url", "host", "origin", "position", "#"})


@dataclass(frozen=True, slots=True)
class SiteLine:
    """One site line of the input.

    ``line`` is the 1-based line number in the file and ``input`` the line as
    written (surrounding white space removed). ``site`` is the URL of the page
    surveyed as the home page; the policy files are read from its origin.
    ``fallback`` is the plain-HTTP URL tried when a bare domain cannot be
    reached over HTTPS. ``error`` says why a line could not be read; such a
    line has no ``site``.
    """

    line: int
    input: str
    site: str | None = None
    rank: int | None = None
    fallback: str | None = None
    error: str | None = None

    @property
    def host(self) -> str | None:
        return urlsplit(self.site).hostname if self.site else None


def read_sites(path: str | os.PathLike[str]) -> list[SiteLine]:
    """Read a site list file (UTF-8; a byte order mark is skipped)."""
    text = Path(path).read_text(encoding="utf-8-sig", errors="replace")
    return list(parse_lines(text.splitlines()))


def parse_lines(lines: Iterable[str]) -> Iterator[SiteLine]:
    """Parse site list lines; blank lines, comments and a CSV header yield nothing."""
    seen_content = False
    for number, raw in enumerate(lines, start=1):
        text = raw.strip().lstrip("\ufeff").strip()
        if not text or text.startswith("#"):
            continue
        first = not seen_content
        seen_content = True
        if first and _is_header(text):
            continue
        yield parse_line(text, number)


def parse_line(text: str, line: int = 1) -> SiteLine:
    """Parse one non-blank, non-comment line of a site list."""
    text = text.strip()
    rank: int | None = None
    target = text
    if "," in text or "\t" in text:
        fields = [f.strip() for f in next(csv.reader([text.replace("\t", ",")]))]
        fields = [f for f in fields if f]
        if not fields:
            return SiteLine(line, text, error="expected 'rank,domain' or one domain or URL")
        if len(fields) == 1:
            target = fields[0]  # "example.com," - a stray separator
        elif not fields[0].isdigit() or int(fields[0]) < 1:
            return SiteLine(
                line, text, error="expected 'rank,domain': the rank must be a positive integer"
            )
        else:
            rank, target = int(fields[0]), fields[1]
    site, fallback, error = _site_url(target)
    if error is not None:
        return SiteLine(line, text, rank=rank, error=error)
    return SiteLine(line, text, site=site, rank=rank, fallback=fallback)


def _is_header(text: str) -> bool:
    """Whether the first line of a file is a CSV header (``rank,domain``)."""
    if "," not in text and "\t" not in text:
        return False
    fields = [f.strip().lower() for f in text.replace("\t", ",").split(",") if f.strip()]
    return bool(fields) and not fields[0].isdigit() and all(f in _HEADER_WORDS for f in fields)


def _site_url(target: str) -> tuple[str | None, str | None, str | None]:
    """``(site URL, plain-HTTP fallback, error)`` for a domain or base URL."""
    if any(c.isspace() for c in target):
        return None, None, "a domain or URL cannot contain spaces"
    explicit = "://" in target
    parts = urlsplit(target if explicit else f"https://{target}")
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        return None, None, f"not an http(s) URL: scheme {parts.scheme!r}"
    host = _normalise_host(parts.hostname or "")
    if host is None:
        return None, None, f"not a valid host name: {parts.hostname or target!r}"
    try:
        port = parts.port
    except ValueError:
        return None, None, "not a valid port number"
    netloc = f"[{host}]" if ":" in host else host
    if port is not None:
        netloc += f":{port}"
    path = parts.path or "/"
    site = urlunsplit((scheme, netloc, path, parts.query, ""))
    fallback = None if explicit else urlunsplit(("http", netloc, path, parts.query, ""))
    return site, fallback, None


def _normalise_host(host: str) -> str | None:
    """The host in lower case (IDNA for non-ASCII names), or ``None`` when invalid."""
    host = host.strip().lower()
    if not host:
        return None
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        pass
    if not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            return None
    if len(host) > 253 or not _HOSTNAME.fullmatch(host):
        return None
    return host.rstrip(".")
