"""Reading dataset records and writing the kept ones back, format by format.

Each format reads an input in fixed-size batches (the unit of a checkpoint)
and writes the kept records of a batch as one *part*, which
:meth:`DatasetFormat.merge` joins into the output file once the input is
done. Records are written back unchanged apart from their provenance:

* **JSON Lines** (``.jsonl``, ``.ndjson``, optionally gzip-compressed): the
  line's bytes as read, with an ``"optout"`` key spliced in before its closing
  brace (re-serialised only when the key is already there, as in a re-check).
  A record may carry its response: ``headers`` (``{name: value or [values]}``
  or ``[[name, value], ...]``) and ``html`` (the page as text).
* **Parquet** (pyarrow): the rows kept, with an ``optout`` string column
  holding the provenance as JSON (replaced when the input has one).
* **WARC** (``.warc``, ``.warc.gz``; warcio reads it): each kept ``response``,
  ``resource`` or ``revisit`` record byte for byte, with one more WARC header,
  ``WARC-Optout-Provenance``, holding the provenance as one line of JSON (WARC
  1.1 §5 lets a record carry fields of its own; the record block, its
  ``Content-Length`` and its digests are untouched). ``warcinfo`` records are
  copied; ``request``, ``metadata`` and ``conversion`` records follow the
  record they refer to (``WARC-Concurrent-To``, ``WARC-Refers-To``).

An input that cannot be read on (a truncated gzip stream, garbage where a
WARC record should start, a broken Parquet footer) ends with
:class:`InputBroken` after the batches read so far; a line that is not a JSON
object is a :class:`Malformed` item. Neither is ever written to the output.
"""

from __future__ import annotations

import gzip
import json
import os
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, cast

from scrapy_optout.policy.provenance import PROVENANCE_FIELD

__all__ = [
    "FORMATS",
    "PROVENANCE_FIELD",
    "WARC_PROVENANCE_HEADER",
    "Batch",
    "DatasetFormat",
    "InputBroken",
    "Malformed",
    "Record",
    "detect_format",
    "dig",
    "headers_of",
]

WARC_PROVENANCE_HEADER = "WARC-Optout-Provenance"
#: Bytes of a WARC payload read for the body stage (the evaluator reads no more).
WARC_BODY_LIMIT = 8 * 1024 * 1024

#: How a record takes part: decided on its own; a WARC request (no content:
#: decided on its URL when the response it belongs to is not known); a record
#: that follows the one it refers to (dropped when that one is not known);
#: copied as it is (``warcinfo``).
DECIDED, REQUEST, COMPANION, PASSTHROUGH = "decided", "request", "companion", "passthrough"


class InputBroken(Exception):
    """The rest of an input cannot be read; what was read before stands."""


@dataclass(slots=True)
class Record:
    """One record of a dataset, with what it carries of its response."""

    index: int
    id: str
    url: str | None
    headers: dict[str, list[str]] | None = None
    body: bytes | None = None
    raw: Any = None
    previous: dict[str, Any] | None = None
    role: str = DECIDED
    follows: tuple[str, ...] = ()


@dataclass(slots=True)
class Malformed:
    """An item of an input that is not a record (a broken JSON line)."""

    index: int
    why: str


@dataclass
class Batch:
    """A fixed number of consecutive items of one input."""

    number: int
    items: list[Record | Malformed] = field(default_factory=list)
    table: Any = None  # the Parquet record batch the items came from


def dig(data: Mapping[str, Any], dotted: str) -> Any:
    """``data["a"]["b"]`` for ``"a.b"`` (a key spelt with the dot wins)."""
    if dotted in data:
        return data[dotted]
    value: Any = data
    for part in dotted.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def headers_of(value: Any) -> dict[str, list[str]] | None:
    """HTTP headers as ``{name: [values]}``, from a mapping or ``[[name, value], ...]``."""
    if isinstance(value, Mapping):
        out: dict[str, list[str]] = {}
        for name, item in value.items():
            values = item if isinstance(item, list) else [item]
            out.setdefault(str(name), []).extend(str(v) for v in values)
        return out
    if isinstance(value, list):
        out = {}
        for pair in value:
            if isinstance(pair, list | tuple) and len(pair) == 2:
                out.setdefault(str(pair[0]), []).append(str(pair[1]))
        return out
    return None


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


