"""The ``OPTOUT_*`` settings, read once into a typed object.

Every setting is checked when the first component is built: a value of the
wrong type or out of range raises :class:`~scrapy_optout.ConfigurationError`
naming the setting, the value and what is expected. The error is not
Scrapy's ``NotConfigured``, which would only switch enforcement off with a
log line: it stops the crawl before a single request is sent.

Numbers may be given as numbers or as their text (``-s OPTOUT_CACHE_TTL=3600``
on the command line), never as ``True``/``False``, NaN or infinity; lists as
lists of strings or as one comma-separated string, as Scrapy's ``getlist``
reads them; booleans as Scrapy's ``getbool`` reads them.
"""

from __future__ import annotations

import importlib.util
import logging
import math
import os
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from scrapy_optout.exceptions import ConfigurationError
from scrapy_optout.policy.fetching import DEFAULT_MAXSIZE, MIN_MAXSIZE
from scrapy_optout.policy.snapshot import AI_TXT, ROBOTS_TXT, TDMREP_JSON
from scrapy_optout.policy.urls import POLICY_PATHS, without_password
from scrapy_optout.verdict import Purpose

if TYPE_CHECKING:
    from scrapy.settings import BaseSettings

logger = logging.getLogger(__name__)

ENFORCE = "enforce"
MEASURE = "measure"
ALLOW = "allow"
RESERVE = "reserve"
DROP = "drop"
STRIP = "strip"
MAX_CACHE_TTL = 86400  # RFC 9309 §2.4: no cached robots.txt older than 24 h
MIN_POLICY_MAXSIZE = MIN_MAXSIZE  # RFC 9309 §2.5: parse at least 500 KiB
SCRAPY_DOWNLOAD_TIMEOUT = 180.0  # Scrapy's own default for DOWNLOAD_TIMEOUT
#: ``OPTOUT_POLICY_STORE`` of a store in this process; anything else is a Redis URL.
MEMORY_STORE = "memory"
#: ``OPTOUT_POLICY_STORE_FALLBACK`` values.
FALLBACK_STOP = "stop"
FALLBACK_MEMORY = "memory"
_REDIS_URL = re.compile(
    r"(?i)(rediss?)://[^/?#]*[^/?#:@][^/?#]*(/\d*)?(\?[^#]*)?\Z|unix://./*\S+\Z"
)

#: The default of every setting; ``None`` where the default comes from
#: elsewhere (``OPTOUT_USER_AGENT``: ``USER_AGENT``; ``OPTOUT_POLICY_TIMEOUT``:
#: ``DOWNLOAD_TIMEOUT``; ``OPTOUT_EVIDENCE_DIR``: beside the ledger).
DEFAULTS: dict[str, object] = {
    "OPTOUT_ENABLED": True,
    "OPTOUT_PURPOSE": "train",
    "OPTOUT_MODE": ENFORCE,
    "OPTOUT_LEDGER": "optout-ledger.jsonl",
    "OPTOUT_EVIDENCE_DIR": None,
    "OPTOUT_AGENTS": [],
    "OPTOUT_USER_AGENT": None,
    "OPTOUT_CACHE_TTL": MAX_CACHE_TTL,
    "OPTOUT_ERROR_TTL": 600,
    "OPTOUT_CACHE_SIZE": 10000,
    "OPTOUT_POLICY_FILES": [ROBOTS_TXT, AI_TXT, TDMREP_JSON],
    "OPTOUT_POLICY_MAXSIZE": DEFAULT_MAXSIZE,
    "OPTOUT_POLICY_TIMEOUT": None,
    "OPTOUT_POLICY_RETRY_TIMES": 1,
    "OPTOUT_ITEM_URL_FIELDS": [],
    "OPTOUT_LOG_EXCLUSIONS": True,
    "OPTOUT_UNKNOWN": ALLOW,
    "OPTOUT_DECOMPRESSION_MAXSIZE": 64 * 1024 * 1024,
    "OPTOUT_ITEM_ACTION": DROP,
    "OPTOUT_REGISTRY": [],
    "OPTOUT_PROVENANCE": False,
    "OPTOUT_POLICY_STORE": MEMORY_STORE,
    "OPTOUT_POLICY_STORE_FALLBACK": FALLBACK_STOP,
    "OPTOUT_POLICY_STORE_PREFIX": "optout",
    "OPTOUT_POLICY_STORE_LOCAL_TTL": 60,
    "OPTOUT_POLICY_STORE_LEASE": 10,
    "OPTOUT_POLICY_STORE_WAIT": None,
    "OPTOUT_POLICY_STORE_TIMEOUT": 5,
}


