"""The spider middleware: which pages each item came from.

:class:`OptOutSpiderMiddleware` notes the start requests that name a
non-http(s) URL (the only such URLs the downloader middleware lets through),
remembers for each item the response it was yielded from, and lets requests
carry the pages whose items their callbacks may yield, for
:class:`~scrapy_optout.OptOutPipeline`.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Iterable
from typing import TYPE_CHECKING, Any

from scrapy import Request
from scrapy.exceptions import NotConfigured
from scrapy.http import Response
from scrapy.spidermiddlewares.base import BaseSpiderMiddleware

from scrapy_optout.scrapy.exceptions import LedgerFailed
from scrapy_optout.scrapy.middleware import SITE_SCHEMES
from scrapy_optout.scrapy.runtime import MAX_CARRIED, META_SOURCE, ItemSource, OptOutCore
from scrapy_optout.scrapy.settings import enabled as optout_enabled

if TYPE_CHECKING:
    from scrapy.crawler import Crawler

    from scrapy_optout.policy.assessment import Assessment


class OptOutSpiderMiddleware(BaseSpiderMiddleware):
    """Remembers, for each item, the response it came from and what that response said.

    An item may be built in one callback and yielded from another (passed on
    in ``cb_kwargs`` or ``meta``). So a request made by a callback whose page
    says something about its items (``noimageai``, or a reservation recorded in
    measure mode) carries that page in its meta (:data:`META_SOURCE`), and the
    items of its own callback answer to both pages. A request that passes on an
    object its parent request also carried passes on the parent's pages too.
    """

    def __init__(self, crawler: Crawler) -> None:
        if not optout_enabled(crawler.settings):
            raise NotConfigured("OPTOUT_ENABLED is off")
        super().__init__(crawler)
        self.core = OptOutCore.for_crawler(crawler)

    async def process_start(self, start: AsyncIterator[Any]) -> AsyncIterator[Any]:
        """Pass the start requests on, noting those that name a non-http(s) URL.

        Only these URLs may be fetched with such a scheme (see :func:`_refused`).
        """
        start_urls = self.core.start_urls
        async for o in start:
            if isinstance(o, Request) and not o.url.lower().startswith(SITE_SCHEMES):
                start_urls.add(o.url)
            yield o

    # What BaseSpiderMiddleware does with the spider's output, less its
    # per-call wrapper (one more generator layer for every request and item of
    # every page): requests pass (carrying their page when it matters), items
    # are remembered. What they take along is worked out once per response.

    def process_spider_output(
        self, response: Response | None, result: Iterable[Any], spider: Any = None
    ) -> Iterable[Any]:
        carry, entry = self._page(response)
        sources = self.core.item_sources
        for o in result:
            if isinstance(o, Request):
                if carry is not None:
                    carry(o)
            elif o is None:
                continue
            elif entry is not None:
                sources[id(o)] = entry
            yield o
        self._done(response)

    async def process_spider_output_async(
        self, response: Response | None, result: AsyncIterator[Any], spider: Any = None
    ) -> AsyncIterator[Any]:
        carry, entry = self._page(response)
        sources = self.core.item_sources
        async for o in result:
            if isinstance(o, Request):
                if carry is not None:
                    carry(o)
            elif o is None:
                continue
            elif entry is not None:
                sources[id(o)] = entry
            yield o
        self._done(response)

    def get_processed_item(self, item: Any, response: Response | None) -> Any:
        # The pipeline works out what it needs when the item reaches it; nothing
        # is kept when the pipeline is not enabled.
        entry = self._entry(response)
        if entry is not None:
            self.core.item_sources[id(item)] = entry
        return item

    def _page(
        self, response: Response | None
    ) -> tuple[Callable[[Request], None] | None, tuple[Response, Assessment | None] | None]:
        """What the output of *response*'s callback takes along.

        The function to apply to each request it makes (``None``: nothing to
        pass on) and the entry each item gets for the pipeline (``None``:
        the pipeline is not enabled), worked out once per response.
        """
        entry = self._entry(response)
        if entry is None or entry[0].request is None:
            return None, entry
        return self._carrier(entry[0].request, entry[0], entry[1]), entry

    def _entry(self, response: Response | None) -> tuple[Response, Assessment | None] | None:
        """The entry the items of *response*'s callback get, ``None`` without the pipeline."""
        core = self.core
        if response is None or core.pipeline is None:
            return None
        parent = response.request
        return response, core.assessments.get(parent) if parent is not None else None

    def _carrier(
        self, parent: Request, response: Response, assessment: Assessment | None
    ) -> Callable[[Request], None] | None:
        """What to do to each request the callback of *response* makes, or ``None``."""
        core = self.core
        inherited: tuple[ItemSource, ...] = parent.meta.get(META_SOURCE, ())
        provenance = core.settings.provenance
        own = None
        if assessment is not None and (
            assessment.image_findings or core.measuring(parent) or provenance
        ):
            # (Only in measure mode can a reserved page reach its callback.)
            own = core.item_source(response, assessment)
        here = (own.carried(),) if own is not None and own.binding else ()
        # With provenance on, a page that binds nothing still goes to the requests
        # that pass data on: an item built from it must name it.
        traced = own.carried() if own is not None and provenance and not here else None
        if not here and not inherited and traced is None:
            return None  # the usual case: nothing to pass on
        return self._carry(parent, assessment, here, traced, inherited)

    def _carry(
        self,
        parent: Request,
        assessment: Assessment | None,
        here: tuple[ItemSource, ...],
        traced: ItemSource | None,
        inherited: tuple[ItemSource, ...],
    ) -> Callable[[Request], None]:
        # Apart from _carrier(): the closure's variables would make every one
        # of its locals a cell, built on each call, for every page.
        core = self.core
        provenance = core.settings.provenance
        passed = _passed_objects(parent) if inherited else frozenset()
        stored = False

        def carry(request: Request) -> None:
            nonlocal stored
            sources = list(here)
            if traced is not None and (request.cb_kwargs or _passed_objects(request)):
                sources.append(traced)
            if inherited and passed and not passed.isdisjoint(_passed_objects(request)):
                sources += inherited
            if not sources:
                return
            if provenance and not stored and assessment is not None and (here or traced):
                # The entry of an item built from this page will name these files.
                stored = True
                with contextlib.suppress(LedgerFailed):  # the crawl is being stopped
                    core.keep_evidence(assessment.files)
            meta = request.meta
            known = {(s.url, s.purpose) for s in meta.get(META_SOURCE, ())}
            merged = list(meta.get(META_SOURCE, ()))
            for source in sources:
                if (source.url, source.purpose) not in known:
                    known.add((source.url, source.purpose))
                    merged.append(source)
            meta[META_SOURCE] = tuple(merged[-MAX_CARRIED:])

        return carry

    def _done(self, response: Response | None) -> None:
        # Every item has taken the response's assessment along. A request and its
        # response refer to each other, so without this the assessment would
        # live until the garbage collector frees the pair.
        if response is not None and response.request is not None:
            self.core.assessments.pop(response.request, None)


#: Values that cannot carry an item from one callback to another.
_PLAIN = (str, bytes, int, float, bool, type(None))


def _passed_objects(request: Request) -> frozenset[int]:
    """Identities of the objects *request* passes to its callback (one level deep)."""
    found: set[int] = set()
    meta = request.meta
    values = [
        *(request.cb_kwargs or {}).values(),
        *(v for k, v in meta.items() if k != META_SOURCE),
    ]
    for value in values:
        if isinstance(value, _PLAIN):
            continue
        found.add(id(value))
        if isinstance(value, list | tuple | set):
            found.update(id(v) for v in value if not isinstance(v, _PLAIN))
        elif isinstance(value, dict):
            found.update(id(v) for v in value.values() if not isinstance(v, _PLAIN))
    return frozenset(found)
