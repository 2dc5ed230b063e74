"""Settings and command-line input are checked before anything is fetched.

A bad ``OPTOUT_*`` value stops the crawl (never a silent "enforcement off"),
with an error naming the setting; ``optout check`` refuses a URL it cannot
check as given with exit 2 and one line on standard error; failed downloads
are worded alike by the crawl and by the check.
"""

from __future__ import annotations

import json
import math
import os
import re
import socket
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import requests
from scrapy.exceptions import (
    CannotResolveHostError,
    DownloadConnectionRefusedError,
    DownloadTimeoutError,
    NotConfigured,
)
from scrapy.settings import Settings
from scrapy.utils.test import get_crawler
from twisted.internet import error as twisted_error

from faultserver import FaultServer, Redirect, html
from helpers import TEST_UA, closed_port, run_crawl
from scrapy_optout import ConfigurationError, FetchError, OptOutMiddleware, OptOutPipeline
from scrapy_optout.cli import main
from scrapy_optout.exceptions import describe_error
from scrapy_optout.frontends.check import check_url, validate_url
from scrapy_optout.frontends.http import HttpFetcher
from scrapy_optout.scrapy.settings import DEFAULTS, OptOutSettings, enabled
from scrapy_optout.verdict import Purpose

NAN = float("nan")
INF = float("inf")


def read(**values: Any) -> OptOutSettings:
    return OptOutSettings.from_settings(Settings(values))


# -- settings: the fast layer ------------------------------------------------------------------

