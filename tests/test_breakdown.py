"""The crawl breakdown diagnostic: real crawls of the benchmark farm, and its arithmetic."""

from __future__ import annotations

import inspect
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from benchmarks import breakdown
from benchmarks.common import Farm

ORIGINS, PAGES = 2, 30


@pytest.fixture(scope="module")
def origins_file(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with Farm(ORIGINS, PAGES) as farm:
        path = tmp_path_factory.mktemp("breakdown") / "origins.json"
        path.write_text(json.dumps(farm.origins))
        yield str(path)


def test_hooks_timed_inside_an_add_on_crawl(origins_file: str) -> None:
    run = breakdown._run("addon", origins_file, ORIGINS * PAGES, hooks=True)
    pages = run["pages"]
    assert pages == ORIGINS * PAGES
    calls = run["hooks_calls"]
    assert set(calls) == {
        "process_request",
        "headers_received",
        "process_response",
        "spider mw, response",
        "spider mw, output end",
        "process_item",
    }
    # One item a page, each through the pipeline; every page's response through
    # process_response (policy files too, which the middleware passes on).
    waited = run["hooks_waited"]
    # A plain function cannot wait: all its calls count. A coroutine's call
    # that took long (a policy file, or a collection in its middle) counts apart.
    assert "headers_received" not in waited and "spider mw, response" not in waited
    assert calls["process_item"] + waited.get("process_item", 0) == pages
    assert calls["spider mw, response"] == calls["spider mw, output end"] == pages
    assert calls["process_response"] + waited.get("process_response", 0) >= pages
    assert calls["headers_received"] >= pages
    assert calls["process_request"] + waited.get("process_request", 0) >= pages
    assert all(ns > 0 for ns in run["hooks_ns"].values())
    collector = run["gc"]
    assert collector["frozen"] == 0
    assert collector["collections"][0] > 0
    assert collector["seconds"] > 0


def test_freeze_leaves_what_was_alive_at_spider_opened_out(origins_file: str) -> None:
    run = breakdown._run("baseline", origins_file, ORIGINS * PAGES, freeze=True)
    assert run["gc"]["frozen"] > 10_000  # Scrapy, Twisted and the spider, at least
    assert "hooks_ns" not in run


def test_a_crawl_short_of_pages_is_an_error(origins_file: str) -> None:
    with pytest.raises(RuntimeError, match="expected 61"):
        breakdown._run("neither", origins_file, ORIGINS * PAGES + 1)


def test_a_call_that_waited_is_counted_apart() -> None:
    times = breakdown.HookTimes()
    times.add("process_request", 1_000)
    times.add("process_request", breakdown.WAITED_NS + 1)
    times.add("process_request", 3_000)
    times.add("headers_received", breakdown.WAITED_NS + 1, may_wait=False)
    assert times.ns == {"process_request": 4_000, "headers_received": breakdown.WAITED_NS + 1}
    assert times.calls == {"process_request": 2, "headers_received": 1}
    assert times.waited == {"process_request": 1}


def test_timed_methods_keep_their_kind_and_result() -> None:
    class Hooks:
        def plain(self, value: int) -> int:
            return value + 1

        async def awaited(self, value: int) -> int:
            return value * 2

    times = breakdown.HookTimes()
    times.timed(Hooks, "plain", "plain")
    times.timed(Hooks, "awaited", "awaited")
    hooks = Hooks()
    assert hooks.plain(1) == 2
    coroutine = hooks.awaited(3)
    with pytest.raises(StopIteration) as done:
        coroutine.send(None)
    assert done.value.value == 6
    assert inspect.iscoroutinefunction(Hooks.awaited)
    assert not inspect.iscoroutinefunction(Hooks.plain)
    assert times.calls == {"plain": 1, "awaited": 1}


def _crawl(variant: str, index: int, cpu: float, pps: float, **extra: Any) -> dict[str, Any]:
    return {
        "variant": variant,
        "round": index,
        "pages": 1000,
        "cpu": cpu,
        "pages_per_s": pps,
        "freeze": extra.get("freeze", False),
        "gc": {"collections": [100, 10, 1], "collected": [0, 0, 2000], "seconds": 0.1},
    }


def test_summary_compares_each_round_with_its_own_baseline() -> None:
    runs = [
        _crawl("baseline", 0, 2.0, 500.0),
        _crawl("addon", 0, 2.1, 480.0),
        _crawl("baseline", 1, 1.9, 520.0),
        _crawl("addon", 1, 1.96, 510.0),
        _crawl("baseline", 2, 2.2, 450.0),
        _crawl("addon", 2, 2.28, 430.0),
    ]
    hooks_run = {
        "pages": 1000,
        "cpu": 2.0,
        "hooks_ns": {"process_request": 13_000_000, "process_item": 4_000_000},
        "hooks_calls": {"process_request": 1010, "process_item": 1000},
        "hooks_waited": {"process_request": 2},
    }
    freeze_runs = [
        _crawl("baseline", 0, 2.0, 500.0),
        _crawl("addon", 0, 2.1, 480.0),
        _crawl("addon", 0, 1.9, 550.0, freeze=True),
        _crawl("baseline", 0, 1.8, 560.0, freeze=True),
    ]
    result = breakdown.summarise(runs, hooks_run, freeze_runs, origins=10, pages=100)
    addon = result["variants"]["addon"]
    assert addon["extra_over_baseline_us_runs"] == pytest.approx([100.0, 60.0, 80.0])
    assert addon["extra_over_baseline_us"] == pytest.approx(80.0)
    assert addon["pages_per_s_ratio_to_baseline"] == pytest.approx(480 / 500)
    assert addon["cpu_us_per_page"] == pytest.approx(2100.0)
    assert addon["unreachable_per_page"] == pytest.approx(2.0)
    assert result["variants"]["baseline"]["extra_over_baseline_us"] == pytest.approx(0.0)
    assert result["hooks_in_crawl"]["process_request"] == {
        "us_per_page": pytest.approx(13.0),
        "us_per_call": pytest.approx(13_000 / 1010),
        "calls": 1010,
        "waited": 2,
    }
    assert result["hooks_in_crawl_total_us"] == pytest.approx(17.0)
    freeze = result["freeze"]
    assert freeze["ratio_without"]["median"] == pytest.approx(480 / 500)
    assert freeze["ratio_with"]["median"] == pytest.approx(550 / 560)
    assert freeze["addon_gain"]["median"] == pytest.approx(550 / 480)
    text = breakdown.format_result(result)
    assert "+80.0 us over the baseline" in text
    assert "process_request" in text and "gc.freeze()" in text


def test_main_rejects_an_unknown_variant(tmp_path: Path) -> None:
    with pytest.raises(SystemExit):
        breakdown.main(["--variants", "addon,nonsense", "--no-save"])
