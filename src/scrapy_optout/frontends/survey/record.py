"""One site's survey record, built from its policy files and home page.

The record is what ``results.jsonl`` holds, one JSON object per site. It is
built the same way whether the files were fetched live (the ``survey``
spider) or read from stored captures (:mod:`scrapy_optout.frontends.survey.captures`),
and every protocol is read by the evaluators the crawler uses: the home page
goes through :class:`~scrapy_optout.policy.snapshot.Evaluator` from the origin stage to
the body stage, and the policy files are read by their own parsers.

A crawler asks "may I use *this* URL?"; a survey asks "does the site reserve
*anything*?". The second question is answered from the same parsed files, site
wide: a robots.txt group that closes ``/news/`` to GPTBot reserves part of the
site for training even though the home page stays open. Those site-wide
reservations are the record's ``site_findings``; they are ordinary
:class:`~scrapy_optout.verdict.Finding` objects, so every figure in a summary
can be traced back to a quoted rule and the URL it came from.

Two readings are kept apart. A *reservation* is a signal about AI or TDM:
a robots.txt group naming an AI agent of the catalogue (or a configured
``OPTOUT_AGENTS`` token), ai.txt, TDMRep, ``noai``, Content-Usage,
Content-Signal. An *access restriction* is what binds only the surveying
crawler: its own robots.txt group (or ``*``) closing some path, or a robots.txt
that failed with a server error. The crawler obeys both; prevalence figures
count only the first (``reserving``), and the second is the record's
``access``.

Per agent, robots.txt coverage follows the published studies
(:mod:`~scrapy_optout.frontends.survey.coverage`).

Record fields are documented in ``docs/survey.md``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any
from urllib.parse import urljoin

import tldextract

from scrapy_optout.frontends.survey.coverage import (
    access_of,
    agent_coverage,
    group_coverage,
    named_agents,
)
from scrapy_optout.frontends.survey.edge import HEAD_BYTES, edge_answer
from scrapy_optout.policy.evaluate import Assessment, Evaluator
from scrapy_optout.policy.links import header_licence_links
from scrapy_optout.policy.snapshot import (
    AI_TXT,
    ROBOTS_TXT,
    TDMREP_JSON,
    Licence,
    OriginPolicy,
    PolicyFile,
    isoformat,
    utcnow,
)
from scrapy_optout.policy.urls import POLICY_PATHS, origin_of, policy_url, registrable_domain
from scrapy_optout.protocols import aipref, aitxt, content_signal, robots, rsl, sniff, tdmrep
from scrapy_optout.protocols.text import decode_policy_text
from scrapy_optout.verdict import ALL_PURPOSES, Finding, Purpose, Signal, Stance, Where

__all__ = [
    "PRESENCE_KEYS",
    "RECORD_VERSION",
    "PageResult",
    "about_ai",
    "build_record",
    "edge_of",
    "error_record",
    "licence_urls",
    "page_edge",
    "presence",
    "site_findings",
]

#: Version of the record layout, the ``v`` field of every record.
RECORD_VERSION = 2

#: What ``presence`` reports, in order: the policy files served, then the
#: robots.txt lines carried.
PRESENCE_KEYS: tuple[str, ...] = (
    ROBOTS_TXT,
    AI_TXT,
    TDMREP_JSON,
    "content-signal",
    "content-usage",
    "license",
)
_PRESENCE_LINES = frozenset({"content-signal", "content-usage", "license"})

# The bundled public suffix list only: never fetched from the network.
_tld = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)

# tdmrep.json locations that match every path: rules after one are never reached.
_CATCH_ALL = frozenset({"/", "*", "/*"})


@dataclass(frozen=True)
class PageResult:
    """The home page as fetched or captured.

    ``status`` is ``None`` when no response arrived, and ``error`` then says
    why. ``headers`` maps each field name to its values, in order. ``edge``
    is what the edge answered when the fetcher knows better than the final
    status (a redirect chain that never ended); otherwise :func:`page_edge`
    reads it from the status, headers and body.
    """

    url: str
    status: int | None
    headers: Mapping[str, Sequence[str]] = field(default_factory=dict)
    body: bytes = b""
    error: str | None = None
    final_url: str | None = None
    encoding: str | None = None
    truncated: bool = False
    edge: Mapping[str, Any] | None = None

    @property
    def responded(self) -> bool:
        return self.status is not None

    @property
    def content_type(self) -> str | None:
        for name, values in self.headers.items():
            if name.lower() == "content-type" and values:
                return values[-1]
        return None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "url": self.url,
            "final_url": self.final_url or self.url,
            "status": self.status,
            "content_type": self.content_type,
            "bytes": len(self.body),
            "sha256": hashlib.sha256(self.body).hexdigest() if self.responded else None,
            "error": self.error,
        }
        if self.truncated:
            data["truncated"] = True
        return data


def host_facts(url: str) -> tuple[str, str | None]:
    """The registrable domain and the public suffix of *url*'s host.

    The suffix is ``None`` for IP addresses and for hosts under no listed
    suffix (``localhost``).
    """
    return registrable_domain(url), _tld(url).suffix or None


def error_record(
    *, line: int, input: str, error: str, rank: int | None = None, purpose: Purpose
) -> dict[str, Any]:
    """The record of a site line that could not be read."""
    record = _skeleton(line, input, rank, None, purpose)
    record["error"] = error
    return record


def build_record(
    *,
    line: int,
    input: str,
    site: str,
    files: Mapping[str, PolicyFile | None],
    home: PageResult | None,
    evaluator: Evaluator,
    purpose: Purpose,
    rank: int | None = None,
    reachable: bool = True,
    error: str | None = None,
    fetched_at: datetime | str | None = None,
    licences: Mapping[str, PolicyFile] | None = None,
    edge: Mapping[str, Any] | None = None,
    pages: Sequence[PageResult] = (),
    pages_skipped: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The survey record of one site.

    *files* maps ``robots.txt``, ``ai.txt`` and ``tdmrep.json`` to what their
    fetch gave (``None`` or missing: not fetched, as for a capture that lacks
    the file); *home* is the home page (``None``: not fetched). An unreachable
    site keeps its fetch outcomes and errors but has no findings.

    *edge* gives what the edge answered (``{"home": {"status", "class"},
    "robots.txt": ...}``, see :func:`~scrapy_optout.frontends.survey.edge.edge_answer`)
    when the fetcher knows more than the record can see (the policy files'
    headers); without it, :func:`edge_of` reads it from *files* and *home*.
    *licences* are the RSL licence documents :func:`licence_urls` names, by URL.

    *pages* are further pages of the site that were read (``--pages``): each
    is assessed as the home page is, its own findings (headers and HTML) are
    listed under ``pages`` with its URL, and a signal reserving on any of
    them counts for the site. *pages_skipped* maps the links not read to why.
    """
    record = _skeleton(line, input, rank, site, purpose)
    if isinstance(fetched_at, datetime):
        fetched_at = isoformat(fetched_at)
    record["fetched_at"] = fetched_at or isoformat(utcnow())
    record["reachable"] = reachable
    record["error"] = error
    record["token"] = evaluator.token
    record["files"] = {kind: _file_dict(files.get(kind)) for kind in POLICY_PATHS}
    record["home"] = home.to_dict() if home is not None else None
    record["edge"] = (
        {k: dict(v) if isinstance(v, Mapping) else v for k, v in edge.items()}
        if edge
        else edge_of(files, home)
    )
    if pages_skipped:
        record["pages_skipped"] = [
            {"url": url, "reason": reason} for url, reason in pages_skipped.items()
        ]
    if not reachable:
        return record

    origin = origin_of(site)
    robots_file = files.get(ROBOTS_TXT) or PolicyFile(
        ROBOTS_TXT, policy_url(origin, ROBOTS_TXT), None
    )
    policy = OriginPolicy(origin, robots_file, files.get(AI_TXT), files.get(TDMREP_JSON))
    fetched = {url: Licence(f) for url, f in (licences or {}).items()}
    named = [fetched[url] for url in policy.licence_urls if url in fetched]
    if named:
        policy = policy.with_licences(named)
    # The policy may annotate a file it could not read (an HTML ai.txt...).
    parsed = {f.kind: f for f in policy.files}
    record["files"] = {
        kind: _file_dict(parsed.get(kind) if files.get(kind) is not None else None)
        for kind in POLICY_PATHS
    }
    assessment = _assess_home(evaluator, policy, site, home, fetched)
    wide = site_findings(policy, evaluator)

    record["findings"] = [f.to_dict() for f in assessment.all_findings]
    record["image_findings"] = [f.to_dict() for f in assessment.image_findings]
    record["site_findings"] = [f.to_dict() for f in wide]
    record["home_verdict"] = {str(p): assessment.verdict(p).label for p in Purpose}
    reserving = {str(p): _reserving(assessment, wide, p, evaluator.token) for p in Purpose}
    if pages:
        entries = [_page_entry(evaluator, policy, page, fetched) for page in pages]
        record["pages"] = entries
        for p in Purpose:
            found = set(reserving[str(p)])
            found.update(*(entry.get("reserving", {}).get(str(p), ()) for entry in entries))
            reserving[str(p)] = [str(s) for s in Signal if s in found]
    record["reserving"] = reserving
    record["reserved"] = {p: bool(signals) for p, signals in reserving.items()}
    record["signals_reserving"] = reserving[str(purpose)]
    record["access"] = access_of(policy, evaluator.token)
    record["agents"] = agent_coverage(policy, evaluator.catalogue)
    record["agents_named"] = named_agents(policy, evaluator.catalogue)
    record["presence"] = presence(policy)
    return record


