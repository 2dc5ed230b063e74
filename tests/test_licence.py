"""Tests for licence and payment answers, :mod:`scrapy_optout.protocols.licence`."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scrapy_optout.protocols.licence import (
    licence_findings,
    parse_challenges,
    robots_answer_detail,
)
from scrapy_optout.verdict import ALL_PURPOSES, Purpose, Signal, Stance, Where, decide

PAGE = "https://news.example/story"


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["License"], [("license", {}, "")]),
        (['LICENSE realm="rsl"'], [("license", {"realm": "rsl"}, "")]),
        # Several challenges in one value; commas also separate parameters.
        (
            ['Basic realm="x", License realm="news", server="https://l.example/token"'],
            [
                ("basic", {"realm": "x"}, ""),
                ("license", {"realm": "news", "server": "https://l.example/token"}, ""),
            ],
        ),
        # Several field lines; a token68; quoted values with escapes and commas.
        (
            ["Bearer abc.DEF==", 'License error="invalid_token", error_description="a, \\"b\\""'],
            [
                ("bearer", {}, "abc.DEF=="),
                ("license", {"error": "invalid_token", "error_description": 'a, "b"'}, ""),
            ],
        ),
        # Parameter names are case-insensitive; the first occurrence counts.
        (["License Realm=a, REALM=b"], [("license", {"realm": "a"}, "")]),
        # Junk is skipped up to the next comma.
        ([', , "unbalanced, License'], [("license", {}, "")]),
        ([""], []),
    ],
)
def test_parse_challenges(
    values: list[str], expected: list[tuple[str, dict[str, str], str]]
) -> None:
    assert [(c.scheme, dict(c.params), c.token68) for c in parse_challenges(values)] == expected


@pytest.mark.parametrize(
    ("status", "headers", "rule"),
    [
        (
            401,
            {"WWW-Authenticate": ["License"]},
            "HTTP 401 Unauthorized; WWW-Authenticate: License",
        ),
        (
            401,
            {"www-authenticate": ['Basic realm="x", license realm="news"']},
            'HTTP 401 Unauthorized; WWW-Authenticate: license realm="news"',
        ),
        (
            401,
            {"WWW-Authenticate": ["Basic realm=x"], "Www-Authenticate": ["License"]},
            "HTTP 401 Unauthorized; WWW-Authenticate: License",
        ),
        (402, {}, "HTTP 402 Payment Required"),
        (
            402,
            {"Crawler-Price": ["USD 0.01"]},
            "HTTP 402 Payment Required; crawler-price: USD 0.01",
        ),
    ],
)
def test_licence_and_payment_answers_reserve_everything(
    status: int, headers: dict[str, list[str]], rule: str
) -> None:
    (finding,) = licence_findings(status, headers, source=PAGE)
    assert finding.signal is Signal.LICENCE
    assert finding.where is Where.HEADER
    assert finding.stance is Stance.RESERVE
    assert finding.purposes == ALL_PURPOSES
    assert finding.rule == rule
    assert finding.source == PAGE
    assert "reserved for every purpose" in finding.detail
    for purpose in Purpose:
        assert decide([finding], purpose).reserved


@pytest.mark.parametrize(
    ("status", "headers"),
    [
        (401, {"WWW-Authenticate": ['Basic realm="members"']}),
        (401, {}),
        (403, {"cf-mitigated": ["challenge"]}),
        (200, {"crawler-charged": ["USD 0.01"]}),
        (404, {}),
    ],
)
def test_other_answers_are_no_licence_signal(status: int, headers: dict[str, list[str]]) -> None:
    assert licence_findings(status, headers, source=PAGE) == []


def test_strict_about_argument_types() -> None:
    with pytest.raises(TypeError):
        licence_findings("402", {}, source=PAGE)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("status", "headers", "detail"),
    [
        (
            402,
            {"crawler-price": ["USD 0.01"]},
            "robots.txt answered 402 Payment Required (crawler-price: USD 0.01): "
            "RFC 9309 treats it as unavailable, everything allowed",
        ),
        (
            401,
            {"WWW-Authenticate": ['License realm="x"']},
            'robots.txt answered 401 Unauthorized (WWW-Authenticate: License realm="x"): '
            "RFC 9309 treats it as unavailable, everything allowed",
        ),
        (
            403,
            {},
            "robots.txt answered 403 Forbidden: RFC 9309 treats it as unavailable, "
            "everything allowed",
        ),
        (404, {}, None),
        (500, {}, None),
    ],
)
def test_robots_answer_detail(
    status: int, headers: dict[str, list[str]], detail: str | None
) -> None:
    assert robots_answer_detail(status, headers) == detail


@settings(max_examples=400, deadline=None)
@given(
    st.lists(
        st.text(alphabet=st.sampled_from('License Basic =",;\\ abc\t'), max_size=60), max_size=4
    )
)
def test_challenge_parsing_never_raises(values: list[str]) -> None:
    for challenge in parse_challenges(values):
        assert challenge.scheme == challenge.scheme.lower()
        assert challenge.scheme
    licence_findings(401, {"WWW-Authenticate": values}, source=PAGE)
