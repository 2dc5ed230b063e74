"""The evaluator that applies every protocol to a URL, stage by stage.

The :class:`Evaluator` turns an origin's policy snapshot plus what is known of
one response into findings, at three points of increasing cost:

* :meth:`Evaluator.origin_stage` - before the request leaves, from the files;
* :meth:`Evaluator.headers_stage` - when the response headers arrive;
* :meth:`Evaluator.body_stage` - once the body (HTML head, EPUB/PDF metadata,
  the marks embedded in a media file) is read.

The signals of 2026 go through the same stages: RSL licences named by
robots.txt ``License:`` lines at the origin stage, by a ``Link`` header at the
headers stage and by an HTML ``<link rel="license">`` or an inline ``<script
type="application/rsl+xml">`` at the body stage; a licence or payment answer
(``401`` with a ``License`` challenge, ``402``) at the headers stage, from the
response status; opt-out registry declarations at the origin stage (URL
prefixes, domains) and at the body stage (the SHA-256 of the body, media files
included); IPTC ``plus:DataMining`` values (in the XMP packet of an image,
video or PDF) and C2PA/CAWG training-mining assertions (in its manifest store)
at the body stage. The evaluator is handed the licence documents (:class:`Licence`) and
the registries (:class:`Registries`); the adapters fetch them. A licence a
response names but that was not handed over is an ``unknown`` finding.

TDMRep is the one protocol whose later sources override earlier ones: a page's
header or ``<meta>`` may lift a reservation made in ``tdmrep.json``. Its
reservation is therefore *pending* until no later source can arrive, and only
then counts in the verdict (see :attr:`Assessment.final`).

This module does no I/O.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from scrapy_optout.policy.assessment import Assessment, SharedVerdicts, share_verdicts
from scrapy_optout.policy.links import (  # the two link helpers are named here too
    body_licence_links,
    content_type_of,
    header_licence_links,
    mentions_rsl,
    scan_encoding,
)
from scrapy_optout.policy.plan import MEMO_SIZE, NOTHING, OriginPlan, Outcome, Step, freeze
from scrapy_optout.policy.registries import Registries
from scrapy_optout.policy.snapshot import Licence, OriginPolicy, PolicyFile
from scrapy_optout.protocols import (
    aipref,
    aitxt,
    content_signal,
    licence,
    noai,
    robots,
    rsl,
    sniff,
    tdmrep,
)
from scrapy_optout.protocols.agents import AgentCatalogue
from scrapy_optout.protocols.html import head_meta, may_name_meta
from scrapy_optout.protocols.patterns import normalise_path
from scrapy_optout.protocols.robots.parsing import ROBOTS_PATH
from scrapy_optout.protocols.sniff import BodyKind
from scrapy_optout.verdict import Finding, Purpose, Signal, Stage, Stance, Where

#: The kinds of a body that reads as HTML and as nothing else.
_HTML_ONLY = frozenset({BodyKind.HTML})
#: Statuses whose answer may be a licence or payment answer (``licence`` signal).
LICENCE_STATUSES = frozenset({401, 402})
#: What the ``unknown`` of a signal becomes with ``OPTOUT_UNKNOWN = "reserve"``.
_ASSUMED = "unknown is treated as reserved (OPTOUT_UNKNOWN = 'reserve')"

#: Bytes of a response body searched for ``<meta>`` elements at the body stage.
#: The specs set no limit; this one reads the whole ``<head>`` of any real page
#: (and of a hostile 5 MB one) while keeping the scan's cost bounded.
BODY_SCAN_LIMIT = 8 * 1024 * 1024


def _lower_headers(headers: Mapping[str, Sequence[str]] | None) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for name, values in (headers or {}).items():
        out.setdefault(name.lower(), []).extend(values)
    return out


def may_carry_body_signals(content_type: str | None, url: str = "") -> bool:
    """Whether a response's body may carry signals: HTML, EPUB, PDF or media.

    Such a body must be read before the response is judged complete. See
    :func:`sniff.body_kinds`: an absent or generic type
    (``application/octet-stream``) counts unless the URL's extension names
    another type, and so do ``text/plain`` and ``application/zip``, which
    misconfigured servers send pages, PDFs and EPUBs as; ``image/*``,
    ``video/*`` and ``application/c2pa`` count as media (IPTC and C2PA marks).
    Only HTML, EPUB and PDF can carry a later TDMRep source that overrides
    ``tdmrep.json`` and the headers, so only they keep the headers stage from
    being :attr:`Assessment.final`.
    """
    return bool(sniff.body_kinds(content_type, url))


class Evaluator:
    """Applies every signal, for one crawler identity, to URLs and responses.

    *user_agent* is the crawler's User-Agent string; its first product token is
    what robots.txt groups and per-crawler meta/header lines are matched against.
    *extra_agents* are product tokens whose robots.txt groups count as training
    reservations in addition to the built-in catalogue.

    An ai.txt or ``tdmrep.json`` that could not be read (a failed fetch, a
    5xx or 429 answer, a body that is not a file of its protocol) gives no
    signal, with an ``unknown`` finding that says why. With *reserve_unknown*
    it reserves the purposes its protocol governs instead (ai.txt: ``train``;
    TDMRep: ``tdm``, ``train``, ``input``), with a finding that says why. A
    file that is absent (a 4xx other than 429) or empty says nothing either
    way. robots.txt keeps RFC 9309's own rules whatever this flag says. An
    RSL licence that could not be read, and a registry that could not be
    loaded, follow the flag too (RSL: ``train``, ``tdm``, ``input``,
    ``search``; a registry: the purposes a declaration reserves by default).

    *registries* are the opt-out registries consulted (:attr:`registries` may
    be replaced when they are loaded again).
    """

    def __init__(
        self,
        user_agent: str,
        *,
        extra_agents: Iterable[str] = (),
        catalogue: AgentCatalogue | None = None,
        reserve_unknown: bool = False,
        registries: Registries | None = None,
    ) -> None:
        self.user_agent = user_agent
        self.token = robots.product_token(user_agent)
        # The <meta> names the body stage reads (noai and TDMRep: "tdm-"
        # covers both of its names), as bytes for html.may_name_meta; a token
        # that is not ASCII leaves the test out.
        token = self.token.strip().lower()
        self._meta_names: tuple[bytes, ...] | None = (
            (b"robots", b"tdm-", *([token.encode()] if token else [])) if token.isascii() else None
        )
        # What :meth:`quiet_page` looks for: those names, and what an RSL
        # licence's media type (application/rsl+xml) spells in any case.
        self._quiet_names = None if self._meta_names is None else (*self._meta_names, b"rsl+xml")
        self.extra_agents = tuple(extra_agents)
        self.reserve_unknown = reserve_unknown
        base = catalogue if catalogue is not None else AgentCatalogue.default()
        self.catalogue = base.with_tokens(self.extra_agents) if self.extra_agents else base
        self.registries = registries

    @property
    def registries(self) -> Registries | None:
        """The opt-out registries consulted (may be replaced when loaded again)."""
        return self._registries

    @registries.setter
    def registries(self, registries: Registries | None) -> None:
        self._registries = registries
        # What an origin's plan depends on: evaluators alike share plans. The
        # registries count by their serial (not the object, which a plan kept
        # on a snapshot would keep alive after they are loaded again).
        self._identity: tuple[Any, ...] = (
            self.token,
            self.catalogue,
            self.reserve_unknown,
            registries.serial if registries is not None else None,
        )

    # -- origin stage -----------------------------------------------------------------

    def origin_stage(self, policy: OriginPolicy, url: str) -> Assessment:
        """Findings from the origin's policy files alone, before fetching *url*.

        Decided from the origin's plan for this evaluator (:class:`OriginPlan`,
        made on first use): a signal whose file cannot tell one URL from
        another gives its findings without matching, and an origin none of
        whose files can gives one assessment's findings and verdicts to every
        URL.
        """
        identity = self._identity
        plans: tuple[OriginPlan, ...] = policy.plans
        for plan in plans:
            if plan.identity is identity or plan.identity == identity:
                break
        else:
            probe = policy.origin + "/"
            plan = OriginPlan(
                identity,
                tuple(
                    freeze(step(self, policy, probe)) if fixed(self, policy) else step
                    for step, fixed in zip(self._ORIGIN_SIGNALS, self._ORIGIN_FIXED, strict=True)
                ),
            )
            if plan.single is not None and plan.single[1] is Evaluator._robots:
                plan.read = self._robots_reader(policy)
            policy.plans += (plan,)
        if ("robots.txt" in url or "%" in url) and normalise_path(url) == ROBOTS_PATH:
            # robots.txt itself, which robots.txt always allows: no plan covers it.
            steps: tuple[Outcome | Step, ...] = self._ORIGIN_SIGNALS
        else:
            fixed = plan.fixed
            if fixed is not None:
                assessment = fixed.assessment(url, policy, self.token)
                assessment._verdicts = plan.verdicts  # the same for every URL
                return assessment
            steps = plan.steps
            if plan.single is not None:
                return self._assess_single(policy, url, plan)
        return self._assess(policy, url, steps)

    def _assess_single(self, policy: OriginPolicy, url: str, plan: OriginPlan) -> Assessment:
        """The origin stage when one signal alone tells URLs apart (:attr:`OriginPlan.single`).

        Its findings for most URLs are one of a few shared tuples; the other
        signals' findings and the verdicts are worked out once per tuple.
        """
        assert plan.single is not None
        index, step = plan.single
        read = plan.read
        outcome: Outcome | None
        if read is None:
            outcome = step(self, policy, url)
            findings = outcome.findings
        else:
            outcome = None  # made only for a new memo entry
            findings = read(url)
        memo = plan.memo
        known = memo.get(id(findings))
        if known is None or known[0] is not findings:
            if len(memo) >= MEMO_SIZE:
                memo.clear()
            if outcome is None:
                outcome = Outcome(findings)
            steps = (*plan.steps[:index], outcome, *plan.steps[index + 1 :])
            template = self._assess(policy, url, steps)
            known = memo[id(findings)] = (
                findings,  # held, so that its id() is not reused meanwhile
                tuple(template.findings),
                template.tdm,
                template.tdm_assumed,
                SharedVerdicts(),
            )
        _, found, tdm, assumed, verdicts = known
        assessment = Assessment(
            url,
            Stage.ORIGIN,
            list(found),
            tdm,
            False,
            policy.files,
            tdm_assumed=assumed,
            token=self.token,
        )
        assessment._verdicts = verdicts
        return assessment

    def _assess(
        self, policy: OriginPolicy, url: str, steps: tuple[Outcome | Step, ...]
    ) -> Assessment:
        """The origin stage from *steps*: outcomes known already, or methods giving them."""
        found: list[Finding] = []
        tdm = assumed = None
        for step in steps:
            outcome = step if isinstance(step, Outcome) else step(self, policy, url)
            found += outcome.findings
            if outcome.tdm is not None:
                tdm = outcome.tdm
            if outcome.assumed is not None:
                assumed = outcome.assumed
        return Assessment(
            url,
            Stage.ORIGIN,
            found,
            tdm,
            False,
            policy.files,
            tdm_assumed=assumed,
            token=self.token,
        )

    # One method per origin-level signal: its outcome for a URL, and whether
    # that outcome can differ from one URL of the origin to another.

    def _robots(self, policy: OriginPolicy, url: str) -> Outcome:
        return Outcome(self._robots_reader(policy)(url))

    def _robots_reader(self, policy: OriginPolicy) -> Callable[[str], Sequence[Finding]]:
        """What :meth:`_robots` gives each URL, as a function of the URL alone."""
        rf = policy.robots_file
        return robots.findings_reader(
            policy.robots,
            status=rf.status,
            error=rf.error,
            token=self.token,
            source=rf.url,
            catalogue=self.catalogue,
            headers=rf.header_lists() if rf.headers else None,
            cache=policy.robots_findings,
        )

    def _robots_fixed(self, policy: OriginPolicy) -> bool:
        rf = policy.robots_file
        return robots.is_path_independent(
            policy.robots,
            status=rf.status,
            error=rf.error,
            token=self.token,
            catalogue=self.catalogue,
        )

    def _aitxt(self, policy: OriginPolicy, url: str) -> Outcome:
        af = policy.aitxt_file
        if af is None:
            return NOTHING
        why = unreadable(af, policy.aitxt.error if policy.aitxt else None)
        if why is not None and self.reserve_unknown:
            return Outcome([_assumed(Signal.AITXT, aitxt.PURPOSES, af, why)])
        found = aitxt.evaluate(
            policy.aitxt, url, status=af.status, error=af.error, token=self.token, source=af.url
        )
        return Outcome(found)

    def _aitxt_fixed(self, policy: OriginPolicy) -> bool:
        parsed = policy.aitxt
        return parsed is None or parsed.is_path_independent(self.token)

    def _tdmrep(self, policy: OriginPolicy, url: str) -> Outcome:
        tf = policy.tdmrep_file
        if tf is None:
            return NOTHING
        found: list[Finding] = []
        tdm = assumed = None
        parsed = policy.tdmrep
        if parsed is not None:
            if parsed.error:
                found += tdmrep.findings(None, file_error=parsed.error, source_file=tf.url)
            # A partly broken file keeps its usable rules.
            tdm = parsed.lookup(url, source=tf.url)
        why = unreadable(tf, parsed.error if parsed is not None else None)
        if why is not None and parsed is None:
            found += tdmrep.findings(None, file_error=f"not available ({why})", source_file=tf.url)
        if why is not None and self.reserve_unknown:
            assumed = _assumed(Signal.TDMREP, tdmrep.PURPOSES, tf, why)
        return Outcome(found, tdm, assumed)

    def _tdmrep_fixed(self, policy: OriginPolicy) -> bool:
        return policy.tdmrep is None or policy.tdmrep.is_path_independent()

    def _rsl(self, policy: OriginPolicy, url: str) -> Outcome:
        licences = policy.licences
        if not licences:
            return NOTHING
        found: list[Finding] = []
        for licence_doc in licences:
            found += licence_doc.evaluate(url)
        return Outcome(self._unknown(found))

    def _rsl_fixed(self, policy: OriginPolicy) -> bool:
        return all(licence_doc.is_path_independent() for licence_doc in policy.licences)

    def _registry(self, policy: OriginPolicy, url: str) -> Outcome:
        registries = self.registries
        if not registries:
            return NOTHING
        return Outcome(self._unknown(registries.url_findings(url)))

    def _registry_fixed(self, policy: OriginPolicy) -> bool:
        registries = self.registries
        return not registries or registries.is_path_independent(policy.origin)

    #: The origin-level signals in the order of their findings, each as the
    #: method giving its outcome for a URL and the one telling whether that
    #: outcome is the same for every URL of the origin (``/robots.txt`` aside).
    _ORIGIN_SIGNALS = (_robots, _aitxt, _tdmrep, _rsl, _registry)
    _ORIGIN_FIXED = (_robots_fixed, _aitxt_fixed, _tdmrep_fixed, _rsl_fixed, _registry_fixed)

    # -- response stages ----------------------------------------------------------------

    def headers_stage(
        self,
        prior: Assessment,
        headers: Mapping[str, Sequence[str]],
        *,
        status: int | None = None,
        licences: Mapping[str, Licence] | None = None,
    ) -> Assessment:
        """Add what the response headers (and *status*) say; final unless the body may speak.

        *status* is the response's HTTP status: a ``401`` with a ``License``
        challenge or a ``402`` reserves (``licence``). *licences* are the RSL
        documents the ``Link`` header names (:func:`header_licence_links`), by URL.
        """
        return self.lowered_headers_stage(
            prior, _lower_headers(headers), status=status, licences=licences
        )

    def lowered_headers_stage(
        self,
        prior: Assessment,
        hdrs: dict[str, list[str]],
        *,
        status: int | None = None,
        licences: Mapping[str, Licence] | None = None,
    ) -> Assessment:
        """:meth:`headers_stage` for headers whose names are already lower-case."""
        url = prior.url
        found = prior.findings + self._header_findings(url, hdrs)
        files = prior.files
        if "link" in hdrs:
            linked, files = self._linked(
                header_licence_links(hdrs, url), url, Where.HEADER, licences, files
            )
            found += linked
        if status in LICENCE_STATUSES:
            found += licence.licence_findings(status, hdrs, source=url)
        header_tdm = tdmrep.header_value(hdrs, source=url)
        tdm = prior.tdm if header_tdm is None else tdmrep.resolve(prior.tdm, header_tdm)
        # A media body only adds reservations: it is read at the body stage
        # (may_carry_body_signals) but leaves the TDMRep value final.
        final = not sniff.body_kinds(content_type_of(hdrs), url) & sniff.TDMREP_KINDS
        assessment = Assessment(
            url,
            Stage.HEADERS,
            found,
            tdm,
            final,
            files,
            hdrs,
            tdm_assumed=prior.tdm_assumed,
            token=self.token,
        )
        share_verdicts(assessment, prior)
        return assessment

    def with_status(self, prior: Assessment, status: int) -> Assessment:
        """*prior* (a headers stage made without the status) with what *status* says.

        For adapters that read the headers before the status is known (Scrapy's
        ``headers_received`` signal has no status): a licence or payment answer
        is added, anything else leaves *prior* as it is.
        """
        if status not in LICENCE_STATUSES:
            return prior
        answer = licence.licence_findings(status, prior.headers, source=prior.url)
        if not answer:
            return prior
        return replace(prior, findings=prior.findings + answer)

    def body_stage(
        self,
        prior: Assessment,
        body: bytes,
        *,
        encoding: str | None = None,
        licences: Mapping[str, Licence] | None = None,
    ) -> Assessment:
        """The complete assessment of a downloaded response (*prior* is its headers stage).

        The body is read as every kind :func:`sniff.body_kinds` gives for it
        (declared, guessed as Scrapy would, or sniffed); at most
        :data:`BODY_SCAN_LIMIT` bytes of it are searched for ``<meta>``.
        *licences* are the RSL documents an HTML page links to
        (:func:`body_licence_links`), by URL; a registry that declares bodies
        by hash is matched against the SHA-256 of *body*, whatever its type.
        A media or PDF body (never one that reads as HTML) is searched for
        IPTC and C2PA marks (:func:`media_findings`).
        """
        url, hdrs = prior.url, prior.headers
        found = list(prior.findings)
        files = prior.files
        tdm = prior.tdm
        images: Sequence[Finding] = ()
        kinds = sniff.body_kinds(content_type_of(hdrs), url, body)
        if BodyKind.HTML in kinds:
            if mentions_rsl(body):
                found, files = self._page_licences(body, url, encoding, licences, found, files)
            # Robots meta counts anywhere in the page (as search engines read it);
            # TDMRep places its meta in the head. Most pages name none of the
            # elements read: a test of the bytes spares them the scan.
            metas = (
                head_meta(
                    body,
                    encoding=scan_encoding(body, encoding),
                    limit=BODY_SCAN_LIMIT,
                    include_body=True,
                )
                if self._meta_names is None
                or may_name_meta(body, self._meta_names, limit=BODY_SCAN_LIMIT)
                else []
            )
            xrt = hdrs.get("x-robots-tag")
            if metas:
                found += noai.meta_findings(metas, token=self.token, is_image=False, source=url)
                head = [m for m in metas if m.in_head]
                tdm = tdmrep.resolve(tdm, tdmrep.meta_value(head, source=url))
            if metas or xrt:
                images = noai.image_findings(xrt or [], metas, token=self.token, source=url)
        if BodyKind.PDF in kinds or BodyKind.EPUB in kinds:
            tdm = tdmrep.resolve(tdm, tdmrep.document_value(body, kinds=kinds, source=url))
        if (BodyKind.MEDIA in kinds or BodyKind.PDF in kinds) and BodyKind.HTML not in kinds:
            found += media_findings(body, url, content_type_of(hdrs))
        registries = self.registries
        if registries and registries.has_hashes:
            digest = hashlib.sha256(body).hexdigest()
            found += registries.body_findings(url, digest)
        assessment = Assessment(
            url,
            Stage.BODY,
            found,
            tdm,
            True,
            files,
            hdrs,
            images,
            tdm_assumed=prior.tdm_assumed,
            token=self.token,
        )
        share_verdicts(assessment, prior)
        return assessment

    def quiet_page(
        self,
        prior: Assessment,
        hdrs: dict[str, list[str]],
        body: bytes,
        *,
        status: int | None = None,
    ) -> Assessment | None:
        """The final assessment of the usual page, when its response adds nothing, else ``None``.

        A shortcut past :meth:`lowered_headers_stage` and :meth:`body_stage`
        for a response that cannot change what its origin stage (*prior*)
        says: its headers (*hdrs*, lower-case names) hold nothing but a
        ``Content-Type``, its *status* is no licence or payment answer, and
        its *body* reads as HTML only and names, in any letter case, neither
        a ``<meta>`` the body stage reads nor an RSL licence (the test of
        :func:`~scrapy_optout.protocols.html.may_name_meta`, which errs toward
        ``True``). What comes back is then what the two stages would give. A
        registry that declares bodies by hash, or a pending TDMRep value that
        the headers stage would make final, takes the stages one by one: so
        does anything else, with ``None``.
        """
        if (
            prior.stage is not Stage.ORIGIN
            or status in LICENCE_STATUSES
            or len(hdrs) > (1 if "content-type" in hdrs else 0)
        ):
            return None
        names = self._quiet_names
        registries = self.registries
        if names is None or (registries is not None and registries.has_hashes):
            return None
        url = prior.url
        ctype = content_type_of(hdrs)
        if sniff.body_kinds(ctype, url, body) != _HTML_ONLY:
            return None
        if (prior.tdm is not None or prior.tdm_assumed is not None) and not (
            sniff.body_kinds(ctype, url) & sniff.TDMREP_KINDS
        ):
            return None  # the headers stage would have made the TDMRep value final
        if may_name_meta(body, names, limit=BODY_SCAN_LIMIT):
            return None
        assessment = Assessment(
            url,
            Stage.BODY,
            list(prior.findings),
            prior.tdm,
            True,
            prior.files,
            hdrs,
            tdm_assumed=prior.tdm_assumed,
            token=self.token,
        )
        share_verdicts(assessment, prior)
        return assessment

    def _page_licences(
        self,
        body: bytes,
        url: str,
        encoding: str | None,
        licences: Mapping[str, Licence] | None,
        found: list[Finding],
        files: list[PolicyFile],
    ) -> tuple[list[Finding], list[PolicyFile]]:
        """*found* and *files* with the RSL licences an HTML page links to or holds inline."""
        page = rsl.html_licenses(body, base=url, encoding=scan_encoding(body, encoding))
        for document in page.inline:
            found += self._unknown(rsl.evaluate(document, url, source=url, where=Where.META))
        if page.links:
            linked, files = self._linked(page.links, url, Where.META, licences, files)
            found += linked
        return found, files

    def _linked(
        self,
        urls: Sequence[str],
        url: str,
        where: Where,
        licences: Mapping[str, Licence] | None,
        files: list[PolicyFile],
    ) -> tuple[list[Finding], list[PolicyFile]]:
        """Findings of the RSL licences *urls* a response names, and the evidence with them."""
        found: list[Finding] = []
        added: list[PolicyFile] = []
        for target in urls:
            document = licences.get(target) if licences else None
            if document is None:
                found.append(
                    Finding(
                        Signal.RSL,
                        where,
                        Stance.UNKNOWN,
                        rsl.PURPOSES,
                        "",
                        target,
                        f"RSL licence named by {url} was not fetched",
                    )
                )
                continue
            found += document.evaluate(url, where)
            if document.file not in files and document.file not in added:
                added.append(document.file)
        return self._unknown(found), (files + added if added else files)

    def _unknown(self, found: list[Finding]) -> list[Finding]:
        """*found* with ``unknown`` findings made reservations when unknown is reserved."""
        if not self.reserve_unknown:
            return found
        return [
            replace(
                f,
                stance=Stance.RESERVE,
                rule=f.rule or "unknown",
                detail=f"{f.detail}; {_ASSUMED}",
            )
            if f.stance is Stance.UNKNOWN
            else f
            for f in found
        ]

    def _header_findings(self, url: str, hdrs: Mapping[str, list[str]]) -> list[Finding]:
        found: list[Finding] = []
        ctype = content_type_of(hdrs)
        xrt = hdrs.get("x-robots-tag")
        if xrt:
            found += noai.xrobots_findings(
                xrt,
                token=self.token,
                is_image=noai.is_image_type(ctype, url),
                source=url,
            )
        usage = hdrs.get("content-usage")
        if usage:
            found += aipref.header_findings(usage, source=url)
        csig = hdrs.get("content-signal")
        if csig:
            found += content_signal.findings(csig, where=Where.HEADER, source=url)
        return found


def media_findings(body: bytes, url: str, content_type: str | None = None) -> list[Finding]:
    """The IPTC ``plus:DataMining`` and C2PA/CAWG training-mining findings of a media body.

    Both readers are bounded; call this only for a body that is not HTML
    (their fallback scans would search a whole page).
    """
    # Loaded with the first media body: a crawl of pages keeps these readers
    # (and XMP's, CBOR's) out of the heap the garbage collector walks.
    from scrapy_optout.protocols import c2pa, iptc

    return iptc.iptc_findings(body, source=url, content_type=content_type) + c2pa.c2pa_findings(
        body, source=url, content_type=content_type
    )


def unreadable(policy_file: PolicyFile, parse_error: str | None = None) -> str | None:
    """Why an ai.txt or ``tdmrep.json`` could not be read, or ``None``.

    ``None`` when the file was read, is absent (a 4xx other than 429) or is
    empty; otherwise a short account usable as a finding's ``rule``: the
    network error, the HTTP status, or why the body is not a file of its
    protocol (*parse_error*, from the parser).
    """
    if policy_file.error is not None:
        return f"unreachable: {policy_file.error}"
    status = policy_file.status
    if status is not None and not 200 <= status < 300:
        if 400 <= status < 500 and status != 429:
            return None
        return f"HTTP {status}"
    if not policy_file.body.strip():
        return None
    if parse_error:
        return f"unreadable: {parse_error}"
    return None


def _assumed(
    signal: Signal, purposes: frozenset[Purpose], policy_file: PolicyFile, why: str
) -> Finding:
    """The reservation assumed for a policy file that could not be read."""
    return Finding(
        signal,
        Where.FILE,
        Stance.RESERVE,
        purposes,
        why,
        policy_file.url,
        f"{policy_file.kind} could not be read ({why}); unknown is treated as reserved"
        " (OPTOUT_UNKNOWN = 'reserve')",
    )


__all__ = [
    "BODY_SCAN_LIMIT",
    "LICENCE_STATUSES",
    "Assessment",
    "Evaluator",
    "body_licence_links",
    "header_licence_links",
    "may_carry_body_signals",
    "media_findings",
    "unreadable",
]