def _skeleton(
    line: int, input: str, rank: int | None, site: str | None, purpose: Purpose
) -> dict[str, Any]:
    """The fields every record has, with the values of a site that was not surveyed."""
    domain, suffix = host_facts(site) if site else (None, None)
    return {
        "v": RECORD_VERSION,
        "line": line,
        "input": input,
        "rank": rank,
        "site": site,
        "origin": origin_of(site) if site else None,
        "host": _host(site) if site else None,
        "domain": domain,
        "suffix": suffix,
        "reachable": False,
        "error": None,
        "fetched_at": None,
        "purpose": str(purpose),
        "files": {kind: None for kind in POLICY_PATHS},
        "home": None,
        "findings": [],
        "image_findings": [],
        "site_findings": [],
        "home_verdict": {},
        "reserved": {str(p): False for p in Purpose},
        "reserving": {str(p): [] for p in Purpose},
        "signals_reserving": [],
        "access": None,
        "agents": {},
        "agents_named": [],
        "presence": {},
        "edge": {},
        "pages": [],
    }


def _host(url: str) -> str:
    # origin_of() lower-cases the host and brackets IPv6 literals.
    rest = origin_of(url).partition("://")[2]
    return rest.rpartition(":")[0]


def _file_dict(policy_file: PolicyFile | None) -> dict[str, Any] | None:
    if policy_file is None:
        return None
    responded = policy_file.status is not None
    data: dict[str, Any] = {
        "url": policy_file.url,
        "final_url": policy_file.final_url or policy_file.url,
        "status": policy_file.status,
        "content_type": policy_file.content_type,
        "bytes": len(policy_file.body),
        "sha256": policy_file.sha256 if responded else None,
        "error": policy_file.error,
        "fetched_at": isoformat(policy_file.fetched_at),
    }
    if policy_file.truncated:
        data["truncated"] = True
    problem = getattr(policy_file, "problem", None)
    if problem:
        data["problem"] = problem
    return data


