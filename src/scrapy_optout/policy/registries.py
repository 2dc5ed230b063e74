"""The opt-out registries an evaluator consults, as loaded.

A :class:`Registries` is what the loaders of :mod:`scrapy_optout.stores.registries`
hand the :class:`~scrapy_optout.policy.evaluate.Evaluator`: the declarations of
every registry file that could be read, indexed in one
:class:`~scrapy_optout.protocols.registry.Registry`, and an ``unknown`` finding
for each one that could not (a URL that failed, a file cut short), since a
registry that cannot be read is "unknown", never "allowed"
(``new-signals-2026.md`` §5). This module does no I/O.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from scrapy_optout.protocols.registry import Registry
from scrapy_optout.verdict import Finding, Signal

__all__ = ["Registries", "is_body_declaration"]

_SERIALS = itertools.count(1)
#: What the detail of a finding made from a body's declared hash says.
_BODY = ": SHA-256 "


def is_body_declaration(finding: Finding) -> bool:
    """Whether *finding* is a registry declaration of a body's SHA-256 (a body-stage reason)."""
    return finding.signal is Signal.REGISTRY and _BODY in finding.detail


class Registries:
    """Declarations from registry files, and the registries that could not be read.

    ``sources`` names every registry given (paths and URLs), ``problems`` holds
    an ``unknown`` finding per source that could not be read, in order.
    """

    __slots__ = ("problems", "registry", "serial", "sources")

    def __init__(
        self,
        registry: Registry | None = None,
        problems: Sequence[Finding] = (),
        sources: Sequence[str] = (),
    ) -> None:
        self.registry = registry if registry is not None else Registry()
        self.problems: tuple[Finding, ...] = tuple(problems)
        self.sources: tuple[str, ...] = tuple(sources)
        #: Tells these registries from any other loaded in the process (plans
        #: made for one origin are kept by it).
        self.serial = next(_SERIALS)

    def __repr__(self) -> str:
        return (
            f"Registries(sources={len(self.sources)}, declarations={self.declarations},"
            f" problems={len(self.problems)})"
        )

    def __bool__(self) -> bool:
        return bool(self.sources)

    @property
    def declarations(self) -> int:
        """How many declarations were read."""
        return self.registry.loaded

    @property
    def skipped(self) -> int:
        """How many lines were skipped, whatever the reason."""
        return sum(self.registry.skipped.values())

    @property
    def has_hashes(self) -> bool:
        """Whether any declaration is a body's SHA-256 (else bodies need not be hashed)."""
        return self.registry.has_hashes

    def url_findings(self, url: str) -> list[Finding]:
        """The declarations covering *url* (URL prefixes, domains) and the registries' problems."""
        return [*self.registry.findings(url), *self.problems]

    def is_path_independent(self, origin: str) -> bool:
        """Whether :meth:`url_findings` gives every URL of *origin* the same findings.

        True when no declaration names any part of the origin's host: a URL
        prefix covers some paths only, and a domain's finding names the URL.
        """
        return not self.registry.site_declarations(origin + "/")

    def site_findings(self, site: str) -> list[Finding]:
        """The declarations about any part of *site* (a survey's per-site question)."""
        return [d.finding(subject=f"part of {site}") for d in self.registry.site_declarations(site)]

    def body_findings(self, url: str, sha256: str) -> list[Finding]:
        """The declarations of the body of *url* whose SHA-256 is *sha256*."""
        return [d.finding(subject=f"the body of {url}") for d in self.registry.match_sha256(sha256)]
