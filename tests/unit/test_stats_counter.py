"""The add-on's stat counter: the collector's own dict, or its inc_value when it has its own."""

from __future__ import annotations

from typing import Any

from scrapy import Spider
from scrapy.statscollectors import MemoryStatsCollector, StatsCollector
from scrapy.utils.test import get_crawler

from scrapy_optout.scrapy.fetcher import stats_counter


class Forwarding(MemoryStatsCollector):
    """A collector that sends every increment somewhere else too (as statsd ones do)."""

    def __init__(self, crawler: Any) -> None:
        super().__init__(crawler)
        self.sent: list[tuple[str, int]] = []

    def inc_value(self, key: str, count: int = 1, start: int = 0, spider: Any = None) -> None:
        self.sent.append((key, count))
        super().inc_value(key, count, start)


def test_counts_land_in_scrapys_stats() -> None:
    crawler = get_crawler(Spider)
    assert type(crawler.stats) is MemoryStatsCollector
    inc = stats_counter(crawler)
    inc("optout/a")
    inc("optout/a")
    inc("optout/b")
    assert crawler.stats.get_value("optout/a") == 2
    assert crawler.stats.get_value("optout/b") == 1


def test_replaced_stats_dict_is_followed() -> None:
    crawler = get_crawler(Spider)
    inc = stats_counter(crawler)
    inc("optout/a")
    crawler.stats.set_stats({"other": 1})
    inc("optout/a")
    assert crawler.stats.get_stats() == {"other": 1, "optout/a": 1}


def test_a_collector_with_its_own_inc_value_is_called() -> None:
    crawler = get_crawler(Spider, {"STATS_CLASS": f"{__name__}.Forwarding"})
    assert isinstance(crawler.stats, Forwarding)
    inc = stats_counter(crawler)
    inc("optout/a")
    assert crawler.stats.sent == [("optout/a", 1)]
    assert crawler.stats.get_value("optout/a") == 1


def test_a_collector_that_keeps_nothing() -> None:
    crawler = get_crawler(Spider, {"STATS_CLASS": "scrapy.statscollectors.DummyStatsCollector"})
    assert isinstance(crawler.stats, StatsCollector)
    inc = stats_counter(crawler)
    inc("optout/a")
    assert crawler.stats.get_value("optout/a") is None
