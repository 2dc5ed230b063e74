"""The response headers the signals read, as the middleware hands them to the evaluator."""

from __future__ import annotations

from scrapy.http import Headers

from scrapy_optout.scrapy.headers import header_lists


def test_signal_headers_are_decoded_with_the_content_type() -> None:
    headers = Headers(
        {
            "Content-Type": "text/html; charset=utf-8",
            "X-Robots-Tag": ["noai", "otherbot: noimageai"],
            "TDM-Reservation": "1",
            "Server": "nginx",
        }
    )
    assert header_lists(headers) == {
        "content-type": ["text/html; charset=utf-8"],
        "x-robots-tag": ["noai", "otherbot: noimageai"],
        "tdm-reservation": ["1"],
    }


def test_responses_without_a_signal_header_share_one_answer_per_content_type() -> None:
    first = header_lists(Headers({"Content-Type": "text/html", "Server": "a"}))
    second = header_lists(Headers({"Content-Type": "text/html", "Date": "today"}))
    other = header_lists(Headers({"Content-Type": "image/png"}))
    assert first == {"content-type": ["text/html"]}
    assert second is first
    assert other == {"content-type": ["image/png"]}
    assert header_lists(Headers({})) == {}


def test_a_signal_header_gets_a_fresh_answer() -> None:
    shared = header_lists(Headers({"Content-Type": "text/html"}))
    own = header_lists(Headers({"Content-Type": "text/html", "Content-Usage": "train-ai=n"}))
    assert own == {"content-type": ["text/html"], "content-usage": ["train-ai=n"]}
    assert shared == {"content-type": ["text/html"]}


def test_headers_other_than_scrapys_are_read_whole() -> None:
    raw = {b"X-Robots-Tag": [b"noai"], b"Content-Type": [b"text/plain"]}
    assert header_lists(raw) == {"x-robots-tag": ["noai"], "content-type": ["text/plain"]}  # type: ignore[arg-type]
