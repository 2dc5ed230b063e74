"""``make demo``: crawl the bundled fixture sites with the add-on and show the exclusions.

Starts every site of ``fixtures/sites`` on loopback, crawls them all with one
Scrapy spider that has nothing but ``ADDONS = {"scrapy_optout.Addon": 500}``
added, writes the items, the downloaded files and the ledger into ``--out``,
and prints what was excluded, by signal and stage, and why.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path
from typing import Any

import scrapy
from scrapy.http import Response

from scrapy_optout.stores.ledger import read_ledger

DEMO_USER_AGENT = "optout-test/1.0 (+https://example.invalid/bot)"


class SiteSpider(scrapy.Spider):
    """Follows links within each start URL's origin; one item per page.

    Items carry the page URL, its title, its text and the images it shows (as
    ``file_urls``, so the Files pipeline downloads them through the middleware).
    """

    name = "sites"

    def __init__(self, start_urls: Sequence[str] = (), **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if isinstance(start_urls, str):
            start_urls = [u for u in start_urls.split(",") if u]
        self.start_urls = list(start_urls)

    async def start(self) -> AsyncIterator[Any]:
        # Filtered like any other request: a start URL also found as a link is
        # fetched once.
        for url in self.start_urls:
            yield scrapy.Request(url, callback=self.parse)

    def parse(self, response: Response, **kwargs: Any) -> Iterator[Any]:
        if not hasattr(response, "css"):
            return
        images = [response.urljoin(src) for src in response.css("img::attr(src)").getall()]
        yield {
            "url": response.url,
            "title": (response.css("title::text").get() or "").strip(),
            "text": " ".join(t.strip() for t in response.css("body *::text").getall() if t.strip()),
            "file_urls": images,
        }
        origin = response.url.split("/", 3)[:3]
        for href in response.css("a::attr(href)").getall():
            url = response.urljoin(href)
            if url.split("/", 3)[:3] == origin:
                yield response.follow(url, callback=self.parse)


def crawl(
    start_urls: Sequence[str],
    out: Path,
    settings: dict[str, Any] | None = None,
    spider: type[scrapy.Spider] = SiteSpider,
    **spider_args: Any,
) -> int:
    """Run *spider* (:class:`SiteSpider`) over *start_urls* with the add-on, writing into *out*.

    *spider_args* go to the spider's constructor. Returns the exit status
    ``scrapy crawl`` would have: 1 when the crawl could not start or was
    stopped by a failure (a ledger that cannot be written), else 0.
    """
    from scrapy.crawler import CrawlerProcess

    out.mkdir(parents=True, exist_ok=True)
    base: dict[str, Any] = {
        "ADDONS": {"scrapy_optout.Addon": 500},
        "USER_AGENT": DEMO_USER_AGENT,
        "OPTOUT_LEDGER": str(out / "optout-ledger.jsonl"),
        "FEEDS": {str(out / "items.jsonl"): {"format": "jsonlines", "overwrite": True}},
        "ITEM_PIPELINES": {"scrapy.pipelines.files.FilesPipeline": 1},
        "FILES_STORE": str(out / "files"),
        "LOG_LEVEL": "WARNING",
        "TELEMETRY_ENABLED": False,
        "CONCURRENT_REQUESTS_PER_DOMAIN": 16,
    }
    base.update(settings or {})
    process = CrawlerProcess(base, install_root_handler=True)
    crawler = process.create_crawler(spider)
    process.crawl(crawler, start_urls=list(start_urls), **spider_args)
    process.start()
    stats = crawler.stats.get_stats() if crawler._stats else {}
    (out / "stats.json").write_text(
        json.dumps({k: v for k, v in stats.items() if isinstance(v, int | float | str)}, indent=2)
    )
    return 1 if process.bootstrap_failed else 0


def summarise(out: Path) -> str:
    """A plain-text table of the exclusions recorded in ``out/optout-ledger.jsonl``."""
    records = [
        r for r in read_ledger(out / "optout-ledger.jsonl") if r.get("verdict") == "reserved"
    ]
    items = (out / "items.jsonl").read_text().splitlines() if (out / "items.jsonl").exists() else []
    by_signal: Counter[str] = Counter()
    by_stage: Counter[str] = Counter()
    for record in records:
        by_stage[record["stage"]] += 1
        for signal in dict.fromkeys(r["signal"] for r in record["reasons"]):
            by_signal[signal] += 1
    lines = [
        f"{len(items)} pages kept, {len(records)} exclusions recorded in"
        f" {out / 'optout-ledger.jsonl'}",
        "",
        "Exclusions by signal:",
        *(f"  {signal:<16} {count:>4}" for signal, count in by_signal.most_common()),
        "",
        "Exclusions by stage:",
        *(f"  {stage:<16} {count:>4}" for stage, count in by_stage.most_common()),
        "",
        "Why each was excluded:",
    ]
    for record in records:
        reason = record["reasons"][0] if record["reasons"] else {}
        path = (
            "/" + record["url"].split("/", 3)[-1]
            if record["url"].count("/") >= 3
            else record["url"]
        )
        lines.append(
            f"  {record['stage']:<7} {reason.get('signal', '?'):<14}"
            f" {_scenario(record['url'], out)}{path}  <- {reason.get('rule', '')!s:.60}"
        )
    return "\n".join(lines)


def _scenario(url: str, out: Path) -> str:
    path = out / "origins.json"
    origins: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
    for name, origin in origins.items():
        if url.startswith(origin):
            return name
    return ""


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m examples.demo", description=__doc__)
    parser.add_argument("--sites", default="fixtures/sites", help="folder of fixture sites")
    parser.add_argument("--out", default="demo-output", help="output folder")
    args = parser.parse_args(argv)
    from examples.farm import SiteFarm

    out = Path(args.out)
    if out.exists():
        for name in ("optout-ledger.jsonl", "items.jsonl"):
            (out / name).unlink(missing_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    with SiteFarm(args.sites) as farm:
        origins = {name: farm.origin(name) for name in farm.scenarios}
        (out / "origins.json").write_text(json.dumps(origins, indent=2))
        print(f"Serving {len(origins)} fixture sites on 127.0.0.1; crawling with the add-on...")
        status = crawl([farm.url(name, "/") for name in farm.scenarios], out)
    print(summarise(out))
    return status


if __name__ == "__main__":
    sys.exit(main())
