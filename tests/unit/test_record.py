"""The typed ledger record and the line the ledger writes for it."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from scrapy_optout.stores.ledger import Ledger, read_ledger
from scrapy_optout.stores.record import LedgerRecord
from scrapy_optout.verdict import Purpose, Stage

RECORD = LedgerRecord(
    time="2026-01-01T00:00:00.000Z",
    url="https://a.example/x",
    origin="https://a.example:443",
    domain="a.example",
    stage=Stage.BODY,
    purpose=Purpose.TRAIN,
    verdict="reserved",
    mode="enforce",
    reasons=[{"signal": "noai", "where": "meta", "rule": "noai", "source": "https://a.example/x"}],
    evidence=[],
    spider="s",
    token="mybot",
    user_agent="MyBot/1.0",
    status=200,
)


def test_a_record_gives_every_field_that_applies_in_the_ledgers_order() -> None:
    data = RECORD.to_dict()
    assert list(data) == [
        "v",
        "time",
        "url",
        "origin",
        "domain",
        "stage",
        "purpose",
        "verdict",
        "mode",
        "reasons",
        "evidence",
        "spider",
        "token",
        "user_agent",
        "status",
    ]
    assert (data["v"], data["stage"], data["purpose"]) == (1, "body", "train")
    assert type(data["stage"]) is str and type(data["purpose"]) is str
    assert json.loads(RECORD.to_json()) == data


def test_the_ledger_writes_a_record_as_its_json_line(tmp_path: Path) -> None:
    path = tmp_path / "ledger.jsonl"
    ledger = Ledger(path)
    ledger.open()
    odd = replace(RECORD, url="https://a.example/\udcff", item_source="https://a.example/")
    ledger.write(RECORD)
    ledger.write(odd)  # a lone surrogate has no UTF-8 form: written as a JSON escape
    ledger.close()
    first, second = path.read_bytes().splitlines()
    assert first.decode() == RECORD.to_json()
    assert second.isascii()
    assert [r["url"] for r in read_ledger(path)] == [RECORD.url, odd.url]
    assert list(read_ledger(path))[1]["item_source"] == "https://a.example/"


def test_stages_are_the_ledgers_strings() -> None:
    assert [str(s) for s in Stage] == ["origin", "headers", "body", "item", "dataset"]
