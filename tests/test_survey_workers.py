"""``optout survey --workers N``: the sites dealt out to crawler processes, one output.

A survey run in several processes must write what one process writes: the
same record for every input line, in input order, one ``summary.json`` and
one ``report.html``. Every line that reaches an origin goes to one worker (so
per-origin politeness holds), and a run stopped before its workers' records
were merged is resumed from them.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from examples.farm import SiteFarm

from helpers import FIXTURES, closed_port
from scrapy_optout.frontends.survey import read_records
from scrapy_optout.frontends.survey.crawl import _shards, default_workers
from scrapy_optout.frontends.survey.results import fold_parts, part_name
from test_survey import run_optout

POPULATION = FIXTURES / "survey-sites"
HOSTILE_LINE = "<script>alert(1)</script>"
# What a rerun may change in a record or a summary: when it was fetched or written.
VOLATILE = ("fetched_at", "generated_at")


def stable(value: Any) -> Any:
    """*value* without the fields that differ between two runs of the same survey."""
    if isinstance(value, dict):
        return {key: stable(item) for key, item in value.items() if key not in VOLATILE}
    if isinstance(value, list):
        return [stable(item) for item in value]
    return value


@pytest.fixture(scope="module")
def population():
    with SiteFarm(POPULATION) as running:
        yield running


@pytest.fixture(scope="module")
def site_list(population, tmp_path_factory) -> Path:
    """Every scenario, a second line of one origin, a bare host (HTTPS tried, then HTTP),
    two closed ports, a duplicate line and an unreadable one."""
    names = sorted(population.scenarios)
    port = population.origin("nothing").rsplit(":", 1)[1]
    lines = ["# workers", *(population.url(name, "/") for name in names)]
    lines += [
        population.url("gptbot-full", "/about"),  # the same origin as an earlier line
        f"127.0.0.1:{port}",  # bare: https://127.0.0.1:PORT/ fails, then http://
        f"http://127.0.0.1:{closed_port()}/",
        f"http://127.0.0.1:{closed_port()}/",
        population.url("aitxt", "/"),  # a duplicate line
        HOSTILE_LINE,
    ]
    path = tmp_path_factory.mktemp("workers") / "sites.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def survey(site_list: Path, out: Path, *args: str) -> subprocess.CompletedProcess[str]:
    proc = run_optout("survey", str(site_list), "-o", str(out), *args)
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert "Traceback" not in proc.stderr
    return proc


@pytest.fixture(scope="module")
def one_worker(population, site_list) -> Path:
    out = site_list.parent / "one"
    survey(site_list, out, "--workers", "1", "--quiet")
    return out


def test_workers_write_the_records_of_one_process(population, site_list, one_worker):
    expected = [stable(r) for r in read_records(one_worker / "results.jsonl")]
    total = len([line for line in site_list.read_text().splitlines() if line[:1] != "#"])
    assert [r["line"] for r in expected] == list(range(2, total + 2))
    for workers in ("2", "3"):
        out = site_list.parent / f"workers-{workers}"
        proc = survey(site_list, out, "--workers", workers)
        records = [stable(r) for r in read_records(out / "results.jsonl")]
        assert records == expected
        # One progress line for the whole survey, counted across the workers.
        assert f"survey: {total}/{total} sites done (100%), 2 unreachable" in proc.stderr
        summary = json.loads((out / "summary.json").read_text())
        first = json.loads((one_worker / "summary.json").read_text())
        assert stable(summary) == stable(first)
        assert summary["finish_reason"] == "finished"
        assert (out / "report.html").stat().st_size > 0
        assert sorted(p.name for p in out.iterdir()) == [
            "report.html",
            "results.jsonl",
            "summary.json",
        ]


def test_a_rerun_with_workers_fetches_nothing(population, site_list, one_worker, tmp_path):
    out = tmp_path / "again"
    out.mkdir()
    (out / "results.jsonl").write_bytes((one_worker / "results.jsonl").read_bytes())
    population.reset()
    survey(site_list, out, "--workers", "2", "--quiet")
    assert {name: population.hits(name) for name in population.scenarios} == dict.fromkeys(
        population.scenarios, 0
    )
    assert [stable(r) for r in read_records(out / "results.jsonl")] == [
        stable(r) for r in read_records(one_worker / "results.jsonl")
    ]


@pytest.mark.parametrize("workers", ["1", "2"])
def test_records_left_in_parts_are_resumed(population, site_list, one_worker, tmp_path, workers):
    # A multi-process run stopped before the merge leaves each worker's part:
    # the next run, with any number of workers, takes their records as done.
    records = list(read_records(one_worker / "results.jsonl"))
    by_name = {population.url(name, "/"): name for name in population.scenarios}
    missing = {"gptbot-partial", "tdmrep-meta"}
    kept = [r for r in records if by_name.get(r["input"]) not in missing]
    out = tmp_path / "parts"
    out.mkdir()
    half = len(kept) // 2
    (out / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in kept[:half]))
    # The second part was cut mid-record.
    (out / part_name(0)).write_text("".join(json.dumps(r) + "\n" for r in kept[half:-3]))
    torn = json.dumps(kept[-1])[:40]
    (out / part_name(1)).write_text(
        "".join(json.dumps(r) + "\n" for r in kept[-3:-1]) + torn, encoding="utf-8"
    )
    population.reset()
    survey(site_list, out, "--workers", workers, "--quiet")
    hits = {name: population.hits(name) for name in population.scenarios}
    # The line cut mid-record is surveyed again, with the two missing ones.
    again = {by_name.get(kept[-1]["input"], "?"), *missing}
    assert {name for name, count in hits.items() if count} == again - {"?"}
    assert [stable(r) for r in read_records(out / "results.jsonl")] == [stable(r) for r in records]
    assert not list(out.glob(".results-*"))


def write_sites(tmp_path: Path, lines: list[str]) -> Path:
    path = tmp_path / "sites.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_lines_of_one_origin_go_to_one_worker(tmp_path):
    path = write_sites(
        tmp_path,
        [
            "https://a.example/",  # 1
            "b.example",  # 2: https://b.example/, then http://b.example/
            "http://c.example/",  # 3
            "https://A.example:443/news",  # 4: the origin of line 1
            "http://b.example/x",  # 5: the fallback origin of line 2
            "not a site at all",  # 6
            "https://d.example/",  # 7
            "http://c.example:8080/",  # 8: another origin than line 3
        ],
    )
    sites, done, shards = _shards(path, tmp_path / "out", 2, retry_unreachable=False)
    assert len(sites) == 8 and done == set()
    # Groups in input order: a (1, 4), b (2, 5), c (3), unreadable (6), d (7), c:8080 (8).
    assert shards == [[1, 3, 4, 7], [2, 5, 6, 8]]
    _, _, three = _shards(path, tmp_path / "out", 3, retry_unreachable=False)
    assert three == [[1, 4, 6], [2, 5, 7], [3, 8]]
    # More workers than origins: one shard per origin group, none empty.
    _, _, many = _shards(path, tmp_path / "out", 10, retry_unreachable=False)
    assert sorted(line for shard in many for line in shard) == list(range(1, 9))
    assert len(many) == 6


def test_lines_already_done_are_not_dealt(tmp_path):
    path = write_sites(tmp_path, ["https://a.example/", "https://b.example/", "c.example"])
    out = tmp_path / "out"
    out.mkdir()
    done = {"line": 2, "input": "https://b.example/", "site": "https://b.example/"}
    done["reachable"] = True
    unreachable = {"line": 3, "input": "c.example", "site": "https://c.example/"}
    (out / "results.jsonl").write_text(json.dumps(done) + "\n")
    (out / part_name(4)).write_text(json.dumps({**unreachable, "reachable": False}) + "\n")
    _, finished, shards = _shards(path, out, 2, retry_unreachable=False)
    assert finished == {2, 3} and shards == [[1]]
    assert not (out / part_name(4)).exists()  # folded into results.jsonl
    _, finished, shards = _shards(path, out, 2, retry_unreachable=True)
    assert finished == {2} and shards == [[1], [3]]


def test_fold_parts_keeps_complete_lines_only(tmp_path):
    (tmp_path / "results.jsonl").write_text('{"line": 1}\n{"line": 2, "inp')
    (tmp_path / part_name(0)).write_text('{"line": 3}\n\n{"line": 4}\n')
    (tmp_path / part_name(12)).write_text('{"line": 5}\n{"line": 6, "in')
    assert fold_parts(tmp_path) == 3
    assert [r["line"] for r in read_records(tmp_path / "results.jsonl")] == [1, 3, 4, 5]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.jsonl"]
    assert fold_parts(tmp_path) == 0
    assert fold_parts(tmp_path / "missing") == 0


def test_a_failing_worker_is_an_error_and_its_records_are_kept(population, tmp_path):
    # A worker that cannot start its crawler ends the survey with an error;
    # what the other workers wrote is merged, so a rerun resumes from it.
    path = write_sites(tmp_path, [population.url("nothing", "/"), population.url("aitxt", "/")])
    out = tmp_path / "out"
    script = (
        "import os, sys\n"
        "from scrapy_optout.exceptions import OptOutError\n"
        "from scrapy_optout.frontends.survey.crawl import run_survey\n"
        "from scrapy_optout.frontends.survey.spider import SurveySpider\n"
        "original = SurveySpider.start\n"
        "async def start(self):\n"
        "    if self._only is not None and 2 in self._only:\n"
        "        os._exit(3)  # the worker dies, as on a crash\n"
        "    async for request in original(self):\n"
        "        yield request\n"
        "SurveySpider.start = start\n"
        "try:\n"
        "    run_survey(sys.argv[1], sys.argv[2], workers=2, progress=False)\n"
        "except OptOutError as exc:\n"
        "    print('error:', exc)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script, str(path), str(out)],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert "error: survey worker 1 ended with exit code" in proc.stdout, proc.stderr[-4000:]
    assert [r["line"] for r in read_records(out / "results.jsonl")] == [1]
    assert not list(out.glob(".results-*"))


def test_workers_option(tmp_path, capsys):
    from scrapy_optout.cli import main

    sites = tmp_path / "s.txt"
    sites.write_text("example.com\n")
    for value in ("0", "-1", "two"):
        assert main(["survey", str(sites), "-o", str(tmp_path), "--workers", value]) == 2
    assert "--workers" in capsys.readouterr().err
    assert 1 <= default_workers() <= 8