class DatasetFormat:
    """Reads one kind of input and writes its kept records."""

    name = ""
    #: Whether kept records are bytes appended to one output file (:meth:`encode`);
    #: otherwise each batch is a part (:meth:`write_part`) joined by :meth:`merge`.
    appendable = True
    #: Whether some records follow others (WARC request, metadata, conversion records).
    has_companions = False

    def __init__(self, url_field: str = "url", id_field: str = "id") -> None:
        self.url_field = url_field
        self.id_field = id_field

    def batches(self, path: Path, size: int) -> Iterator[Batch]:
        raise NotImplementedError

    def encode(self, kept: list[tuple[Record, str | None]]) -> bytes:
        raise NotImplementedError

    def write_part(self, batch: Batch, kept: list[tuple[Record, str | None]], path: Path) -> None:
        raise NotImplementedError

    def merge(self, parts: list[Path], final: Path, source: Path) -> bool:
        """Join *parts* (in order) into *final*; false when there is nothing to write."""
        raise NotImplementedError


# -- JSON Lines ---------------------------------------------------------------------------


class JsonLines(DatasetFormat):
    name = "jsonl"

    def batches(self, path: Path, size: int) -> Iterator[Batch]:
        compressed = _is_gzip(path)
        batch = Batch(0)
        index = 0
        with path.open("rb") as raw:
            handle: IO[bytes] = cast(IO[bytes], gzip.GzipFile(fileobj=raw)) if compressed else raw
            try:
                for line in handle:
                    stripped = line.strip()
                    if stripped:
                        batch.items.append(self._item(index, path.name, stripped))
                        index += 1
                        if len(batch.items) >= size:
                            yield batch
                            batch = Batch(batch.number + 1)
            except (OSError, EOFError, zlib.error) as exc:
                if batch.items:
                    yield batch
                raise InputBroken(f"unreadable after item {index}: {exc}") from exc
        if batch.items:
            yield batch

    def _item(self, index: int, name: str, line: bytes) -> Record | Malformed:
        try:
            # json.loads would first work out which encoding the bytes are in:
            # a line that opens with "{" and no NUL byte can only be UTF-8.
            utf8 = line[:1] == b"{" and line[1:2] != b"\x00"
            data = json.loads(line.decode("utf-8", "surrogatepass") if utf8 else line)
        except (ValueError, RecursionError):
            return Malformed(index, "not JSON")
        if not isinstance(data, dict):
            return Malformed(index, "not a JSON object")
        url = dig(data, self.url_field)
        ident = data.get(self.id_field)
        html = data.get("html")
        previous = data.get(PROVENANCE_FIELD)
        return Record(
            index,
            str(ident)
            if isinstance(ident, str | int) and not isinstance(ident, bool)
            else f"{name}:{index + 1}",
            url if isinstance(url, str) else None,
            headers_of(data["headers"]) if "headers" in data else None,
            html.encode("utf-8", "surrogatepass") if isinstance(html, str) else None,
            (line, data if previous is not None else None),
            previous if isinstance(previous, dict) else None,
        )

    def encode(self, kept: list[tuple[Record, str | None]]) -> bytes:
        lines: list[bytes] = []
        for record, entry in kept:
            line, data = record.raw
            if entry is None:
                lines.append(line)
            elif data is not None:  # already has the key: replace its value
                data[PROVENANCE_FIELD] = json.loads(entry)
                lines.append(_dumps(data).encode("utf-8", "surrogatepass"))
            else:
                lines.append(_splice(line, entry))
        if lines:
            lines.append(b"")  # the last line's end: no copy of the joined batch to add it
        payload = b"\n".join(lines)
        # Each batch its own gzip member: members concatenate into one valid stream.
        return gzip.compress(payload, 6) if self.compressed_output and payload else payload

    compressed_output = False


_MEMBER = b'"' + PROVENANCE_FIELD.encode() + b'":'


#: What may follow the ``{`` of an object without members (JSON's blanks, the ``}``).
_NO_MEMBER_YET = frozenset(b" \t\r\n}")


def _splice(line: bytes, entry: str) -> bytes:
    """*line*, a JSON object, with ``"optout": entry`` (JSON) added before its closing brace."""
    body = line.rstrip()
    # An object opened by a member has one; only one opened by blanks is looked into.
    members = len(body) > 1 and (body[1] not in _NO_MEMBER_YET or bool(body[1:-1].strip()))
    # One copy of the line, in the join.
    return b"".join(
        (body[:-1], b"," if members else b"", _MEMBER, entry.encode("utf-8", "surrogatepass"), b"}")
    )


