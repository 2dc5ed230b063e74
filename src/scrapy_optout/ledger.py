"""The exclusion ledger: one JSON object per line, and the evidence beside it.

Each record is written and flushed before the exclusion takes effect, so a
crawl killed at any moment loses no exclusion it acted on. Policy file bodies
are stored once each, named by their sha256, in a folder beside the ledger
(``optout-ledger.jsonl`` keeps its evidence in ``optout-ledger.evidence/``);
the path of an evidence file is derived from the hash alone, never from
anything a site sent.

Several processes may write ledgers; give each its own file and concatenate
them later (``optout report`` reads many).
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from scrapy_optout.origin import PolicyFile

SCHEMA_VERSION = 1


def evidence_dir_for(ledger: str | os.PathLike[str]) -> Path:
    path = Path(ledger)
    return path.with_name(path.name.removesuffix(".jsonl") + ".evidence")


class Ledger:
    """Append-only JSON Lines writer with content-addressed evidence."""

    def __init__(
        self, path: str | os.PathLike[str], evidence_dir: str | os.PathLike[str] | None = None
    ) -> None:
        self.path = Path(path)
        self.evidence_dir = Path(evidence_dir) if evidence_dir else evidence_dir_for(self.path)
        self._stored: set[str] = set()
        self._lock = threading.Lock()
        self._file: IO[str] | None = None
        self.records_written = 0

    def open(self) -> None:
        if self._file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.path.open("a", encoding="utf-8")
            self._repair_tail()

    def _repair_tail(self) -> None:
        # A crash mid-write can leave a partial last line; end it so that the
        # next record starts on a line of its own and every complete line parses.
        assert self._file is not None
        size = self.path.stat().st_size
        if size:
            with self.path.open("rb") as fh:
                fh.seek(size - 1)
                if fh.read(1) != b"\n":
                    self._file.write("\n")
                    self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def write(self, record: dict[str, Any]) -> None:
        """Append *record* and flush it to the operating system."""
        line = json.dumps(record, ensure_ascii=False, separators=(",", ":"), default=str)
        with self._lock:
            self.open()
            assert self._file is not None
            self._file.write(line + "\n")
            self._file.flush()
            self.records_written += 1

    def store_evidence(self, files: Iterable[PolicyFile]) -> None:
        """Keep each policy body once, as ``<evidence_dir>/<sha256>``."""
        for policy_file in files:
            digest = policy_file.sha256
            if digest in self._stored:
                continue
            target = self.evidence_dir / digest
            if not target.exists():
                self.evidence_dir.mkdir(parents=True, exist_ok=True)
                tmp = target.with_name(f".{digest}.{os.getpid()}.tmp")
                tmp.write_bytes(policy_file.body)
                os.replace(tmp, target)
            self._stored.add(digest)


def read_ledger(path: str | os.PathLike[str]) -> Iterator[dict[str, Any]]:
    """Yield every complete record of a ledger; a torn last line is skipped."""
    with Path(path).open(encoding="utf-8", errors="replace") as fh:
        for line in fh:
            line = line.strip()
            if not line:
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(record, dict):
                yield record
