"""The exclusion ledger: one JSON object per line, and the evidence beside it.

Each record is written, with a single ``write`` system call on an unbuffered
file opened for appending, before the exclusion takes effect, so a crawl
killed at any moment loses no exclusion it acted on; at worst the record being
written when it died is cut short.

The ledger never loses a line:

* :meth:`Ledger.open` (called when a crawl starts) creates the ledger's folder
  and the evidence folder, and proves both writable by creating and removing
  a file in each; a ledger that is a directory, a symbolic link or anything but
  a regular file is refused, as is a symbolic link in place of the evidence
  folder. Any of these raises :class:`~scrapy_optout.LedgerError`.
* A write that fails or is cut short (a full disk, a file size limit, an I/O
  error) raises :class:`~scrapy_optout.LedgerError`, and every later write
  raises it too without touching the file: nothing is glued onto a cut line.
* A torn last line (a crash mid-write) is moved into ``<ledger>.torn``, one
  fragment per line, before anything is appended, so every line of a ledger
  is a complete record and no byte that was written is thrown away.

Policy file bodies are stored once each, named by their sha256, in a folder
beside the ledger (``optout-ledger.jsonl`` keeps its evidence in
``optout-ledger.evidence/``); the path of an evidence file is derived from the
hash alone, never from anything a site sent. An evidence file is written under
a temporary name created with ``O_EXCL | O_NOFOLLOW`` inside the folder opened
at start-up, then renamed to its hash: a symbolic link planted in the folder is
replaced, never written through, and a reader never sees half a file. A file
already there is kept when its content has the hash of its name.

Several processes may write ledgers; give each its own file and concatenate
them later (``optout report`` reads many).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import logging
import os
import secrets
import stat
import threading
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from scrapy_optout.exceptions import LedgerError
from scrapy_optout.policy.snapshot import PolicyFile
from scrapy_optout.stores.record import LedgerRecord, json_line

logger = logging.getLogger(__name__)

_TAIL_CHUNK = 64 * 1024
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_DIRECTORY = getattr(os, "O_DIRECTORY", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
# Folders are opened once and files created relative to them, so a folder
# swapped for a symbolic link mid-crawl cannot redirect a write.
_DIR_FD = os.open in os.supports_dir_fd and bool(_DIRECTORY)

#: Fields every ledger record has, with the types :func:`read_ledger` accepts.
REQUIRED_FIELDS: dict[str, type | tuple[type, ...]] = {"url": str, "verdict": str, "stage": str}
#: Fields a record may have, with their types (``None`` is accepted for each).
OPTIONAL_FIELDS: dict[str, type | tuple[type, ...]] = {
    "v": int,
    "time": str,
    "origin": str,
    "domain": str,
    "purpose": str,
    "mode": str,
    "reasons": list,
    "evidence": list,
    "spider": str,
    "token": str,
}
VERDICTS = ("reserved", "allowed")


def evidence_dir_for(ledger: str | os.PathLike[str]) -> Path:
    path = Path(ledger)
    return path.with_name(path.name.removesuffix(".jsonl") + ".evidence")


def provenance_path_for(ledger: str | os.PathLike[str]) -> Path:
    """Where the provenance of items that cannot take it is kept, beside *ledger*.

    ``optout-ledger.jsonl`` keeps it in ``optout-ledger.provenance.jsonl``.
    """
    path = Path(ledger)
    return path.with_name(path.name.removesuffix(".jsonl") + ".provenance.jsonl")


def torn_path_for(ledger: str | os.PathLike[str]) -> Path:
    """Where the torn last lines of *ledger* are kept (``<ledger>.torn``)."""
    path = Path(ledger)
    return path.with_name(path.name + ".torn")


def _describe(exc: OSError) -> str:
    return exc.strerror or errno.errorcode.get(exc.errno or 0, "") or type(exc).__name__


class Ledger:
    """Append-only JSON Lines writer with content-addressed evidence.

    *setting* and *name* are what error messages call the file: another JSON
    Lines file kept the same way (the crawl's provenance side file) names its own.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        evidence_dir: str | os.PathLike[str] | None = None,
        *,
        setting: str = "OPTOUT_LEDGER",
        name: str = "ledger",
    ) -> None:
        self.path = Path(path)
        self._setting = setting
        self._name = name
        self.evidence_dir = Path(evidence_dir) if evidence_dir else evidence_dir_for(self.path)
        self._stored: set[str] = set()
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._evidence_fd: int | None = None
        self.records_written = 0
        #: The error that stopped this ledger; every later write raises it again.
        self.failed: LedgerError | None = None

    # -- opening ------------------------------------------------------------------

    def open(self) -> None:
        """Check both folders are writable and open the ledger for appending.

        Raises :class:`~scrapy_optout.LedgerError`, naming the setting and the
        path, when the ledger or the evidence folder cannot be written.
        """
        with self._lock:
            self._open_ledger()
            self._open_evidence()

    def _open_ledger(self) -> None:
        if self._fd is not None:
            return
        if self.failed is not None:
            raise self.failed
        path = self.path
        setting, name = self._setting, self._name
        try:
            info = path.lstat()
        except FileNotFoundError:
            info = None
        except OSError as exc:
            message = f"{setting}: cannot reach the {name} {path}: {_describe(exc)}"
            raise LedgerError(message) from exc
        if info is not None and stat.S_ISLNK(info.st_mode):
            raise LedgerError(
                f"{setting}: the {name} {path} is a symbolic link; name the file itself"
            )
        if info is not None and not stat.S_ISREG(info.st_mode):
            kind = "a directory" if stat.S_ISDIR(info.st_mode) else "not a regular file"
            raise LedgerError(f"{setting}: the {name} {path} is {kind}")
        folder = path.parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
            _probe(folder, None)
            fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT | _NOFOLLOW | _CLOEXEC, 0o666)
        except OSError as exc:
            raise LedgerError(
                f"{setting}: cannot write the {name} {path} (folder {folder}): {_describe(exc)}"
            ) from exc
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise LedgerError(f"{setting}: the {name} {path} is not a regular file")
            self._repair_tail(fd)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd

    def _open_evidence(self) -> int:
        if self._evidence_fd is not None:
            return self._evidence_fd
        folder = self.evidence_dir
        setting = "OPTOUT_EVIDENCE_DIR"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            if folder.is_symlink():
                raise LedgerError(
                    f"{setting}: the evidence folder {folder} is a symbolic link;"
                    " name the folder itself"
                )
            fd = os.open(folder, os.O_RDONLY | _DIRECTORY | _NOFOLLOW | _CLOEXEC)
        except OSError as exc:
            raise LedgerError(
                f"{setting}: cannot use the evidence folder {folder}: {_describe(exc)}"
            ) from exc
        try:
            _probe(folder, fd if _DIR_FD else None)
        except OSError as exc:
            os.close(fd)
            raise LedgerError(
                f"{setting}: cannot write into the evidence folder {folder}: {_describe(exc)}"
            ) from exc
        self._evidence_fd = fd
        return fd

    def _repair_tail(self, fd: int) -> None:
        # A crash mid-write can leave a partial last line. Move it into the
        # .torn file, so that the next record starts on a line of its own,
        # every line parses, and the fragment is still there to look at.
        end = os.fstat(fd).st_size
        if not end or os.pread(fd, 1, end - 1) == b"\n":
            return
        position = end
        while position > 0:
            start = max(0, position - _TAIL_CHUNK)
            newline = os.pread(fd, position - start, start).rfind(b"\n")
            if newline >= 0:
                position = start + newline + 1
                break
            position = start
        tail = os.pread(fd, end - position, position)
        torn = torn_path_for(self.path)
        try:
            if _is_record(tail):
                # Complete, just not ended (written by hand or another tool).
                _write_all(fd, b"\n")
                return
            keep = os.open(
                torn, os.O_WRONLY | os.O_APPEND | os.O_CREAT | _NOFOLLOW | _CLOEXEC, 0o666
            )
            try:
                _write_all(keep, tail + b"\n")
            finally:
                os.close(keep)
            os.ftruncate(fd, position)
        except OSError as exc:
            raise LedgerError(
                f"{self._setting}: cannot repair the torn last line of the {self._name}"
                f" {self.path}: {_describe(exc)}"
            ) from exc
        logger.warning(
            "Moved %d bytes of an incomplete last line of the %s %s into %s",
            end - position,
            self._name,
            self.path,
            torn,
        )

    def close(self) -> None:
        with self._lock:
            for fd in (self._fd, self._evidence_fd):
                if fd is not None:
                    os.close(fd)
            self._fd = self._evidence_fd = None

    # -- writing ------------------------------------------------------------------

    def write(self, record: LedgerRecord | Mapping[str, Any]) -> None:
        """Append *record* as one line, handed to the operating system at once.

        Raises :class:`~scrapy_optout.LedgerError` when the line could not be
        written whole; the ledger then refuses every later write.
        """
        fields = record.to_dict() if isinstance(record, LedgerRecord) else record
        try:
            data = (json_line(fields) + "\n").encode("utf-8")
        except UnicodeEncodeError:
            # A lone surrogate has no UTF-8 form; JSON's \u escapes keep it.
            data = (json_line(fields, ascii_only=True) + "\n").encode("ascii")
        with self._lock:
            if self.failed is not None:
                raise self.failed
            self._open_ledger()
            assert self._fd is not None
            try:
                _write_all(self._fd, data)
            except OSError as exc:
                self.failed = LedgerError(
                    f"{self._setting}: writing to the {self._name} {self.path} failed:"
                    f" {_describe(exc)}"
                )
                raise self.failed from exc
            self.records_written += 1

    def store_evidence(self, files: Iterable[PolicyFile]) -> None:
        """Keep each policy body once, as ``<evidence_dir>/<sha256>``.

        Raises :class:`~scrapy_optout.LedgerError` when a body cannot be stored.
        """
        with self._lock:
            if self.failed is not None:
                raise self.failed
            for policy_file in files:
                digest = policy_file.sha256
                if digest in self._stored:
                    continue
                folder = self._open_evidence()
                try:
                    _store(folder if _DIR_FD else None, self.evidence_dir, digest, policy_file.body)
                except OSError as exc:
                    self.failed = LedgerError(
                        f"OPTOUT_EVIDENCE_DIR: storing evidence in {self.evidence_dir} failed:"
                        f" {_describe(exc)}"
                    )
                    raise self.failed from exc
                self._stored.add(digest)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        if written <= 0:
            raise OSError(errno.EIO, "the write made no progress")
        view = view[written:]


