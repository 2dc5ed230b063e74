"""robots.txt: the parser, group selection, and the findings of evaluate()."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from protego import Protego

from scrapy_optout.protocols.agents import AgentCatalogue
from scrapy_optout.protocols.patterns import normalise_path
from scrapy_optout.protocols.robots import RobotsTxt, evaluate, normalise_agent, product_token
from scrapy_optout.protocols.robots.parsing import _PLAIN_URL
from scrapy_optout.verdict import ALL_PURPOSES, Finding, Purpose, Signal, Stance, Where, decide

SOURCE = "https://example.com/robots.txt"
URL = "https://example.com/articles/1"
TRAINING = frozenset({Purpose.TRAIN, Purpose.TDM})


def run(
    body: str | bytes | None,
    url: str = URL,
    *,
    token: str = "MyBot",
    status: int | None = 200,
    error: str | None = None,
    extra: tuple[str, ...] = (),
) -> list[Finding]:
    robots = RobotsTxt.parse(body) if body is not None else None
    return evaluate(
        robots,
        url,
        status=status,
        error=error,
        token=token,
        source=SOURCE,
        catalogue=AgentCatalogue.default(),
        extra_tokens=extra,
    )


def reservations(findings: list[Finding], purpose: Purpose) -> list[Finding]:
    return list(decide(findings, purpose).reasons)


# -- product tokens -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("user_agent", "token"),
    [
        ("MyBot/1.0 (+http://example.com/bot)", "MyBot"),
        ("Scrapy/2.19 (+https://scrapy.org)", "Scrapy"),
        ("Mozilla/5.0 (compatible; GPTBot/1.2; +https://openai.com/gptbot)", "GPTBot"),
        ("  example-bot_2 ", "example-bot_"),
        ("ExampleBot", "ExampleBot"),
        ("", "*"),
        ("2bot/1.0", "*"),
        ("/weird", "*"),
    ],
)
def test_product_token(user_agent: str, token: str) -> None:
    assert product_token(user_agent) == token


@pytest.mark.parametrize(
    ("value", "token"),
    [
        ("ExampleBot", "examplebot"),
        ("ExampleBot/2.0", "examplebot"),
        ("ExampleBot*", "examplebot"),
        ("Kangaroo Bot", "kangaroo"),
        ("img2dataset", "img"),
        ("*", "*"),
        ("* anything", "*"),
        ("*\tbot", "*"),
        ("*bot", None),
        ("2bot", None),
        ("", None),
    ],
)
def test_normalise_agent(value: str, token: str | None) -> None:
    assert normalise_agent(value) == token


# -- parsing --------------------------------------------------------------------------


def test_groups_rules_and_quotes() -> None:
    robots = RobotsTxt.parse(
        "# comment\n"
        "Sitemap: https://example.com/a.xml\n"
        "User-agent: FooBot\n"
        "user-agent: BarBot/2.0  # two names, one group\n"
        "disallow:/private   # quoted without the comment\n"
        "Allow: /private/ok\n"
        "Crawl-delay: 5\n"
        "\n"
        "User-agent: *\n"
        "Disallow: /tmp\n"
        "site-map: https://example.com/b.xml\n"
    )
    assert len(robots.groups) == 2
    assert robots.tokens() == {"foobot", "barbot"}
    assert robots.sitemaps == ("https://example.com/a.xml", "https://example.com/b.xml")
    foo = robots.named_group("FOOBOT")
    assert foo is robots.named_group("barbot")
    assert foo is not None
    assert foo.names == ("FooBot", "BarBot/2.0")
    assert [(r.text, r.line, r.kind) for r in foo.rules] == [
        ("disallow:/private", 5, "disallow"),
        ("Allow: /private/ok", 6, "allow"),
    ]
    rule = foo.match("https://example.com/private/x")
    assert rule is not None
    assert rule.text == "disallow:/private"
    assert foo.match("https://example.com/public") is None
    assert robots.group_for("OtherBot") is robots.groups[1]
    assert robots.named_group("OtherBot") is None


@pytest.mark.parametrize(
    "body",
    [
        "User-agent: a\nDisallow: /x\nUser-agent: b\nDisallow: /y\n",
        "User-agent: a\r\nDisallow: /x\r\nUser-agent: b\r\nDisallow: /y\r\n",
        "User-agent: a\rDisallow: /x\rUser-agent: b\rDisallow: /y",
        "User-agent: a\nDisallow: /x\r\nUser-agent: b\rDisallow: /y",
    ],
    ids=["lf", "crlf", "cr", "mixed"],
)
def test_line_ends(body: str) -> None:
    robots = RobotsTxt.parse(body)
    assert [[r.text for r in g.rules] for g in robots.groups] == [
        ["Disallow: /x"],
        ["Disallow: /y"],
    ]
    assert [r.line for g in robots.groups for r in g.rules] == [2, 4]


@pytest.mark.parametrize(
    "line",
    [
        "useragent: mybot",
        "user agent: mybot",
        "User-Agent mybot",
        "USER-AGENT:mybot",
    ],
)
def test_user_agent_spellings(line: str) -> None:
    assert not RobotsTxt.parse(line + "\nDisallow: /\n").allowed("/x", "MyBot")


@pytest.mark.parametrize("key", ["dissallow", "dissalow", "disalow", "diasllow", "disallaw"])
def test_disallow_typos(key: str) -> None:
    assert not RobotsTxt.parse(f"User-agent: *\n{key}: /x\n").allowed("/x", "MyBot")


def test_unknown_key_and_prefix_are_not_rules() -> None:
    # Keys are matched exactly (after the typo list): "allowance" is no allow.
    robots = RobotsTxt.parse("User-agent: *\nDisallow: /\nAllowance: /x\n")
    assert not robots.allowed("/x", "MyBot")


def test_bytes_bad_utf8_and_bom() -> None:
    robots = RobotsTxt.parse(b"\xef\xbb\xbfUser-agent: *\nDisallow: /caf\xe9\nDisallow: /y\n")
    group = robots.group_for("MyBot")
    assert group is not None
    # The raw octet stays an octet; the quote shows it escaped.
    assert [r.text for r in group.rules] == ["Disallow: /caf\\xE9", "Disallow: /y"]
    assert robots.notes == ("1 byte(s) that are not UTF-8 kept as raw octets",)
    assert not robots.allowed("/y", "MyBot")


def test_line_cut_by_size_limit_is_dropped() -> None:
    head = "User-agent: *\n# " + "x" * 511_970 + "\n"
    body = head + "Disallow: /private-area-long-name\n"
    assert len(head.encode()) < 512_000 < len(body.encode())
    robots = RobotsTxt.parse(body)
    assert robots.truncated
    # "Disallow: /priv" would disallow far more than the author wrote.
    assert robots.allowed("/priv", "MyBot")
    group = robots.group_for("MyBot")
    assert group is not None
    assert group.rules == ()


def test_str_and_bytes_agree() -> None:
    text = "User-agent: *\nDisallow: /ö\n"
    assert not RobotsTxt.parse(text).allowed("/ö", "a")
    assert not RobotsTxt.parse(text.encode()).allowed("/%C3%B6", "a")


def test_parse_rejects_other_types() -> None:
    with pytest.raises(TypeError):
        RobotsTxt.parse(42)  # type: ignore[arg-type]


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=2000) | st.text(max_size=2000))
def test_parse_never_raises(body: bytes | str) -> None:
    robots = RobotsTxt.parse(body)
    robots.allowed("https://example.com/a?b#c", "MyBot")
    run(body, "https://example.com/x")


_LINES = st.sampled_from(
    ["User-agent: *", "User-agent: a", "User-agent: b", "Disallow: /", "Disallow: /a",
     "Allow: /a/b", "Sitemap: /s", "Content-Signal: ai-train=no", "Content-Usage: train-ai=n",
     "", "# c", "Disallow:"]
)  # fmt: skip


@settings(max_examples=200, deadline=None)
@given(st.lists(_LINES, max_size=12))
def test_line_ends_never_change_the_result(lines: list[str]) -> None:
    lf = RobotsTxt.parse("\n".join(lines))
    crlf = RobotsTxt.parse("\r\n".join(lines))
    for token in ("a", "b", "c"):
        for url in ("/", "/a", "/a/b"):
            assert lf.allowed(url, token) == crlf.allowed(url, token)


# -- group selection ----------------------------------------------------------------------


def test_exact_token_matching() -> None:
    robots = RobotsTxt.parse(
        "User-agent: bot\nDisallow: /\n\nUser-agent: Spider\nDisallow: /\n\n"
        "User-agent: *\nDisallow: /private\n"
    )
    assert robots.named_group("GPTBot") is None
    assert robots.named_group("Baiduspider") is None
    assert robots.allowed("/x", "GPTBot")
    assert robots.allowed("/x", "Baiduspider")
    assert not robots.allowed("/x", "Spider")
    assert not robots.allowed("/x", "BOT")


def test_merge_and_no_fallback() -> None:
    robots = RobotsTxt.parse(
        "User-agent: *\nDisallow: /\n\n"
        "User-agent: MyBot\nDisallow: /a\n\n"
        "User-agent: Other\nDisallow: /c\n\n"
        "User-agent: mybot\nDisallow: /b\n"
    )
    group = robots.group_for("MyBot")
    assert group is not None
    assert [r.text for r in group.rules] == ["Disallow: /a", "Disallow: /b"]
    assert group is robots.group_for("MYBOT")  # merged once, then cached
    assert not robots.allowed("/a", "MyBot")
    assert not robots.allowed("/b", "MyBot")
    assert robots.allowed("/c", "MyBot")  # the * group does not add to a named one


def test_invalid_tokens_match_their_full_spelling_only() -> None:
    robots = RobotsTxt.parse(
        "User-agent: img2dataset\nDisallow: /a\n\n"
        "User-agent: Kangaroo Bot\nDisallow: /b\n\n"
        "User-agent: MJ12bot/1.0\nDisallow: /c\n"
    )
    img = robots.named_group("img2dataset")
    assert img is not None
    assert [r.text for r in img.rules] == ["Disallow: /a"]
    assert robots.named_group("IMG2DATASET") is img
    kangaroo = robots.named_group("kangaroo  bot")
    assert kangaroo is not None
    assert [r.text for r in kangaroo.rules] == ["Disallow: /b"]
    mj = robots.named_group("MJ12bot")
    assert mj is not None
    assert [r.text for r in mj.rules] == ["Disallow: /c"]
    # Google's reading of the same lines: the tokens "img", "kangaroo", "mj".
    assert robots.tokens() == {"img", "kangaroo", "mj"}
    assert robots.named_group("img") is not None
    assert robots.named_group("*") is None


def test_robots_txt_always_allowed() -> None:
    robots = RobotsTxt.parse("User-agent: *\nDisallow: /\n")
    assert robots.allowed("https://example.com/robots.txt", "MyBot")
    assert not robots.allowed("https://example.com/robots.txt.bak", "MyBot")


@pytest.mark.parametrize(
    ("body", "coverage"),
    [
        ("User-agent: a\nDisallow: /\n", "full"),
        ("User-agent: a\nDisallow: /\nAllow: /public\n", "partial"),
        ("User-agent: a\nDisallow: /private\n", "partial"),
        ("User-agent: a\nDisallow:\n", "none"),
        ("User-agent: a\nAllow: /\n", "none"),
        ("User-agent: a\n", "none"),
    ],
)
def test_coverage(body: str, coverage: str) -> None:
    group = RobotsTxt.parse(body).named_group("a")
    assert group is not None
    assert group.coverage() == coverage


_PATTERN = st.text(alphabet="/ab*", min_size=1, max_size=6).map(lambda s: "/" + s)
_PATH = st.text(alphabet="/ab", max_size=8).map(lambda s: "/" + s)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.booleans(), _PATTERN), max_size=5), _PATH)
def test_agrees_with_protego_on_plain_groups(rules: list[tuple[bool, str]], path: str) -> None:
    # One "*" group, patterns without "$" and without index.html: the cases
    # where Protego follows RFC 9309 (see docs/robots-deviations.md).
    body = "User-agent: *\n" + "".join(
        f"{'Allow' if allow else 'Disallow'}: {pattern}\n" for allow, pattern in rules
    )
    url = "https://example.com" + path
    ours = RobotsTxt.parse(body).allowed(url, "MyBot")
    theirs = Protego.parse(body).can_fetch(url, "MyBot")
    if "//" in path:
        # A doubled slash is also read merged, as servers serve it: never less strict.
        assert theirs or not ours
    else:
        assert ours == theirs


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="abz/?=&%*$#:@!;,'()[]~._-é 0A", max_size=20))
def test_plain_url_shortcut_agrees_with_normalise_path(tail: str) -> None:
    url = "https://example.com/" + tail
    match = _PLAIN_URL(url)
    if match is not None:
        assert match[1] == normalise_path(url)


# -- evaluate(): fetch outcome ----------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "error", "stance", "rule"),
    [
        (404, None, Stance.ALLOW, "HTTP 404"),
        (401, None, Stance.ALLOW, "HTTP 401"),
        (403, None, Stance.ALLOW, "HTTP 403"),
        (410, None, Stance.ALLOW, "HTTP 410"),
        (304, None, Stance.ALLOW, "HTTP 304"),
        (500, None, Stance.RESERVE, "HTTP 500"),
        (503, None, Stance.RESERVE, "HTTP 503"),
        (429, None, Stance.RESERVE, "HTTP 429"),
        (None, "DNS lookup failed", Stance.RESERVE, "unreachable: DNS lookup failed"),
        (None, "timeout", Stance.RESERVE, "unreachable: timeout"),
        (None, "too many redirects", Stance.ALLOW, "too many redirects"),
        (600, None, Stance.RESERVE, "HTTP 600"),
    ],
)
def test_fetch_outcome(status: int | None, error: str | None, stance: Stance, rule: str) -> None:
    # The body of an error page never counts, whatever it says.
    [finding] = run("User-agent: *\nDisallow: /\n", status=status, error=error)
    assert finding.stance is stance
    assert finding.purposes == ALL_PURPOSES
    assert finding.rule == rule
    assert (finding.signal, finding.where, finding.source) == (Signal.ROBOTS, Where.FILE, SOURCE)
    assert finding.detail


def test_fetch_outcome_details() -> None:
    assert run(None, status=404)[0].detail == (
        "robots.txt unavailable (HTTP 404): everything allowed (RFC 9309 §2.3.1.3)"
    )
    assert "§2.3.1.4" in run(None, status=503)[0].detail
    assert "complete disallow" in run(None, error="connection refused")[0].detail


def test_not_consulted_and_stored_copies() -> None:
    assert run(None, status=None) == []
    # A parsed copy without a status (a stored capture) applies as fetched.
    [finding] = run("User-agent: *\nDisallow: /\n", status=None)
    assert finding.stance is Stance.RESERVE
    # A 2xx response without a body to parse: nothing is disallowed.
    [finding] = run(None)
    assert finding.stance is Stance.ALLOW


# -- evaluate(): the crawler's own group ------------------------------------------------


def test_own_group_disallows_everything() -> None:
    [finding] = run("User-agent: MyBot\nDisallow: /articles\n", token="MyBot")
    assert finding.stance is Stance.RESERVE
    assert finding.purposes == ALL_PURPOSES
    assert finding.rule == "Disallow: /articles"
    assert finding.agent == "MyBot"
    assert "line 2" in finding.detail
    for purpose in Purpose:
        assert decide([finding], purpose).reserved


def test_star_group_binds_a_crawler_without_its_own() -> None:
    [finding] = run("User-agent: *\nDisallow: /articles\n")
    assert finding.stance is Stance.RESERVE
    assert finding.agent == "*"
    assert finding.purposes == ALL_PURPOSES


def test_own_group_allows() -> None:
    [finding] = run("User-agent: *\nDisallow: /\nAllow: /articles/\n")
    assert finding.stance is Stance.ALLOW
    assert finding.rule == "Allow: /articles/"
    [finding] = run("User-agent: *\nDisallow: /private\n")
    assert (finding.stance, finding.rule, finding.agent) == (Stance.ALLOW, "", "*")
    [finding] = run("User-agent: Other\nDisallow: /\n")
    assert (finding.stance, finding.agent) == (Stance.ALLOW, None)
    [finding] = run("User-agent: *\nDisallow: /\n", "https://example.com/robots.txt")
    assert finding.stance is Stance.ALLOW
    assert "always allowed" in finding.detail


def test_evaluate_returns_fresh_lists() -> None:
    robots = RobotsTxt.parse("User-agent: *\nDisallow: /\n")
    first = evaluate(robots, URL, status=200, error=None, token="MyBot", source=SOURCE)
    first.clear()
    again = evaluate(robots, URL, status=200, error=None, token="MyBot", source=SOURCE)
    assert len(again) == 1


# -- evaluate(): other agents' groups ---------------------------------------------------------

AI_BLOCKS = """\
User-agent: GPTBot
User-agent: CCBot
Disallow: /

