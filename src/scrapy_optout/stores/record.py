"""One line of the exclusion ledger, as a typed record.

:class:`LedgerRecord` has every field the README's ledger table documents. The
fields every line has come first; the ones that apply only to some lines
(``status``, ``item_source``, ``redirect_urls``, ...) are ``None`` when they do
not apply and are then left out of the line. :meth:`LedgerRecord.to_dict` is
the plain form: the JSON object of the line, and the ``record`` that the
``content_excluded`` signal sends.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypedDict

from scrapy_optout.verdict import Purpose, Stage

#: The ledger's schema version, the ``v`` of every line.
SCHEMA_VERSION = 1

#: The fields a record may leave out, in the order a line gives them.
_OPTIONAL = (
    "redirect_urls",
    "status",
    "item_source",
    "item_field",
    "media_type",
    "data_length",
    "error",
)


class RecordDetails(TypedDict, total=False):
    """What a stage adds to the record it writes, or sets otherwise (``origin``, ``domain``)."""

    status: int  #: the HTTP status of the response
    item_source: str | None  #: the page an item, or a media download, came from
    item_field: str  #: the item field that held a reserved URL
    media_type: str  #: the image type a media download turned out to have
    data_length: int  #: the length of a ``data:`` URI quoted cut short
    error: str  #: why a measured download failed
    origin: str  #: the origin, when not that of the URL (a ``data:`` URI's page)
    domain: str  #: the registrable domain, likewise


@dataclass(frozen=True, slots=True, kw_only=True)
class LedgerRecord:
    """One decision, as the ledger keeps it (see the README's ledger table)."""

    time: str  #: UTC ISO-8601 time of the decision
    url: str
    origin: str
    domain: str
    stage: Stage
    purpose: Purpose
    verdict: str  #: ``reserved`` or ``allowed``
    mode: str  #: ``enforce`` or ``measure``
    reasons: list[dict[str, str]]  #: ``{signal, where, rule, source}`` of each reservation
    evidence: list[dict[str, Any]]  #: ``{source, status, sha256, fetched_at}`` of each file
    spider: str | None
    token: str  #: the product token the URL was judged for
    user_agent: str  #: the User-Agent that token came from
    v: int = SCHEMA_VERSION
    redirect_urls: list[str] | None = None
    status: int | None = None
    item_source: str | None = None
    item_field: str | None = None
    media_type: str | None = None
    data_length: int | None = None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The record as the JSON object of its line (optional fields only when set)."""
        data: dict[str, Any] = {
            "v": self.v,
            "time": self.time,
            "url": self.url,
            "origin": self.origin,
            "domain": self.domain,
            "stage": str(self.stage),
            "purpose": str(self.purpose),
            "verdict": self.verdict,
            "mode": self.mode,
            "reasons": self.reasons,
            "evidence": self.evidence,
            "spider": self.spider,
            "token": self.token,
            "user_agent": self.user_agent,
        }
        for name in _OPTIONAL:
            value = getattr(self, name)
            if value is not None:
                data[name] = value
        return data

    def to_json(self) -> str:
        """The record as one line of JSON, without its newline."""
        return json_line(self.to_dict())


def json_line(data: Mapping[str, Any], *, ascii_only: bool = False) -> str:
    """*data* as compact JSON on one line.

    Non-ASCII text is written as is unless *ascii_only*: a lone surrogate (from
    a URL decoded leniently) has no UTF-8 form and needs JSON's ``\\u`` escapes.
    """
    return json.dumps(data, ensure_ascii=ascii_only, separators=(",", ":"), default=str)


__all__ = ["SCHEMA_VERSION", "LedgerRecord", "RecordDetails", "json_line"]
