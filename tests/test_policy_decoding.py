"""Policy files read as written: encodings, NUL padding, byte order marks, agent lists.

The same robots.txt, ai.txt and tdmrep.json, saved every way an editor or a
server saves them, must reserve exactly what the plain UTF-8 file reserves;
a ``User-agent`` line that names several agents binds all of them, and the
findings say how the file and the line were read.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from faultserver import FaultServer, html, text
from helpers import TEST_UA, run_crawl
from scrapy_optout.cli import main
from scrapy_optout.protocols import aitxt, robots, tdmrep
from scrapy_optout.protocols.robots import RobotsTxt, listed_agents
from scrapy_optout.protocols.text import decode_policy_text, looks_binary, printable
from scrapy_optout.verdict import Finding, Purpose, Stance, decide

TOKEN = "optout-test"
SOURCE = "https://example.com/robots.txt"

ROBOTS = (
    "# the site's policy\n"
    "User-agent: GPTBot\n"
    "User-agent: CCBot\n"
    "Disallow: /\n"
    "\n"
    "User-agent: *\n"
    "Disallow: /private/\n"
    "Allow: /private/open\n"
    "Disallow: /*.pdf$\n"
)
AITXT = "User-Agent: *\nDisallow: *.jpg\nDisallow: /private/\nAllow: /private/ok\n"
TDMREP = (
    '[\n  {"location": "/private/*", "tdm-reservation": 1},\n'
    '  {"location": "/", "tdm-reservation": 0}\n]\n'
)
PATHS = [
    "/",
    "/page.html",
    "/private/",
    "/private/x.html",
    "/private/open/x.html",
    "/private/ok/a.jpg",
    "/doc.pdf",
    "/doc.pdf?x=1",
    "/a.jpg",
    "/robots.txt",
]


def _crlf(body: str) -> str:
    return body.replace("\n", "\r\n")


def _cr(body: str) -> str:
    return body.replace("\n", "\r")


def _mixed(body: str) -> str:
    """Every line break a different one: LF, CRLF, CR in turn."""
    lines = body.split("\n")
    breaks = ["\n", "\r\n", "\r"]
    return "".join(line + breaks[i % 3] for i, line in enumerate(lines[:-1])) + lines[-1]


# name -> how the plain text becomes the bytes served
ENCODINGS: dict[str, Callable[[str], bytes]] = {
    "utf-8": lambda t: t.encode(),
    "utf-8-bom": lambda t: b"\xef\xbb\xbf" + t.encode(),
    "utf-16-le-bom": lambda t: b"\xff\xfe" + t.encode("utf-16-le"),
    "utf-16-be-bom": lambda t: b"\xfe\xff" + t.encode("utf-16-be"),
    "utf-32-le-bom": lambda t: b"\xff\xfe\x00\x00" + t.encode("utf-32-le"),
    "utf-32-be-bom": lambda t: b"\x00\x00\xfe\xff" + t.encode("utf-32-be"),
    "utf-16-le-no-bom": lambda t: t.encode("utf-16-le"),
    "utf-16-be-no-bom": lambda t: t.encode("utf-16-be"),
    "utf-32-le-no-bom": lambda t: t.encode("utf-32-le"),
    "utf-32-be-no-bom": lambda t: t.encode("utf-32-be"),
    "nul-padded-end": lambda t: t.encode() + b"\x00" * 3000,
    "nul-padded-start": lambda t: b"\x00" * 7 + t.encode(),
    "nul-between-lines": lambda t: t.encode().replace(b"\n", b"\n\x00\x00"),
    "nul-padded-utf-16": lambda t: b"\xff\xfe" + t.encode("utf-16-le") + b"\x00" * 1001,
    "bom-before-first-line": lambda t: b"\n\n\xef\xbb\xbf" + t.encode(),
    "bom-after-nul-padding": lambda t: b"\x00\x00\x00\x00\xef\xbb\xbf" + t.encode(),
    "two-boms": lambda t: b"\xef\xbb\xbf\xef\xbb\xbf" + t.encode(),
    "utf-16-bom-twice": lambda t: ("\ufeff\ufeff" + t).encode("utf-16-le"),
    "crlf": lambda t: _crlf(t).encode(),
    "cr": lambda t: _cr(t).encode(),
    "mixed-breaks": lambda t: _mixed(t).encode(),
    "utf-16-crlf": lambda t: _crlf(t).encode("utf-16"),
    "utf-32-be-cr": lambda t: _cr(t).encode("utf-32-be"),
    "latin-1-comment": lambda t: b"# \xe9t\xe9 \xa9 site\n" + t.encode(),
}


def _robots_outcome(body: bytes | str) -> list[tuple[str, bool, bool]]:
    parsed = RobotsTxt.parse(body)
    outcome = []
    for path in PATHS:
        found = robots.evaluate(parsed, path, status=200, error=None, token=TOKEN, source=SOURCE)
        train = decide(found, Purpose.TRAIN).reserved
        crawl = decide(found, Purpose.CRAWL).reserved
        outcome.append((path, train, crawl))
    return outcome


def _aitxt_outcome(body: bytes) -> list[tuple[str, bool]]:
    parsed = aitxt.AiTxt.parse(body)
    assert parsed.error is None
    return [
        (path, decide(_ai(parsed, path), Purpose.TRAIN).reserved) for path in PATHS if path != "/"
    ]


def _ai(parsed: aitxt.AiTxt, path: str) -> list[Finding]:
    return aitxt.evaluate(parsed, path, status=200, error=None, token=TOKEN, source="ai.txt")


def _tdmrep_outcome(body: bytes) -> list[tuple[str, int | None]]:
    parsed = tdmrep.TdmrepFile.parse(body, content_type="application/json")
    assert parsed.error is None, parsed.error
    outcome = []
    for path in PATHS:
        value = parsed.lookup(path, source="tdmrep.json")
        outcome.append((path, value.reservation if value is not None else None))
    return outcome


# -- the same file, every encoding --------------------------------------------------------


def test_plain_files_reserve_what_they_say() -> None:
    """The reference outcomes are the expected ones, so agreeing with them means something."""
    by_path = {path: (train, crawl) for path, train, crawl in _robots_outcome(ROBOTS.encode())}
    assert by_path["/page.html"] == (True, False)  # GPTBot and CCBot: training reserved
    assert by_path["/private/x.html"] == (True, True)
    assert by_path["/private/open/x.html"] == (True, False)
    assert by_path["/doc.pdf"] == (True, True)
    assert by_path["/doc.pdf?x=1"] == (True, False)
    ai = dict(_aitxt_outcome(AITXT.encode()))
    assert ai["/a.jpg"] and ai["/private/x.html"] and not ai["/private/ok/a.jpg"]
    assert not ai["/page.html"]
    tdm = dict(_tdmrep_outcome(TDMREP.encode()))
    assert tdm["/private/x.html"] == 1 and tdm["/page.html"] == 0


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_robots_txt_reserves_the_same_in_every_encoding(encoding: str) -> None:
    body = ENCODINGS[encoding](ROBOTS)
    assert _robots_outcome(body) == _robots_outcome(ROBOTS.encode())


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_ai_txt_reserves_the_same_in_every_encoding(encoding: str) -> None:
    body = ENCODINGS[encoding](AITXT)
    assert _aitxt_outcome(body) == _aitxt_outcome(AITXT.encode())


@pytest.mark.parametrize(
    "encoding", [name for name in ENCODINGS if name not in ("cr", "latin-1-comment")]
)
def test_tdmrep_json_reserves_the_same_in_every_encoding(encoding: str) -> None:
    body = ENCODINGS[encoding](TDMREP)
    assert _tdmrep_outcome(body) == _tdmrep_outcome(TDMREP.encode())


@pytest.mark.parametrize(
    ("encoding", "note"),
    [
        ("utf-16-le-bom", "decoded as UTF-16 LE from its byte-order mark"),
        ("utf-32-be-bom", "decoded as UTF-32 BE from its byte-order mark"),
        ("utf-16-be-no-bom", "decoded as UTF-16 BE, read from its NUL bytes"),
        ("utf-32-le-no-bom", "decoded as UTF-32 LE, read from its NUL bytes"),
        ("nul-padded-end", "3000 NUL character(s) dropped"),
        ("bom-before-first-line", "a byte-order mark before the first line ignored"),
        ("latin-1-comment", "3 byte(s) that are not UTF-8 kept as raw octets"),
    ],
)
def test_findings_say_how_the_file_was_decoded(encoding: str, note: str) -> None:
    found = robots.evaluate(
        RobotsTxt.parse(ENCODINGS[encoding](ROBOTS)),
        "/private/x.html",
        status=200,
        error=None,
        token=TOKEN,
        source=SOURCE,
    )
    assert found and all(note in f.detail for f in found), [f.detail for f in found]
    ai = _ai(aitxt.AiTxt.parse(ENCODINGS[encoding](AITXT)), "/private/x.html")
    assert ai and all(note in f.detail for f in ai)
    if encoding != "latin-1-comment":
        value = tdmrep.TdmrepFile.parse(ENCODINGS[encoding](TDMREP)).lookup(
            "/private/x", source="tdmrep.json"
        )
        (finding,) = tdmrep.findings(value)
        assert finding.stance is Stance.RESERVE and note in finding.detail


def test_plain_utf8_findings_carry_no_note() -> None:
    for body in (ROBOTS.encode(), b"\xef\xbb\xbf" + ROBOTS.encode()):
        parsed = RobotsTxt.parse(body)
        assert parsed.notes == ()
        found = robots.evaluate(
            parsed, "/private/x", status=200, error=None, token=TOKEN, source=SOURCE
        )
        assert not any("decoded" in f.detail or "[robots.txt" in f.detail for f in found)


def test_size_limit_counts_bytes_before_decoding() -> None:
    # In UTF-16 every character takes two bytes: the limit falls half-way
    # through the characters, and the line it cuts is dropped whole.
    head = "User-agent: *\n#" + "x" * 255_980 + "\n"
    body = (head + "Disallow: /private-area-long-name\n").encode("utf-16-le")
    assert len(head.encode("utf-16-le")) < robots.MAX_BYTES < len(body)
    parsed = RobotsTxt.parse(body)
    assert parsed.truncated
    assert parsed.allowed("/priv", TOKEN)
    assert (
        parsed.notes[0]
        == "decoded as UTF-16 LE, read from its NUL bytes (it has no byte-order mark)"
    )


# -- raw octets that are not UTF-8 --------------------------------------------------------


def test_raw_latin1_octet_in_a_rule_is_kept_and_quoted_safely() -> None:
    body = ROBOTS.encode() + b"Disallow: /caf\xe9/\n"
    parsed = RobotsTxt.parse(body)
    # Every other rule reads as in the plain file.
    assert _robots_outcome(body) == _robots_outcome(ROBOTS.encode())
    # The raw octet is matched as what the site wrote, not as U+FFFD.
    assert not parsed.allowed("/caf\udce9/menu", TOKEN)
    assert parsed.allowed("/caf\ufffd/menu", TOKEN)
    found = robots.evaluate(
        parsed, "/caf\udce9/menu", status=200, error=None, token=TOKEN, source=SOURCE
    )
    reserving = [f for f in found if f.stance is Stance.RESERVE and f.agent == "*"]
    assert [f.rule for f in reserving] == ["Disallow: /caf\\xE9/"]
    # Findings and their JSON can be printed and written as UTF-8.
    for finding in found:
        json.dumps(finding.to_dict(), ensure_ascii=False).encode("utf-8")


def test_raw_octets_in_ai_txt_and_tdmrep_json() -> None:
    ai = aitxt.AiTxt.parse(AITXT.encode() + b"Disallow: /\xe9t\xe9/\n")
    assert ai.error is None
    (finding,) = _ai(ai, "/\udce9t\udce9/x")
    assert finding.stance is Stance.RESERVE
    assert finding.rule == "Disallow: /\\xE9t\\xE9/"
    tdm = tdmrep.TdmrepFile.parse(b'[{"location": "/\xe9t\xe9/", "tdm-reservation": 1}]')
    assert tdm.error is None
    value = tdm.lookup("/\udce9t\udce9/x", source="tdmrep.json")
    assert value is not None and value.reservation == 1
    value.rule.encode("utf-8")  # quoted safely
    assert "\\xE9" in value.rule


def test_surrogates_in_a_str_body_round_trip() -> None:
    """A body already decoded with surrogateescape parses as its bytes do."""
    raw = b"User-agent: *\nDisallow: /caf\xe9\n"
    from_text = RobotsTxt.parse(raw.decode("utf-8", "surrogateescape"))
    assert not from_text.allowed("/caf\udce9", TOKEN)
    assert RobotsTxt.parse("User-agent: *\nDisallow: /a\ud800\n").groups  # never raises


# -- the decoder itself --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"", ""),
        (b"\xef\xbb\xbf", ""),
        (b"\xef\xbbUser-agent: x", "User-agent: x"),  # a mark cut short, as Google skips it
        (b"\xff\xfe\x00\x00", ""),
        (b"\xff\xfeA\x00\n\x00", "A\n"),
        (b"\xff\xfeA\x00\n", "A"),  # half a code unit at the end
        (b"\x00\x00\xfe\xff\x00\x00\x00A", "A"),
        (b"a\x00\x00b", "ab"),
        (b"\x00\x00\x00\x00", ""),
        (b"a\nb\xff\n", "a\nb\udcff\n"),
        ("\ufeffa\n\ufeffb".encode(), "a\n\ufeffb"),  # a mark inside the file is left alone
    ],
)
def test_decode_policy_text(data: bytes, expected: str) -> None:
    assert decode_policy_text(data).text == expected


def test_decode_limit_drops_the_line_it_cuts() -> None:
    assert decode_policy_text(b"one\ntwo\n", limit=6) == ("one\n", [], True)
    assert decode_policy_text(b"one\ntwo\n", limit=8) == ("one\ntwo\n", [], False)
    assert decode_policy_text(b"one\r\ntwo", limit=4).text == "one\r"
    text16 = "one\ntwo\n".encode("utf-16")
    assert decode_policy_text(text16, limit=9).text == "one\n"


def test_short_and_ordinary_bodies_are_not_taken_for_utf16() -> None:
    for data in (b"A\x00", b"User-agent: *\x00", b"\x00\x00\x00User-agent: *\nDisallow: /\n"):
        assert decode_policy_text(data).notes[:1] != [
            "decoded as UTF-16 LE, read from its NUL bytes (it has no byte-order mark)"
        ]
        assert "User-agent" in decode_policy_text(data).text or len(data) < 4


@pytest.mark.parametrize(
    ("data", "binary"),
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00", True),
        (bytes(range(128, 256)) * 8, True),
        (bytes(range(1, 32)) * 4, True),
        (b"User-agent: *\nDisallow: /caf\xe9\n", False),
        (b"# \xe9\xe8\xe0 comment\nUser-agent: *\nDisallow: /\n\x1a", False),
        (ROBOTS.encode("utf-16"), False),
    ],
)
def test_looks_binary(data: bytes, binary: bool) -> None:
    assert looks_binary(decode_policy_text(data).text) is binary


def test_printable() -> None:
    assert printable("plain") == "plain"
    assert printable("café") == "café"
    assert printable("caf\udce9 \ud800") == "caf\\xE9 \\uD800"


# -- several agents on one user-agent line --------------------------------------------------


@pytest.mark.parametrize(
    ("value", "listed"),
    [
        ("GPTBot", ()),
        ("GPTBot/1.2", ()),
        ("*", ()),
        ("GPTBot, CCBot", ("GPTBot", "CCBot")),
        ("GPTBot CCBot", ("GPTBot CCBot", "GPTBot", "CCBot")),
        ("GPTBot;CCBot", ("GPTBot", "CCBot")),
        ("GPTBot | CCBot/2.0", ("GPTBot", "CCBot/2.0")),
        ("GPTBot, img2dataset", ("GPTBot", "img2dataset")),
        ("GPTBot, *", ("GPTBot", "*")),
        ("Kangaroo Bot", ("Kangaroo Bot", "Kangaroo", "Bot")),
        ("Mozilla/5.0 (compatible; Foo)", ("Foo", "Mozilla/5.0")),
        ("ExampleBot/2.0 (+https://example.com/bot; bot@example.com)", ("ExampleBot/2.0",)),
    ],
)
def test_listed_agents(value: str, listed: tuple[str, ...]) -> None:
    assert listed_agents(value) == listed


def _train_reserving_agents(body: str, path: str = "/page") -> dict[str, str]:
    found = robots.evaluate(
        RobotsTxt.parse(body), path, status=200, error=None, token=TOKEN, source=SOURCE
    )
    return {
        str(f.agent): f.detail
        for f in found
        if f.stance is Stance.RESERVE and Purpose.TRAIN in f.purposes
    }


@pytest.mark.parametrize(
    "line",
    ["GPTBot, CCBot", "GPTBot CCBot", "GPTBot;CCBot", "GPTBot | CCBot", "GPTBot,CCBot/1.0"],
)
def test_every_agent_of_a_list_is_bound(line: str) -> None:
    reserving = _train_reserving_agents(f"User-agent: {line}\nDisallow: /\n")
    assert set(reserving) == {"GPTBot", "CCBot"}
    # The first token is the RFC reading; the second says how it was found.
    assert "RFC 9309" not in reserving["GPTBot"]
    assert "naming several agents" in reserving["CCBot"]
    assert "one product token per line" in reserving["CCBot"]
    assert f'line 1 ("{line}")' in reserving["CCBot"]


def test_listed_agents_of_invalid_tokens_and_compatible_comments() -> None:
    reserving = _train_reserving_agents("User-agent: SomeBot, img2dataset\nDisallow: /\n")
    assert set(reserving) == {"img2dataset"}
    reserving = _train_reserving_agents(
        "User-agent: Mozilla/5.0 (compatible; GPTBot/1.2; +https://openai.com/gptbot)\n"
        "Disallow: /\n"
    )
    assert set(reserving) == {"GPTBot"}


def test_a_badly_written_single_agent_binds_nobody_else() -> None:
    body = "User-agent: Mozilla/5.0 (compatible; SomeBot)\nDisallow: /\n"
    assert _train_reserving_agents(body) == {}
    parsed = RobotsTxt.parse(body)
    assert parsed.listed_group("compatible") is None
    assert parsed.listed_group("mozilla") is None  # named the ordinary way (Google's reading)
    assert parsed.named_group("mozilla") is not None
    assert parsed.allowed("/page", TOKEN)


def test_kangaroo_bot_still_names_kangaroo() -> None:
    parsed = RobotsTxt.parse("User-agent: Kangaroo Bot\nDisallow: /b\n")
    assert parsed.tokens() == {"kangaroo"}
    assert parsed.named_group("Kangaroo Bot") is parsed.named_group("kangaroo")
    assert parsed.listed_group("Kangaroo") is None  # already named, not listed
    assert parsed.listed_group("Bot") is not None
    assert _train_reserving_agents("User-agent: Kangaroo Bot\nDisallow: /\n").keys() == {
        "Kangaroo Bot"
    }


def _verdicts(body: str, path: str, token: str = TOKEN) -> tuple[bool, bool]:
    found = robots.evaluate(
        RobotsTxt.parse(body), path, status=200, error=None, token=token, source=SOURCE
    )
    return decide(found, Purpose.CRAWL).reserved, decide(found, Purpose.TRAIN).reserved


def test_own_token_on_a_list_never_lifts_the_star_group() -> None:
    star_closed = "User-agent: *\nDisallow: /\n\n"
    # Listed second, the crawler's token does not replace "*": both apply.
    assert _verdicts(star_closed + f"User-agent: OtherBot, {TOKEN}\nAllow: /\n", "/a") == (
        True,
        True,
    )
    assert _verdicts(star_closed + f"User-agent: OtherBot {TOKEN}\nAllow: /\n", "/a") == (
        True,
        True,
    )
    # First on the line, it is the token RFC 9309 (and Google) read: its group applies.
    assert _verdicts(star_closed + f"User-agent: {TOKEN}, OtherBot\nAllow: /\n", "/a") == (
        False,
        False,
    )


def test_own_token_on_a_list_adds_that_groups_reservations() -> None:
    body = f"User-agent: *\nAllow: /\n\nUser-agent: OtherBot, {TOKEN}\nDisallow: /x\n"
    assert _verdicts(body, "/x/page") == (True, True)
    assert _verdicts(body, "/y/page") == (False, False)
    found = robots.evaluate(
        RobotsTxt.parse(body), "/x/page", status=200, error=None, token=TOKEN, source=SOURCE
    )
    (listed,) = [f for f in found if f.stance is Stance.RESERVE]
    assert listed.agent == TOKEN and listed.rule == "Disallow: /x"
    assert "not to be fetched at all" in listed.detail
    assert "naming several agents" in listed.detail
    # Its own group named the ordinary way still applies too; any reservation wins.
    body = f"User-agent: {TOKEN}\nDisallow: /y\n\nUser-agent: OtherBot, {TOKEN}\nAllow: /\n"
    assert _verdicts(body, "/y/page") == (True, True)


def test_own_token_on_a_list_content_usage_reserves() -> None:
    body = f"User-agent: OtherBot, {TOKEN}\nContent-Usage: train-ai=n\n"
    crawl, train = _verdicts(body, "/page")
    assert (crawl, train) == (False, True)


def test_star_on_a_list_joins_the_fallback() -> None:
    body = "User-agent: GPTBot, *\nDisallow: /\n"
    assert _verdicts(body, "/a") == (True, True)
    # A crawler with a group of its own is not bound by a listed "*" (GPTBot's
    # group still reserves training).
    assert _verdicts(body + f"\nUser-agent: {TOKEN}\nAllow: /\n", "/a") == (False, True)


def test_ai_txt_reads_lists_too() -> None:
    body = f"User-Agent: *\nAllow: /\n\nUser-Agent: OtherBot, {TOKEN}\nDisallow: /\n"
    found = _ai(aitxt.AiTxt.parse(body.encode()), "/page")
    assert decide(found, Purpose.TRAIN).reserved
    (listed,) = [f for f in found if f.stance is Stance.RESERVE]
    assert "naming several agents" in listed.detail
    # First on the line: the ordinary reading, and nothing listed.
    body = f"User-Agent: *\nDisallow: /\n\nUser-Agent: {TOKEN}, OtherBot\nAllow: /\n"
    found = _ai(aitxt.AiTxt.parse(body.encode()), "/page")
    assert not decide(found, Purpose.TRAIN).reserved
    # A listed group's Allow never lifts the chosen group's Disallow.
    body = f"User-Agent: *\nDisallow: /\n\nUser-Agent: OtherBot {TOKEN}\nAllow: /\n"
    found = _ai(aitxt.AiTxt.parse(body.encode()), "/page")
    assert decide(found, Purpose.TRAIN).reserved


# -- a real crawl and optout check ----------------------------------------------------------

CLOSED_TO_TRAINING = "User-agent: GPTBot, CCBot\r\nDisallow: /\r\n\r\nUser-agent: *\r\nAllow: /\r\n"
OPEN = "User-agent: *\nDisallow: /private/\n"


def _site(robots_body: bytes) -> FaultServer:
    server = FaultServer({"/robots.txt": text(robots_body)})
    server.fallback = html("a page")
    return server


def test_crawl_excludes_pages_of_a_utf16_robots_txt(tmp_path, capsys) -> None:
    sites = {
        "utf-16-bom": _site(CLOSED_TO_TRAINING.encode("utf-16")),
        "utf-16-be-no-bom": _site(CLOSED_TO_TRAINING.encode("utf-16-be")),
        "utf-32-nul-padded": _site(CLOSED_TO_TRAINING.encode("utf-32") + b"\x00" * 64),
        "open-utf-16": _site(OPEN.encode("utf-16")),
    }
    for server in sites.values():
        server.start()
    try:
        urls = [server.url(path) for server in sites.values() for path in ("/a.html", "/b.html")]
        urls.append(sites["open-utf-16"].url("/private/c.html"))
        result = run_crawl(
            tmp_path,
            urls,
            {"USER_AGENT": TEST_UA, "OPTOUT_PURPOSE": "train", "DOWNLOAD_TIMEOUT": 5},
        )
        reserved = result.reserved()
        for name in ("utf-16-bom", "utf-16-be-no-bom", "utf-32-nul-padded"):
            for path in ("/a.html", "/b.html"):
                url = sites[name].url(path)
                assert url not in result.item_urls, f"leak: {url}"
                reasons = reserved[url]["reasons"]
                assert {"signal": "robots.txt", "rule": "Disallow: /"}.items() <= reasons[0].items()
                assert reserved[url]["purpose"] == "train"
        # The open site keeps its pages, and its UTF-16 Disallow still holds.
        open_site = sites["open-utf-16"]
        assert {open_site.url("/a.html"), open_site.url("/b.html")} <= result.item_urls
        assert open_site.url("/private/c.html") in reserved
        assert len(result.ledger) == 7

        url = sites["utf-16-bom"].url("/a.html")
        code = main(["check", url, "--user-agent", TEST_UA, "--timeout", "5", "--json"])
        out = json.loads(capsys.readouterr().out)
        assert code == 1 and out["verdict"] == "reserved"
        details = " ".join(f.get("detail", "") for f in out["findings"])
        assert "decoded as UTF-16 LE from its byte-order mark" in details
        assert "naming several agents" in details  # CCBot, second on the line

        url = sites["open-utf-16"].url("/a.html")
        assert main(["check", url, "--user-agent", TEST_UA, "--timeout", "5"]) == 0
        capsys.readouterr()
    finally:
        for server in sites.values():
            server.stop()
