"""The Scrapy add-on: ``ADDONS = {"scrapy_optout.Addon": 500}``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from scrapy_optout.scrapy.middleware import OptOutMiddleware
from scrapy_optout.scrapy.pipeline import OptOutPipeline
from scrapy_optout.scrapy.spidermw import OptOutSpiderMiddleware

if TYPE_CHECKING:
    from scrapy.settings import Settings

SCRAPY_ROBOTSTXT = "scrapy.downloadermiddlewares.robotstxt.RobotsTxtMiddleware"

#: Priorities the add-on gives its components.
DOWNLOADER_PRIORITY = 100  # where Scrapy's own robots.txt middleware sits
SPIDER_PRIORITY = 50
PIPELINE_PRIORITY = 0  # ahead of the Files and Images pipelines


class Addon:
    """Turns on every scrapy-optout component and takes over robots.txt.

    Scrapy's ``RobotsTxtMiddleware`` is disabled: :class:`OptOutMiddleware`
    reads robots.txt itself (once per origin, with RFC 9309's status rules),
    so the file is fetched once, not twice.
    """

    def update_settings(self, settings: Settings) -> None:
        settings.set_in_component_priority_dict(
            "DOWNLOADER_MIDDLEWARES", OptOutMiddleware, DOWNLOADER_PRIORITY
        )
        settings.set_in_component_priority_dict(
            "SPIDER_MIDDLEWARES", OptOutSpiderMiddleware, SPIDER_PRIORITY
        )
        settings.set_in_component_priority_dict("ITEM_PIPELINES", OptOutPipeline, PIPELINE_PRIORITY)
        middlewares = settings.getdict("DOWNLOADER_MIDDLEWARES")
        middlewares[SCRAPY_ROBOTSTXT] = None
        settings.set(
            "DOWNLOADER_MIDDLEWARES",
            middlewares,
            settings.getpriority("DOWNLOADER_MIDDLEWARES") or 0,
        )
        settings.set("ROBOTSTXT_OBEY", False, "addon")
