"""OptOutMiddleware's hooks called one at a time, on canned policies and responses."""

from __future__ import annotations

import gc
import weakref
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from scrapy import Request, signals
from scrapy.crawler import Crawler
from scrapy.exceptions import StopDownload
from scrapy.http import Headers, HtmlResponse, Response

from scrapy_optout.scrapy.exceptions import InvalidOptOutMeta
from scrapy_optout.scrapy.middleware import OptOutMiddleware, RefusedScheme, ReservedContent
from scrapy_optout.scrapy.signals import content_excluded
from scrapy_optout.scrapy.spidermw import OptOutSpiderMiddleware
from unit.support import lines, run

RESERVED = "http://example.com/private/a"
ALLOWED = "http://example.com/page"
NOAI_PAGE = b'<html><head><meta name="robots" content="noai"><title>t</title></head></html>'

MakeCrawler = Callable[..., Crawler]


def _middleware(make_crawler: MakeCrawler, **settings: Any) -> OptOutMiddleware:
    return OptOutMiddleware.from_crawler(make_crawler(**settings))


def _html(request: Request, body: bytes = b"<html><head></head></html>") -> HtmlResponse:
    return HtmlResponse(
        request.url, body=body, headers={"Content-Type": "text/html"}, request=request
    )


def _stat(middleware: OptOutMiddleware, name: str) -> Any:
    assert middleware.crawler.stats is not None
    return middleware.crawler.stats.get_value(f"optout/{name}")


def test_origin_stage_reservation_is_recorded_before_the_request_is_dropped(
    make_crawler: MakeCrawler, ledger: Path
) -> None:
    middleware = _middleware(make_crawler)
    seen: list[tuple[dict[str, Any], int]] = []

    def on_excluded(record: dict[str, Any], request: Request, item: Any) -> None:
        seen.append((record, len(lines(ledger))))

    middleware.crawler.signals.connect(on_excluded, signal=content_excluded)
    with pytest.raises(ReservedContent) as caught:
        run(middleware.process_request(Request(RESERVED)))
    [line] = lines(ledger)
    assert line["stage"] == "origin" and line["verdict"] == "reserved"
    assert (line["url"], line["mode"], line["spider"]) == (RESERVED, "enforce", "unit")
    assert line["reasons"][0]["signal"] == "robots.txt"
    assert line["reasons"][0]["rule"] == "Disallow: /private/"
    # The signal came with the line already written, and its record is that line.
    assert seen == [(line, 1)]
    assert caught.value.record.to_dict() == line
    assert _stat(middleware, "excluded_stage/origin") == 1


def test_an_allowed_request_goes_on(make_crawler: MakeCrawler, ledger: Path) -> None:
    middleware = _middleware(make_crawler)
    assert run(middleware.process_request(Request(ALLOWED))) is None
    assert lines(ledger) == []
    assert _stat(middleware, "requests_checked") == 1
    assert middleware.crawler.asked == ["http://example.com:80"]  # type: ignore[attr-defined]


def test_measure_mode_records_one_line_per_url_and_stage(
    make_crawler: MakeCrawler, ledger: Path
) -> None:
    middleware = _middleware(make_crawler, OPTOUT_MODE="measure")
    for _ in range(2):
        request = Request(RESERVED)
        assert run(middleware.process_request(request)) is None
        response = _html(request)
        assert run(middleware.process_response(request, response)) is response
        assert request.meta["optout"]["verdict"] == "reserved"
    [line] = lines(ledger)
    assert (line["stage"], line["verdict"], line["mode"]) == ("origin", "reserved", "measure")
    assert line["status"] == 200
    assert _stat(middleware, "excluded_count") is None


def test_the_result_in_meta_of_an_allowed_page_is_left_alone_by_the_collector(
    make_crawler: MakeCrawler, ledger: Path
) -> None:
    # It lives as long as the request and its response, which only the
    # garbage collector frees: for an allowed page it holds nothing it tracks.
    middleware = _middleware(make_crawler)
    request = Request(ALLOWED)
    run(middleware.process_request(request))
    run(middleware.process_response(request, _html(request)))
    result = request.meta["optout"]
    assert result == {"purpose": "train", "verdict": "allowed", "reasons": (), "image_reasons": ()}
    assert not gc.is_tracked(result)
    measured = _middleware(make_crawler, OPTOUT_MODE="measure")
    request = Request(ALLOWED)
    run(measured.process_request(request))
    run(measured.process_response(request, _html(request, NOAI_PAGE)))
    result = request.meta["optout"]
    assert result["verdict"] == "reserved"
    assert isinstance(result["reasons"], tuple) and result["reasons"]
    assert set(result["reasons"][0]) == {"signal", "where", "rule", "source"}


def test_the_headers_signal_reaches_the_middleware_while_it_lives(
    make_crawler: MakeCrawler, ledger: Path
) -> None:
    # Sent the way Scrapy's HTTP handler sends it: the dispatcher holds its
    # receivers weakly, so the middleware keeps its own alive, and nothing
    # the dispatcher holds keeps the middleware alive.
    crawler = make_crawler()
    middleware = OptOutMiddleware.from_crawler(crawler)
    gc.collect()
    request = Request(ALLOWED)
    run(middleware.process_request(request))
    headers = Headers({"tdm-reservation": "1", "Content-Type": "application/json"})
    results = crawler.signals.send_catch_log(
        signals.headers_received,
        headers=headers,
        body_length=0,
        request=request,
        spider=crawler.spider,
    )
    [(receiver, failure)] = results
    assert receiver is middleware._on_headers
    assert isinstance(failure.value, StopDownload)
    [line] = lines(ledger)
    assert (line["stage"], line["verdict"]) == ("headers", "reserved")
    gone = weakref.ref(middleware)
    del middleware, results, receiver, failure  # (the failure's traceback holds frames)
    gc.collect()
    assert gone() is None
    assert (
        crawler.signals.send_catch_log(
            signals.headers_received, headers=headers, body_length=0, request=Request(ALLOWED)
        )
        == []
    )


