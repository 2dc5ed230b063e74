"""The per-crawler state shared by the middleware, spider middleware and pipeline.

There is one :class:`OptOutCore` per crawler: the settings, the evaluator, the
policy store and the ledger. :meth:`OptOutCore.exclude` is the single place an
exclusion is recorded (ledger line, evidence, stats, signal, log line), in that
order, before the caller acts on it.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Unpack
from weakref import WeakKeyDictionary

from scrapy import signals
from scrapy.downloadermiddlewares.defaultheaders import DefaultHeadersMiddleware
from scrapy.downloadermiddlewares.useragent import UserAgentMiddleware
from scrapy.http import Headers
from scrapy.utils.conf import build_component_list
from scrapy.utils.misc import load_object
from w3lib.url import canonicalize_url

from scrapy_optout.exceptions import LedgerError
from scrapy_optout.policy.evaluate import Assessment, Evaluator
from scrapy_optout.policy.registries import Registries
from scrapy_optout.policy.snapshot import PolicyFile, isoformat, utcnow
from scrapy_optout.policy.urls import origin_of, registrable_domain
from scrapy_optout.scrapy import signals as events
from scrapy_optout.scrapy.exceptions import InvalidOptOutMeta, LedgerFailed
from scrapy_optout.scrapy.fetcher import close_spider
from scrapy_optout.scrapy.policystore import policy_store
from scrapy_optout.scrapy.settings import ENFORCE, MEASURE, OptOutSettings
from scrapy_optout.stores.ledger import Ledger, provenance_path_for
from scrapy_optout.stores.record import LedgerRecord, RecordDetails
from scrapy_optout.stores.registries import RegistryRefresh
from scrapy_optout.verdict import Finding, Purpose, Stage, Verdict, clip

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
#: Request.meta key: what the pages whose callbacks made a request said about
#: their items (a tuple of :class:`ItemSource`), for items built there and
#: yielded from the request's callback.
META_SOURCE = "optout_source"
#: Request.meta key of the pipeline's own look at a media URL's type.
META_PROBE = "_optout_media_probe"
#: Most page sources one request carries.
MAX_CARRIED = 16
#: Most media URLs whose downloads are judged by the type they turn out to have.
MEDIA_GUARD_SIZE = 10000

_PURPOSES = {p.value: p for p in Purpose}
_MODES = (ENFORCE, MEASURE)
#: Most User-Agent strings (and product tokens) whose evaluators are kept; a
#: crawl that rotates more than this starts the cache afresh.
_MAX_IDENTITIES = 1024

_cores: WeakKeyDictionary[Crawler, OptOutCore] = WeakKeyDictionary()

#: ``finish_reason`` of a crawl stopped because its ledger could not be written.
LEDGER_FAILED = "optout_ledger_failed"

#: Longest ``rule`` quoted in a ledger line. A site may write a rule of any
#: length (a 500 KiB robots.txt line); the evidence file keeps it whole.
MAX_RULE_QUOTE = 2000


def sent_user_agent(crawler: Crawler) -> str:
    """The User-Agent Scrapy's own middlewares give a request that names none.

    ``DefaultHeadersMiddleware`` (``DEFAULT_REQUEST_HEADERS``) and
    ``UserAgentMiddleware`` (the spider's ``user_agent`` attribute, else
    ``USER_AGENT``) both set the header only when it is missing, so the first of
    them in the downloader middleware order that has a value decides. ``""``
    when neither is enabled or neither has a value: the request leaves without one.
    """
    settings = crawler.settings
    for component in build_component_list(settings.getwithbase("DOWNLOADER_MIDDLEWARES")):
        cls = load_object(component) if isinstance(component, str) else component
        if not isinstance(cls, type):
            continue
        if issubclass(cls, DefaultHeadersMiddleware):
            headers = settings.getdict("DEFAULT_REQUEST_HEADERS")
            for name, value in headers.items():
                if str(name).lower() == "user-agent" and value:
                    return _text(value)
        elif issubclass(cls, UserAgentMiddleware):
            value = getattr(crawler.spider, "user_agent", None) or settings.get("USER_AGENT")
            if value:
                return _text(value)
    return ""


def _text(value: object) -> str:
    return value.decode("latin-1") if isinstance(value, bytes) else str(value)


@dataclass
class ItemSource:
    """What the pipeline needs to know about a page an item came from.

    ``purpose`` and ``measuring`` are those of the request of that page
    (``optout_purpose`` / ``optout_mode`` in its meta, or the settings).
    ``image_findings`` are the page's reservations that bind its images
    (``noimageai``, ``noai``) for that purpose.
    """

    url: str
    verdict: Verdict | None
    image_findings: list[Finding] = field(default_factory=list)
    assessment: Assessment | None = None
    purpose: Purpose | None = None
    measuring: bool = False
    #: The stage and product token of the assessment (``None`` for a page not judged).
    stage: Stage | None = None
    token: str | None = None
    #: Of a carried copy, which has no assessment: the evidence of its policy files.
    carried_evidence: list[dict[str, Any]] = field(default_factory=list)

    @property
    def binding(self) -> bool:
        """Whether this page says anything that bears on the items built from it."""
        return bool(self.image_findings) or (self.verdict is not None and self.verdict.reserved)

    @property
    def evidence(self) -> list[dict[str, Any]]:
        """The evidence of the policy files the page was judged with."""
        if self.assessment is not None:
            return self.assessment.evidence
        return self.carried_evidence

    def carried(self) -> ItemSource:
        """A copy small enough to travel in a request's meta (its evidence, no assessment)."""
        return ItemSource(
            self.url,
            self.verdict,
            self.image_findings,
            None,
            self.purpose,
            self.measuring,
            self.stage,
            self.token,
            self.evidence,
        )


