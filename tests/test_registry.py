"""Tests for opt-out registries, :mod:`scrapy_optout.protocols.registry`."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scrapy_optout.protocols.registry import DEFAULT_PURPOSES, Registry, unavailable
from scrapy_optout.verdict import Purpose, Signal, Stance, Where, decide

FIXTURES = Path(__file__).parent.parent / "fixtures" / "registry"
FOO = hashlib.sha256(b"foo").hexdigest()


@pytest.fixture(params=["example.jsonl", "example.csv"])
def example(request: pytest.FixtureRequest) -> Registry:
    registry = Registry()
    assert registry.load_path(FIXTURES / request.param) == 3
    assert registry.skipped == {}
    return registry


def test_both_formats_read_alike(example: Registry) -> None:
    (alice,) = example.match_url("https://photos.example/alice/cat.jpg")
    assert alice.kind == "url"
    assert alice.purposes == DEFAULT_PURPOSES
    assert (alice.declared_by, alice.declared_at, alice.lineno) == (
        "Alice Example",
        "2026-03-14",
        1 if alice.source.endswith(".jsonl") else 2,
    )
    (bob,) = example.match_url("https://www.bob-illustrations.example/gallery")
    assert bob.purposes == {Purpose.TRAIN, Purpose.TDM, Purpose.INPUT, Purpose.SEARCH}
    (digest,) = example.match_sha256(FOO.upper())
    assert digest.purposes == {Purpose.TRAIN}
    assert digest.declared_at == ""


@pytest.mark.parametrize(
    ("url", "declared"),
    [
        ("https://photos.example/alice/", True),
        ("https://photos.example/alice/2026/cat.jpg?w=200", True),
        # The scheme does not matter, host case and default ports do not either.
        ("http://PHOTOS.example:80/alice/cat.jpg", True),
        ("https://photos.example:443/alice/cat.jpg", True),
        ("https://photos.example:8443/alice/cat.jpg", False),
        # Escapes compare canonically; every reading a server could give counts.
        ("https://photos.example/%61lice/cat.jpg", True),
        ("https://photos.example/bob/../alice/cat.jpg", True),
        ("https://photos.example//alice/cat.jpg", True),
        # A text prefix: "/alice/" does not cover "/alice" or "/alicex/".
        ("https://photos.example/alice", False),
        ("https://photos.example/alicex/cat.jpg", False),
        ("https://www.photos.example/alice/cat.jpg", False),
        # Domains cover their subdomains, not look-alikes.
        ("https://bob-illustrations.example/", True),
        ("https://a.b.bob-illustrations.example:8080/x", True),
        ("https://notbob-illustrations.example/", False),
        ("https://bob-illustrations.example.evil.example/", False),
        ("not a url", False),
        ("ftp://bob-illustrations.example/", False),
    ],
)
def test_url_matching(example: Registry, url: str, declared: bool) -> None:
    assert bool(example.match_url(url)) is declared


def test_findings_quote_the_declaration(example: Registry) -> None:
    url = "https://photos.example/alice/cat.jpg"
    found = example.findings(url, sha256=FOO)
    assert [f.signal for f in found] == [Signal.REGISTRY, Signal.REGISTRY]
    alice, digest = found
    assert alice.where is Where.REGISTRY
    assert alice.stance is Stance.RESERVE
    assert alice.purposes == DEFAULT_PURPOSES
    assert alice.source.endswith(("example.jsonl", "example.csv"))
    if alice.source.endswith(".jsonl"):
        assert alice.rule == (FIXTURES / "example.jsonl").read_text().splitlines()[0]
        line = 1
    else:
        assert alice.rule == "https://photos.example/alice/,,,,Alice Example,2026-03-14"
        line = 2
    assert alice.detail == (
        f"declared by Alice Example on 2026-03-14 (line {line}): URL prefix "
        f"https://photos.example/alice/ covers {url}"
    )
    assert digest.detail.startswith("declared by Collective Example (line ")
    assert digest.detail.endswith(f"SHA-256 {FOO.upper()} covers the body of {url}")
    assert decide(found, "train").reserved
    assert not decide(found, "search").reserved


def test_invalid_lines_are_skipped_and_counted() -> None:
    lines = [
        '{"url": "https://a.example/"}',
        "not json",
        "[1, 2]",
        "",
        "# a comment",
        '{"declared_by": "nobody"}',
        '{"url": "https://a.example/", "domain": "a.example"}',
        '{"url": "/relative"}',
        '{"url": 5}',
        '{"domain": "bad..example"}',
        '{"domain": "-bad.example"}',
        '{"sha256": "abc"}',
        '{"domain": "b.example", "purposes": "train; painting"}',
        '{"domain": "c.example", "purposes": ["painting"]}',
        '{"domain": "d.example", "purposes": 5}',
        '{"domain": "Ünicode.example", "purposes": "search,crawl"}',
        '{"url": "https://[::1]:8080/x"}',
    ]
    registry = Registry()
    assert registry.load("\n".join(lines).encode(), source="r.jsonl") == 4
    assert registry.skipped == {
        "not valid JSON": 1,
        "not a JSON object": 1,
        "none of url, domain, sha256": 1,
        "more than one of url, domain, sha256": 1,
        "invalid url": 1,
        "url is not a string": 1,
        "invalid domain": 2,
        "invalid sha256": 1,
        "unknown purpose 'painting' ignored": 1,
        "no known purpose": 1,
        "purposes is neither a list nor a string": 1,
    }
    assert registry.examples["invalid domain"] == ["r.jsonl:10", "r.jsonl:11"]
    (b,) = registry.match_url("https://b.example/")
    assert b.purposes == {Purpose.TRAIN}
    (u,) = registry.match_url("https://xn--nicode-2ya.example/")
    assert u.purposes == {Purpose.SEARCH, Purpose.CRAWL}
    assert registry.match_url("http://[::1]:8080/x/y")


def test_csv_quirks() -> None:
    data = (
        "\ufeffURL,Purposes,Declared_By,extra\n"
        '"https://a.example/x,y/","train, tdm","Someone, Ltd",ignored\n'
        "https://b.example/,,,,too,many\n"
        "\n"
    ).encode()
    registry = Registry()
    assert registry.load(data, source="r.csv") == 1
    assert registry.skipped == {"more fields than the header names": 1}
    (a,) = registry.match_url("https://a.example/x,y/z")
    assert a.declared_by == "Someone, Ltd"
    assert a.purposes == {Purpose.TRAIN, Purpose.TDM}
    bad = Registry()
    assert bad.load(b"name,age\nx,1\n", source="r.csv") == 0
    assert bad.skipped == {"CSV header names none of url, domain, sha256": 1}


def test_format_guessed_from_content(tmp_path: Path) -> None:
    path = tmp_path / "registry.txt"
    path.write_text('{"domain": "a.example"}\n')
    registry = Registry()
    assert registry.load_path(path) == 1
    assert registry.match_url("https://x.a.example/")[0].source == str(path)


def test_a_bad_line_does_not_spoil_the_fast_path() -> None:
    good = [json.dumps({"domain": f"d{i}.example"}) for i in range(50)]
    registry = Registry()
    assert registry.load("\n".join([*good, "{broken", *good]).encode(), source="r") == 100
    assert registry.skipped == {"not valid JSON": 1}


def test_unavailable_registry_is_unknown() -> None:
    finding = unavailable("https://registry.example/optouts.jsonl", "HTTP 503")
    assert finding.stance is Stance.UNKNOWN
    assert finding.where is Where.REGISTRY
    assert finding.detail == "registry not available (HTTP 503)"
    assert not decide([finding], "train").reserved


def test_scale() -> None:
    """Many declarations under few hosts: lookups walk the path, not the registry."""
    lines = [
        json.dumps({"url": f"https://h{i % 100}.example/works/{i}/", "declared_by": f"d{i % 7}"})
        for i in range(100_000)
    ]
    lines += [json.dumps({"domain": f"site{i}.example"}) for i in range(50_000)]
    registry = Registry()
    assert registry.load("\n".join(lines).encode(), source="big.jsonl") == 150_000
    (hit,) = registry.match_url("https://h42.example/works/99942/page.html")
    assert hit.lineno == 99943
    assert registry.match_url("https://h42.example/works/99943/") == []
    assert registry.match_url("https://www.site49999.example/")[0].key == "site49999.example"
    # Declarers are interned: one string per name however many lines carry it.
    names = {id(d.declared_by) for d in registry.match_url("https://h1.example/works/1/")}
    names |= {id(d.declared_by) for d in registry.match_url("https://h8.example/works/8/")}
    assert len(names) == 1


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=2000), st.sampled_from(["jsonl", "csv", None]))
def test_arbitrary_bytes_never_raise(data: bytes, fmt: str | None) -> None:
    registry = Registry()
    loaded = registry.load(data, source="fuzz", format=fmt)  # type: ignore[arg-type]
    assert loaded == len(registry)
    registry.match_url("https://a.example/x")
    registry.findings("https://a.example/x", sha256=FOO)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_arbitrary_urls_never_raise(url: str) -> None:
    registry = Registry()
    registry.load(b'{"domain": "a.example"}\n{"url": "https://b.example/"}', source="r")
    registry.match_url(url)


def test_readme_examples_load() -> None:
    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    section = readme.split("### Opt-out registries", 1)[1].split("\n## ", 1)[0]
    jsonl, csv_text = section.split("```\n")[1::2]
    for text, fmt in ((jsonl, "jsonl"), (csv_text, "csv")):
        registry = Registry()
        assert registry.load(text.encode(), source="README", format=fmt) == 3  # type: ignore[arg-type]
        assert registry.skipped == {}
        assert registry.match_url("http://photos.example/alice/cat.jpg")
        assert registry.match_url("https://www.bob-illustrations.example/")
        assert registry.match_sha256(FOO)
