"""Explain the verdict for one URL: the library behind ``optout check``.

The check walks the URL's redirect chain by hand. Before each hop it reads
the policy files of that hop's origin (robots.txt, ai.txt, tdmrep.json, the
RSL licences robots.txt names) and stops without fetching when robots.txt
forbids the crawler to fetch it at all; otherwise it fetches the hop and, at
the end, evaluates the final response's status (a licence or payment
answer), headers (with the RSL licences a ``Link`` header names) and body
(head metadata, the RSL licences the page links to or holds inline, the
body's SHA-256 against the opt-out registries), as the crawl does.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit

from scrapy_optout.exceptions import FetchError
from scrapy_optout.frontends.http import FetchResult, HttpFetcher
from scrapy_optout.policy.evaluate import Assessment, Evaluator
from scrapy_optout.policy.fetching import MAX_REDIRECTS
from scrapy_optout.policy.links import body_licence_links, header_licence_links
from scrapy_optout.policy.snapshot import OriginPolicy
from scrapy_optout.policy.urls import origin_of
from scrapy_optout.verdict import Purpose, Verdict

DEFAULT_USER_AGENT = "scrapy-optout/0.1 (+https://github.com/scrapy-optout/scrapy-optout)"


@dataclass
class CheckResult:
    """What ``optout check`` found for one URL and one purpose."""

    url: str
    purpose: Purpose
    user_agent: str
    token: str
    assessment: Assessment
    verdict: Verdict
    response: FetchResult | None
    chain: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "purpose": str(self.purpose),
            "verdict": self.verdict.label,
            "reasons": [f.reason() for f in self.verdict.reasons],
            "findings": [f.to_dict() for f in self.assessment.all_findings],
            "user_agent": self.user_agent,
            "token": self.token,
            "fetched": self.response is not None,
            "status": self.response.status if self.response else None,
            "final_url": self.assessment.url,
            "redirects": self.chain,
            "evidence": self.assessment.evidence,
        }


def check_url(
    url: str,
    *,
    purpose: Purpose | str = Purpose.TRAIN,
    user_agent: str = DEFAULT_USER_AGENT,
    fetcher: HttpFetcher | None = None,
    evaluator: Evaluator | None = None,
) -> CheckResult:
    """Fetch what is needed and decide whether *url* is reserved for *purpose*.

    Raises :class:`~scrapy_optout.FetchError` when *url* is not a usable
    http(s) URL (see :func:`validate_url`) or cannot be fetched at all (policy
    file failures are findings, not errors).
    """
    purpose = Purpose(purpose)
    validate_url(url)
    fetcher = fetcher or HttpFetcher(user_agent)
    evaluator = evaluator or Evaluator(user_agent)
    policies: dict[str, OriginPolicy] = {}
    current = url
    chain: list[str] = []
    while True:
        origin = origin_of(current)
        policy = policies.get(origin)
        if policy is None:
            policy = policies[origin] = fetcher.origin_policy(origin)
            if all(f.status is None for f in policy.files):
                # Not one policy file answered: the server itself is unreachable.
                raise FetchError(f"cannot reach {origin}: {policy.robots_file.error}")
        assessment = evaluator.origin_stage(policy, current)
        if assessment.verdict(Purpose.CRAWL).reserved:
            # robots.txt forbids fetching: the verdict needs nothing more.
            assessment.final = True
            return _result(url, purpose, evaluator, assessment, None, chain)
        response = fetcher.fetch(current, follow=False)
        if response.status is None:
            raise FetchError(f"cannot fetch {current}: {response.error}")
        locations = response.headers.get("location") or []
        location = locations[-1] if locations else None
        if 300 <= response.status < 400 and location:
            if len(chain) >= MAX_REDIRECTS:
                raise FetchError(f"too many redirects from {url}")
            chain.append(current)
            current = _redirect_target(current, location)
            continue
        headers = {name.lower(): list(values) for name, values in response.headers.items()}
        links = header_licence_links(headers, current)
        assessment = evaluator.headers_stage(
            assessment,
            headers,
            status=response.status,
            licences=fetcher.licences(links) if links else None,
        )
        links = body_licence_links(assessment, response.body)
        assessment = evaluator.body_stage(
            assessment, response.body, licences=fetcher.licences(links) if links else None
        )
        return _result(url, purpose, evaluator, assessment, response, chain)


def _redirect_target(current: str, location: str) -> str:
    """The URL a redirect from *current* points to, refused unless it can be checked."""
    try:
        target = urljoin(current, location)
    except ValueError:
        raise FetchError(f"redirect to an unusable URL: malformed URL {location!r}") from None
    if urlsplit(target).scheme not in ("http", "https"):
        raise FetchError(f"redirect to a non-http(s) URL: {target!r}")
    try:
        validate_url(target)
    except FetchError as exc:
        raise FetchError(f"redirect to an unusable URL: {exc}") from None
    return target


def validate_url(url: str) -> None:
    """Refuse, with :class:`~scrapy_optout.FetchError`, a URL that cannot be checked as given.

    Only http(s) URLs with a host, a port from 1 to 65535 (or none) and, in
    brackets, a well-formed IPv6 address. ``urllib.parse`` reports a bad port
    only when asked, and a lenient reading would fall back to the default
    port: the policy files of another origin would then decide.
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        what = "IPv6 address in URL" if "[" in url or "]" in url else "URL"
        raise FetchError(f"malformed {what}: {url!r}") from None
    if parts.scheme not in ("http", "https"):
        raise FetchError(f"not an http(s) URL: {url!r}")
    hostport = parts.netloc.rpartition("@")[2]
    if not hostport.startswith("[") and hostport.count(":") > 1:
        raise FetchError(f"malformed IPv6 address in URL (it goes in brackets): {url!r}")
    host = parts.hostname
    if not host:
        raise FetchError(f"no host in URL: {url!r}")
    try:
        port = parts.port
    except ValueError:
        port = 0
    if port == 0:
        raise FetchError(f"invalid port in URL (expected 1 to 65535): {url!r}")
    if "[" in parts.netloc or ":" in host:
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise FetchError(f"malformed IPv6 address in URL: {url!r}") from None


