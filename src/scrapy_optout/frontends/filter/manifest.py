"""The compliance manifest: what a dataset was collected and filtered under.

``optout manifest LEDGER... [--kept DIR]`` gathers, from crawl and dataset
ledgers and from the provenance of kept records, the material a provider of
a general-purpose AI model documents in its copyright policy and its public
summary of training content (EU AI Act, art. 53(1)(c) and (d)): the crawler's
identity, the purposes, the collection period, the protocols honoured and
their versions, records kept and removed by signal and by domain, the top
domains, and the hash of every policy file relied on. ``preferences`` is the
machine-readable statement of the reservations found, per domain, to pass
along with the dataset.
"""

from __future__ import annotations

import html
import os
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from scrapy_optout.frontends.filter.formats import FORMATS, InputBroken, Record, detect_format
from scrapy_optout.policy.snapshot import isoformat, utcnow
from scrapy_optout.policy.urls import registrable_domain
from scrapy_optout.stores.ledger import read_ledger

__all__ = ["PROTOCOLS", "build_manifest", "render_html"]

MANIFEST_VERSION = 1
TOP_DOMAINS = 25

#: The protocols honoured, by ledger signal, with the version of the text implemented.
PROTOCOLS: list[dict[str, str]] = [
    {"signal": "robots.txt", "name": "Robots Exclusion Protocol", "version": "RFC 9309 (2022)"},
    {
        "signal": "tdmrep",
        "name": "TDM Reservation Protocol",
        "version": "W3C CG Final Report, 2024-05-10",
    },
    {"signal": "ai.txt", "name": "Spawning ai.txt", "version": "ai.txt as published by Spawning"},
    {
        "signal": "noai",
        "name": "noai / noimageai directives",
        "version": "X-Robots-Tag and robots meta",
    },
    {
        "signal": "content-usage",
        "name": "IETF AI preferences",
        "version": "draft-ietf-aipref-vocab-07, draft-ietf-aipref-attach-05",
    },
    {
        "signal": "content-signal",
        "name": "Content Signals",
        "version": "draft-romm-aipref-contentsignals-00",
    },
]


def _kept_records(folder: Path) -> Iterable[Record]:
    for path in sorted(folder.iterdir()):
        if not path.is_file() or path.name.startswith("."):
            continue
        fmt = FORMATS[detect_format(path)]()
        try:
            for batch in fmt.batches(path, 5000):
                for item in batch.items:
                    if isinstance(item, Record) and item.previous is not None:
                        yield item
        except InputBroken:
            continue