class GzipJsonLines(JsonLines):
    name = "jsonl.gz"
    compressed_output = True


# -- Parquet ------------------------------------------------------------------------------


class Parquet(DatasetFormat):
    name = "parquet"
    appendable = False

    def batches(self, path: Path, size: int) -> Iterator[Batch]:
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            source = pq.ParquetFile(path)
            self._schema = source.schema_arrow
        except (pa.ArrowException, OSError) as exc:
            raise InputBroken(f"not a readable Parquet file: {exc}") from exc
        top = self.url_field.split(".", 1)[0]
        if self.url_field in self._schema.names:
            top = self.url_field
        index = 0
        try:
            for number, table in enumerate(source.iter_batches(batch_size=size)):
                names = table.schema.names
                urls = table.column(top).to_pylist() if top in names else [None] * table.num_rows
                ids = (
                    table.column(self.id_field).to_pylist()
                    if self.id_field in names
                    else [None] * table.num_rows
                )
                previous = (
                    table.column(PROVENANCE_FIELD).to_pylist()
                    if PROVENANCE_FIELD in names
                    else [None] * table.num_rows
                )
                batch = Batch(number, table=table)
                for row, (url, ident, prior) in enumerate(zip(urls, ids, previous, strict=True)):
                    if top != self.url_field and isinstance(url, dict):
                        url = dig(url, self.url_field.split(".", 1)[1])
                    batch.items.append(
                        Record(
                            index,
                            str(ident) if ident is not None else f"{path.name}#{index}",
                            url if isinstance(url, str) else None,
                            raw=row,
                            previous=_json_object(prior),
                        )
                    )
                    index += 1
                yield batch
        except (pa.ArrowException, OSError) as exc:
            raise InputBroken(f"unreadable after row {index}: {exc}") from exc

    def _table(self, batch: Batch, kept: list[tuple[Record, str | None]]) -> Any:
        import pyarrow as pa

        table = pa.Table.from_batches([batch.table])
        rows = [record.raw for record, _ in kept]
        table = table.take(pa.array(rows, type=pa.int64()))
        column = pa.array([entry for _, entry in kept], type=pa.string())
        names = table.schema.names
        if PROVENANCE_FIELD in names:
            return table.set_column(names.index(PROVENANCE_FIELD), PROVENANCE_FIELD, column)
        return table.append_column(PROVENANCE_FIELD, column)

    def write_part(self, batch: Batch, kept: list[tuple[Record, str | None]], path: Path) -> None:
        import pyarrow.parquet as pq

        pq.write_table(self._table(batch, kept), path)

    def merge(self, parts: list[Path], final: Path, source: Path) -> bool:
        import pyarrow as pa
        import pyarrow.parquet as pq

        schema = None
        writer = None
        try:
            for part in parts:
                table = pq.read_table(part)
                if writer is None:
                    schema = table.schema
                    writer = pq.ParquetWriter(final, schema)
                writer.write_table(table.cast(schema))
            if writer is None:  # no batch at all: an empty file of the input's schema
                try:
                    empty = pq.ParquetFile(source).schema_arrow.empty_table()
                except (pa.ArrowException, OSError):
                    return False  # no schema to give an empty file
                if PROVENANCE_FIELD not in empty.schema.names:
                    empty = empty.append_column(PROVENANCE_FIELD, pa.array([], type=pa.string()))
                pq.write_table(empty, final)
        finally:
            if writer is not None:
                writer.close()
        return True


def _json_object(value: Any) -> dict[str, Any] | None:
    if isinstance(value, dict):
        return value
    if isinstance(value, str):
        try:
            data = json.loads(value)
        except ValueError:
            return None
        return data if isinstance(data, dict) else None
    return None


# -- WARC ---------------------------------------------------------------------------------