def licence_urls(files: Mapping[str, PolicyFile | None], home: PageResult | None) -> list[str]:
    """The RSL licences a site names: robots.txt ``License:`` lines, the home page's links.

    What a front end fetches (on the fetch contract) before :func:`build_record`.
    """
    urls: list[str] = []
    robots_file = files.get(ROBOTS_TXT)
    if robots_file is not None and robots_file.ok:
        base = robots_file.final_url or robots_file.url
        urls += rsl.license_urls(robots_file.body, base=base)
    if home is not None and home.responded:
        url = home.final_url or home.url
        urls += header_licence_links(_lowered(home.headers), url)
        urls += rsl.html_licenses(home.body, base=url, encoding=home.encoding).links
    return list(dict.fromkeys(urls))


def _lowered(headers: Mapping[str, Sequence[str]]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for name, values in headers.items():
        out.setdefault(name.lower(), []).extend(values)
    return out


def _assess_home(
    evaluator: Evaluator,
    policy: OriginPolicy,
    site: str,
    home: PageResult | None,
    licences: Mapping[str, Licence],
) -> Assessment:
    """The evaluator's complete assessment of the home page."""
    if home is None or not home.responded:
        assessment = evaluator.origin_stage(policy, site)
        # No response will follow: whatever the files say is final.
        assessment.final = True
        return assessment
    # Rules are matched by path, so the policy files of the site's origin are
    # applied to the page even when the home page redirected elsewhere.
    url = home.final_url or home.url
    assessment = evaluator.origin_stage(policy, url)
    assessment = evaluator.headers_stage(
        assessment, home.headers, status=home.status, licences=licences
    )
    return evaluator.body_stage(assessment, home.body, encoding=home.encoding, licences=licences)


def _page_entry(
    evaluator: Evaluator,
    policy: OriginPolicy,
    page: PageResult,
    licences: Mapping[str, Licence],
) -> dict[str, Any]:
    """The record's entry for one further page: its answer and its own signals.

    ``findings`` lists what the page itself says (headers, HTML); rules of the
    policy files that reach the page are the record's ``site_findings``
    already. ``reserving`` is as the record's, for this page alone.
    """
    entry = page.to_dict()
    entry["edge"] = page_edge(page)
    if not page.responded:
        return entry
    assessment = _assess_home(evaluator, policy, page.url, page, licences)
    entry["findings"] = [f.to_dict() for f in assessment.all_findings if f.where is not Where.FILE]
    entry["image_findings"] = [f.to_dict() for f in assessment.image_findings]
    entry["reserving"] = {str(p): _reserving(assessment, (), p, evaluator.token) for p in Purpose}
    return entry


def _reserving(
    assessment: Assessment, wide: Sequence[Finding], purpose: Purpose, token: str
) -> list[str]:
    """The AI and TDM signals that reserve at least part of the site for *purpose*.

    In a fixed order. A robots.txt finding counts only when it comes from the
    group of an AI agent: the surveying crawler's own group, the ``*`` group
    and a failed robots.txt restrict access, and are the record's ``access``.
    """
    own = token.strip().lower()
    found: set[str] = set()
    for finding in (*assessment.verdict(purpose).reasons, *assessment.image_findings, *wide):
        if finding.stance is not Stance.RESERVE or not finding.bears_on(purpose):
            continue
        if finding.signal is Signal.ROBOTS and not about_ai(finding, own):
            continue
        found.add(str(finding.signal))
    return [str(signal) for signal in Signal if signal in found]


def about_ai(finding: Finding, token: str) -> bool:
    """Whether a robots.txt *finding* is about AI: it names an agent other than
    the surveying crawler (*token*, lower case) and ``*``."""
    agent = (finding.agent or "").strip().lower()
    return bool(agent) and agent not in ("*", token)


# -- site-wide reading of the policy files ------------------------------------------


def site_findings(policy: OriginPolicy, evaluator: Evaluator) -> list[Finding]:
    """Reservations that cover some part of the site, read from its policy files.

    * robots.txt: the crawler's own group (its token, else ``*``) disallowing
      any path reserves every purpose; the group naming a catalogue agent that
      counts for training (as :func:`~scrapy_optout.protocols.robots.evaluate`
      counts them) disallowing any path reserves training and TDM; a
      ``Content-Usage`` or ``Content-Signal`` line of the crawler's own group
      reserves what it says, whatever its path;
    * ai.txt: any ``Disallow`` with a pattern in the group that applies;
    * tdmrep.json: any rule with ``tdm-reservation`` 1 that can be reached
      (rules after one matching every path never are);
    * the RSL licences robots.txt names: any ``<content>`` entry whose licence
      reserves (a prohibition, a licence required, a use not permitted);
    * the opt-out registries: any URL prefix declared on the site's origin,
      and a declaration of its domain.

    The home page's own signals are not here: the evaluator reports them.
    """
    found: list[Finding] = []
    rf = policy.robots_file
    if policy.robots is not None:
        found += _robots_findings(policy.robots, rf.url, evaluator)
    af = policy.aitxt_file
    if af is not None and policy.aitxt is not None and policy.aitxt.error is None:
        rules = policy.aitxt.rules_for(evaluator.token) or ()
        closing = [r for r in rules if not r.allow and r.pattern.pieces]
        if closing:
            first = closing[0]
            found.append(
                Finding(
                    Signal.AITXT,
                    Where.FILE,
                    Stance.RESERVE,
                    aitxt.PURPOSES,
                    first.line,
                    af.url,
                    f"ai.txt disallows {len(closing)} pattern(s) for AI training "
                    f"(first on line {first.lineno})",
                )
            )
    tf = policy.tdmrep_file
    if tf is not None and policy.tdmrep is not None:
        # A file with some broken rules keeps the rules that can be read, as
        # the evaluator does.
        for rule in policy.tdmrep.rules:
            if rule.reservation == 1:
                found.append(
                    Finding(
                        Signal.TDMREP,
                        Where.FILE,
                        Stance.RESERVE,
                        tdmrep.PURPOSES,
                        rule.text,
                        tf.url,
                        f"tdmrep.json reserves TDM rights under {rule.location}",
                    )
                )
                break
            if rule.location.strip() in _CATCH_ALL:
                break  # first match wins: nothing after this rule applies anywhere
    found += _licence_site_findings(policy)
    registries = evaluator.registries
    if registries:
        found += registries.site_findings(policy.origin)
    return found


def _licence_site_findings(policy: OriginPolicy) -> list[Finding]:
    """Reservations of the RSL licences robots.txt names, for each ``<content>`` they cover."""
    found: list[Finding] = []
    for licence in policy.licences:
        document = licence.document
        if document is None or document.error is not None:
            continue
        for content in document.contents:
            # A URL the entry covers: its own, or its path pattern on this origin.
            path = content.url.split("*", 1)[0].rstrip("$") or "/"
            sample = path if content.origin is not None else urljoin(policy.origin + "/", path)
            found += [f for f in licence.evaluate(sample) if f.stance is Stance.RESERVE]
    return list(dict.fromkeys(found))


def _robots_findings(parsed: robots.RobotsTxt, source: str, evaluator: Evaluator) -> list[Finding]:
    found: list[Finding] = []
    token = evaluator.token
    own = parsed.group_for(token)
    label = token if parsed.named_group(token) is not None else "*"
    if own is not None:
        coverage = group_coverage(own)
        if coverage != "none":
            found.append(
                _robots_finding(
                    own,
                    ALL_PURPOSES,
                    source,
                    f"the group for {label} disallows {_how_much(coverage)} of the site{{where}}",
                    label,
                )
            )
        for rule in own.usage_rules:
            for finding in aipref.findings_for_value(
                rule.value, where=Where.FILE, rule=rule.text, source=source
            ):
                if finding.stance is Stance.RESERVE:
                    detail = f"line {rule.line}, group for {label}: {finding.detail}"
                    found.append(replace(finding, detail=detail, agent=label))
        for rule in own.signal_rules:
            for finding in content_signal.findings([rule.value], where=Where.FILE, source=source):
                if finding.stance is Stance.RESERVE:
                    detail = f"line {rule.line}, group for {label}: {finding.detail}"
                    found.append(replace(finding, rule=rule.text, detail=detail, agent=label))
    own_key = token.strip().lower()
    for agent in evaluator.catalogue.training_agents():
        if agent.key == own_key or agent.token.lower() == own_key:
            continue  # the crawler's own group was read above, for every purpose
        group = parsed.named_group(agent.token)
        if group is None:
            continue
        coverage = group_coverage(group)
        if coverage != "none":
            what = _KINDS.get(agent.category, "agent counted for training")
            found.append(
                _robots_finding(
                    group,
                    robots.TRAINING_PURPOSES,
                    source,
                    f"the group for {agent.token} ({what}) disallows {_how_much(coverage)} of "
                    "the site{where}; read as a reservation for AI training",
                    agent.token,
                )
            )
    return found


_KINDS = {
    "training": "AI training crawler",
    "dataset": "dataset builder",
    "control": "AI training control token",
}


def _how_much(coverage: str) -> str:
    return {"full": "all", "full_with_exceptions": "all but some paths"}.get(coverage, "part")


def _robots_finding(
    group: robots.Group, purposes: frozenset[Purpose], source: str, detail: str, agent: str
) -> Finding:
    """A reservation by a robots.txt group, quoting its first ``disallow`` line.

    *detail* may hold ``{where}``, replaced by the line number of that rule.
    """
    rule = next((r for r in group.rules if not r.allow and r.pattern.length), None)
    text = rule.text if rule is not None else ""
    where = f" (line {rule.line})" if rule is not None else ""
    detail = detail.replace("{where}", where)
    return Finding(Signal.ROBOTS, Where.FILE, Stance.RESERVE, purposes, text, source, detail, agent)


# -- presence and edge answers ------------------------------------------------------------


def presence(policy: OriginPolicy) -> dict[str, bool]:
    """Which policy files the site serves, and which lines its robots.txt carries.

    A file is served when it answered 2xx with a body that is a file of its
    protocol (an HTML page at ``/ai.txt`` is not an ai.txt; an HTML page at
    ``/robots.txt`` is not a robots.txt). ``content-signal``,
    ``content-usage`` and ``license`` tell whether a served robots.txt has at
    least one such line anywhere, in a group or not (RSL's ``License:`` lines
    are global).
    """
    found = dict.fromkeys(PRESENCE_KEYS, False)
    rf = policy.robots_file
    if rf.ok and sniff.BodyKind.HTML not in sniff.sniff(rf.body[:1024]):
        found[ROBOTS_TXT] = True
        text = decode_policy_text(rf.body, limit=robots.MAX_BYTES)[0]
        for line in text.splitlines():
            key = line.split("#", 1)[0].partition(":")[0].strip().lower()
            if key in _PRESENCE_LINES:
                found[key] = True
    for kind, served in ((AI_TXT, policy.aitxt_file), (TDMREP_JSON, policy.tdmrep_file)):
        found[kind] = served is not None and served.ok and not served.problem
    return found


def edge_of(
    files: Mapping[str, PolicyFile | None], home: PageResult | None
) -> dict[str, dict[str, Any]]:
    """The record's ``edge``: the answer to the home page and to each policy file.

    Only what was asked is listed. Policy files are classed by their status
    and the start of their body (a fetcher that keeps their headers passes
    ``edge`` to :func:`build_record` instead).
    """
    edge: dict[str, dict[str, Any]] = {}
    if home is not None:
        edge["home"] = page_edge(home)
    for kind in POLICY_PATHS:
        policy_file = files.get(kind)
        if policy_file is not None:
            headers = (
                {"Content-Type": [policy_file.content_type]} if policy_file.content_type else {}
            )
            edge[kind] = edge_answer(policy_file.status, headers, policy_file.body[:HEAD_BYTES])
    return edge


def page_edge(page: PageResult) -> dict[str, Any]:
    """What the edge answered for *page*, as :func:`~.edge.edge_answer` gives it."""
    if page.edge is not None:
        return dict(page.edge)
    return edge_answer(page.status, page.headers, page.body[:HEAD_BYTES])