def build_manifest(
    ledgers: Sequence[str | os.PathLike[str]], *, kept: str | os.PathLike[str] | None = None
) -> dict[str, Any]:
    """The manifest of *ledgers* and, when given, of the kept records under *kept*."""
    agents: Counter[str] = Counter()
    tokens: Counter[str] = Counter()
    purposes: Counter[str] = Counter()
    times: list[str] = []
    evidence: dict[str, dict[str, Any]] = {}
    removed_total = 0
    removed_by_signal: Counter[str] = Counter()
    removed_by_stage: Counter[str] = Counter()
    removed_by_domain: Counter[str] = Counter()
    reserved_for: dict[str, dict[str, set[str]]] = {}

    def note_evidence(entries: Any) -> None:
        for entry in entries if isinstance(entries, list) else []:
            if isinstance(entry, dict) and isinstance(entry.get("sha256"), str):
                key = f"{entry['sha256']} {entry.get('source')}"
                evidence.setdefault(
                    key, {k: entry.get(k) for k in ("sha256", "source", "status", "fetched_at")}
                )

    for ledger in ledgers:
        for line in read_ledger(ledger):
            for name, counter in (("user_agent", agents), ("token", tokens), ("purpose", purposes)):
                if isinstance(line.get(name), str):
                    counter[line[name]] += 1
            if isinstance(line.get("time"), str):
                times.append(line["time"])
            note_evidence(line.get("evidence"))
            if line["verdict"] != "reserved":
                continue
            domain = line.get("domain") or registrable_domain(line["url"]) or "(unknown)"
            removed_total += 1
            removed_by_stage[line["stage"]] += 1
            removed_by_domain[domain] += 1
            signals = [
                r.get("signal") for r in line.get("reasons") or [] if isinstance(r, dict)
            ] or ["unknown"]
            prefs = reserved_for.setdefault(domain, {"purposes": set(), "signals": set()})
            if isinstance(line.get("purpose"), str):
                prefs["purposes"].add(line["purpose"])
            for signal in dict.fromkeys(str(s) for s in signals):
                removed_by_signal[signal] += 1
                prefs["signals"].add(signal)

    kept_total = kept_origin_only = 0
    kept_by_domain: Counter[str] = Counter()
    kept_by_verdict: Counter[str] = Counter()
    if kept is not None:
        for record in _kept_records(Path(kept)):
            entry = record.previous or {}
            kept_total += 1
            domain = (registrable_domain(record.url) if record.url else None) or "(unknown)"
            kept_by_domain[domain] += 1
            kept_by_verdict[str(entry.get("verdict"))] += 1
            if entry.get("origin_only"):
                kept_origin_only += 1
            for name, counter in (("token", tokens), ("purpose", purposes)):
                if isinstance(entry.get(name), str):
                    counter[entry[name]] += 1
            if isinstance(entry.get("time"), str):
                times.append(entry["time"])
            note_evidence(entry.get("evidence"))
    for item in evidence.values():
        if isinstance(item.get("fetched_at"), str):
            times.append(item["fetched_at"])

    domains = removed_by_domain + kept_by_domain
    top = [
        {
            "domain": domain,
            "records": records,
            "kept": kept_by_domain[domain],
            "removed": removed_by_domain[domain],
        }
        for domain, records in domains.most_common(TOP_DOMAINS)
    ]
    return {
        "manifest_version": MANIFEST_VERSION,
        "generated_at": isoformat(utcnow()),
        "crawler": {"user_agents": sorted(agents), "tokens": sorted(tokens)},
        "purposes": sorted(purposes),
        "period": {"from": min(times) if times else None, "to": max(times) if times else None},
        "protocols": PROTOCOLS,
        "sources": {"ledgers": [str(p) for p in ledgers], "kept": str(kept) if kept else None},
        "removed": {
            "total": removed_total,
            "by_signal": dict(removed_by_signal.most_common()),
            "by_stage": dict(removed_by_stage.most_common()),
            "by_domain": dict(removed_by_domain.most_common()),
        },
        "kept": {
            "total": kept_total,
            "by_verdict": dict(kept_by_verdict),
            "origin_only": kept_origin_only,
            "by_domain": dict(kept_by_domain.most_common()),
        },
        "top_domains": top,
        "preferences": {
            domain: {"reserved": sorted(p["purposes"]), "signals": sorted(p["signals"])}
            for domain, p in sorted(reserved_for.items())
        },
        "evidence": sorted(evidence.values(), key=lambda e: (str(e["source"]), str(e["sha256"]))),
    }


def _table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def render_html(manifest: dict[str, Any]) -> str:
    """The manifest as a self-contained HTML page."""
    period = manifest["period"]
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>Compliance manifest</title>",
        "<style>body{font-family:sans-serif;max-width:60em;margin:2em auto}"
        "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;"
        "padding:.2em .6em;text-align:left}</style></head><body>",
        "<h1>Compliance manifest</h1>",
        f"<p>Generated {html.escape(manifest['generated_at'])}; collection period "
        f"{html.escape(str(period['from']))} to {html.escape(str(period['to']))}.</p>",
        "<h2>Crawler</h2>",
        _table(["User-Agent"], [[a] for a in manifest["crawler"]["user_agents"]]),
        _table(["Product token"], [[t] for t in manifest["crawler"]["tokens"]]),
        "<h2>Purposes</h2>",
        _table(["Purpose"], [[p] for p in manifest["purposes"]]),
        "<h2>Protocols honoured</h2>",
        _table(
            ["Signal", "Protocol", "Version"],
            [[p["signal"], p["name"], p["version"]] for p in manifest["protocols"]],
        ),
        f"<h2>Records</h2><p>{manifest['kept']['total']} kept, "
        f"{manifest['removed']['total']} removed.</p>",
        _table(["Signal", "Removed"], manifest["removed"]["by_signal"].items()),
        "<h2>Top domains</h2>",
        _table(
            ["Domain", "Records", "Kept", "Removed"],
            [[t["domain"], t["records"], t["kept"], t["removed"]] for t in manifest["top_domains"]],
        ),
        "<h2>Evidence</h2>",
        _table(
            ["Source", "Status", "sha256", "Fetched"],
            [
                [e["source"], e["status"], e["sha256"], e["fetched_at"]]
                for e in manifest["evidence"]
            ],
        ),
        "</body></html>",
    ]
    return "\n".join(parts)
