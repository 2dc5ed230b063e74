"""Policy snapshots kept out of memory while they are not in use.

A parsed robots.txt costs tens of kilobytes of Python objects (a big one,
megabytes), and a crawl of many sites keeps a snapshot per origin. The
:class:`~scrapy_optout.stores.memory.MemoryPolicyStore` therefore keeps only the
snapshots used most recently parsed ("hot") and hands the others to a
:class:`ColdStore`, which writes what cannot be derived again (the fetched
files, their bodies, when they were fetched) compressed to an anonymous
temporary file; the store keeps one int per frozen snapshot in memory. A cold
snapshot is read back and its files parsed again when its origin is next
asked about; the parsers are deterministic, so the snapshot thawed is the one
frozen.

The temporary file is created on first use with :func:`tempfile.TemporaryFile`
(in ``TMPDIR``; on POSIX systems it has no name and disappears with the
process) and compacted when more than half of it is dead records. It is read
only by this process, from records this process wrote.
"""

from __future__ import annotations

import pickle
import tempfile
import zlib
from collections.abc import Iterable
from typing import IO, Any

from scrapy_optout.policy.snapshot import OriginPolicy

__all__ = ["ColdStore"]

#: Dead bytes tolerated in the file before it is compacted (besides the rule
#: that dead records may not outweigh live ones).
_COMPACT_SLACK = 32 * 1024 * 1024
# A ref packs a record's offset and length in one int (a record is at most 4 GiB).
_LENGTH_BITS = 32
_LENGTH_MASK = (1 << _LENGTH_BITS) - 1


class ColdStore:
    """Frozen :class:`OriginPolicy` snapshots in an anonymous temporary file.

    A frozen snapshot is known by an int, its *ref* (where its record lies in
    the file), which the caller keeps in an object's ``frozen`` attribute: the
    store has no per-snapshot object of its own, and :meth:`compact` rewrites
    the refs of the holders it is given.
    """

    def __init__(self) -> None:
        self._file: IO[bytes] | None = None
        self._end = 0
        self._live_bytes = 0
        self._live = 0

    def __len__(self) -> int:
        return self._live

    @property
    def file_bytes(self) -> int:
        """Size of the temporary file (live and dead records)."""
        return self._end

    @property
    def wasteful(self) -> bool:
        """Whether dead records outweigh live ones (and the slack): time to compact."""
        return self._end - self._live_bytes > max(_COMPACT_SLACK, self._live_bytes)

    def freeze(self, policy: OriginPolicy) -> int | None:
        """Store *policy*; its ref, or ``None`` if it cannot be stored (keep it in memory)."""
        state = policy.stored_state()  # the parsed files are derived again on thaw
        try:
            data = zlib.compress(pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL), 1)
        except Exception:  # an attribute that does not pickle
            return None
        offset = self._append(data)
        self._live += 1
        self._live_bytes += len(data)
        return _ref(offset, len(data))

    def thaw(self, ref: int) -> OriginPolicy:
        """The snapshot stored as *ref*, its files parsed again; it stays stored."""
        offset, length = _unref(ref)
        assert self._file is not None
        self._file.seek(offset)
        state: dict[str, Any] = pickle.loads(zlib.decompress(self._file.read(length)))
        return OriginPolicy.from_state(state)

    def release(self, ref: int) -> None:
        """Forget *ref*: its bytes become dead space, reclaimed by :meth:`compact`."""
        self._live -= 1
        self._live_bytes -= _unref(ref)[1]
        if not self._live and self._file is not None:
            self._file.truncate(0)
            self._end = self._live_bytes = 0

    def compact(self, holders: Iterable[Any]) -> None:
        """Copy the live records to a new file; *holders* are every object with a ref.

        Each holder's ``frozen`` attribute (a ref, or ``None``) is rewritten.
        """
        old = self._file
        if old is None:
            return
        live = [h for h in holders if h.frozen is not None]
        live.sort(key=lambda h: _unref(h.frozen)[0])
        new = tempfile.TemporaryFile(prefix="scrapy-optout-")  # noqa: SIM115
        end = 0
        for holder in live:
            offset, length = _unref(holder.frozen)
            old.seek(offset)
            new.write(old.read(length))
            holder.frozen = _ref(end, length)
            end += length
        old.close()
        self._file = new
        self._end = end

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        self._end = self._live_bytes = self._live = 0

    def _append(self, data: bytes) -> int:
        if self._file is None:
            # Open for the store's lifetime, closed by close() (or with the process).
            self._file = tempfile.TemporaryFile(prefix="scrapy-optout-")  # noqa: SIM115
        offset = self._end
        self._file.seek(offset)
        self._file.write(data)
        self._end = offset + len(data)
        return offset


def _ref(offset: int, length: int) -> int:
    return offset << _LENGTH_BITS | length


def _unref(ref: int) -> tuple[int, int]:
    return ref >> _LENGTH_BITS, ref & _LENGTH_MASK
