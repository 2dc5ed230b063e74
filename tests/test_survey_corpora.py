"""Capture surveys: real robots.txt corpora, JSON Lines captures and WARC files.

The survey's per-agent counts on the real corpora are compared with counts
computed here, independently, by a small line-based reading of RFC 9309 that
shares no code with the package (only the grouping of captures per host and
month is mirrored, since that is bookkeeping, not protocol):

* lines end at CR, LF or CRLF; ``#`` starts a comment; keys are matched
  without regard to case, with the spellings Google's parser also accepts
  (``useragent``, ``dissallow``...) and the colon-less two-word form;
* consecutive ``user-agent`` lines share the rules after them; a rule
  (``allow``, ``disallow``, ``content-usage``) ends the run, other lines do not;
* a ``user-agent`` value names the token made of its leading letters, ``_``
  and ``-``, lower-cased, or ``*``; a catalogue token that is not a valid
  product token (``img2dataset``) is matched against the value as written;
* the groups naming an agent are merged; the effective group is that, else
  the merged ``*`` groups;
* coverage, as the published studies define it: the rule that decides the path
  ``/`` is the longest pattern (in octets, as written) that matches it, an
  ``allow`` winning a tie (RFC 9309 §2.2.2); ``full`` when that rule is a
  ``disallow`` (``full_with_exceptions`` when the group also has an ``allow``
  line), ``partial`` when ``/`` stays allowed and some ``disallow`` line has a
  path, else ``none``.

The whole press-site corpus (2,251 captures, 11 months) is read; its per-month,
per-agent ``full`` / ``partial`` counts must all agree with this reading.
"""

from __future__ import annotations

import base64
import functools
import gzip
import io
import json
import re
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from helpers import FIXTURES
from scrapy_optout.frontends.survey import read_records, survey_captures
from scrapy_optout.frontends.survey.captures import read_captures
from scrapy_optout.protocols.agents import AgentCatalogue

UA = "optout-test/1.0 (+https://example.invalid/bot)"
FIREWALL = FIXTURES / "corpora" / "great-gpt-firewall-2024-2026" / "robotstxt.jsonl.gz"
PROTEGO = FIXTURES / "corpora" / "protego-robotstxt-2019" / "robotstxt.jsonl.gz"
CATALOGUE = list(AgentCatalogue.default())

# -- the independent reading ---------------------------------------------------------------

_KEYS = {
    "user-agent": "agent",
    "useragent": "agent",
    "user agent": "agent",
    "allow": "allow",
    "disallow": "disallow",
    "dissallow": "disallow",
    "dissalow": "disallow",
    "disalow": "disallow",
    "diasllow": "disallow",
    "disallaw": "disallow",
    "content-usage": "rule",
    "sitemap": "other",
    "site-map": "other",
    "content-signal": "other",
}
_TOKEN = re.compile(r"[A-Za-z_-]+")


def _key_value(line: str) -> tuple[str, str] | None:
    key, colon, value = line.partition(":")
    if colon and " ".join(key.lower().split()) in _KEYS:
        return _KEYS[" ".join(key.lower().split())], value.strip()
    words = line.split()
    if len(words) == 2 and words[0].lower() in _KEYS:
        return _KEYS[words[0].lower()], words[1]
    return None


_WIDE_MARKS = (
    (b"\xff\xfe\x00\x00", "utf-32-le"),
    (b"\x00\x00\xfe\xff", "utf-32-be"),
    (b"\xff\xfe", "utf-16-le"),
    (b"\xfe\xff", "utf-16-be"),
)


def groups_of(body: bytes) -> list[tuple[list[str], list[tuple[bool, str]]]]:
    """``[(user-agent values as written, [(is_allow, pattern)])]`` in file order."""
    # Files saved as UTF-16 or UTF-32 with a byte order mark (a few real ones
    # are) are read in that encoding.
    for mark, codec in _WIDE_MARKS:
        if body.startswith(mark):
            body = body[len(mark) : len(mark) + 512_000].decode(codec, "replace").encode()
            break
    for size in (3, 2, 1):
        if body.startswith(b"\xef\xbb\xbf"[:size]):
            body = body[size:]
            break
    if len(body) > 512_000:
        body = body[:512_000]
        if body[-1:] not in (b"\n", b"\r"):
            body = body[: max(body.rfind(b"\n"), body.rfind(b"\r")) + 1]
    groups: list[tuple[list[str], list[tuple[bool, str]]]] = []
    in_agents = False
    for raw in re.split(r"\r\n|\r|\n", body.decode("utf-8", "replace").replace("\x00", "")):
        line = raw.split("#", 1)[0].strip()
        parsed = _key_value(line) if line else None
        if parsed is None:
            continue
        kind, value = parsed
        if kind == "agent":
            if not in_agents:
                groups.append(([], []))
                in_agents = True
            if value:
                groups[-1][0].append(value)
        elif kind in ("allow", "disallow", "rule"):
            in_agents = False
            if groups and kind != "rule" and value:
                groups[-1][1].append((kind == "allow", value))
    return groups


