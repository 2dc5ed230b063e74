"""Surveys of stored captures: JSON Lines and WARC files instead of live fetches.

Studies of opt-out prevalence reuse stored crawls: Common Crawl publishes
its robots.txt captures as WARC files every month, and research corpora are
often kept as JSON Lines. This module reads both and produces the same
``results.jsonl``, ``summary.json`` and ``report.html`` as a live survey,
through the same record builder and evaluators.

**JSON Lines**, one capture per line (``.jsonl`` or ``.jsonl.gz``):

========== ====================================================================
``url``    URL of the captured response; its path says what it is
           (``/robots.txt``, ``/ai.txt``, ``/.well-known/tdmrep.json``, or a
           page). Or give ``domain`` alone for a robots.txt capture of
           ``https://DOMAIN/robots.txt``.
``body``   the response body as text (``body_base64`` for raw bytes)
``status`` optional HTTP status; without it the capture reads as a 200
``headers`` optional, ``{name: value or [values]}`` or ``[[name, value], ...]``
``date``   optional, ISO 8601 date or time (``month``, ``YYYY-MM``, also works)
========== ====================================================================

**WARC** (``.warc`` or ``.warc.gz``, read with warcio): every ``response``
record, with its HTTP status and headers, and ``resource`` records.

Captures are grouped per host and per month: each group is one site record,
whose ``date`` is that of its latest capture. A file captured several times
in a month keeps its latest capture. A group's home page is its capture of
``/`` if there is one, else its first page. Capture surveys start afresh
each time: they read local files, so there is nothing to resume.
"""

from __future__ import annotations

import base64
import gzip
import io
import json
import logging
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit

from scrapy_optout.frontends.survey.progress import Progress
from scrapy_optout.frontends.survey.record import PageResult, build_record
from scrapy_optout.frontends.survey.results import RESULTS, ResultsWriter, finish
from scrapy_optout.policy.evaluate import Evaluator
from scrapy_optout.policy.snapshot import PolicyFile, utcnow
from scrapy_optout.policy.urls import POLICY_PATHS
from scrapy_optout.stores.registries import load_registries
from scrapy_optout.verdict import Purpose

__all__ = ["Capture", "CaptureGroup", "group_captures", "read_captures", "survey_captures"]

logger = logging.getLogger(__name__)

PAGE = "page"
#: Bytes of a WARC record body that are read; policy parsers need far less.
MAX_BODY = 2 * 1024 * 1024

_KIND_BY_PATH = {path: kind for kind, path in POLICY_PATHS.items()}


@dataclass(frozen=True)
class Capture:
    """One stored response.

    ``kind`` is ``robots.txt``, ``ai.txt``, ``tdmrep.json`` or ``page``;
    ``status`` is ``None`` when the capture did not record one; ``date`` is
    the capture time as written (ISO 8601), if known; ``source`` says where
    the capture was read (``FILE:LINE`` or ``FILE@OFFSET``).
    """

    url: str
    kind: str
    body: bytes
    status: int | None = None
    headers: Mapping[str, Sequence[str]] = field(default_factory=dict)
    date: str | None = None
    source: str = ""

    @property
    def host(self) -> str:
        return (urlsplit(self.url).hostname or "").lower()

    @property
    def month(self) -> str | None:
        return self.date[:7] if self.date and len(self.date) >= 7 else None

    @property
    def content_type(self) -> str | None:
        for name, values in self.headers.items():
            if name.lower() == "content-type" and values:
                return values[-1]
        return None


@dataclass
class CaptureGroup:
    """The captures of one host in one month: one site record."""

    host: str
    month: str | None
    files: dict[str, Capture] = field(default_factory=dict)
    pages: list[Capture] = field(default_factory=list)

    @property
    def captures(self) -> list[Capture]:
        return [*self.files.values(), *self.pages]

    @property
    def home(self) -> Capture | None:
        for page in self.pages:
            if urlsplit(page.url).path in ("", "/"):
                return page
        return self.pages[0] if self.pages else None

    @property
    def date(self) -> str | None:
        dates = [c.date for c in self.captures if c.date]
        return max(dates) if dates else None

    @property
    def site(self) -> str:
        first = self.home or next(iter(self.files.values()))
        parts = urlsplit(first.url)
        return f"{parts.scheme}://{parts.netloc}/"

    def add(self, capture: Capture) -> None:
        if capture.kind == PAGE:
            self.pages.append(capture)
            return
        kept = self.files.get(capture.kind)
        if kept is None or (capture.date or "") >= (kept.date or ""):
            self.files[capture.kind] = capture


