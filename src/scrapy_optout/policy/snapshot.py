"""An origin's policy files as fetched, each parsed once.

:class:`PolicyFile` is one file as it arrived (status, body, when, what went
wrong): the evidence behind every origin-stage finding. :class:`OriginPolicy`
holds an origin's robots.txt, ai.txt and ``/.well-known/tdmrep.json`` parsed by
their protocols, and the RSL licences its robots.txt names in ``License:``
lines (RSL 1.0 §3, each a :class:`Licence`: the document as fetched, parsed on
first use). This module does no I/O; fetching is the adapters' job.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, TypeVar
from weakref import WeakValueDictionary

from scrapy_optout.policy.urls import AI_TXT, POLICY_PATHS, ROBOTS_TXT, TDMREP_JSON
from scrapy_optout.protocols import aitxt, robots, rsl, tdmrep
from scrapy_optout.verdict import Finding, Where

#: Start of the ``error`` of a policy fetch that gave up on a redirect chain.
TOO_MANY_REDIRECTS = robots.TOO_MANY_REDIRECTS
#: The ``kind`` of an RSL licence document fetched as a policy file.
RSL_LICENCE = "rsl"
#: Response headers a policy file keeps (lower-case): what a licence or payment
#: answer says (``WWW-Authenticate: License``, ``crawler-price``), quoted in findings.
KEPT_HEADERS = ("www-authenticate", "crawler-price", "crawler-charged")


def utcnow() -> datetime:
    return datetime.now(UTC)


def isoformat(moment: datetime) -> str:
    """UTC ISO-8601 with a ``Z`` suffix and millisecond precision."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class PolicyFile:
    """One policy file as fetched: the evidence behind origin-stage findings.

    ``status`` is the final HTTP status after redirects, or ``None`` when no
    response arrived; ``error`` then says why (timeout, reset, too many
    redirects, ...). ``body`` holds at most the capped number of bytes read,
    and ``truncated`` tells whether there was more. ``problem`` is set by
    :class:`OriginPolicy` when a body that did arrive could not be read as
    its protocol (an HTML page served as ai.txt, broken JSON), with the reason.
    """

    kind: str
    url: str
    status: int | None
    body: bytes = b""
    fetched_at: datetime = field(default_factory=utcnow)
    error: str | None = None
    final_url: str | None = None
    content_type: str | None = None
    truncated: bool = False
    problem: str | None = None
    #: The few response headers a finding may quote (:data:`KEPT_HEADERS`), as
    #: ``(lower-case name, value)`` pairs in the order received.
    headers: tuple[tuple[str, str], ...] = ()
    # Worked out on first use: evidence is built for every item a page yields.
    _sha256: str | None = field(default=None, init=False, repr=False, compare=False)
    _fetched_at_text: str | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def sha256(self) -> str:
        value = self._sha256
        if value is None:
            value = hashlib.sha256(self.body).hexdigest()
            object.__setattr__(self, "_sha256", value)
        return value

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    def header_lists(self) -> dict[str, list[str]]:
        """:attr:`headers` as a mapping of each name to its values."""
        out: dict[str, list[str]] = {}
        for name, value in self.headers:
            out.setdefault(name, []).append(value)
        return out

    def _format_fetched_at(self) -> str:
        text = isoformat(self.fetched_at)
        object.__setattr__(self, "_fetched_at_text", text)
        return text

    def evidence(self) -> dict[str, Any]:
        """The ledger's evidence shape: ``{source, status, sha256, fetched_at}``."""
        data: dict[str, Any] = {
            "source": self.url,
            "status": self.status,
            "sha256": self.sha256,
            "fetched_at": self._fetched_at_text or self._format_fetched_at(),
        }
        if self.error:
            data["error"] = self.error
        if self.final_url and self.final_url != self.url:
            data["final_url"] = self.final_url
        if self.truncated:
            data["truncated"] = True
        if self.problem:
            data["problem"] = self.problem
        if self.headers:
            data["headers"] = self.header_lists()
        return data

    def state(self) -> dict[str, Any]:
        """What a store keeps of this file besides its body, as JSON-ready values.

        ``problem`` is left out: it is derived again when the body is parsed.
        Read back with :meth:`kept_headers` for the headers.
        """
        state: dict[str, Any] = {
            "kind": self.kind,
            "url": self.url,
            "status": self.status,
            "sha256": self.sha256,
            "fetched_at": self._fetched_at_text or self._format_fetched_at(),
            "error": self.error,
            "final_url": self.final_url,
            "content_type": self.content_type,
            "truncated": self.truncated,
        }
        if self.headers:
            state["headers"] = [list(pair) for pair in self.headers]
        return state

    @staticmethod
    def kept_headers(state: dict[str, Any]) -> tuple[tuple[str, str], ...]:
        """The ``headers`` of a :meth:`state`, the malformed pairs left out."""
        pairs = state.get("headers")
        if not isinstance(pairs, list):
            return ()
        return tuple(
            (pair[0], pair[1])
            for pair in pairs
            if isinstance(pair, list)
            and len(pair) == 2
            and all(isinstance(part, str) for part in pair)
        )


