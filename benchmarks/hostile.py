"""Hostile policy files: the cost of one decision with policy files at their size limits.

Each case is one origin whose policy files are built to make matching slow,
at the size the parsers accept, and the figure is the time of one
``Evaluator.origin_stage(policy, url).verdict("train")`` (the decision taken
before each request) over distinct URLs, against the same decision for an
origin with small, ordinary files:

* ``robots-wildcards``: a robots.txt of 500 KiB of ``Disallow: /*a*b*c*D``
  rules with random letters (about 25,000 distinct patterns), which the
  lower-case URLs never match, so that no rule ends the search early;
* ``robots-prefixes``: 500 KiB of plain ``Disallow: /abcd...`` prefixes
  sharing their first characters;
* ``aitxt-30000``: an ai.txt of 30,000 rules (file types and wildcards);
* ``tdmrep-locations``: a tdmrep.json of 1 MiB of locations with wildcards.

URLs are 40 to 120 characters long, half of them with dot segments, doubled
slashes or escapes (so several readings each). Goal: at most 1 ms per
decision. ``python -m benchmarks hostile [--urls N]``
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import string
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

from benchmarks.common import save_results

GOAL_MS = 1.0
USER_AGENT = "benchbot/1.0 (+https://example.invalid/bot)"
_LETTERS = string.ascii_lowercase
_ROBOTS_LIMIT = 512_000
_TDMREP_LIMIT = 1024 * 1024


def _word(rng: random.Random, size: int) -> str:
    return "".join(rng.choice(_LETTERS) for _ in range(size))


def _fill(limit: int, head: str, line: Callable[[], str]) -> bytes:
    parts, size = [head], len(head)
    while True:
        text = line()
        if size + len(text) > limit:
            return "".join(parts).encode()
        parts.append(text)
        size += len(text)


def robots_wildcards(rng: random.Random) -> bytes:
    return _fill(
        _ROBOTS_LIMIT,
        "User-agent: *\n",
        lambda: (
            "Disallow: /*"
            + "*".join(rng.choice(_LETTERS) for _ in range(3))
            + f"*{rng.choice(string.ascii_uppercase)}\n"
        ),
    )


def robots_prefixes(rng: random.Random) -> bytes:
    return _fill(_ROBOTS_LIMIT, "User-agent: *\n", lambda: f"Disallow: /page/{_word(rng, 12)}\n")


def aitxt_rules(rng: random.Random, count: int = 30_000) -> bytes:
    lines = ["User-Agent: *"]
    for index in range(count):
        kind = index % 3
        if kind == 0:
            lines.append(f"Disallow: *.{_word(rng, 4)}")
        elif kind == 1:
            lines.append(f"Disallow: /*{_word(rng, 2)}*{_word(rng, 2)}")
        else:
            lines.append(f"Allow: /{_word(rng, 6)}/")
    return ("\n".join(lines) + "\n").encode()


def tdmrep_locations(rng: random.Random) -> bytes:
    rules: list[str] = []
    size = 2
    while True:
        rule = json.dumps(
            {"location": f"/{_word(rng, 3)}*{_word(rng, 2)}*.{_word(rng, 3)}", "tdm-reservation": 1}
        )
        if size + len(rule) + 1 > _TDMREP_LIMIT:
            break
        rules.append(rule)
        size += len(rule) + 1
    return ("[" + ",".join(rules) + "]").encode()


_PLAIN_ROBOTS = (
    b"User-agent: *\nDisallow: /admin/\nDisallow: /cart\nDisallow: /*?sessionid=\n"
    b"Allow: /admin/public/\nDisallow: /search\n\nUser-agent: GPTBot\nDisallow: /\n"
)
_PLAIN_AITXT = b"User-Agent: *\nDisallow: *.jpg\nDisallow: *.png\nAllow: /blog/\n"
_PLAIN_TDMREP = b'[{"location": "/press/*", "tdm-reservation": 1}]'


def urls(rng: random.Random, count: int) -> list[str]:
    found = []
    for index in range(count):
        segments = [_word(rng, rng.randint(3, 12)) for _ in range(rng.randint(3, 8))]
        if index % 2:
            segments.insert(1, rng.choice(["..", ".", "", "x;jsessionid=1", "%2e%2e"]))
        path = "/" + "/".join(segments)
        found.append(f"https://hostile.example{path[:120]}?id={index}")
    return found


def _policy(robots: bytes, aitxt: bytes, tdmrep: bytes) -> Any:
    from scrapy_optout.policy.snapshot import OriginPolicy, PolicyFile

    host = "https://hostile.example"
    return OriginPolicy(
        f"{host}:443",
        PolicyFile("robots.txt", f"{host}/robots.txt", 200, robots, content_type="text/plain"),
        PolicyFile("ai.txt", f"{host}/ai.txt", 200, aitxt, content_type="text/plain"),
        PolicyFile(
            "tdmrep.json",
            f"{host}/.well-known/tdmrep.json",
            200,
            tdmrep,
            content_type="application/json",
        ),
    )


def _decide(policy: Any, targets: list[str], rounds: int) -> tuple[float, float, float]:
    """Median and 99th percentile of one decision, in milliseconds; the first one apart.

    The first decision builds the per-crawler plan and the rule indexes, once
    per origin; it is the ``first_ms`` figure.
    """
    from scrapy_optout.policy.evaluate import Evaluator
    from scrapy_optout.verdict import Purpose

    evaluator = Evaluator(USER_AGENT)
    start = time.perf_counter()
    evaluator.origin_stage(policy, "https://hostile.example/").verdict(Purpose.TRAIN)
    evaluator.origin_stage(policy, "https://hostile.example/%3A").verdict(Purpose.TRAIN)
    first = time.perf_counter() - start
    times: list[float] = []
    for round_index in range(rounds):
        for url in targets:
            url = f"{url}&r={round_index}"  # distinct every time: no cache helps
            start = time.perf_counter()
            evaluator.origin_stage(policy, url).verdict(Purpose.TRAIN)
            times.append(time.perf_counter() - start)
    times.sort()
    return statistics.median(times) * 1e3, times[int(len(times) * 0.99)] * 1e3, first * 1e3


def measure(url_count: int = 200, rounds: int = 3) -> dict[str, Any]:
    rng = random.Random(9309)
    targets = urls(rng, url_count)
    cases = {
        "plain": (_PLAIN_ROBOTS, _PLAIN_AITXT, _PLAIN_TDMREP),
        "robots-wildcards": (robots_wildcards(rng), _PLAIN_AITXT, _PLAIN_TDMREP),
        "robots-prefixes": (robots_prefixes(rng), _PLAIN_AITXT, _PLAIN_TDMREP),
        "aitxt-30000": (_PLAIN_ROBOTS, aitxt_rules(rng), _PLAIN_TDMREP),
        "tdmrep-locations": (_PLAIN_ROBOTS, _PLAIN_AITXT, tdmrep_locations(rng)),
    }
    results: dict[str, Any] = {}
    for name, files in cases.items():
        start = time.perf_counter()
        policy = _policy(*files)  # parses the three files
        parse_ms = (time.perf_counter() - start) * 1e3
        median, p99, first = _decide(policy, targets, rounds)
        results[name] = {
            "bytes": [len(f) for f in files],
            "parse_ms": parse_ms,
            "first_ms": first,
            "decision_ms_median": median,
            "decision_ms_p99": p99,
        }
    return {"urls": url_count, "rounds": rounds, "goal_ms": GOAL_MS, "cases": results}


def format_result(result: dict[str, Any]) -> str:
    lines = [
        f"{'case':<18} {'files (bytes)':<22} {'parse ms':>9} {'first ms':>9} "
        f"{'median ms':>10} {'p99 ms':>8}"
    ]
    for name, case in result["cases"].items():
        sizes = "/".join(str(size) for size in case["bytes"])
        lines.append(
            f"{name:<18} {sizes:<22} {case['parse_ms']:>9.1f} {case['first_ms']:>9.1f} "
            f"{case['decision_ms_median']:>10.3f} {case['decision_ms_p99']:>8.3f}"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.hostile", description=__doc__)
    parser.add_argument("--urls", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--no-save", action="store_true")
    args = parser.parse_args(argv)
    result = measure(args.urls, args.rounds)
    print(json.dumps(result, indent=2) if args.json else format_result(result))
    if not args.no_save:
        save_results({"hostile": result})
    return 0


if __name__ == "__main__":
    sys.exit(main())
