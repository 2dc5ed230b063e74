"""The ``survey`` spider: each site's policy files and home page, through Scrapy.

For every site of the input it requests ``/robots.txt``, ``/ai.txt``,
``/.well-known/tdmrep.json`` and the home page, all four at once (and the
home page once more under another identity with ``compare_user_agent``); once
they are in, up to ``pages`` same-origin links of the home page; and when the
last answer is in, writes the site's record (:mod:`~scrapy_optout.frontends.survey.record`)
to ``results.jsonl``. When the crawl closes, :func:`~scrapy_optout.frontends.survey.results.finish`
writes ``summary.json`` and ``report.html``.

Run it with ``optout survey INPUT -o DIR`` or, from a checkout, with
``scrapy crawl survey -a input=INPUT -a out=DIR [-a purpose=P] [-a pages=N]
[-a compare_user_agent=UA] [-a registry=FILE,...]``.

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
* Every answer is recorded with its edge class
  (:mod:`~scrapy_optout.frontends.survey.edge`): the home page's final answer
  (a 401, 402, 403, 429 or 5xx reaches the spider as data; a redirect chain
  longer than ``REDIRECT_MAX_TIMES`` is a ``redirect`` answer), and each policy
  file's last hop, headers included.
* Further pages (``pages``, 0 by default) are the first same-origin links of
  the home page, in document order, that robots.txt leaves open to the
  surveying crawler itself; the links it closes are recorded as skipped, not
  fetched. They are read as the home page is, headers and HTML.
* A site is *unreachable* when neither robots.txt nor the home page gave any
  HTTP answer (a redirect loop is an answer). A bare domain is tried over
  HTTPS first, then over HTTP.
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
from collections.abc import AsyncIterator, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urldefrag, urlsplit

import scrapy
from scrapy import signals
from scrapy.exceptions import IgnoreRequest, StopDownload
from scrapy.http import HtmlResponse, Response, TextResponse
from scrapy.linkextractors import LinkExtractor
from scrapy.spidermiddlewares.httperror import HttpError

from scrapy_optout.exceptions import REDIRECTS, ConfigurationError, describe_error
from scrapy_optout.frontends.survey.edge import HEAD_BYTES, edge_answer
from scrapy_optout.frontends.survey.inputs import SiteLine, read_sites
from scrapy_optout.frontends.survey.progress import Progress
from scrapy_optout.frontends.survey.record import (
    PageResult,
    build_record,
    error_record,
    licence_urls,
    page_edge,
)
from scrapy_optout.frontends.survey.results import (
    RESULTS,
    ResultsWriter,
    finish,
    finished_lines,
    fold_parts,
    part_name,
)
from scrapy_optout.policy.evaluate import Evaluator
from scrapy_optout.policy.fetching import (
    DEFAULT_MAXSIZE,
    LIMITS,
    Answer,
    Limits,
    PolicyFetch,
    fetch_policy_file,
)
from scrapy_optout.policy.snapshot import (
    AI_TXT,
    ROBOTS_TXT,
    RSL_LICENCE,
    TDMREP_JSON,
    OriginPolicy,
    PolicyFile,
    utcnow,
)
from scrapy_optout.policy.urls import POLICY_PATHS, origin_of, policy_url
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
#: The home page fetched again under ``compare_user_agent``: its key in ``edge``.
HOME_COMPARE = "home_compare"
PAGE = "page"
#: Further pages read by default (``pages``): none, as published surveys read
#: robots.txt and the home page.
DEFAULT_PAGES = 0

_JOB_KEY = "_survey_job"
_KIND_KEY = "_survey_kind"
_TRUNCATED_KEY = "_survey_truncated"
_PAGE_KEY = "_survey_page"  # the link a further page was asked as
_LAST_KEY = "_survey_last"  # status and headers of the last response downloaded
# Pages whose bodies are capped by the spider (policy files are capped by CappedDownloads).
_PAGE_KINDS = frozenset({HOME, HOME_COMPARE, PAGE})
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
    #: The last answer to each policy file's fetch (``None``: its last hop failed).
    answers: dict[str, Answer | None] = field(default_factory=dict)
    #: The policy files that got an HTTP answer at some hop.
    answered: set[str] = field(default_factory=set)
    home: PageResult | None = None
    #: Whether the home page is fetched again under another identity, and what it gave.
    compare: bool = False
    home_compare: PageResult | None = None
    #: Same-origin links of the home page, in document order.
    links: list[str] = field(default_factory=list)
    #: Further pages: asked (``None`` until answered), and the links left unread, with why.
    pages: dict[str, PageResult | None] | None = None
    skipped: dict[str, str] = field(default_factory=dict)
    #: The RSL licences the site names, by URL, once fetched.
    licences: dict[str, PolicyFile] = field(default_factory=dict)
    licences_asked: bool = False

    @property
    def origin(self) -> str:
        return origin_of(self.site)

    @property
    def complete(self) -> bool:
        return (
            self.home is not None
            and all(kind in self.files for kind in POLICY_PATHS)
            and (self.home_compare is not None or not self.compare)
        )

    @property
    def settled(self) -> bool:
        """Every answer in, the licences named included."""
        return self.complete and all(f.result is not None for f in self.fetches.values())

    @property
    def pages_done(self) -> bool:
        return self.pages is not None and all(p is not None for p in self.pages.values())

    @property
    def unreachable(self) -> bool:
        """Whether neither robots.txt nor the home page got any HTTP answer.

        A redirect chain that never ends was answered, at every hop.
        """
        return (
            self.home is not None
            and not self.home.responded
            and self.home.edge is None
            and ROBOTS_TXT in self.files
            and ROBOTS_TXT not in self.answered
        )


class SurveySpider(scrapy.Spider):
    """Survey the opt-outs of every site in a site list.

    Spider arguments: ``input`` (the site list, required), ``out`` (output
    folder, default ``survey-output``), ``purpose`` (default ``train``),
    ``retry_unreachable`` (survey again the sites an earlier run could not
    reach), ``pages`` (further same-origin pages read per site, default 0)
    and ``compare_user_agent`` (fetch the home page a second time with this
    User-Agent and record whether the answers differ). The crawler's identity
    is the ``USER_AGENT`` setting.

    A worker of a survey run in several processes
    (:func:`~scrapy_optout.frontends.survey.crawl.run_survey`) is given
    ``lines`` (the input lines it surveys, none of them done yet), ``part``
    (its number: it appends to its own part of ``results.jsonl``, which the
    parent folds in) and ``progress`` (where it reports finished sites); it
    writes no summary, the parent does once every worker is done.
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
        pages: int | str | None = None,
        compare_user_agent: str | None = None,
        registry: str | list[str] | None = None,
        lines: Iterable[int] | None = None,
        part: int | None = None,
        progress: Progress | None = None,
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
        self.pages = _page_count(pages)
        self.compare_user_agent = (compare_user_agent or "").strip() or None
        if isinstance(registry, str):
            registry = [part.strip() for part in registry.split(",") if part.strip()]
        self.registry: list[str] = list(registry or [])
        self.summary: dict[str, Any] | None = None
        #: Why the crawl closed (``finished``, ``shutdown``...), once it has.
        self.finish_reason: str | None = None
        self._only = frozenset(lines) if lines is not None else None
        self._sites: list[SiteLine] | None = None
        self._jobs: dict[int, _Job] = {}
        self._ids = itertools.count(1)
        self._writer = ResultsWriter(self.out / (RESULTS if part is None else part_name(part)))
        self._progress: Progress | None = progress
        self._evaluator: Evaluator | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> SurveySpider:
        spider = super().from_crawler(crawler, *args, **kwargs)
        assert isinstance(spider, SurveySpider)
        spider._limits = Limits.at_least(crawler.settings.getint("SURVEY_MAXSIZE", DEFAULT_MAXSIZE))
        spider._maxsize = spider._limits.maxsize
        spider._downloads = CappedDownloads(crawler, spider._maxsize)
        crawler.signals.connect(spider._bytes_received, signal=signals.bytes_received)
        crawler.signals.connect(spider._response_downloaded, signal=signals.response_downloaded)
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
        if self._only is None:
            # Records a worker of an interrupted run left in its part count as done.
            fold_parts(self.out)
            done = finished_lines(
                self.out / RESULTS, sites, retry_unreachable=self.retry_unreachable
            )
        else:
            # A worker: the lines it was given are all to do.
            done = {site.line for site in sites if site.line not in self._only}
        if self._progress is None:
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
        job = _Job(next(self._ids), site, lines, fallback, compare=bool(self.compare_user_agent))
        self._jobs[job.ident] = job
        return job

    def _requests(self, job: _Job) -> Iterator[scrapy.Request]:
        for kind in POLICY_PATHS:
            fetch = job.fetches[kind] = PolicyFetch(
                job.origin, kind, self._limits, fetched_at=job.started
            )
            yield self._policy_request(job, fetch)
        yield self._page_request(job, job.site, HOME)
        if self.compare_user_agent:
            yield self._page_request(job, job.site, HOME_COMPARE)

    def _page_request(
        self, job: _Job, url: str, kind: str, *, page: str | None = None
    ) -> scrapy.Request:
        """The request of the home page (*kind* ``home`` or ``home_compare``) or a further page."""
        meta: dict[str, Any] = {
            _JOB_KEY: job.ident,
            _KIND_KEY: kind,
            _PAGE_KEY: page,
            "download_slot": job.origin,
            # Every answer is data: 401, 402, 403, 429 and 5xx reach the callback.
            "handle_httpstatus_list": _ALL_STATUSES,
        }
        request = self._request(url, meta)
        if kind == HOME_COMPARE:
            assert self.compare_user_agent is not None
            # UserAgentMiddleware only fills in a User-Agent the request lacks.
            request.headers["User-Agent"] = self.compare_user_agent
        return request

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
        if kind in _PAGE_KINDS:
            self._store_page(job, kind, response.request, response=response)
            return self._settle(job)
        # A policy file's fetch, or an RSL licence's (slot ``"rsl URL"``).
        assert self._downloads is not None
        answer = self._downloads.answer(response)
        self._downloads.end(response.request)
        if kind in POLICY_PATHS:
            job.answers[kind] = answer
            job.answered.add(kind)
        if job.fetches[kind].feed(answer) is None:
            return iter((self._policy_request(job, job.fetches[kind], kind),))
        return self._settle(job)

    def _on_error(self, failure: Failure) -> Iterator[scrapy.Request]:
        request = getattr(failure, "request", None)
        job, kind = self._job_of(request)
        if job is None:
            return iter(())
        # A Failure always holds an exception; typed as optional all the same.
        exc = failure.value if failure.value is not None else RuntimeError("no exception")
        if kind in _PAGE_KINDS:
            if isinstance(exc, HttpError):
                # A status outside the handled list, e.g. a 304 or a 3xx without Location.
                self._store_page(job, kind, request, response=exc.response)
            else:
                self._store_page(job, kind, request, exc=exc)
            return self._settle(job)
        # A policy file's fetch, or an RSL licence's (slot ``"rsl URL"``).
        assert self._downloads is not None
        fetch = job.fetches[kind]
        answer = self._downloads.overflow(request, exc)
        self._downloads.end(request)
        policy_kind = kind in POLICY_PATHS
        if policy_kind:
            job.answers[kind] = answer
        if answer is None:
            fetch.fail(exc)
            return self._settle(job)
        if policy_kind:
            job.answered.add(kind)
        if fetch.feed(answer) is None:
            return iter((self._policy_request(job, fetch, kind),))
        return self._settle(job)

    def _job_of(self, request: scrapy.Request | None) -> tuple[_Job | None, str]:
        if request is None:
            return None, ""
        job = self._jobs.get(request.meta.get(_JOB_KEY, -1))
        return job, str(request.meta.get(_KIND_KEY, ""))

    def _store_page(
        self,
        job: _Job,
        kind: str,
        request: scrapy.Request | None,
        *,
        response: Response | None = None,
        exc: BaseException | None = None,
    ) -> None:
        """Keep the answer to the home page, its second fetch, or a further page."""
        url = job.site if request is None or kind != PAGE else str(request.meta[_PAGE_KEY])
        if response is not None:
            meta = response.request.meta if response.request is not None else {}
            result = PageResult(
                url,
                response.status,
                _headers(response),
                response.body,
                final_url=response.url,
                encoding=response.encoding if isinstance(response, TextResponse) else None,
                truncated=bool(meta.get(_TRUNCATED_KEY)),
            )
        else:
            error = _describe_home_error(exc) if exc is not None else "no answer"
            last = request.meta.get(_LAST_KEY) if request is not None else None
            edge = None
            if last is not None and error.startswith(REDIRECTS):
                # The chain was answered, with one redirect too many: a redirect answer.
                edge = {**edge_answer(last[0], last[1]), "detail": error}
            result = PageResult(url, None, error=error, edge=edge)
        if kind == HOME:
            job.home = result
            if response is not None and self.pages and 200 <= response.status < 300:
                job.links = _same_origin_links(response, exclude=(job.site,))
        elif kind == HOME_COMPARE:
            job.home_compare = result
        elif job.pages is not None:
            job.pages[url] = result

    def _settle(self, job: _Job) -> Iterator[scrapy.Request]:
        """Once a site's answers are in: retry over HTTP, fetch its licences and
        further pages, or write its records."""
        for slot, fetch in job.fetches.items():
            if fetch.result is not None:
                if slot in POLICY_PATHS:
                    job.files[slot] = fetch.result
                else:
                    job.licences[fetch.url] = fetch.result
        if not job.complete:
            return iter(())
        if job.unreachable and job.fallback:
            del self._jobs[job.ident]
            self._stat("survey/http_fallback")
            retry = self._new_job(job.fallback, job.lines, None)
            retry.first_try = job.site
            return self._requests(retry)
        requests: list[scrapy.Request] = []
        if not job.licences_asked:
            requests += self._licence_requests(job)
        if job.pages is None:
            requests += self._further_pages(job)
        if requests:
            return iter(requests)
        if not (job.settled and job.pages_done):
            return iter(())
        del self._jobs[job.ident]
        self._record(job)
        return iter(())

    def _licence_requests(self, job: _Job) -> list[scrapy.Request]:
        """Ask for the RSL licences the site names (robots.txt, the home page)."""
        job.licences_asked = True
        if job.unreachable:
            return []
        requests = []
        for url in licence_urls(job.files, job.home):
            slot = f"{RSL_LICENCE} {url}"
            fetch = job.fetches[slot] = PolicyFetch(
                job.origin, RSL_LICENCE, self._limits, fetched_at=job.started, url=url
            )
            requests.append(self._policy_request(job, fetch, slot))
        return requests

    def _further_pages(self, job: _Job) -> list[scrapy.Request]:
        """Ask for up to ``pages`` links of the home page that robots.txt leaves open."""
        job.pages = {}
        if not self.pages or job.unreachable or not job.links:
            return []
        assert self._evaluator is not None
        policy = _policy_of(job)
        for url in job.links:
            if len(job.pages) >= self.pages:
                break
            verdict = self._evaluator.origin_stage(policy, url).verdict(Purpose.CRAWL)
            if verdict.reserved:
                # The surveyor obeys robots.txt for its own group: not read.
                rule = verdict.reasons[0].rule if verdict.reasons else ""
                job.skipped[url] = f"robots.txt closes it to the surveying crawler ({rule})"
                self._stat("survey/pages_skipped")
                continue
            job.pages[url] = None
        self._stat("survey/pages", len(job.pages))
        return [self._page_request(job, url, PAGE, page=url) for url in job.pages]

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
        edge = self._edge(job)
        pages = [page for page in (job.pages or {}).values() if page is not None]
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
                    edge=edge,
                    pages=pages,
                    pages_skipped=job.skipped,
                )
            )
        if self._progress is not None:
            self._progress.advance(
                len(job.lines), unreachable=len(job.lines) if job.unreachable else 0
            )

    def _edge(self, job: _Job) -> dict[str, Any]:
        """The record's ``edge``: the answers to the home page and each policy file."""
        assert job.home is not None
        edge: dict[str, Any] = {"home": page_edge(job.home)}
        for kind in POLICY_PATHS:
            answer = job.answers.get(kind)
            if answer is None:
                entry = edge_answer(None)
            else:
                entry = edge_answer(answer.status, answer.headers, answer.body[:HEAD_BYTES])
            error = job.files[kind].error
            if entry["class"] == "redirect" and error:
                entry["detail"] = error  # why the chain ended there
            edge[kind] = entry
        if job.home_compare is not None:
            compare = {**page_edge(job.home_compare), "user_agent": self.compare_user_agent}
            edge[HOME_COMPARE] = compare
            differs = (compare["status"], compare["class"]) != (
                edge["home"]["status"],
                edge["home"]["class"],
            )
            edge["differs"] = differs
            self._stat("survey/compared", len(job.lines))
            if differs:
                self._stat("survey/edge_differs", len(job.lines))
        return edge

    def _write(self, record: dict[str, Any]) -> None:
        self._writer.write(record)
        self._stat("survey/records")

    # -- size cap ----------------------------------------------------------------

    def _bytes_received(self, data: bytes, request: scrapy.Request, spider: Any = None) -> None:
        # The cap of pages; policy files are capped by CappedDownloads.
        if request.meta.get(_KIND_KEY) not in _PAGE_KINDS or _JOB_KEY not in request.meta:
            return
        total = request.meta.get("_survey_bytes", 0) + len(data)
        request.meta["_survey_bytes"] = total
        if total > self._maxsize:
            # Keep what arrived: the parsers read the first 500 KiB at most.
            request.meta[_TRUNCATED_KEY] = True
            raise StopDownload(fail=False)

    def _response_downloaded(
        self, response: Response, request: scrapy.Request, spider: Any = None
    ) -> None:
        # Kept for the edge of a page whose redirect chain never ends: the
        # redirect middleware drops the last answer.
        if request.meta.get(_KIND_KEY) in _PAGE_KINDS and 300 <= response.status < 400:
            request.meta[_LAST_KEY] = (response.status, _headers(response))

    # -- end ----------------------------------------------------------------------

    def closed(self, reason: str) -> None:
        self.finish_reason = reason
        self._writer.close()
        if self._progress is not None:
            self._progress.close()
        if self._sites is None or self._only is not None:
            # The input was never read, or this is one worker of several: the
            # parent sums up once all are done.
            return
        self.summary = finish(
            self.out, purpose=self.purpose, sites=self._sites, extra=self.summary_extra()
        )
        logger.info(
            "Survey written to %(out)s: %(sites)d sites, %(reachable)d reachable",
            {
                "out": self.out,
                "sites": self.summary["sites"],
                "reachable": self.summary["reachable"],
            },
        )

    def summary_extra(self) -> dict[str, Any]:
        """What ``summary.json`` says about the run itself, besides the figures."""
        return {
            "mode": "live",
            "input": str(self.input_path),
            "user_agent": self._evaluator.user_agent if self._evaluator else None,
            "token": self._evaluator.token if self._evaluator else None,
            "finish_reason": self.finish_reason,
            "pages": self.pages,
            "compare_user_agent": self.compare_user_agent,
        }

    def _stat(self, key: str, count: int = 1) -> None:
        stats = self.crawler.stats if hasattr(self, "crawler") else None
        if stats is not None:
            stats.inc_value(key, count)