def _names(value: str) -> set[str]:
    """What a user-agent value names: its token, or ``*``, plus its written forms."""
    value = value.strip()
    if value.startswith("*") and (len(value) == 1 or value[1] in " \t"):
        return {"*"}
    written = " ".join(value.lower().split())
    names = {f"written:{written}", f"written:{written.split('/', 1)[0].strip()}"}
    match = _TOKEN.match(value)
    if match:
        names.add(match.group().lower())
    return names


def _agent_key(token: str) -> str:
    return (
        token.lower() if _TOKEN.fullmatch(token) else f"written:{' '.join(token.lower().split())}"
    )


@functools.cache
def _matches_root(pattern: str) -> bool:
    anchored = pattern.endswith("$")
    body = pattern[:-1] if anchored else pattern
    regex = ".*".join(re.escape(piece) for piece in body.split("*"))
    return re.match(regex + ("$" if anchored else ""), "/") is not None


def coverage(rules: list[tuple[bool, str]] | None) -> str:
    if not rules:
        return "none"
    at_root = [(len(p.strip().encode()), allow) for allow, p in rules if _matches_root(p.strip())]
    # Longest pattern first; on a tie True (allow) sorts above False (disallow).
    if at_root and not max(at_root)[1]:
        return "full_with_exceptions" if any(allow for allow, _ in rules) else "full"
    if any(not allow for allow, _ in rules):
        return "partial"
    return "none"


def independent_agents(body: bytes) -> dict[str, tuple[str, str]]:
    """``{token: (named, effective)}`` for every catalogue agent."""
    by_name: dict[str, list[tuple[bool, str]]] = defaultdict(list)
    for agents, rules in groups_of(body):
        for name in set().union(*(_names(a) for a in agents)) if agents else set():
            by_name[name].extend(rules)
    covered = {name: coverage(rules) for name, rules in by_name.items()}
    star = covered.get("*", "none")
    result = {}
    for agent in CATALOGUE:
        named = covered.get(_agent_key(agent.token))
        result[agent.token] = (named or "none", named or star)
    return result


# -- reading the corpora here ---------------------------------------------------------------


def corpus_rows(path: Path) -> list[dict[str, Any]]:
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def body_of(row: dict[str, Any]) -> bytes:
    if row.get("body_base64"):
        return base64.b64decode(row["body_base64"])
    return (row.get("body") or "").encode("utf-8", "surrogatepass")


