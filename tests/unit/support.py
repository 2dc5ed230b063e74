"""What the unit tests share besides their fixtures."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

from scrapy import Spider

from scrapy_optout.stores.ledger import read_ledger

#: The robots.txt of every origin: /private/ is reserved for every purpose.
ROBOTS = b"User-agent: *\nDisallow: /private/\n"

T = TypeVar("T")


class UnitSpider(Spider):
    name = "unit"


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run one hook to its end (the stubbed store never waits on the engine)."""
    return asyncio.run(coroutine)


def lines(ledger: Path) -> list[dict[str, Any]]:
    """The records of *ledger*, none when it has no file yet."""
    return list(read_ledger(ledger)) if ledger.exists() else []
