"""Robots-style path patterns: RFC 9309 matching and percent-encoding rules."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scrapy_optout.protocols.patterns import Pattern, compile_pattern, normalise_path

# These properties are about outcomes, not speed on a loaded CI machine.
_NO_DEADLINE = settings(deadline=None)


@pytest.mark.parametrize(
    ("pattern", "path", "expected"),
    [
        # prefix semantics and case
        ("/docs", "/docs2/x", True),
        ("/docs/", "/docs", False),
        ("/fish", "/fish.html", True),
        ("/fish", "/Fish", False),
        ("/fish", "/catfish", False),
        ("/fish*", "/fish", True),  # a trailing star changes nothing
        ("/", "/anything/at/all", True),
        ("fish", "/fish", False),  # no leading "/" or "*": can never match
        # "*" and "$"
        ("/*.pdf$", "/a/b.pdf", True),
        ("/*.pdf$", "/a/b.PDF", False),
        ("/*.pdf$", "/a/b.pdf?dl=1", False),  # "$" anchors at the end of path + query
        ("/*.php$", "/index.php5", False),
        ("/this/*/then", "/this/a/b/then/x", True),
        ("/this/path/exactly$", "/this/path/exactly", True),
        ("/this/path/exactly$", "/this/path/exactly/more", False),
        ("/$", "/", True),
        ("/$", "/index.html", False),
        ("/a*$", "/abc", True),
        ("/a$", "/a#top", True),  # the fragment is not part of the path
        ("/x$y", "/x$y", True),  # "$" before the end is literal
        ("/x$y", "/x", False),
        ("/x$y", "/x%24y", True),
        ("*.jpg", "/a/b.jpg", True),  # ai.txt style: no leading "/"
        ("*.jpg", "/a/b.jpg?w=200", True),
        ("*.jpg", "/a/b.jpgx", True),
        ("*.jpg", "/a/b.JPG", False),
        ("/*a*a*a*a*a*b", "/" + "a" * 50 + "b", True),
        ("/*a*a*a*a*a*b", "/" + "a" * 50, False),
        # escaped "*" and "$" are literal characters
        ("/path/foo-%24", "/path/foo-$", True),
        ("/path/foo-%24", "/path/foo-%24", True),
        ("/path/foo-%24", "/path/foo-", False),
        ("/a%2A", "/a*", True),
        ("/a%2a", "/a%2A", True),
        ("/a%2A", "/ab", False),
        # RFC 9309 §2.2.2 percent-encoding normalisation
        ("/abc", "/%61bc", True),  # unreserved escapes are decoded in the URL...
        ("/%61bc", "/abc", True),  # ...and in the pattern
        ("/%7Euser", "/~user", True),
        # Reserved characters compare alike escaped or not (RFC 9309 figure 4 as one
        # path); this used to keep "%2F" apart from "/", but servers resolve it.
        ("/a/b", "/a%2Fb", True),
        ("/a%2Fb", "/a/b", True),
        ("/pc:", "/pc%3A", True),
        ("/pc%3a", "/pc:", True),
        ("/foo/bar?baz=https://foo.bar", "/foo/bar?baz=https%3A%2F%2Ffoo.bar", True),
        ("/private/", "/privateer", False),
        ("/private/", "/private%2Fx", True),
        ("/a%2fb", "/a%2Fb", True),  # hex digits compare case-insensitively
        ("/p%C3%A9", "/pé", True),  # non-ASCII compares as UTF-8 octets
        ("/pé", "/p%C3%A9", True),
        ("/pé", "/p%c3%a9", True),
        ("/caf%C3%A9/", "/café/x", True),
        ("/a b", "/a%20b", True),
        ("/100%", "/100%25", True),  # a lone "%" is a literal percent sign
        # whole URLs are reduced to path + query
        ("/", "https://example.com", True),
        ("/?q", "https://example.com?q", True),
        ("/a?b=1", "https://example.com:8443/a?b=1#frag", True),
        ("/A", "https://example.com/a", False),
    ],
)
def test_matches(pattern: str, path: str, expected: bool) -> None:
    assert compile_pattern(pattern).matches(path) is expected


@pytest.mark.parametrize(
    ("given_", "expected"),
    [
        ("", "/"),
        ("/", "/"),
        ("https://example.com", "/"),
        ("https://example.com#top", "/"),
        ("https://example.com?q=1", "/?q=1"),
        ("https://Example.COM:8080/a/b?c=d#frag", "/a/b?c=d"),
        ("http://[::1]:8080/x", "/x"),
        ("/a;p?q", "/a;p?q"),
        ("/caf%c3%a9", "/caf%C3%A9"),
        ("/café", "/caf%C3%A9"),
        ("/%7Euser/%41", "/~user/A"),
        ("/a%2fb", "/a/b"),
        ("/a%3Fb?x=%26", "/a?b?x=&"),
        ("/a%23b", "/a%23b"),  # "#" stays escaped: unescaped it would end the path
        ("/a%25b", "/a%25b"),  # so does "%"
        ("/a%7Bb%7d", "/a%7Bb%7D"),  # characters that may not stand in a URI stay escaped
        ("/a{b}", "/a%7Bb%7D"),
        ("/a\\b", "/a%5Cb"),
        ("path", "/path"),
        ("/%2A%24", "/*$"),
        ("/100%", "/100%25"),
        ("/%zz", "/%25zz"),
        ("/a b", "/a%20b"),
        ("/\u2603", "/%E2%98%83"),
    ],
)
def test_normalise_path(given_: str, expected: str) -> None:
    assert normalise_path(given_) == expected


@pytest.mark.parametrize(
    ("pattern", "length"),
    [("/", 1), ("/a*b$", 5), ("/%61", 2), ("/p%C3%A9", 8), ("/pé", 8), ("*.jpg", 5), ("", 0)],
)
def test_length_counts_the_canonical_pattern(pattern: str, length: int) -> None:
    assert compile_pattern(pattern).length == length


def test_empty_pattern_matches_nothing() -> None:
    pattern = compile_pattern("  ")
    assert not pattern.matches("/")
    assert not pattern.matches("")


def test_compiled_patterns_are_cached() -> None:
    assert compile_pattern("/cached/*.x") is compile_pattern("/cached/*.x")
    assert isinstance(compile_pattern("/cached/*.x"), Pattern)


def test_pathological_pattern_on_a_long_path() -> None:
    # A backtracking matcher needs time exponential in the number of stars here.
    pattern = compile_pattern("/" + "*a" * 40 + "*b")
    path = "/" + "a" * 200_000
    assert not pattern.matches(path)
    assert compile_pattern("/" + "*a" * 40 + "*b$").matches(path + "b")
    assert not compile_pattern("/" + "*a" * 40 + "*b$").matches(path + "bc")


# -- properties ------------------------------------------------------------------------------------

_any_text = st.text(st.characters(codec="utf-8"), max_size=60)


def _reference(pattern: str, path: str) -> bool:
    """Translate a pattern over a tiny alphabet into a regular expression."""
    anchored = pattern.endswith("$")
    body = pattern[:-1] if anchored else pattern
    regex = "".join(".*" if char == "*" else re.escape(char) for char in body)
    return re.match(regex + ("$" if anchored else ""), path, re.DOTALL) is not None


@_NO_DEADLINE
@given(pattern=st.text("ab/$*", max_size=12), path=st.text("ab/$", max_size=16))
def test_agrees_with_a_regex_reference(pattern: str, path: str) -> None:
    path = "/" + path
    if not pattern.strip():
        assert not compile_pattern(pattern).matches(path)
    else:
        assert compile_pattern(pattern).matches(path) is _reference(pattern, path)


@_NO_DEADLINE
@given(pattern=_any_text, path=_any_text)
def test_matching_never_raises(pattern: str, path: str) -> None:
    assert compile_pattern(pattern).matches(path) in (True, False)


@_NO_DEADLINE
@given(_any_text)
def test_normalising_is_idempotent(text: str) -> None:
    once = normalise_path(text)
    assert normalise_path(once) == once
    assert once.startswith("/") or not text.startswith("/")


@settings(deadline=None, max_examples=30)
@given(
    stars=st.integers(min_value=1, max_value=60),
    letter=st.sampled_from("ab"),
    size=st.integers(min_value=1_000, max_value=100_000),
)
def test_many_stars_against_long_paths_complete(stars: int, letter: str, size: int) -> None:
    pattern = compile_pattern("/" + f"*{letter}" * stars + "*c")
    assert not pattern.matches("/" + "ab" * (size // 2))