class Licence:
    """An RSL licence document as fetched, parsed on first use.

    ``document`` is ``None`` when no body arrived (a failed fetch, a non-2xx
    answer); :func:`scrapy_optout.protocols.rsl.evaluate` then says why in an
    ``unknown`` finding.
    """

    __slots__ = ("_document", "file")

    def __init__(self, file: PolicyFile) -> None:
        self.file = file
        self._document: rsl.RslDocument | None = None

    def __repr__(self) -> str:
        return f"Licence({self.file.url!r}, status={self.file.status!r})"

    def __getstate__(self) -> PolicyFile:
        return self.file  # the parsed document is derived again

    def __setstate__(self, file: PolicyFile) -> None:
        self.file = file
        self._document = None

    @property
    def url(self) -> str:
        return self.file.url

    @property
    def document(self) -> rsl.RslDocument | None:
        if self._document is None and self.file.ok:
            self._document = rsl.RslDocument.parse(
                self.file.body, content_type=self.file.content_type
            )
        return self._document

    def is_path_independent(self) -> bool:
        """Whether :meth:`evaluate` gives every URL the same findings.

        True when the document cannot be read (a failed fetch, a non-2xx
        answer, a body that is not RSL: one ``unknown`` finding whatever the
        URL); a readable document's ``<content>`` entries are matched per URL.
        """
        f = self.file
        if f.error is not None or not f.ok:
            return True
        document = self.document
        return document is None or document.error is not None

    def evaluate(self, url: str, where: Where = Where.FILE) -> list[Finding]:
        """The findings of this licence for *url* (see :func:`rsl.evaluate`)."""
        f = self.file
        return rsl.evaluate(
            self.document, url, source=f.url, status=f.status, error=f.error, where=where
        )


_P = TypeVar("_P")

# Parsed files by what they were parsed from. Origins that serve the same bytes
# (the hosts of one site or of one hosting platform, a CMS's default file; one
# in ten files of the 2019 robots.txt corpus has a twin) share one parsed file,
# and with it what evaluators work out from it per crawler identity: parsed
# once, held once. The parsed files never change once built; an entry goes
# with the last snapshot that uses it.
_PARSED: WeakValueDictionary[tuple[object, ...], Any] = WeakValueDictionary()
_PARSED_LOCK = threading.Lock()


def _parsed(parse: Callable[..., _P], body: bytes, *options: object) -> _P:
    """``parse(body, *options)``, or the object it gave for equal arguments if still held."""
    if type(body) is not bytes:
        return parse(body, *options)  # a view or a buffer: not a key
    key = (parse, body, *options)
    with _PARSED_LOCK:
        found: _P | None = _PARSED.get(key)
    if found is None:
        found = parse(body, *options)
        with _PARSED_LOCK:
            found = _PARSED.setdefault(key, found)
    return found


def _parse_aitxt(body: bytes, content_type: str | None) -> aitxt.AiTxt:
    return aitxt.AiTxt.parse(body, content_type=content_type)


def _parse_tdmrep(body: bytes, content_type: str | None, truncated: bool) -> tdmrep.TdmrepFile:
    return tdmrep.TdmrepFile.parse(body, content_type=content_type, truncated=truncated)