@dataclass(frozen=True)
class OptOutSettings:
    enabled: bool
    purpose: Purpose
    mode: str
    ledger: str
    evidence_dir: str | None
    agents: tuple[str, ...]
    user_agent: str
    cache_ttl: float
    error_ttl: float
    cache_size: int
    policy_files: tuple[str, ...]
    policy_maxsize: int
    policy_timeout: float
    policy_retry_times: int
    item_url_fields: tuple[str, ...]
    log_exclusions: bool
    unknown: str = ALLOW
    decompression_maxsize: int = 64 * 1024 * 1024
    #: ``OPTOUT_USER_AGENT``: judge every request as this User-Agent, whatever it sends.
    user_agent_override: str | None = None
    item_action: str = DROP
    #: ``OPTOUT_REGISTRY``: opt-out registry files (paths) and URLs, in order.
    registry: tuple[str, ...] = ()
    #: ``OPTOUT_PROVENANCE``: attach to each kept item the permission it was admitted under.
    provenance: bool = False
    #: ``OPTOUT_POLICY_STORE``: ``"memory"`` or the URL of a Redis server.
    policy_store: str = MEMORY_STORE
    policy_store_fallback: str = FALLBACK_STOP
    policy_store_prefix: str = "optout"
    policy_store_local_ttl: float = 60.0
    policy_store_lease: float = 10.0
    #: ``OPTOUT_POLICY_STORE_WAIT``; unset, the longest a policy fetch may take.
    policy_store_wait: float = 60.0
    policy_store_timeout: float = 5.0
    #: Whether the mode is ``measure`` (read for every page: kept, not worked out).
    measure: bool = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "measure", self.mode == MEASURE)

    @property
    def shared_store(self) -> bool:
        """Whether the policy store is shared through Redis."""
        return self.policy_store != MEMORY_STORE

    @property
    def reserve_unknown(self) -> bool:
        """Whether an ai.txt or tdmrep.json that could not be read reserves."""
        return self.unknown == RESERVE

    @classmethod
    def from_settings(cls, settings: BaseSettings) -> OptOutSettings:
        """Read and check every ``OPTOUT_*`` setting of *settings*.

        Raises :class:`~scrapy_optout.ConfigurationError` on the first one
        that cannot be used.
        """
        read = _Reader(settings)
        unknown_names = sorted(
            n for n in settings if str(n).startswith("OPTOUT_") and n not in DEFAULTS
        )
        for name in unknown_names:
            logger.warning("Unknown setting %s: scrapy-optout does not read it (a typo?)", name)
        ttl = read.number("OPTOUT_CACHE_TTL", minimum=0, above=True, maximum=MAX_CACHE_TTL)
        error_ttl = read.number("OPTOUT_ERROR_TTL", minimum=0, above=True)
        if error_ttl > ttl:
            raise ConfigurationError(
                f"OPTOUT_ERROR_TTL must not be longer than OPTOUT_CACHE_TTL ({ttl:g}),"
                f" not {error_ttl!r}"
            )
        files = read.strings("OPTOUT_POLICY_FILES")
        if any(f not in POLICY_PATHS for f in files) or ROBOTS_TXT not in files:
            raise ConfigurationError(
                f"OPTOUT_POLICY_FILES must include robots.txt and name only"
                f" {', '.join(POLICY_PATHS)}, not {list(files)!r}"
            )
        if settings.get("OPTOUT_POLICY_TIMEOUT") is None:
            # Unset: the crawl's own download timeout, checked under both names.
            timeout_name = "DOWNLOAD_TIMEOUT (OPTOUT_POLICY_TIMEOUT is unset)"
            timeout_value = settings.get("DOWNLOAD_TIMEOUT", SCRAPY_DOWNLOAD_TIMEOUT)
        else:
            timeout_name = "OPTOUT_POLICY_TIMEOUT"
            timeout_value = settings.get("OPTOUT_POLICY_TIMEOUT")
        policy_timeout = _number(timeout_name, timeout_value, minimum=0, above=True)
        override = read.optional_text("OPTOUT_USER_AGENT")
        user_agent = override or read.optional_text("USER_AGENT") or "Scrapy"
        retry_times = int(read.number("OPTOUT_POLICY_RETRY_TIMES", minimum=0, integer=True))
        if settings.get("OPTOUT_POLICY_STORE_WAIT") is None:
            store_wait = policy_timeout * (retry_times + 1)
        else:
            store_wait = read.number("OPTOUT_POLICY_STORE_WAIT", minimum=0)
        return cls(
            enabled=read.flag("OPTOUT_ENABLED"),
            purpose=Purpose(read.choice("OPTOUT_PURPOSE", [str(p) for p in Purpose])),
            mode=read.choice("OPTOUT_MODE", [ENFORCE, MEASURE]),
            ledger=read.text("OPTOUT_LEDGER"),
            evidence_dir=read.optional_text("OPTOUT_EVIDENCE_DIR"),
            agents=read.strings("OPTOUT_AGENTS"),
            user_agent=user_agent,
            cache_ttl=ttl,
            error_ttl=error_ttl,
            cache_size=int(read.number("OPTOUT_CACHE_SIZE", minimum=1, integer=True)),
            policy_files=files,
            policy_maxsize=int(
                read.number("OPTOUT_POLICY_MAXSIZE", minimum=MIN_POLICY_MAXSIZE, integer=True)
            ),
            policy_timeout=policy_timeout,
            policy_retry_times=retry_times,
            item_url_fields=read.strings("OPTOUT_ITEM_URL_FIELDS"),
            log_exclusions=read.flag("OPTOUT_LOG_EXCLUSIONS"),
            unknown=read.choice("OPTOUT_UNKNOWN", [ALLOW, RESERVE]),
            decompression_maxsize=int(
                read.number("OPTOUT_DECOMPRESSION_MAXSIZE", minimum=0, integer=True)
            ),
            user_agent_override=override,
            item_action=read.choice("OPTOUT_ITEM_ACTION", [DROP, STRIP]),
            registry=read.registry_sources("OPTOUT_REGISTRY"),
            provenance=read.flag("OPTOUT_PROVENANCE"),
            policy_store=_policy_store(read),
            policy_store_fallback=read.choice(
                "OPTOUT_POLICY_STORE_FALLBACK", [FALLBACK_STOP, FALLBACK_MEMORY]
            ),
            policy_store_prefix=read.text("OPTOUT_POLICY_STORE_PREFIX"),
            policy_store_local_ttl=min(
                read.number("OPTOUT_POLICY_STORE_LOCAL_TTL", minimum=0), ttl
            ),
            policy_store_lease=read.number("OPTOUT_POLICY_STORE_LEASE", minimum=0, above=True),
            policy_store_wait=store_wait,
            policy_store_timeout=read.number("OPTOUT_POLICY_STORE_TIMEOUT", minimum=0, above=True),
        )