User-agent: Google-Extended
Disallow: /articles/

User-agent: OAI-SearchBot
User-agent: ChatGPT-User
User-agent: PerplexityBot
Disallow: /

User-agent: *
Allow: /
"""


def test_training_agents_reserve_train_and_tdm() -> None:
    found = run(AI_BLOCKS)
    own = [f for f in found if f.purposes == ALL_PURPOSES]
    assert [f.stance for f in own] == [Stance.ALLOW]
    others = {f.agent: f for f in found if f.purposes == TRAINING}
    assert set(others) == {"GPTBot", "CCBot", "Google-Extended"}
    for finding in others.values():
        assert finding.stance is Stance.RESERVE
        assert finding.signal is Signal.ROBOTS
    assert others["Google-Extended"].rule == "Disallow: /articles/"
    assert "control token" in others["Google-Extended"].detail
    assert "dataset builder" in others["CCBot"].detail
    assert decide(found, "train").reserved
    assert decide(found, "tdm").reserved
    assert not decide(found, "search").reserved
    assert not decide(found, "crawl").reserved


def test_training_agents_only_where_their_group_disallows() -> None:
    found = run(AI_BLOCKS, "https://example.com/about")
    assert {f.agent for f in reservations(found, Purpose.TRAIN)} == {"GPTBot", "CCBot"}


def test_search_and_user_agents_never_reserve_training() -> None:
    body = "User-agent: OAI-SearchBot\nUser-agent: ChatGPT-User\nUser-agent: Scrapy\nDisallow: /\n"
    found = run(body)
    assert not decide(found, "train").reserved


def test_star_group_is_no_training_reservation_when_we_have_our_own() -> None:
    body = "User-agent: *\nDisallow: /\n\nUser-agent: MyBot\nAllow: /\n"
    found = run(body)
    assert not decide(found, "train").reserved
    # ... but it binds a crawler that has no group of its own.
    assert decide(run(body, token="OtherBot"), "train").reserved


def test_no_substring_matching_for_other_agents() -> None:
    body = "User-agent: bot\nUser-agent: GPT\nUser-agent: img\nUser-agent: ai\nDisallow: /\n"
    found = run(body)
    assert not decide(found, "train").reserved


def test_invalid_catalogue_tokens_spelled_in_full() -> None:
    found = run("User-agent: img2dataset\nUser-agent: AI2Bot\nDisallow: /\n")
    assert {f.agent for f in reservations(found, Purpose.TRAIN)} == {"img2dataset", "AI2Bot"}


def test_own_training_token_is_not_reported_twice() -> None:
    found = run(AI_BLOCKS, token="GPTBot")
    assert [f.agent for f in found if f.agent == "GPTBot"] == ["GPTBot"]
    [own] = [f for f in found if f.agent == "GPTBot"]
    assert own.purposes == ALL_PURPOSES


def test_extra_tokens() -> None:
    body = "User-agent: OAI-SearchBot\nUser-agent: FooAI\nDisallow: /\n"
    found = run(body, extra=("FooAI",))
    assert found == evaluate(
        RobotsTxt.parse(body), URL, status=200, error=None, token="MyBot", source=SOURCE,
        extra_tokens=["FooAI"],
    )  # fmt: skip
    [finding] = reservations(found, Purpose.TRAIN)
    assert finding.agent == "FooAI"
    assert "configured" in finding.detail
    catalogue = AgentCatalogue.default().with_tokens(["OAI-SearchBot"])
    robots = RobotsTxt.parse(body)
    found = evaluate(
        robots, URL, status=200, error=None, token="MyBot", source=SOURCE, catalogue=catalogue
    )
    assert [f.agent for f in reservations(found, Purpose.TRAIN)] == ["OAI-SearchBot"]


def test_training_agents_are_evaluated_once_per_distinct_group() -> None:
    ai_list = "\n".join(f"User-agent: {a.token}" for a in AgentCatalogue.default())
    found = run(ai_list + "\nDisallow: /\n")
    agents = [f.agent for f in reservations(found, Purpose.TRAIN)]
    assert len(agents) == len(set(agents)) == len(AgentCatalogue.default().training_agents())


# -- evaluate(): Content-Usage ----------------------------------------------------------------


def usage(findings: list[Finding]) -> list[tuple[Stance, frozenset[Purpose], str]]:
    return [(f.stance, f.purposes, f.rule) for f in findings if f.signal is Signal.CONTENT_USAGE]


def test_content_usage_in_star_group() -> None:
    found = run("User-agent: *\nAllow: /\nContent-Usage: train-ai=n, search=y\n")
    assert usage(found) == [
        (Stance.RESERVE, frozenset({Purpose.TRAIN}), "Content-Usage: train-ai=n, search=y"),
        (Stance.ALLOW, frozenset({Purpose.SEARCH}), "Content-Usage: train-ai=n, search=y"),
    ]
    finding = next(f for f in found if f.signal is Signal.CONTENT_USAGE)
    assert (finding.where, finding.agent, finding.source) == (Where.FILE, "*", SOURCE)
    assert "line 3" in finding.detail
    assert decide(found, "train").reserved
    assert not decide(found, "tdm").reserved  # train-ai says nothing about TDM


def test_content_usage_of_star_group_does_not_bind_a_named_crawler() -> None:
    body = "User-agent: *\nContent-Usage: train-ai=n\n\nUser-agent: MyBot\nAllow: /\n"
    assert usage(run(body)) == []
    assert usage(run(body, token="Other"))


def test_content_usage_longest_path_wins() -> None:
    body = (
        "User-agent: *\nAllow: /\nDisallow: /drafts/\n"
        "Content-Usage: train-ai=n\nContent-Usage: /press-kit/ train-ai=y\n"
    )
    assert usage(run(body, "https://example.com/blog/1")) == [
        (Stance.RESERVE, frozenset({Purpose.TRAIN}), "Content-Usage: train-ai=n")
    ]
    assert usage(run(body, "https://example.com/press-kit/logo.png")) == [
        (Stance.ALLOW, frozenset({Purpose.TRAIN}), "Content-Usage: /press-kit/ train-ai=y")
    ]
    # Not crawlable: no usage preference applies (attach §3.1).
    found = run(body, "https://example.com/drafts/x")
    assert usage(found) == []
    assert decide(found, "crawl").reserved


def test_content_usage_equal_paths_disallow_wins() -> None:
    body = "User-agent: *\nContent-Usage: /a/ train-ai=y\nContent-Usage: /a/ train-ai=n\n"
    found = run(body, "https://example.com/a/b")
    assert len(usage(found)) == 2
    assert decide(found, "train").reserved
    # A path-less line and "/" cover the same URLs: they tie.
    body = "User-agent: *\nContent-Usage: / train-ai=y\nContent-Usage: train-ai=n\n"
    assert decide(run(body), "train").reserved


@pytest.mark.parametrize(
    "value", ["TRAIN-AI=N", "train-ai = n", "train-ai=n,", "ai=n", "train-ai=no", ""]
)
def test_content_usage_unknown(value: str) -> None:
    found = run(f"User-agent: *\nContent-Usage: {value}\n")
    [(stance, purposes, _)] = usage(found)
    assert stance is Stance.UNKNOWN
    assert purposes == {Purpose.TRAIN, Purpose.SEARCH}
    assert not decide(found, "train").reserved


def test_content_usage_comment_and_key_spelling() -> None:
    found = run("User-agent: *\ncontent-usage : train-ai=n # no training\n")
    assert usage(found) == [
        (Stance.RESERVE, frozenset({Purpose.TRAIN}), "content-usage : train-ai=n")
    ]


def test_content_usage_path_with_space_is_unreadable() -> None:
    found = run("User-agent: *\nContent-Usage: /path with space/ train-ai=n\n", "/path/x")
    [(stance, _, _)] = usage(found)
    assert stance is Stance.UNKNOWN


def test_content_usage_outside_groups_is_ignored() -> None:
    assert usage(run("Content-Usage: train-ai=n\nUser-agent: *\nDisallow: /x\n")) == []


# -- evaluate(): Content-Signal ---------------------------------------------------------------


def signals(findings: list[Finding]) -> dict[Stance, frozenset[Purpose]]:
    out: dict[Stance, frozenset[Purpose]] = {}
    for f in findings:
        if f.signal is Signal.CONTENT_SIGNAL:
            out[f.stance] = out.get(f.stance, frozenset()) | f.purposes
    return out


def test_cloudflare_default_signal() -> None:
    body = "User-agent: *\nContent-Signal: search=yes, ai-train=no\nAllow: /\n"
    found = run(body)
    assert signals(found) == {
        Stance.RESERVE: {Purpose.TRAIN},
        Stance.ALLOW: {Purpose.SEARCH},
    }
    finding = next(f for f in found if f.signal is Signal.CONTENT_SIGNAL)
    assert finding.rule == "Content-Signal: search=yes, ai-train=no"
    assert (finding.where, finding.agent) == (Where.FILE, "*")
    assert decide(found, "train").reserved
    assert not decide(found, "input").reserved


def test_content_signal_use_key_and_ai_input() -> None:
    body = "User-agent: *\nContent-Signal: search=yes,ai-train=no,ai-input=no,use=reference\n"
    assert signals(run(body)) == {
        Stance.RESERVE: {Purpose.TRAIN, Purpose.INPUT},
        Stance.ALLOW: {Purpose.SEARCH},
    }


def test_content_signal_belongs_to_the_crawlers_group() -> None:
    body = "User-agent: MyBot\nAllow: /\n\nUser-agent: *\nContent-Signal: ai-train=no\n"
    assert signals(run(body)) == {}
    assert signals(run(body, token="Other")) == {Stance.RESERVE: {Purpose.TRAIN}}


def test_content_signal_does_not_split_groups() -> None:
    body = "User-agent: a\nContent-Signal: ai-train=no\nUser-agent: b\nAllow: /\n"
    assert signals(run(body, token="a")) == {Stance.RESERVE: {Purpose.TRAIN}}
    assert signals(run(body, token="b")) == {Stance.RESERVE: {Purpose.TRAIN}}


def test_content_signal_merged_star_groups() -> None:
    body = (
        "User-agent: *\nContent-Signal: search=yes, ai-train=no\nAllow: /\n\n"
        "User-agent: Googlebot\nDisallow: /x\n\nUser-agent: *\nDisallow: /private\n"
    )
    assert signals(run(body)) == {Stance.RESERVE: {Purpose.TRAIN}, Stance.ALLOW: {Purpose.SEARCH}}


def test_content_signal_path_scoped() -> None:
    body = "User-agent: *\nContent-Signal: /blog/ ai-train=no\n"
    assert signals(run(body, "https://example.com/blog/x")) == {Stance.RESERVE: {Purpose.TRAIN}}
    assert signals(run(body, "https://example.com/about")) == {}


def test_content_signal_conflicts_and_unknown_keys() -> None:
    body = "User-agent: *\nContent-Signal: ai-train=yes\nContent-Signal: ai-train=no\n"
    assert decide(run(body), "train").reserved
    found = run("User-agent: *\nContent-Signal: train-ai=n\n")
    assert signals(found) == {Stance.UNKNOWN: {Purpose.TRAIN, Purpose.INPUT, Purpose.SEARCH}}


def test_content_signal_not_applied_to_disallowed_urls() -> None:
    found = run("User-agent: *\nContent-Signal: ai-train=no\nDisallow: /articles\n")
    assert signals(found) == {}
    assert decide(found, "train").reserved  # the crawl reservation covers it


@pytest.mark.parametrize(
    ("user_agent", "token"),
    [
        ("Mozilla/5.0 (compatible; GPTBot/1.0; +https://openai.com/gptbot)", "GPTBot"),
        (
            "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; ClaudeBot/1.0;"
            " +claudebot@anthropic.com)",
            "ClaudeBot",
        ),
        ("Mozilla/5.0 (X11; Linux x86_64) Gecko/20100101 Firefox/140.0", "Mozilla"),
        ("optout-test/1.0 (+https://example.invalid/bot)", "optout-test"),
    ],
)
def test_product_token_of_browser_like_strings(user_agent, token):
    assert product_token(user_agent) == token
