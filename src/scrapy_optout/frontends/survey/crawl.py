"""Run a live survey: the library behind ``optout survey INPUT``.

Scrapy's reactor cannot be restarted, so :func:`run_survey` can run once per
process (with one worker; several workers are processes of their own); the
command line is a fresh process each time.
"""

from __future__ import annotations

import gc
import logging
import os
import signal
import sys
import threading
from multiprocessing.connection import Connection
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scrapy_optout.exceptions import OptOutError
from scrapy_optout.frontends.survey.inputs import SiteLine, read_sites
from scrapy_optout.frontends.survey.progress import Progress, ProgressRelay
from scrapy_optout.frontends.survey.results import RESULTS, finish, finished_lines, fold_parts
from scrapy_optout.policy.urls import origin_of
from scrapy_optout.verdict import Purpose

if TYPE_CHECKING:
    from multiprocessing.process import BaseProcess

    from scrapy.settings import Settings

    from scrapy_optout.frontends.survey.spider import SurveySpider

__all__ = ["default_workers", "run_survey"]

logger = logging.getLogger(__name__)


def run_survey(
    input: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    purpose: Purpose | str = Purpose.TRAIN,
    user_agent: str | None = None,
    concurrency: int | None = None,
    delay: float | None = None,
    retry_unreachable: bool = False,
    pages: int = 0,
    compare_user_agent: str | None = None,
    progress: bool = True,
    settings: dict[str, Any] | None = None,
    registry: list[str] | tuple[str, ...] = (),
    workers: int = 1,
) -> dict[str, Any]:
    """Survey the sites listed in *input* into *out* with the ``survey`` spider.

    *concurrency* is the number of requests in flight across all sites
    (``CONCURRENT_REQUESTS``) and *delay* the seconds between two requests
    to one origin (``DOWNLOAD_DELAY``, randomised); the other politeness
    settings stay as configured in :mod:`scrapy_optout.frontends.survey.settings`.
    *pages* further same-origin pages of each site are read besides the home
    page; with *compare_user_agent*, the home page is fetched a second time
    under that identity and each record says whether the answers differ.
    *settings* override any Scrapy setting; *registry* names opt-out
    registries (paths or URLs). Returns the summary (also
    written to ``out/summary.json``).

    With *workers* above 1, the sites still to do are dealt out by origin to
    that many crawler processes (all sites of one origin to the same one, so
    per-origin politeness holds), which share the requests in flight; their
    records are merged into ``results.jsonl`` and the summary and report are
    written once from all of them. The records are the same as one process
    would write. A single process runs when there is only one origin to survey.
    """
    if workers < 1:
        raise OptOutError(f"workers must be 1 or more, not {workers}")
    overrides: dict[str, Any] = {"LOG_LEVEL": "WARNING", "SURVEY_PROGRESS": progress}
    if user_agent:
        overrides["USER_AGENT"] = user_agent
    if concurrency:
        overrides["CONCURRENT_REQUESTS"] = concurrency
    if delay is not None:
        overrides["DOWNLOAD_DELAY"] = delay
    overrides.update(settings or {})
    config = _config(overrides)
    _raise_open_file_limit(2 * config.getint("CONCURRENT_REQUESTS") + 1024)
    arguments: dict[str, Any] = {
        "input": str(input),
        "out": str(Path(out)),
        "purpose": str(Purpose(purpose)),
        "retry_unreachable": retry_unreachable,
        "registry": list(registry),
        "pages": pages,
        "compare_user_agent": compare_user_agent,
    }
    quiet = "LOG_LEVEL" not in (settings or {})
    if workers > 1:
        sites, done, shards = _shards(input, out, workers, retry_unreachable=retry_unreachable)
        if len(shards) > 1:
            return _run_workers(config, overrides, arguments, sites, done, shards, quiet=quiet)
    spider = _crawl(config, arguments, quiet_retries=quiet)
    summary = spider.summary
    if summary is None:
        raise OptOutError("the survey did not finish; see the log above")
    return dict(summary)