def test_headers_stage_stops_the_download_and_the_response_is_dropped(
    make_crawler: MakeCrawler, ledger: Path
) -> None:
    middleware = _middleware(make_crawler)
    request = Request(ALLOWED)
    run(middleware.process_request(request))
    headers = Headers({"tdm-reservation": "1", "Content-Type": "application/json"})
    with pytest.raises(StopDownload):
        middleware._headers_received(headers=headers, body_length=0, request=request)
    [line] = lines(ledger)
    assert (line["stage"], line["verdict"]) == ("headers", "reserved")
    assert line["reasons"][0]["signal"] == "tdmrep"
    assert request.meta["dont_retry"] is True
    assert _stat(middleware, "downloads_stopped") == 1
    response = Response(ALLOWED, headers=headers, request=request)
    with pytest.raises(ReservedContent) as caught:
        run(middleware.process_response(request, response))
    assert caught.value.record.to_dict() == line
    assert len(lines(ledger)) == 1  # decided once, recorded once


def test_body_stage_noai_meta_drops_the_response(make_crawler: MakeCrawler, ledger: Path) -> None:
    middleware = _middleware(make_crawler)
    request = Request(ALLOWED)
    run(middleware.process_request(request))
    with pytest.raises(ReservedContent):
        run(middleware.process_response(request, _html(request, NOAI_PAGE)))
    [line] = lines(ledger)
    assert (line["stage"], line["status"]) == ("body", 200)
    assert line["reasons"][0] == {
        "signal": "noai",
        "where": "meta",
        "rule": '<meta name="robots" content="noai">',
        "source": ALLOWED,
    }


def test_dont_optout_skips_every_stage(make_crawler: MakeCrawler, ledger: Path) -> None:
    middleware = _middleware(make_crawler)
    request = Request(RESERVED, meta={"dont_optout": True})
    assert run(middleware.process_request(request)) is None
    response = _html(request, NOAI_PAGE)
    assert run(middleware.process_response(request, response)) is response
    assert middleware.crawler.asked == []  # type: ignore[attr-defined]
    assert lines(ledger) == []


def test_an_unusable_optout_purpose_drops_the_request(
    make_crawler: MakeCrawler, ledger: Path
) -> None:
    middleware = _middleware(make_crawler)
    with pytest.raises(InvalidOptOutMeta):
        run(middleware.process_request(Request(ALLOWED, meta={"optout_purpose": "bogus"})))
    assert _stat(middleware, "invalid_meta") == 1
    assert middleware.crawler.asked == []  # type: ignore[attr-defined]
    assert lines(ledger) == []


def test_a_file_url_is_refused_unless_a_start_request_named_it(make_crawler: MakeCrawler) -> None:
    crawler = make_crawler()
    middleware = OptOutMiddleware.from_crawler(crawler)
    with pytest.raises(RefusedScheme):
        run(middleware.process_request(Request("file:///etc/passwd")))
    assert _stat(middleware, "refused_scheme") == 1

    async def start() -> AsyncIterator[Any]:
        yield Request("file:///srv/start.html")

    async def consume() -> list[Any]:
        spider_middleware = OptOutSpiderMiddleware.from_crawler(crawler)
        return [o async for o in spider_middleware.process_start(start())]

    [started] = run(consume())
    assert run(middleware.process_request(started)) is None


def test_a_pending_tdmrep_reservation_stops_a_body_that_cannot_lift_it(
    make_crawler: MakeCrawler, ledger: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No signal header at all: the file's reservation is pending at the origin
    # stage (a page's <meta> could still lift it), and final once the headers
    # say the body cannot (a JSON body), so the download stops there.
    from scrapy_optout.policy.snapshot import OriginPolicy, PolicyFile
    from scrapy_optout.scrapy.runtime import OptOutCore

    middleware = _middleware(make_crawler)
    tdmrep = b'[{"location": "/*", "tdm-reservation": 1}]'

    async def get(origin: str) -> OriginPolicy:
        return OriginPolicy(
            origin,
            PolicyFile("robots.txt", f"{origin}/robots.txt", 404, b""),
            PolicyFile("ai.txt", f"{origin}/ai.txt", 404, b""),
            PolicyFile(
                "tdmrep.json",
                f"{origin}/.well-known/tdmrep.json",
                200,
                tdmrep,
                content_type="application/json",
            ),
        )

    monkeypatch.setattr(OptOutCore.for_crawler(middleware.crawler).store, "get", get)
    page = Request(ALLOWED)
    run(middleware.process_request(page))
    html_headers = Headers({"Content-Type": "text/html"})
    middleware._headers_received(headers=html_headers, body_length=0, request=page)
    assert lines(ledger) == []  # an HTML body may still lift it
    request = Request(ALLOWED + ".json")
    run(middleware.process_request(request))
    headers = Headers({"Content-Type": "application/json"})
    with pytest.raises(StopDownload):
        middleware._headers_received(headers=headers, body_length=0, request=request)
    [line] = lines(ledger)
    assert (line["stage"], line["verdict"]) == ("headers", "reserved")
    assert line["reasons"][0]["signal"] == "tdmrep"
    assert _stat(middleware, "downloads_stopped") == 1