BAD = [
    ("OPTOUT_POLICY_TIMEOUT", 0),
    ("OPTOUT_POLICY_TIMEOUT", -1),
    ("OPTOUT_POLICY_TIMEOUT", "0"),
    ("OPTOUT_POLICY_TIMEOUT", "abc"),
    ("OPTOUT_POLICY_TIMEOUT", True),
    ("OPTOUT_POLICY_TIMEOUT", NAN),
    ("OPTOUT_POLICY_TIMEOUT", INF),
    ("OPTOUT_POLICY_TIMEOUT", "inf"),
    ("OPTOUT_POLICY_TIMEOUT", [10]),
    ("OPTOUT_POLICY_RETRY_TIMES", -1),
    ("OPTOUT_POLICY_RETRY_TIMES", "-1"),
    ("OPTOUT_POLICY_RETRY_TIMES", 1.5),
    ("OPTOUT_POLICY_RETRY_TIMES", "two"),
    ("OPTOUT_POLICY_RETRY_TIMES", True),
    ("OPTOUT_POLICY_RETRY_TIMES", {"times": 1}),
    ("OPTOUT_CACHE_TTL", 0),
    ("OPTOUT_CACHE_TTL", -5),
    ("OPTOUT_CACHE_TTL", 86401),
    ("OPTOUT_CACHE_TTL", "a day"),
    ("OPTOUT_CACHE_TTL", True),
    ("OPTOUT_CACHE_TTL", NAN),
    ("OPTOUT_CACHE_TTL", INF),
    ("OPTOUT_ERROR_TTL", 0),
    ("OPTOUT_ERROR_TTL", -1),
    ("OPTOUT_ERROR_TTL", NAN),
    ("OPTOUT_ERROR_TTL", False),
    ("OPTOUT_ERROR_TTL", 90000),  # longer than OPTOUT_CACHE_TTL
    ("OPTOUT_CACHE_SIZE", 0),
    ("OPTOUT_CACHE_SIZE", -1),
    ("OPTOUT_CACHE_SIZE", 2.5),
    ("OPTOUT_CACHE_SIZE", "many"),
    ("OPTOUT_CACHE_SIZE", True),
    ("OPTOUT_POLICY_MAXSIZE", 511999),
    ("OPTOUT_POLICY_MAXSIZE", 0),
    ("OPTOUT_POLICY_MAXSIZE", "1 MiB"),
    ("OPTOUT_POLICY_MAXSIZE", True),
    ("OPTOUT_DECOMPRESSION_MAXSIZE", -1),
    ("OPTOUT_DECOMPRESSION_MAXSIZE", INF),
    ("OPTOUT_DECOMPRESSION_MAXSIZE", False),
    ("OPTOUT_PURPOSE", "bogus"),
    ("OPTOUT_PURPOSE", 1),
    ("OPTOUT_PURPOSE", ["train"]),
    ("OPTOUT_MODE", "dry-run"),
    ("OPTOUT_MODE", True),
    ("OPTOUT_UNKNOWN", "maybe"),
    ("OPTOUT_UNKNOWN", 0),
    ("OPTOUT_ITEM_ACTION", "keep"),
    ("OPTOUT_ITEM_ACTION", 1),
    ("OPTOUT_AGENTS", {"MyBot": 1}),
    ("OPTOUT_AGENTS", [1]),
    ("OPTOUT_AGENTS", ["MyBot", ""]),
    ("OPTOUT_AGENTS", 5),
    ("OPTOUT_AGENTS", [None]),
    ("OPTOUT_POLICY_FILES", ["ai.txt"]),
    ("OPTOUT_POLICY_FILES", ["robots.txt", "humans.txt"]),
    ("OPTOUT_POLICY_FILES", {"robots.txt": True}),
    ("OPTOUT_ITEM_URL_FIELDS", {"source_url": 1}),
    ("OPTOUT_ITEM_URL_FIELDS", [3]),
    ("OPTOUT_ENABLED", "maybe"),
    ("OPTOUT_ENABLED", 2),
    ("OPTOUT_LOG_EXCLUSIONS", "perhaps"),
    ("OPTOUT_LOG_EXCLUSIONS", []),
    ("OPTOUT_PROVENANCE", "yes"),
    ("OPTOUT_PROVENANCE", 2),
    ("OPTOUT_LEDGER", 5),
    ("OPTOUT_LEDGER", ["ledger.jsonl"]),
    ("OPTOUT_EVIDENCE_DIR", 5),
    ("OPTOUT_USER_AGENT", ["MyBot"]),
    ("OPTOUT_POLICY_STORE", "http://127.0.0.1:6379"),
    ("OPTOUT_POLICY_STORE", 6379),
    ("OPTOUT_POLICY_STORE_FALLBACK", "allow"),
    ("OPTOUT_POLICY_STORE_PREFIX", ["optout"]),
    ("OPTOUT_POLICY_STORE_LOCAL_TTL", -1),
    ("OPTOUT_POLICY_STORE_LEASE", 0),
    ("OPTOUT_POLICY_STORE_WAIT", NAN),
    ("OPTOUT_POLICY_STORE_TIMEOUT", "soon"),
    ("OPTOUT_REGISTRY", 5),
    ("OPTOUT_REGISTRY", {"registry.jsonl": 1}),
    ("OPTOUT_REGISTRY", [""]),
    ("OPTOUT_REGISTRY", "ftp://registry.example/optouts.jsonl"),
    ("OPTOUT_REGISTRY", "https:///optouts.jsonl"),
    ("OPTOUT_REGISTRY", "no-such-registry.jsonl"),
]


@pytest.mark.parametrize(("name", "value"), BAD, ids=lambda v: repr(v)[:24])
def test_bad_setting_names_itself(name, value):
    with pytest.raises(ConfigurationError) as info:
        read(**{name: value})
    message = str(info.value)
    assert message.startswith(name), message
    assert "must" in message
    if name != "OPTOUT_POLICY_FILES":
        assert repr(value) in message, message


def test_every_setting_is_checked():
    assert {name for name, _ in BAD} == set(DEFAULTS)


def test_configuration_error_is_a_value_error():
    with pytest.raises(ValueError, match="OPTOUT_CACHE_SIZE must be a whole number, at least 1"):
        read(OPTOUT_CACHE_SIZE=0)


def test_empty_ledger_path_is_refused():
    with pytest.raises(ConfigurationError, match="OPTOUT_LEDGER must be a non-empty string"):
        read(OPTOUT_LEDGER="  ")


