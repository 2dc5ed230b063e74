"""OptOutPipeline on items whose URLs are checked against canned policies."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from scrapy.crawler import Crawler

from scrapy_optout.scrapy.exceptions import ReservedItem
from scrapy_optout.scrapy.pipeline import OptOutPipeline
from unit.support import lines, run

RESERVED = "http://example.com/private/report.pdf"
ALLOWED = "http://example.com/public/report.pdf"


def _item() -> dict[str, Any]:
    return {"title": "t", "file_urls": [RESERVED, ALLOWED]}


def test_an_item_with_a_reserved_file_url_is_dropped(
    make_crawler: Callable[..., Crawler], ledger: Path
) -> None:
    pipeline = OptOutPipeline.from_crawler(make_crawler())
    with pytest.raises(ReservedItem) as caught:
        run(pipeline.process_item(_item()))
    [line] = lines(ledger)
    assert (line["stage"], line["url"], line["item_field"]) == ("item", RESERVED, "file_urls")
    assert line["reasons"][0]["signal"] == "robots.txt"
    assert caught.value.url == RESERVED
    assert [r.to_dict() for r in caught.value.records] == [line]


def test_strip_mode_keeps_the_item_without_its_reserved_url(
    make_crawler: Callable[..., Crawler], ledger: Path
) -> None:
    pipeline = OptOutPipeline.from_crawler(make_crawler(OPTOUT_ITEM_ACTION="strip"))
    item = run(pipeline.process_item(_item()))
    assert item == {"title": "t", "file_urls": [ALLOWED]}
    [line] = lines(ledger)
    assert (line["stage"], line["url"], line["mode"]) == ("item", RESERVED, "enforce")