def default_workers() -> int:
    """The crawler processes of a survey when none are asked for: one per usable CPU, at most 8.

    A survey is bound by its CPU once the network answers fast; past a few
    processes the memory each takes (a Scrapy crawler of its own) outweighs
    what they add.
    """
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        cpus = os.cpu_count() or 1
    return max(1, min(cpus, MAX_DEFAULT_WORKERS))


#: The most crawler processes :func:`default_workers` chooses.
MAX_DEFAULT_WORKERS = 8


#: The garbage collector's thresholds during a survey's crawl (at least these).
_GC_THRESHOLDS = (20_000, 10, 10)


def _config(overrides: dict[str, Any]) -> Settings:
    from scrapy.settings import Settings

    config = Settings()
    config.setmodule("scrapy_optout.frontends.survey.settings", priority="project")
    config.setdict(overrides, priority="cmdline")
    return config


def _crawl(config: Settings, arguments: dict[str, Any], *, quiet_retries: bool) -> SurveySpider:
    """Run the ``survey`` spider in this process with *arguments*; return it once closed."""
    from scrapy.crawler import CrawlerProcess

    from scrapy_optout.frontends.survey.spider import SurveySpider

    process = CrawlerProcess(config)
    if quiet_retries:
        # An unreachable site is data, recorded in results.jsonl; the retry
        # middleware would log each of its failed requests as an error. (Set
        # after CrawlerProcess, whose logging set-up resets child loggers.)
        logging.getLogger("scrapy.downloadermiddlewares.retry").setLevel(logging.CRITICAL)
    crawler = process.create_crawler(SurveySpider)
    process.crawl(crawler, **arguments)
    # Every request and response leaves cycles behind (deferreds, failures);
    # with the interpreter's default thresholds the young generations are
    # collected every few hundred allocations and the old one, which holds
    # everything imported, several times a survey. Fewer, larger young
    # collections cost a survey a fraction of that; the thresholds are put
    # back when the crawl ends.
    thresholds = gc.get_threshold()
    gc.set_threshold(
        *(max(now, least) for now, least in zip(thresholds, _GC_THRESHOLDS, strict=False))
    )
    try:
        process.start()
    finally:
        gc.set_threshold(*thresholds)
    spider = crawler.spider
    assert isinstance(spider, SurveySpider)
    return spider


def _shards(
    input: str | os.PathLike[str],
    out: str | os.PathLike[str],
    workers: int,
    *,
    retry_unreachable: bool,
) -> tuple[list[SiteLine], set[int], list[list[int]]]:
    """The site lines, those already done, and the lines to do dealt out to *workers*.

    Each origin is a download slot, and politeness binds per slot, so every
    line that reaches an origin goes to the same worker: lines of one origin,
    and a bare domain's two attempts (HTTPS, then HTTP) with the lines of
    either origin. Such groups are dealt in turn, in input order; unreadable
    lines are one group of their own. Empty shards are left out.
    """
    sites = read_sites(input)
    fold_parts(out)
    done = finished_lines(Path(out) / RESULTS, sites, retry_unreachable=retry_unreachable)
    todo = [site for site in sites if site.line not in done]
    # Origins reached by one line are joined into one group (union-find).
    parent: dict[str, str] = {}

    def root(origin: str) -> str:
        while parent.setdefault(origin, origin) != origin:
            parent[origin] = parent[parent[origin]]
            origin = parent[origin]
        return origin

    keys: list[str] = []
    for site in todo:
        origins = [origin_of(url) for url in (site.site, site.fallback) if url]
        first = root(origins[0]) if origins else root("")
        for other in origins[1:]:
            parent[root(other)] = first
        keys.append(origins[0] if origins else "")
    shards: list[list[int]] = [[] for _ in range(workers)]
    dealt: dict[str, int] = {}
    for site, key in zip(todo, keys, strict=True):
        group = root(key)
        if group not in dealt:
            dealt[group] = len(dealt) % workers
        shards[dealt[group]].append(site.line)
    return sites, done, [shard for shard in shards if shard]


