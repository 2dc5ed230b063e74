"""The ``survey`` spider: each site's policy files and home page, through Scrapy.

For every site of the input it requests ``/robots.txt``, ``/ai.txt``,
``/.well-known/tdmrep.json`` and the home page, all four at once, and when
the last answer is in, writes the site's record (:mod:`~scrapy_optout.frontends.survey.record`)
to ``results.jsonl``. When the crawl closes, :func:`~scrapy_optout.frontends.survey.results.finish`
writes ``summary.json`` and ``report.html``.

Run it with ``optout survey INPUT -o DIR`` or, from a checkout, with
``scrapy crawl survey -a input=INPUT -a out=DIR [-a purpose=P]``.

Choices worth knowing:

* Requests go through the normal downloader middlewares (proxies, retries,
  compression), with every response status handed to the spider: a 404 or a
  503 robots.txt is data, not an error. Policy files are fetched on the
  fetch contract of the opt-out middleware (:mod:`~scrapy_optout.policy.fetching`):
  the same redirects followed, the same size caps, the same errors, so the
  survey records the files the crawl would enforce.
* Politeness is per origin: each origin is its own download slot, so
  ``CONCURRENT_REQUESTS_PER_DOMAIN`` and ``DOWNLOAD_DELAY`` bind per
  ``scheme://host:port``, and a survey of many sites runs in parallel.
* Bodies are capped at ``SURVEY_MAXSIZE`` bytes (default 1 MiB, at least the
  500 KiB RFC 9309 asks a parser to read): a longer body is cut, not refused,
  and a compressed policy file is expanded to that many bytes at most.
* A site is *unreachable* when neither robots.txt nor the home page gave any
  HTTP response. A bare domain is tried over HTTPS first, then over HTTP.
* Identical site lines are fetched once and recorded once per line.
* Once a site's four answers are in, the RSL licences its robots.txt
  ``License:`` lines, its home page's ``Link`` header and its HTML name are
  fetched on the same contract (:func:`~scrapy_optout.frontends.survey.record.licence_urls`),
  and the record is written when they are in too.
* ``registry`` (``--registry``) names opt-out registries, read once when the
  survey starts (a URL through the engine, on the fetch contract).
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import scrapy
from scrapy import signals
from scrapy.exceptions import IgnoreRequest, StopDownload
from scrapy.http import Response, TextResponse
from scrapy.spidermiddlewares.httperror import HttpError

from scrapy_optout.exceptions import REDIRECTS, ConfigurationError, describe_error
from scrapy_optout.frontends.survey.inputs import SiteLine, read_sites
from scrapy_optout.frontends.survey.progress import Progress
from scrapy_optout.frontends.survey.record import (
    PageResult,
    build_record,
    error_record,
    licence_urls,
)
from scrapy_optout.frontends.survey.results import RESULTS, ResultsWriter, finish, finished_lines
from scrapy_optout.policy.evaluate import Evaluator
from scrapy_optout.policy.fetching import (
    DEFAULT_MAXSIZE,
    LIMITS,
    Answer,
    Limits,
    PolicyFetch,
    fetch_policy_file,
)
from scrapy_optout.policy.snapshot import ROBOTS_TXT, RSL_LICENCE, PolicyFile, utcnow
from scrapy_optout.policy.urls import POLICY_PATHS, origin_of
from scrapy_optout.scrapy.fetcher import CappedDownloads
from scrapy_optout.stores.registries import (
    REGISTRY_KIND,
    REGISTRY_LIMITS,
    load_registries_async,
)
from scrapy_optout.verdict import Purpose

if TYPE_CHECKING:
    from datetime import datetime

    from scrapy.crawler import Crawler
    from twisted.python.failure import Failure

logger = logging.getLogger(__name__)

__all__ = ["DEFAULT_USER_AGENT", "SurveySpider"]

DEFAULT_USER_AGENT = "scrapy-optout-survey/0.1 (+https://github.com/scrapy-optout/scrapy-optout)"
HOME = "home"

_JOB_KEY = "_survey_job"
_KIND_KEY = "_survey_kind"
_TRUNCATED_KEY = "_survey_truncated"
# Every status of the home page reaches the callback, except redirects, which
# are followed; policy files get every status, redirects being followed by the contract.
_ALL_STATUSES = [*range(100, 300), *range(400, 600)]


@dataclass
class _Job:
    """One site being surveyed, with the input lines that name it."""

    ident: int
    site: str
    lines: list[SiteLine]
    fallback: str | None
    #: The URL of an earlier attempt that reached nothing (HTTPS before HTTP).
    first_try: str | None = None
    started: datetime = field(default_factory=utcnow)
    files: dict[str, PolicyFile] = field(default_factory=dict)
    #: Fetches by slot: a policy file's kind, or ``"rsl URL"`` for a licence.
    fetches: dict[str, PolicyFetch] = field(default_factory=dict)
    home: PageResult | None = None
    licences: dict[str, PolicyFile] = field(default_factory=dict)
    licences_asked: bool = False

    @property
    def origin(self) -> str:
        return origin_of(self.site)

    @property
    def complete(self) -> bool:
        return self.home is not None and all(kind in self.files for kind in POLICY_PATHS)

    @property
    def settled(self) -> bool:
        """Every answer in, the licences named included."""
        return self.complete and all(f.result is not None for f in self.fetches.values())

    @property
    def unreachable(self) -> bool:
        robots_file = self.files.get(ROBOTS_TXT)
        return (
            self.home is not None
            and not self.home.responded
            and robots_file is not None
            and robots_file.status is None
        )


class SurveySpider(scrapy.Spider):
    """Survey the opt-outs of every site in a site list.

    Spider arguments: ``input`` (the site list, required), ``out`` (output
    folder, default ``survey-output``), ``purpose`` (default ``train``) and
    ``retry_unreachable`` (survey again the sites an earlier run could not
    reach). The crawler's identity is the ``USER_AGENT`` setting.
    """

    name = "survey"
    _maxsize: int = DEFAULT_MAXSIZE  # SURVEY_MAXSIZE, read in from_crawler()
    _limits: Limits = LIMITS
    _downloads: CappedDownloads | None = None

    def __init__(
        self,
        input: str | None = None,
        out: str | None = None,
        purpose: str | None = None,
        retry_unreachable: bool | str = False,
        registry: str | list[str] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if not input:
            raise ConfigurationError("the survey spider needs an input file: -a input=SITES")
        self.input_path = Path(input)
        self.out = Path(out or "survey-output")
        try:
            self.purpose = Purpose(str(purpose or Purpose.TRAIN).lower())
        except ValueError:
            choices = ", ".join(p.value for p in Purpose)
            raise ConfigurationError(f"purpose must be one of {choices}, not {purpose!r}") from None
        self.retry_unreachable = str(retry_unreachable).lower() in ("1", "true", "yes", "on")
        if isinstance(registry, str):
            registry = [part.strip() for part in registry.split(",") if part.strip()]
        self.registry: list[str] = list(registry or [])
        self.summary: dict[str, Any] | None = None
        self._sites: list[SiteLine] | None = None
        self._jobs: dict[int, _Job] = {}
        self._ids = itertools.count(1)
        self._writer = ResultsWriter(self.out / RESULTS)
        self._progress: Progress | None = None
        self._evaluator: Evaluator | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> SurveySpider:
        spider = super().from_crawler(crawler, *args, **kwargs)
        assert isinstance(spider, SurveySpider)
        spider._limits = Limits.at_least(crawler.settings.getint("SURVEY_MAXSIZE", DEFAULT_MAXSIZE))
        spider._maxsize = spider._limits.maxsize
        spider._downloads = CappedDownloads(crawler, spider._maxsize)
        crawler.signals.connect(spider._bytes_received, signal=signals.bytes_received)
        return spider

    # -- start --------------------------------------------------------------------

    async def start(self) -> AsyncIterator[Any]:
        sites = self._sites = read_sites(self.input_path)
        user_agent = self.settings.get("USER_AGENT") or DEFAULT_USER_AGENT
        registries = (
            await load_registries_async(self.registry, self._registry_file)
            if self.registry
            else None
        )
        if registries is not None:
            self._stat("survey/registry/declarations", registries.declarations)
            self._stat("survey/registry/skipped", registries.skipped)
        self._evaluator = Evaluator(str(user_agent), registries=registries)
        done = finished_lines(self.out / RESULTS, sites, retry_unreachable=self.retry_unreachable)
        self._progress = Progress(
            len(sites),
            enabled=self.settings.getbool("SURVEY_PROGRESS", True),
            interval=self.settings.getfloat("SURVEY_PROGRESS_INTERVAL", 10.0),
        )
        self._progress.advance(len(done))
        self._stat("survey/sites", len(sites))
        self._stat("survey/resumed", len(done))
        logger.info(
            "Surveying %(todo)d of %(total)d sites from %(input)s into %(out)s",
            {
                "todo": len(sites) - len(done),
                "total": len(sites),
                "input": self.input_path,
                "out": self.out,
            },
        )
        # Lines naming the same site share one set of fetches. Jobs are made
        # as their requests are taken, so a long list costs little memory.
        pending: dict[str, list[SiteLine]] = {}
        for site in sites:
            if site.line in done:
                continue
            if site.site is None:
                self._write(
                    error_record(
                        line=site.line,
                        input=site.input,
                        rank=site.rank,
                        error=site.error or "unreadable line",
                        purpose=self.purpose,
                    )
                )
                self._stat("survey/invalid")
                self._progress.advance()
                continue
            pending.setdefault(site.site, []).append(site)
        for url, lines in pending.items():
            for request in self._requests(self._new_job(url, lines, lines[0].fallback)):
                yield request

    def _new_job(self, site: str, lines: list[SiteLine], fallback: str | None) -> _Job:
        job = _Job(next(self._ids), site, lines, fallback)
        self._jobs[job.ident] = job
        return job

    def _requests(self, job: _Job) -> Iterator[scrapy.Request]:
        for kind in POLICY_PATHS:
            fetch = job.fetches[kind] = PolicyFetch(
                job.origin, kind, self._limits, fetched_at=job.started
            )
            yield self._policy_request(job, fetch)
        yield self._request(
            job.site,
            {
                _JOB_KEY: job.ident,
                _KIND_KEY: HOME,
                "download_slot": job.origin,
                "handle_httpstatus_list": _ALL_STATUSES,
            },
        )

    async def _registry_file(self, url: str) -> PolicyFile:
        """A registry at *url*, fetched through the engine on the fetch contract."""
        downloads = CappedDownloads(self.crawler, REGISTRY_LIMITS.maxsize)

        async def hop(target: str) -> Answer:
            request = scrapy.Request(
                target,
                dont_filter=True,
                meta={"dont_redirect": True, "handle_httpstatus_all": True, "dont_cache": True},
            )
            downloads.begin(request.meta)
            try:
                assert self.crawler.engine is not None
                response = await self.crawler.engine.download_async(request)
                return downloads.answer(response)
            finally:
                downloads.end(request)

        return await fetch_policy_file(hop, origin_of(url), REGISTRY_KIND, REGISTRY_LIMITS, url=url)

    def _policy_request(
        self, job: _Job, fetch: PolicyFetch, slot: str | None = None
    ) -> scrapy.Request:
        """The request of the next hop of *fetch* (*slot*: its key in ``job.fetches``)."""
        assert fetch.next_url is not None
        request = self._request(
            fetch.next_url,
            {
                _JOB_KEY: job.ident,
                _KIND_KEY: slot or fetch.kind,
                "download_slot": job.origin,
                "handle_httpstatus_all": True,
                "dont_redirect": True,
            },
        )
        if self._downloads is not None:
            self._downloads.begin(request.meta)
        return request

    def _request(self, url: str, meta: dict[str, Any]) -> scrapy.Request:
        return scrapy.Request(
            url, callback=self._on_response, errback=self._on_error, dont_filter=True, meta=meta
        )

    # -- responses ------------------------------------------------------------------

    def _on_response(self, response: Response) -> Iterator[scrapy.Request]:
        job, kind = self._job_of(response.request)
        if job is None:
            return iter(())
        if kind != HOME:
            assert self._downloads is not None
            answer = self._downloads.answer(response)
            self._downloads.end(response.request)
            if job.fetches[kind].feed(answer) is None:
                return iter((self._policy_request(job, job.fetches[kind], kind),))
            return self._settle(job)
        self._store_home(job, response=response)
        return self._settle(job)

    def _on_error(self, failure: Failure) -> Iterator[scrapy.Request]:
        request = getattr(failure, "request", None)
        job, kind = self._job_of(request)
        if job is None:
            return iter(())
        # A Failure always holds an exception; typed as optional all the same.
        exc = failure.value if failure.value is not None else RuntimeError("no exception")
        if kind != HOME:
            assert self._downloads is not None
            fetch = job.fetches[kind]
            answer = self._downloads.overflow(request, exc)
            self._downloads.end(request)
            if answer is None:
                fetch.fail(exc)
            elif fetch.feed(answer) is None:
                return iter((self._policy_request(job, fetch, kind),))
        elif isinstance(exc, HttpError):
            # A status outside the handled list, e.g. a 304 or a 3xx without Location.
            self._store_home(job, response=exc.response)
        else:
            self._store_home(job, error=_describe_home_error(exc))
        return self._settle(job)

    def _job_of(self, request: scrapy.Request | None) -> tuple[_Job | None, str]:
        if request is None:
            return None, ""
        job = self._jobs.get(request.meta.get(_JOB_KEY, -1))
        return job, str(request.meta.get(_KIND_KEY, ""))

    def _store_home(
        self, job: _Job, *, response: Response | None = None, error: str | None = None
    ) -> None:
        if response is None:
            job.home = PageResult(job.site, None, error=error)
            return
        meta = response.request.meta if response.request is not None else {}
        job.home = PageResult(
            job.site,
            response.status,
            _headers(response),
            response.body,
            final_url=response.url,
            encoding=response.encoding if isinstance(response, TextResponse) else None,
            truncated=bool(meta.get(_TRUNCATED_KEY)),
        )

    def _settle(self, job: _Job) -> Iterator[scrapy.Request]:
        """Once a site's four answers are in: retry over HTTP, or write its records."""
        for slot, fetch in job.fetches.items():
            if fetch.result is not None:
                if slot in POLICY_PATHS:
                    job.files[slot] = fetch.result
                else:
                    job.licences[fetch.url] = fetch.result
        if not job.complete:
            return iter(())
        if not job.licences_asked and not job.unreachable:
            job.licences_asked = True
            requests = []
            for url in licence_urls(job.files, job.home):
                slot = f"{RSL_LICENCE} {url}"
                fetch = job.fetches[slot] = PolicyFetch(
                    job.origin, RSL_LICENCE, self._limits, fetched_at=job.started, url=url
                )
                requests.append(self._policy_request(job, fetch, slot))
            if requests:
                return iter(requests)
        if not job.settled:
            return iter(())
        del self._jobs[job.ident]
        if job.unreachable and job.fallback:
            self._stat("survey/http_fallback")
            retry = self._new_job(job.fallback, job.lines, None)
            retry.first_try = job.site
            return self._requests(retry)
        self._record(job)
        return iter(())

    def _record(self, job: _Job) -> None:
        assert self._evaluator is not None and job.home is not None
        error = None
        site_url = job.site
        if job.unreachable:
            robots_error = job.files[ROBOTS_TXT].error
            error = f"unreachable: home page: {job.home.error}; robots.txt: {robots_error}"
            if job.first_try is not None:
                # Report the site as listed; the plain-HTTP attempt failed too.
                error = f"{error} (also tried {job.site})"
                site_url = job.first_try
            self._stat("survey/unreachable", len(job.lines))
        for site in job.lines:
            self._write(
                build_record(
                    line=site.line,
                    input=site.input,
                    site=site_url,
                    rank=site.rank,
                    files=job.files,
                    home=job.home,
                    evaluator=self._evaluator,
                    purpose=self.purpose,
                    reachable=not job.unreachable,
                    error=error,
                    licences=job.licences,
                )
            )
        if self._progress is not None:
            self._progress.advance(
                len(job.lines), unreachable=len(job.lines) if job.unreachable else 0
            )

    def _write(self, record: dict[str, Any]) -> None:
        self._writer.write(record)
        self._stat("survey/records")

    # -- size cap ----------------------------------------------------------------

    def _bytes_received(self, data: bytes, request: scrapy.Request, spider: Any = None) -> None:
        # The home page's cap; policy files are capped by CappedDownloads.
        if request.meta.get(_KIND_KEY) != HOME or _JOB_KEY not in request.meta:
            return
        total = request.meta.get("_survey_bytes", 0) + len(data)
        request.meta["_survey_bytes"] = total
        if total > self._maxsize:
            # Keep what arrived: the parsers read the first 500 KiB at most.
            request.meta[_TRUNCATED_KEY] = True
            raise StopDownload(fail=False)

    # -- end ----------------------------------------------------------------------

    def closed(self, reason: str) -> None:
        self._writer.close()
        if self._progress is not None:
            self._progress.close()
        if self._sites is None:
            return  # the input was never read: nothing to sum up
        self.summary = finish(
            self.out,
            purpose=self.purpose,
            sites=self._sites,
            extra={
                "mode": "live",
                "input": str(self.input_path),
                "user_agent": self._evaluator.user_agent if self._evaluator else None,
                "token": self._evaluator.token if self._evaluator else None,
                "finish_reason": reason,
            },
        )
        logger.info(
            "Survey written to %(out)s: %(sites)d sites, %(reachable)d reachable",
            {
                "out": self.out,
                "sites": self.summary["sites"],
                "reachable": self.summary["reachable"],
            },
        )

    def _stat(self, key: str, count: int = 1) -> None:
        stats = self.crawler.stats if hasattr(self, "crawler") else None
        if stats is not None:
            stats.inc_value(key, count)


def _headers(response: Response) -> dict[str, list[str]]:
    return {
        name.decode("latin-1"): [value.decode("latin-1") for value in values]
        for name, values in response.headers.items()
    }


def _describe_home_error(exc: BaseException) -> str:
    """How a failed download of the home page is worded (see :func:`describe_error`)."""
    if isinstance(exc, IgnoreRequest) and "redirect" in str(exc).lower():
        # RedirectMiddleware gave up on the chain (REDIRECT_MAX_TIMES).
        return f"{REDIRECTS} ({type(exc).__name__})"
    return describe_error(exc)
