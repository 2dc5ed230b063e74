"""Origins and the places of their policy files.

An *origin* is ``scheme://host:port`` (RFC 6454), the unit every policy file
applies to: ``http://example.com`` and ``https://example.com`` are two origins,
``http://example.com`` and ``http://example.com:80`` one. The registrable
domain (``news.example.co.uk`` -> ``example.co.uk``) groups origins in reports.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import ParseResult, SplitResult, urlsplit, urlunsplit

__all__ = [
    "AI_TXT",
    "POLICY_PATHS",
    "ROBOTS_TXT",
    "TDMREP_JSON",
    "origin_from_parts",
    "origin_of",
    "policy_url",
    "registrable_domain",
    "without_password",
]

ROBOTS_TXT = "robots.txt"
AI_TXT = "ai.txt"
TDMREP_JSON = "tdmrep.json"

#: Path of each policy file on an origin.
POLICY_PATHS: dict[str, str] = {
    ROBOTS_TXT: "/robots.txt",
    AI_TXT: "/ai.txt",
    TDMREP_JSON: "/.well-known/tdmrep.json",
}

_DEFAULT_PORTS = {"http": 80, "https": 443}


def origin_of(url: str) -> str:
    """``scheme://host:port`` of *url*, with the default port made explicit.

    ``http://Example.com/a`` and ``http://example.com:80/b`` share an origin;
    ``https://example.com`` does not.
    """
    return origin_from_parts(urlsplit(url))


def origin_from_parts(parts: SplitResult | ParseResult) -> str:
    """:func:`origin_of` from an already split (or parsed) URL."""
    key = (parts.scheme, parts.netloc)
    origin = _ORIGINS.get(key)
    if origin is None:
        origin = _origin(parts)
        if len(_ORIGINS) >= _ORIGINS_SIZE:
            _ORIGINS.clear()
        _ORIGINS[key] = origin
    return origin


#: Origins by the scheme and authority as written: a crawl asks for the
#: origin of every URL, and its URLs come from few authorities at a time.
_ORIGINS: dict[tuple[str, str], str] = {}
_ORIGINS_SIZE = 4096


def _origin(parts: SplitResult | ParseResult) -> str:
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    try:
        port = parts.port
    except ValueError:
        port = None
    if port is None:
        port = _DEFAULT_PORTS.get(scheme, 0)
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    return f"{scheme}://{host}:{port}"


def policy_url(origin: str, kind: str) -> str:
    """URL of the policy file *kind* on *origin* (as returned by :func:`origin_of`)."""
    scheme, _, rest = origin.partition("://")
    host, _, port = rest.rpartition(":")
    if _DEFAULT_PORTS.get(scheme) == int(port or 0):
        rest = host
    return f"{scheme}://{rest}{POLICY_PATHS[kind]}"


_tld: Any = None


def registrable_domain(url: str) -> str:
    """The registrable domain of *url* (``news.example.co.uk`` -> ``example.co.uk``).

    Read from the public suffix list bundled with tldextract, never fetched.
    """
    global _tld
    if _tld is None:
        # Imported on first use: tldextract brings requests and urllib3 with it,
        # a fifth of a second at start-up that a crawl excluding nothing never needs.
        import tldextract

        _tld = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)
    parts = _tld(url)
    return parts.top_domain_under_public_suffix or parts.domain or ""


def without_password(url: str) -> str:
    """*url* with the password of its user part (if any) replaced by ``***``, for messages."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return url
    if password is None:
        return url
    user, _, host = parts.netloc.rpartition("@")
    name = user.partition(":")[0]
    return urlunsplit(parts._replace(netloc=f"{name}:***@{host}"))
