"""Loading opt-out registries: local files read, URLs fetched on the fetch contract.

``OPTOUT_REGISTRY`` (the crawl), ``--registry`` (``optout check``, ``optout
survey``, ``optout filter``) name registry files: paths or http(s) URLs, in
the format of :mod:`scrapy_optout.protocols.registry` (JSON Lines, or CSV with
the same columns). :func:`load_registries` reads them all into one
:class:`~scrapy_optout.policy.registries.Registries`; a URL is fetched with the
fetcher the caller gives, which follows the one fetch contract
(:mod:`scrapy_optout.policy.fetching`: redirects, error wording) with the size
limit :data:`REGISTRY_LIMITS`. A registry that cannot be read (a missing
file, a failed fetch, a non-2xx answer, a body cut at the size limit) is
recorded as an ``unknown`` finding on every URL, which ``OPTOUT_UNKNOWN``
turns into a reservation or not: never a silent "allowed".

:class:`RegistryRefresh` keeps a crawl's registries fresh: read again once
``OPTOUT_CACHE_TTL`` has passed since they were loaded.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from scrapy_optout.policy.fetching import Limits
from scrapy_optout.policy.registries import Registries
from scrapy_optout.policy.snapshot import PolicyFile
from scrapy_optout.protocols.registry import Registry, unavailable

__all__ = [
    "REGISTRY_KIND",
    "REGISTRY_LIMITS",
    "REGISTRY_MAXSIZE",
    "RegistryRefresh",
    "is_url",
    "load_registries",
    "load_registries_async",
    "registries_from",
]

logger = logging.getLogger(__name__)

#: The ``kind`` of a registry fetched as a policy file.
REGISTRY_KIND = "registry"
#: Bytes of a registry read from a URL (a longer one is "unknown": cut short).
REGISTRY_MAXSIZE = 512 * 1024 * 1024
REGISTRY_LIMITS = Limits(maxsize=REGISTRY_MAXSIZE)

#: Fetches a registry URL (blocking), on the fetch contract.
Fetch = Callable[[str], PolicyFile]
#: Fetches a registry URL from an event loop.
AsyncFetch = Callable[[str], Awaitable[PolicyFile]]


def is_url(source: str) -> bool:
    """Whether a registry source is an http(s) URL (else it is a path)."""
    return source.strip().lower().startswith(("http://", "https://"))


def _format(source: str) -> Literal["jsonl", "csv"] | None:
    path = urlsplit(source).path if is_url(source) else source
    suffix = Path(path).suffix.lower()
    if suffix == ".csv":
        return "csv"
    if suffix in (".jsonl", ".ndjson", ".json"):
        return "jsonl"
    return None


def _fetched_problem(file: PolicyFile) -> str | None:
    if file.error is not None:
        return file.error
    if not file.ok:
        return f"HTTP {file.status}"
    if file.truncated:
        return f"longer than {REGISTRY_MAXSIZE} bytes, cut short"
    return None


def registries_from(sources: Sequence[str], fetched: Mapping[str, PolicyFile]) -> Registries:
    """The registries of *sources*: paths read here, URLs as *fetched* (by URL)."""
    registry = Registry()
    problems = []
    for source in sources:
        if is_url(source):
            file = fetched.get(source)
            why = "not fetched" if file is None else _fetched_problem(file)
            if why is not None or file is None:
                problems.append(unavailable(source, why or "not fetched"))
                continue
            registry.load(file.body, source=source, format=_format(source))
            continue
        try:
            data = Path(source).read_bytes()
        except OSError as exc:
            problems.append(
                unavailable(source, f"cannot read the file: {exc.strerror or type(exc).__name__}")
            )
            continue
        registry.load(data, source=source, format=_format(source))
    found = Registries(registry, problems, sources)
    if sources:
        logger.info(
            "Opt-out registries: %(declarations)d declarations from %(sources)d source(s),"
            " %(skipped)d line(s) skipped, %(problems)d source(s) not available",
            {
                "declarations": found.declarations,
                "sources": len(sources),
                "skipped": found.skipped,
                "problems": len(problems),
            },
        )
    for problem in problems:
        logger.warning("Opt-out registry %s: %s", problem.source, problem.detail)
    return found


def load_registries(sources: Sequence[str], fetch: Fetch | None = None) -> Registries:
    """Read the registries *sources*, fetching URLs with *fetch* (blocking).

    Without *fetch*, a URL source is recorded as not available.
    """
    fetched = {s: fetch(s) for s in dict.fromkeys(sources) if is_url(s)} if fetch else {}
    return registries_from(sources, fetched)


async def load_registries_async(sources: Sequence[str], fetch: AsyncFetch) -> Registries:
    """:func:`load_registries` with URLs fetched from an event loop, one after another."""
    fetched = {s: await fetch(s) for s in dict.fromkeys(sources) if is_url(s)}
    return registries_from(sources, fetched)


class RegistryRefresh:
    """A crawl's registries, loaded once and read again after *ttl* seconds.

    :attr:`current` is what evaluators consult; :meth:`due` tells when it is
    time to load again (with :meth:`load`, from the event loop, while the old
    registries stay in use).
    """

    def __init__(
        self,
        sources: Sequence[str],
        fetch: AsyncFetch,
        *,
        ttl: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.sources = tuple(sources)
        self.fetch = fetch
        self.ttl = ttl
        self._clock = clock
        self.current: Registries | None = None
        self.loads = 0
        self._loaded_at = 0.0
        self._loading = False

    def due(self) -> bool:
        """Whether the registries were never loaded, or are older than the TTL."""
        if not self.sources or self._loading:
            return False
        return self.current is None or self._clock() - self._loaded_at >= self.ttl

    async def load(self) -> Registries:
        """Load every source again; the result becomes :attr:`current`."""
        self._loading = True
        try:
            found = await load_registries_async(self.sources, self.fetch)
        finally:
            self._loading = False
        self.current = found
        self._loaded_at = self._clock()
        self.loads += 1
        return found
