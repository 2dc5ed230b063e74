"""Scrapy downloader and spider middlewares that enforce opt-outs.

:class:`OptOutMiddleware` decides at the cheapest point:

* **origin** (``process_request``): the origin's policy files; a reserved URL
  is never downloaded;
* **headers** (the ``headers_received`` signal): response headers; a reserved
  response's body is not downloaded;
* **body** (``process_response``): the HTML head or document metadata; a
  reserved response never reaches the spider.

:class:`OptOutSpiderMiddleware` remembers which response each item came from,
for :class:`~scrapy_optout.OptOutPipeline`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from scrapy import Request, signals
from scrapy.exceptions import IgnoreRequest, NotConfigured, StopDownload
from scrapy.http import Response, TextResponse
from scrapy.spidermiddlewares.base import BaseSpiderMiddleware

from scrapy_optout.core import META_RESULT, META_SKIP, ItemSource, OptOutCore
from scrapy_optout.origin import Assessment, origin_of
from scrapy_optout.policystore import POLICY_META_KEY

if TYPE_CHECKING:
    from typing import Self

    from scrapy.crawler import Crawler
    from scrapy.http.headers import Headers

_STOPPED = "_optout_stopped"


class ReservedContent(IgnoreRequest):
    """Raised to drop a request or response whose content is reserved."""

    def __init__(self, url: str, record: dict[str, Any]) -> None:
        signals_ = ", ".join(r["signal"] for r in record.get("reasons", []))
        super().__init__(f"Reserved for {record.get('purpose')} by {signals_}: {url}")
        self.record = record


def _skip(request: Request) -> bool:
    return (
        POLICY_META_KEY in request.meta
        or bool(request.meta.get(META_SKIP))
        or not request.url.startswith(("http://", "https://"))
    )


def _header_lists(headers: Headers) -> dict[str, list[str]]:
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
        crawler.signals.connect(self._headers_received, signal=signals.headers_received)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls(crawler)

    async def process_request(self, request: Request) -> None:
        if _skip(request):
            return
        core = self.core
        policy = await core.store.get(origin_of(request.url))
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

    def _headers_received(
        self, headers: Headers, body_length: int, request: Request, spider: Any = None
    ) -> None:
        core = self.core
        prior = core.assessments.get(request)
        if prior is None or _skip(request):
            return
        assessment = core.evaluator.headers_stage(prior, _header_lists(headers))
        core.assessments[request] = assessment
        verdict = assessment.verdict(core.purpose_for(request))
        if verdict.reserved and not core.measuring(request):
            record = core.exclude(
                stage="headers",
                url=request.url,
                verdict=verdict,
                assessment=assessment,
                request=request,
            )
            request.meta[_STOPPED] = record
            self._inc("optout/downloads_stopped")
            raise StopDownload(fail=False)

    def process_response(self, request: Request, response: Response) -> Request | Response:
        if _skip(request):
            return response
        core = self.core
        stopped = request.meta.pop(_STOPPED, None)
        if stopped is not None:
            raise ReservedContent(request.url, stopped)
        prior = core.assessments.get(request)
        if prior is None:
            return response
        measuring = core.measuring(request)
        purpose = core.purpose_for(request)
        if prior.stage == "origin":
            # No headers_received signal (cached response, another handler).
            prior = core.evaluator.headers_stage(prior, _header_lists(response.headers))
            verdict = prior.verdict(purpose)
            if verdict.reserved and not measuring:
                record = core.exclude(
                    stage="headers",
                    url=request.url,
                    verdict=verdict,
                    assessment=prior,
                    request=request,
                )
                raise ReservedContent(request.url, record)
        encoding = response.encoding if isinstance(response, TextResponse) else None
        assessment = core.evaluator.body_stage(prior, response.body, encoding=encoding)
        core.assessments[request] = assessment
        verdict = assessment.verdict(purpose)
        if measuring:
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

    def _inc(self, key: str) -> None:
        if self.crawler.stats is not None:
            self.crawler.stats.inc_value(key)


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

    def get_processed_item(self, item: Any, response: Response | None) -> Any:
        if response is not None:
            request = response.request
            assessment = self.core.assessments.get(request) if request is not None else None
            purpose = self.core.purpose_for(request)
            self.core.item_sources[id(item)] = ItemSource(
                url=response.url,
                verdict=assessment.verdict(purpose) if assessment is not None else None,
                image_findings=[
                    f
                    for f in (assessment.image_findings if assessment else [])
                    if f.bears_on(purpose)
                ],
                evidence=assessment.evidence if assessment is not None else [],
            )
        return item
