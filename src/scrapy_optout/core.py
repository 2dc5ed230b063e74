"""The per-crawler state shared by the middleware, spider middleware and pipeline.

There is one :class:`OptOutCore` per crawler: the settings, the evaluator, the
policy store and the ledger. :meth:`OptOutCore.exclude` is the single place an
exclusion is recorded (ledger line, evidence, stats, signal, log line), in that
order, before the caller acts on it.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from weakref import WeakKeyDictionary

from scrapy import signals
from scrapy.exceptions import IgnoreRequest
from scrapy.utils.defer import deferred_from_coro

from scrapy_optout import events
from scrapy_optout.exceptions import LedgerError
from scrapy_optout.ledger import SCHEMA_VERSION, Ledger
from scrapy_optout.origin import Assessment, Evaluator, isoformat, origin_of, utcnow
from scrapy_optout.policystore import PolicyStore
from scrapy_optout.settings import OptOutSettings
from scrapy_optout.verdict import Finding, Purpose, Verdict, clip

if TYPE_CHECKING:
    from scrapy import Request
    from scrapy.crawler import Crawler
    from scrapy.http import Response

logger = logging.getLogger("scrapy_optout")

#: Request.meta keys users may set.
META_PURPOSE = "optout_purpose"
META_MODE = "optout_mode"
META_SKIP = "dont_optout"
#: Request.meta key where the verdict summary of a response is left for the spider.
META_RESULT = "optout"

_tld: Any = None

_cores: WeakKeyDictionary[Crawler, OptOutCore] = WeakKeyDictionary()

#: ``finish_reason`` of a crawl stopped because its ledger could not be written.
LEDGER_FAILED = "optout_ledger_failed"

#: Longest ``rule`` quoted in a ledger line. A site may write a rule of any
#: length (a 500 KiB robots.txt line); the evidence file keeps it whole.
MAX_RULE_QUOTE = 2000


def registrable_domain(url: str) -> str:
    """The registrable domain of *url* (``news.example.co.uk`` -> ``example.co.uk``)."""
    global _tld
    if _tld is None:
        # Imported on first use: tldextract brings requests and urllib3 with it,
        # a fifth of a second at start-up that a crawl excluding nothing never needs.
        import tldextract

        # The bundled public suffix list only: never fetched from the network.
        _tld = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)
    parts = _tld(url)
    return parts.top_domain_under_public_suffix or parts.domain or ""


class LedgerFailed(IgnoreRequest):
    """Raised instead of acting on a decision whose ledger line could not be written.

    Nothing is kept or excluded without its record: the request or response
    is dropped (the pipeline drops the item) and the crawl stops.
    """


@dataclass
class ItemSource:
    """What the pipeline needs to know about the response an item came from."""

    url: str
    verdict: Verdict | None
    image_findings: list[Finding] = field(default_factory=list)
    assessment: Assessment | None = None


class OptOutCore:
    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self.settings = OptOutSettings.from_settings(crawler.settings)
        self.evaluator = Evaluator(
            self.settings.user_agent,
            extra_agents=self.settings.agents,
            reserve_unknown=self.settings.reserve_unknown,
        )
        self.store = PolicyStore(crawler, self.settings)
        self.ledger = Ledger(self.settings.ledger, self.settings.evidence_dir)
        # Before any request: a ledger that cannot be written stops the crawl
        # from starting (LedgerError, naming the setting and the path).
        self.ledger.open()
        # Measure mode records each URL once per stage, purpose and verdict:
        # digests of the combinations recorded so far.
        self._measured: set[bytes] = set()
        self._stopping = False
        self.assessments: WeakKeyDictionary[Request, Assessment] = WeakKeyDictionary()
        # The response each item came from and its assessment, by id(item), from the spider
        # middleware to the pipeline (set when the pipeline is enabled).
        self.item_sources: dict[int, tuple[Response, Assessment | None]] = {}
        self.pipeline: object | None = None
        crawler.signals.connect(self._spider_closed, signal=signals.spider_closed)
        crawler.signals.connect(self._engine_stopped, signal=signals.engine_stopped)
        # The pipeline takes its item's entry; these catch items that never
        # reach it (dropped or failed in an earlier pipeline). Not item_scraped:
        # a receiver there would cost every item a signal call.
        for signal in (signals.item_dropped, signals.item_error):
            crawler.signals.connect(self._forget_item, signal=signal)

    @classmethod
    def for_crawler(cls, crawler: Crawler) -> OptOutCore:
        core = _cores.get(crawler)
        if core is None:
            core = _cores[crawler] = cls(crawler)
        return core

    # -- per-request options ------------------------------------------------------

    def purpose_for(self, request: Request | None) -> Purpose:
        if request is not None and META_PURPOSE in request.meta:
            return Purpose(str(request.meta[META_PURPOSE]).lower())
        return self.settings.purpose

    def measuring(self, request: Request | None) -> bool:
        if request is not None and META_MODE in request.meta:
            return str(request.meta[META_MODE]).lower() == "measure"
        return self.settings.measure

    # -- recording ----------------------------------------------------------------

    def record(
        self,
        *,
        stage: str,
        url: str,
        verdict: Verdict,
        assessment: Assessment | None,
        request: Request | None = None,
        item: Any = None,
        extra: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Write one ledger line (and its evidence) for *verdict*; return the record.

        In measure mode a URL already recorded at *stage* for the purpose with
        the same verdict is not recorded again (the return value is then an
        empty dict). Raises :class:`LedgerFailed` when the line or its evidence
        could not be written; the crawl is then being stopped.
        """
        measuring = self.measuring(request)
        key = b""
        if measuring:
            seen = f"{stage}\0{verdict.purpose}\0{verdict.label}\0{url}"
            key = hashlib.blake2b(seen.encode("utf-8", "surrogatepass"), digest_size=16).digest()
            if key in self._measured:
                return {}
        evidence = assessment.evidence if assessment is not None else []
        spider = self.crawler.spider
        record: dict[str, Any] = {
            "v": SCHEMA_VERSION,
            "time": isoformat(utcnow()),
            "url": url,
            "origin": origin_of(url),
            "domain": registrable_domain(url),
            "stage": stage,
            "purpose": str(verdict.purpose),
            "verdict": verdict.label,
            "mode": "measure" if measuring else "enforce",
            "reasons": [_quoted(f.reason()) for f in verdict.reasons],
            "evidence": evidence,
            "spider": spider.name if spider is not None else None,
            "token": self.evaluator.token,
        }
        redirects = request.meta.get("redirect_urls") if request is not None else None
        if redirects:
            record["redirect_urls"] = list(redirects)
        if extra:
            record.update(extra)
        try:
            if assessment is not None:
                self.ledger.store_evidence(assessment.files)
            self.ledger.write(record)
        except LedgerError as exc:
            self._ledger_failed(exc)
            raise LedgerFailed(f"Not recorded, so dropped: {url} ({exc})") from exc
        if measuring:
            self._measured.add(key)
        stats = self.crawler.stats
        if stats is not None:
            stats.inc_value(f"optout/verdict/{verdict.label}")
        return record

    def exclude(
        self,
        *,
        stage: str,
        url: str,
        verdict: Verdict,
        assessment: Assessment | None,
        request: Request | None = None,
        item: Any = None,
        extra: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Record an exclusion: ledger line, evidence, stats, signal and a log line."""
        record = self.record(
            stage=stage,
            url=url,
            verdict=verdict,
            assessment=assessment,
            request=request,
            item=item,
            extra=extra,
        )
        stats = self.crawler.stats
        if stats is not None:
            stats.inc_value("optout/excluded_count")
            stats.inc_value(f"optout/excluded_stage/{stage}")
            for signal in verdict.signals:
                stats.inc_value(f"optout/excluded/{signal}")
        self.crawler.signals.send_catch_log(
            events.content_excluded, record=record, request=request, item=item
        )
        if self.settings.log_exclusions:
            first = verdict.reasons[0] if verdict.reasons else None
            logger.info(
                "Excluded %(url)s for %(purpose)s at the %(stage)s stage: %(signals)s %(rule)r",
                {
                    "url": url,
                    "purpose": verdict.purpose,
                    "stage": stage,
                    "signals": ", ".join(verdict.signals),
                    "rule": first.rule if first else "",
                },
                extra={"spider": self.crawler.spider},
            )
        return record

    def _ledger_failed(self, exc: LedgerError) -> None:
        """Stop the crawl, once: a decision that cannot be recorded cannot be acted on."""
        if self._stopping:
            return
        self._stopping = True
        stats = self.crawler.stats
        if stats is not None:
            stats.set_value("optout/ledger_failed", 1)
        logger.error(
            "%s. Closing the spider: nothing is kept or excluded without its ledger record.",
            exc,
            extra={"spider": self.crawler.spider},
        )
        engine = self.crawler._engine  # None when no crawl is running
        if engine is not None and engine.spider is not None:
            closing = deferred_from_coro(engine.close_spider_async(reason=LEDGER_FAILED))
            closing.addErrback(
                lambda failure: logger.error("Could not close the spider: %s", failure.value)
            )

    def _engine_stopped(self) -> None:
        if self.ledger.failed is None:
            return
        logger.error(
            "The crawl stopped because its ledger could not be written: %s", self.ledger.failed
        )
        # Scrapy's runners (scrapy crawl, runspider, CrawlerProcess) report a
        # crawler left without a spider as failed (bootstrap_failed, exit code 1);
        # Scrapy has no other way for a component to set the exit code.
        self.crawler.spider = None

    # -- item bookkeeping ---------------------------------------------------------

    def item_source(self, response: Response, assessment: Assessment | None) -> ItemSource:
        """What the response an item came from (and its *assessment*) says about it."""
        request = response.request
        if assessment is None:
            return ItemSource(url=response.url, verdict=None)
        purpose = self.purpose_for(request)
        return ItemSource(
            url=response.url,
            verdict=assessment.verdict(purpose),
            image_findings=[f for f in assessment.image_findings if f.bears_on(purpose)],
            assessment=assessment,
        )

    def _forget_item(self, item: Any, **kwargs: Any) -> None:
        self.item_sources.pop(id(item), None)

    def _spider_closed(self, spider: Any = None, reason: str = "") -> None:
        self.ledger.close()
        stats = self.crawler.stats
        if stats is not None:
            stats.set_value("optout/ledger_records", self.ledger.records_written)
            stats.set_value("optout/origins_cached", len(self.store))


def _quoted(reason: dict[str, str]) -> dict[str, str]:
    if len(reason["rule"]) > MAX_RULE_QUOTE:
        reason = {**reason, "rule": clip(reason["rule"], MAX_RULE_QUOTE)}
    return reason
