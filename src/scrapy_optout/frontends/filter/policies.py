"""Where the dataset filter gets each origin's policy files.

Three sources, one interface (:class:`PolicySource`: :meth:`~PolicySource.prepare`
a batch's origins, then :meth:`~PolicySource.get` each):

* **live** - each origin's robots.txt, ai.txt and ``tdmrep.json`` are fetched
  once, concurrently (``workers`` origins at a time), and kept in a
  :class:`~scrapy_optout.stores.folder.SnapshotFolder`, so a re-run or another
  shard pointed at that folder fetches nothing;
* **folder** - a snapshot folder written earlier, read only: an origin it does
  not hold is *unknown*;
* **captures** - stored captures (the survey's JSON Lines captures, WARC files
  such as Common Crawl's robots.txt captures): each origin's latest capture
  of each file, so records are decided "as of" the captures. An origin without
  a robots.txt capture is *unknown*.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor

from scrapy_optout.frontends.http import HttpFetcher
from scrapy_optout.policy.snapshot import OriginPolicy, PolicyFile
from scrapy_optout.policy.urls import AI_TXT, ROBOTS_TXT, TDMREP_JSON, origin_of
from scrapy_optout.stores.folder import SnapshotFolder

__all__ = ["PolicySource", "fetch_origin_policy"]

logger = logging.getLogger(__name__)

LIVE = "live"


def fetch_origin_policy(fetcher: HttpFetcher, origin: str) -> OriginPolicy:
    """Fetch the policy files of *origin*: the one place the filter goes online."""
    return fetcher.origin_policy(origin)


class PolicySource:
    """Origin policy snapshots for the filter, from one of the three sources."""

    def __init__(
        self,
        store: SnapshotFolder,
        *,
        fetcher: HttpFetcher | None = None,
        workers: int = 8,
        captured: dict[str, OriginPolicy] | None = None,
    ) -> None:
        self.store = store
        self.fetcher = fetcher
        self.workers = workers
        self.fetched = 0
        self._cache: dict[str, OriginPolicy | None] = {}
        #: Why an origin without a snapshot is unknown (said in ledger and provenance).
        self.unknown_reason = f"no policy snapshot of the origin in {store.path}"
        self._captured_only = captured is not None
        if captured is not None:
            self._cache.update(captured)
            self._read_only = True
            self.unknown_reason = "no robots.txt capture of the origin"
        else:
            self._read_only = fetcher is None

    @classmethod
    def live(cls, out: str | os.PathLike[str], user_agent: str, *, workers: int) -> PolicySource:
        store = SnapshotFolder(out)
        store.create()
        return cls(store, fetcher=HttpFetcher(user_agent), workers=workers)

    @classmethod
    def folder(cls, path: str | os.PathLike[str]) -> PolicySource:
        return cls(SnapshotFolder(path))

    @classmethod
    def captures(
        cls, paths: Sequence[str | os.PathLike[str]], out: str | os.PathLike[str]
    ) -> PolicySource:
        """Snapshots built from captures; they are also written to *out*."""
        from scrapy_optout.frontends.survey.captures import policy_file_of, read_captures

        latest: dict[str, dict[str, PolicyFile]] = {}
        dates: dict[tuple[str, str], str] = {}
        for capture in read_captures(paths):
            if capture.kind == "page":
                continue
            origin = origin_of(capture.url)
            key = (origin, capture.kind)
            if key in dates and (capture.date or "") < dates[key]:
                continue
            dates[key] = capture.date or ""
            latest.setdefault(origin, {})[capture.kind] = policy_file_of(capture)
        store = SnapshotFolder(out)
        store.create()
        captured: dict[str, OriginPolicy] = {}
        for origin, files in latest.items():
            if ROBOTS_TXT not in files:
                continue
            policy = OriginPolicy(
                origin, files[ROBOTS_TXT], files.get(AI_TXT), files.get(TDMREP_JSON)
            )
            store.put(policy)
            captured[origin] = policy
        return cls(store, captured=captured)

    def prepare(self, origins: Iterable[str]) -> None:
        """Make sure the snapshot of each of *origins* is at hand, fetching what is missing."""
        missing = [o for o in dict.fromkeys(origins) if o not in self._cache]
        to_fetch: list[str] = []
        for origin in missing:
            policy = None if self._captured_only else self.store.get(origin)
            if policy is not None or self._read_only:
                self._cache[origin] = policy
            else:
                to_fetch.append(origin)
        if not to_fetch:
            return
        fetcher = self.fetcher
        assert fetcher is not None
        with ThreadPoolExecutor(max_workers=min(self.workers, len(to_fetch))) as pool:
            for origin, policy in zip(
                to_fetch, pool.map(lambda o: fetch_origin_policy(fetcher, o), to_fetch), strict=True
            ):
                self.store.put(policy)
                self._cache[origin] = policy
                self.fetched += 1
        logger.debug("Fetched the policy files of %d origins", len(to_fetch))

    def get(self, origin: str) -> OriginPolicy | None:
        """The snapshot of *origin* (after :meth:`prepare`), or ``None``: unknown."""
        if origin not in self._cache:
            self.prepare([origin])
        return self._cache.get(origin)
