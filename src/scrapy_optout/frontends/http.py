"""Blocking HTTP fetching with ``requests``, for ``optout check``.

Policy files and the page under examination are fetched with explicit limits:
a connect and read timeout, a total deadline per fetch of twice the timeout (a
server dripping its headers or body one byte at a time cannot hold a check
forever: the fetch runs in a worker thread that is abandoned at the deadline)
and a cap on the bytes read after decompression (a gzip bomb stops at the cap).
Redirects are followed hop by hop on the fetch contract
(:mod:`~scrapy_optout.policy.fetching`), which also turns a policy file's
answers into its :class:`~scrapy_optout.policy.snapshot.PolicyFile` as the
crawl does; so are the RSL licences robots.txt or a page names (each fetched
once per fetcher, by URL) and the opt-out registries given by URL. Proxies
and ``.netrc`` from the environment are ignored. Errors are fixed
descriptions, never text the server chose.
"""

from __future__ import annotations

import http.client
import math
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypeVar
from urllib.parse import urljoin, urlsplit

import requests

from scrapy_optout.exceptions import TIMED_OUT, ConfigurationError, describe_error
from scrapy_optout.policy.evaluate import BODY_SCAN_LIMIT
from scrapy_optout.policy.fetching import (
    DEFAULT_MAXSIZE,
    LIMITS,
    REDIRECT_STATUSES,
    Answer,
    Limits,
    fetch_policy_file_sync,
    resolve_redirect,
)
from scrapy_optout.policy.snapshot import (
    AI_TXT,
    ROBOTS_TXT,
    RSL_LICENCE,
    TDMREP_JSON,
    TOO_MANY_REDIRECTS,
    Licence,
    OriginPolicy,
    PolicyFile,
    utcnow,
)
from scrapy_optout.policy.urls import origin_of, policy_url

#: Bytes read of a policy file; RFC 9309 asks that at least 500 KiB of robots.txt be parsed.
POLICY_MAX_BYTES = DEFAULT_MAXSIZE
#: Bytes read of a page: as many as the Scrapy body stage searches for ``<meta>``.
PAGE_MAX_BYTES = BODY_SCAN_LIMIT
#: Header lines accepted in one response. The standard library refuses more
#: than 100, so a response repeating ``X-Robots-Tag`` a hundred times could not
#: be checked at all; browsers and Scrapy read such responses.
MAX_HEADER_LINES = 1000

if getattr(http.client, "_MAXHEADERS", MAX_HEADER_LINES) < MAX_HEADER_LINES:
    setattr(http.client, "_MAXHEADERS", MAX_HEADER_LINES)  # noqa: B010 - private name

_T = TypeVar("_T")


@dataclass
class FetchResult:
    """The outcome of one GET, after redirects."""

    url: str
    status: int | None
    headers: dict[str, list[str]] = field(default_factory=dict)
    body: bytes = b""
    final_url: str | None = None
    error: str | None = None
    truncated: bool = False
    fetched_at: datetime = field(default_factory=utcnow)
    redirects: list[str] = field(default_factory=list)

    @property
    def content_type(self) -> str | None:
        values = self.headers.get("content-type")
        return values[-1] if values else None


