"""Where a crawl's page goes: the add-on's cost by component, inside the crawl, and the collector.

A diagnostic of the crawl benchmark's long case, not a goal, and not part of
a whole ``python -m benchmarks`` run (about a quarter of an hour):
``python -m benchmarks breakdown [--origins 10 --pages 2000 --rounds 3]``.
Every crawl is the crawl benchmark's (:func:`benchmarks.crawl.crawl`), each
in a fresh process, all on one farm:

* **components**: rounds of six crawls in turn: Scrapy with ``ROBOTSTXT_OBEY``
  (``baseline``), the add-on, Scrapy with neither, the add-on's downloader
  middleware alone (``downloader``), with its spider middleware
  (``downloader+spider``) and with its pipeline (``downloader+pipeline``).
  Each gives its CPU time per page between ``spider_opened`` and
  ``spider_closed``; the figure of a variant is its median over the rounds,
  and its cost the median of its per-round difference from the baseline.
* **collector**: each of those crawls also counts, over the same span, the
  collections of each generation, the objects they found unreachable and the
  time they took (``gc.callbacks``).
* **hooks**: one more add-on crawl with each of the add-on's hooks timed with
  ``perf_counter_ns`` (``process_request``, the ``headers_received``
  receiver, ``process_response``, the spider middleware's per-response work,
  the pipeline's ``process_item``): what they take with their code and data
  cold between two pages, against the warm figures of ``benchmarks.hooks``.
  A coroutine hook's call that took over 2 ms (it waited for a policy file
  on its way) is counted apart; a plain function's calls all count.
* **freeze** (``--freeze``): rounds of four crawls, the baseline and the
  add-on each without and with ``gc.freeze()`` at ``spider_opened``: whether
  the collector's walks over what the add-on keeps separate the two.
"""

from __future__ import annotations

import argparse
import functools
import gc
import inspect
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from benchmarks.common import Farm, median, run_json, save_results, spread

DOWNLOADER = "scrapy_optout.scrapy.middleware.OptOutMiddleware"
SPIDER = "scrapy_optout.scrapy.spidermw.OptOutSpiderMiddleware"
PIPELINE = "scrapy_optout.scrapy.pipeline.OptOutPipeline"
PROBE = "benchmarks.breakdown.GcProbe"

#: Each variant: the crawl benchmark's mode and the settings added to it.
VARIANTS: dict[str, tuple[str, dict[str, Any]]] = {
    "baseline": ("baseline", {}),
    "addon": ("addon", {}),
    "neither": ("none", {}),
    "downloader": ("none", {"DOWNLOADER_MIDDLEWARES": {DOWNLOADER: 100}}),
    "downloader+spider": (
        "none",
        {"DOWNLOADER_MIDDLEWARES": {DOWNLOADER: 100}, "SPIDER_MIDDLEWARES": {SPIDER: 50}},
    ),
    "downloader+pipeline": (
        "none",
        {"DOWNLOADER_MIDDLEWARES": {DOWNLOADER: 100}, "ITEM_PIPELINES": {PIPELINE: 0}},
    ),
}

#: The figures of the freeze rounds: pages/s of one crawl over another's, each
#: named by its variant and whether the collector was frozen.
FREEZE_FIGURES: dict[str, tuple[tuple[str, bool], tuple[str, bool]]] = {
    "ratio_without": (("addon", False), ("baseline", False)),
    "ratio_with": (("addon", True), ("baseline", True)),
    "baseline_gain": (("baseline", True), ("baseline", False)),
    "addon_gain": (("addon", True), ("addon", False)),
}

#: A coroutine hook's call longer than this waited for something (a policy file).
WAITED_NS = 2_000_000


# -- in the worker process ---------------------------------------------------------------


