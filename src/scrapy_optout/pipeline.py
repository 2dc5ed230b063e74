"""The item pipeline: drop items whose sources are reserved.

An item's sources are the response it was scraped from, the URLs in its
``file_urls`` and ``image_urls`` fields (the Files and Images pipelines'
conventions) and the URLs in any field named in ``OPTOUT_ITEM_URL_FIELDS``.
Each source URL is checked against its origin's policy files; image URLs are
also reserved by a ``noimageai`` on the page they were found on.

Give this pipeline a lower number than the Files and Images pipelines so that
it runs first (the add-on uses 0); their downloads also pass through
:class:`~scrapy_optout.OptOutMiddleware`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from itemadapter import ItemAdapter
from scrapy.exceptions import DropItem, NotConfigured

from scrapy_optout.core import LedgerFailed, OptOutCore
from scrapy_optout.origin import origin_of
from scrapy_optout.policystore import stats_counter
from scrapy_optout.signals.noai import is_image_type
from scrapy_optout.verdict import Verdict, decide

if TYPE_CHECKING:
    from typing import Self

    from scrapy.crawler import Crawler

CONVENTIONAL_FIELDS = ("file_urls", "image_urls")


class ReservedItem(DropItem):
    """Dropped because one of the item's sources is reserved for the purpose."""

    def __init__(self, url: str, verdict: Verdict, record: dict[str, Any]) -> None:
        # INFO, not Scrapy's WARNING: an exclusion is the component doing its job,
        # and the ledger already holds the details.
        super().__init__(
            f"Source {url} is reserved for {verdict.purpose} by {', '.join(verdict.signals)}",
            log_level="INFO",
        )
        self.url = url
        self.verdict = verdict
        self.record = record


class OptOutPipeline:
    """Drops (with :class:`ReservedItem`) items whose sources are reserved."""

    def __init__(self, crawler: Crawler) -> None:
        if not crawler.settings.getbool("OPTOUT_ENABLED", True):
            raise NotConfigured("OPTOUT_ENABLED is off")
        self.crawler = crawler
        self.core = OptOutCore.for_crawler(crawler)
        self.core.pipeline = self
        self._inc = stats_counter(crawler)
        self.fields = CONVENTIONAL_FIELDS + tuple(
            f for f in self.core.settings.item_url_fields if f not in CONVENTIONAL_FIELDS
        )

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls(crawler)

    async def process_item(self, item: Any) -> Any:
        core = self.core
        entry = core.item_sources.pop(id(item), None)
        source = core.item_source(*entry) if entry is not None else None
        purpose = core.settings.purpose
        measuring = core.settings.measure
        if source is not None and source.verdict is not None and source.verdict.reserved:
            # Reaches here only in measure mode: enforce mode stops it earlier.
            self._act(source.url, source.verdict, source.assessment, item, source.url, measuring)
        for field, url in self._source_urls(item):
            if not url.startswith(("http://", "https://")):
                continue
            policy = await core.store.get(origin_of(url))
            assessment = core.evaluator.origin_stage(policy, url)
            findings = assessment.all_findings  # a pending TDMRep reservation counts here
            if source is not None and (field == "image_urls" or is_image_type(None, url)):
                # noimageai / noai on the page binds the images it shows.
                findings = findings + source.image_findings
            verdict = decide(findings, purpose)
            if verdict.reserved or measuring:
                self._act(url, verdict, assessment, item, source.url if source else None, measuring)
        return item

    def _source_urls(self, item: Any) -> Iterator[tuple[str, str]]:
        # A plain dict needs no adapter (and most items are plain dicts).
        get = item.get if type(item) is dict else ItemAdapter(item).get
        for field in self.fields:
            value = get(field)
            if isinstance(value, str):
                yield field, value
            elif isinstance(value, list | tuple):
                for entry in value:
                    if isinstance(entry, str):
                        yield field, entry

    def _act(
        self,
        url: str,
        verdict: Verdict,
        assessment: Any,
        item: Any,
        page: str | None,
        measuring: bool,
    ) -> None:
        extra = {"item_source": page}
        try:
            if measuring:
                self.core.record(
                    stage="item",
                    url=url,
                    verdict=verdict,
                    assessment=assessment,
                    item=item,
                    extra=extra,
                )
                return
            record = self.core.exclude(
                stage="item",
                url=url,
                verdict=verdict,
                assessment=assessment,
                item=item,
                extra=extra,
            )
        except LedgerFailed as exc:
            # Kept without its record is not an option: drop the item too.
            raise DropItem(str(exc), log_level="ERROR") from exc
        self._inc("optout/items_dropped")
        raise ReservedItem(url, verdict, record)
