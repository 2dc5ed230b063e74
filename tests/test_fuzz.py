"""Property-based fuzzing of every parser, and of the evaluator end to end.

Each property feeds a parser what a hostile or broken server might send and
checks that it never raises, that what comes out is well-formed (findings with
valid enums, JSON-serialisable) and that it is consistent with itself. Time is
not left to Hypothesis's per-example deadline, which is noisy on shared
machines; instead the pathological inputs known to hurt naive parsers (nested
wildcards, a 500 KiB line, 10 000 groups, 5 MB of markup, deep JSON nesting, a
zip bomb) are run on their own and must finish within a fixed bound.

Two Hypothesis profiles: ``ci`` (the default: about a hundred examples per
property, a few seconds in all) and ``fuzz`` (many more, for maintainers);
choose with ``HYPOTHESIS_PROFILE=fuzz``. See ``docs/fuzzing.md``.
"""

from __future__ import annotations

import io
import json
import os
import time
import zipfile
from collections.abc import Callable, Iterable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scrapy_optout.policy.evaluate import Evaluator
from scrapy_optout.policy.snapshot import AI_TXT, ROBOTS_TXT, TDMREP_JSON, OriginPolicy, PolicyFile
from scrapy_optout.protocols import aipref, aitxt, content_signal, noai, robots, tdmrep
from scrapy_optout.protocols.html import MetaTag, head_meta
from scrapy_optout.protocols.patterns import compile_pattern, normalise_path
from scrapy_optout.verdict import Finding, Purpose, Signal, Stance, Where

settings.register_profile(
    "ci",
    max_examples=100,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "fuzz",
    max_examples=20_000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
PROFILE = settings.get_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
if PROFILE.max_examples < 100:  # Hypothesis's own "default" or a tiny profile: use ours
    PROFILE = settings.get_profile("ci")

#: Seconds any single pathological input may take (generous: shared CI runners).
BOUND = 5.0

ORIGIN = "https://example.com:443"
TOKENS = ["optout-test", "GPTBot", "googlebot", "*", "img2dataset", "Kangaroo Bot", ""]

# -- strategies ------------------------------------------------------------------------------

# Characters that mean something to at least one of the parsers.
SPECIAL = [*"*$%/?#:;,=\"'<>!-_. \t\r\n\\[]{}&()", "\x00", "\ufeff", "é", "ツ", "\ud7ff"]
chars = st.one_of(st.sampled_from(SPECIAL), st.characters(codec="utf-8"))
texts = st.text(chars, max_size=80)
short = st.text(chars, max_size=20)


def lines_of(keys: list[str]) -> st.SearchStrategy[str]:
    """Lines ``key: value`` (or near misses) with the keys a parser knows."""
    key = st.one_of(st.sampled_from(keys), short)
    sep = st.sampled_from([":", ": ", " ", "", "::", " : "])
    line = st.builds(lambda k, s, v: f"{k}{s}{v}", key, sep, texts)
    breaks = st.sampled_from(["\n", "\r\n", "\r", "\n\n"])
    return st.lists(st.tuples(line, breaks), max_size=30).map(
        lambda items: "".join(a + b for a, b in items)
    )


ROBOTS_KEYS = [
    "User-agent",
    "user-agent",
    "Allow",
    "Disallow",
    "disallow",
    "Content-Usage",
    "Content-Signal",
    "Sitemap",
    "crawl-delay",
    "useragent",
    "dissallow",
    "#",
]
robots_text = lines_of(ROBOTS_KEYS)
aitxt_text = lines_of(["User-Agent", "Allow", "Disallow", "Disallow-Training", "#"])


def as_body(text_strategy: st.SearchStrategy[str]) -> st.SearchStrategy[bytes]:
    """Structured text in several encodings (with and without a BOM), or raw bytes."""
    encodings = st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "latin-1", "cp1252"])
    encoded = st.builds(lambda t, e: t.encode(e, "replace"), text_strategy, encodings)
    return st.one_of(encoded, st.binary(max_size=400))