class GcProbe:
    """A Scrapy extension: the collector's work between ``spider_opened`` and ``spider_closed``.

    With ``BREAKDOWN_GC_FREEZE`` it also calls ``gc.freeze()`` (after a full
    collection) once the spider is open, so that later collections leave out
    everything alive at that point.
    """

    #: What the last crawl of this process counted.
    last: dict[str, Any] = {}

    def __init__(self, crawler: Any) -> None:
        from scrapy import signals

        self.freeze = crawler.settings.getbool("BREAKDOWN_GC_FREEZE")
        self.counting = False
        self.collections = [0, 0, 0]
        self.collected = [0, 0, 0]
        self.seconds = 0.0
        self._started = 0.0
        crawler.signals.connect(self.opened, signal=signals.spider_opened)
        crawler.signals.connect(self.closed, signal=signals.spider_closed)
        gc.callbacks.append(self._callback)

    @classmethod
    def from_crawler(cls, crawler: Any) -> GcProbe:
        return cls(crawler)

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        if not self.counting:
            return
        if phase == "start":
            self._started = time.perf_counter()
            return
        generation = info["generation"]
        self.collections[generation] += 1
        self.collected[generation] += info["collected"]
        self.seconds += time.perf_counter() - self._started

    def opened(self, spider: Any) -> None:
        if self.freeze:
            gc.collect()
            gc.freeze()
        self.counting = True

    def closed(self, spider: Any, reason: str) -> None:
        self.counting = False
        gc.callbacks.remove(self._callback)
        GcProbe.last = {
            "collections": list(self.collections),
            "collected": list(self.collected),
            "seconds": self.seconds,
            "frozen": gc.get_freeze_count() if self.freeze else 0,
        }


class HookTimes:
    """Nanoseconds spent in each timed hook, their calls, and the calls that waited."""

    def __init__(self) -> None:
        self.ns: dict[str, int] = {}
        self.calls: dict[str, int] = {}
        self.waited: dict[str, int] = {}

    def add(self, name: str, elapsed: int, *, may_wait: bool = True) -> None:
        if may_wait and elapsed > WAITED_NS:
            self.waited[name] = self.waited.get(name, 0) + 1
            return
        self.ns[name] = self.ns.get(name, 0) + elapsed
        self.calls[name] = self.calls.get(name, 0) + 1

    def timed(self, cls: type, attribute: str, name: str) -> None:
        """Replace *cls*'s method *attribute* by one that times each call under *name*."""
        method = getattr(cls, attribute)
        clock = time.perf_counter_ns
        add = self.add
        wrapper: Callable[..., Any]
        if inspect.iscoroutinefunction(method):

            async def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
                start = clock()
                try:
                    return await method(self, *args, **kwargs)
                finally:
                    add(name, clock() - start)

        else:

            def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
                start = clock()
                try:
                    return method(self, *args, **kwargs)
                finally:
                    add(name, clock() - start, may_wait=False)

        setattr(cls, attribute, functools.wraps(method)(wrapper))


def time_hooks() -> HookTimes:
    """Time the add-on's hooks in this process (before its crawler is built)."""
    from scrapy_optout.scrapy.middleware import OptOutMiddleware
    from scrapy_optout.scrapy.pipeline import OptOutPipeline
    from scrapy_optout.scrapy.spidermw import OptOutSpiderMiddleware

    times = HookTimes()
    times.timed(OptOutMiddleware, "process_request", "process_request")
    # The receiver the middleware connects calls this method (bound when the
    # middleware is built, so after this replacement).
    times.timed(OptOutMiddleware, "_headers_received", "headers_received")
    times.timed(OptOutMiddleware, "process_response", "process_response")
    times.timed(OptOutSpiderMiddleware, "_page", "spider mw, response")
    times.timed(OptOutSpiderMiddleware, "_done", "spider mw, output end")
    times.timed(OptOutPipeline, "process_item", "process_item")
    return times


def worker(variant: str, origins_file: str, *, hooks: bool, freeze: bool) -> dict[str, Any]:
    """One crawl of *variant* in this process, with its collector counts (and hook times)."""
    # Scrapy builds the probe from this module as imported, not from __main__.
    from benchmarks import breakdown
    from benchmarks.crawl import crawl

    mode, settings = VARIANTS[variant]
    extra: dict[str, Any] = {**settings, "EXTENSIONS": {PROBE: 0}, "BREAKDOWN_GC_FREEZE": freeze}
    with tempfile.TemporaryDirectory(prefix="optout-breakdown-") as tmp:
        if mode == "none" and variant != "neither":
            extra["OPTOUT_PURPOSE"] = "train"
            extra["OPTOUT_LEDGER"] = os.path.join(tmp, "ledger.jsonl")
        times = time_hooks() if hooks else None
        result = crawl(mode, json.loads(Path(origins_file).read_text()), extra=extra)
    result["variant"] = variant
    result["freeze"] = freeze
    result["gc"] = breakdown.GcProbe.last
    if times is not None:
        result["hooks_ns"] = times.ns
        result["hooks_calls"] = times.calls
        result["hooks_waited"] = times.waited
    return result


# -- the driver ---------------------------------------------------------------------------


