"""The survey's HTTP download handler: idle connections close after seconds, not minutes.

A survey touches each site once, with four requests at most two at a time,
then moves on. Twisted keeps an idle persistent connection for 240 seconds,
so a survey going through a hundred sites a second would hold tens of
thousands of open sockets (and run out of file descriptors long before) for
connections that will never be used again. This handler keeps Scrapy's
HTTP/1.1 handler as it is and only shortens that idle time to
``SURVEY_IDLE_CONNECTION_TIMEOUT`` seconds (default 2), long enough for the
four requests of one site to share a connection.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from scrapy.core.downloader.handlers.http11 import HTTP11DownloadHandler

if TYPE_CHECKING:
    from scrapy.crawler import Crawler

DEFAULT_IDLE_TIMEOUT = 2.0


class SurveyHTTPDownloadHandler(HTTP11DownloadHandler):
    """Scrapy's HTTP/1.1 download handler with a short idle-connection timeout."""

    def __init__(self, crawler: Crawler) -> None:
        super().__init__(crawler)
        timeout = crawler.settings.getfloat("SURVEY_IDLE_CONNECTION_TIMEOUT", DEFAULT_IDLE_TIMEOUT)
        pool = getattr(self, "_pool", None)
        if pool is not None and timeout > 0:
            pool.cachedConnectionTimeout = timeout
