"""The one fetch contract of a policy file: from a server's answers to a :class:`PolicyFile`.

Every front end fetches policy files its own way (the Scrapy engine, ``requests``
for ``optout check``, the survey's own requests) and hands each answer, one
redirect hop at a time, to a :class:`PolicyFetch`, which decides what comes next
and builds the :class:`~scrapy_optout.policy.snapshot.PolicyFile` at the end. So
the same answers give the same file, and the evaluator (which applies the RFC
9309 status rules to the file's ``status`` and ``error``) the same verdict,
whichever front end asked.

The contract, in one place:

* at most :data:`MAX_REDIRECTS` redirects are followed (RFC 9309 §2.3.1.2 asks
  for at least five), only to http(s) URLs; a longer chain is a failed fetch
  whose error starts with ``too many redirects``. A redirect that cannot be
  followed (no ``Location``, another scheme, a malformed URL) ends the chain,
  and its 3xx answer is the outcome (RFC 9309 §2.3.1.3 reads it as unavailable);
* at most :attr:`Limits.maxsize` bytes of a body are kept (``OPTOUT_POLICY_MAXSIZE``,
  1 MiB by default and never under the 500 KiB RFC 9309 §2.5 asks a parser
  to read); a longer body is kept cut, with ``truncated`` set, and a compressed
  body is expanded to that many bytes at most (:func:`decompress_prefix`);
* an answer that failed (no status, or a body the network cut short) is a
  failed fetch, its error worded by :func:`~scrapy_optout.exceptions.describe_error`:
  a fixed description, never text a server chose.

This module does no I/O and imports no HTTP stack. A fetcher is any callable
that GETs one URL without following redirects and returns an :class:`Answer`
(:class:`HopFetcher`); :func:`fetch_policy_file` and
:func:`fetch_policy_file_sync` drive it hop by hop.
"""

from __future__ import annotations

import importlib
import zlib
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol
from urllib.parse import urljoin, urlsplit

from w3lib.url import safe_url_string

from scrapy_optout.exceptions import DOWNLOAD_FAILED, ConfigurationError, describe_error
from scrapy_optout.policy.snapshot import KEPT_HEADERS, TOO_MANY_REDIRECTS, PolicyFile, utcnow
from scrapy_optout.policy.urls import policy_url

__all__ = [
    "DEFAULT_MAXSIZE",
    "LIMITS",
    "MALFORMED",
    "MAX_REDIRECTS",
    "MIN_MAXSIZE",
    "NOT_HTTP",
    "NO_LOCATION",
    "REDIRECT_STATUSES",
    "Answer",
    "AsyncHopFetcher",
    "HopFetcher",
    "Limits",
    "PolicyFetch",
    "Redirect",
    "content_encodings",
    "decompress_prefix",
    "fetch_policy_file",
    "fetch_policy_file_sync",
    "policy_file",
    "resolve_redirect",
]

#: Redirects followed for one policy file (RFC 9309 §2.3.1.2: at least five).
MAX_REDIRECTS = 5
#: Bytes of a policy file kept by default (``OPTOUT_POLICY_MAXSIZE``).
DEFAULT_MAXSIZE = 1024 * 1024
#: The least cap allowed: RFC 9309 §2.5 asks that at least 500 KiB be parsed.
MIN_MAXSIZE = 512_000
#: The statuses of an answer that redirects (304 is not one).
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_SCHEMES = ("http", "https")

# Why a redirect chain ends at a 3xx answer (Redirect.stop).
NO_LOCATION = "no Location"
NOT_HTTP = "not an http(s) URL"
MALFORMED = "malformed URL"


@dataclass(frozen=True)
class Limits:
    """What one policy file fetch may cost.

    ``maxsize`` bounds both the bytes read and the bytes a compressed body is
    expanded to; ``max_redirects`` the redirects followed.
    """

    maxsize: int = DEFAULT_MAXSIZE
    max_redirects: int = MAX_REDIRECTS

    def __post_init__(self) -> None:
        if isinstance(self.maxsize, bool) or self.maxsize < MIN_MAXSIZE:
            raise ConfigurationError(
                f"the policy file size cap must be at least {MIN_MAXSIZE} bytes"
                f" (RFC 9309 §2.5), not {self.maxsize!r}"
            )
        if isinstance(self.max_redirects, bool) or self.max_redirects < MAX_REDIRECTS:
            raise ConfigurationError(
                f"at least {MAX_REDIRECTS} redirects must be followed (RFC 9309 §2.3.1.2),"
                f" not {self.max_redirects!r}"
            )

    @classmethod
    def at_least(cls, maxsize: int) -> Limits:
        """Limits with *maxsize* raised to :data:`MIN_MAXSIZE` if it is lower."""
        return cls(maxsize=max(MIN_MAXSIZE, maxsize))


LIMITS = Limits()