def _run_workers(
    config: Settings,
    overrides: dict[str, Any],
    arguments: dict[str, Any],
    sites: list[SiteLine],
    done: set[int],
    shards: list[list[int]],
    *,
    quiet: bool,
) -> dict[str, Any]:
    """Survey each shard in a crawler process of its own, then sum up all their records."""
    import multiprocessing
    from multiprocessing.connection import wait

    # Forking shares what this process has imported (Scrapy and the spider:
    # imported here, once); where fork is not safe, spawn.
    fork = sys.platform.startswith("linux")
    if fork:
        import scrapy.crawler  # noqa: F401

        import scrapy_optout.frontends.survey.handler
        import scrapy_optout.frontends.survey.spider  # noqa: F401
    context = multiprocessing.get_context("fork") if fork else multiprocessing.get_context("spawn")
    total = config.getint("CONCURRENT_REQUESTS")
    worker_overrides = {**overrides, "CONCURRENT_REQUESTS": max(1, -(-total // len(shards)))}
    display = Progress(
        len(sites),
        enabled=config.getbool("SURVEY_PROGRESS", True),
        interval=config.getfloat("SURVEY_PROGRESS_INTERVAL", 10.0),
    )
    display.advance(len(done))
    workers: list[BaseProcess] = []
    channels: dict[Connection, int] = {}
    for number, lines in enumerate(shards):
        receiver, sender = context.Pipe(duplex=False)
        worker = context.Process(
            target=_worker,
            args=(worker_overrides, {**arguments, "lines": lines, "part": number}, sender, quiet),
            name=f"optout-survey-{number}",
            daemon=True,
        )
        worker.start()
        sender.close()
        workers.append(worker)
        channels[receiver] = number
    extras: dict[int, dict[str, Any]] = {}
    # An interrupt reaches the workers too: each stops as Scrapy does, and the
    # records they wrote are summed up here as those of one interrupted run.
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        while channels:
            for channel in wait(list(channels)):
                assert isinstance(channel, Connection)
                try:
                    kind, value = channel.recv()
                except EOFError:
                    channel.close()
                    del channels[channel]
                    continue
                if kind == "progress":
                    display.advance(value[0], unreachable=value[1])
                else:
                    extras[channels[channel]] = value
        for process in workers:
            process.join()
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
        fold_parts(arguments["out"])
        display.close()
    for number, process in enumerate(workers):
        if process.exitcode != 0 or number not in extras:
            raise OptOutError(
                f"survey worker {number} ended with exit code {process.exitcode}; the records "
                "written are kept, and running the survey again resumes it"
            )
    extra = dict(extras[0])
    reasons = [str(e["finish_reason"]) for e in extras.values()]
    extra["finish_reason"] = next((r for r in reasons if r != "finished"), "finished")
    return finish(arguments["out"], purpose=arguments["purpose"], sites=sites, extra=extra)


def _worker(
    overrides: dict[str, Any], arguments: dict[str, Any], channel: Connection, quiet: bool
) -> None:
    """One crawler process of a survey: its shard of the sites, its progress sent on *channel*."""

    def send(counts: tuple[int, int]) -> None:
        channel.send(("progress", counts))

    progress = ProgressRelay(send)
    spider = _crawl(_config(overrides), {**arguments, "progress": progress}, quiet_retries=quiet)
    channel.send(("done", spider.summary_extra()))
    channel.close()


def _raise_open_file_limit(wanted: int) -> None:
    """Raise this process's soft limit on open files towards *wanted*.

    Every request in flight holds a socket, and each site's idle connections
    linger for ``SURVEY_IDLE_CONNECTION_TIMEOUT``; the usual soft limit (1024)
    is below what a survey at its default concurrency can reach. The hard
    limit is never exceeded, and nothing happens where the platform has none.
    """
    try:
        import resource
    except ImportError:  # not on POSIX
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError):
            logger.debug("Could not raise the open-file limit to %d", target)