@dataclass(frozen=True, slots=True)
class MediaGuard:
    """A media URL of an item from a page whose images are reserved.

    Its download is judged by what it turns out to be: an image (by its
    ``Content-Type`` or its bytes) is reserved by *findings*, anything else
    (a PDF, a text file) is not.
    """

    page: str
    purpose: Purpose
    measuring: bool
    findings: tuple[Finding, ...]


def media_key(url: str) -> str:
    """The form of *url* under which a media download is looked up."""
    return canonicalize_url(url.strip(), keep_fragments=False)


class OptOutCore:
    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self.settings = OptOutSettings.from_settings(crawler.settings)
        # Evaluators by product token, and by the User-Agent strings seen with it.
        self._by_token: dict[str, Evaluator] = {}
        self._by_agent: dict[str, Evaluator] = {}
        self._default_agent: str | None = self.settings.user_agent_override
        # OPTOUT_POLICY_STORE: this process only, or shared through Redis.
        self.store = policy_store(crawler, self.settings)
        # OPTOUT_REGISTRY: loaded before the first request is judged, read again
        # after OPTOUT_CACHE_TTL (URLs through the engine, on the fetch contract).
        self.registry: RegistryRefresh | None = (
            RegistryRefresh(
                self.settings.registry,
                self.store.fetcher.registry_file,
                ttl=self.settings.cache_ttl,
            )
            if self.settings.registry
            else None
        )
        self._registry_load: asyncio.Future[Registries] | None = None
        self._registry_tasks: set[asyncio.Future[Registries]] = set()
        self.ledger = Ledger(self.settings.ledger, self.settings.evidence_dir)
        # Before any request: a ledger that cannot be written stops the crawl
        # from starting (LedgerError, naming the setting and the path).
        self.ledger.open()
        #: Provenance of items that cannot take it, by item (``OPTOUT_PROVENANCE``);
        #: opened now for the same reason.
        self.provenance_file: Ledger | None = None
        if self.settings.provenance:
            self.provenance_file = Ledger(
                provenance_path_for(self.ledger.path),
                self.ledger.evidence_dir,
                setting="OPTOUT_PROVENANCE",
                name="provenance side file",
            )
            self.provenance_file.open()
        # Measure mode records each URL once per stage, purpose and verdict:
        # digests of the combinations recorded so far.
        self._measured: set[bytes] = set()
        self._stopping = False
        self.assessments: WeakKeyDictionary[Request, Assessment] = WeakKeyDictionary()
        # Non-http(s) URLs that start requests named (see OptOutSpiderMiddleware).
        self.start_urls: set[str] = set()
        # The response each item came from and its assessment, by id(item), from the spider
        # middleware to the pipeline (set when the pipeline is enabled).
        self.item_sources: dict[int, tuple[Response, Assessment | None]] = {}
        self.media_guard: OrderedDict[str, MediaGuard] = OrderedDict()
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

    # -- identity -------------------------------------------------------------------

    @property
    def default_user_agent(self) -> str:
        """The User-Agent of a request that sets none: ``OPTOUT_USER_AGENT``, else as sent."""
        agent = self._default_agent
        if agent is None:
            # Worked out on first use: the spider's user_agent attribute is known by then.
            agent = self._default_agent = sent_user_agent(self.crawler)
        return agent

    def user_agent_for(self, request: Request | None) -> str:
        """The User-Agent whose product token judges *request*.

        ``OPTOUT_USER_AGENT`` when set; else the ``User-Agent`` header the request
        carries (once Scrapy's middlewares have run, the one it is sent with);
        else the one those middlewares will give it.
        """
        override = self.settings.user_agent_override
        if override:
            return override
        if request is not None:
            headers = request.headers
            # Scrapy's Headers keeps value lists under title-case keys: one plain
            # lookup instead of its normalising get().
            values = (
                dict.get(headers, b"User-Agent")
                if type(headers) is Headers
                else headers.getlist(b"User-Agent")
            )
            if values and values[-1]:
                return _text(values[-1])
        return self.default_user_agent

    def identity_of(self, token: str | None) -> tuple[str, str]:
        """The product token and User-Agent of an assessment made for *token*.

        The crawl's default identity when *token* is ``None`` or no longer known.
        """
        evaluator = self._by_token.get(token) if token is not None else None
        if evaluator is None:
            evaluator = self.evaluator
        return evaluator.token, evaluator.user_agent

    def evaluator_for(self, request: Request | None) -> Evaluator:
        """The evaluator of the identity *request* is (or will be) sent with."""
        agent = self.user_agent_for(request)
        return self._by_agent.get(agent) or self._evaluator(agent)

    @property
    def evaluator(self) -> Evaluator:
        """The evaluator of the crawl's default identity (:attr:`default_user_agent`)."""
        return self.evaluator_for(None)

    def _evaluator(self, agent: str) -> Evaluator:
        if len(self._by_agent) >= _MAX_IDENTITIES or len(self._by_token) >= _MAX_IDENTITIES:
            self._by_agent.clear()
            self._by_token.clear()
        evaluator = Evaluator(
            agent,
            extra_agents=self.settings.agents,
            reserve_unknown=self.settings.reserve_unknown,
            registries=self.registry.current if self.registry is not None else None,
        )
        # One evaluator per product token: the token is all that evaluation reads.
        evaluator = self._by_token.setdefault(evaluator.token, evaluator)
        self._by_agent[agent] = evaluator
        return evaluator

    # -- opt-out registries --------------------------------------------------------

    async def registries_ready(self) -> None:
        """Load the registries before the first judgement; reload them in the background.

        The first load is awaited (every request waits for the one load); a
        reload once ``OPTOUT_CACHE_TTL`` has passed runs while the registries
        loaded before stay in use.
        """
        refresh = self.registry
        if refresh is None:
            return
        if refresh.current is None:
            if self._registry_load is None:
                self._registry_load = asyncio.ensure_future(self._load_registries(refresh))
            await asyncio.shield(self._registry_load)
            return
        if refresh.due():
            task = asyncio.ensure_future(self._load_registries(refresh))
            self._registry_tasks.add(task)
            task.add_done_callback(self._registry_tasks.discard)

    async def _load_registries(self, refresh: RegistryRefresh) -> Registries:
        found = await refresh.load()
        for evaluator in {*self._by_token.values(), *self._by_agent.values()}:
            evaluator.registries = found
        stats = self.crawler.stats
        if stats is not None:
            stats.set_value("optout/registry/declarations", found.declarations)
            stats.set_value("optout/registry/skipped", found.skipped)
            stats.set_value("optout/registry/unavailable", len(found.problems))
            stats.set_value("optout/registry/loads", refresh.loads)
        return found

    # -- per-request options ------------------------------------------------------

    def purpose_for(self, request: Request | None) -> Purpose:
        """The purpose *request* is judged for: its ``optout_purpose``, else ``OPTOUT_PURPOSE``.

        Raises :class:`InvalidOptOutMeta` for a value that names no purpose.
        """
        if request is not None:
            meta = request.meta
            if META_PURPOSE in meta:
                value = meta[META_PURPOSE]
                purpose = _PURPOSES.get(value.lower()) if isinstance(value, str) else None
                if purpose is None:
                    raise InvalidOptOutMeta(META_PURPOSE, value, tuple(_PURPOSES))
                return purpose
        return self.settings.purpose

    def measuring(self, request: Request | None) -> bool:
        """Whether *request* is measured: its ``optout_mode``, else ``OPTOUT_MODE``.

        Raises :class:`InvalidOptOutMeta` for a value other than ``enforce`` or ``measure``.
        """
        if request is not None:
            meta = request.meta
            if META_MODE in meta:
                value = meta[META_MODE]
                mode = value.lower() if isinstance(value, str) else None
                if mode not in _MODES:
                    raise InvalidOptOutMeta(META_MODE, value, _MODES)
                return mode == MEASURE
        return self.settings.measure

    # -- recording ----------------------------------------------------------------

    def record(
        self,
        *,
        stage: Stage,
        url: str,
        verdict: Verdict,
        assessment: Assessment | None,
        request: Request | None = None,
        **details: Unpack[RecordDetails],
    ) -> LedgerRecord | None:
        """Record a measured verdict: one ledger line (and its evidence); return the record.

        A URL already recorded at *stage* for the purpose with the same verdict
        is not recorded again (the return value is then ``None``). *details*
        are the fields the stage adds (``status``, ``item_source``, ...).
        Raises :class:`LedgerFailed` when the line or its evidence could not
        be written; the crawl is then being stopped.
        """
        seen = f"{stage}\0{verdict.purpose}\0{verdict.label}\0{url}"
        key = hashlib.blake2b(seen.encode("utf-8", "surrogatepass"), digest_size=16).digest()
        if key in self._measured:
            return None
        record = self._write(MEASURE, stage, url, verdict, assessment, request, details)
        self._measured.add(key)
        return record

    def exclude(
        self,
        *,
        stage: Stage,
        url: str,
        verdict: Verdict,
        assessment: Assessment | None,
        request: Request | None = None,
        item: Any = None,
        **details: Unpack[RecordDetails],
    ) -> LedgerRecord:
        """Record an exclusion: ledger line, evidence, stats, signal and a log line.

        Every exclusion has its own line. Raises :class:`LedgerFailed` when
        the line or its evidence could not be written.
        """
        record = self._write(ENFORCE, stage, url, verdict, assessment, request, details)
        stats = self.crawler.stats
        if stats is not None:
            stats.inc_value("optout/excluded_count")
            stats.inc_value(f"optout/excluded_stage/{stage}")
            for signal in verdict.signals:
                stats.inc_value(f"optout/excluded/{signal}")
        self.crawler.signals.send_catch_log(
            events.content_excluded, record=record.to_dict(), request=request, item=item
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

    def _write(
        self,
        mode: str,
        stage: Stage,
        url: str,
        verdict: Verdict,
        assessment: Assessment | None,
        request: Request | None,
        details: RecordDetails,
    ) -> LedgerRecord:
        """Build the record of *verdict* and write it, after its evidence."""
        spider = self.crawler.spider
        agent = self.user_agent_for(request)
        evaluator = self._by_agent.get(agent) or self._evaluator(agent)
        token = assessment.token if assessment is not None else None
        if token is not None and token != evaluator.token:
            # Made for another identity than the request names (or, at the item
            # stage, than the default one): the ledger names the one judged.
            evaluator = self._by_token.get(token, evaluator)
            agent = evaluator.user_agent
        redirects = request.meta.get("redirect_urls") if request is not None else None
        place: dict[str, Any] = {"origin": origin_of(url), "domain": registrable_domain(url)}
        place.update(details)
        record = LedgerRecord(
            time=isoformat(utcnow()),
            url=url,
            stage=stage,
            purpose=verdict.purpose,
            verdict=verdict.label,
            mode=mode,
            reasons=[_quoted(f.reason()) for f in verdict.reasons],
            evidence=assessment.evidence if assessment is not None else [],
            spider=spider.name if spider is not None else None,
            token=token or evaluator.token,
            user_agent=agent,
            redirect_urls=list(redirects) if redirects else None,
            **place,
        )
        try:
            if assessment is not None:
                self.ledger.store_evidence(assessment.files)
            self.ledger.write(record)
        except LedgerError as exc:
            self._ledger_failed(exc)
            raise LedgerFailed(f"Not recorded, so dropped: {url} ({exc})") from exc
        stats = self.crawler.stats
        if stats is not None:
            stats.inc_value(f"optout/verdict/{verdict.label}")
        return record

    def keep_evidence(self, files: Iterable[PolicyFile]) -> None:
        """Store the bodies of *files* in the evidence store (each sha256 once).

        For a provenance entry about to name them. Raises :class:`LedgerFailed`
        when a body cannot be stored; the crawl is then being stopped.
        """
        try:
            self.ledger.store_evidence(files)
        except LedgerError as exc:
            self._ledger_failed(exc)
            raise LedgerFailed(f"Evidence not stored, so dropped: {exc}") from exc

    def write_provenance(self, line: Mapping[str, Any]) -> None:
        """Append *line* to the provenance side file.

        Raises :class:`LedgerFailed` when it cannot be written; the crawl is
        then being stopped.
        """
        side = self.provenance_file
        if side is None:
            raise LedgerFailed("OPTOUT_PROVENANCE is off: no provenance side file")
        try:
            side.write(line)
        except LedgerError as exc:
            self._ledger_failed(exc)
            raise LedgerFailed(f"Provenance not recorded, so dropped: {exc}") from exc

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
        close_spider(self.crawler, LEDGER_FAILED)

    def _engine_stopped(self) -> None:
        side = self.provenance_file
        failed = self.ledger.failed or (side.failed if side is not None else None)
        if failed is None:
            return
        logger.error("The crawl stopped because its ledger could not be written: %s", failed)
        # Scrapy's runners (scrapy crawl, runspider, CrawlerProcess) report a
        # crawler left without a spider as failed (bootstrap_failed, exit code 1);
        # Scrapy has no other way for a component to set the exit code.
        self.crawler.spider = None

    # -- item bookkeeping ---------------------------------------------------------

    def item_source(self, response: Response, assessment: Assessment | None) -> ItemSource:
        """What the response an item came from (and its *assessment*) says about it."""
        request = response.request
        purpose = self.purpose_for(request)
        measuring = self.measuring(request)
        if assessment is None:
            return ItemSource(response.url, None, purpose=purpose, measuring=measuring)
        return ItemSource(
            url=response.url,
            verdict=assessment.verdict(purpose),
            image_findings=[f for f in assessment.image_findings if f.bears_on(purpose)],
            assessment=assessment,
            purpose=purpose,
            measuring=measuring,
            stage=assessment.stage,
            token=assessment.token,
        )

    def item_sources_of(
        self, response: Response, assessment: Assessment | None
    ) -> list[ItemSource]:
        """The pages an item yielded from *response* may have been built from.

        The response itself, then the pages carried in its request's meta (see
        :data:`META_SOURCE`): an item may be built in one callback and yielded
        from another, so it answers to all of them.
        """
        sources = [self.item_source(response, assessment)]
        request = response.request
        if request is not None:
            sources += request.meta.get(META_SOURCE, ())
        return sources

    # -- media judged by what they are ------------------------------------------------

    def guard_media(self, url: str, guard: MediaGuard) -> None:
        """Have the download of *url* judged by *guard* when it turns out to be an image."""
        key = media_key(url)
        self.media_guard[key] = guard
        self.media_guard.move_to_end(key)
        while len(self.media_guard) > MEDIA_GUARD_SIZE:
            self.media_guard.popitem(last=False)

    def media_guard_for(self, request: Request) -> MediaGuard | None:
        """The guard on *request*'s URL, or on a URL that redirected to it."""
        if not self.media_guard:
            return None
        for url in (request.url, *request.meta.get("redirect_urls", ())):
            guard = self.media_guard.get(media_key(url))
            if guard is not None:
                return guard
        return None

    def _forget_item(self, item: Any, **kwargs: Any) -> None:
        self.item_sources.pop(id(item), None)

    def _spider_closed(self, spider: Any = None, reason: str = "") -> None:
        self.ledger.close()
        if self.provenance_file is not None:
            self.provenance_file.close()
        stats = self.crawler.stats
        if stats is not None:
            stats.set_value("optout/ledger_records", self.ledger.records_written)
            stats.set_value("optout/origins_cached", len(self.store))


def _quoted(reason: dict[str, str]) -> dict[str, str]:
    if len(reason["rule"]) > MAX_RULE_QUOTE:
        reason = {**reason, "rule": clip(reason["rule"], MAX_RULE_QUOTE)}
    return reason