# -- reading ---------------------------------------------------------------------------


def kind_of(url: str) -> str:
    """What a captured URL is: one of the policy files, or a page."""
    return _KIND_BY_PATH.get(urlsplit(url).path, PAGE)


def read_captures(paths: Iterable[str | os.PathLike[str]]) -> Iterator[Capture]:
    """Every capture in *paths*: WARC files by their content, others as JSON Lines."""
    for path in paths:
        if _is_warc(Path(path)):
            yield from read_warc(path)
        else:
            yield from read_jsonl(path)


def read_jsonl(path: str | os.PathLike[str]) -> Iterator[Capture]:
    """Captures from a JSON Lines file (gzip-compressed or not).

    Lines that are not JSON objects with a ``url`` or ``domain`` are skipped
    with a warning naming the line.
    """
    name = Path(path).name
    with _open_text(Path(path)) as handle:
        for number, line in enumerate(handle, start=1):
            line = line.strip()
            if not line:
                continue
            try:
                data = json.loads(line)
            except json.JSONDecodeError:
                logger.warning("%s:%d: not JSON, skipped", name, number)
                continue
            capture = _from_json(data, f"{name}:{number}") if isinstance(data, dict) else None
            if capture is None:
                logger.warning("%s:%d: no url or domain, skipped", name, number)
                continue
            yield capture


def read_warc(path: str | os.PathLike[str]) -> Iterator[Capture]:
    """Captures from a WARC or WARC.gz file: its ``response`` and ``resource`` records."""
    from warcio.archiveiterator import ArchiveIterator

    name = Path(path).name
    with Path(path).open("rb") as handle:
        records = ArchiveIterator(handle)
        for record in records:
            if record.rec_type not in ("response", "resource"):
                continue
            url = record.rec_headers.get_header("WARC-Target-URI")
            if not url or urlsplit(url).scheme not in ("http", "https"):
                continue
            status: int | None = None
            headers: dict[str, list[str]] = {}
            if record.http_headers is not None and record.rec_type == "response":
                code = record.http_headers.get_statuscode()
                status = int(code) if code and str(code).isdigit() else None
                for header, value in record.http_headers.headers:
                    headers.setdefault(header, []).append(value)
            else:
                content_type = record.rec_headers.get_header("Content-Type")
                if content_type:
                    headers["Content-Type"] = [content_type]
            body = record.content_stream().read(MAX_BODY)
            yield Capture(
                url,
                kind_of(url),
                body,
                status,
                headers,
                record.rec_headers.get_header("WARC-Date"),
                f"{name}@{records.get_record_offset()}",
            )


def _from_json(data: Mapping[str, Any], source: str) -> Capture | None:
    url = data.get("url")
    if not isinstance(url, str) or not url:
        domain = data.get("domain")
        if not isinstance(domain, str) or not domain.strip():
            return None
        url = f"https://{domain.strip()}/robots.txt"
    if urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).hostname:
        return None
    if isinstance(data.get("body_base64"), str):
        try:
            body = base64.b64decode(data["body_base64"])
        except ValueError:
            body = b""
    elif isinstance(data.get("body"), str):
        body = data["body"].encode("utf-8", "surrogatepass")
    else:
        body = b""
    status = data.get("status")
    date = data.get("date") or data.get("month")
    return Capture(
        url,
        kind_of(url),
        body,
        status if isinstance(status, int) and not isinstance(status, bool) else None,
        _json_headers(data.get("headers")),
        str(date) if date else None,
        source,
    )


def _json_headers(value: Any) -> dict[str, list[str]]:
    headers: dict[str, list[str]] = {}
    if isinstance(value, Mapping):
        for name, item in value.items():
            values = item if isinstance(item, list) else [item]
            headers.setdefault(str(name), []).extend(str(v) for v in values)
    elif isinstance(value, list):
        for pair in value:
            if isinstance(pair, list | tuple) and len(pair) == 2:
                headers.setdefault(str(pair[0]), []).append(str(pair[1]))
    return headers