class HttpFetcher:
    """Fetches URLs and origin policy snapshots with ``requests``."""

    def __init__(
        self,
        user_agent: str,
        *,
        timeout: float = 15.0,
        limits: Limits = LIMITS,
        session: requests.Session | None = None,
    ) -> None:
        if isinstance(timeout, bool) or not (math.isfinite(timeout) and timeout > 0):
            raise ConfigurationError(f"timeout must be a number above 0, not {timeout!r}")
        self.user_agent = user_agent
        self.timeout = timeout
        self.limits = limits
        self.session = session or _Session()
        # Nothing from the environment steers where a check connects.
        self.session.trust_env = False
        # RSL licences fetched so far, by URL: each is fetched once.
        self._licences: dict[str, Licence] = {}

    @property
    def budget(self) -> float:
        """Seconds one fetch may take, redirects included."""
        return self.timeout * 2

    def fetch(
        self, url: str, *, max_bytes: int = PAGE_MAX_BYTES, follow: bool = True
    ) -> FetchResult:
        """GET *url*, following redirects as a policy file fetch does.

        With ``follow=False`` a redirect is returned as it came (status 3xx),
        for callers that check each hop themselves. The whole fetch, redirects
        included, ends within twice the timeout.
        """
        started = utcnow()

        def late(message: str) -> FetchResult:
            return FetchResult(url, None, error=message, fetched_at=started)

        return self._bounded(
            lambda deadline: self._fetch(url, max_bytes, follow, started, deadline), late
        )

    def _bounded(self, run: Callable[[float], _T], failed: Callable[[str], _T]) -> _T:
        """``run(deadline)`` in a worker thread, or ``failed(error)`` past the deadline."""
        budget = self.budget
        outcome: list[_T] = []

        def work() -> None:
            try:
                outcome.append(run(time.monotonic() + budget))
            except Exception as exc:  # never a silent thread death taken for a timeout
                outcome.append(failed(describe_error(exc)))

        worker = threading.Thread(target=work, name="optout-fetch", daemon=True)
        worker.start()
        worker.join(budget + 1)
        if outcome:
            return outcome[0]
        # Still connecting or reading headers a byte at a time: give up on it.
        return failed(f"{TIMED_OUT} (no answer within {budget:g} s)")

    def _fetch(
        self, url: str, max_bytes: int, follow: bool, started: datetime, deadline: float
    ) -> FetchResult:
        current = url
        hops: list[str] = []
        while True:
            if urlsplit(current).scheme not in ("http", "https"):
                return FetchResult(
                    url,
                    None,
                    error="refused: not an http(s) URL",
                    fetched_at=started,
                    redirects=hops,
                )
            try:
                answer = self._get(current, max_bytes, deadline)
            except requests.RequestException as exc:
                return FetchResult(
                    url, None, error=describe_error(exc), fetched_at=started, redirects=hops
                )
            headers = {name: list(values) for name, values in answer.headers.items()}
            if follow and answer.error is None and answer.status in REDIRECT_STATUSES:
                step = resolve_redirect(current, answer.header("location"), len(hops), self.limits)
                if step.target is not None:
                    hops.append(current)
                    current = step.target
                    continue
                if step.stop == TOO_MANY_REDIRECTS:
                    return FetchResult(
                        url,
                        answer.status,
                        headers,
                        final_url=current,
                        error=f"{TOO_MANY_REDIRECTS} (more than {self.limits.max_redirects})",
                        fetched_at=started,
                        redirects=hops,
                    )
            return FetchResult(
                url,
                answer.status,
                headers,
                answer.body,
                current,
                answer.error,
                answer.truncated,
                started,
                hops,
            )

    def _get(self, url: str, max_bytes: int, deadline: float) -> Answer:
        """One GET of *url*, no redirect followed, at most *max_bytes* of the body read."""
        response = self.session.get(
            url,
            headers={"User-Agent": self.user_agent, "Accept-Encoding": "gzip, deflate"},
            timeout=(self.timeout, self.timeout),
            allow_redirects=False,
            stream=True,
        )
        with response:
            headers = _header_lists(response)
            body, truncated, error = _read_capped(response, max_bytes, deadline)
        return Answer(url, response.status_code, headers, body, truncated, error)

    def policy_file(
        self, origin: str, kind: str, *, url: str | None = None, limits: Limits | None = None
    ) -> PolicyFile:
        """The policy file *kind* of *origin* (or at *url*), on the fetch contract."""
        limits = limits or self.limits

        def run(deadline: float) -> PolicyFile:
            return fetch_policy_file_sync(
                lambda target: self._get(target, limits.maxsize, deadline),
                origin,
                kind,
                limits,
                url=url,
            )

        def late(message: str) -> PolicyFile:
            return PolicyFile(kind, url or policy_url(origin, kind), None, error=message)

        return self._bounded(run, late)

    def file_at(self, url: str, kind: str, limits: Limits | None = None) -> PolicyFile:
        """The file at *url* (an RSL licence, a registry), on the fetch contract."""
        return self.policy_file(origin_of(url), kind, url=url, limits=limits)

    def licence(self, url: str) -> Licence:
        """The RSL licence document at *url*, fetched once per fetcher."""
        found = self._licences.get(url)
        if found is None:
            found = self._licences[url] = Licence(self.file_at(url, RSL_LICENCE))
        return found

    def licences(self, urls: list[str]) -> dict[str, Licence]:
        """The RSL licence documents at *urls*, by URL."""
        return {url: self.licence(url) for url in dict.fromkeys(urls)}

    def origin_policy(self, origin: str) -> OriginPolicy:
        """Fetch robots.txt, ai.txt and tdmrep.json of *origin* concurrently."""
        with ThreadPoolExecutor(max_workers=3) as pool:
            files = dict(
                zip(
                    (ROBOTS_TXT, AI_TXT, TDMREP_JSON),
                    pool.map(
                        lambda kind: self.policy_file(origin, kind),
                        (ROBOTS_TXT, AI_TXT, TDMREP_JSON),
                    ),
                    strict=True,
                )
            )
        policy = OriginPolicy(origin, files[ROBOTS_TXT], files[AI_TXT], files[TDMREP_JSON])
        urls = policy.licence_urls
        if not urls:
            return policy
        # The licences robots.txt names (License: lines), kept with the snapshot.
        found = self.licences(urls)
        return policy.with_licences([found[url] for url in urls])


class _Session(requests.Session):
    """A session that takes a malformed ``Location`` for no redirect at all.

    ``requests`` parses the target of every redirect, even one it is not asked
    to follow, and a broken IPv6 literal there raises ``ValueError``; the 3xx
    response is then what the fetch returns, as in the crawl.
    """

    def get_redirect_target(self, resp: requests.Response) -> str | None:
        target = super().get_redirect_target(resp)
        if target is not None:
            try:
                urlsplit(urljoin(resp.url, target))
            except ValueError:
                return None
        return target


def _header_lists(response: requests.Response) -> dict[str, list[str]]:
    """Every header line kept apart: ``X-Robots-Tag`` scoping is per line."""
    raw = getattr(response.raw, "headers", None)
    out: dict[str, list[str]] = {}
    if raw is not None and hasattr(raw, "getlist"):
        for name in raw:
            out.setdefault(name.lower(), []).extend(raw.getlist(name))
        return out
    headers: Mapping[str, str] = response.headers
    for name, value in headers.items():
        out.setdefault(name.lower(), []).append(value)
    return out


def _read_capped(
    response: requests.Response, max_bytes: int, deadline: float
) -> tuple[bytes, bool, str | None]:
    """At most *max_bytes* of the body, whether there was more, and why reading failed."""
    chunks: list[bytes] = []
    size = 0
    try:
        for chunk in response.iter_content(chunk_size=16384):
            chunks.append(chunk)
            size += len(chunk)
            if size > max_bytes:
                return b"".join(chunks)[:max_bytes], True, None
            if time.monotonic() > deadline:
                return b"".join(chunks), True, f"{TIMED_OUT} (body not read by the deadline)"
    except requests.RequestException as exc:
        return b"".join(chunks), True, describe_error(exc)
    return b"".join(chunks), False, None
