"""Run a live survey in this process: the library behind ``optout survey INPUT``.

Scrapy's reactor cannot be restarted, so :func:`run_survey` can run once per
process; the command line is a fresh process each time.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from scrapy_optout.exceptions import OptOutError
from scrapy_optout.verdict import Purpose

__all__ = ["run_survey"]

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
    """
    from scrapy.crawler import CrawlerProcess
    from scrapy.settings import Settings

    from scrapy_optout.frontends.survey.spider import SurveySpider

    config = Settings()
    config.setmodule("scrapy_optout.frontends.survey.settings", priority="project")
    overrides: dict[str, Any] = {"LOG_LEVEL": "WARNING", "SURVEY_PROGRESS": progress}
    if user_agent:
        overrides["USER_AGENT"] = user_agent
    if concurrency:
        overrides["CONCURRENT_REQUESTS"] = concurrency
    if delay is not None:
        overrides["DOWNLOAD_DELAY"] = delay
    overrides.update(settings or {})
    config.setdict(overrides, priority="cmdline")
    _raise_open_file_limit(2 * config.getint("CONCURRENT_REQUESTS") + 1024)
    process = CrawlerProcess(config)
    if "LOG_LEVEL" not in (settings or {}):
        # An unreachable site is data, recorded in results.jsonl; the retry
        # middleware would log each of its failed requests as an error. (Set
        # after CrawlerProcess, whose logging set-up resets child loggers.)
        logging.getLogger("scrapy.downloadermiddlewares.retry").setLevel(logging.CRITICAL)
    crawler = process.create_crawler(SurveySpider)
    process.crawl(
        crawler,
        input=str(input),
        out=str(Path(out)),
        purpose=str(Purpose(purpose)),
        retry_unreachable=retry_unreachable,
        registry=list(registry),
        pages=pages,
        compare_user_agent=compare_user_agent,
    )
    process.start()
    spider = crawler.spider
    summary = getattr(spider, "summary", None)
    if summary is None:
        raise OptOutError("the survey did not finish; see the log above")
    return dict(summary)


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
