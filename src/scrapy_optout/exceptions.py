"""The exception tree of scrapy-optout.

``OptOutError`` is the root; catch it to handle every error this package raises
on purpose. Policy files never raise: a broken file becomes a finding.

The errors here need nothing from Scrapy. Those the Scrapy components raise
(``ReservedContent``, ``RefusedScheme``, ``InvalidOptOutMeta``, ``LedgerFailed``,
``ReservedItem``) also derive from Scrapy's ``IgnoreRequest`` or ``DropItem``
and live in :mod:`scrapy_optout.scrapy.exceptions`, which draws the whole tree.
"""

from __future__ import annotations


class OptOutError(Exception):
    """Root of every error raised by scrapy-optout."""


class ConfigurationError(OptOutError, ValueError):
    """A setting or argument has a value that cannot be used."""


class FetchError(OptOutError):
    """The URL under examination could not be fetched at all."""


# -- how a failed download is worded ------------------------------------------------
#
# One wording for the Scrapy side (Twisted and Scrapy exceptions) and for
# ``optout check`` (requests, urllib3 and socket exceptions). Matched by class
# name so that neither side imports the other's HTTP stack; the kinds are
# listed from the most to the least specific: requests wraps a refused
# connection in a ``ConnectionError`` and urllib3 makes every failed connect a
# subclass of its connect timeout, so the most specific kind anywhere in the
# chain of causes decides.

CONNECTION_REFUSED = "connection refused"
NAME_NOT_RESOLVED = "name not resolved"
TLS_ERROR = "TLS error"
TIMED_OUT = "timed out"
REDIRECTS = "too many redirects"
BODY_CUT_SHORT = "body cut short"
CONNECTION_FAILED = "connection failed"
DOWNLOAD_FAILED = "download failed"

_KINDS: tuple[tuple[str, frozenset[str]], ...] = (
    (
        NAME_NOT_RESOLVED,
        frozenset({"gaierror", "NameResolutionError", "DNSLookupError", "CannotResolveHostError"}),
    ),
    (CONNECTION_REFUSED, frozenset({"ConnectionRefusedError", "DownloadConnectionRefusedError"})),
    (
        TLS_ERROR,
        frozenset({"SSLError", "SSLCertVerificationError", "SSLZeroReturnError", "TLSError"}),
    ),
    (
        TIMED_OUT,
        frozenset(
            {
                "TimeoutError",
                "Timeout",
                "ConnectTimeout",
                "ReadTimeout",
                "ConnectTimeoutError",
                "ReadTimeoutError",
                "DownloadTimeoutError",
                "TCPTimedOutError",
                "UserTimeoutError",
            }
        ),
    ),
    (REDIRECTS, frozenset({"TooManyRedirects"})),
    (
        BODY_CUT_SHORT,
        frozenset(
            {"ResponseDataLossError", "ChunkedEncodingError", "IncompleteRead", "PotentialDataLoss"}
        ),
    ),
    (
        CONNECTION_FAILED,
        frozenset(
            {
                "ConnectionError",
                "ConnectionResetError",
                "ConnectionAbortedError",
                "ConnectionLost",
                "ConnectionDone",
                "ConnectError",
                "NewConnectionError",
                "ProtocolError",
                "ResponseFailed",
                "ResponseNeverReceived",
                "DownloadFailedError",
            }
        ),
    ),
)


def _chain(exc: BaseException) -> list[BaseException]:
    """*exc* and every exception it wraps, outermost first."""
    seen: list[BaseException] = []
    todo = [exc]
    while todo and len(seen) < 32:
        current = todo.pop(0)
        if any(current is s for s in seen):
            continue
        seen.append(current)
        wrapped: list[object] = [current.__cause__, current.__context__]
        wrapped.append(getattr(current, "reason", None))  # urllib3's MaxRetryError
        wrapped.extend(current.args)  # requests wraps the urllib3 error as its argument
        for failure in getattr(current, "reasons", None) or ():  # Twisted's ResponseFailed
            wrapped.append(getattr(failure, "value", None))
        todo.extend(w for w in wrapped if isinstance(w, BaseException))
    return seen


def error_kind(exc: BaseException) -> tuple[str, str]:
    """The kind of a failed download and the class name that shows it."""
    chain = _chain(exc)
    for kind, names in _KINDS:
        for link in chain:
            name = type(link).__name__
            if name in names or (kind == TLS_ERROR and type(link).__module__.startswith("OpenSSL")):
                return kind, name
    return DOWNLOAD_FAILED, type(exc).__name__


def describe_error(exc: BaseException) -> str:
    """A fixed description of a failed download: never text the server chose.

    ``connection refused``, ``name not resolved``, ``TLS error``, ``timed
    out``, ``too many redirects``, ``body cut short``, ``connection failed`` or
    ``download failed``, then the class name of the exception that shows it:
    ``connection refused (ConnectionRefusedError)``. Exception messages quote
    URLs (those of redirect targets included), which a site controls, and
    evaluators look for words in errors ("redirect"), so no message is kept.
    """
    kind, name = error_kind(exc)
    return f"{kind} ({name})"


class LedgerError(OptOutError):
    """The ledger or its evidence folder cannot be written.

    Raised at start-up when a folder is not writable (the crawl does not
    start), and by a write that fails or is cut short (the crawl stops).
    """


class PolicyStoreError(OptOutError):
    """The shared policy store (Redis) cannot be reached or answered wrongly.

    Nothing is decided without a snapshot: the request or item waiting for it
    is not let through. With ``OPTOUT_POLICY_STORE_FALLBACK = "stop"`` (the
    default) the crawl stops; with ``"memory"`` the process goes on with a
    store of its own.
    """
