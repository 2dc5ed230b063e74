"""Scrapy downloader and spider middlewares that enforce opt-outs.

:class:`OptOutMiddleware` decides at the cheapest point:

* **origin** (``process_request``): the origin's policy files; a reserved URL
  is never downloaded;
* **headers** (the ``headers_received`` signal): response headers; a reserved
  response's body is not downloaded;
* **body** (``process_response``): the HTML head or document metadata; a
  reserved response never reaches the spider.

A request for a ``file:``, ``ftp:`` or other non-http(s) URL is refused
(:class:`RefusedScheme`) unless it is a start request: a page cannot make the
crawler, or the Files pipeline, read a local file.

A response whose headers reserve it but that also carries a ``Location``
(a redirect, most likely) is not stopped at the headers: the redirect middleware
follows it, and the target is judged on its own. A stopped download is not
retried, so one exclusion is one ledger line. A compressed response expands to
at most ``OPTOUT_DECOMPRESSION_MAXSIZE`` bytes (a gzip bomb is dropped by
Scrapy's HttpCompressionMiddleware instead of exhausting memory), and large
bodies are searched in a worker thread so that the reactor keeps serving the
other downloads. With Scrapy's HTTP cache enabled, a response is written to the
cache only once it is decided and handed on (see :mod:`scrapy_optout.httpcache`).

:class:`OptOutSpiderMiddleware` remembers which response each item came from,
for :class:`~scrapy_optout.OptOutPipeline`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from typing import TYPE_CHECKING, Any
from weakref import WeakKeyDictionary

from scrapy import Request, signals
from scrapy.exceptions import IgnoreRequest, NotConfigured, StopDownload
from scrapy.http import Headers as ScrapyHeaders
from scrapy.http import Response, TextResponse
from scrapy.spidermiddlewares.base import BaseSpiderMiddleware
from scrapy.utils.defer import maybe_deferred_to_future
from scrapy.utils.httpobj import urlparse_cached
from twisted.internet.threads import deferToThread

from scrapy_optout import httpcache
from scrapy_optout.core import META_RESULT, META_SKIP, OptOutCore
from scrapy_optout.origin import Assessment, origin_from_parts
from scrapy_optout.policystore import POLICY_META_KEY, describe_error, stats_counter
from scrapy_optout.signals.html import DEFAULT_LIMIT

if TYPE_CHECKING:
    from typing import Self

    from scrapy.crawler import Crawler
    from scrapy.http.headers import Headers

#: Request.meta key: ``download_maxsize`` was set by the middleware for decompression.
_CAP_KEY = "_optout_page_decompression_cap"
#: Bodies larger than this are searched in a worker thread.
_THREAD_THRESHOLD = DEFAULT_LIMIT


class ReservedContent(IgnoreRequest):
    """Raised to drop a request or response whose content is reserved."""

    def __init__(self, url: str, record: dict[str, Any]) -> None:
        signals_ = ", ".join(r["signal"] for r in record.get("reasons", []))
        super().__init__(f"Reserved for {record.get('purpose')} by {signals_}: {url}")
        self.record = record


class RefusedScheme(IgnoreRequest):
    """Raised to drop a request for a non-http(s) URL that a site put in the crawl's way."""


#: Schemes a site may send the crawler to. ``data:`` reads nothing but the URL.
_SITE_SCHEMES = ("http://", "https://", "data:")


def _refused(request: Request) -> bool:
    """Whether *request* goes to a local file or another protocol on a site's say-so.

    A ``file:``, ``ftp:`` or ``s3:`` URL found in a page (a link, an ``<img
    src>`` collected into ``file_urls``) would make Scrapy read a local file or
    reach a host the operator never named. Start requests are the operator's
    choice and pass, as does anything marked ``dont_optout``.
    """
    return (
        not request.url.lower().startswith(_SITE_SCHEMES)
        and not request.meta.get("is_start_request")
        and not request.meta.get(META_SKIP)
        and POLICY_META_KEY not in request.meta
    )


def _origin(request: Request) -> str:
    """:func:`origin_of` the request's URL, from the parse Scrapy keeps for it."""
    return origin_from_parts(urlparse_cached(request))


def _skip(request: Request) -> bool:
    return (
        POLICY_META_KEY in request.meta
        or bool(request.meta.get(META_SKIP))
        or not request.url.startswith(("http://", "https://"))
    )


#: The response headers any signal reads, under Scrapy's normalised names.
_SIGNAL_HEADERS = tuple(
    (name.title().encode("ascii"), name)
    for name in (
        "content-type",
        "x-robots-tag",
        "content-usage",
        "content-signal",
        "tdm-reservation",
        "tdm-policy",
    )
)


