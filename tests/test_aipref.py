"""Tests for IETF aipref ``Content-Usage``, :mod:`scrapy_optout.protocols.aipref`."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scrapy_optout.protocols.aipref import (
    MAX_VALUE_LENGTH,
    UNKNOWN_PURPOSES,
    VOCABULARY,
    findings_for_preferences,
    findings_for_value,
    header_findings,
    parse_content_usage,
)
from scrapy_optout.verdict import Finding, Purpose, Signal, Stance, Where, decide

CORPUS = Path(__file__).parent.parent / "fixtures" / "corpora" / "ai-signals-in-the-wild"
URL = "https://news.example/story"

R, A, U = Stance.RESERVE, Stance.ALLOW, Stance.UNKNOWN
TRAIN, SEARCH = Purpose.TRAIN, Purpose.SEARCH


def summary(findings: list[Finding]) -> list[tuple[Stance, set[Purpose]]]:
    for f in findings:
        assert f.signal is Signal.CONTENT_USAGE
        assert f.source == URL
    return [(f.stance, set(f.purposes)) for f in findings]


# -- the parser: the table of ietf-aipref.md section 3, and more ---------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("train-ai=n", {"train-ai": "n"}),
        ("train-ai=n, search=y", {"train-ai": "n", "search": "y"}),
        ("train-ai=y, train-ai=n", {"train-ai": "n"}),
        ("train-ai=n, train-ai=y", {"train-ai": "y"}),
        ("train-ai", {}),
        ('train-ai="n"', {}),
        ("train-ai=?0", {}),
        ("train-ai=no", {}),
        ("Train-AI=n", None),
        ("train-ai=n, INVALID=y", None),
        ("train-ai = n", None),
        ("train-ai=n,", None),
        ('train-ai=n;reason="x"', {"train-ai": "n"}),
        ("ai=n, train-genai=n, bots=n", {"ai": "n", "train-genai": "n", "bots": "n"}),
        ("search=y, ai-train=no", {"search": "y"}),
        # More of RFC 9651.
        ("", {}),
        ("   ", {}),
        (" train-ai=n ", {"train-ai": "n"}),
        ("train-ai=n,search=y", {"train-ai": "n", "search": "y"}),
        ("train-ai=n,\tsearch=y", {"train-ai": "n", "search": "y"}),
        ("train-ai=n;q;r=1, search=y;x=?1", {"train-ai": "n", "search": "y"}),
        ("train-ai=(n)", {}),
        ("train-ai=Y", {}),
        ("train-ai=1", {}),
        ("train-ai=n, train-ai=yes", {}),
        ("train-ai=n search=y", None),
        ("train-ai=n,,search=y", None),
        (",train-ai=n", None),
        ("train-ai=n;", None),
        ("train-ai=", None),
        ("train-ai=n # comment", None),
        ("train-ai=n, search=ñ", None),
        # Leading and trailing HTTP whitespace is not part of a field value.
        ("\ttrain-ai=n\t", {"train-ai": "n"}),
    ],
)
def test_parse(value: str, expected: dict[str, str] | None) -> None:
    assert parse_content_usage(value) == expected


def test_vocabulary_is_vocab_07() -> None:
    # No hierarchy and no older labels: each label governs one purpose.
    assert dict(VOCABULARY) == {"train-ai": TRAIN, "search": SEARCH}


# -- the header ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["train-ai=n"], [(R, {TRAIN})]),
        (["train-ai=n, search=y"], [(R, {TRAIN}), (A, {SEARCH})]),
        (["train-ai=n, search=n"], [(R, {TRAIN, SEARCH})]),
        (["train-ai=y, search=y"], [(A, {TRAIN, SEARCH})]),
        (["search=y"], [(A, {SEARCH})]),
        # Spec edge case 2: the lines are one field and the last value wins.
        (["train-ai=n", "train-ai=y"], [(A, {TRAIN})]),
        (["train-ai=y", "train-ai=n"], [(R, {TRAIN})]),
        (["train-ai=n", "search=y"], [(R, {TRAIN}), (A, {SEARCH})]),
        # One bad line spoils the whole field.
        (["train-ai=n", "Bad=n"], [(U, {TRAIN, SEARCH})]),
        # Empty lines add no member; a field that is only empty states nothing.
        (["train-ai=n", "", "  "], [(R, {TRAIN})]),
        ([""], [(U, {TRAIN, SEARCH})]),
        ([], []),
        ([" \ttrain-ai=n\t "], [(R, {TRAIN})]),
        # Spec edge cases 7 and 9, and the Cloudflare spelling.
        (["TRAIN-AI=N"], [(U, {TRAIN, SEARCH})]),
        (["ai=n"], [(U, {TRAIN, SEARCH})]),
        (["ai-train=no, search=yes"], [(U, {TRAIN, SEARCH})]),
        (["train-ai=yes"], [(U, {TRAIN, SEARCH})]),
    ],
)
def test_header(values: list[str], expected: list[tuple[Stance, set[Purpose]]]) -> None:
    found = header_findings(values, source=URL)
    assert summary(found) == expected
    assert all(f.where is Where.HEADER for f in found)


def test_header_rule_quotes_the_combined_field() -> None:
    reserve, allow = header_findings(["train-ai=n", "search=y"], source=URL)
    assert reserve.rule == allow.rule == "Content-Usage: train-ai=n, search=y"
    assert reserve.detail == "train-ai=n: disallowed"
    assert allow.detail == "search=y: allowed"


@pytest.mark.parametrize(
    ("values", "why"),
    [
        (["Train-AI=n"], "not a valid RFC 9651 dictionary (Key does not begin with lcalpha or *)"),
        (["train-ai=n,"], "not a valid RFC 9651 dictionary (Dictionary has trailing comma)"),
        (["train-ai=ñ"], "not a valid RFC 9651 dictionary (non-ASCII characters)"),
        (["a=y, " * (MAX_VALUE_LENGTH // 5 + 1)], f"longer than {MAX_VALUE_LENGTH} characters"),
        (["ai=n, train-genai=n"], "labels outside the vocabulary ignored: ai, train-genai"),
        ([""], "no train-ai or search preference"),
    ],
)
def test_unknown_says_why(values: list[str], why: str) -> None:
    (finding,) = header_findings(values, source=URL)
    assert finding.stance is U
    assert finding.purposes == UNKNOWN_PURPOSES
    assert why in finding.detail
    assert len(finding.rule) <= 300


def test_unknown_never_reserves_and_allow_does_not_outvote() -> None:
    unknown = header_findings(["TRAIN-AI=N"], source=URL)
    assert not decide(unknown, TRAIN).reserved
    reserve = findings_for_preferences(
        {"train-ai": "n"}, where=Where.FILE, rule="Content-Usage: train-ai=n", source=URL
    )
    allow = header_findings(["train-ai=y"], source=URL)
    verdict = decide([*allow, *reserve], TRAIN)
    assert verdict.reserved
    assert [f.where for f in verdict.reasons] == [Where.FILE]


def test_search_permission_says_nothing_about_training() -> None:
    # Spec edge case 12.
    found = header_findings(["search=y"], source=URL)
    assert decide(found, TRAIN).findings == ()
    assert not decide(found, SEARCH).reserved


# -- the shared entry points for robots.txt ---------------------------------------


@pytest.mark.parametrize(
    ("prefs", "expected"),
    [
        ({"train-ai": "n"}, [(R, {TRAIN})]),
        ({"train-ai": "y", "search": "n"}, [(R, {SEARCH}), (A, {TRAIN})]),
        ({"search": "y", "ai": "n"}, [(A, {SEARCH})]),
        ({}, [(U, {TRAIN, SEARCH})]),
        (None, [(U, {TRAIN, SEARCH})]),
        ({"train-ai": "maybe"}, [(U, {TRAIN, SEARCH})]),
    ],
)
def test_findings_for_preferences(
    prefs: dict[str, str] | None, expected: list[tuple[Stance, set[Purpose]]]
) -> None:
    rule = "Content-Usage: /blog/ train-ai=n"
    found = findings_for_preferences(prefs, where=Where.FILE, rule=rule, source=URL)
    assert summary(found) == expected
    assert all(f.where is Where.FILE and f.rule == rule for f in found)


def test_findings_for_value_matches_parse_then_map() -> None:
    for value in ["train-ai=n, search=y", "Train-AI=n", "", "ai=n"]:
        direct = findings_for_value(value, where=Where.FILE, rule=value, source=URL)
        mapped = findings_for_preferences(
            parse_content_usage(value), where=Where.FILE, rule=value, source=URL
        )
        assert summary(direct) == summary(mapped)


# -- real sites -----------------------------------------------------------------


def test_corpus_headers_file() -> None:
    with (CORPUS / "signals.jsonl").open(encoding="utf-8") as f:
        (record,) = [r for r in map(json.loads, f) if r["kind"] == "http-header-config"]
    # The Cloudflare Pages _headers file: header lines are indented under a path.
    values = [
        line.strip().partition(":")[2].strip()
        for line in record["body"].splitlines()
        if re.match(r"\s+Content-Usage:", line, re.IGNORECASE)
    ]
    assert values == ["train-ai=n, search=y"]
    found = header_findings(values, source=URL)
    assert summary(found) == [(R, {TRAIN}), (A, {SEARCH})]
    assert decide(found, TRAIN).reserved
    assert not decide(found, SEARCH).reserved


# -- properties -------------------------------------------------------------------

KEY = st.from_regex(r"[a-z*][a-z0-9_\-.*]{0,12}", fullmatch=True)
LABEL = st.one_of(st.sampled_from(["train-ai", "search", "ai", "train-genai"]), KEY)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_parse_never_raises(value: str) -> None:
    prefs = parse_content_usage(value)
    if prefs is not None:
        assert all(v in {"y", "n"} for v in prefs.values())
        assert all(re.fullmatch(r"[a-z*][a-z0-9_\-.*]*", k) for k in prefs)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            LABEL,
            st.sampled_from(["y", "n", "yes", "?1", '"n"', "1", "(y)"]),
            st.sampled_from(["", ";a", ";b=1", ';c="x"']),
        ),
        min_size=1,
        max_size=8,
    ),
    st.sampled_from([",", ", ", " ,\t"]),
)
def test_last_value_of_a_key_wins(members: list[tuple[str, str, str]], separator: str) -> None:
    value = separator.join(f"{key}={item}{params}" for key, item, params in members)
    last = {key: item for key, item, _ in members}
    assert parse_content_usage(value) == {k: v for k, v in last.items() if v in {"y", "n"}}


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(max_size=40), max_size=4))
def test_header_findings_well_formed(values: list[str]) -> None:
    found = header_findings(values, source=URL)
    assert bool(found) == bool(values)
    for f in found:
        assert f.signal is Signal.CONTENT_USAGE and f.where is Where.HEADER
        assert f.purposes <= {TRAIN, SEARCH}
        assert len(f.rule) <= 300
    stances = [f.stance for f in found]
    assert stances == [U] or U not in stances
