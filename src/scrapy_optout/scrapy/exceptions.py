"""The exceptions the Scrapy components raise, in the package's one tree.

Each is an :class:`~scrapy_optout.OptOutError` and also the Scrapy exception
that makes Scrapy do the right thing with it: ``IgnoreRequest`` drops a request
or response, ``DropItem`` drops an item. The tree, whole::

    OptOutError                       (scrapy_optout.exceptions)
    +-- ConfigurationError            (also ValueError)
    |   +-- InvalidOptOutMeta         (also IgnoreRequest)
    +-- FetchError
    +-- LedgerError
    +-- PolicyStoreError
    |   +-- PolicyStoreFailed         (also IgnoreRequest)
    +-- ReservedContent               (also IgnoreRequest)
    +-- RefusedScheme                 (also IgnoreRequest)
    +-- LedgerFailed                  (also IgnoreRequest)
    +-- ReservedItem                  (also DropItem)

The pure ones live in :mod:`scrapy_optout.exceptions`, which imports nothing
from Scrapy; these are here because their Scrapy bases are. All are exported by
:mod:`scrapy_optout`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from scrapy.exceptions import DropItem, IgnoreRequest

from scrapy_optout.exceptions import ConfigurationError, OptOutError, PolicyStoreError

if TYPE_CHECKING:
    from scrapy_optout.stores.record import LedgerRecord
    from scrapy_optout.verdict import Verdict

__all__ = [
    "InvalidOptOutMeta",
    "LedgerFailed",
    "PolicyStoreFailed",
    "RefusedScheme",
    "ReservedContent",
    "ReservedItem",
]


class ReservedContent(IgnoreRequest, OptOutError):
    """Raised to drop a request or response whose content is reserved."""

    def __init__(self, url: str, record: LedgerRecord) -> None:
        signals_ = ", ".join(r["signal"] for r in record.reasons)
        super().__init__(f"Reserved for {record.purpose} by {signals_}: {url}")
        self.record = record


class RefusedScheme(IgnoreRequest, OptOutError):
    """Raised to drop a request for a non-http(s) URL that a site put in the crawl's way."""


class InvalidOptOutMeta(IgnoreRequest, ConfigurationError):
    """A request's ``optout_purpose`` or ``optout_mode`` has a value that cannot be used.

    The request is dropped, not crawled under the default purpose or mode.
    """

    def __init__(self, key: str, value: object, allowed: tuple[str, ...]) -> None:
        super().__init__(
            f"Request.meta[{key!r}] is {value!r}; it must be one of {', '.join(allowed)}"
        )
        self.key = key
        self.value = value
        self.allowed = allowed


class LedgerFailed(IgnoreRequest, OptOutError):
    """Raised instead of acting on a decision whose ledger line could not be written.

    Nothing is kept or excluded without its record: the request or response
    is dropped (the pipeline drops the item) and the crawl stops.
    """


class PolicyStoreFailed(IgnoreRequest, PolicyStoreError):
    """Raised instead of deciding without a snapshot: the shared policy store failed.

    The request is dropped (an item waiting for the store fails with it), never
    let through, and with ``OPTOUT_POLICY_STORE_FALLBACK = "stop"`` the crawl stops.
    """


class ReservedItem(DropItem, OptOutError):
    """Dropped because one of the item's sources is reserved for the purpose.

    ``url``, ``verdict`` and ``record`` are those of the first reserved
    source; ``records`` holds the ledger record of every one.
    """

    def __init__(
        self,
        url: str,
        verdict: Verdict,
        record: LedgerRecord,
        records: list[LedgerRecord] | None = None,
    ) -> None:
        records = records if records is not None else [record]
        more = f" (and {len(records) - 1} more)" if len(records) > 1 else ""
        # INFO, not Scrapy's WARNING: an exclusion is the component doing its job,
        # and the ledger already holds the details.
        super().__init__(
            f"Source {url}{more} is reserved for {verdict.purpose} by {', '.join(verdict.signals)}",
            log_level="INFO",
        )
        self.url = url
        self.verdict = verdict
        self.record = record
        self.records = records
