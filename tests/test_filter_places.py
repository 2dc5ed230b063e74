"""The dataset filter's origin of a record URL, remembered by the URL's prefix.

:class:`~scrapy_optout.frontends.filter.decide.Places` splits a URL once per
scheme-and-authority prefix as written: every later URL of that prefix gets the
same origin without being split. Whatever the URL, and in whatever order URLs
come, the answer must be the one a fresh split gives.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scrapy_optout.frontends.filter.decide import Places

URLS = [
    "https://example.org/a",
    "https://example.org",
    "https://example.org?q=1",
    "https://example.org#top",
    "https://EXAMPLE.org/a",
    "HTTPS://example.org/a",
    "Https://example.org/a",
    "http://example.org:80/a",
    "http://example.org:8080/a",
    "http://example.org:99999/a",
    "http://example.org:/a",
    "http://user:pass@example.org/a",
    "http://user@exa%6Dple.org/a",
    "http://[::1]:8000/a",
    "http://[::1/a",
    "http://::1]/a",
    "http://ex\tample.org/a",
    "http://example.org/a\tb",
    "http://example.org\n/a",
    "http:/example.org/a",
    "http:example.org",
    "http://",
    "http:///a",
    "ftp://example.org/a",
    "mailto:someone@example.org",
    "//example.org/a",
    "  https://example.org/a",
    "https://example.org./a",
    "https://xn--bcher-kva.example/a",
    "https://b\u00fccher.example/a",
    "https://example.org\\a",
    "https://example.org;x/a",
]


def _fresh(url: str) -> tuple[str | None, str | None]:
    return Places().origin(url)


@pytest.mark.parametrize("url", URLS)
def test_each_url_alone(url: str) -> None:
    places = Places()
    first = places.origin(url)
    assert places.origin(url) == first  # the second time from the remembered prefix
    assert first == Places()._split(url)


def test_urls_in_any_order_get_what_a_fresh_split_gives() -> None:
    places = Places()
    for url in URLS + URLS[::-1] + URLS:
        assert places.origin(url) == _fresh(url), url


#: Generated URLs: schemes in either case or none, separators right and wrong,
#: hosts with brackets, user info, non-ASCII letters or a tab, ports in and out
#: of range, then anything, the separators and the bytes urlsplit removes included.
_HOSTS = ["example.org", "EXAMPLE.org.", "[::1]", "[::1", "::1]", "u:p@example.org"]
_HOSTS += ["ex\tample.org", "b\u00fccher.example", ""]
GENERATED_URLS = st.builds(
    "{}{}{}{}{}".format,
    st.sampled_from(["http", "https", "HTTP", "Https", "ftp", ""]),
    st.sampled_from(["://", ":/", ":", "//", ""]),
    st.sampled_from(_HOSTS),
    st.sampled_from(["", ":8080", ":99999", ":", ":0"]),
    st.text(alphabet="/?#@[]:;\\\t\n a%", max_size=8),
)


@settings(max_examples=500, deadline=None)
@given(st.lists(GENERATED_URLS, min_size=1, max_size=6))
def test_generated_urls_get_what_a_fresh_split_gives(urls: list[str]) -> None:
    places = Places()
    for url in urls + urls:
        assert places.origin(url) == _fresh(url), url