def _policy_store(read: _Reader) -> str:
    """``OPTOUT_POLICY_STORE``: ``"memory"``, or a Redis URL with the client installed."""
    name = "OPTOUT_POLICY_STORE"
    value = read.text(name).strip()
    if value.lower() == MEMORY_STORE:
        return MEMORY_STORE
    if not _REDIS_URL.match(value):
        raise _invalid(
            name,
            without_password(value),
            '"memory" or a Redis URL (redis://host:port/db, rediss://host:port/db,'
            " unix:///path/to/socket)",
        )
    if importlib.util.find_spec("redis") is None:
        raise ConfigurationError(
            f"{name} is a Redis URL, but the redis package is not installed:"
            " pip install 'scrapy-optout[redis]'"
        )
    return value


def enabled(settings: BaseSettings) -> bool:
    """``OPTOUT_ENABLED``, checked: what the components ask before anything else."""
    return _Reader(settings).flag("OPTOUT_ENABLED")


class _Reader:
    """Reads settings by name, the default from :data:`DEFAULTS` when unset."""

    def __init__(self, settings: BaseSettings) -> None:
        self.settings = settings

    def get(self, name: str) -> object:
        value = self.settings.get(name)
        return DEFAULTS.get(name) if value is None else value

    def number(self, name: str, **bounds: Any) -> float:
        """A number, checked by :func:`_number` with *bounds*."""
        return _number(name, self.get(name), **bounds)

    def flag(self, name: str) -> bool:
        value = self.get(name)
        if isinstance(value, bool):
            return value
        if isinstance(value, int | str) and str(value).strip().lower() in _FLAGS:
            return _FLAGS[str(value).strip().lower()]
        raise _invalid(name, value, "True or False")

    def choice(self, name: str, allowed: list[str]) -> str:
        value = self.get(name)
        if isinstance(value, str) and value.strip().lower() in allowed:
            return value.strip().lower()
        raise _invalid(name, value, f"one of {', '.join(allowed)}")

    def text(self, name: str) -> str:
        value = self.optional_text(name)
        if value is None:
            raise _invalid(name, self.get(name), "a non-empty string")
        return value

    def optional_text(self, name: str) -> str | None:
        """A string, or ``None`` for an unset or empty one (the default applies)."""
        value = self.get(name)
        if isinstance(value, os.PathLike):
            value = os.fspath(value)
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        if isinstance(value, str):
            return value
        raise _invalid(name, value, "a string")

    def registry_sources(self, name: str) -> tuple[str, ...]:
        """Registry sources: a path or http(s) URL, or a list of them.

        A path must name a readable file now: a typo stops the crawl before it
        starts rather than leaving every URL "unknown".
        """
        value = self.get(name)
        if isinstance(value, os.PathLike):
            value = [os.fspath(value)]
        elif isinstance(value, list | tuple):
            value = [os.fspath(v) if isinstance(v, os.PathLike) else v for v in value]
        expected = "a path or http(s) URL of a registry file, or a list of them"
        if isinstance(value, str):
            sources = tuple(part.strip() for part in value.split(",") if part.strip())
        elif isinstance(value, list) and all(isinstance(v, str) and v.strip() for v in value):
            sources = tuple(v.strip() for v in value)
        else:
            raise _invalid(name, value, expected)
        for source in sources:
            if "://" in source:
                parts = urlsplit(source)
                if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
                    raise _invalid(name, source, "an http(s) URL with a host, or a path")
            elif not os.path.isfile(source) or not os.access(source, os.R_OK):
                raise _invalid(
                    name, source, f"a readable file (from {os.getcwd()}) or an http(s) URL"
                )
        return sources

    def strings(self, name: str) -> tuple[str, ...]:
        value = self.get(name)
        expected = "a list of non-empty strings (or one comma-separated string)"
        if isinstance(value, str):
            # As Scrapy's getlist reads "-s NAME=a,b" from the command line.
            return tuple(part.strip() for part in value.split(",") if part.strip())
        if not isinstance(value, list | tuple):
            raise _invalid(name, value, expected)
        if not all(isinstance(item, str) and item.strip() for item in value):
            raise _invalid(name, value, expected)
        return tuple(item.strip() for item in value)


