"""The catalogue of AI-related product tokens and how robots.txt groups bind them."""

from __future__ import annotations

import json
from collections import defaultdict
from importlib import resources
from pathlib import Path

import pytest

from scrapy_optout.protocols.agents import (
    CATEGORIES,
    COUNTING_CATEGORIES,
    Agent,
    AgentCatalogue,
)
from scrapy_optout.protocols.robots import RobotsTxt, evaluate, normalise_agent, valid_product_token
from scrapy_optout.verdict import Purpose, Stance, decide

LIST = Path(__file__).resolve().parent.parent / "fixtures" / "corpora" / "ai-robots-txt-agents"
CATALOGUE = AgentCatalogue.default()


def _data() -> dict[str, object]:
    text = resources.files("scrapy_optout").joinpath("data", "agents.json").read_text("utf-8")
    data: dict[str, object] = json.loads(text)
    return data


def test_every_listed_token_has_an_entry() -> None:
    listed = json.loads((LIST / "robots.json").read_text("utf-8"))
    assert len(listed) == 166
    assert len(CATALOGUE) == 166
    assert [agent.token for agent in CATALOGUE] == list(listed)


def test_data_file_names_its_source_and_licence() -> None:
    source = _data()["source"]
    assert isinstance(source, dict)
    assert source["repository"] == "ai-robots-txt/ai.robots.txt"
    assert len(source["commit"]) == 40
    assert source["license"] == (LIST / "LICENSE").read_text("utf-8")


@pytest.mark.parametrize("agent", list(CATALOGUE), ids=lambda a: a.token)
def test_entry_is_consistent(agent: Agent) -> None:
    assert agent.category in CATEGORIES
    assert agent.counts_for_train is (agent.category in COUNTING_CATEGORIES)
    assert agent.normalised == normalise_agent(agent.token)
    assert agent.valid_token is valid_product_token(agent.token)
    assert agent.key == (agent.normalised if agent.valid_token else agent.token.lower())
    assert not agent.configured


def test_entries_sharing_a_key_agree() -> None:
    by_key: dict[str, set[bool]] = defaultdict(set)
    for agent in CATALOGUE:
        by_key[agent.key].add(agent.counts_for_train)
    assert all(len(counts) == 1 for counts in by_key.values())


@pytest.mark.parametrize(
    ("token", "category"),
    [
        ("GPTBot", "training"),
        ("ClaudeBot", "training"),
        ("anthropic-ai", "training"),
        ("Claude-Web", "training"),
        ("Bytespider", "training"),
        ("meta-externalagent", "training"),
        ("Meta-ExternalAgent", "training"),
        ("FacebookBot", "training"),
        ("cohere-training-data-crawler", "training"),
        ("Amazonbot", "training"),
        ("YouBot", "training"),
        ("CCBot", "dataset"),
        ("Diffbot", "dataset"),
        ("omgili", "dataset"),
        ("omgilibot", "dataset"),
        ("Webzio-Extended", "dataset"),
        ("webzio-extended", "dataset"),
        ("img2dataset", "dataset"),
        ("LAIONDownloader", "dataset"),
        ("GoogleOther", "dataset"),
        ("Google-Extended", "control"),
        ("Applebot-Extended", "control"),
        ("OAI-SearchBot", "search"),
        ("PerplexityBot", "search"),
        ("Applebot", "search"),
        ("Claude-SearchBot", "search"),
        ("ChatGPT-User", "user"),
        ("Claude-User", "user"),
        ("Perplexity-User", "user"),
        ("cohere-ai", "user"),
        ("ChatGPT Agent", "agent"),
        ("Scrapy", "other"),
        ("Spider", "other"),
        ("facebookexternalhit", "other"),
    ],
)
def test_classification(token: str, category: str) -> None:
    # Every spelling the list gives (case differs for a few) has the category.
    spellings = [a for a in CATALOGUE if a.token == token]
    assert [a.category for a in spellings] == [category]
    assert CATALOGUE.get(token) in [a for a in CATALOGUE if a.token.lower() == token.lower()]


def test_training_tokens() -> None:
    tokens = CATALOGUE.training_tokens()
    assert {"gptbot", "ccbot", "google-extended", "applebot-extended"} <= tokens
    assert not {"oai-searchbot", "chatgpt-user", "perplexitybot", "scrapy"} & tokens
    assert {"img2dataset", "ai2bot", "kangaroo bot"} <= tokens
    assert not {"img", "ai", "kangaroo"} & tokens
    agents = CATALOGUE.training_agents()
    assert len({a.key for a in agents}) == len(agents)
    assert all(a.counts_for_train for a in agents)


