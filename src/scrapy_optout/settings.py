"""The ``OPTOUT_*`` settings, read once into a typed object."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from scrapy_optout.exceptions import ConfigurationError
from scrapy_optout.origin import AI_TXT, POLICY_PATHS, ROBOTS_TXT, TDMREP_JSON
from scrapy_optout.verdict import Purpose

if TYPE_CHECKING:
    from scrapy.settings import BaseSettings

ENFORCE = "enforce"
MEASURE = "measure"
ALLOW = "allow"
RESERVE = "reserve"
DROP = "drop"
STRIP = "strip"
MAX_CACHE_TTL = 86400  # RFC 9309 §2.4: no cached robots.txt older than 24 h

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
    "OPTOUT_POLICY_MAXSIZE": 1024 * 1024,
    "OPTOUT_POLICY_TIMEOUT": 30.0,
    "OPTOUT_POLICY_RETRY_TIMES": 1,
    "OPTOUT_ITEM_URL_FIELDS": [],
    "OPTOUT_ITEM_ACTION": DROP,
    "OPTOUT_LOG_EXCLUSIONS": True,
    "OPTOUT_UNKNOWN": ALLOW,
    "OPTOUT_DECOMPRESSION_MAXSIZE": 64 * 1024 * 1024,
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

    @property
    def measure(self) -> bool:
        return self.mode == MEASURE

    @property
    def reserve_unknown(self) -> bool:
        """Whether an ai.txt or tdmrep.json that could not be read reserves."""
        return self.unknown == RESERVE

    @classmethod
    def from_settings(cls, settings: BaseSettings) -> OptOutSettings:
        def get(name: str) -> object:
            value = settings.get(name)
            return DEFAULTS[name] if value is None else value

        try:
            purpose = Purpose(str(get("OPTOUT_PURPOSE")).lower())
        except ValueError:
            raise ConfigurationError(
                f"OPTOUT_PURPOSE must be one of {', '.join(p.value for p in Purpose)},"
                f" not {settings.get('OPTOUT_PURPOSE')!r}"
            ) from None
        mode = str(get("OPTOUT_MODE")).lower()
        if mode not in (ENFORCE, MEASURE):
            raise ConfigurationError(f"OPTOUT_MODE must be 'enforce' or 'measure', not {mode!r}")
        ttl = float(settings.getfloat("OPTOUT_CACHE_TTL", MAX_CACHE_TTL))
        if not 0 <= ttl <= MAX_CACHE_TTL:
            raise ConfigurationError(f"OPTOUT_CACHE_TTL must be between 0 and 86400, not {ttl}")
        error_ttl = float(settings.getfloat("OPTOUT_ERROR_TTL", 600))
        if not 0 <= error_ttl <= ttl:
            raise ConfigurationError("OPTOUT_ERROR_TTL must be between 0 and OPTOUT_CACHE_TTL")
        files = tuple(settings.getlist("OPTOUT_POLICY_FILES", list(POLICY_PATHS)))
        unknown = [f for f in files if f not in POLICY_PATHS]
        if unknown or ROBOTS_TXT not in files:
            raise ConfigurationError(
                f"OPTOUT_POLICY_FILES must include robots.txt and name only"
                f" {', '.join(POLICY_PATHS)}; got {list(files)!r}"
            )
        size = settings.getint("OPTOUT_CACHE_SIZE", 10000)
        if size < 1:
            raise ConfigurationError("OPTOUT_CACHE_SIZE must be at least 1")
        maxsize = settings.getint("OPTOUT_POLICY_MAXSIZE", 1024 * 1024)
        if maxsize < 512000:
            raise ConfigurationError(
                "OPTOUT_POLICY_MAXSIZE must be at least 512000 (RFC 9309 asks for 500 KiB)"
            )
        if_unknown = str(get("OPTOUT_UNKNOWN")).lower()
        if if_unknown not in (ALLOW, RESERVE):
            raise ConfigurationError(
                f"OPTOUT_UNKNOWN must be 'allow' or 'reserve', not {if_unknown!r}"
            )
        decompression_maxsize = settings.getint("OPTOUT_DECOMPRESSION_MAXSIZE", 64 * 1024 * 1024)
        if decompression_maxsize < 0:
            raise ConfigurationError("OPTOUT_DECOMPRESSION_MAXSIZE must be 0 (no limit) or more")
        override = settings.get("OPTOUT_USER_AGENT")
        user_agent = override or settings.get("USER_AGENT") or "Scrapy"
        item_action = str(get("OPTOUT_ITEM_ACTION")).lower()
        if item_action not in (DROP, STRIP):
            raise ConfigurationError(
                f"OPTOUT_ITEM_ACTION must be 'drop' or 'strip', not {get('OPTOUT_ITEM_ACTION')!r}"
            )
        evidence_dir = settings.get("OPTOUT_EVIDENCE_DIR")
        return cls(
            enabled=settings.getbool("OPTOUT_ENABLED", True),
            purpose=purpose,
            mode=mode,
            ledger=str(get("OPTOUT_LEDGER")),
            evidence_dir=str(evidence_dir) if evidence_dir else None,
            agents=tuple(settings.getlist("OPTOUT_AGENTS", [])),
            user_agent=str(user_agent),
            cache_ttl=ttl,
            error_ttl=error_ttl,
            cache_size=size,
            policy_files=files,
            policy_maxsize=maxsize,
            policy_timeout=settings.getfloat(
                "OPTOUT_POLICY_TIMEOUT", settings.getfloat("DOWNLOAD_TIMEOUT", 30.0)
            ),
            policy_retry_times=settings.getint("OPTOUT_POLICY_RETRY_TIMES", 1),
            item_url_fields=tuple(settings.getlist("OPTOUT_ITEM_URL_FIELDS", [])),
            log_exclusions=settings.getbool("OPTOUT_LOG_EXCLUSIONS", True),
            unknown=if_unknown,
            decompression_maxsize=decompression_maxsize,
            user_agent_override=str(override) if override else None,
            item_action=item_action,
        )