paths = st.text(
    st.one_of(st.sampled_from(list("/*$%?#;=&.~-_aA0ツ")), st.characters(codec="utf-8")),
    max_size=60,
)
urls = st.builds(lambda p: "https://example.com/" + p.lstrip("/"), paths)
tokens = st.one_of(st.sampled_from(TOKENS), short)
statuses = st.one_of(st.none(), st.integers(0, 999))
errors = st.one_of(
    st.none(), st.sampled_from(["timeout", "too many redirects (more than 5)", "reset"]), short
)
content_types = st.one_of(
    st.none(),
    st.sampled_from(
        [
            "text/html",
            "text/html; charset=utf-16",
            "text/plain; charset=utf-8",
            "application/json",
            "application/pdf",
            "application/epub+zip",
            "image/jpeg",
            "application/octet-stream",
            "",
        ]
    ),
    short,
)
header_values = st.lists(texts, max_size=5)
HEADER_NAMES = [
    "content-type",
    "x-robots-tag",
    "tdm-reservation",
    "tdm-policy",
    "content-usage",
    "content-signal",
    "location",
]
headers = st.dictionaries(st.one_of(st.sampled_from(HEADER_NAMES), short), header_values)

html_pieces = st.sampled_from(
    [
        "<meta",
        " name=",
        " content=",
        '"robots"',
        "'noai'",
        "noimageai",
        "tdm-reservation",
        '"1"',
        "<head>",
        "</head>",
        "<body>",
        "<!--",
        "-->",
        "<script>",
        "</script>",
        "<title>",
        "</title>",
        "<",
        ">",
        "/",
        "=",
        '"',
        "'",
        " ",
        "&amp;",
        "&#",
        "<meta charset=utf-16>",
        "<meta http-equiv=content-type content='text/html; charset=koi8-r'>",
    ]
)
html_text = st.lists(st.one_of(html_pieces, short), max_size=60).map("".join)
metas = st.lists(
    st.builds(
        MetaTag,
        name=st.one_of(st.sampled_from(["robots", "tdm-reservation", "tdm-policy"]), short),
        content=texts,
        attr=st.sampled_from(["name", "property", "http-equiv"]),
        in_head=st.booleans(),
    ),
    max_size=8,
)


# -- checks ----------------------------------------------------------------------------------


def check_findings(found: Iterable[Any]) -> list[Finding]:
    found = list(found)
    for finding in found:
        assert isinstance(finding, Finding)
        assert isinstance(finding.signal, Signal)
        assert isinstance(finding.where, Where)
        assert isinstance(finding.stance, Stance)
        assert finding.purposes and all(isinstance(p, Purpose) for p in finding.purposes)
        assert isinstance(finding.rule, str) and isinstance(finding.source, str)
        reason = finding.reason()
        assert set(reason) == {"signal", "where", "rule", "source"}
        json.dumps(finding.to_dict())
    return found


def timed(function: Callable[[], Any]) -> Any:
    started = time.monotonic()
    result = function()
    elapsed = time.monotonic() - started
    assert elapsed < BOUND, f"{elapsed:.2f} s"
    return result


# -- robots.txt ------------------------------------------------------------------------------


@PROFILE
@given(as_body(robots_text), urls, tokens, statuses, errors)
def test_robots_parse_and_evaluate(body, url, token, status, error):
    parsed = robots.RobotsTxt.parse(body)
    found = check_findings(
        robots.evaluate(
            parsed, url, status=status, error=error, token=token, source="https://e/robots.txt"
        )
    )
    assert all(
        f.signal in (Signal.ROBOTS, Signal.CONTENT_USAGE, Signal.CONTENT_SIGNAL) for f in found
    )
    # The same question gets the same answer (evaluate caches per file).
    again = robots.evaluate(
        parsed, url, status=status, error=error, token=token, source="https://e/robots.txt"
    )
    assert again == found
    assert isinstance(parsed.allowed(url, token or "x"), bool)
    if status is not None and 500 <= status < 600 and error is None:
        assert any(f.stance is Stance.RESERVE and Purpose.CRAWL in f.purposes for f in found)


@PROFILE
@given(robots_text)
def test_robots_str_and_bytes_agree(text):
    as_text = robots.RobotsTxt.parse(text)
    as_bytes = robots.RobotsTxt.parse(text.encode("utf-8", "surrogatepass"))
    assert len(as_text.groups) == len(as_bytes.groups)


# -- ai.txt ----------------------------------------------------------------------------------