@dataclass(frozen=True)
class Answer:
    """What one GET of one URL gave, redirects not followed.

    ``headers`` maps lower-case names to every value sent, in order; ``body``
    is what was read (a fetcher may stop reading past the cap and set
    ``truncated``). ``error`` says why no complete answer came; ``status`` may
    still be set when the failure came after it (a body cut short).
    """

    url: str
    status: int | None = None
    headers: Mapping[str, Sequence[str]] = field(default_factory=dict)
    body: bytes = b""
    truncated: bool = False
    error: str | None = None

    @classmethod
    def failure(cls, url: str, exc: BaseException) -> Answer:
        """The answer of a GET that raised *exc*, in the wording of :func:`describe_error`."""
        return cls(url, error=describe_error(exc))

    def header(self, name: str) -> str | None:
        """The last value of header *name*, or ``None``."""
        values = self.headers.get(name.lower())
        return values[-1] if values else None


@dataclass(frozen=True)
class Redirect:
    """Where a redirect leads: the next URL, or why the chain stops at this answer."""

    target: str | None
    stop: str | None = None


def resolve_redirect(
    current: str, location: str | None, followed: int, limits: Limits = LIMITS
) -> Redirect:
    """The next hop of a redirect from *current* to *location*, *followed* redirects in.

    The target is *location* made absolute and percent-encoded. No target when
    there is no *location* (:data:`NO_LOCATION`), when it is malformed (a bad
    port, a broken IPv6 literal: :data:`MALFORMED`), when it is not http(s)
    (:data:`NOT_HTTP`) or when ``limits.max_redirects`` were followed already
    (``too many redirects``).
    """
    if not location or not location.strip():
        return Redirect(None, NO_LOCATION)
    try:
        target = urljoin(current, safe_url_string(location.strip()))
        parts = urlsplit(target)
        parts.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError:
        return Redirect(None, MALFORMED)
    if parts.scheme not in _SCHEMES:
        return Redirect(None, NOT_HTTP)
    if not parts.hostname:
        return Redirect(None, MALFORMED)
    if followed >= limits.max_redirects:
        return Redirect(None, TOO_MANY_REDIRECTS)
    return Redirect(target)


def policy_file(
    kind: str,
    url: str,
    answer: Answer,
    *,
    fetched_at: datetime | None = None,
    limits: Limits = LIMITS,
) -> PolicyFile:
    """The :class:`PolicyFile` of *kind* at *url* whose final answer is *answer*.

    A failed answer (an error, or no status) is a failed fetch: no status, no
    body, the error kept. Otherwise the status, the first ``limits.maxsize``
    bytes of the body (``truncated`` when there were more) and where they came from.
    """
    fetched_at = fetched_at or utcnow()
    kept = tuple(
        (name, str(value))
        for name in KEPT_HEADERS
        for value in (answer.headers.get(name) or ())[:4]
    )
    if answer.error is not None or answer.status is None:
        # A body cut short by the network is a failed fetch, not a short file
        # (RFC 9309 §2.3.1.4), whatever status came before it.
        error = answer.error or DOWNLOAD_FAILED
        return PolicyFile(kind, url, None, fetched_at=fetched_at, error=error)
    body = answer.body
    return PolicyFile(
        kind=kind,
        url=url,
        status=answer.status,
        body=body[: limits.maxsize],
        fetched_at=fetched_at,
        final_url=answer.url,
        content_type=answer.header("content-type"),
        truncated=answer.truncated or len(body) > limits.maxsize,
        headers=kept,
    )


class PolicyFetch:
    """One policy file fetch, hop by hop.

    Fetch :attr:`next_url`, hand its answer to :meth:`feed`, and again while
    it returns ``None``; the :class:`PolicyFile` it returns then is the outcome
    (also kept as :attr:`result`). For front ends that schedule their own
    requests; the others call :func:`fetch_policy_file`.
    """

    def __init__(
        self,
        origin: str,
        kind: str,
        limits: Limits = LIMITS,
        *,
        fetched_at: datetime | None = None,
        url: str | None = None,
    ) -> None:
        self.kind = kind
        #: The URL of the file: *url* when given (an RSL licence named by
        #: robots.txt or a page), else the well-known place of *kind* on *origin*.
        self.url = url or policy_url(origin, kind)
        self.limits = limits
        self.fetched_at = fetched_at or utcnow()
        #: The URL to fetch next; ``None`` once the outcome is known.
        self.next_url: str | None = self.url
        #: Redirects followed so far.
        self.redirects = 0
        self.result: PolicyFile | None = None

    def feed(self, answer: Answer) -> PolicyFile | None:
        """Take the answer to :attr:`next_url`: the outcome, or ``None`` for one more hop."""
        if self.result is not None:
            raise RuntimeError(f"the fetch of {self.url} is over")
        if answer.error is None and answer.status in REDIRECT_STATUSES:
            step = resolve_redirect(
                answer.url, answer.header("location"), self.redirects, self.limits
            )
            if step.target is not None:
                self.redirects += 1
                self.next_url = step.target
                return None
            if step.stop == TOO_MANY_REDIRECTS:
                error = f"{TOO_MANY_REDIRECTS} (more than {self.limits.max_redirects})"
                answer = Answer(answer.url, error=error)
        return self._finish(
            policy_file(self.kind, self.url, answer, fetched_at=self.fetched_at, limits=self.limits)
        )

    def fail(self, exc: BaseException) -> PolicyFile:
        """The outcome when the GET of :attr:`next_url` raised *exc*."""
        result = self.feed(Answer.failure(self.next_url or self.url, exc))
        assert result is not None
        return result

    def _finish(self, result: PolicyFile) -> PolicyFile:
        self.result = result
        self.next_url = None
        return result


