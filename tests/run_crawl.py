"""Run one real Scrapy crawl in a fresh process (Twisted's reactor cannot restart).

Usage: python tests/run_crawl.py CONFIG.json, where CONFIG has ``start_urls``,
``out`` and optional ``settings``.
"""

import json
import sys
from pathlib import Path

from scrapy_optout.demo import crawl

config = json.loads(Path(sys.argv[1]).read_text())
sys.exit(crawl(config["start_urls"], Path(config["out"]), config.get("settings") or {}))