def _result(
    url: str,
    purpose: Purpose,
    evaluator: Evaluator,
    assessment: Assessment,
    response: FetchResult | None,
    chain: list[str],
) -> CheckResult:
    return CheckResult(
        url,
        purpose,
        evaluator.user_agent,
        evaluator.token,
        assessment,
        assessment.verdict(purpose),
        response,
        chain,
    )


def explain(result: CheckResult) -> str:
    """A readable account of *result*, for the terminal."""
    verdict = result.verdict
    lines = [
        f"{result.url}",
        f"  verdict: {verdict.label.upper()} for purpose {result.purpose!s}"
        f" (crawler token {result.token!r})",
    ]
    if result.chain:
        lines.append(f"  redirects: {' -> '.join([*result.chain, result.assessment.url])}")
    if result.response is None:
        lines.append("  not fetched: robots.txt forbids this crawler to fetch it")
    else:
        lines.append(f"  fetched: HTTP {result.response.status}")
    if verdict.reasons:
        lines.append("  reserved by:")
        lines.extend(_finding_line(f) for f in verdict.reasons)
    others = [f for f in result.assessment.all_findings if f not in verdict.reasons]
    if others:
        lines.append("  other findings:")
        lines.extend(_finding_line(f) for f in others)
    lines.append("  policy files:")
    for ev in result.assessment.evidence:
        status = ev["status"] if ev["status"] is not None else ev.get("error", "no response")
        lines.append(f"    {ev['source']}  [{status}]  sha256 {ev['sha256'][:16]}...")
    return "\n".join(lines)


def _finding_line(finding: Any) -> str:
    purposes = ",".join(sorted(str(p) for p in finding.purposes))
    text = f"    - {finding.signal!s} ({finding.where!s}) {finding.stance!s} [{purposes}]"
    if finding.rule:
        text += f": {finding.rule}"
    if finding.detail:
        text += f" - {finding.detail}"
    text += f"\n      source: {finding.source}"
    return text