@PROFILE
@given(as_body(aitxt_text), content_types, urls, tokens, statuses, errors)
def test_aitxt_parse_and_evaluate(body, content_type, url, token, status, error):
    parsed = aitxt.AiTxt.parse(body, content_type=content_type)
    assert parsed.error is None or isinstance(parsed.error, str)
    found = check_findings(
        aitxt.evaluate(parsed, url, status=status, error=error, token=token, source="s")
    )
    assert all(f.signal is Signal.AITXT and f.purposes == aitxt.PURPOSES for f in found)
    assert len(found) <= 1
    if parsed.error is not None:
        assert all(f.stance is Stance.UNKNOWN for f in found)


# -- TDMRep ----------------------------------------------------------------------------------

json_values = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-2, 2),
        st.floats(allow_nan=True),
        st.sampled_from(["/", "/*", "/a/*", "*", "https://x/", "1", "0", "", "/a$"]),
        texts,
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(
            st.one_of(st.sampled_from(["location", "tdm-reservation", "tdm-policy"]), short),
            inner,
            max_size=4,
        ),
    ),
    max_leaves=20,
)
tdmrep_bodies = st.one_of(
    json_values.map(lambda v: json.dumps(v).encode()),
    st.builds(lambda v, cut: json.dumps(v).encode()[:cut], json_values, st.integers(0, 200)),
    as_body(texts),
)


@PROFILE
@given(tdmrep_bodies, content_types, urls)
def test_tdmrep_file_parse_and_lookup(body, content_type, url):
    parsed = tdmrep.TdmrepFile.parse(body, content_type=content_type)
    assert parsed.error is None or isinstance(parsed.error, str)
    value = parsed.lookup(url, source="s")
    if value is not None:
        assert value.reservation in (None, 0, 1)
        assert value.where is Where.FILE
    check_findings(tdmrep.findings(value, file_error=parsed.error, source_file="s"))


@PROFILE
@given(headers, metas, st.binary(max_size=600), content_types)
def test_tdmrep_header_meta_document(hdrs, meta_list, body, content_type):
    values = [
        tdmrep.header_value(hdrs, source="s"),
        tdmrep.meta_value(meta_list, source="s"),
        tdmrep.document_value(body, content_type, source="s"),
    ]
    for value in values:
        assert value is None or value.reservation in (None, 0, 1)
    resolved = tdmrep.resolve(*values)
    check_findings(tdmrep.findings(resolved))


# -- noai, aipref, Content-Signal --------------------------------------------------------------


@PROFILE
@given(header_values, metas, tokens, st.booleans())
def test_noai(values, meta_list, token, is_image):
    check_findings(noai.xrobots_findings(values, token=token, is_image=is_image, source="s"))
    check_findings(noai.meta_findings(meta_list, token=token, is_image=is_image, source="s"))
    check_findings(noai.image_findings(values, meta_list, token=token, source="s"))


sf_pieces = st.sampled_from(
    ["train-ai", "search", "=", "y", "n", "?1", ";", ",", " ", '"', "ai", "bots", "train-genai"]
)
sf_text = st.one_of(texts, st.lists(st.one_of(sf_pieces, short), max_size=20).map("".join))


@PROFILE
@given(sf_text, st.lists(sf_text, max_size=4))
def test_aipref(value, values):
    parsed = aipref.parse_content_usage(value)
    assert parsed is None or all(v in ("y", "n") for v in parsed.values())
    found = check_findings(aipref.header_findings(values, source="s"))
    assert all(f.signal is Signal.CONTENT_USAGE for f in found)


cs_pieces = st.sampled_from(["search", "ai-input", "ai-train", "use", "=", "yes", "no", ",", " "])
cs_text = st.one_of(texts, st.lists(st.one_of(cs_pieces, short), max_size=20).map("".join))


@PROFILE
@given(cs_text, st.lists(cs_text, max_size=4))
def test_content_signal(value, values):
    parsed = content_signal.parse_content_signal(value)
    assert all(v in ("yes", "no") for v in parsed.values())
    found = check_findings(content_signal.findings(values, where=Where.HEADER, source="s"))
    assert all(f.signal is Signal.CONTENT_SIGNAL for f in found)