def test_invalid_tokens() -> None:
    kangaroo = CATALOGUE.get("Kangaroo Bot")
    assert kangaroo is not None
    assert (kangaroo.normalised, kangaroo.valid_token, kangaroo.key) == (
        "kangaroo",
        False,
        "kangaroo bot",
    )
    img = CATALOGUE.get("img2dataset")
    assert img is not None
    assert img.normalised == "img"
    assert CATALOGUE.get("img") is None  # "img" is not img2dataset
    invalid = {a.token for a in CATALOGUE if not a.valid_token}
    assert {"Kangaroo Bot", "img2dataset", "AI2Bot", "bigsur.ai", "iaskspider/2.0"} <= invalid


def test_get() -> None:
    assert CATALOGUE.get("gptbot") is CATALOGUE.get("GPTBot")
    assert CATALOGUE.get("GPTBot/1.2") is CATALOGUE.get("GPTBot")
    assert CATALOGUE.get("  KANGAROO   bot ") is CATALOGUE.get("Kangaroo Bot")
    assert CATALOGUE.get("NoSuchBot") is None
    assert "ccbot" in CATALOGUE
    assert "NoSuchBot" not in CATALOGUE


def test_default_is_loaded_once() -> None:
    assert AgentCatalogue.default() is CATALOGUE


def test_with_tokens() -> None:
    assert CATALOGUE.with_tokens([]) is CATALOGUE
    assert CATALOGUE.with_tokens(["", " ", "*"]) is CATALOGUE
    extended = CATALOGUE.with_tokens(["FooAI", "OAI-SearchBot", "GPTBot", "fooai"])
    assert len(extended) == 167
    foo = extended.get("FooAI")
    assert foo is not None
    assert (foo.category, foo.counts_for_train, foo.configured) == ("other", True, True)
    search = extended.get("OAI-SearchBot")
    assert search is not None
    assert (search.category, search.counts_for_train, search.configured) == (
        "search",
        True,
        True,
    )
    assert "fooai" in extended.training_tokens()
    assert "oai-searchbot" in extended.training_tokens()
    assert extended.get("GPTBot") is CATALOGUE.get("GPTBot")
    assert "oai-searchbot" not in CATALOGUE.training_tokens()  # the original is unchanged


def test_unknown_category_is_rejected() -> None:
    with pytest.raises(ValueError, match="category"):
        AgentCatalogue([Agent("X", "x", "", "crawler", False)])


# -- how robots.txt groups bind catalogue agents -------------------------------------------


def _train_agents(body: str, token: str = "MyBot") -> set[str | None]:
    found = evaluate(
        RobotsTxt.parse(body),
        "https://example.com/page",
        status=200,
        error=None,
        token=token,
        source="https://example.com/robots.txt",
        catalogue=CATALOGUE,
    )
    return {f.agent for f in decide(found, Purpose.TRAIN).reasons}


def test_generic_group_does_not_bind_gptbot() -> None:
    assert _train_agents("User-agent: bot\nDisallow: /\n") == set()
    robots = RobotsTxt.parse("User-agent: bot\nDisallow: /\n")
    assert robots.named_group("GPTBot") is None
    assert robots.allowed("/page", "GPTBot")


def test_spider_group_does_not_bind_baiduspider() -> None:
    robots = RobotsTxt.parse("User-agent: Spider\nDisallow: /\n")
    assert robots.named_group("Baiduspider") is None
    assert robots.allowed("/page", "Baiduspider")
    assert not robots.allowed("/page", "spider")
    # Spider is a generic word in the list, not counted for training.
    assert _train_agents("User-agent: Spider\nDisallow: /\n") == set()


def test_versioned_user_agent_value_binds_the_agent() -> None:
    assert _train_agents("User-agent: GPTBot/1.2\nDisallow: /\n") == {"GPTBot"}


def test_truncated_form_of_an_invalid_token_does_not_bind_it() -> None:
    assert _train_agents("User-agent: img\nUser-agent: Kangaroo\nDisallow: /\n") == set()
    assert _train_agents("User-agent: img2dataset\nUser-agent: Kangaroo Bot\nDisallow: /\n") == {
        "img2dataset",
        "Kangaroo Bot",
    }


def test_the_lists_own_robots_txt() -> None:
    body = (LIST / "robots.txt").read_text("utf-8")
    robots = RobotsTxt.parse(body)
    for agent in CATALOGUE:
        group = robots.named_group(agent.token)
        assert group is not None, agent.token
        assert not group.allowed("/page")
    expected = {a.token for a in CATALOGUE.training_agents()}
    assert _train_agents(body) == expected
    # Scrapy's own default token is in the list: a default-configured Scrapy
    # crawler is shut out of everything.
    found = evaluate(
        robots,
        "https://example.com/page",
        status=200,
        error=None,
        token="Scrapy",
        source="s",
        catalogue=CATALOGUE,
    )
    own = [f for f in found if f.agent == "Scrapy"]
    assert [f.stance for f in own] == [Stance.RESERVE]
    assert decide(found, Purpose.CRAWL).reserved
