"""The exception tree of scrapy-optout.

``OptOutError`` is the root; catch it to handle every error this package raises
on purpose. Policy files never raise: a broken file becomes a finding.
"""

from __future__ import annotations


class OptOutError(Exception):
    """Root of every error raised by scrapy-optout."""


class ConfigurationError(OptOutError, ValueError):
    """A setting or argument has a value that cannot be used."""


class FetchError(OptOutError):
    """The URL under examination could not be fetched at all."""


class LedgerError(OptOutError):
    """The ledger or its evidence folder cannot be written.

    Raised at start-up when a folder is not writable (the crawl does not
    start), and by a write that fails or is cut short (the crawl stops).
    """
