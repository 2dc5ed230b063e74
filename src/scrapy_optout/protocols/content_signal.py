"""Cloudflare Content Signals: ``Content-Signal: search=yes, ai-train=no``.

Cloudflare's Content Signals Policy (September 2025, CC0) adds a
``Content-Signal`` line to robots.txt groups, and some servers send the same
text as a response header. Three uses are named, each ``yes`` (permitted) or
``no`` (not permitted); a use left out is no statement at all:

========== ============================================ =======================
key        use                                          purpose
========== ============================================ =======================
search     search index, links and short excerpts       :attr:`Purpose.SEARCH`
ai-input   RAG, grounding, real-time generative answers :attr:`Purpose.INPUT`
ai-train   training or fine-tuning AI models            :attr:`Purpose.TRAIN`
========== ============================================ =======================

No grammar was published, so reading is lenient where that cannot invent a
reservation: pairs are split on commas, whitespace around them and around
``=`` is ignored, and keys and values compare case-insensitively. Anything else
is not interpreted: other keys (notably ``use=reference``, which some managed
files carry to describe how AI systems may consume content), values other
than ``yes`` / ``no``, and aipref spellings such as ``train-ai=n``. Other
``key=value`` pairs are kept, as written, in the findings' detail ("other
keys, not interpreted: use=reference"); what is not a pair at all is listed
as ignored. When a key repeats with different values the most restrictive,
``no``, wins.

Some tools write a path before the pairs (``Content-Signal: /blog/
ai-train=no``). The path is skipped here; scoping a robots.txt line to a path
is the robots.txt reader's job.

The header form has no published definition; it is read like a robots.txt
line and describes the response that carries it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from scrapy_optout.verdict import Finding, Purpose, Signal, Stance, Where, clip

__all__ = ["KEYS", "findings", "parse_content_signal"]

#: The keys of the Content Signals Policy and the purpose each governs.
KEYS: Mapping[str, Purpose] = {
    "search": Purpose.SEARCH,
    "ai-input": Purpose.INPUT,
    "ai-train": Purpose.TRAIN,
}

_STANCES = {"no": Stance.RESERVE, "yes": Stance.ALLOW}
# A well-formed pair with a key outside KEYS, such as "use=reference".
_OTHER_KEY = re.compile(r"[A-Za-z][A-Za-z0-9_\-]*[ \t]*=[ \t]*[^=\s][^=]*")


def parse_content_signal(value: str) -> dict[str, str]:
    """Parse a ``Content-Signal`` value into ``{key: "yes" | "no"}``.

    Only the keys of :data:`KEYS` with a ``yes`` or ``no`` value are returned,
    lower-cased; see the module documentation for what is tolerated. Never
    raises on content.
    """
    return _scan(value)[0]


def findings(values: Sequence[str], *, where: Where, source: str) -> list[Finding]:
    """Findings of ``Content-Signal`` values (robots.txt lines or header lines).

    Each value is read on its own and quoted in its findings: one finding for
    the uses it reserves, one for those it permits. A value that states
    nothing recognisable yields one ``unknown`` finding saying so. Conflicting
    values need no merging here: across findings, any reservation wins.
    """
    return [finding for value in values for finding in _value_findings(value, where, source)]


def _value_findings(value: str, where: Where, source: str) -> list[Finding]:
    signals, ignored = _scan(value)
    rule = clip(f"Content-Signal: {value.strip()}")
    other = [
        item
        for item in ignored
        if _OTHER_KEY.fullmatch(item) and item.partition("=")[0].strip().lower() not in KEYS
    ]
    junk = [item for item in ignored if item not in other]
    note = f"; other keys, not interpreted: {', '.join(other)}" if other else ""
    note += f"; ignored: {', '.join(junk)}" if junk else ""

    def finding(stance: Stance, purposes: frozenset[Purpose], detail: str) -> Finding:
        return Finding(
            signal=Signal.CONTENT_SIGNAL,
            where=where,
            stance=stance,
            purposes=purposes,
            rule=rule,
            source=source,
            detail=clip(detail + note),
        )

    result = []
    for stance in (Stance.RESERVE, Stance.ALLOW):
        keys = [key for key in KEYS if _STANCES.get(signals.get(key, "")) is stance]
        if keys:
            purposes = frozenset(KEYS[key] for key in keys)
            result.append(finding(stance, purposes, ", ".join(f"{k}={signals[k]}" for k in keys)))
    if not result:
        detail = "no search, ai-input or ai-train key with a yes or no value"
        result.append(finding(Stance.UNKNOWN, frozenset(KEYS.values()), detail))
    return result


def _scan(value: str) -> tuple[dict[str, str], list[str]]:
    """The recognised pairs of *value*, and the items that were ignored."""
    text = value.strip()
    if text.startswith("/"):
        # The path-scoped form: the path ends at the first whitespace.
        parts = text.split(None, 1)
        text = parts[1] if len(parts) > 1 else ""
    signals: dict[str, str] = {}
    ignored: list[str] = []
    for item in text.split(","):
        key, equals, word = item.partition("=")
        key, word = key.strip().lower(), word.strip().lower()
        if equals and key in KEYS and word in _STANCES:
            # A repeated key keeps the most restrictive value.
            if signals.get(key) != "no":
                signals[key] = word
        elif item.strip():
            ignored.append(item.strip())
    return signals, ignored
