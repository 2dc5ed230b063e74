"""The catalogue of AI-related robots.txt product tokens.

robots.txt binds only the crawler it names, yet a site that shuts out GPTBot,
CCBot or Google-Extended says plainly that it does not want its content used
to train AI models. :func:`scrapy_optout.protocols.robots.evaluate` reads such
groups as training reservations, and this catalogue says which tokens count.

The tokens come from the ai.robots.txt community list (``robots.json``, MIT
licence, snapshot in ``data/agents.json`` with its source commit and licence
text). Each entry carries one category of ours:

========== ================================================================ =====
category   meaning                                                          counts
========== ================================================================ =====
training   collects content to train the operator's AI models               yes
dataset    builds, sells or publishes data sets used for AI training        yes
control    a token without a crawler of its own that governs training use   yes
           of what another crawler fetches (Google-Extended,
           Applebot-Extended)
search     indexes for search or AI answers, stated not to train            no
user       fetches a page because a user or customer asked                  no
agent      browser or coding agent acting for a user                        no
other      tools, frameworks, link previews, unclear or not AI-related      no
========== ================================================================ =====

Notable calls: the framework token ``Scrapy`` is *other* (crawlers of every
kind send it, and groups naming it predate AI opt-outs); ``Amazonbot`` and
``YouBot`` count as training (their stated uses include answers and LLMs and
do not rule training out); Anthropic's legacy ``anthropic-ai`` and
``Claude-Web`` count as training, since that is why sites name them.

Several listed tokens are not valid RFC 9309 product tokens (``img2dataset``,
``AI2Bot``, ``Kangaroo Bot``, ``bigsur.ai``). A Google-style parser cuts them
(``img2dataset`` names ``img``), so robots.txt groups are matched to such an
agent only when a ``user-agent`` line spells the whole token; see
:attr:`Agent.key`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from functools import cache
from importlib import resources
from typing import Any

from scrapy_optout.protocols.product_tokens import name_key, normalise_agent, valid_product_token

__all__ = ["CATEGORIES", "COUNTING_CATEGORIES", "Agent", "AgentCatalogue"]

#: Every category an agent may have.
CATEGORIES = frozenset({"training", "dataset", "control", "search", "user", "agent", "other"})

#: Categories whose robots.txt groups count as a reservation for training.
COUNTING_CATEGORIES = frozenset({"training", "dataset", "control"})


@dataclass(frozen=True, slots=True)
class Agent:
    """One AI-related product token and what it is used for.

    ``token`` is spelled as the list spells it; ``normalised`` is what a
    Google-style parser makes of it in a ``user-agent`` line (cut at the first
    character that is not a letter, ``_`` or ``-``, lower-cased).
    ``counts_for_train`` tells whether a group that names the agent and
    disallows a URL reserves that URL for training. ``configured`` marks
    tokens added by the crawl's settings rather than the catalogue.
    """

    token: str
    normalised: str
    operator: str
    category: str
    counts_for_train: bool
    respects_robots: str = ""
    function: str = ""
    note: str = ""
    configured: bool = False

    @property
    def valid_token(self) -> bool:
        """Whether ``token`` is a valid RFC 9309 product token."""
        return valid_product_token(self.token)

    @property
    def key(self) -> str:
        """How robots.txt groups are matched to this agent.

        A valid token is compared with the normalised ``user-agent`` values
        (so ``GPTBot/1.0`` in a file still names GPTBot). An invalid one is
        compared, ignoring case, with the ``user-agent`` value as written:
        its normalised form would be another, shorter token (``img``, ``ai``).
        """
        return self.normalised if self.valid_token else name_key(self.token)


class AgentCatalogue:
    """A set of :class:`Agent` entries, looked up by token.

    Use :meth:`default` for the built-in list and :meth:`with_tokens` to add
    the tokens of ``OPTOUT_AGENTS``. Catalogues are immutable and compare by
    identity, so the parsed robots.txt files can cache their work per
    catalogue.
    """

    __slots__ = ("_agents", "_by_token", "_training", "_training_agents")

    def __init__(self, agents: Iterable[Agent]) -> None:
        self._agents = tuple(agents)
        by_token: dict[str, Agent] = {}
        for agent in self._agents:
            if agent.category not in CATEGORIES:
                raise ValueError(f"agent {agent.token!r} has unknown category {agent.category!r}")
            # The first entry wins. Not the normalised form of an invalid
            # token: "img" is not img2dataset.
            for name in (agent.token.lower(), agent.key):
                by_token.setdefault(name, agent)
        self._by_token = by_token
        counting: dict[str, Agent] = {}
        for agent in self._agents:
            if agent.counts_for_train:
                counting.setdefault(agent.key, agent)
        self._training_agents = tuple(counting.values())
        self._training = frozenset(counting)

    @classmethod
    def default(cls) -> AgentCatalogue:
        """The built-in catalogue (``data/agents.json``), loaded once."""
        return _default()

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> AgentCatalogue:
        """Build a catalogue from the structure of ``data/agents.json``."""
        return cls(
            Agent(
                token=item["token"],
                normalised=item["normalised"],
                operator=item.get("operator", ""),
                category=item["category"],
                counts_for_train=bool(item["counts_for_train"]),
                respects_robots=item.get("respects_robots", ""),
                function=item.get("function", ""),
                note=item.get("note", ""),
            )
            for item in data["agents"]
        )

    def with_tokens(self, extra: Iterable[str]) -> AgentCatalogue:
        """A catalogue in which the tokens *extra* also count for training.

        A token already listed keeps its entry, now counted; a new one is
        added with category ``other`` and ``configured`` set. Empty tokens
        and ``*`` are ignored. With nothing to add, ``self`` is returned.
        """
        wanted: dict[str, str] = {}
        for token in extra:
            token = token.strip()
            if token and token != "*" and normalise_agent(token) is not None:
                wanted.setdefault(token.lower(), token)
        if not wanted:
            return self
        agents: list[Agent] = []
        for agent in self._agents:
            if agent.token.lower() in wanted:
                wanted.pop(agent.token.lower())
                if not agent.counts_for_train:
                    agent = replace(agent, counts_for_train=True, configured=True)
            agents.append(agent)
        for token in wanted.values():
            normalised = normalise_agent(token)
            assert normalised is not None
            agents.append(
                Agent(token, normalised, "", "other", True, note="configured", configured=True)
            )
        return AgentCatalogue(agents)

    def training_tokens(self) -> frozenset[str]:
        """The :attr:`Agent.key` of every agent that counts for training.

        Lower-cased and normalised for valid tokens (``"gptbot"``); spelled
        in full for the others (``"img2dataset"``, never ``"img"``), so that
        intersecting with ``RobotsTxt.tokens()`` cannot count a group meant
        for another token. To find the group of an agent, pass its ``token``
        to ``RobotsTxt.named_group()``.
        """
        return self._training

    def training_agents(self) -> tuple[Agent, ...]:
        """The agents that count for training, one per :attr:`Agent.key`."""
        return self._training_agents

    def get(self, token: str) -> Agent | None:
        """The agent for *token*, ignoring case; ``None`` when not listed.

        An exact spelling is preferred; otherwise a match on
        :attr:`Agent.key` (``"GPTBot/1.0"`` finds GPTBot).
        """
        name = token.strip().lower()
        agent = self._by_token.get(name) or self._by_token.get(name_key(name))
        if agent is None:
            normalised = normalise_agent(name)
            if normalised is not None:
                agent = self._by_token.get(normalised)
        return agent

    def __iter__(self) -> Iterator[Agent]:
        return iter(self._agents)

    def __len__(self) -> int:
        return len(self._agents)

    def __contains__(self, token: object) -> bool:
        return isinstance(token, str) and self.get(token) is not None

    def __repr__(self) -> str:
        return f"<AgentCatalogue agents={len(self._agents)} training={len(self._training_agents)}>"


@cache
def _default() -> AgentCatalogue:
    text = resources.files("scrapy_optout").joinpath("data", "agents.json").read_text("utf-8")
    return AgentCatalogue.from_json(json.loads(text))