class HopFetcher(Protocol):
    """GETs one URL, following no redirect, within the fetcher's own time limits.

    It reads at most a little more than the cap of a body (setting
    ``truncated`` when it stopped) and may raise: the exception is worded by
    :func:`describe_error`.
    """

    def __call__(self, url: str) -> Answer: ...


class AsyncHopFetcher(Protocol):
    """:class:`HopFetcher` for an event loop."""

    def __call__(self, url: str) -> Awaitable[Answer]: ...


async def fetch_policy_file(
    fetch: AsyncHopFetcher | Callable[[str], Awaitable[Answer]],
    origin: str,
    kind: str,
    limits: Limits = LIMITS,
    *,
    url: str | None = None,
) -> PolicyFile:
    """Fetch the policy file *kind* of *origin* (or at *url*) with *fetch*, hop by hop."""
    state = PolicyFetch(origin, kind, limits, url=url)
    while (url := state.next_url) is not None:
        try:
            answer = await fetch(url)
        except Exception as exc:
            return state.fail(exc)
        state.feed(answer)
    assert state.result is not None
    return state.result


def fetch_policy_file_sync(
    fetch: HopFetcher | Callable[[str], Answer],
    origin: str,
    kind: str,
    limits: Limits = LIMITS,
    *,
    url: str | None = None,
) -> PolicyFile:
    """:func:`fetch_policy_file` for a blocking *fetch*."""

    async def hop(target: str) -> Answer:
        return fetch(target)

    # Nothing in the driver suspends when no hop does: the coroutine runs to
    # its end on the first step, with no event loop.
    driver = fetch_policy_file(hop, origin, kind, limits, url=url)
    try:
        driver.send(None)
    except StopIteration as done:
        result: PolicyFile = done.value
        return result
    driver.close()
    raise RuntimeError("a blocking policy fetch suspended")


# -- decompression -----------------------------------------------------------------------


def content_encodings(values: Iterable[str | bytes]) -> list[bytes]:
    """The codings of ``Content-Encoding`` header *values*, in the order applied."""
    return [
        part.strip().lower()
        for value in values
        for part in (value.encode("latin-1") if isinstance(value, str) else value).split(b",")
        if part.strip()
    ]


def decompress_prefix(data: bytes, encodings: list[bytes], limit: int) -> bytes | None:
    """The first *limit* bytes of *data* decoded with *encodings* (outermost last).

    Never expands more than *limit* bytes per layer, so a bomb costs nothing.
    Truncated input gives what could be decoded; ``None`` when nothing could.
    Encodings other than gzip, deflate, br and zstd end the decoding, as in
    Scrapy's HttpCompressionMiddleware.
    """
    for encoding in reversed(encodings):
        try:
            decoded = _decode_layer(data, encoding, limit)
        except Exception:
            return None
        if decoded is None:
            break
        data = decoded
    return data[:limit]


def _decode_layer(data: bytes, encoding: bytes, limit: int) -> bytes | None:
    if encoding in (b"gzip", b"x-gzip"):
        # A gzip body may be several members one after the other (RFC 1952 §2.2).
        out = bytearray()
        while data and len(out) < limit:
            inflater = zlib.decompressobj(wbits=31)
            try:
                out += inflater.decompress(data, limit - len(out))
            except zlib.error:
                if out:
                    break
                raise
            if not inflater.eof:
                break
            data = inflater.unused_data
        return bytes(out)
    if encoding == b"deflate":
        try:
            return zlib.decompressobj().decompress(data, limit)
        except zlib.error:
            return zlib.decompressobj(wbits=-15).decompress(data, limit)
    if encoding == b"br":
        brotli = _optional_module("brotli", "brotlicffi")
        if brotli is None:
            return None
        result: bytes = brotli.Decompressor().process(data, output_buffer_limit=limit)
        return result
    if encoding == b"zstd":
        zstd = _optional_module("compression.zstd", "backports.zstd")
        if zstd is None:
            return None
        decoded: bytes = zstd.ZstdDecompressor().decompress(data, max_length=limit)
        return decoded
    return None


def _optional_module(*names: str) -> Any:
    for name in names:
        try:
            return importlib.import_module(name)
        except ImportError:
            continue
    return None