# -- HTML meta and path patterns ---------------------------------------------------------------


@PROFILE
@given(
    st.one_of(html_text.map(lambda t: t.encode("utf-8", "surrogatepass")), st.binary(max_size=500)),
    st.one_of(st.none(), st.sampled_from(["utf-8", "utf-16", "latin-1", "rot13", "idna"]), short),
    st.booleans(),
)
def test_head_meta(body, encoding, include_body):
    found = head_meta(body, encoding=encoding, include_body=include_body)
    for meta in found:
        assert isinstance(meta, MetaTag)
        assert meta.attr in ("name", "property", "http-equiv")
        assert meta.name == meta.name.strip().lower()
        assert include_body or meta.in_head
    assert head_meta(body, encoding=encoding, include_body=include_body, limit=0) == []


@PROFILE
@given(paths, paths)
def test_patterns(pattern, path):
    compiled = compile_pattern(pattern)
    assert isinstance(compiled.matches(path), bool)
    assert compiled.length >= 0
    normalised = normalise_path(path)
    assert normalise_path(normalised) == normalised
    if "*" not in pattern and "$" not in pattern and pattern.startswith("/"):
        assert compile_pattern(pattern).matches(pattern)


# -- the evaluator end to end on random bytes --------------------------------------------------


def policy_file(kind: str, status: int | None, body: bytes, error: str | None) -> PolicyFile:
    return PolicyFile(
        kind,
        f"https://example.com/{kind}",
        status,
        body,
        error=error,
        content_type="text/plain",
    )


@PROFILE
@given(
    st.tuples(statuses, as_body(robots_text), errors),
    st.tuples(statuses, as_body(aitxt_text), errors),
    st.tuples(statuses, tdmrep_bodies, errors),
    urls,
    headers,
    st.one_of(html_text.map(str.encode), st.binary(max_size=400)),
    st.booleans(),
)
def test_evaluator_stages(robots_spec, aitxt_spec, tdmrep_spec, url, hdrs, body, reserve):
    policy = OriginPolicy(
        ORIGIN,
        policy_file(ROBOTS_TXT, *robots_spec),
        policy_file(AI_TXT, *aitxt_spec),
        policy_file(TDMREP_JSON, *tdmrep_spec),
    )
    evaluator = Evaluator("optout-test/1.0", reserve_unknown=reserve)
    origin = evaluator.origin_stage(policy, url)
    after_headers = evaluator.headers_stage(origin, hdrs)
    final = evaluator.body_stage(after_headers, body, encoding="utf-8")
    for assessment in (origin, after_headers, final):
        check_findings(assessment.all_findings)
        check_findings(assessment.image_findings)
        json.dumps(assessment.evidence)
        for purpose in Purpose:
            verdict = assessment.verdict(purpose)
            assert verdict.reserved == bool(verdict.reasons)
    # Any reservation wins: a later stage never lifts one made by an earlier stage
    # (TDMRep's own overrides aside, which are pending until the final stage).
    for purpose in Purpose:
        earlier = {f for f in origin.findings if f.stance is Stance.RESERVE and f.bears_on(purpose)}
        assert earlier <= set(final.verdict(purpose).reasons)


# -- pathological inputs: bounded time ---------------------------------------------------------


def test_robots_nested_wildcards_bounded():
    rule = "Disallow: /*a*a*a*a*a*a*a*a*a*b\n"
    parsed = timed(lambda: robots.RobotsTxt.parse("User-agent: *\n" + rule * 15000))
    long_path = "https://example.com/" + "a" * 5000

    def evaluate_many() -> None:
        for n in range(20):
            robots.evaluate(
                parsed, f"{long_path}{n}", status=200, error=None, token="x", source="s"
            )

    timed(evaluate_many)


def test_robots_huge_line_many_groups_and_size_cap():
    huge_line = "User-agent: *\nDisallow: /" + "x" * 600_000 + "\nDisallow: /late\n"
    parsed = timed(lambda: robots.RobotsTxt.parse(huge_line))
    assert parsed.truncated
    groups = "".join(f"User-agent: bot{_letters(i)}\nDisallow: /\n" for i in range(10000))
    parsed = timed(lambda: robots.RobotsTxt.parse(groups + "User-agent: me\nDisallow: /p\n"))
    found = timed(
        lambda: robots.evaluate(
            parsed, "https://e/p", status=200, error=None, token="me", source="s"
        )
    )
    assert any(f.stance is Stance.RESERVE for f in found)


