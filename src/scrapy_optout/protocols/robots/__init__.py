"""robots.txt (RFC 9309): parsing, group selection, matching and findings.

The parser is lenient about content and strict about meaning:

* **Lines.** Lines end with CR, LF or CRLF; ``#`` starts a comment anywhere;
  blank lines mean nothing. Keys are case-insensitive. Besides ``key: value``
  the parser accepts the forms Google's parser accepts: a missing colon when
  the line is exactly two words (``disallow /x``) and the misspellings
  ``useragent``, ``user agent``, ``dissallow``, ``dissalow``, ``disalow``,
  ``diasllow``, ``disallaw`` and ``site-map``. A line that cannot be read is
  skipped; it never invalidates the file (RFC 9309 §2.3.1.5).
* **Size.** Only the first 500 KiB (:data:`MAX_BYTES`, 512 000 bytes, the
  floor RFC 9309 §2.5 sets and the limit Google applies) are parsed. A line cut
  in half by the limit is dropped rather than read short, so a truncated
  ``Allow`` or ``Disallow`` never covers more than its author wrote. Lines have
  no length limit of their own (Google keeps only 16 663 bytes of each; no
  specification asks for that).
* **Encoding.** Bytes are decoded by
  :func:`scrapy_optout.protocols.text.decode_policy_text`: UTF-8, UTF-16 or
  UTF-32 as a byte order mark or the pattern of NUL bytes says; NUL padding
  and a byte order mark at the start of any line are dropped; an octet that
  is not UTF-8 stays a raw octet (a lone surrogate), and rule quotes show it
  as ``\xe9``. Findings from a file that was not plain UTF-8 say how it was
  decoded.
* **Groups** (RFC 9309 §2.1, §2.2.1). Consecutive ``user-agent`` lines share
  the rules that follow; the next ``user-agent`` line after a rule starts a
  new group. Rules are ``allow``, ``disallow`` and, after
  draft-ietf-aipref-attach, ``content-usage``. Every other line (``sitemap``,
  ``crawl-delay``, Cloudflare's ``content-signal``, unknown keys) is an "other
  record" and never ends a group. Rules before the first ``user-agent`` line
  belong to no group and are ignored.
* **Product tokens.** A ``user-agent`` value is cut at the first character
  that cannot occur in a product token (anything but letters, ``_`` and
  ``-``) and lower-cased, as Google does: ``ExampleBot/2.0`` and
  ``ExampleBot*`` both name ``examplebot``. ``*``, alone or followed by a
  space and more text, names the global group.
* **Choosing a group.** A crawler's token is compared for equality, ignoring
  case, with the group tokens; never as a substring, so ``User-agent: bot``
  does not bind ``GPTBot``. All groups naming the token are merged. Only when
  none does, the merged ``*`` groups apply; a group naming the token blocks
  that fallback even when it has no rules. A token that is not a valid
  product token (``img2dataset``, ``Kangaroo Bot``, as some AI crawlers call
  themselves) is compared with the ``user-agent`` values spelled in full
  instead, since its cut form (``img``) is another token.
* **Several agents on one line.** RFC 9309 allows one product token per
  ``user-agent`` line, and the reading above binds only the first of
  ``GPTBot, CCBot``, ``GPTBot CCBot`` or ``GPTBot;CCBot``. A site that writes
  such a line means every agent on it, so the others are *listed* too
  (:func:`listed_agents`): each item of a list split at ``,``, ``;`` or
  ``|``, each word of an item made of several words, and the crawler named
  in a ``(compatible; ...)`` comment; nothing else of a parenthesised
  comment, so ``Mozilla/5.0 (compatible; Foo)`` names ``Foo`` and not
  ``compatible``. ``Kangaroo Bot`` still names ``kangaroo`` (and, spelled in
  full, the agent ``Kangaroo Bot``); its word ``bot`` is listed, which binds
  only a crawler whose token is ``bot``. A listed name can only add
  reservations, never lift one: the group that lists an agent is evaluated
  apart from the group chosen above and only its ``disallow`` lines (and,
  for the crawler's own token, its reserving ``Content-Usage`` and
  ``Content-Signal`` lines) count. So a crawler found only on such a line
  is bound by that group *and* by its own group or ``*``, whichever
  reserves. ``*`` inside a list adds the group to the ``*`` fallback the same
  way. The findings say the line was read against RFC 9309's one-token rule.
* **Matching** (RFC 9309 §2.2.2, §2.2.3) uses :mod:`scrapy_optout.protocols.patterns`:
  path plus query, fragment removed, percent-encoding normalised, ``*`` and a
  final ``$``; the longest matching pattern wins and ``allow`` wins a tie.
  ``/robots.txt`` itself is always allowed.

:func:`evaluate` turns a fetched (or failed) robots.txt into findings for one
URL: the crawler's own group (all purposes), the groups of other agents that
collect content for AI training (training and TDM), and the ``Content-Usage``
and ``Content-Signal`` lines of the crawler's own group.

The package follows those seams: product tokens are read by
:mod:`scrapy_optout.protocols.product_tokens` (shared with ai.txt and the
agent catalogue), the file is parsed and matched in
:mod:`~scrapy_optout.protocols.robots.parsing`, the groups that bind a crawler
are worked out once per file in :mod:`~scrapy_optout.protocols.robots.planning`,
and :mod:`~scrapy_optout.protocols.robots.evaluation` turns them into findings.
"""

from scrapy_optout.protocols.product_tokens import (
    listed_agents,
    normalise_agent,
    product_token,
    valid_product_token,
)
from scrapy_optout.protocols.robots.evaluation import TOO_MANY_REDIRECTS as TOO_MANY_REDIRECTS
from scrapy_optout.protocols.robots.evaluation import (
    TRAINING_PURPOSES,
    evaluate,
    findings_reader,
    is_path_independent,
    shared_findings,
)
from scrapy_optout.protocols.robots.parsing import MAX_BYTES, Group, RobotsTxt, Rule, ValueRule

__all__ = [
    "MAX_BYTES",
    "TRAINING_PURPOSES",
    "Group",
    "RobotsTxt",
    "Rule",
    "ValueRule",
    "evaluate",
    "findings_reader",
    "is_path_independent",
    "listed_agents",
    "normalise_agent",
    "product_token",
    "shared_findings",
    "valid_product_token",
]