def test_download_timeout_is_checked_when_it_is_the_policy_timeout():
    with pytest.raises(
        ConfigurationError, match=r"DOWNLOAD_TIMEOUT \(OPTOUT_POLICY_TIMEOUT is unset"
    ):
        read(DOWNLOAD_TIMEOUT=0)
    # Set, OPTOUT_POLICY_TIMEOUT decides alone.
    assert read(DOWNLOAD_TIMEOUT=0, OPTOUT_POLICY_TIMEOUT=5).policy_timeout == 5


def test_defaults():
    settings = read()
    assert settings.purpose is Purpose.TRAIN
    assert settings.mode == "enforce"
    assert settings.cache_ttl == 86400
    assert settings.error_ttl == 600
    assert settings.cache_size == 10000
    assert settings.policy_timeout == 180  # Scrapy's DOWNLOAD_TIMEOUT
    assert settings.policy_retry_times == 1
    assert settings.policy_files == ("robots.txt", "ai.txt", "tdmrep.json")
    assert settings.agents == ()
    assert settings.user_agent.startswith("Scrapy")
    assert settings.evidence_dir is None


@pytest.mark.parametrize(
    ("values", "attribute", "expected"),
    [
        ({"OPTOUT_CACHE_TTL": "3600"}, "cache_ttl", 3600),
        ({"OPTOUT_CACHE_TTL": 0.5, "OPTOUT_ERROR_TTL": 0.25}, "error_ttl", 0.25),
        ({"OPTOUT_CACHE_TTL": 86400}, "cache_ttl", 86400),
        ({"OPTOUT_POLICY_TIMEOUT": "2.5"}, "policy_timeout", 2.5),
        ({"OPTOUT_POLICY_TIMEOUT": 0.001}, "policy_timeout", 0.001),
        ({"DOWNLOAD_TIMEOUT": 7}, "policy_timeout", 7),
        ({"OPTOUT_POLICY_RETRY_TIMES": 0}, "policy_retry_times", 0),
        ({"OPTOUT_POLICY_RETRY_TIMES": "3"}, "policy_retry_times", 3),
        ({"OPTOUT_CACHE_SIZE": 1}, "cache_size", 1),
        ({"OPTOUT_CACHE_SIZE": 1e6}, "cache_size", 1000000),
        ({"OPTOUT_POLICY_MAXSIZE": 512000}, "policy_maxsize", 512000),
        ({"OPTOUT_DECOMPRESSION_MAXSIZE": 0}, "decompression_maxsize", 0),
        ({"OPTOUT_PURPOSE": "TDM"}, "purpose", Purpose.TDM),
        ({"OPTOUT_PURPOSE": Purpose.INPUT}, "purpose", Purpose.INPUT),
        ({"OPTOUT_MODE": "Measure"}, "mode", "measure"),
        ({"OPTOUT_UNKNOWN": "reserve"}, "unknown", "reserve"),
        ({"OPTOUT_ITEM_ACTION": "Strip"}, "item_action", "strip"),
        ({"OPTOUT_AGENTS": ["MyBot", "OtherBot"]}, "agents", ("MyBot", "OtherBot")),
        ({"OPTOUT_AGENTS": "MyBot, OtherBot,"}, "agents", ("MyBot", "OtherBot")),
        ({"OPTOUT_AGENTS": ("MyBot",)}, "agents", ("MyBot",)),
        ({"OPTOUT_POLICY_FILES": "robots.txt,ai.txt"}, "policy_files", ("robots.txt", "ai.txt")),
        ({"OPTOUT_ITEM_URL_FIELDS": "source_url"}, "item_url_fields", ("source_url",)),
        ({"OPTOUT_ENABLED": "false"}, "enabled", False),
        ({"OPTOUT_ENABLED": 0}, "enabled", False),
        ({"OPTOUT_LOG_EXCLUSIONS": "True"}, "log_exclusions", True),
        ({"OPTOUT_PROVENANCE": "1"}, "provenance", True),
        ({"OPTOUT_PROVENANCE": "false"}, "provenance", False),
        ({"OPTOUT_LEDGER": Path("runs/l.jsonl")}, "ledger", "runs/l.jsonl"),
        ({"OPTOUT_EVIDENCE_DIR": ""}, "evidence_dir", None),
        ({"OPTOUT_USER_AGENT": "", "USER_AGENT": "MyBot/1.0"}, "user_agent", "MyBot/1.0"),
    ],
    ids=lambda v: repr(v)[:40],
)
def test_good_values_are_accepted(values, attribute, expected):
    assert getattr(read(**values), attribute) == expected


