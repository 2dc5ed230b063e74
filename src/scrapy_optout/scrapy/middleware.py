"""The Scrapy downloader middleware that enforces opt-outs.

:class:`OptOutMiddleware` decides at the cheapest point:

* **origin** (``process_request``): the origin's policy files; a reserved URL
  is never downloaded;
* **headers** (the ``headers_received`` signal): response headers; a reserved
  response's body is not downloaded. The signal carries no status, so a
  licence or payment answer (``401`` with ``WWW-Authenticate: License``,
  ``402``) is decided in ``process_response``, still at the headers stage and
  before the body is used (such a body is a short notice, not the content).
  Such an answer is never retried: ``RetryMiddleware`` does not retry 401 or
  402 by default, and a response carrying a ``License`` challenge or a
  ``crawler-price`` header is marked ``dont_retry`` when its headers arrive,
  whatever ``RETRY_HTTP_CODES`` says. An RSL licence a ``Link`` header names is
  fetched through the policy store (once per URL); when it is not in the store
  yet, the decision waits for ``process_response`` while it is fetched;
* **body** (``process_response``): the HTML head or document metadata (an
  RSL licence an HTML page links to is fetched first), the SHA-256 of the body
  when an opt-out registry declares bodies by hash (Files and Images
  pipeline downloads included); a reserved response never reaches the spider.

Each request is judged as the crawler identity it is sent with: the product
token of its ``User-Agent`` header, or of the one Scrapy's middlewares will give
it (``DEFAULT_REQUEST_HEADERS``, the spider's ``user_agent``, ``USER_AGENT``),
unless ``OPTOUT_USER_AGENT`` names one for the whole crawl. A middleware that
changes the header after this one is caught when the response arrives: the
response is judged again as the identity it was actually sent with.

A request for a ``file:``, ``ftp:`` or other non-http(s) URL is refused
(:class:`RefusedScheme`) unless a start request named that URL: a page cannot
make the crawler, or the Files pipeline, read a local file, even when the
spider copies a start request's meta onto the links it follows.

A request whose ``optout_purpose`` or ``optout_mode`` has a value that cannot be
used is dropped (:class:`InvalidOptOutMeta`) with one ERROR line, not crawled
under the defaults.

A response whose headers reserve it but that also carries a ``Location``
(a redirect, most likely) is not stopped at the headers: the redirect middleware
follows it, and the target is judged on its own. A stopped download is not
retried, so one exclusion is one ledger line. A compressed response expands to
at most ``OPTOUT_DECOMPRESSION_MAXSIZE`` bytes (a gzip bomb is dropped by
Scrapy's HttpCompressionMiddleware instead of exhausting memory), and large
bodies are searched in a worker thread so that the reactor keeps serving the
other downloads. With Scrapy's HTTP cache enabled, a response is written to the
cache only once it is decided and handed on (see :mod:`scrapy_optout.scrapy.httpcache`).

Which response each item came from is the spider middleware's part
(:mod:`scrapy_optout.scrapy.spidermw`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Unpack
from weakref import WeakKeyDictionary

from scrapy import Request, signals
from scrapy.exceptions import IgnoreRequest, NotConfigured, StopDownload
from scrapy.http import Response, TextResponse
from scrapy.utils.defer import maybe_deferred_to_future
from scrapy.utils.httpobj import urlparse_cached
from twisted.internet.threads import deferToThread

from scrapy_optout.exceptions import describe_error
from scrapy_optout.policy.evaluate import Assessment
from scrapy_optout.policy.links import body_licence_links, header_licence_links
from scrapy_optout.policy.registries import is_body_declaration
from scrapy_optout.policy.urls import origin_from_parts
from scrapy_optout.protocols import noai
from scrapy_optout.protocols.html import DEFAULT_LIMIT
from scrapy_optout.protocols.licence import parse_challenges
from scrapy_optout.scrapy import httpcache
from scrapy_optout.scrapy.exceptions import (
    InvalidOptOutMeta,
    LedgerFailed,
    RefusedScheme,
    ReservedContent,
)
from scrapy_optout.scrapy.fetcher import POLICY_META_KEY
from scrapy_optout.scrapy.headers import carries_signal, has_header, header_lists
from scrapy_optout.scrapy.policystore import stats_counter
from scrapy_optout.scrapy.runtime import (
    META_MODE,
    META_PROBE,
    META_PURPOSE,
    META_RESULT,
    META_SKIP,
    MediaGuard,
    OptOutCore,
)
from scrapy_optout.scrapy.settings import enabled as optout_enabled
from scrapy_optout.stores.record import RecordDetails
from scrapy_optout.verdict import Finding, Purpose, Stage, Verdict, Where, decide

if TYPE_CHECKING:
    from typing import Self

    from scrapy.crawler import Crawler
    from scrapy.http.headers import Headers

    from scrapy_optout.policy.evaluate import Evaluator
    from scrapy_optout.scrapy.policystore import CrawlPolicyStore

logger = logging.getLogger(__name__)

#: Request.meta key: ``download_maxsize`` was set by the middleware for decompression.
_CAP_KEY = "_optout_page_decompression_cap"
#: Bodies larger than this are searched in a worker thread.
_THREAD_THRESHOLD = DEFAULT_LIMIT


#: Schemes a site may send the crawler to. ``data:`` reads nothing but the URL.
SITE_SCHEMES = ("http://", "https://", "data:")
_WEB_SCHEMES = ("http://", "https://")


def _refused(request: Request, start_urls: set[str]) -> bool:
    """Whether *request* goes to a local file or another protocol on a site's say-so.

    A ``file:``, ``ftp:`` or ``s3:`` URL found in a page (a link, an ``<img
    src>`` collected into ``file_urls``) would make Scrapy read a local file or
    reach a host the operator never named. The URLs of start requests
    (*start_urls*, as the spider middleware saw them) are the operator's choice
    and pass, as does anything marked ``dont_optout``. Scrapy's
    ``is_start_request`` meta key is not trusted: a spider that copies a start
    response's meta to the links it finds would carry it along.
    """
    url = request.url
    return (
        not url.startswith(_WEB_SCHEMES)
        and not url.lower().startswith(SITE_SCHEMES)
        and url not in start_urls
        and not request.meta.get(META_SKIP)
    )


#: Meta keys that change what the middleware does with a request: without
#: any of them it takes the crawl's purpose and mode and is neither skipped
#: nor a policy fetch, a media probe or a cached redirect being followed.
_MARKED = frozenset(
    {META_SKIP, META_PROBE, META_PURPOSE, META_MODE, POLICY_META_KEY, httpcache.PENDING_KEY}
)


def _origin(request: Request) -> str:
    """:func:`origin_of` the request's URL, from the parse Scrapy keeps for it."""
    return origin_from_parts(urlparse_cached(request))


