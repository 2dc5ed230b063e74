"""The exclusion ledger: one JSON object per line, and the evidence beside it.

Each record is written, with a single ``write`` system call on an unbuffered
file opened for appending, before the exclusion takes effect, so a crawl
killed at any moment loses no exclusion it acted on; at worst the record being
written when it died is cut short. The next writer of the file removes such a
torn last line before appending, so every line of a ledger is a complete
record. Policy file bodies
are stored once each, named by their sha256, in a folder beside the ledger
(``optout-ledger.jsonl`` keeps its evidence in ``optout-ledger.evidence/``);
the path of an evidence file is derived from the hash alone, never from
anything a site sent.

Several processes may write ledgers; give each its own file and concatenate
them later (``optout report`` reads many).
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from scrapy_optout.origin import PolicyFile

SCHEMA_VERSION = 1

logger = logging.getLogger(__name__)

_TAIL_CHUNK = 64 * 1024


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
        self._fd: int | None = None
        self.records_written = 0

    def open(self) -> None:
        if self._fd is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
            self._repair_tail()

    def _repair_tail(self) -> None:
        # A crash mid-write can leave a partial last line. Cut it off, so that
        # the next record starts on a line of its own and every line parses.
        with self.path.open("r+b") as fh:
            end = fh.seek(0, os.SEEK_END)
            if not end:
                return
            fh.seek(end - 1)
            if fh.read(1) == b"\n":
                return
            position = end
            while position > 0:
                start = max(0, position - _TAIL_CHUNK)
                fh.seek(start)
                newline = fh.read(position - start).rfind(b"\n")
                if newline >= 0:
                    position = start + newline + 1
                    break
                position = start
            fh.seek(position)
            tail = fh.read(end - position)
            if _is_record(tail):
                # Complete, just not ended (written by hand or another tool).
                fh.write(b"\n")
                return
            fh.truncate(position)
        logger.warning(
            "Removed %d bytes of an incomplete last line from the ledger %s",
            end - position,
            self.path,
        )

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def write(self, record: dict[str, Any]) -> None:
        """Append *record* as one line, handed to the operating system at once."""
        line = json.dumps(record, ensure_ascii=False, separators=(",", ":"), default=str)
        try:
            data = (line + "\n").encode("utf-8")
        except UnicodeEncodeError:
            # A lone surrogate has no UTF-8 form; JSON's \u escapes keep it.
            line = json.dumps(record, separators=(",", ":"), default=str)
            data = (line + "\n").encode("ascii")
        with self._lock:
            self.open()
            assert self._fd is not None
            view = memoryview(data)
            while view:
                written = os.write(self._fd, view)
                view = view[written:]
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


def _is_record(line: bytes) -> bool:
    try:
        return isinstance(json.loads(line), dict)
    except ValueError:
        return False


def read_jsonl(path: str | os.PathLike[str]) -> Iterator[dict[str, Any]]:
    """Yield every complete JSON object of a JSON Lines file; a torn line is skipped."""
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


#: A ledger is a JSON Lines file of records.
read_ledger = read_jsonl