def test_bool_is_not_a_number_but_a_number_is_not_a_bool_either():
    assert read(OPTOUT_POLICY_RETRY_TIMES=1).policy_retry_times == 1
    with pytest.raises(ConfigurationError, match="OPTOUT_POLICY_RETRY_TIMES"):
        read(OPTOUT_POLICY_RETRY_TIMES=True)
    assert math.isclose(read(OPTOUT_POLICY_TIMEOUT=1).policy_timeout, 1.0)


def test_enabled_is_checked_by_the_components():
    assert enabled(Settings({"OPTOUT_ENABLED": "True"})) is True
    with pytest.raises(ConfigurationError, match="OPTOUT_ENABLED must be True or False"):
        enabled(Settings({"OPTOUT_ENABLED": "perhaps"}))


@pytest.mark.parametrize("component", [OptOutMiddleware, OptOutPipeline])
def test_components_raise_configuration_error_not_notconfigured(component, tmp_path):
    ledger = str(tmp_path / "l.jsonl")
    crawler = get_crawler(settings_dict={"OPTOUT_LEDGER": ledger, "OPTOUT_CACHE_TTL": -1})
    with pytest.raises(ConfigurationError, match="OPTOUT_CACHE_TTL"):
        component.from_crawler(crawler)
    crawler = get_crawler(settings_dict={"OPTOUT_ENABLED": False, "OPTOUT_CACHE_TTL": -1})
    with pytest.raises(NotConfigured):
        component.from_crawler(crawler)


def test_unknown_optout_setting_is_warned_about(caplog):
    read(OPTOUT_PURPOS="tdm")
    assert "Unknown setting OPTOUT_PURPOS" in caplog.text


# -- settings: a real crawl refuses to start -----------------------------------------------------

SPIDER = """
import scrapy

class Spider(scrapy.Spider):
    name = "validation"
    start_urls = [URL]

    def parse(self, response):
        yield {"url": response.url}
"""


def run_spider(tmp_path: Path, url: str, *settings: str) -> subprocess.CompletedProcess[str]:
    tmp_path.mkdir(parents=True, exist_ok=True)
    spider = tmp_path / "spider.py"
    spider.write_text(textwrap.dedent(SPIDER).replace("URL", repr(url)))
    args = [sys.executable, "-m", "scrapy", "runspider", str(spider), "-O", "items.jsonl"]
    base = ['ADDONS={"scrapy_optout.Addon": 500}', f"USER_AGENT={TEST_UA}", "TELEMETRY_ENABLED=0"]
    for setting in [*base, *settings]:
        args += ["-s", setting]
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    return subprocess.run(
        args, capture_output=True, text=True, timeout=240, cwd=tmp_path, env=env, check=False
    )


def test_crawl_with_a_bad_setting_does_not_start(farm, tmp_path):
    url = farm.url("open", "/")
    before = farm.hits("open")
    bad = run_spider(tmp_path / "bad", url, "OPTOUT_POLICY_TIMEOUT=0")
    assert bad.returncode != 0, bad.stderr[-3000:]
    assert "OPTOUT_POLICY_TIMEOUT must be a number, more than 0, not '0'" in bad.stderr
    assert farm.hits("open") == before, "a request left although the crawl was misconfigured"
    assert not (tmp_path / "bad" / "optout-ledger.jsonl").exists()
    # The same crawl with a usable value runs and keeps the page.
    good = run_spider(tmp_path / "good", url, "OPTOUT_POLICY_TIMEOUT=5")
    assert good.returncode == 0, good.stderr[-3000:]
    items = (tmp_path / "good" / "items.jsonl").read_text().splitlines()
    assert [json.loads(item)["url"] for item in items] == [url]


