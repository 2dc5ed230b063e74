"""The add-on sets exactly what the README's by-hand settings set."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from scrapy.crawler import Crawler
from scrapy.utils.conf import build_component_list
from scrapy.utils.misc import load_object
from scrapy.utils.test import get_crawler

from unit.support import UnitSpider

README = Path(__file__).parents[2] / "README.md"
COMPONENTS = ("DOWNLOADER_MIDDLEWARES", "SPIDER_MIDDLEWARES", "ITEM_PIPELINES")


def _by_hand() -> dict[str, Any]:
    """The settings of the README block that adds the components by hand."""
    text = README.read_text(encoding="utf-8")
    block = re.search(r"added by hand.*?```python\n(.*?)```", text, re.DOTALL)
    assert block is not None
    settings: dict[str, Any] = {}
    exec(block.group(1), {}, settings)
    return settings


def _components(crawler: Crawler, name: str) -> dict[Any, int | None]:
    """The priorities of *name*, base included, keyed by class whatever the spelling."""
    return {
        load_object(k) if isinstance(k, str) else k: v
        for k, v in crawler.settings.getwithbase(name).items()
    }


def test_the_addon_matches_the_settings_written_by_hand(tmp_path: Path) -> None:
    common = {"OPTOUT_LEDGER": str(tmp_path / "ledger.jsonl")}
    addon = get_crawler(UnitSpider, {**common, "ADDONS": {"scrapy_optout.Addon": 500}})
    by_hand = get_crawler(UnitSpider, {**common, **_by_hand()})
    for name in COMPONENTS:
        assert _components(addon, name) == _components(by_hand, name), name
        ordered = [
            [load_object(c) if isinstance(c, str) else c for c in build_component_list(settings)]
            for settings in (addon.settings.getwithbase(name), by_hand.settings.getwithbase(name))
        ]
        assert ordered[0] == ordered[1], name
    assert addon.settings.getbool("ROBOTSTXT_OBEY") is by_hand.settings.getbool("ROBOTSTXT_OBEY")
    assert addon.settings.getbool("ROBOTSTXT_OBEY") is False