_FLAGS = {"true": True, "1": True, "false": False, "0": False}


def _number(
    name: str,
    value: object,
    *,
    minimum: float,
    above: bool = False,
    maximum: float | None = None,
    integer: bool = False,
) -> float:
    """*value* as a finite number within bounds, or an error naming *name*."""
    kind = "a whole number" if integer else "a number"
    bound = f"more than {minimum:g}" if above else f"at least {minimum:g}"
    if maximum is not None:
        bound += f" and at most {maximum:g}"
    expected = f"{kind}, {bound}"
    number: float
    if isinstance(value, bool):
        raise _invalid(name, value, expected)
    if isinstance(value, int | float):
        number = value
    elif isinstance(value, str):
        try:
            number = int(value.strip())
        except ValueError:
            try:
                number = float(value.strip())
            except ValueError:
                raise _invalid(name, value, expected) from None
    else:
        raise _invalid(name, value, expected)
    if not math.isfinite(number) or (integer and number != int(number)):
        raise _invalid(name, value, expected)
    if number < minimum or (above and number == minimum):
        raise _invalid(name, value, expected)
    if maximum is not None and number > maximum:
        raise _invalid(name, value, expected)
    return int(number) if integer else number


def _invalid(name: str, value: object, expected: str) -> ConfigurationError:
    return ConfigurationError(f"{name} must be {expected}, not {value!r}")
