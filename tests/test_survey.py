"""``optout survey`` on a site list: input parsing, a loopback population with
known figures, the outputs, resumability and the ``scrapy crawl survey`` entry point.

The population lives in ``fixtures/survey-sites`` (see its README): seventeen
small sites, each with one known opt-out (or none), served on loopback by the
site farm. Two closed ports stand for unreachable sites.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from examples.farm import SiteFarm

from helpers import FIXTURES, ROOT, closed_port
from scrapy_optout.frontends.survey import read_records, summarise
from scrapy_optout.frontends.survey.inputs import parse_line, parse_lines
from scrapy_optout.frontends.survey.progress import Progress
from scrapy_optout.frontends.survey.summary import rank_bucket
from scrapy_optout.protocols.agents import AgentCatalogue

POPULATION = FIXTURES / "survey-sites"
TOKENS = [agent.token for agent in AgentCatalogue.default()]

#: What each site of the population reserves for training, and how its
#: robots.txt treats a few agents: (named, effective) coverage.
EXPECTED: dict[str, dict[str, Any]] = {
    "gptbot-full": {"signals": ["robots.txt"], "GPTBot": ("full", "full")},
    "ai-crawlers-full": {
        "signals": ["robots.txt"],
        "GPTBot": ("full", "full"),
        "CCBot": ("full", "full"),
        "Bytespider": ("none", "none"),
    },
    "gptbot-claudebot-full": {
        "signals": ["robots.txt"],
        "GPTBot": ("full", "full"),
        "ClaudeBot": ("full", "full"),
        "CCBot": ("none", "partial"),
    },
    "gptbot-partial": {"signals": ["robots.txt"], "GPTBot": ("partial", "partial")},
    "gptbot-reopened": {
        "signals": ["robots.txt"],
        "GPTBot": ("full_with_exceptions", "full_with_exceptions"),
    },
    "tdmrep-file": {"signals": ["tdmrep"], "GPTBot": ("none", "none")},
    "tdmrep-meta": {"signals": ["tdmrep"]},
    "aitxt": {"signals": ["ai.txt"]},
    "aitxt-soft404": {"signals": []},
    "noai-header": {"signals": ["noai"]},
    "noai-meta": {"signals": ["noai"]},
    "content-signal": {"signals": ["content-signal"], "GPTBot": ("none", "none")},
    "content-usage": {"signals": ["content-usage"]},
    # A * group or a failed robots.txt restricts access; it is no AI opt-out.
    "star-block": {"signals": [], "GPTBot": ("none", "full"), "access": ("*", "full")},
    "robots-503": {"signals": [], "GPTBot": ("none", "full"), "access": (None, "full")},
    "search-only": {
        "signals": [],
        "OAI-SearchBot": ("full", "full"),
        "PerplexityBot": ("partial", "partial"),
        "GPTBot": ("none", "none"),
    },
    "nothing": {"signals": [], "GPTBot": ("none", "none")},
}

#: The figures summary.json must hold for the population input (purpose train).
EXPECTED_SUMMARY = {
    "sites": 21,  # 17 sites, 2 closed ports, 1 duplicate line, 1 unreadable line
    "reachable": 18,
    "unreachable": 2,
    "invalid": 1,
    "reserved_any": 13,
    # star-block, robots-503 and gptbot-claudebot-full (its * group closes /admin/)
    "access_restricted": 3,
    "by_signal": {
        "robots.txt": 6,  # 5 sites + the duplicate line
        "ai.txt": 1,
        "tdmrep": 2,
        "noai": 2,
        "content-usage": 1,
        "content-signal": 1,
        "rsl": 0,
        "licence": 0,
        "iptc": 0,
        "c2pa": 0,
        "registry": 0,
    },
    "by_purpose": {"train": 13, "tdm": 8, "input": 4, "search": 0, "crawl": 0},
    "robots_txt": {"own_or_star_group": 3, "ai_agent_groups": 6},
}


def counts(full: int, with_exceptions: int, partial: int) -> dict[str, int]:
    """A ``by_agent`` entry: ``full`` counts the groups with exceptions too."""
    return {"full": full, "full_with_exceptions": with_exceptions, "partial": partial}


# gptbot-reopened is full with exceptions.
EXPECTED_BY_AGENT = {
    "GPTBot": counts(5, 1, 1),
    "CCBot": counts(1, 0, 0),
    "Google-Extended": counts(1, 0, 0),
    "ClaudeBot": counts(1, 0, 0),
    "OAI-SearchBot": counts(1, 0, 0),
    "PerplexityBot": counts(0, 0, 1),
}
# Effective basis: groups naming the agent, else the * group. star-block and
# robots-503 close everything to every agent; gptbot-claudebot-full's * group
# closes /admin/.
EXPECTED_EFFECTIVE = {
    "GPTBot": counts(7, 1, 1),
    "CCBot": counts(3, 0, 1),
    "ClaudeBot": counts(3, 0, 0),
    "OAI-SearchBot": counts(3, 0, 1),
    "PerplexityBot": counts(2, 0, 2),
    "Bytespider": counts(2, 0, 1),
}
HOSTILE_LINE = "<script>alert(1)</script>"


def run_optout(
    *args: str, cwd: Path | None = None, timeout: int = 240
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m scrapy_optout ARGS`` in a fresh process (the reactor cannot restart)."""
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    return subprocess.run(
        [sys.executable, "-m", "scrapy_optout", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        cwd=cwd,
    )


class _Page(HTMLParser):
    """Collects what a test needs to know about a report page."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def ids(self, tag: str) -> set[str]:
        return {str(a.get("id")) for t, a in self.tags if t == tag and a.get("id")}

    def count(self, tag: str) -> int:
        return sum(1 for t, _ in self.tags if t == tag)


def parse_page(text: str) -> _Page:
    page = _Page()
    page.feed(text)
    page.close()
    return page


def assert_self_contained(page: _Page) -> None:
    assert page.count("script") == 0
    for tag, attrs in page.tags:
        for name in ("src", "href"):
            assert not attrs.get(name), (tag, attrs)
        if tag == "link":
            raise AssertionError(f"external resource: {attrs}")


# -- input lines ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "site", "rank", "fallback"),
    [
        ("example.com", "https://example.com/", None, "http://example.com/"),
        ("Example.COM.", "https://example.com/", None, "http://example.com/"),
        (
            "news.example.co.uk:8443",
            "https://news.example.co.uk:8443/",
            None,
            "http://news.example.co.uk:8443/",
        ),
        ("http://127.0.0.1:8123/", "http://127.0.0.1:8123/", None, None),
        ("http://127.0.0.1:8123", "http://127.0.0.1:8123/", None, None),
        ("https://example.com/fr/", "https://example.com/fr/", None, None),
        ("1,google.com", "https://google.com/", 1, "http://google.com/"),
        ("  42 , https://example.org/ ", "https://example.org/", 42, None),
        ("7\texample.net", "https://example.net/", 7, "http://example.net/"),
        ("münchen.de", "https://xn--mnchen-3ya.de/", None, "http://xn--mnchen-3ya.de/"),
        ("example.com,", "https://example.com/", None, "http://example.com/"),
    ],
)
def test_readable_lines(text, site, rank, fallback):
    parsed = parse_line(text, 3)
    assert parsed.error is None
    # Only a bare domain falls back to plain HTTP; a URL is surveyed as written.
    assert (parsed.site, parsed.rank, parsed.fallback, parsed.line) == (site, rank, fallback, 3)


@pytest.mark.parametrize(
    "text",
    [
        "not a site",
        "ftp://example.com/",
        "http://",
        "example..com",
        "x,example.com",
        "0,example.com",
        HOSTILE_LINE,
        "http://example.com:99999/",
    ],
)
def test_unreadable_lines(text):
    parsed = parse_line(text, 5)
    assert parsed.site is None
    assert parsed.error
    assert parsed.input == text.strip()


def test_blank_lines_comments_and_csv_header_are_not_sites():
    lines = ["rank,domain", "", "# comment", "1,a.example", "   ", "2,b.example", "a.example"]
    parsed = list(parse_lines(lines))
    assert [(p.line, p.rank, p.site) for p in parsed] == [
        (4, 1, "https://a.example/"),
        (6, 2, "https://b.example/"),
        (7, None, "https://a.example/"),
    ]


def test_rank_buckets():
    assert [rank_bucket(r) for r in (1, 10, 11, 100, 101, 1000, 5000, 99_999, 10**6, 10**7)] == [
        "1-10",
        "1-10",
        "11-100",
        "11-100",
        "101-1k",
        "101-1k",
        "1k-10k",
        "10k-100k",
        "100k-1M",
        ">1M",
    ]


def test_progress_prints_counts_when_not_a_terminal(tmp_path):
    stream = (tmp_path / "progress.txt").open("w+")
    progress = Progress(4, stream=stream, interval=0)
    progress.advance()
    progress.advance(3, unreachable=1)
    progress.close()
    stream.seek(0)
    lines = stream.read().splitlines()
    assert lines[0] == "survey: 1/4 sites done (25%), 0 unreachable"
    assert lines[-1] == "survey: 4/4 sites done (100%), 1 unreachable"
    assert "\r" not in "".join(lines)


def test_progress_draws_one_line_on_a_terminal():
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    stream = Terminal()
    progress = Progress(2, stream=stream)
    progress.advance()
    progress.advance(unreachable=1)
    progress.close()
    text = stream.getvalue()
    assert text.count("\n") == 1 and text.endswith("\n")
    assert text.rstrip("\n").rsplit("\r", 1)[-1].startswith("[" + "#" * 28 + "] survey: 2/2")


# -- a live survey of the population -------------------------------------------------------


@pytest.fixture(scope="module")
def population():
    with SiteFarm(POPULATION) as running:
        yield running


@pytest.fixture(scope="module")
def population_input(population, tmp_path_factory):
    """The site list: every site as a base URL, two closed ports, a duplicate, a bad line."""
    folder = tmp_path_factory.mktemp("survey")
    names = sorted(EXPECTED)
    lines = ["# The survey population of the tests", ""]
    index: dict[int, str] = {}
    for name in names:
        lines.append(population.url(name, "/"))
        index[len(lines)] = name
    lines.append("")
    for _ in range(2):
        lines.append(f"http://127.0.0.1:{closed_port()}/")
        index[len(lines)] = "(unreachable)"
    lines.append(population.url("gptbot-full", "/"))  # a duplicate line
    index[len(lines)] = "gptbot-full"
    lines.append(HOSTILE_LINE)
    index[len(lines)] = "(invalid)"
    path = folder / "sites.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path, index


@dataclass
class Survey:
    out: Path
    index: dict[int, str]  # input line -> site name
    records: list[dict[str, Any]]
    summary: dict[str, Any]
    proc: subprocess.CompletedProcess[str]


@pytest.fixture(scope="module")
def surveyed(population, population_input):
    path, index = population_input
    out = path.parent / "out"
    population.reset()
    proc = run_optout("survey", str(path), "-o", str(out))
    assert proc.returncode == 0, proc.stderr[-4000:]
    records = list(read_records(out / "results.jsonl"))
    summary = json.loads((out / "summary.json").read_text())
    return Survey(out, index, records, summary, proc)


def test_summary_matches_known_figures(surveyed):
    summary = surveyed.summary
    for key, value in EXPECTED_SUMMARY.items():
        assert summary[key] == value, key
    assert summary["purpose"] == "train"
    assert summary["mode"] == "live"


def test_summary_by_agent_on_both_bases(surveyed):
    summary = surveyed.summary
    # Every catalogue token is listed, zero counts included.
    assert set(summary["by_agent"]) == set(TOKENS)
    assert set(summary["by_agent_effective"]) == set(TOKENS)
    for token in TOKENS:
        assert summary["by_agent"][token] == EXPECTED_BY_AGENT.get(token, counts(0, 0, 0)), token
    for token, expected in EXPECTED_EFFECTIVE.items():
        assert summary["by_agent_effective"][token] == expected, token


def test_one_record_per_site_line_in_input_order(surveyed):
    index = surveyed.index
    records = surveyed.records
    assert [r["line"] for r in records] == sorted(index)
    assert len(records) == EXPECTED_SUMMARY["sites"]


def test_records_per_site(surveyed, population):
    index = surveyed.index
    records = surveyed.records
    for record in records:
        name = index[record["line"]]
        if name == "(unreachable)":
            assert record["reachable"] is False
            assert "unreachable" in record["error"]
            assert record["agents"] == {} and record["signals_reserving"] == []
            continue
        if name == "(invalid)":
            assert record["site"] is None and record["error"]
            assert record["input"] == HOSTILE_LINE
            continue
        expected = EXPECTED[name]
        assert record["reachable"] is True, name
        assert record["site"] == population.url(name, "/")
        assert record["origin"] == population.origin(name)
        assert record["signals_reserving"] == expected["signals"], name
        assert record["reserving"]["train"] == expected["signals"]
        assert record["reserved"]["train"] is bool(expected["signals"])
        assert set(record["agents"]) == set(TOKENS)
        agents = {
            token: bases for token, bases in expected.items() if token not in ("signals", "access")
        }
        if "access" in expected:
            group, coverage = expected["access"]
            assert record["access"] == {"group": group, "coverage": coverage}, name
        else:
            assert record["access"]["coverage"] in ("none", "partial"), name
        assert record["edge"]["home"] == {"status": 200, "class": "ok"}, name
        assert set(record["presence"]) == {
            "robots.txt",
            "ai.txt",
            "tdmrep.json",
            "content-signal",
            "content-usage",
            "license",
        }
        for token, (named, effective) in agents.items():
            assert record["agents"][token] == {"named": named, "effective": effective}, (
                name,
                token,
            )
        assert set(record["files"]) == {"robots.txt", "ai.txt", "tdmrep.json"}
        assert record["home"]["status"] == 200
        assert record["fetched_at"].endswith("Z")
        for finding in record["findings"] + record["site_findings"]:
            assert {"signal", "where", "rule", "source", "stance", "purposes"} <= set(finding)


def test_evidence_quotes_the_rules(surveyed):
    index = surveyed.index
    records = surveyed.records
    by_name = {index[r["line"]]: r for r in records}
    partial = by_name["gptbot-partial"]
    [finding] = [f for f in partial["site_findings"] if f.get("agent") == "GPTBot"]
    assert finding["rule"] == "Disallow: /news/"
    assert finding["source"].endswith("/robots.txt")
    # The home page itself stays open to GPTBot, so the evaluator allows it.
    assert partial["home_verdict"]["train"] == "allowed"
    tdm = by_name["tdmrep-file"]
    assert tdm["files"]["robots.txt"]["status"] == 404
    assert any(f["signal"] == "tdmrep" and f["stance"] == "reserve" for f in tdm["findings"])
    soft = by_name["aitxt-soft404"]
    [aitxt] = [f for f in soft["findings"] if f["signal"] == "ai.txt"]
    assert aitxt["stance"] == "unknown" and "HTML" in aitxt["detail"]
    noai = by_name["noai-header"]
    assert any(f["where"] == "header" for f in noai["findings"] if f["signal"] == "noai")
    robots_503 = by_name["robots-503"]
    assert robots_503["files"]["robots.txt"]["status"] == 503
    assert robots_503["home_verdict"]["crawl"] == "reserved"


def test_purpose_changes_the_figures(surveyed):
    records = surveyed.records
    search = summarise(records, purpose="search")
    # Only the * group and a failed robots.txt restrict search here: access, not opt-outs.
    assert search["reserved_any"] == 0
    assert search["access_restricted"] == 3
    assert search["by_signal"]["robots.txt"] == 0
    assert search["by_signal"]["content-signal"] == 0  # search=yes
    assert search["by_agent"] == summarise(records)["by_agent"]  # robots.txt only


def test_report_is_self_contained_with_charts(surveyed):
    out = surveyed.out
    text = (out / "report.html").read_text(encoding="utf-8")
    page = parse_page(text)
    assert page.count("svg") >= 3
    assert {"chart-signal", "chart-agents", "chart-suffix"} <= page.ids("figure")
    assert_self_contained(page)
    # The hostile input line is shown, escaped, never as markup.
    assert HOSTILE_LINE not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "GPTBot" in "".join(page.text)


def test_progress_and_result_line(surveyed):
    proc = surveyed.proc
    assert "survey: 21/21 sites done (100%), 2 unreachable" in proc.stderr
    assert "21 sites, 18 reachable, 13 reserving something for train" in proc.stdout
    assert "Traceback" not in proc.stderr


def test_second_run_fetches_nothing(surveyed, population, population_input):
    path, _ = population_input
    out = surveyed.out
    first_records = surveyed.records
    first_summary = surveyed.summary
    population.reset()
    proc = run_optout("survey", str(path), "-o", str(out), "--quiet")
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert {name: population.hits(name) for name in population.scenarios} == dict.fromkeys(
        population.scenarios, 0
    )
    assert list(read_records(out / "results.jsonl")) == first_records
    summary = json.loads((out / "summary.json").read_text())
    for key in EXPECTED_SUMMARY:
        assert summary[key] == first_summary[key]


def test_resume_surveys_only_missing_sites(surveyed, population, population_input, tmp_path):
    path, index = population_input
    first_records = surveyed.records
    resumed = tmp_path / "resumed"
    resumed.mkdir()
    missing = {"gptbot-partial", "tdmrep-meta"}
    kept = [r for r in first_records if index[r["line"]] not in missing]
    lines = [json.dumps(r) for r in kept]
    # A run killed mid-write leaves a torn last line; it must not matter.
    (resumed / "results.jsonl").write_text("\n".join(lines) + '\n{"line": 4, "inp', "utf-8")
    population.reset()
    proc = run_optout("survey", str(path), "-o", str(resumed), "--quiet", "--delay", "0.05")
    assert proc.returncode == 0, proc.stderr[-4000:]
    hits = {name: population.hits(name) for name in population.scenarios}
    assert {name for name, count in hits.items() if count} == missing
    assert all(hits[name] == 4 for name in missing)  # three policy files and the home page
    records = list(read_records(resumed / "results.jsonl"))
    assert [r["line"] for r in records] == sorted(index)
    summary = json.loads((resumed / "summary.json").read_text())
    for key, value in EXPECTED_SUMMARY.items():
        assert summary[key] == value, key


# -- scrapy crawl survey, rank lists, plain-HTTP fallback -------------------------------------


def test_scrapy_crawl_survey_with_ranks(population, tmp_path):
    port = population.origin("nothing").rsplit(":", 1)[1]
    sites = tmp_path / "top.csv"
    sites.write_text(
        "rank,domain\n"
        f"1,{population.url('gptbot-full', '/')}\n"
        f"50,{population.url('aitxt', '/')}\n"
        # A bare host is tried over HTTPS first; the farm speaks plain HTTP only.
        f"2000,127.0.0.1:{port}\n"
        f"20000,127.0.0.1:{closed_port()}\n",
        encoding="utf-8",
    )
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "scrapy",
            "crawl",
            "survey",
            "-a",
            f"input={sites}",
            "-a",
            f"out={out}",
            "-s",
            "LOG_LEVEL=WARNING",
            "-s",
            "SURVEY_PROGRESS=false",
        ],
        capture_output=True,
        text=True,
        timeout=240,
        env=env,
        cwd=ROOT,  # where scrapy.cfg is
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    summary = json.loads((out / "summary.json").read_text())
    assert (summary["sites"], summary["reachable"], summary["reserved_any"]) == (4, 3, 2)
    basic = ("sites", "reachable", "unreachable", "invalid", "reserved_any", "by_signal")
    buckets = {
        label: {key: figures[key] for key in basic}
        for label, figures in summary["by_rank_bucket"].items()
    }
    # What the edge answered for each home page: the closed port never answered.
    assert summary["by_rank_bucket"]["10k-100k"]["by_edge"]["unreachable"] == 1
    assert summary["by_edge"]["ok"] == 3 and summary["by_edge"]["unreachable"] == 1
    assert buckets == {
        "1-10": {
            "sites": 1,
            "reachable": 1,
            "unreachable": 0,
            "invalid": 0,
            "reserved_any": 1,
            "by_signal": {**dict.fromkeys(EXPECTED_SUMMARY["by_signal"], 0), "robots.txt": 1},
        },
        "11-100": {
            "sites": 1,
            "reachable": 1,
            "unreachable": 0,
            "invalid": 0,
            "reserved_any": 1,
            "by_signal": {**dict.fromkeys(EXPECTED_SUMMARY["by_signal"], 0), "ai.txt": 1},
        },
        "1k-10k": {
            "sites": 1,
            "reachable": 1,
            "unreachable": 0,
            "invalid": 0,
            "reserved_any": 0,
            "by_signal": dict.fromkeys(EXPECTED_SUMMARY["by_signal"], 0),
        },
        "10k-100k": {
            "sites": 1,
            "reachable": 0,
            "unreachable": 1,
            "invalid": 0,
            "reserved_any": 0,
            "by_signal": dict.fromkeys(EXPECTED_SUMMARY["by_signal"], 0),
        },
    }
    records = list(read_records(out / "results.jsonl"))
    assert [r["rank"] for r in records] == [1, 50, 2000, 20000]
    assert records[2]["site"] == f"http://127.0.0.1:{port}/"  # after the HTTPS attempt failed
    # Unreachable either way: reported as listed, with both attempts.
    assert records[3]["site"].startswith("https://127.0.0.1:")
    assert "also tried http://127.0.0.1:" in records[3]["error"]
    page = parse_page((out / "report.html").read_text(encoding="utf-8"))
    assert "chart-rank" in page.ids("figure")


# -- command-line errors -------------------------------------------------------------------


def test_survey_needs_input_or_captures(tmp_path, capsys):
    from scrapy_optout.cli import main

    assert main(["survey", "-o", str(tmp_path)]) == 2
    assert "INPUT or --captures" in capsys.readouterr().err
    sites = tmp_path / "s.txt"
    sites.write_text("example.com\n")
    assert main(["survey", str(sites), "--captures", str(sites), "-o", str(tmp_path)]) == 2
    assert main(["survey", str(tmp_path / "missing.txt"), "-o", str(tmp_path)]) == 2
    assert "no such file" in capsys.readouterr().err
    assert main(["survey", str(sites), "-o", str(tmp_path), "--concurrency", "0"]) == 2
    for delay in ("-1", "nan", "inf", "soon"):
        assert main(["survey", str(sites), "-o", str(tmp_path), "--delay", delay]) == 2
    assert main(["survey", str(sites)]) == 2  # -o is required


def test_survey_closes_idle_connections_after_seconds(tmp_path):
    # Twisted keeps an idle connection 240 s; a survey moves on from a site within
    # seconds, so its handler keeps them SURVEY_IDLE_CONNECTION_TIMEOUT seconds.
    script = (
        "import sys\n"
        "from scrapy.crawler import Crawler\n"
        "from scrapy.settings import Settings\n"
        "from scrapy.utils.misc import load_object\n"
        "from scrapy.utils.reactor import install_reactor\n"
        "from scrapy_optout.frontends.survey.spider import SurveySpider\n"
        "install_reactor('twisted.internet.asyncioreactor.AsyncioSelectorReactor')\n"
        "settings = Settings()\n"
        "settings.setmodule('scrapy_optout.frontends.survey.settings', priority='project')\n"
        "if len(sys.argv) > 1:\n"
        "    settings.set('SURVEY_IDLE_CONNECTION_TIMEOUT', sys.argv[1])\n"
        "crawler = Crawler(SurveySpider, settings)\n"
        "crawler._apply_settings()\n"
        "for scheme in ('http', 'https'):\n"
        "    handler = load_object(crawler.settings.getdict('DOWNLOAD_HANDLERS')[scheme])\n"
        "    print(scheme, handler(crawler)._pool.cachedConnectionTimeout)\n"
    )
    for args, expected in (((), "2.0"), (("1.5",), "1.5")):
        proc = subprocess.run(
            [sys.executable, "-c", script, *args], capture_output=True, text=True, timeout=120
        )
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert proc.stdout.split() == ["http", expected, "https", expected]


def test_survey_raises_a_low_open_file_limit(tmp_path):
    # At its default concurrency a survey can hold more sockets than the usual
    # soft limit of 1024; optout survey raises the soft limit (never the hard one).
    script = (
        "import resource\n"
        "from scrapy_optout.frontends.survey import crawl\n"
        "soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)\n"
        "resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard))\n"
        "crawl._raise_open_file_limit(2048)\n"
        "soft, after = resource.getrlimit(resource.RLIMIT_NOFILE)\n"
        "expected = 2048 if hard == resource.RLIM_INFINITY else min(2048, hard)\n"
        "print(soft == expected, after == hard)\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.split() == ["True", "True"]


def test_a_site_with_a_very_long_url_gets_its_record(population, tmp_path):
    # Scrapy's URL length limit (2083 characters) would drop the request
    # unanswered, and the line would get no record: the survey sets no limit.
    long_url = population.url("nothing", "/" + "a" * 2100)
    sites = tmp_path / "sites.txt"
    sites.write_text(f"{population.url('aitxt', '/')}\n{long_url}\n", encoding="utf-8")
    out = tmp_path / "out"
    proc = run_optout("survey", str(sites), "-o", str(out), "--quiet", "--workers", "1")
    assert proc.returncode == 0, proc.stderr[-4000:]
    records = list(read_records(out / "results.jsonl"))
    assert [(r["line"], r["site"]) for r in records] == [
        (1, population.url("aitxt", "/")),
        (2, long_url),
    ]
    assert records[1]["reachable"] and records[1]["home"]["status"] == 404
    assert json.loads((out / "summary.json").read_text())["sites"] == 2