def _has_header(headers: Headers, key: bytes) -> bool:
    """Whether *headers* has the field *key* (given in Scrapy's title case)."""
    if type(headers) is ScrapyHeaders:
        return dict.__contains__(headers, key)
    return key in headers


def _header_lists(headers: Headers) -> dict[str, list[str]]:
    """The headers the signals read, lower-case names to decoded values."""
    if type(headers) is ScrapyHeaders:
        # Scrapy's Headers keeps each value list under its normalised (title
        # case) key: look up the few names wanted instead of decoding them all.
        found: dict[str, list[str]] = {}
        for key, name in _SIGNAL_HEADERS:
            values = dict.get(headers, key)
            if values:
                found[name] = [v.decode("latin-1") for v in values]
        return found
    return {
        key.decode("latin-1").lower(): [v.decode("latin-1") for v in values]
        for key, values in headers.items()
    }


class OptOutMiddleware:
    """Downloader middleware: drop reserved requests and responses, record why."""

    def __init__(self, crawler: Crawler) -> None:
        if not crawler.settings.getbool("OPTOUT_ENABLED", True):
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
        # Downloads stopped at the headers stage, with their ledger record. Kept
        # by request object: a copy (redirect, retry) is a download of its own.
        self._stopped: WeakKeyDictionary[Request, dict[str, Any]] = WeakKeyDictionary()
        # One signal receiver for every download: each costs as much as a hook.
        crawler.signals.connect(self._headers_received, signal=signals.headers_received)
        crawler.signals.connect(self._spider_opened, signal=signals.spider_opened)

    def _spider_opened(self, spider: Any = None, **kwargs: Any) -> None:
        httpcache.gate_http_caches(self.crawler)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls(crawler)

    async def process_request(self, request: Request) -> None:
        if _refused(request):
            self._inc("optout/refused_scheme")
            raise RefusedScheme(f"Refused a non-http(s) URL that no start request named: {request}")
        if httpcache.pending_of(request) is not None:
            self._release_followed_redirect(request)
        if _skip(request):
            return
        core = self.core
        policy = await core.store.get(_origin(request))
        assessment = core.evaluator.origin_stage(policy, request.url)
        core.assessments[request] = assessment
        self._inc("optout/requests_checked")
        verdict = assessment.verdict(core.purpose_for(request))
        if verdict.reserved and not core.measuring(request):
            record = core.exclude(
                stage="origin",
                url=request.url,
                verdict=verdict,
                assessment=assessment,
                request=request,
            )
            raise ReservedContent(request.url, record)

    # The signal handlers take **kwargs: pydispatch then passes the signal's
    # arguments as they are instead of filtering them for each call.
    def _headers_received(
        self,
        headers: Headers,
        body_length: int,
        request: Request,
        spider: Any = None,
        **kwargs: Any,
    ) -> None:
        meta = request.meta
        if meta.pop(_CAP_KEY, False):
            # Set for an earlier response of this request (redirect, retry).
            meta.pop("download_maxsize", None)
        core = self.core
        prior = core.assessments.get(request)
        if prior is None or _skip(request):
            return
        cap = self.decompression_cap
        if cap and "download_maxsize" not in meta and _has_header(headers, b"Content-Encoding"):
            # Read by HttpCompressionMiddleware when it expands the body. Scrapy
            # also applies it to the compressed bytes still to come, which
            # cannot exceed it without expanding beyond it.
            meta["download_maxsize"] = cap
            meta[_CAP_KEY] = True
        assessment = core.evaluator.lowered_headers_stage(prior, _header_lists(headers))
        core.assessments[request] = assessment
        if _has_header(headers, b"Location"):
            # Probably a redirect: decided in process_response if it is not followed.
            return
        verdict = assessment.verdict(core.purpose_for(request))
        if verdict.reserved and not core.measuring(request):
            record = core.exclude(
                stage="headers",
                url=request.url,
                verdict=verdict,
                assessment=assessment,
                request=request,
            )
            self._stopped[request] = record
            # Decided and recorded: a retry would only record it again.
            request.meta["dont_retry"] = True
            self._inc("optout/downloads_stopped")
            raise StopDownload(fail=False)

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
        if prior is not None and prior.stage == "origin":
            # No headers_received signal (cached response, another handler).
            prior = self.core.evaluator.lowered_headers_stage(prior, _header_lists(headers))
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
        if _skip(request):
            return response
        core = self.core
        stopped = self._stopped.pop(request, None)
        if stopped is not None:
            raise ReservedContent(request.url, stopped)
        prior = self._headers_assessment(request, response.headers)
        if prior is None:
            return response
        measuring = core.measuring(request)
        purpose = core.purpose_for(request)
        if prior.stage == "headers" and not measuring:
            # Reserved by its headers but not stopped (no signal, or a Location).
            verdict = prior.verdict(purpose)
            if verdict.reserved:
                record = core.exclude(
                    stage="headers",
                    url=request.url,
                    verdict=verdict,
                    assessment=prior,
                    request=request,
                    extra={"status": response.status},
                )
                raise ReservedContent(request.url, record)
        encoding = response.encoding if isinstance(response, TextResponse) else None
        if len(response.body) > _THREAD_THRESHOLD:
            assessment = await maybe_deferred_to_future(
                deferToThread(core.evaluator.body_stage, prior, response.body, encoding=encoding)
            )
        else:
            assessment = core.evaluator.body_stage(prior, response.body, encoding=encoding)
        core.assessments[request] = assessment
        verdict = assessment.verdict(purpose)
        if measuring:
            if verdict.reserved:
                # Handed on, as measure mode does, but never cached.
                self._withhold(request)
            core.record(
                stage=_decisive_stage(assessment, verdict.reasons),
                url=request.url,
                verdict=verdict,
                assessment=assessment,
                request=request,
                extra={"status": response.status},
            )
        elif verdict.reserved:
            record = core.exclude(
                stage="body",
                url=request.url,
                verdict=verdict,
                assessment=assessment,
                request=request,
                extra={"status": response.status},
            )
            raise ReservedContent(request.url, record)
        request.meta[META_RESULT] = {
            "purpose": str(purpose),
            "verdict": verdict.label,
            "reasons": [f.reason() for f in verdict.reasons],
            "image_reasons": [f.reason() for f in assessment.image_findings if f.bears_on(purpose)],
        }
        return response

    def process_exception(self, request: Request, exception: Exception) -> None:
        """In measure mode, record the verdict of a download that failed for good.

        Nothing else to do: a failed download leaves nothing to drop, and an
        exclusion decided before it failed is already in the ledger.
        """
        if _skip(request) or isinstance(exception, IgnoreRequest):
            return
        core = self.core
        assessment = core.assessments.get(request)
        if assessment is None or not core.measuring(request):
            return
        verdict = assessment.verdict(core.purpose_for(request))
        core.record(
            stage=_decisive_stage(assessment, verdict.reasons),
            url=request.url,
            verdict=verdict,
            assessment=assessment,
            request=request,
            extra={"error": describe_error(exception)},
        )


