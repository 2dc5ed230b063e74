"""The indexed rule matcher of robots.txt groups picks the rule a plain scan picks.

:class:`scrapy_optout.protocols.robots.Group` splits its rules into buckets of
plain prefixes, short prefixes and wildcard patterns to match quickly; the
winner must still be the first matching rule in RFC 9309 order (longest
pattern, ``allow`` before ``disallow`` on a tie, then file order). Checked here
against that plain scan, over real files and generated ones.
"""

from __future__ import annotations

import base64
import gzip
import json
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from scrapy_optout.protocols.patterns import normalise_path
from scrapy_optout.protocols.robots import Group, RobotsTxt, Rule

CORPUS = Path(__file__).parent.parent / "fixtures/corpora/protego-robotstxt-2019/robotstxt.jsonl.gz"


def _scan(group: Group, path: str) -> Rule | None:
    ordered = sorted(
        (r for r in group.rules if r.pattern.length),
        key=lambda r: (-r.pattern.length, not r.allow),
    )
    for rule in ordered:
        if rule.pattern._matches_normalised(path):
            return rule
    return None


def _paths(group: Group) -> list[str]:
    paths = ["/", "/a", "/index.html", "/search?q=1", "/wp-admin/x.php", "/robots.txt"]
    for rule in group.rules:
        concrete = rule.pattern.text.strip().rstrip("$").replace("*", "x") or "/"
        paths += [concrete, concrete + "y", concrete[:-1] or "/", concrete + "/z.php?x=1"]
    return [normalise_path(p) for p in paths]


def test_matches_like_a_scan_over_the_2019_corpus() -> None:
    with gzip.open(CORPUS, "rt", encoding="utf-8") as handle:
        records = [json.loads(line) for line in handle]
    checked = 0
    for record in records[::25]:
        body = (
            record["body"].encode()
            if record["body"] is not None
            else base64.b64decode(record["body_base64"])
        )
        for group in RobotsTxt.parse(body).groups:
            for path in _paths(group):
                assert group._match_path(path) is _scan(group, path), (record["domain"], path)
                checked += 1
    assert checked > 3_000


PIECES = ["/", "a", "ab", "abc", "abcd", "/abcd", "/ab", "x", "*", "$", "?", "=", ".php", "%41"]
lines = st.tuples(
    st.booleans(), st.lists(st.sampled_from(PIECES), min_size=0, max_size=6).map("".join)
)


@settings(max_examples=500, deadline=None)
@given(st.lists(lines, max_size=25), st.lists(st.lists(st.sampled_from(PIECES), max_size=8)))
def test_matches_like_a_scan_on_generated_groups(
    rules: list[tuple[bool, str]], paths: list[list[str]]
) -> None:
    text = "User-agent: *\n" + "".join(
        f"{'Allow' if allow else 'Disallow'}: {pattern}\n" for allow, pattern in rules
    )
    robots = RobotsTxt.parse(text)
    if not robots.groups:
        return
    group = robots.groups[0]
    for pieces in [*paths, ["/"], ["/abcd", "x"]]:
        path = normalise_path("/" + "".join(pieces).lstrip("/"))
        assert group._match_path(path) is _scan(group, path)