def _run(
    variant: str, origins_file: str, expected: int, *, hooks: bool = False, freeze: bool = False
) -> Any:
    args = ["-m", "benchmarks.breakdown", "--worker", variant, origins_file]
    if hooks:
        args.append("--time-hooks")
    if freeze:
        args.append("--gc-freeze")
    result = run_json(args)
    if result["pages"] != expected:
        raise RuntimeError(f"{variant} crawl received {result['pages']} pages, expected {expected}")
    return result


def _per_page_us(run: dict[str, Any]) -> float:
    return 1e6 * run["cpu"] / run["pages"]


def measure(
    origins: int,
    pages: int,
    *,
    rounds: int,
    variants: Sequence[str],
    freeze_rounds: int,
    verbose: bool = True,
) -> dict[str, Any]:
    runs: list[dict[str, Any]] = []
    freeze_runs: list[dict[str, Any]] = []
    expected = origins * pages
    with Farm(origins, pages) as farm:
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
            json.dump(farm.origins, handle)
            origins_file = handle.name
        try:
            for index in range(rounds):
                for variant in variants:
                    run = _run(variant, origins_file, expected)
                    run["round"] = index
                    runs.append(run)
                    if verbose:
                        print(f"  round {index + 1}/{rounds} {_describe(run)}", flush=True)
            hooks_run = _run("addon", origins_file, expected, hooks=True)
            if verbose:
                print(f"  hooks timed: {_describe(hooks_run)}", flush=True)
            for index in range(freeze_rounds):
                for variant, freeze in (
                    ("baseline", False),
                    ("addon", False),
                    ("addon", True),
                    ("baseline", True),
                ):
                    run = _run(variant, origins_file, expected, freeze=freeze)
                    run["round"] = index
                    freeze_runs.append(run)
                    if verbose:
                        print(f"  freeze {index + 1}/{freeze_rounds} {_describe(run)}", flush=True)
        finally:
            os.unlink(origins_file)
    return summarise(runs, hooks_run, freeze_runs, origins=origins, pages=pages)


def _describe(run: dict[str, Any]) -> str:
    frozen = ", gc.freeze()" if run["freeze"] else ""
    return (
        f"{run['variant']:20} {run['pages_per_s']:6.1f} pages/s, "
        f"{_per_page_us(run):7.1f} us CPU a page, collector {run['gc']['seconds']:.2f} s{frozen}"
    )


def summarise(
    runs: list[dict[str, Any]],
    hooks_run: dict[str, Any],
    freeze_runs: list[dict[str, Any]],
    *,
    origins: int,
    pages: int,
) -> dict[str, Any]:
    """The figures of a breakdown from its crawls."""
    by_round: dict[int, dict[str, dict[str, Any]]] = {}
    for run in runs:
        by_round.setdefault(run["round"], {})[run["variant"]] = run
    variants: dict[str, Any] = {}
    for name in dict.fromkeys(run["variant"] for run in runs):
        own = [r for r in runs if r["variant"] == name]
        # Each run against the baseline of its own round.
        pairs = [
            (found[name], found["baseline"])
            for found in by_round.values()
            if name in found and "baseline" in found
        ]
        extra = [_per_page_us(run) - _per_page_us(base) for run, base in pairs]
        ratios = [run["pages_per_s"] / base["pages_per_s"] for run, base in pairs]
        collected = [sum(r["gc"]["collected"]) / r["pages"] for r in own]
        cpu = [_per_page_us(r) for r in own]
        variants[name] = {
            "cpu_us_per_page": median(cpu),
            "cpu_us_per_page_runs": cpu,
            "extra_over_baseline_us": median(extra) if extra else None,
            "extra_over_baseline_us_runs": extra,
            "pages_per_s_ratio_to_baseline": median(ratios) if ratios else None,
            "ratio_range": spread(ratios) if ratios else None,
            "collector_seconds": median([r["gc"]["seconds"] for r in own]),
            "collections": [median([r["gc"]["collections"][g] for r in own]) for g in range(3)],
            "unreachable_per_page": median(collected),
        }
    pages_crawled = hooks_run["pages"]
    hooks = {
        name: {
            "us_per_page": ns / 1000 / pages_crawled,
            "us_per_call": ns / 1000 / hooks_run["hooks_calls"][name],
            "calls": hooks_run["hooks_calls"][name],
            "waited": hooks_run["hooks_waited"].get(name, 0),
        }
        for name, ns in hooks_run["hooks_ns"].items()
    }
    result: dict[str, Any] = {
        "origins": origins,
        "pages_per_origin": pages,
        "rounds": len(by_round),
        "variants": variants,
        "hooks_in_crawl": hooks,
        "hooks_in_crawl_total_us": sum(h["us_per_page"] for h in hooks.values()),
        "hooks_run_cpu_us_per_page": _per_page_us(hooks_run),
    }
    if freeze_runs:
        frozen: dict[str, list[float]] = {key: [] for key in FREEZE_FIGURES}
        for index in sorted({r["round"] for r in freeze_runs}):
            found = {(r["variant"], r["freeze"]): r for r in freeze_runs if r["round"] == index}
            for key, (top, bottom) in FREEZE_FIGURES.items():
                frozen[key].append(found[top]["pages_per_s"] / found[bottom]["pages_per_s"])
        result["freeze"] = {key: {"median": median(v), "runs": v} for key, v in frozen.items()}
    return result


