"""The dataset filter as a datatrove pipeline block (needs the ``filter`` extra).

>>> from scrapy_optout.datatrove import OptOutFilter, prefetch_policies  # doctest: +SKIP

See :mod:`scrapy_optout.frontends.filter.datatrove` and ``docs/filter.md``.
"""

from scrapy_optout.frontends.filter.datatrove import (
    LEDGER_NAME,
    OptOutFilter,
    ledger_path,
    prefetch_policies,
)

__all__ = ["LEDGER_NAME", "OptOutFilter", "ledger_path", "prefetch_policies"]
