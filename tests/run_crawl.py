"""Run one real Scrapy crawl in a fresh process (Twisted's reactor cannot restart).

Usage: python tests/run_crawl.py CONFIG.json, where CONFIG has ``start_urls``,
``out`` and optional ``settings`` and ``spider`` (``module:Class``, a module of
the tests folder; the demo's spider by default).
"""

import importlib
import json
import sys
from pathlib import Path

from scrapy_optout.demo import SiteSpider, crawl

config = json.loads(Path(sys.argv[1]).read_text())
spider = SiteSpider
if config.get("spider"):
    module, _, name = config["spider"].partition(":")
    spider = getattr(importlib.import_module(module), name)
sys.exit(crawl(config["start_urls"], Path(config["out"]), config.get("settings") or {}, spider))