def _probe(folder: Path, dir_fd: int | None) -> None:
    """Create, write and remove a file in *folder*: proof that it can be written."""
    name = f".optout-probe-{os.getpid()}-{secrets.token_hex(4)}"
    target: str | Path = name if dir_fd is not None else folder / name
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC
    fd = os.open(target, flags, 0o600, dir_fd=dir_fd)
    try:
        _write_all(fd, b"\n")
    finally:
        os.close(fd)
        os.unlink(target, dir_fd=dir_fd)


def _store(dir_fd: int | None, folder: Path, digest: str, body: bytes) -> None:
    """Write *body* as ``folder/digest``, never through a symbolic link."""

    def at(name: str) -> str | Path:
        return name if dir_fd is not None else folder / name

    if _holds(at(digest), dir_fd, digest):
        return
    tmp = f".{digest}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
    fd = os.open(
        at(tmp), os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC, 0o644, dir_fd=dir_fd
    )
    try:
        try:
            _write_all(fd, body)
        finally:
            os.close(fd)
        # rename() replaces a symbolic link at the target, never follows it.
        os.rename(at(tmp), at(digest), src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(at(tmp), dir_fd=dir_fd)
        raise


def _holds(target: str | Path, dir_fd: int | None, digest: str) -> bool:
    """Whether *target* is a regular file whose content has the sha256 *digest*."""
    try:
        fd = os.open(target, os.O_RDONLY | os.O_NONBLOCK | _NOFOLLOW | _CLOEXEC, dir_fd=dir_fd)
    except OSError:
        return False  # absent, a symbolic link (ELOOP), unreadable: write it anew
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return False
        sha = hashlib.sha256()
        while chunk := os.read(fd, 1024 * 1024):
            sha.update(chunk)
        return sha.hexdigest() == digest
    finally:
        os.close(fd)


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


def ledger_problem(record: object) -> str | None:
    """Why *record* is not a ledger record, or ``None`` when it is one."""
    if not isinstance(record, dict):
        return f"a JSON {type(record).__name__}, not an object"
    for name, kind in REQUIRED_FIELDS.items():
        if not isinstance(record.get(name), kind):
            return f"no {name!r} of the right type"
    if record["verdict"] not in VERDICTS:
        return "an unknown 'verdict'"
    for name, kind in OPTIONAL_FIELDS.items():
        value = record.get(name)
        if value is not None and (not isinstance(value, kind) or isinstance(value, bool)):
            return f"{name!r} of the wrong type"
    return None


def read_ledger(
    path: str | os.PathLike[str], *, malformed: list[int] | None = None
) -> Iterator[dict[str, Any]]:
    """Yield the records of a ledger, skipping every line that is not one.

    A line that is not JSON (garbage, binary, a torn write), JSON that is not
    an object, or an object without ``url``, ``verdict`` and ``stage`` or with
    a field of the wrong type is skipped; its line number (from 1) is appended
    to *malformed* when given. Blank lines are ignored.
    """
    with Path(path).open("rb") as fh:
        for number, raw in enumerate(fh, 1):
            line = raw.strip()
            if not line:
                continue
            try:
                record = json.loads(line.decode("utf-8"))
            except (UnicodeDecodeError, ValueError, RecursionError):
                record = None
            if record is not None and ledger_problem(record) is None:
                yield record
            elif malformed is not None:
                malformed.append(number)
