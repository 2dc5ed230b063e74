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
in a month keeps its latest capture. A group's home page is its latest
capture of ``/`` if there is one, else its first page. Capture surveys start
afresh each time: they read local files, so there is nothing to resume.

**Any number of captures.** Grouping is an external merge sort: captures are
read as a stream, sorted in runs of bounded size (:data:`RUN_BYTES`,
:data:`RUN_CAPTURES`), each run spilled to a temporary file, and the runs
merged back in (host, month, input order); a group is built, surveyed and
dropped before the next one is read. Memory therefore holds one run and one
group, whatever the number of captures: a whole Common Crawl robots.txt
crawl (its ``robotstxt/*.warc.gz`` files, tens of millions of captures) is
surveyed on one machine. Input that fits in one run is never written to disk.
"""

from __future__ import annotations

import base64
import gzip
import heapq
import io
import itertools
import json
import logging
import os
import pickle
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit

from scrapy_optout.frontends.survey.edge import HEAD_BYTES, edge_answer
from scrapy_optout.frontends.survey.progress import Progress
from scrapy_optout.frontends.survey.record import PageResult, build_record
from scrapy_optout.frontends.survey.results import RESULTS, ResultsWriter, finish
from scrapy_optout.policy.evaluate import Evaluator
from scrapy_optout.policy.snapshot import PolicyFile, utcnow
from scrapy_optout.policy.urls import POLICY_PATHS
from scrapy_optout.stores.registries import load_registries
from scrapy_optout.verdict import Purpose

__all__ = [
    "Capture",
    "CaptureGroup",
    "group_captures",
    "policy_file_of",
    "read_captures",
    "survey_captures",
]

logger = logging.getLogger(__name__)

PAGE = "page"
#: Bytes of a WARC record body that are read; policy parsers need far less.
MAX_BODY = 2 * 1024 * 1024
#: A sort run is spilled to disk when its bodies reach this many bytes...
RUN_BYTES = 32 * 1024 * 1024
#: ... or when it holds this many captures.
RUN_CAPTURES = 50_000
#: Runs merged at once; more are first merged into larger runs.
MAX_FAN_IN = 128

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
    """The captures of one host in one month: one site record.

    Only what the record reads is kept: the latest capture of each policy
    file, the latest capture of ``/`` and the first other page; the rest are
    counted (``seen``) and their dates kept, so a group's size stays bounded
    however many pages of one host were captured.
    """

    host: str
    month: str | None
    files: dict[str, Capture] = field(default_factory=dict)
    root: Capture | None = None
    first_page: Capture | None = None
    seen: int = 0
    latest: str | None = None

    @property
    def pages(self) -> list[Capture]:
        return [p for p in (self.root, self.first_page) if p is not None]

    @property
    def captures(self) -> list[Capture]:
        """The captures the record is built from."""
        return [*self.files.values(), *self.pages]

    @property
    def home(self) -> Capture | None:
        return self.root or self.first_page

    @property
    def date(self) -> str | None:
        return self.latest

    @property
    def site(self) -> str:
        first = self.home or next(iter(self.files.values()))
        parts = urlsplit(first.url)
        return f"{parts.scheme}://{parts.netloc}/"

    def add(self, capture: Capture) -> None:
        self.seen += 1
        if capture.date and (self.latest is None or capture.date > self.latest):
            self.latest = capture.date
        if capture.kind == PAGE:
            if urlsplit(capture.url).path in ("", "/"):
                if self.root is None or (capture.date or "") >= (self.root.date or ""):
                    self.root = capture
            elif self.first_page is None:
                self.first_page = capture
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


def group_captures(
    captures: Iterable[Capture],
    *,
    run_bytes: int = RUN_BYTES,
    run_captures: int = RUN_CAPTURES,
    tmpdir: str | os.PathLike[str] | None = None,
) -> Iterator[CaptureGroup]:
    """Group captures per host and month, ordered by host, then month.

    A stream: memory holds one sort run (at most *run_captures* captures or
    *run_bytes* bytes of bodies) and one group. Runs are spilled to temporary
    files in *tmpdir* (the system's default when ``None``), removed when the
    iteration ends.
    """
    with tempfile.TemporaryDirectory(prefix="optout-captures-", dir=tmpdir) as folder:
        group: CaptureGroup | None = None
        for key, capture in _sorted_captures(captures, Path(folder), run_bytes, run_captures):
            if group is None or (group.host, group.month or "") != key:
                if group is not None:
                    yield group
                group = CaptureGroup(key[0], key[1] or None)
            group.add(capture)
        if group is not None:
            yield group


_Keyed = tuple[tuple[str, str], int, Capture]


def _sorted_captures(
    captures: Iterable[Capture], folder: Path, run_bytes: int, run_captures: int
) -> Iterator[tuple[tuple[str, str], Capture]]:
    """*captures* in (host, month, input order), through sorted runs on disk."""
    runs: list[Path] = []
    names = itertools.count()
    run: list[_Keyed] = []
    size = 0
    for seq, capture in enumerate(captures):
        run.append(((capture.host, capture.month or ""), seq, capture))
        size += len(capture.body) + len(capture.url)
        if len(run) >= run_captures or size >= run_bytes:
            runs.append(_spill(sorted(run, key=_sort_key), folder, next(names)))
            run, size = [], 0
    run.sort(key=_sort_key)
    if not runs:
        for key, _, capture in run:
            yield key, capture
        return
    if run:
        runs.append(_spill(run, folder, next(names)))
        run = []
    while len(runs) > MAX_FAN_IN:
        merged = heapq.merge(*(_read_run(r) for r in runs[:MAX_FAN_IN]), key=_sort_key)
        spilled = _spill(merged, folder, next(names))
        for path in runs[:MAX_FAN_IN]:
            path.unlink()
        runs = [*runs[MAX_FAN_IN:], spilled]
    for key, _, capture in heapq.merge(*(_read_run(r) for r in runs), key=_sort_key):
        yield key, capture


def _sort_key(item: _Keyed) -> tuple[tuple[str, str], int]:
    return item[0], item[1]


def _spill(items: Iterable[_Keyed], folder: Path, number: int) -> Path:
    path = folder / f"run-{number:06d}.pickle"
    with path.open("wb") as handle:
        for item in items:
            pickle.dump(item, handle, protocol=pickle.HIGHEST_PROTOCOL)
    return path


def _read_run(path: Path) -> Iterator[_Keyed]:
    with path.open("rb") as handle:
        while True:
            try:
                # Our own temporary file, written by _spill above.
                yield pickle.load(handle)
            except EOFError:
                return


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
    meter = Progress(None, enabled=progress)
    writer = ResultsWriter(folder / RESULTS)
    try:
        for line, group in enumerate(group_captures(read_captures(paths)), start=1):
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
    files = {kind: policy_file_of(capture) for kind, capture in group.files.items()}
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
    # Captures keep every answer's headers: read the edge from them.
    edge = {
        name: edge_answer(
            capture.status if capture.status is not None else 200,
            capture.headers,
            capture.body[:HEAD_BYTES],
        )
        for name, capture in (*group.files.items(), ("home", home))
        if capture is not None
    }
    record = build_record(
        line=line,
        input=group.host,
        site=group.site,
        files=files,
        home=page,
        evaluator=evaluator,
        purpose=purpose,
        fetched_at=_when(group.date) if group.date else None,
        edge=edge,
    )
    record["date"] = group.date
    record["month"] = group.month
    record["captures"] = [c.source for c in group.captures]
    if group.seen > len(group.captures):
        record["captures_seen"] = group.seen
    return record


def policy_file_of(capture: Capture) -> PolicyFile:
    """The policy file a capture of one holds, fetched at the capture's date."""
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
