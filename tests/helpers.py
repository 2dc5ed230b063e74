"""Shared helpers of the test suite: paths, the crawl runner."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scrapy_optout.stores.ledger import read_ledger

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"
SITES = FIXTURES / "sites"
TEST_UA = "optout-test/1.0 (+https://example.invalid/bot)"

# Tests never leave the machine: no proxy from the environment.
for _var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
    os.environ.pop(_var, None)
os.environ["NO_PROXY"] = "*"
# The fixture farm and the demo live in examples/, beside src/: crawls and
# commands run in fresh processes find them there too.
os.environ["PYTHONPATH"] = os.pathsep.join(
    p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p
)


@dataclass
class CrawlResult:
    out: Path
    items: list[dict[str, Any]]
    ledger: list[dict[str, Any]]
    stats: dict[str, Any]
    log: str

    @property
    def item_urls(self) -> set[str]:
        return {item["url"] for item in self.items}

    def reserved(self) -> dict[str, dict[str, Any]]:
        return {r["url"]: r for r in self.ledger if r["verdict"] == "reserved"}


def run_crawl(
    out: Path,
    start_urls: list[str],
    settings: dict[str, Any] | None = None,
    timeout: int = 240,
    spider: str | None = None,
    *,
    script: str = "run_crawl.py",
    extra: dict[str, Any] | None = None,
    expect_failure: bool = False,
    preexec_fn: Callable[[], None] | None = None,
) -> CrawlResult:
    """Crawl *start_urls* in a fresh process with ``tests/<script>``.

    It must exit 0, or non-zero when *expect_failure*. *spider* is
    ``module:Class`` in tests/; *extra* adds keys to the configuration the
    script reads.
    """
    out.mkdir(parents=True, exist_ok=True)
    config = out / "config.json"
    config.write_text(
        json.dumps(
            {
                "start_urls": start_urls,
                "out": str(out),
                "settings": settings or {},
                "spider": spider,
                **(extra or {}),
            }
        )
    )
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    proc = subprocess.run(
        [sys.executable, str(ROOT / "tests" / script), str(config)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        cwd=out,
        preexec_fn=preexec_fn,
    )
    if expect_failure:
        assert proc.returncode != 0, proc.stderr[-4000:]
    else:
        assert proc.returncode == 0, proc.stderr[-4000:]
    items_file = out / "items.jsonl"
    items = (
        [json.loads(line) for line in items_file.read_text().splitlines()]
        if items_file.exists()
        else []
    )
    ledger_file = Path((settings or {}).get("OPTOUT_LEDGER", out / "optout-ledger.jsonl"))
    ledger = list(read_ledger(ledger_file)) if ledger_file.is_file() else []
    stats_file = out / "stats.json"
    # A crawl that failed may have left no statistics, or could not write them.
    stats = json.loads(stats_file.read_text() or "{}") if stats_file.exists() else {}
    return CrawlResult(out, items, ledger, stats, proc.stderr)


def load_manifest(scenario: str) -> dict[str, Any]:
    path = SITES / scenario / "manifest.json"
    return json.loads(path.read_text()) if path.exists() else {}


# Sockets held open so that their ports keep refusing connections (see closed_port).
_REFUSING: list[socket.socket] = []


def closed_port() -> int:
    """A loopback port that refuses connections for the rest of the test session.

    The port is bound but never listened on: a connection to it is refused, and
    no other process can take it meanwhile (a port bound and released at once
    could be reused by another test before it is connected to).
    """
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    _REFUSING.append(sock)
    return int(sock.getsockname()[1])
