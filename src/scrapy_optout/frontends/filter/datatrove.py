"""The dataset filter as a datatrove block: :class:`OptOutFilter`, and :func:`prefetch_policies`.

datatrove pipelines read documents (``Document``: ``text``, ``id``,
``metadata``), pass them through blocks and write them, one *task* (rank) per
shard of files, on one machine (``LocalPipelineExecutor``) or a Ray cluster
(``RayPipelineExecutor``). :class:`OptOutFilter` is a datatrove ``BaseFilter``
that removes the documents whose owners reserved them for the purpose, with
the same decision as ``optout filter`` (:func:`.decide.decide_record`, the one
:class:`~scrapy_optout.policy.evaluate.Evaluator`):

* the URL comes from ``doc.metadata[url_key]`` (dotted keys reach nested
  fields, as ``--url-field`` does); the response headers from
  ``doc.metadata[headers_key]`` and the HTML from ``doc.metadata[html_key]``,
  or from ``doc.text`` itself with ``text_is_html=True`` (datatrove's
  ``WarcReader`` puts the page's HTML there). A document with only a URL is
  decided on its origin's policy files (``origin_only``);
* each origin's policy files come from a snapshot folder
  (:class:`~scrapy_optout.stores.folder.SnapshotFolder`), such as the
  ``OUT/policies`` that ``optout filter`` writes or the one
  :func:`prefetch_policies` fills. An origin the folder does not hold is
  *unknown* (kept with ``unknown="allow"``, removed with ``"reserve"``);
  nothing is fetched from inside a task unless ``fetch_missing=True``;
* every removal is one line of the crawl ledger's schema (``stage:
  "dataset"``, ``record_id``, ``rank``) in ``ledger_folder/ledger-<rank>.jsonl``,
  one file per task, so the files concatenate into one ledger; the policy
  bodies that ledger lines and provenance entries name are kept once each in
  ``ledger_folder/ledger.evidence/``;
* each kept document gets its provenance (design §3.5) in
  ``doc.metadata["optout"]``;
* counts go to datatrove's stats (``forwarded``, ``dropped``,
  ``dropped_<signal>`` from ``BaseFilter``; ``unknown``, ``origin_only``,
  ``signal_<signal>``, ``policies_fetched`` from this block).

A removed document is written nowhere, unless an ``exclusion_writer`` is
given: datatrove's ``BaseFilter`` hands every dropped document to it, so that
writer holds the reserved content itself.

The block pickles to its settings alone (datatrove copies the pipeline into
each task, in another process or on another machine); the evaluator, the
snapshot cache and the ledger are made in the task, when :meth:`OptOutFilter.run`
starts, and the ledger is closed when it ends.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from datatrove.data import Document
from datatrove.pipeline.base import PipelineStep
from datatrove.pipeline.filters.base_filter import BaseFilter

from scrapy_optout.exceptions import ConfigurationError
from scrapy_optout.frontends.filter.decide import (
    Decision,
    Places,
    decide_record,
    ledger_record,
    provenance,
)
from scrapy_optout.frontends.filter.formats import PROVENANCE_FIELD, dig, headers_of
from scrapy_optout.frontends.filter.policies import PolicySource
from scrapy_optout.frontends.http import HttpFetcher
from scrapy_optout.policy.evaluate import Evaluator
from scrapy_optout.stores.folder import SnapshotFolder
from scrapy_optout.stores.ledger import Ledger
from scrapy_optout.verdict import Purpose

__all__ = ["LEDGER_NAME", "OptOutFilter", "ledger_path", "prefetch_policies"]

logger = logging.getLogger(__name__)

#: The ledger file of one task, under ``ledger_folder``.
LEDGER_NAME = "ledger-{rank:05d}.jsonl"
#: The evidence folder every task of a run shares (content-addressed, written atomically).
EVIDENCE_NAME = "ledger.evidence"
#: Origins fetched at once by :func:`prefetch_policies` and ``fetch_missing``.
FETCH_WORKERS = 8
#: Origins gathered before :func:`prefetch_policies` fetches them.
_PREFETCH_CHUNK = 1000


def ledger_path(ledger_folder: str | os.PathLike[str], rank: int) -> Path:
    """The ledger file the task of *rank* writes under *ledger_folder*."""
    return Path(ledger_folder) / LEDGER_NAME.format(rank=rank)


def _snapshot_folder(policies: str | os.PathLike[str] | SnapshotFolder) -> SnapshotFolder:
    """The snapshot store *policies* names: a folder (a path, ``file://`` URL or instance).

    This is where a store named by URL is resolved; only folders exist so far.
    """
    if isinstance(policies, SnapshotFolder):
        return policies
    if isinstance(policies, os.PathLike):
        return SnapshotFolder(policies)
    if not isinstance(policies, str):
        raise TypeError(
            f"policies must be a folder path or a SnapshotFolder, not {type(policies).__name__}"
        )
    scheme, sep, rest = policies.partition("://")
    if not sep:
        return SnapshotFolder(policies)
    if scheme.lower() == "file":
        return SnapshotFolder(rest)
    raise ConfigurationError(
        f"policies: no policy store for {scheme}:// URLs; name a snapshot folder"
        " (the OUT/policies of optout filter, or one prefetch_policies filled)"
    )


def _text(value: Any, name: str) -> str:
    if not isinstance(value, str) or not value:
        raise TypeError(f"{name} must be a non-empty str, not {value!r}")
    return value


def _count(value: Any, name: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ConfigurationError(f"{name} must be a whole number of at least 1, not {value!r}")
    return value


class _Task:
    """What one task of the filter holds while it runs."""

    def __init__(self, block: OptOutFilter, rank: int) -> None:
        keep_unknown = block.unknown == "allow"
        self.rank = rank
        self.evaluator = Evaluator(block.user_agent, reserve_unknown=not keep_unknown)
        store = _snapshot_folder(block.policies)
        if block.fetch_missing:
            store.create()
            fetcher = HttpFetcher(block.user_agent)
            self.source = PolicySource(store, fetcher=fetcher, workers=block.fetch_workers)
            self.mode = "live"
        else:
            self.source = PolicySource(store)
            self.mode = "folder"
        self.places = Places()
        path = ledger_path(block.ledger_folder, rank)
        # A task run again (a retry) rewrites its ledger, as datatrove's writers rewrite
        # their files: the ledgers of a run then hold each removal once.
        path.unlink(missing_ok=True)
        self.ledger = Ledger(path, Path(block.ledger_folder) / EVIDENCE_NAME)
        self.ledger.open()

    def close(self) -> None:
        self.ledger.close()


class OptOutFilter(BaseFilter):  # type: ignore[misc]  # datatrove is untyped
    """A datatrove filter that removes documents reserved for *purpose* (see the module doc).

    :param purpose: intended use (``train``, ``tdm``, ``input``, ``search``, ``crawl``).
    :param user_agent: the crawler identity whose robots.txt group applies.
    :param policies: the policy snapshot folder (a path, a ``file://`` URL or a
        :class:`~scrapy_optout.stores.folder.SnapshotFolder`), reachable from every task.
    :param ledger_folder: where each task writes ``ledger-<rank>.jsonl``, and the
        shared ``ledger.evidence/``; reachable from every task.
    :param url_key: the metadata key of the URL (dotted for nested fields).
    :param headers_key: the metadata key of the response headers, if the reader kept them.
    :param html_key: the metadata key of the page's HTML, if the reader kept it.
    :param text_is_html: the document's text is the page's HTML (datatrove's ``WarcReader``).
    :param unknown: ``"allow"`` keeps a document that cannot be decided (no URL, no
        snapshot of its origin), ``"reserve"`` removes it and also reads an
        unreadable ai.txt or ``tdmrep.json`` as a reservation.
    :param fetch_missing: fetch the policy files of an origin the folder lacks (and
        add them to it) instead of treating it as unknown.
    :param fetch_workers: origins fetched at once when *fetch_missing*.
    :param exclusion_writer: a datatrove writer for the removed documents. It
        receives their full content: give one only to keep reserved text on purpose.
    :param batch_size: documents decided together (their origins' snapshots are
        loaded, or fetched, at once).
    """

    name = "🛑 Opt-out"

    def __init__(
        self,
        *,
        purpose: Purpose | str = Purpose.TRAIN,
        user_agent: str,
        policies: str | os.PathLike[str] | SnapshotFolder,
        ledger_folder: str | os.PathLike[str],
        url_key: str = "url",
        headers_key: str | None = "headers",
        html_key: str | None = "html",
        text_is_html: bool = False,
        unknown: str = "allow",
        fetch_missing: bool = False,
        fetch_workers: int = FETCH_WORKERS,
        exclusion_writer: Any = None,
        batch_size: int = 256,
    ) -> None:
        super().__init__(
            exclusion_writer=exclusion_writer, batch_size=_count(batch_size, "batch_size")
        )
        try:
            self.purpose = Purpose(purpose)
        except ValueError:
            choices = ", ".join(p.value for p in Purpose)
            raise ConfigurationError(f"purpose must be one of {choices}, not {purpose!r}") from None
        self.user_agent = _text(user_agent, "user_agent")
        self.url_key = _text(url_key, "url_key")
        self.headers_key = None if headers_key is None else _text(headers_key, "headers_key")
        self.html_key = None if html_key is None else _text(html_key, "html_key")
        if unknown not in ("allow", "reserve"):
            raise ConfigurationError(f"unknown must be 'allow' or 'reserve', not {unknown!r}")
        self.unknown = unknown
        for name, flag in (("text_is_html", text_is_html), ("fetch_missing", fetch_missing)):
            if not isinstance(flag, bool):
                raise TypeError(f"{name} must be a bool, not {type(flag).__name__}")
        self.text_is_html = text_is_html
        self.fetch_missing = fetch_missing
        self.fetch_workers = _count(fetch_workers, "fetch_workers")
        # Checked now, so that a bad store fails here rather than in every task.
        self.policies = _snapshot_folder(policies).path
        if not isinstance(ledger_folder, str | os.PathLike):
            raise TypeError(f"ledger_folder must be a path, not {type(ledger_folder).__name__}")
        self.ledger_folder = Path(ledger_folder)
        if not fetch_missing and not self.policies.is_dir():
            logger.warning(
                "The policy folder %s does not exist: every document will be unknown", self.policies
            )
        if exclusion_writer is not None:
            logger.warning(
                "The exclusion writer %r will hold the content of every reserved document",
                exclusion_writer,
            )
        self._task: _Task | None = None

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_task"] = None  # made again in each task
        return state

    # -- datatrove's interface ----------------------------------------------------------

    def run(self, data: Any, rank: int = 0, world_size: int = 1) -> Iterator[Document]:
        """Filter the documents of the task of *rank*; its ledger is closed when the task ends."""
        self._task = _Task(self, rank)
        try:
            yield from super().run(data, rank, world_size)
        finally:
            self._task.close()
            self._task = None

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        result: bool | tuple[bool, str] = self.filter_batch([doc])[0]
        return result

    def filter_batch(self, batch: list[Document]) -> list[bool | tuple[bool, str]]:
        task = self._task
        if task is None:
            raise RuntimeError("OptOutFilter decides documents inside run() only")
        urls = [self._url(doc) for doc in batch]
        places = [task.places.origin(url) for url in urls]
        fetched = task.source.fetched
        task.source.prepare(origin for origin, _ in places if origin is not None)
        if task.source.fetched > fetched:
            self.stat_update("policies_fetched", value=task.source.fetched - fetched)
        return [
            self._decide(task, doc, url, origin, why)
            for doc, url, (origin, why) in zip(batch, urls, places, strict=True)
        ]

    # -- one document ---------------------------------------------------------------------

    def _url(self, doc: Document) -> str | None:
        url = dig(doc.metadata, self.url_key)
        return url if isinstance(url, str) else None

    def _response(self, doc: Document) -> tuple[dict[str, list[str]] | None, bytes | None]:
        metadata = doc.metadata
        headers = None
        if self.headers_key is not None:
            value = dig(metadata, self.headers_key)
            headers = headers_of(value) if value is not None else None
        html: Any = doc.text if self.text_is_html else None
        if html is None and self.html_key is not None:
            html = dig(metadata, self.html_key)
        if isinstance(html, str):
            return headers, html.encode("utf-8", "surrogatepass")
        return headers, html if isinstance(html, bytes) else None

    def _decide(
        self, task: _Task, doc: Document, url: str | None, origin: str | None, why: str | None
    ) -> bool | tuple[bool, str]:
        keep_unknown = self.unknown == "allow"
        if origin is None:
            decision = Decision(url or "", keep_unknown, None, None, False, why)
        else:
            assert url is not None
            headers, body = self._response(doc)
            decision = decide_record(
                task.evaluator,
                task.source.get(origin),
                url,
                self.purpose,
                headers=headers,
                body=body,
                unknown=task.source.unknown_reason,
                keep_unknown=keep_unknown,
            )
        if decision.unknown is not None:
            self.stat_update("unknown")
        if decision.origin_only:
            self.stat_update("origin_only")
        if decision.assessment is not None:
            task.ledger.store_evidence(decision.assessment.files)
        if decision.keep:
            doc.metadata[PROVENANCE_FIELD] = provenance(
                decision, self.purpose, token=task.evaluator.token
            )
            return True
        signals = decision.signals or ["unknown"]
        for signal in signals:
            self.stat_update(f"signal_{signal}")
        where: dict[str, Any] = {"rank": task.rank}
        source_file = doc.metadata.get("file_path")
        if isinstance(source_file, str):
            where["input"] = source_file
        task.ledger.write(
            ledger_record(
                decision,
                self.purpose,
                task.evaluator,
                origin=origin if decision.assessment is not None else None,
                domain=task.places.domain(origin, decision.url) if origin is not None else None,
                record_id=str(doc.id),
                policies=task.mode,
                where=where,
            )
        )
        return False, signals[0]


def prefetch_policies(
    sources: Iterable[str | Document | PipelineStep] | PipelineStep,
    store_folder: str | os.PathLike[str],
    *,
    user_agent: str,
    url_key: str = "url",
    workers: int = FETCH_WORKERS,
) -> dict[str, int]:
    """Fetch the policy files of every origin of *sources* once, into *store_folder*.

    *sources* are URLs, datatrove ``Document`` objects, or datatrove readers
    (read whole, as one task: the URL of each document in ``metadata[url_key]``).
    Origins the folder already holds are not fetched again; prefetch into a new
    folder for a fresh snapshot (a re-check). Returns ``{"urls", "origins",
    "fetched", "no_origin"}``: URLs read, distinct origins, origins fetched now,
    and URLs without an http(s) origin.
    """
    if isinstance(sources, str | bytes | os.PathLike):
        raise TypeError("sources must be an iterable of URLs, documents or readers, not one string")
    user_agent = _text(user_agent, "user_agent")
    workers = _count(workers, "workers")
    store = _snapshot_folder(store_folder)
    store.create()
    source = PolicySource(store, fetcher=HttpFetcher(user_agent), workers=workers)
    places = Places()
    counts = {"urls": 0, "origins": 0, "fetched": 0, "no_origin": 0}
    seen: set[str] = set()
    pending: list[str] = []
    for url in _urls(sources, url_key):
        counts["urls"] += 1
        origin, _ = places.origin(url)
        if origin is None:
            counts["no_origin"] += 1
        elif origin not in seen:
            seen.add(origin)
            pending.append(origin)
            if len(pending) >= _PREFETCH_CHUNK:
                source.prepare(pending)
                pending.clear()
    source.prepare(pending)
    counts["origins"] = len(seen)
    counts["fetched"] = source.fetched
    logger.info(
        "Prefetched the policy files of %d origins (%d already held) into %s",
        source.fetched,
        len(seen) - source.fetched,
        store.path,
    )
    return counts


def _urls(
    sources: Iterable[str | Document | PipelineStep] | PipelineStep, url_key: str
) -> Iterator[str | None]:
    items: Iterable[Any] = [sources] if isinstance(sources, PipelineStep) else sources
    for item in items:
        if isinstance(item, str):
            yield item
        elif isinstance(item, Document):
            yield _url_of(item, url_key)
        elif isinstance(item, PipelineStep):
            for doc in item.run(None, 0, 1):
                yield _url_of(doc, url_key)
        else:
            raise TypeError(
                f"sources must hold URLs, documents or readers, not {type(item).__name__}"
            )


def _url_of(doc: Document, url_key: str) -> str | None:
    url = dig(doc.metadata, url_key)
    return url if isinstance(url, str) else None
