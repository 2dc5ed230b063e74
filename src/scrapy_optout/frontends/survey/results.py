"""The survey's output folder: ``results.jsonl``, ``summary.json``, ``report.html``.

``results.jsonl`` is written as the survey goes, one record per site, each
flushed as soon as the site is done. That is what makes a survey resumable:
a re-run into the same folder reads the records already there and skips every
site line that has one (see :func:`finished_lines`). A survey run in several
processes gives each its own part (``.results-N.jsonl``), folded into
``results.jsonl`` when the workers are done, or by the next run into the
folder if they were stopped (see :func:`fold_parts`). When the survey ends,
:func:`finish` rewrites the file in input order, keeping one record per input
line, and writes the summary and the report from it.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from scrapy_optout.frontends.survey.inputs import SiteLine
from scrapy_optout.frontends.survey.report_html import (
    MAX_SITE_ROWS,
    SITE_ROW_FIELDS,
    survey_report,
)
from scrapy_optout.frontends.survey.summary import summarise
from scrapy_optout.verdict import Purpose

__all__ = [
    "REPORT",
    "RESULTS",
    "SUMMARY",
    "ResultsWriter",
    "finish",
    "finished_lines",
    "fold_parts",
    "part_name",
    "read_records",
]

RESULTS = "results.jsonl"
SUMMARY = "summary.json"
REPORT = "report.html"


def read_records(path: str | os.PathLike[str]) -> Iterator[dict[str, Any]]:
    """Every complete record of a results file; a torn last line is skipped."""
    for record, _ in _read_lines(Path(path)):
        yield record


class ResultsWriter:
    """Appends records to ``results.jsonl``, one flushed line each."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._file: IO[str] | None = None
        self.written = 0

    def write(self, record: Mapping[str, Any]) -> None:
        line = json.dumps(record, ensure_ascii=False, separators=(",", ":"))
        self.write_lines([line + "\n"])

    def write_lines(self, lines: Iterable[str]) -> None:
        """Append records already encoded, one per line, each ending in a newline."""
        with self._lock:
            if self._file is None:
                self._open()
            assert self._file is not None
            for line in lines:
                self._file.write(line)
                self.written += 1
            self._file.flush()

    def _open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        torn = False
        if self.path.exists() and self.path.stat().st_size:
            with self.path.open("rb") as fh:
                fh.seek(-1, os.SEEK_END)
                torn = fh.read(1) != b"\n"
        self._file = self.path.open("a", encoding="utf-8")
        if torn:
            # A run killed mid-write left half a line: end it, so that the
            # next record starts on a line of its own (readers skip the torn one).
            self._file.write("\n")

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None


def part_name(number: int) -> str:
    """The file name of the part of ``results.jsonl`` that worker *number* writes."""
    return f".results-{number}.jsonl"


def fold_parts(out: str | os.PathLike[str]) -> int:
    """Append the records of every worker's part to ``results.jsonl``, then remove the parts.

    The lines are copied as written; a worker stopped mid-write leaves a torn
    last line, which is dropped (readers skip any line that is not a record).
    Returns the number of lines folded in.
    """
    folder = Path(out)
    if not folder.is_dir():
        return 0
    parts = sorted(folder.glob(part_name(0).replace("0", "*")))
    if not parts:
        return 0
    writer = ResultsWriter(folder / RESULTS)
    try:
        for part in parts:
            with part.open(encoding="utf-8", errors="replace") as fh:
                writer.write_lines(line for line in fh if line.endswith("\n") and line.strip())
    finally:
        writer.close()
    for part in parts:
        part.unlink()
    return writer.written


def finished_lines(
    path: str | os.PathLike[str],
    sites: Iterable[SiteLine],
    *,
    retry_unreachable: bool = False,
) -> set[int]:
    """Line numbers of *sites* that already have a record in *path*.

    A record counts only when its ``line`` and ``input`` both match, so an
    edited site list is surveyed again where it changed. With
    *retry_unreachable*, records of unreachable sites do not count.
    """
    wanted = {site.line: site.input for site in sites}
    done: set[int] = set()
    for record in read_records(path):
        line = record.get("line")
        if not isinstance(line, int) or wanted.get(line) != record.get("input"):
            continue
        if retry_unreachable and record.get("site") and not record.get("reachable"):
            continue
        done.add(line)
    return done


def finish(
    out: str | os.PathLike[str],
    *,
    purpose: Purpose | str,
    sites: Sequence[SiteLine] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Order ``results.jsonl``, then write ``summary.json`` and ``report.html``.

    With *sites* (a live survey), one record is kept per input line, the
    latest written, and records of lines no longer in the input are dropped.
    Without (captures), the records are already in ``line`` order, grouped by
    site in time order, and are read as a stream: the summary holds only its
    counters and the report the first rows. Returns the summary.
    """
    folder = Path(out)
    results = folder / RESULTS
    if sites is None:
        first: list[dict[str, Any]] = []
        total = 0

        def stream() -> Iterator[dict[str, Any]]:
            nonlocal total
            for record in read_records(results):
                total += 1
                if len(first) < MAX_SITE_ROWS:
                    # Only what the report's table shows: a whole record weighs tens of KB.
                    first.append({key: record.get(key) for key in SITE_ROW_FIELDS})
                yield record

        summary = summarise(stream(), purpose=purpose, extra=extra, sorted_by_site=True)
        _write_text(folder / SUMMARY, json.dumps(summary, indent=2, ensure_ascii=False) + "\n")
        _write_text(folder / REPORT, survey_report(summary, first, total=total))
        return summary
    current = {site.line: site.input for site in sites}
    by_line: dict[int, tuple[dict[str, Any], str]] = {}
    for record, text in _read_lines(results):
        line = record.get("line")
        if isinstance(line, int) and current.get(line) == record.get("input"):
            by_line[line] = (record, text)  # the latest record of a line wins
    kept = [by_line[line] for line in sorted(by_line)]
    # Each record is written back as it was read: encoding it again would give the same line.
    _write_text(results, "".join(f"{text}\n" for _, text in kept))
    records = [record for record, _ in kept]
    summary = summarise(records, purpose=purpose, extra=extra)
    _write_text(folder / SUMMARY, json.dumps(summary, indent=2, ensure_ascii=False) + "\n")
    _write_text(folder / REPORT, survey_report(summary, records))
    return summary


def _read_lines(path: Path) -> Iterator[tuple[dict[str, Any], str]]:
    """Every complete record of *path* with its line as written (see :func:`read_records`)."""
    if not path.exists():
        return
    with path.open(encoding="utf-8", errors="replace") as fh:
        for line in fh:
            text = line.strip()
            if not text:
                continue
            try:
                record = json.loads(text)
            except json.JSONDecodeError:
                continue
            if isinstance(record, dict):
                yield record, text


def _write_text(path: Path, text: str) -> None:
    # Write beside the target, then rename: a reader never sees half a file.
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