def format_result(result: dict[str, Any]) -> str:
    lines = [
        f"breakdown {result['origins']}x{result['pages_per_origin']}, "
        f"{result['rounds']} rounds (CPU per page, medians):"
    ]
    for name, value in result["variants"].items():
        extra = value["extra_over_baseline_us"]
        ratio = value["pages_per_s_ratio_to_baseline"]
        lines.append(
            f"  {name:20} {value['cpu_us_per_page']:7.1f} us"
            + (f"  {extra:+6.1f} us over the baseline" if name != "baseline" else " " * 29)
            + (f"  pages/s ratio {ratio:.3f}" if name != "baseline" else " " * 20)
            + f"  collector {value['collector_seconds']:.2f} s,"
            f" {value['unreachable_per_page']:.1f} unreachable a page"
        )
    lines.append(
        f"  hooks inside an add-on crawl ({result['hooks_run_cpu_us_per_page']:.0f} us CPU a page):"
    )
    for name, value in result["hooks_in_crawl"].items():
        waited = f", {value['waited']} waited" if value["waited"] else ""
        lines.append(
            f"    {name:22} {value['us_per_page']:6.2f} us a page "
            f"({value['calls']} calls, {value['us_per_call']:.2f} us each{waited})"
        )
    lines.append(f"    {'total':22} {result['hooks_in_crawl_total_us']:6.2f} us a page")
    if "freeze" in result:
        freeze = {key: value["median"] for key, value in result["freeze"].items()}
        lines.append(
            f"  gc.freeze() at spider_opened: add-on / baseline {freeze['ratio_without']:.3f}"
            f" without, {freeze['ratio_with']:.3f} with; pages/s gained: baseline "
            f"x{freeze['baseline_gain']:.3f}, add-on x{freeze['addon_gain']:.3f}"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.breakdown", description=__doc__)
    parser.add_argument(
        "--worker", nargs=2, metavar=("VARIANT", "ORIGINS_JSON"), help=argparse.SUPPRESS
    )
    parser.add_argument("--time-hooks", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--gc-freeze", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--origins", type=int, default=10)
    parser.add_argument("--pages", type=int, default=2000, help="pages per origin")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of every variant")
    parser.add_argument(
        "--variants",
        default=",".join(VARIANTS),
        help=f"comma-separated, among {', '.join(VARIANTS)} (the baseline always runs)",
    )
    parser.add_argument(
        "--freeze", type=int, default=0, metavar="ROUNDS", help="rounds of the gc.freeze() crawls"
    )
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--no-save", action="store_true")
    args = parser.parse_args(argv)

    if args.worker:
        variant, origins_file = args.worker
        result = worker(variant, origins_file, hooks=args.time_hooks, freeze=args.gc_freeze)
        sys.stdout.write("\n" + json.dumps(result) + "\n")
        return 0

    chosen = [name.strip() for name in args.variants.split(",") if name.strip()]
    unknown = [name for name in chosen if name not in VARIANTS]
    if unknown:
        parser.error(f"unknown variant(s): {', '.join(unknown)}")
    variants = ["baseline", *(name for name in chosen if name != "baseline")]
    print(f"breakdown {args.origins}x{args.pages}, {args.rounds} rounds", flush=True)
    result = measure(
        args.origins,
        args.pages,
        rounds=args.rounds,
        variants=variants,
        freeze_rounds=args.freeze,
    )
    print(json.dumps(result) if args.json else format_result(result))
    if not args.no_save:
        save_results({f"breakdown_{args.origins}x{args.pages}": result})
    return 0


if __name__ == "__main__":
    sys.exit(main())