class Warc(DatasetFormat):
    name = "warc"
    has_companions = True
    compressed_output = False

    def batches(self, path: Path, size: int) -> Iterator[Batch]:
        from warcio.archiveiterator import ArchiveIterator
        from warcio.exceptions import ArchiveLoadFailed

        batch = Batch(0)
        index = 0
        consumed = 0
        size_on_disk = path.stat().st_size
        with path.open("rb") as handle, path.open("rb") as again:
            records = ArchiveIterator(handle)
            try:
                for record in records:
                    item = self._record(record, index)
                    records.read_to_end(record)
                    offset, length = records.get_record_offset(), records.get_record_length()
                    again.seek(offset)
                    raw = again.read(length)
                    if self.compressed_output:
                        raw = gzip.decompress(raw)
                    else:
                        # Uncompressed, the length leaves out the record's closing CRLF CRLF.
                        length += len(again.read(4))
                        raw += b"\r\n\r\n"
                    consumed = offset + length
                    if isinstance(item, Record):
                        item.raw = raw
                    batch.items.append(item)
                    index += 1
                    if len(batch.items) >= size:
                        yield batch
                        batch = Batch(batch.number + 1)
            except (ArchiveLoadFailed, OSError, EOFError, zlib.error, ValueError) as exc:
                if batch.items:
                    yield batch
                raise InputBroken(f"unreadable after record {index}: {exc}") from exc
        if batch.items:
            yield batch
        if consumed < size_on_disk:
            # warcio stops quietly at a cut gzip member or at bytes it cannot parse.
            raise InputBroken(
                f"{size_on_disk - consumed} bytes after record {index} are not a WARC record"
            )

    def _record(self, record: Any, index: int) -> Record | Malformed:
        headers = record.rec_headers
        kind = record.rec_type
        ident = headers.get_header("WARC-Record-ID") or f"#{index}"
        url = headers.get_header("WARC-Target-URI")
        previous = _json_object(headers.get_header(WARC_PROVENANCE_HEADER))
        if kind in ("response", "resource"):
            http: dict[str, list[str]] | None = None
            if kind == "response" and record.http_headers is not None:
                http = {}
                for name, value in record.http_headers.headers:
                    http.setdefault(name, []).append(value)
            elif headers.get_header("Content-Type"):
                http = {"Content-Type": [headers.get_header("Content-Type")]}
            body = record.content_stream().read(WARC_BODY_LIMIT)
            return Record(index, ident, url, http or {}, body, previous=previous)
        if kind == "revisit":
            return Record(index, ident, url, previous=previous)
        if kind in ("request", "metadata", "conversion"):
            refs = tuple(
                ref
                for name in ("WARC-Concurrent-To", "WARC-Refers-To")
                for ref in [headers.get_header(name)]
                if ref
            )
            role = REQUEST if kind == "request" else COMPANION
            return Record(index, ident, url, role=role, follows=refs)
        if kind == "warcinfo":
            return Record(index, ident, url, role=PASSTHROUGH)
        return Malformed(index, f"WARC record of unknown type {kind!r}")

    def encode(self, kept: list[tuple[Record, str | None]]) -> bytes:
        out = []
        for record, entry in kept:
            raw = record.raw if entry is None else _with_header(record.raw, entry)
            out.append(gzip.compress(raw, 6) if self.compressed_output else raw)
        return b"".join(out)


def _with_header(raw: bytes, entry: str) -> bytes:
    """A WARC record with its provenance header set (replacing an earlier one)."""
    end = raw.find(b"\r\n\r\n")
    if end < 0:
        return raw
    head = raw[:end].split(b"\r\n")
    prefix = WARC_PROVENANCE_HEADER.lower().encode() + b":"
    head = [line for line in head if not line.lower().startswith(prefix)]
    if not entry.isascii():
        entry = json.dumps(json.loads(entry), ensure_ascii=True, separators=(",", ":"))
    value = entry.encode("ascii")
    head.append(WARC_PROVENANCE_HEADER.encode() + b": " + value)
    return b"\r\n".join(head) + raw[end:]


class GzipWarc(Warc):
    name = "warc.gz"
    compressed_output = True


FORMATS: dict[str, type[DatasetFormat]] = {
    f.name: f for f in (JsonLines, GzipJsonLines, Parquet, Warc, GzipWarc)
}


def _is_gzip(path: Path) -> bool:
    with path.open("rb") as handle:
        return handle.read(2) == b"\x1f\x8b"


def detect_format(path: str | os.PathLike[str]) -> str:
    """The format of *path*, from its first bytes (its name decides only between JSON kinds)."""
    path = Path(path)
    with path.open("rb") as handle:
        head = handle.read(4)
    if head == b"PAR1":
        return Parquet.name
    if head[:2] == b"\x1f\x8b":
        try:
            with gzip.open(path, "rb") as unzipped:
                start = unzipped.read(5)
        except (OSError, EOFError, zlib.error):
            start = b""
        return GzipWarc.name if start == b"WARC/" else GzipJsonLines.name
    if head == b"WARC":
        return Warc.name
    return JsonLines.name
