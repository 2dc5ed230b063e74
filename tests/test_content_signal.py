"""Tests for Cloudflare ``Content-Signal``, :mod:`scrapy_optout.protocols.content_signal`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scrapy_optout.protocols.content_signal import KEYS, findings, parse_content_signal
from scrapy_optout.verdict import Finding, Purpose, Signal, Stance, Where, decide

CORPUS = Path(__file__).parent.parent / "fixtures" / "corpora" / "ai-signals-in-the-wild"
ROBOTS = "https://site.example/robots.txt"

R, A, U = Stance.RESERVE, Stance.ALLOW, Stance.UNKNOWN
TRAIN, INPUT, SEARCH = Purpose.TRAIN, Purpose.INPUT, Purpose.SEARCH


def summary(found: list[Finding]) -> list[tuple[Stance, set[Purpose]]]:
    for f in found:
        assert f.signal is Signal.CONTENT_SIGNAL
        assert f.source == ROBOTS
    return [(f.stance, set(f.purposes)) for f in found]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        # Edge cases of the spec, section 7.
        ("search=yes, ai-train=no", {"search": "yes", "ai-train": "no"}),
        ("search=yes,ai-train=no,use=reference", {"search": "yes", "ai-train": "no"}),
        ("ai-train=No", {"ai-train": "no"}),
        ("train-ai=n", {}),
        ("/blog/ ai-train=no", {"ai-train": "no"}),
        # Values other than yes/no state nothing.
        ("ai-train=n, ai-input=false, search=0", {}),
        ('ai-train="no"', {}),
        ("ai-train", {}),
        ("ai-train=", {}),
        # Lenient spacing and case.
        ("  AI-Train = NO ,SEARCH=Yes  ", {"ai-train": "no", "search": "yes"}),
        (
            "search=yes,ai-input=no,ai-train=no",
            {"search": "yes", "ai-input": "no", "ai-train": "no"},
        ),
        ("ai-input=yes", {"ai-input": "yes"}),
        # A repeated key keeps the most restrictive value.
        ("ai-train=yes, ai-train=no", {"ai-train": "no"}),
        ("ai-train=no, ai-train=yes", {"ai-train": "no"}),
        ("ai-train=no, ai-train=maybe", {"ai-train": "no"}),
        # Without commas, the pairs run together and are not read.
        ("search=yes ai-train=no", {}),
        ("", {}),
        (",,,", {}),
        ("/blog/", {}),
        ("/", {}),
        ("use=immediate", {}),
    ],
)
def test_parse(value: str, expected: dict[str, str]) -> None:
    assert parse_content_signal(value) == expected


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["search=yes, ai-train=no"], [(R, {TRAIN}), (A, {SEARCH})]),
        (["search=yes,ai-input=no,ai-train=no"], [(R, {TRAIN, INPUT}), (A, {SEARCH})]),
        (["ai-train=yes, search=yes, ai-input=yes"], [(A, {TRAIN, INPUT, SEARCH})]),
        (["search=no"], [(R, {SEARCH})]),
        (["ai-input=no"], [(R, {INPUT})]),
        # Conflicting lines: each is reported, and the reservation wins in decide().
        (["ai-train=no", "ai-train=yes"], [(R, {TRAIN}), (A, {TRAIN})]),
        # Nothing recognisable: one unknown finding.
        (["train-ai=n"], [(U, {TRAIN, INPUT, SEARCH})]),
        (["use=reference"], [(U, {TRAIN, INPUT, SEARCH})]),
        ([""], [(U, {TRAIN, INPUT, SEARCH})]),
        ([], []),
    ],
)
def test_findings(values: list[str], expected: list[tuple[Stance, set[Purpose]]]) -> None:
    found = findings(values, where=Where.FILE, source=ROBOTS)
    assert summary(found) == expected
    assert all(f.where is Where.FILE for f in found)


def test_conflicting_lines_reserve() -> None:
    found = findings(["ai-train=yes", "ai-train=no"], where=Where.FILE, source=ROBOTS)
    assert decide(found, TRAIN).reserved


def test_rule_and_detail() -> None:
    reserve, allow = findings(
        ["search=yes,ai-train=no,use=reference"], where=Where.FILE, source=ROBOTS
    )
    assert reserve.rule == allow.rule == "Content-Signal: search=yes,ai-train=no,use=reference"
    assert reserve.detail == "ai-train=no; other keys, not interpreted: use=reference"
    assert allow.detail == "search=yes; other keys, not interpreted: use=reference"


@pytest.mark.parametrize(
    ("value", "detail"),
    [
        (
            "use=immediate",
            "no search, ai-input or ai-train key with a yes or no value; "
            "other keys, not interpreted: use=immediate",
        ),
        ("ai-train=no, use = full", "ai-train=no; other keys, not interpreted: use = full"),
        # A known key with a value it does not define, and junk, are ignored.
        ("ai-train=no, search=maybe, junk, =x", "ai-train=no; ignored: search=maybe, junk, =x"),
        (
            "ai-train=no, use=reference, train-ai=n, junk",
            "ai-train=no; other keys, not interpreted: use=reference, train-ai=n; ignored: junk",
        ),
    ],
)
def test_other_keys_are_kept_in_the_detail(value: str, detail: str) -> None:
    assert findings([value], where=Where.HEADER, source=ROBOTS)[0].detail == detail
    (unknown,) = findings(["train-ai=n"], where=Where.FILE, source=ROBOTS)
    assert "train-ai=n" in unknown.detail


def test_header_form() -> None:
    # Spec edge case 10: a response header reserves that response.
    found = findings(["ai-train=no"], where=Where.HEADER, source=ROBOTS)
    assert summary(found) == [(R, {TRAIN})]
    assert found[0].where is Where.HEADER
    # Cloudflare's Markdown-for-agents default.
    found = findings(["ai-train=yes, search=yes, ai-input=yes"], where=Where.HEADER, source=ROBOTS)
    assert not decide(found, TRAIN).reserved


def test_absent_key_is_no_statement() -> None:
    found = findings(["search=yes, ai-train=no"], where=Where.FILE, source=ROBOTS)
    assert decide(found, INPUT).findings == ()
    assert decide(found, TRAIN).reserved
    assert not decide(found, SEARCH).reserved


def test_long_values_are_quoted_in_part() -> None:
    value = "ai-train=no, " + "x=y, " * 2000
    (finding,) = findings([value], where=Where.FILE, source=ROBOTS)
    assert finding.stance is R
    assert len(finding.rule) <= 300 and len(finding.detail) <= 300


# -- real sites -----------------------------------------------------------------


def _content_signal_lines() -> list[tuple[str, str]]:
    """``(repository, value)`` of every Content-Signal line in the corpus's robots.txt files."""
    lines = []
    with (CORPUS / "signals.jsonl").open(encoding="utf-8") as f:
        for record in map(json.loads, f):
            if record["kind"] != "robots.txt":
                continue
            for line in record["body"].splitlines():
                key, _, value = line.partition(":")
                if key.strip().lower() == "content-signal":
                    lines.append((record["source_repo"], value.strip()))
    return lines


