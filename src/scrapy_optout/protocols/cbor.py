"""A small, bounded CBOR decoder (RFC 8949), enough to read C2PA assertions.

Decodes the whole data model that assertions use: unsigned and negative
integers, byte and text strings (definite and indefinite length), arrays,
maps, tags (the tag number is dropped, the tagged item kept), ``false``,
``true``, ``null``, ``undefined`` (read as ``None``) and half, single and
double floats. Text strings that are not UTF-8 are decoded with replacement
characters: the decoder serves a lenient reader.

Hostile input is bounded: nesting deeper than *max_depth* and more than
*max_items* items are refused, and a declared length or count larger than
the bytes left is refused before anything is allocated. Every problem raises
:class:`CborError`, a :class:`ValueError`; nothing else escapes.
"""

from __future__ import annotations

import struct
from typing import Any

__all__ = ["CborError", "loads"]

MAX_DEPTH = 32
MAX_ITEMS = 100_000


class CborError(ValueError):
    """The bytes are not CBOR this decoder reads, or exceed its bounds."""


_BREAK = object()


class _Decoder:
    __slots__ = ("data", "items", "max_depth", "max_items", "pos")

    def __init__(self, data: bytes, max_depth: int, max_items: int) -> None:
        self.data = data
        self.pos = 0
        self.items = 0
        self.max_depth = max_depth
        self.max_items = max_items

    def take(self, count: int) -> bytes:
        end = self.pos + count
        if end > len(self.data):
            raise CborError(f"{count} bytes declared at byte {self.pos}, fewer left")
        chunk = self.data[self.pos : end]
        self.pos = end
        return chunk

    def argument(self, info: int) -> int | None:
        """The head's argument; ``None`` for an indefinite length."""
        if info < 24:
            return info
        if info == 31:
            return None
        sizes = {24: 1, 25: 2, 26: 4, 27: 8}
        if info not in sizes:
            raise CborError(f"reserved additional information {info}")
        return int.from_bytes(self.take(sizes[info]), "big")

    def item(self, depth: int) -> Any:
        if depth > self.max_depth:
            raise CborError(f"nested deeper than {self.max_depth}")
        self.items += 1
        if self.items > self.max_items:
            raise CborError(f"more than {self.max_items} items")
        initial = self.take(1)[0]
        major, info = initial >> 5, initial & 0x1F
        if major == 7:
            return self.simple(info)
        value = self.argument(info)
        if major == 0:
            return self.need(value)
        if major == 1:
            return -1 - self.need(value)
        if major in (2, 3):
            raw = self.string(major, value, depth)
            return raw if major == 2 else raw.decode("utf-8", "replace")
        if major == 4:
            return self.array(value, depth)
        if major == 5:
            return self.map(value, depth)
        self.need(value)  # major 6: a tag; its number carries no meaning here
        return self.item(depth + 1)

    @staticmethod
    def need(value: int | None) -> int:
        if value is None:
            raise CborError("indefinite length on an integer or tag")
        return value

    def check_count(self, count: int, per_item: int) -> None:
        if count * per_item > len(self.data) - self.pos:
            raise CborError(f"{count} items declared at byte {self.pos}, fewer bytes left")

    def string(self, major: int, length: int | None, depth: int) -> bytes:
        if length is not None:
            return self.take(length)
        chunks: list[bytes] = []
        while True:
            chunk = self.item(depth + 1)
            if chunk is _BREAK:
                return b"".join(chunks)
            if major == 2 and isinstance(chunk, bytes):
                chunks.append(chunk)
            elif major == 3 and isinstance(chunk, str):
                chunks.append(chunk.encode("utf-8"))
            else:
                raise CborError("indefinite string holds a chunk of another type")

    def array(self, count: int | None, depth: int) -> list[Any]:
        values: list[Any] = []
        if count is not None:
            self.check_count(count, 1)
        while count is None or len(values) < count:
            value = self.item(depth + 1)
            if value is _BREAK:
                if count is None:
                    return values
                raise CborError("break inside a definite-length array")
            values.append(value)
        return values

    def map(self, count: int | None, depth: int) -> dict[Any, Any]:
        values: dict[Any, Any] = {}
        if count is not None:
            self.check_count(count, 2)
        read = 0
        while count is None or read < count:
            key = self.item(depth + 1)
            if key is _BREAK:
                if count is None:
                    return values
                raise CborError("break inside a definite-length map")
            value = self.item(depth + 1)
            if value is _BREAK:
                raise CborError("break between a map key and its value")
            if isinstance(key, list | dict):
                raise CborError("map key is not a scalar")
            values[key] = value
            read += 1
        return values

    def simple(self, info: int) -> Any:
        if info == 20:
            return False
        if info == 21:
            return True
        if info in (22, 23):
            return None
        if info == 25:
            return struct.unpack(">e", self.take(2))[0]
        if info == 26:
            return struct.unpack(">f", self.take(4))[0]
        if info == 27:
            return struct.unpack(">d", self.take(8))[0]
        if info == 31:
            return _BREAK
        if info == 24:
            return self.take(1)[0]
        if info < 20:
            return info
        raise CborError(f"reserved simple value {info}")


def loads(data: bytes, *, max_depth: int = MAX_DEPTH, max_items: int = MAX_ITEMS) -> Any:
    """Decode the first CBOR item of *data*; trailing bytes are ignored."""
    if not isinstance(data, bytes):
        raise TypeError(f"data must be bytes, not {type(data).__name__}")
    decoder = _Decoder(data, max_depth, max_items)
    value = decoder.item(0)
    if value is _BREAK:
        raise CborError("a break where an item should be")
    return value