def _letters(number: int) -> str:
    """*number* in base 26, written with letters (product tokens hold no digits)."""
    out = ""
    while True:
        number, digit = divmod(number, 26)
        out = chr(97 + digit) + out
        if not number:
            return out


def test_patterns_many_stars_bounded():
    pattern = compile_pattern("/" + "*a" * 5000 + "b")
    assert not timed(lambda: pattern.matches("/" + "a" * 200_000))


def test_aitxt_large_and_pathological_bounded():
    body = ("User-Agent: *\n" + "Disallow: /*a*a*a*a*a*a*b\n" * 40000).encode()
    parsed = timed(lambda: aitxt.AiTxt.parse(body))
    timed(
        lambda: aitxt.evaluate(
            parsed, "https://e/" + "a" * 5000, status=200, error=None, token="x", source="s"
        )
    )


def test_tdmrep_deep_nesting_and_many_rules_bounded():
    deep = timed(lambda: tdmrep.TdmrepFile.parse(b"[" * 200_000 + b"]" * 200_000))
    assert deep.error
    rules = [{"location": f"/r{n}/*", "tdm-reservation": n % 2} for n in range(20000)]
    parsed = timed(lambda: tdmrep.TdmrepFile.parse(json.dumps(rules).encode()))
    timed(lambda: parsed.lookup("/zzz", source="s"))


def test_tdmrep_zip_bomb_bounded():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("mimetype", "application/epub+zip")
        archive.writestr(
            "META-INF/container.xml",
            '<container><rootfiles><rootfile full-path="p.opf"/></rootfiles></container>',
        )
        archive.writestr("p.opf", b"<package>" + b" " * 200_000_000)
    body = buffer.getvalue()
    assert len(body) < 1_000_000
    timed(lambda: tdmrep.document_value(body, "application/epub+zip", source="s"))


@pytest.mark.parametrize(
    "body",
    [
        b"<html><head><meta " + b"a=b " * 1_250_000,
        b"<html><head><!--" + b"-" * 5_000_000,
        b"<" * 5_000_000,
        b"<html><head>" + b'<meta name="x" content="' + b"z" * 5_000_000,
        b"<html><head>" + b'<meta name="x" content="y">' * 200_000,
        b"<script>" + b"</scrip" * 700_000,
    ],
    ids=["attributes", "comment", "angles", "open-quote", "many-metas", "script"],
)
def test_head_meta_bounded(body):
    timed(lambda: head_meta(body, include_body=True, limit=8 * 1024 * 1024))


def test_header_values_bounded():
    lines = ["noindex, nofollow, noarchive"] * 10_000 + ["optout-test: noai"]
    found = timed(
        lambda: noai.xrobots_findings(lines, token="optout-test", is_image=False, source="s")
    )
    assert found
    timed(lambda: aipref.header_findings(["train-ai=n, " * 20_000], source="s"))
    timed(
        lambda: content_signal.findings(["ai-train=no, " * 20_000], where=Where.HEADER, source="s")
    )
    timed(lambda: tdmrep.header_value({"tdm-reservation": ["1"] * 10_000}, source="s"))


def test_evaluator_on_huge_random_files_bounded():
    noise = bytes(range(256)) * 4096  # 1 MiB of every byte value
    policy = OriginPolicy(
        ORIGIN,
        policy_file(ROBOTS_TXT, 200, noise, None),
        policy_file(AI_TXT, 200, noise, None),
        policy_file(TDMREP_JSON, 200, noise, None),
    )
    evaluator = Evaluator("optout-test/1.0", reserve_unknown=True)
    origin = timed(lambda: evaluator.origin_stage(policy, "https://example.com/a"))
    headers_stage = evaluator.headers_stage(origin, {"content-type": ["text/html"]})
    final = timed(lambda: evaluator.body_stage(headers_stage, noise * 8))
    assert final.verdict(Purpose.TRAIN).reserved  # unreadable ai.txt and tdmrep.json
    assert not final.verdict(Purpose.CRAWL).reserved