# -- optout check: bad input is refused, exit 2 ------------------------------------------------

BAD_URLS = [
    ("http://127.0.0.1:99999/", "invalid port"),
    ("http://127.0.0.1:abc/", "invalid port"),
    ("http://127.0.0.1:-1/", "invalid port"),
    ("http://127.0.0.1:0/", "invalid port"),
    ("http://127.0.0.1:+80/", "invalid port"),
    ("http://[::1/", "malformed IPv6 address"),
    ("http://[zz::1]/", "malformed IPv6 address"),
    ("http://::1/", "malformed IPv6 address"),
    ("http://[v1.x]/", "malformed IPv6 address"),
    ("http:///path", "no host"),
    ("http://:8080/", "no host"),
    ("ftp://example.invalid/x", "not an http(s) URL"),
    ("file:///etc/passwd", "not an http(s) URL"),
    ("example.invalid/x", "not an http(s) URL"),
]


@pytest.mark.parametrize(("url", "reason"), BAD_URLS)
def test_check_refuses_a_bad_url(capsys, url, reason):
    assert main(["check", url, "--timeout", "1"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1, err
    assert err.startswith("optout: error: ") and reason in err, err
    # Refused up front: never the default port's origin in its place.
    assert "cannot reach" not in err and ":80" not in err.replace(":8080", "")


@pytest.mark.parametrize(("url", "reason"), BAD_URLS)
def test_library_refuses_a_bad_url(url, reason):
    with pytest.raises(FetchError, match=re.escape(reason)):
        validate_url(url)
    with pytest.raises(FetchError, match=re.escape(reason)):
        check_url(url, fetcher=HttpFetcher(TEST_UA, timeout=1))


@pytest.mark.parametrize(
    ("target", "says"),
    [
        ("http://127.0.0.1:99999/x", "an unusable URL: invalid port"),
        ("http://[::1/x", "an unusable URL: malformed URL"),
        ("http://[zz::1]/x", "an unusable URL: malformed URL"),
        ("http://:8080/x", "an unusable URL: no host"),
        ("gopher://h/x", "a non-http(s) URL"),
    ],
)
def test_check_refuses_a_redirect_to_a_bad_url(capsys, target, says):
    with FaultServer({"/start": Redirect(target)}) as server:
        assert main(["check", server.url("/start"), "--timeout", "5"]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"optout: error: redirect to {says}"), err
        assert err.count("\n") == 1
        # The redirect target was never treated as an origin of its own: nothing more was asked.
        assert server.hits("/start") == 1


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:8080/", "https://[::1]:8443/a", "http://[fe80::1%25eth0]/", "HTTP://A.B/"],
)
def test_usable_urls_pass(url):
    validate_url(url)


@pytest.mark.parametrize(
    ("timeout", "message"),
    [
        ("0", "must be more than 0"),
        ("-1", "must be more than 0"),
        ("-0.5", "must be more than 0"),
        ("nan", "must be a finite number"),
        ("inf", "must be a finite number"),
        ("-inf", "must be a finite number"),
        ("soon", "not a number"),
    ],
)
def test_check_refuses_a_bad_timeout(capsys, timeout, message):
    assert main(["check", "http://127.0.0.1:9/", f"--timeout={timeout}"]) == 2
    err = capsys.readouterr().err
    assert "argument --timeout" in err and message in err, err


@pytest.mark.parametrize("timeout", [0, -1, NAN, INF, True])
def test_fetcher_refuses_a_bad_timeout(timeout):
    with pytest.raises(ConfigurationError, match="timeout must be a number above 0"):
        HttpFetcher(TEST_UA, timeout=timeout)


def test_survey_refuses_a_bad_concurrency(capsys, tmp_path):
    sites = tmp_path / "sites.txt"
    sites.write_text("example.invalid\n")
    for value in ("0", "many"):
        assert (
            main(["survey", str(sites), "-o", str(tmp_path / "out"), "--concurrency", value]) == 2
        )
        assert "argument --concurrency" in capsys.readouterr().err


def test_report_of_an_unreadable_ledger_exits_2(capsys, tmp_path):
    assert main(["report", str(tmp_path / "missing.jsonl")]) == 2
    assert capsys.readouterr().err.startswith("optout: error: ")
    ledger = tmp_path / "ledger.jsonl"
    ledger.write_text("")
    # Writing the HTML report into a folder that does not exist is an error, not a traceback.
    assert main(["report", str(ledger), "--html", str(tmp_path / "no" / "r.html")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("optout: error: ") and "Traceback" not in err


# -- a closed output pipe ends quietly ---------------------------------------------------------


def closed_pipe(args: list[str], cwd: Path) -> subprocess.CompletedProcess[bytes]:
    """Run ``python -m scrapy_optout ARGS`` with a stdout whose reader has already gone."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        return subprocess.run(
            [sys.executable, "-m", "scrapy_optout", *args],
            stdout=write_end,
            stderr=subprocess.PIPE,
            timeout=120,
            cwd=cwd,
            check=False,
        )
    finally:
        os.close(write_end)


def test_check_into_a_closed_pipe_ends_quietly(farm, tmp_path):
    url = farm.url("open", "/")
    done = closed_pipe(["check", url, "--json", "--user-agent", TEST_UA], tmp_path)
    stderr = done.stderr.decode()
    assert "Traceback" not in stderr and "BrokenPipe" not in stderr, stderr
    assert stderr == ""
    assert done.returncode == 2
    # Text output too, and for a reserved page.
    reserved = farm.url("robots-ai-groups", "/index.html")
    done = closed_pipe(["check", reserved, "--user-agent", "optout-test/1.0"], tmp_path)
    assert done.stderr.decode() == "" and done.returncode == 2


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["report", "ledger.jsonl"], 2),
        (["report", "ledger.jsonl", "--json"], 2),
        (["--help"], 0),  # argparse writes its help and ignores a closed stream itself
    ],
)
def test_report_into_a_closed_pipe_ends_quietly(tmp_path, args, code):
    record = {
        "url": "http://example.invalid/a",
        "verdict": "reserved",
        "purpose": "train",
        "stage": "origin",
        "reasons": [
            {"signal": "robots.txt", "where": "file", "rule": "Disallow: /", "source": "x"}
        ],
    }
    (tmp_path / "ledger.jsonl").write_text(json.dumps(record) + "\n")
    done = closed_pipe(args, tmp_path)
    stderr = done.stderr.decode()
    assert "Traceback" not in stderr and "BrokenPipe" not in stderr, stderr
    assert done.returncode == code


# -- failed downloads: one wording for the crawl and the check ---------------------------------


def test_check_says_connection_refused(capsys):
    url = f"http://127.0.0.1:{closed_port()}/"
    assert main(["check", url, "--timeout", "5"]) == 2
    err = capsys.readouterr().err
    assert "connection refused (ConnectionRefusedError)" in err, err


def test_check_says_name_not_resolved(capsys):
    # RFC 6761 §6.4: names under .invalid never resolve.
    assert main(["check", "http://optout-test.invalid/", "--timeout", "5"]) == 2
    err = capsys.readouterr().err
    assert "name not resolved" in err, err


def test_fetcher_wording_for_refused_and_unresolved():
    fetcher = HttpFetcher(TEST_UA, timeout=5)
    refused = fetcher.fetch(f"http://127.0.0.1:{closed_port()}/robots.txt")
    assert refused.status is None
    assert refused.error == "connection refused (ConnectionRefusedError)"
    unresolved = fetcher.fetch("http://no-such-host.invalid/robots.txt")
    assert unresolved.status is None
    assert unresolved.error is not None and unresolved.error.startswith("name not resolved (")


def chained(outer: BaseException, inner: BaseException) -> BaseException:
    outer.__cause__ = inner
    return outer


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        # The Scrapy side: Twisted's errors and Scrapy's wrappers of them.
        (twisted_error.ConnectionRefusedError(), "connection refused (ConnectionRefusedError)"),
        (
            chained(DownloadConnectionRefusedError(), twisted_error.ConnectionRefusedError()),
            "connection refused (DownloadConnectionRefusedError)",
        ),
        (twisted_error.DNSLookupError(), "name not resolved (DNSLookupError)"),
        (CannotResolveHostError(), "name not resolved (CannotResolveHostError)"),
        (twisted_error.TCPTimedOutError(), "timed out (TCPTimedOutError)"),
        (twisted_error.TimeoutError(), "timed out (TimeoutError)"),
        (DownloadTimeoutError(), "timed out (DownloadTimeoutError)"),
        (twisted_error.ConnectionLost(), "connection failed (ConnectionLost)"),
        # The check side: requests and what it wraps.
        (requests.ConnectTimeout(), "timed out (ConnectTimeout)"),
        (requests.ReadTimeout(), "timed out (ReadTimeout)"),
        (requests.exceptions.SSLError(), "TLS error (SSLError)"),
        (requests.TooManyRedirects(), "too many redirects (TooManyRedirects)"),
        (
            requests.ConnectionError(chained(OSError("x"), ConnectionRefusedError())),
            "connection refused (ConnectionRefusedError)",
        ),
        (
            requests.ConnectionError(chained(OSError("x"), socket.gaierror(-2, "no"))),
            "name not resolved (gaierror)",
        ),
        (requests.ConnectionError(), "connection failed (ConnectionError)"),
        (TimeoutError(), "timed out (TimeoutError)"),
        (ValueError("https://attacker.example/said-so"), "download failed (ValueError)"),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, BaseException) else v,
)
def test_one_wording(exc, expected):
    assert describe_error(exc) == expected


def test_crawl_evidence_uses_the_same_wording(tmp_path):
    refused = f"http://127.0.0.1:{closed_port()}/"
    unresolved = "http://optout-crawl.invalid/"
    result = run_crawl(
        tmp_path,
        [refused, unresolved],
        {
            "OPTOUT_MODE": "measure",
            "OPTOUT_POLICY_RETRY_TIMES": 0,
            "OPTOUT_POLICY_FILES": ["robots.txt"],
            "RETRY_ENABLED": False,
            "DOWNLOAD_TIMEOUT": 10,
        },
    )
    errors = {
        record["url"]: [e.get("error", "") for e in record["evidence"]] for record in result.ledger
    }
    assert any(e.startswith("connection refused (") for e in errors[refused]), errors
    assert any(e.startswith("name not resolved (") for e in errors[unresolved]), errors


@pytest.mark.parametrize("location", ["http://[::1/robots.txt", "http://[zz::1]/robots.txt"])
def test_robots_redirect_to_a_malformed_url_is_read_alike(capsys, tmp_path, location):
    # A redirect that cannot be followed ends the chain in the crawl and in the check alike:
    # the 3xx answer is robots.txt's outcome (RFC 9309: unavailable), not a network failure.
    routes = {"/robots.txt": Redirect(location), "/page.html": html("kept")}
    with FaultServer(routes) as server:
        page = server.url("/page.html")
        assert main(["check", page, "--json", "--timeout", "5", "--user-agent", TEST_UA]) == 0
        report = json.loads(capsys.readouterr().out)
        robots = next(e for e in report["evidence"] if e["source"].endswith("/robots.txt"))
        assert robots["status"] == 302, robots
        result = run_crawl(tmp_path, [page], {"OPTOUT_MODE": "measure"})
        assert page in result.item_urls
        record = next(r for r in result.ledger if r["url"] == page)
        crawl_robots = next(e for e in record["evidence"] if e["source"].endswith("/robots.txt"))
        assert crawl_robots["status"] == 302, crawl_robots
