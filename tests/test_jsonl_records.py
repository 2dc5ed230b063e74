"""A JSON Lines record is read as json.loads reads its bytes, whatever they hold."""

from __future__ import annotations

import codecs
import json

import pytest

from scrapy_optout.frontends.filter.formats import JsonLines, Malformed, Record

URL = "https://site.example/caf\u00e9"
RECORD = {"id": "r1", "url": URL, "text": "na\u00efve \u2603 \U0001f600"}

LINES = [
    json.dumps(RECORD).encode(),  # ASCII, escapes
    json.dumps(RECORD, ensure_ascii=False).encode(),  # UTF-8
    codecs.BOM_UTF8 + json.dumps(RECORD, ensure_ascii=False).encode(),
    json.dumps(RECORD, ensure_ascii=False).encode("utf-16-le"),
    json.dumps(RECORD, ensure_ascii=False).encode("utf-16"),
    json.dumps(RECORD, ensure_ascii=False).encode("utf-32-le"),
    json.dumps(RECORD, ensure_ascii=False).encode("utf-32"),
    b'{"id": "r2", "url": "https://site.example/\xed\xa0\x80"}',  # a lone surrogate, as UTF-8
    b'{"id": "r3", "url": "https://site.example/\xff"}',  # not UTF-8
    b'{"id": "r4", "url": "https://site.example/a"',  # cut short
    b'{"id": "r5", "url": "https://site.example/\x00"}',  # a NUL inside a string
    b"[1, 2]",
    b'"text"',
    b"{}",
]


@pytest.mark.parametrize("line", LINES)
def test_a_line_is_read_as_json_loads_reads_it(line: bytes) -> None:
    item = JsonLines()._item(0, "in.jsonl", line)
    try:
        expected = json.loads(line)
    except ValueError:
        assert isinstance(item, Malformed)
        return
    if not isinstance(expected, dict):
        assert isinstance(item, Malformed)
        return
    assert isinstance(item, Record)
    assert item.url == expected.get("url")
    assert item.id == expected.get("id", "in.jsonl:1")
