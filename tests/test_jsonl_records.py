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


ENTRY = (
    '{"purpose":"train","verdict":"allowed","files":[{"source":"https://a.example/robots.txt"}]}'
)


@pytest.mark.parametrize(
    "line",
    [
        b"{}",
        b"{ }",
        b"{\t\r\n}",
        b'{"a":1}',
        b'{ "a" : 1 }',
        b'{\n"a": "}"}',
        b'{"a":{}}',
        '{"caf\u00e9": [{}, "\u2603"]}'.encode(),
        json.dumps(RECORD).encode(),
    ],
)
def test_a_kept_record_gets_its_provenance_as_one_more_member(line: bytes) -> None:
    record = JsonLines()._item(0, "in.jsonl", line)
    assert isinstance(record, Record)
    out = JsonLines().encode([(record, ENTRY)])
    assert out.endswith(b"\n") and out.count(b"\n") == line.count(b"\n") + 1
    assert json.loads(out) == {**json.loads(line), "optout": json.loads(ENTRY)}


def test_a_batch_is_its_lines_each_ended() -> None:
    fmt = JsonLines()
    kept: list[tuple[Record, str | None]] = []
    for n in range(3):
        record = fmt._item(n, "in.jsonl", b'{"id": %d}' % n)
        assert isinstance(record, Record)
        kept.append((record, None if n % 2 else ENTRY))
    out = fmt.encode(kept)
    assert [json.loads(line)["id"] for line in out.splitlines()] == [0, 1, 2]
    assert out.endswith(b"}\n") and not out.endswith(b"\n\n")
    assert fmt.encode([]) == b""