def _headers(response: Response) -> dict[str, list[str]]:
    return {
        name.decode("latin-1"): [value.decode("latin-1") for value in values]
        for name, values in response.headers.items()
    }


def _page_count(value: int | str | None) -> int:
    if value is None or value == "":
        return DEFAULT_PAGES
    try:
        count = int(value)
    except (TypeError, ValueError):
        count = -1
    if count < 0 or isinstance(value, bool):
        raise ConfigurationError(f"pages must be a whole number of 0 or more, not {value!r}")
    return count


def _policy_of(job: _Job) -> OriginPolicy:
    robots_file = job.files.get(ROBOTS_TXT) or PolicyFile(
        ROBOTS_TXT, policy_url(job.origin, ROBOTS_TXT), None
    )
    return OriginPolicy(job.origin, robots_file, job.files.get(AI_TXT), job.files.get(TDMREP_JSON))


# Links that are not pages: the policy files themselves.
_POLICY_PATHS = frozenset(POLICY_PATHS.values())


def _same_origin_links(response: Response, exclude: tuple[str, ...] = ()) -> list[str]:
    """The links of an HTML *response* to its own origin, in document order, once each.

    Fragments are dropped; the page itself, the URLs in *exclude* and the
    policy files are left out, and so are links to files that are not pages
    (images, archives...: Scrapy's ``IGNORED_EXTENSIONS``).
    """
    if not isinstance(response, HtmlResponse):
        return []
    origin = origin_of(response.url)
    seen = {urldefrag(response.url)[0], *(urldefrag(url)[0] for url in exclude)}
    links: list[str] = []
    for link in LinkExtractor(unique=True).extract_links(response):
        url = urldefrag(link.url)[0]
        if url in seen or not url.startswith(("http://", "https://")):
            continue
        seen.add(url)
        if origin_of(url) != origin or urlsplit(url).path in _POLICY_PATHS:
            continue
        links.append(url)
    return links


def _describe_home_error(exc: BaseException) -> str:
    """How a failed download of the home page is worded (see :func:`describe_error`)."""
    if isinstance(exc, IgnoreRequest) and "redirect" in str(exc).lower():
        # RedirectMiddleware gave up on the chain (REDIRECT_MAX_TIMES).
        return f"{REDIRECTS} ({type(exc).__name__})"
    return describe_error(exc)