def _is_warc(path: Path) -> bool:
    with path.open("rb") as raw:
        head = raw.read(2)
        raw.seek(0)
        try:
            if head == b"\x1f\x8b":
                with gzip.GzipFile(fileobj=raw) as unzipped:
                    return unzipped.read(5) == b"WARC/"
            return raw.read(5) == b"WARC/"
        except (OSError, EOFError):
            return False


def _open_text(path: Path) -> IO[str]:
    raw = path.open("rb")
    if raw.read(2) == b"\x1f\x8b":
        raw.seek(0)
        return io.TextIOWrapper(gzip.GzipFile(fileobj=raw), encoding="utf-8", errors="replace")
    raw.seek(0)
    return io.TextIOWrapper(raw, encoding="utf-8", errors="replace")


# -- grouping and surveying ---------------------------------------------------------------


def group_captures(captures: Iterable[Capture]) -> list[CaptureGroup]:
    """Group captures per host and month, ordered by host, then month."""
    groups: dict[tuple[str, str], CaptureGroup] = {}
    for capture in captures:
        key = (capture.host, capture.month or "")
        group = groups.get(key)
        if group is None:
            group = groups[key] = CaptureGroup(capture.host, capture.month)
        group.add(capture)
    return [groups[key] for key in sorted(groups)]


def survey_captures(
    paths: Sequence[str | os.PathLike[str]],
    out: str | os.PathLike[str],
    *,
    purpose: Purpose | str = Purpose.TRAIN,
    user_agent: str,
    progress: bool = False,
    registry: Sequence[str] = (),
) -> dict[str, Any]:
    """Survey stored captures into *out*; returns the summary.

    *registry* names opt-out registry files; captures are read offline, so a
    registry given by URL is recorded as not available.
    """
    purpose = Purpose(purpose)
    registries = load_registries(list(registry)) if registry else None
    evaluator = Evaluator(user_agent, registries=registries)
    folder = Path(out)
    (folder / RESULTS).unlink(missing_ok=True)
    groups = group_captures(read_captures(paths))
    meter = Progress(len(groups), enabled=progress)
    writer = ResultsWriter(folder / RESULTS)
    try:
        for line, group in enumerate(groups, start=1):
            writer.write(capture_record(group, line, evaluator=evaluator, purpose=purpose))
            meter.advance()
    finally:
        writer.close()
        meter.close()
    return finish(
        folder,
        purpose=purpose,
        extra={
            "mode": "captures",
            "input": [str(p) for p in paths],
            "user_agent": evaluator.user_agent,
            "token": evaluator.token,
        },
    )


def capture_record(
    group: CaptureGroup, line: int, *, evaluator: Evaluator, purpose: Purpose
) -> dict[str, Any]:
    """The survey record of one host-month of captures."""
    files = {kind: _policy_file(capture) for kind, capture in group.files.items()}
    home = group.home
    page = (
        PageResult(
            home.url,
            home.status if home.status is not None else 200,
            home.headers,
            home.body,
            final_url=home.url,
        )
        if home is not None
        else None
    )
    record = build_record(
        line=line,
        input=group.host,
        site=group.site,
        files=files,
        home=page,
        evaluator=evaluator,
        purpose=purpose,
        fetched_at=_when(group.date) if group.date else None,
    )
    record["date"] = group.date
    record["month"] = group.month
    record["captures"] = [c.source for c in group.captures]
    return record


def _policy_file(capture: Capture) -> PolicyFile:
    # A capture without a status was stored because it was served: read it as a 200.
    return PolicyFile(
        capture.kind,
        capture.url,
        capture.status if capture.status is not None else 200,
        capture.body,
        fetched_at=_when(capture.date),
        final_url=capture.url,
        content_type=capture.content_type,
    )


def _when(date: str | None) -> datetime:
    if not date:
        return utcnow()
    text = date.strip()
    if len(text) == 7:  # YYYY-MM
        text += "-01"
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return utcnow()
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
