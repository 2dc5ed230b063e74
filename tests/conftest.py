from __future__ import annotations

from collections.abc import Iterator

import pytest

from helpers import SITES
from scrapy_optout.farm import SiteFarm


@pytest.fixture(scope="session")
def farm() -> Iterator[SiteFarm]:
    with SiteFarm(SITES) as running:
        yield running