def _skip(request: Request, store: CrawlPolicyStore) -> bool:
    return (
        bool(request.meta.get(META_SKIP))
        or META_PROBE in request.meta
        or not request.url.startswith(("http://", "https://"))
        or store.owns(request)
    )


def _receiver(handler: Callable[[Headers, int, Request], None]) -> Callable[..., None]:
    """A ``headers_received`` receiver that calls *handler*, a bound method.

    Scrapy's dispatcher calls a plain function for half a microsecond less
    than a bound method: it holds a plain weak reference to it, and takes its
    code object without probing for a ``__call__`` first. Its ``**kwargs``
    spares the dispatcher filtering the signal's arguments on every call.
    """

    def headers_received(
        headers: Headers, body_length: int, request: Request, **kwargs: Any
    ) -> None:
        handler(headers, body_length, request)

    return headers_received


class OptOutMiddleware:
    """Downloader middleware: drop reserved requests and responses, record why."""

    def __init__(self, crawler: Crawler) -> None:
        if not optout_enabled(crawler.settings):
            raise NotConfigured("OPTOUT_ENABLED is off")
        self.crawler = crawler
        self.core = OptOutCore.for_crawler(crawler)
        settings = self.core.settings
        cap = settings.decompression_maxsize
        download_maxsize = crawler.settings.getint("DOWNLOAD_MAXSIZE", 0)
        if download_maxsize and (not cap or download_maxsize < cap):
            cap = 0  # Scrapy's own limit is already the tighter one
        self.decompression_cap = cap
        self._inc = stats_counter(crawler)
        # Downloads stopped at the headers stage, with the exception that drops
        # them (ReservedContent, or LedgerFailed when the record could not be
        # written). Kept by request object: a copy (redirect, retry) is a
        # download of its own.
        self._stopped: WeakKeyDictionary[Request, ReservedContent | LedgerFailed] = (
            WeakKeyDictionary()
        )
        # Licence fetches started from the headers_received signal.
        self._prefetching: set[asyncio.Future[Any]] = set()
        # One signal receiver for every download: each costs as much as a hook.
        # The dispatcher keeps a weak reference to it: the middleware holds it.
        self._on_headers = _receiver(self._headers_received)
        crawler.signals.connect(self._on_headers, signal=signals.headers_received)
        crawler.signals.connect(self._spider_opened, signal=signals.spider_opened)

    def _spider_opened(self, spider: Any = None, **kwargs: Any) -> None:
        httpcache.gate_http_caches(self.crawler)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls(crawler)

    async def process_request(self, request: Request) -> None:
        core = self.core
        if request.url.startswith(_WEB_SCHEMES) and _MARKED.isdisjoint(request.meta):
            # The usual request: nothing in its meta for this middleware.
            purpose, measuring = core.settings.purpose, core.settings.measure
        else:
            if _refused(request, core.start_urls):
                self._inc("optout/refused_scheme")
                raise RefusedScheme(
                    f"Refused a non-http(s) URL that no start request named: {request}"
                )
            if httpcache.pending_of(request) is not None:
                self._release_followed_redirect(request)
            if _skip(request, core.store):
                return
            try:
                purpose = core.purpose_for(request)
                measuring = core.measuring(request)
            except InvalidOptOutMeta as exc:
                self._invalid(request, exc)
                raise
        if core.registry is not None:
            await core.registries_ready()
        origin = _origin(request)
        # A kept snapshot is taken without the store's coroutine.
        policy = core.store.kept(origin) or await core.store.get(origin)
        assessment = core.evaluator_for(request).origin_stage(policy, request.url)
        core.assessments[request] = assessment
        self._inc("optout/requests_checked")
        verdict = assessment.verdict(purpose)
        if verdict.reserved or measuring:
            self._decide(request, assessment, Stage.ORIGIN, verdict, measuring=measuring)

    def _decide(
        self,
        request: Request,
        assessment: Assessment,
        stage: Stage,
        verdict: Verdict,
        *,
        measuring: bool,
        final: bool = False,
        **details: Unpack[RecordDetails],
    ) -> Verdict:
        """Act on *verdict*, the decision on *request* at *stage*; return it.

        Enforced, a reservation is recorded (ledger line, evidence, stats,
        signal) and raised as :class:`ReservedContent`, or as
        :class:`LedgerFailed` when its line could not be written. Measured,
        nothing is dropped: the verdict is recorded once the response is
        *final* (its body read, or its download failed), under the earliest
        stage that knew its reasons, and a reserved response is handed on but
        never cached. *details* are the record's extra fields.
        """
        core = self.core
        if measuring:
            if final:
                if verdict.reserved:
                    self._withhold(request)
                core.record(
                    stage=_decisive_stage(assessment, verdict.reasons),
                    url=request.url,
                    verdict=verdict,
                    assessment=assessment,
                    request=request,
                    **details,
                )
        elif verdict.reserved:
            record = core.exclude(
                stage=stage,
                url=request.url,
                verdict=verdict,
                assessment=assessment,
                request=request,
                **details,
            )
            raise ReservedContent(request.url, record)
        return verdict

    def _invalid(self, request: Request, error: InvalidOptOutMeta) -> None:
        self._inc("optout/invalid_meta")
        logger.error(
            "Dropped %(request)s: %(error)s",
            {"request": request, "error": error},
            extra={"spider": self.crawler.spider},
        )

    def _headers_received(self, headers: Headers, body_length: int, request: Request) -> None:
        meta = request.meta
        if meta.pop(_CAP_KEY, False):
            # Set for an earlier response of this request (redirect, retry).
            meta.pop("download_maxsize", None)
        signal = carries_signal(headers)
        if (
            signal
            and (has_header(headers, b"Crawler-Price") or has_header(headers, b"Www-Authenticate"))
            and _licence_answer(header_lists(headers))
        ):
            # Most likely a 401 License or 402 answer (of a page, a media file
            # or a policy file): a decision, never retried as an error.
            meta["dont_retry"] = True
        core = self.core
        cap = self.decompression_cap
        compressed = (
            cap and "download_maxsize" not in meta and has_header(headers, b"Content-Encoding")
        )
        prior = core.assessments.get(request)
        if prior is None:
            return
        # Without a signal header the headers stage can decide something new
        # only by making a pending TDMRep value final (a body that cannot carry
        # TDMRep): nothing else here can stop a download the origin stage let
        # go, and its headers stage is worked out with the status in
        # process_response.
        quiet = not (signal or core.media_guard) and prior.tdm is None and prior.tdm_assumed is None
        if (quiet and not compressed) or _skip(request, core.store):
            return
        if compressed:
            # Read by HttpCompressionMiddleware when it expands the body. Scrapy
            # also applies it to the compressed bytes still to come, which
            # cannot exceed it without expanding beyond it.
            meta["download_maxsize"] = cap
            meta[_CAP_KEY] = True
        if quiet:
            return
        evaluator = core.evaluator_for(request)
        if evaluator.token != prior.token:
            # Sent as another identity than the one judged before it left: judged
            # again, from its origin's files, in process_response.
            return
        hdrs = header_lists(headers)
        licences = None
        if "link" in hdrs:
            links = header_licence_links(hdrs, request.url)
            if links:
                licences = core.store.cached_licences(links)
                if licences is None:
                    # Fetched while the body downloads; decided in process_response.
                    self._prefetch(links)
                    return
        assessment = evaluator.lowered_headers_stage(prior, hdrs, licences=licences)
        core.assessments[request] = assessment
        if has_header(headers, b"Location"):
            # Probably a redirect: decided in process_response if it is not followed.
            return
        verdict = assessment.verdict(core.purpose_for(request))
        details: RecordDetails = {}
        if not verdict.reserved and core.media_guard:
            # A media URL of an item from a page whose images are reserved:
            # an image/* answer is one of those images.
            guard = core.media_guard_for(request)
            ctype = assessment.headers.get("content-type")
            mime = noai.media_image_type(ctype[-1] if ctype else None, b"")
            if guard is not None and mime is not None and not guard.measuring:
                verdict = _media_verdict(request.url, guard, mime)
                details = {"item_source": guard.page, "media_type": mime}
        measuring = core.measuring(request)
        try:
            self._decide(
                request, assessment, Stage.HEADERS, verdict, measuring=measuring, **details
            )
        except (ReservedContent, LedgerFailed) as exc:
            # Raised again in process_response. Without its traceback it holds
            # no frame, so nothing keeps the request alive in the meantime.
            self._stopped[request] = exc.with_traceback(None)
            # Decided and recorded: a retry would only record it again.
            request.meta["dont_retry"] = True
            self._inc("optout/downloads_stopped")
            if details:
                self._inc("optout/media_refused")
            raise StopDownload(fail=False) from None

    def _prefetch(self, urls: list[str]) -> None:
        """Start fetching the RSL licences *urls* into the store."""
        task = asyncio.ensure_future(self.core.store.licences(urls))
        self._prefetching.add(task)
        task.add_done_callback(self._prefetching.discard)

    def _release_followed_redirect(self, request: Request) -> None:
        """Cache the redirect that *request* follows, unless its headers reserve it.

        The write held back for a response travels on in the meta of the
        requests copied from its own: a redirect it was followed by, or a retry
        (whose failed answer is never cached). A reserved redirect is not
        cached in measure mode either.
        """
        pending = httpcache.pending_of(request)
        assert pending is not None
        parent, _, _, response = pending
        if parent is request:
            return
        del request.meta[httpcache.PENDING_KEY]
        redirects = request.meta.get("redirect_urls")
        if not (redirects and redirects[-1] == parent.url and 300 <= response.status < 400):
            return
        assessment = self._headers_assessment(parent, response.headers)
        core = self.core
        if assessment is not None and assessment.verdict(core.purpose_for(parent)).reserved:
            self._withhold(parent)
        else:
            httpcache.release(parent)

    def _withhold(self, request: Request) -> None:
        if httpcache.withhold(request):
            self._inc("optout/httpcache/withheld")

    def _headers_assessment(self, request: Request, headers: Headers) -> Assessment | None:
        """The assessment of *request* with its response *headers* taken into account."""
        prior = self.core.assessments.get(request)
        if prior is not None and prior.stage is Stage.ORIGIN:
            # No headers_received signal (cached response, another handler).
            evaluator = self.core.evaluator_for(request)
            prior = evaluator.lowered_headers_stage(prior, header_lists(headers))
        return prior

    async def process_response(self, request: Request, response: Response) -> Request | Response:
        try:
            result = await self._judge(request, response)
        except BaseException:
            self._withhold(request)
            raise
        httpcache.release(request)
        return result

    async def _judge(self, request: Request, response: Response) -> Request | Response:
        core = self.core
        plain = _MARKED.isdisjoint(request.meta)
        if not plain and _skip(request, core.store):
            return response
        stopped = self._stopped.pop(request, None) if self._stopped else None
        if stopped is not None:
            raise stopped
        prior = core.assessments.get(request)
        if prior is None:
            return response
        if plain:
            measuring, purpose = core.settings.measure, core.settings.purpose
        else:
            measuring, purpose = core.measuring(request), core.purpose_for(request)
        evaluator = core.evaluator_for(request)
        if evaluator.token != prior.token:
            prior = await self._rejudged(evaluator, request)
        status = response.status
        body = response.body
        if prior.stage is Stage.ORIGIN:
            # The headers signal found nothing to stop the download for (the
            # usual page), or there was none (cached response, another
            # handler), or it waited for the RSL licences a Link header names.
            hdrs = header_lists(response.headers)
            if len(body) <= _THREAD_THRESHOLD and not prior.verdict(purpose).reserved:
                # Most often neither the headers nor the body add anything.
                # (A reserved origin stage here was judged again for another
                # identity: its headers stage decides it, below.)
                assessment = evaluator.quiet_page(prior, hdrs, body, status=status)
                if assessment is not None:
                    return self._judged(request, response, assessment, purpose, measuring)
            links = header_licence_links(hdrs, request.url) if "link" in hdrs else []
            licences = await core.store.licences(links) if links else None
            prior = evaluator.lowered_headers_stage(prior, hdrs, status=status, licences=licences)
        else:
            # The signal has no status: a licence or payment answer is read now.
            prior = evaluator.with_status(prior, status)
        if prior.stage is Stage.HEADERS:
            # Reserved by its headers but not stopped (no signal, or a Location).
            verdict = prior.verdict(purpose)
            if verdict.reserved:
                self._decide(
                    request, prior, Stage.HEADERS, verdict, measuring=measuring, status=status
                )
        encoding = response.encoding if isinstance(response, TextResponse) else None
        links = body_licence_links(prior, body, encoding=encoding)
        licences = await core.store.licences(links) if links else None
        if len(body) > _THREAD_THRESHOLD:
            assessment = await maybe_deferred_to_future(
                deferToThread(
                    evaluator.body_stage, prior, body, encoding=encoding, licences=licences
                )
            )
        else:
            assessment = evaluator.body_stage(prior, body, encoding=encoding, licences=licences)
        return self._judged(request, response, assessment, purpose, measuring)

    def _judged(
        self,
        request: Request,
        response: Response,
        assessment: Assessment,
        purpose: Purpose,
        measuring: bool,
    ) -> Response:
        """Act on the final *assessment* of *response*; the response, if it is kept."""
        core = self.core
        core.assessments[request] = assessment
        verdict = assessment.verdict(purpose)
        if verdict.reserved or measuring:
            self._decide(
                request,
                assessment,
                Stage.BODY,
                verdict,
                measuring=measuring,
                final=True,
                status=response.status,
            )
        if core.media_guard:
            self._judge_media(request, response, assessment)
        # For an allowed page: strings and empty tuples, a dict the garbage
        # collector does not track (it lives as long as the request and its
        # response, which the collector frees together).
        images = assessment.image_findings
        request.meta[META_RESULT] = {
            "purpose": str(purpose),
            "verdict": verdict.label,
            "reasons": tuple([f.reason() for f in verdict.reasons]) if verdict.reasons else (),
            "image_reasons": (
                tuple([f.reason() for f in images if f.bears_on(purpose)]) if images else ()
            ),
        }
        return response

    async def _rejudged(self, evaluator: Evaluator, request: Request) -> Assessment:
        """The origin stage of *request* again, as the identity it was sent with.

        A downloader middleware after this one set another ``User-Agent``; the
        origin's files are judged again for that identity, and a reservation
        they make is decided with the response's headers.
        """
        self._inc("optout/identity_changed")
        policy = await self.core.store.get(_origin(request))
        return evaluator.origin_stage(policy, request.url)

    def _judge_media(self, request: Request, response: Response, assessment: Assessment) -> None:
        """Refuse (or in measure mode record) a guarded media download that is an image."""
        guard = self.core.media_guard_for(request)
        if guard is None:
            return
        ctype = assessment.headers.get("content-type")
        mime = noai.media_image_type(ctype[-1] if ctype else None, response.body)
        if mime is None:
            return
        verdict = _media_verdict(request.url, guard, mime)
        details: RecordDetails = {
            "item_source": guard.page,
            "media_type": mime,
            "status": response.status,
        }
        if guard.measuring:
            # Recorded as the image it turned out to be, whatever the request's mode.
            self.core.record(
                stage=Stage.BODY,
                url=request.url,
                verdict=verdict,
                assessment=assessment,
                request=request,
                **details,
            )
            return
        try:
            self._decide(request, assessment, Stage.BODY, verdict, measuring=False, **details)
        except ReservedContent:
            self._inc("optout/media_refused")
            raise

    def process_exception(self, request: Request, exception: Exception) -> None:
        """In measure mode, record the verdict of a download that failed for good.

        Nothing else to do: a failed download leaves nothing to drop, and an
        exclusion decided before it failed is already in the ledger.
        """
        if _skip(request, self.core.store) or isinstance(exception, IgnoreRequest):
            return
        core = self.core
        assessment = core.assessments.get(request)
        if assessment is None or not core.measuring(request):
            return
        verdict = assessment.verdict(core.purpose_for(request))
        self._decide(
            request,
            assessment,
            assessment.stage,
            verdict,
            measuring=True,
            final=True,
            error=describe_error(exception),
        )


def _media_verdict(url: str, guard: MediaGuard, mime: str) -> Verdict:
    """The verdict on a guarded media download found to be an image of type *mime*."""
    note = f"{url} turned out to be an image ({mime})"
    findings = [replace(f, detail=f"{f.detail}; {note}") for f in guard.findings]
    return decide(findings, guard.purpose)


def _licence_answer(hdrs: dict[str, list[str]]) -> bool:
    """Whether headers carry a ``License`` challenge or a ``crawler-price`` (401/402 answers)."""
    if "crawler-price" in hdrs:
        return True
    challenges = hdrs.get("www-authenticate")
    return bool(challenges) and any(
        c.scheme == "license" for c in parse_challenges(challenges or [])
    )


def _decisive_stage(assessment: Assessment, reasons: Iterable[Finding]) -> Stage:
    """The earliest stage at which the reasons were known (for measure-mode records)."""
    wheres = {r.where for r in reasons}
    if not wheres:
        return assessment.stage
    if Where.META in wheres or any(is_body_declaration(r) for r in reasons):
        return Stage.BODY
    if Where.HEADER in wheres:
        return Stage.HEADERS
    return Stage.ORIGIN