def _decisive_stage(assessment: Assessment, reasons: Any) -> str:
    """The earliest stage at which the reasons were known (for measure-mode records)."""
    wheres = {str(r.where) for r in reasons}
    if not wheres:
        return assessment.stage
    if "meta" in wheres:
        return "body"
    if "header" in wheres:
        return "headers"
    return "origin"


class OptOutSpiderMiddleware(BaseSpiderMiddleware):
    """Remembers, for each item, the response it came from and what that response said."""

    def __init__(self, crawler: Crawler) -> None:
        if not crawler.settings.getbool("OPTOUT_ENABLED", True):
            raise NotConfigured("OPTOUT_ENABLED is off")
        super().__init__(crawler)
        self.core = OptOutCore.for_crawler(crawler)

    # What BaseSpiderMiddleware does with the spider's output, less its
    # per-call wrapper (one more generator layer for every request and item of
    # every page): requests pass unchanged, items are remembered.

    def process_spider_output(
        self, response: Response | None, result: Iterable[Any], spider: Any = None
    ) -> Iterable[Any]:
        remember = self.get_processed_item
        for o in result:
            if isinstance(o, Request) or (o := remember(o, response)) is not None:
                yield o
        self._done(response)

    async def process_spider_output_async(
        self, response: Response | None, result: AsyncIterator[Any], spider: Any = None
    ) -> AsyncIterator[Any]:
        remember = self.get_processed_item
        async for o in result:
            if isinstance(o, Request) or (o := remember(o, response)) is not None:
                yield o
        self._done(response)

    def get_processed_item(self, item: Any, response: Response | None) -> Any:
        # The pipeline works out what it needs when the item reaches it; nothing
        # is kept when the pipeline is not enabled.
        core = self.core
        if response is not None and core.pipeline is not None:
            request = response.request
            assessment = core.assessments.get(request) if request is not None else None
            core.item_sources[id(item)] = (response, assessment)
        return item

    def _done(self, response: Response | None) -> None:
        # Every item has taken the response's assessment along. A request and its
        # response refer to each other, so without this the assessment would
        # live until the garbage collector frees the pair.
        if response is not None and response.request is not None:
            self.core.assessments.pop(response.request, None)