def latest_per_host_month(rows: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    kept: dict[tuple[str, str], dict[str, Any]] = {}
    for row in rows:
        url = row.get("url") or f"https://{row['domain']}/robots.txt"
        date = row.get("date") or row.get("month") or ""
        key = ((urlsplit(url).hostname or "").lower(), date[:7])
        if key not in kept or date >= (kept[key].get("date") or ""):
            kept[key] = row
    return kept


Counts = dict[str, dict[str, int]]


def expected_counts(rows: list[dict[str, Any]]) -> tuple[Counts, Counts]:
    """Per-agent site counts: (naming basis, effective basis).

    ``full`` counts the groups with exceptions too; ``full_with_exceptions``
    only those.
    """
    zero = {"full": 0, "full_with_exceptions": 0, "partial": 0}
    named: Counts = {agent.token: dict(zero) for agent in CATALOGUE}
    effective: Counts = {agent.token: dict(zero) for agent in CATALOGUE}
    for row in rows:
        for token, (by_name, in_effect) in independent_agents(body_of(row)).items():
            for counts, found in ((named[token], by_name), (effective[token], in_effect)):
                if found == "full_with_exceptions":
                    counts["full"] += 1
                if found != "none":
                    counts[found] += 1
    return named, effective


# -- the corpora -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def firewall(tmp_path_factory):
    out = tmp_path_factory.mktemp("firewall")
    summary = survey_captures([FIREWALL], out, user_agent=UA)
    return out, summary, latest_per_host_month(corpus_rows(FIREWALL))


def test_firewall_counts_per_month_match_independent_reading(firewall):
    _, summary, kept = firewall
    months = sorted({month for _, month in kept})
    assert list(summary["by_month"]) == months
    assert len(months) == 11
    for month in months:
        rows = [row for (_, m), row in kept.items() if m == month]
        figures = summary["by_month"][month]
        assert figures["sites"] == len(rows)
        named, effective = expected_counts(rows)
        assert figures["by_agent"] == named, month
        assert figures["by_agent_effective"] == effective, month


#: The agents whose counts published block indexes report.
HEADLINE_AGENTS = ("GPTBot", "CCBot", "Google-Extended", "ClaudeBot")


def test_firewall_88_cells_under_the_literature_definition(firewall):
    """11 months x 4 agents x {full, partial}: every cell as the independent reading gives it."""
    _, summary, kept = firewall
    cells = 0
    for month, figures in summary["by_month"].items():
        named, _ = expected_counts([row for (_, m), row in kept.items() if m == month])
        for token in HEADLINE_AGENTS:
            for count in ("full", "partial"):
                assert figures["by_agent"][token][count] == named[token][count], (
                    month,
                    token,
                    count,
                )
                cells += 1
    assert cells == 88
    # A group that disallows / and reopens a path is full, with exceptions.
    assert summary["by_month"]["2026-01"]["by_agent"]["GPTBot"] == {
        "full": 67,
        "full_with_exceptions": 4,
        "partial": 2,
    }


def test_firewall_latest_snapshot_per_site(firewall):
    _, summary, kept = firewall
    latest: dict[str, dict[str, Any]] = {}
    for (host, _month), row in sorted(kept.items()):
        latest[host] = row  # months sort in time order
    assert summary["sites"] == len(latest) == 206
    assert summary["records"] == len(kept) == 2251
    named, effective = expected_counts(list(latest.values()))
    assert summary["by_agent"] == named
    assert summary["by_agent_effective"] == effective
    # The corpus is from the AI era: GPTBot is the most blocked agent.
    top = max(summary["by_agent"], key=lambda t: summary["by_agent"][t]["full"])
    assert top == "GPTBot" and summary["by_agent"]["GPTBot"]["full"] >= 15


def test_firewall_records_and_report(firewall):
    out, _, kept = firewall
    records = list(read_records(out / "results.jsonl"))
    assert len(records) == len(kept)
    assert [r["line"] for r in records] == list(range(1, len(records) + 1))
    assert all(r["month"] and r["date"] and r["captures"] for r in records)
    assert all(r["files"]["ai.txt"] is None and r["home"] is None for r in records)
    report = (out / "report.html").read_text(encoding="utf-8")
    assert 'id="chart-time"' in report and "<polyline" in report


def test_protego_2019_counts_match_independent_reading(tmp_path):
    summary = survey_captures([PROTEGO], tmp_path, user_agent=UA)
    kept = latest_per_host_month(corpus_rows(PROTEGO))
    rows = list(kept.values())
    assert summary["sites"] == len(rows)
    assert summary["reachable"] == len(rows)
    named, effective = expected_counts(rows)
    assert summary["by_agent"] == named
    assert summary["by_agent_effective"] == effective
    # Before the AI era: few sites name GPTBot (it did not exist yet).
    assert summary["by_agent"]["GPTBot"] == {"full": 0, "full_with_exceptions": 0, "partial": 0}


# -- JSON Lines and WARC captures of several files -------------------------------------------


def test_jsonl_captures_of_every_file(tmp_path):
    captures = [
        {
            "url": "https://a.example/robots.txt",
            "body": "User-agent: GPTBot\nDisallow: /\n",
            "date": "2025-03-02",
        },
        {
            "url": "https://a.example/robots.txt",
            "body": "User-agent: GPTBot\nDisallow: /news/\n",
            "date": "2025-03-20",  # the later capture of the month wins
        },
        {
            "url": "https://a.example/ai.txt",
            "status": 200,
            "headers": {"Content-Type": "text/plain"},
            "body": "User-Agent: *\nDisallow: /\n",
            "date": "2025-03-02",
        },
        {
            "url": "https://a.example/",
            "status": 200,
            "headers": [["Content-Type", "text/html"], ["X-Robots-Tag", "noai"]],
            "body": "<html><head><title>a</title></head></html>",
            "date": "2025-03-02",
        },
        {"domain": "b.example", "body": "User-agent: *\nDisallow: /\n", "date": "2025-03-05"},
        {
            "url": "https://b.example/.well-known/tdmrep.json",
            "body": '[{"location": "/", "tdm-reservation": 1}]',
            "date": "2025-03-05",
        },
        {"domain": "b.example", "body": "User-agent: *\nAllow: /\n", "date": "2025-04-05"},
        {"url": "https://c.example/robots.txt", "status": 503, "body": "", "date": "2025-04-01"},
        {
            "url": "https://d.example/robots.txt",
            "body_base64": base64.b64encode(
                b"User-agent: CCBot\nDisallow: /\n# caf\xe9\n"
            ).decode(),
        },
    ]
    path = tmp_path / "captures.jsonl"
    path.write_text("\n".join(json.dumps(c) for c in captures) + "\nnot json\n{}\n", "utf-8")
    summary = survey_captures([path], tmp_path / "out", user_agent=UA)
    records = {(r["host"], r["month"]): r for r in read_records(tmp_path / "out" / "results.jsonl")}
    assert set(records) == {
        ("a.example", "2025-03"),
        ("b.example", "2025-03"),
        ("b.example", "2025-04"),
        ("c.example", "2025-04"),
        ("d.example", None),
    }
    a = records["a.example", "2025-03"]
    assert a["agents"]["GPTBot"] == {"named": "partial", "effective": "partial"}
    assert a["signals_reserving"] == ["robots.txt", "ai.txt", "noai"]
    assert a["home"]["status"] == 200 and a["date"] == "2025-03-20"
    b_march, b_april = records["b.example", "2025-03"], records["b.example", "2025-04"]
    # The * group closing the site restricts access; it is no AI opt-out.
    assert b_march["signals_reserving"] == ["tdmrep"]
    assert b_march["access"] == {"group": "*", "coverage": "full"}
    assert b_april["signals_reserving"] == []
    c = records["c.example", "2025-04"]
    assert c["agents"]["GPTBot"] == {"named": "none", "effective": "full"}
    assert c["access"] == {"group": None, "coverage": "full"}
    assert c["edge"]["robots.txt"] == {"status": 503, "class": "error"}
    d = records["d.example", None]
    assert d["agents"]["CCBot"]["named"] == "full" and d["month"] is None
    # Top level: each site's latest record (b in April); a site without dates counts too.
    assert summary["sites"] == 4
    assert summary["by_agent"]["GPTBot"] == {"full": 0, "full_with_exceptions": 0, "partial": 1}
    assert summary["by_agent_effective"]["GPTBot"] == {
        "full": 1,
        "full_with_exceptions": 0,
        "partial": 1,
    }
    assert summary["by_month"]["2025-03"]["reserved_any"] == 2
    assert summary["by_month"]["2025-03"]["access_restricted"] == 1  # b: * disallows /
    assert summary["by_month"]["2025-04"]["reserved_any"] == 0
    assert summary["by_month"]["2025-04"]["access_restricted"] == 1  # c: robots.txt 503


def _warc(path: Path) -> None:
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    with path.open("wb") as handle:
        writer = WARCWriter(handle, gzip=True)

        def response(url: str, status: str, headers: list[tuple[str, str]], body: bytes, date: str):
            http = StatusAndHeaders(status, headers, protocol="HTTP/1.1")
            record = writer.create_warc_record(
                url,
                "response",
                payload=io.BytesIO(body),
                http_headers=http,
                warc_headers_dict={"WARC-Date": date},
            )
            writer.write_record(record)

        robots = b"User-agent: GPTBot\nUser-agent: ClaudeBot\nDisallow: /\n"
        response(
            "https://news.example.co.uk/robots.txt",
            "200 OK",
            [("Content-Type", "text/plain")],
            robots,
            "2025-06-01T10:00:00Z",
        )
        response(
            "https://news.example.co.uk/ai.txt",
            "200 OK",
            [("Content-Type", "text/html")],
            b"<!DOCTYPE html><html><body>Not found</body></html>",
            "2025-06-01T10:00:01Z",
        )
        response(
            "https://news.example.co.uk/",
            "200 OK",
            [("Content-Type", "text/html; charset=utf-8"), ("Content-Signal", "ai-train=no")],
            b'<html><head><meta name="tdm-reservation" content="1"></head><body></body></html>',
            "2025-06-01T10:00:02Z",
        )
        response(
            "https://shop.example.com/robots.txt",
            "404 Not Found",
            [("Content-Type", "text/html")],
            b"<html>missing</html>",
            "2025-07-03T08:00:00Z",
        )
        writer.write_record(
            writer.create_warc_record(
                "https://shop.example.com/",
                "request",
                payload=io.BytesIO(b"GET / HTTP/1.1\r\n\r\n"),
            )
        )


def test_warc_captures(tmp_path):
    path = tmp_path / "crawl.warc.gz"
    _warc(path)
    captures = list(read_captures([path]))
    assert [(c.kind, c.status) for c in captures] == [
        ("robots.txt", 200),
        ("ai.txt", 200),
        ("page", 200),
        ("robots.txt", 404),
    ]
    summary = survey_captures([path], tmp_path / "out", user_agent=UA)
    records = list(read_records(tmp_path / "out" / "results.jsonl"))
    news = next(r for r in records if r["host"] == "news.example.co.uk")
    assert news["suffix"] == "co.uk" and news["domain"] == "example.co.uk"
    assert news["signals_reserving"] == ["robots.txt", "tdmrep", "content-signal"]
    assert news["agents"]["ClaudeBot"] == {"named": "full", "effective": "full"}
    assert news["files"]["ai.txt"]["content_type"] == "text/html"
    assert news["month"] == "2025-06"
    assert datetime.fromisoformat(news["fetched_at"].replace("Z", "+00:00")) == datetime(
        2025, 6, 1, 10, 0, 2, tzinfo=UTC
    )
    shop = next(r for r in records if r["host"] == "shop.example.com")
    assert shop["signals_reserving"] == [] and shop["agents"]["GPTBot"]["effective"] == "none"
    assert summary["sites"] == 2 and summary["reserved_any"] == 1
    assert summary["by_suffix"]["co.uk"]["reserved_any"] == 1
    assert set(summary["by_month"]) == {"2025-06", "2025-07"}


def test_captures_from_the_command_line(tmp_path):
    path = tmp_path / "crawl.warc.gz"
    _warc(path)
    from scrapy_optout.cli import main

    assert main(["survey", "--captures", str(path), "-o", str(tmp_path / "out"), "--quiet"]) == 0
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["mode"] == "captures" and summary["sites"] == 2
    assert (tmp_path / "out" / "report.html").exists()


# -- the collector's published labels, reproduced ------------------------------------------------

#: Agents whose mentions the collector labelled, lower-cased as it wrote them.
LABELLED = ("gptbot", "ccbot", "google-extended", "anthropic-ai", "claudebot")
#: Crawlers the collector records but does not count toward a site's status.
NOT_COUNTED = frozenset({"omgili", "omgilibot", "webzio-extended", "bytespider"})
#: Sites whose files read ``user-agent: user-agent: ccbot`` in 2025-03 and 2025-04: a
#: substring search finds the agent, RFC 9309 reads a group for the token ``user-agent``.
DOUBLED_KEY = {"wyborcza.pl", "www.wysokieobcasy.pl"}
SHIFTED = frozenset({"ccbot", "anthropic-ai", "claudebot"})


def test_firewall_published_labels_reproduced(firewall):
    """The collector's two published figures, month by month, from the survey's records.

    Per agent: sites whose robots.txt mentions it (``source_label_mentioned``),
    against ``by_agent_named``. Per site: the status ``mentions_ai_agent``
    (any agent of that month's list but the four general crawlers), against
    the records' ``agents_named``.
    """
    out, summary, kept = firewall
    checked = json.loads((FIREWALL.parent / "agents-checked-by-month.json").read_text())
    records = {(r["host"], r["month"]): r for r in read_records(out / "results.jsonl")}
    catalogue = AgentCatalogue.default()
    for month, figures in summary["by_month"].items():
        rows = {host: row for (host, m), row in kept.items() if m == month}
        for name in LABELLED:
            token = catalogue.get(name).token
            published = sum(name in (row["source_label_mentioned"] or ()) for row in rows.values())
            doubled = sum(
                name in (row["source_label_mentioned"] or ()) and row["domain"] in DOUBLED_KEY
                for row in rows.values()
            )
            shifted = month in ("2025-03", "2025-04") and name in SHIFTED
            assert figures["by_agent_named"][token] == published - (2 if shifted else 0), (
                month,
                name,
            )
            if shifted:
                assert doubled == 2
        counted = {a.lower() for a in checked[month]} - NOT_COUNTED
        status = 0
        for host, row in rows.items():
            named = {t.lower() for t in records[host, month]["agents_named"]}
            ours = bool(named & counted)
            assert ours == (row["source_label_status"] == "mentions_ai_agent"), (month, host)
            status += ours
        assert status == sum(
            row["source_label_status"] == "mentions_ai_agent" for row in rows.values()
        )