class OriginPolicy:
    """The parsed policy files of one origin.

    A missing ai.txt or tdmrep.json (``None``) means it was not fetched; a
    missing robots.txt is not allowed: pass the outcome of its fetch, failed or not.
    ``plans`` holds what evaluators work out once per origin (see
    :meth:`Evaluator.origin_stage <scrapy_optout.policy.evaluate.Evaluator.origin_stage>`),
    one per evaluator identity (usually one in all); like the parsed files it
    is derived from the files and never stored (:data:`DERIVED`), as is
    ``robots_findings``, the robots.txt findings given for this origin's URLs
    by outcome (see :func:`~scrapy_optout.protocols.robots.shared_findings`):
    kept per origin, since the parsed file may be another origin's too.
    """

    __slots__ = (
        "_files",
        "aitxt",
        "aitxt_file",
        "created_at",
        "licences",
        "origin",
        "plans",
        "robots",
        "robots_file",
        "robots_findings",
        "tdmrep",
        "tdmrep_file",
    )

    #: Attributes derived from the files: built again from them, never stored.
    DERIVED = frozenset({"robots", "aitxt", "tdmrep", "plans", "robots_findings"})

    def __init__(
        self,
        origin: str,
        robots_file: PolicyFile,
        aitxt_file: PolicyFile | None = None,
        tdmrep_file: PolicyFile | None = None,
        licences: Sequence[Licence] = (),
    ) -> None:
        self.origin = origin
        self.robots_file = robots_file
        self.aitxt_file = aitxt_file
        self.tdmrep_file = tdmrep_file
        self.robots = _parsed(robots.RobotsTxt.parse, robots_file.body) if robots_file.ok else None
        self.aitxt = (
            _parsed(_parse_aitxt, aitxt_file.body, aitxt_file.content_type)
            if aitxt_file is not None and aitxt_file.ok
            else None
        )
        self.tdmrep = (
            _parsed(
                _parse_tdmrep, tdmrep_file.body, tdmrep_file.content_type, tdmrep_file.truncated
            )
            if tdmrep_file is not None and tdmrep_file.ok
            else None
        )
        # Say in the evidence why a body that arrived gave no (or a partial) signal.
        if self.aitxt is not None and self.aitxt.error and aitxt_file is not None:
            self.aitxt_file = replace(aitxt_file, problem=f"not an ai.txt: {self.aitxt.error}")
        if self.tdmrep is not None and self.tdmrep.error and tdmrep_file is not None:
            self.tdmrep_file = replace(tdmrep_file, problem=self.tdmrep.error)
        self.created_at = utcnow()
        self.licences: tuple[Licence, ...] = tuple(licences)
        self._files = [
            f for f in (self.robots_file, self.aitxt_file, self.tdmrep_file) if f is not None
        ] + [licence.file for licence in self.licences]
        self.plans: tuple[Any, ...] = ()
        self.robots_findings: dict[tuple[object, ...], tuple[Finding, ...]] = {}

    @property
    def files(self) -> list[PolicyFile]:
        """The files fetched, robots.txt first (one list, shared by every assessment)."""
        return self._files

    @property
    def licence_urls(self) -> list[str]:
        """The RSL licence URLs of robots.txt's ``License:`` lines, in order."""
        rf = self.robots_file
        if not rf.ok or (b"icense" not in rf.body and b"ICENSE" not in rf.body):
            return []
        return rsl.license_urls(rf.body, base=rf.final_url or rf.url)

    def with_licences(self, licences: Sequence[Licence]) -> OriginPolicy:
        """This snapshot with *licences* (the documents :attr:`licence_urls` name)."""
        policy = OriginPolicy(
            self.origin, self.robots_file, self.aitxt_file, self.tdmrep_file, licences
        )
        policy.created_at = self.created_at
        return policy

    def evidence(self) -> list[dict[str, Any]]:
        return [f.evidence() for f in self.files]

    def stored_state(self) -> dict[str, Any]:
        """What a store keeps of this snapshot: every attribute but the :data:`DERIVED` ones."""
        return {name: getattr(self, name) for name in self.__slots__ if name not in self.DERIVED}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> OriginPolicy:
        """The snapshot :meth:`stored_state` gave *state*, its files parsed again."""
        policy = cls(
            state["origin"],
            state["robots_file"],
            state["aitxt_file"],
            state["tdmrep_file"],
            state.get("licences", ()),
        )
        # Everything else as it was (created_at, the files as the constructor left them).
        for name, value in state.items():
            setattr(policy, name, value)
        return policy


__all__ = [
    "AI_TXT",
    "KEPT_HEADERS",
    "POLICY_PATHS",
    "ROBOTS_TXT",
    "RSL_LICENCE",
    "TDMREP_JSON",
    "TOO_MANY_REDIRECTS",
    "Licence",
    "OriginPolicy",
    "PolicyFile",
    "isoformat",
    "utcnow",
]
