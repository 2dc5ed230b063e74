"""The fast layer: components built from a crawler, one edge case per test.

No crawl runs and nothing touches the network: the policy store's ``get`` is
replaced by one that answers with a canned robots.txt, and the middleware's and
pipeline's hooks are called directly.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from scrapy.crawler import Crawler
from scrapy.utils.test import get_crawler

from scrapy_optout.policy.snapshot import OriginPolicy, PolicyFile
from scrapy_optout.policy.urls import ROBOTS_TXT
from scrapy_optout.scrapy.runtime import OptOutCore
from unit.support import ROBOTS, UnitSpider


@pytest.fixture
def ledger(tmp_path: Path) -> Path:
    return tmp_path / "ledger.jsonl"


@pytest.fixture
def make_crawler(ledger: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Crawler]:
    """A crawler with its spider, its ledger under ``tmp_path`` and its policy lookups stubbed.

    Every origin answers with *robots*; the origins looked up are collected in
    ``crawler.asked``.
    """

    def make(robots: bytes = ROBOTS, **settings: Any) -> Crawler:
        crawler = get_crawler(UnitSpider, {"OPTOUT_LEDGER": str(ledger), **settings})
        crawler.spider = crawler._create_spider()
        asked: list[str] = []

        async def get(origin: str) -> OriginPolicy:
            asked.append(origin)
            robots_file = PolicyFile(ROBOTS_TXT, f"{origin}/robots.txt", 200, robots)
            return OriginPolicy(origin, robots_file)

        monkeypatch.setattr(OptOutCore.for_crawler(crawler).store, "get", get)
        crawler.asked = asked  # type: ignore[attr-defined]
        return crawler

    return make
