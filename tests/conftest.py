from __future__ import annotations

from collections.abc import Iterator

import pytest
from examples.farm import SiteFarm

from helpers import SITES


@pytest.fixture(scope="session")
def farm() -> Iterator[SiteFarm]:
    with SiteFarm(SITES) as running:
        yield running