# What the real lines must yield. (Which group a line belongs to, if any, is
# the robots.txt reader's business: ashwingopalsamy/site writes its line before
# the first User-agent, and its comment block says ai-train=no while the line
# itself says yes.)
WILD = {
    "search=yes,ai-input=no,ai-train=no": [(R, {TRAIN, INPUT}), (A, {SEARCH})],
    "ai-train=yes, search=yes, ai-input=yes": [(A, {TRAIN, INPUT, SEARCH})],
}


def test_corpus_lines() -> None:
    lines = _content_signal_lines()
    assert sorted(repo for repo, _ in lines) == [
        "Jan64X/janpetrlik.com",
        "Jan64X/janpetrlik.com",
        "ashwingopalsamy/site",
    ]
    for _repo, value in lines:
        assert summary(findings([value], where=Where.FILE, source=ROBOTS)) == WILD[value]


# -- properties -------------------------------------------------------------------

PAIRS = st.lists(
    st.tuples(
        st.sampled_from([*KEYS, "use", "train-ai", "AI-Train", "x"]),
        st.sampled_from(["yes", "no", "YES", "No", "n", "reference", ""]),
    ),
    max_size=6,
)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_parse_never_raises(value: str) -> None:
    parsed = parse_content_signal(value)
    assert set(parsed) <= set(KEYS)
    assert set(parsed.values()) <= {"yes", "no"}


@settings(max_examples=200, deadline=None)
@given(PAIRS, st.sampled_from([",", ", ", " , "]))
def test_no_wins_for_each_key(pairs: list[tuple[str, str]], separator: str) -> None:
    parsed = parse_content_signal(separator.join(f"{k}={v}" for k, v in pairs))
    for key in KEYS:
        values = {v.lower() for k, v in pairs if k.lower() == key} & {"yes", "no"}
        expected = "no" if "no" in values else ("yes" if values else None)
        assert parsed.get(key) == expected


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(max_size=60), max_size=4))
def test_findings_well_formed(values: list[str]) -> None:
    found = findings(values, where=Where.HEADER, source=ROBOTS)
    assert len(found) >= len(values)
    for f in found:
        assert f.signal is Signal.CONTENT_SIGNAL and f.where is Where.HEADER
        assert f.purposes and f.purposes <= {TRAIN, INPUT, SEARCH}
        assert len(f.rule) <= 300
