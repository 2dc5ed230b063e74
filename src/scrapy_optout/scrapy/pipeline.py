"""The item pipeline: drop items whose sources are reserved, or strip their reserved URLs.

An item's sources are the pages it was built from (the response it was
yielded from, and the pages whose callbacks made that response's request:
an item may be passed on in ``cb_kwargs`` or ``meta``), the URLs in its
``file_urls`` and ``image_urls`` fields (the Files and Images pipelines'
conventions) and the URLs in any field named in ``OPTOUT_ITEM_URL_FIELDS``.
Each source URL is checked against its origin's policy files. The images of a
page with ``noimageai`` (or ``noai``) are reserved too:

* every ``image_urls`` entry and every URL whose extension names an image;
* every ``data:`` URI that holds an image (by its declared type or its bytes);
* every other ``file_urls`` entry that turns out to be an image, whatever its
  URL says (``/photo?id=1``): the pipeline looks at the first bytes the URL
  serves, and the download the Files pipeline makes later is judged again by
  its ``Content-Type`` and bytes in :class:`~scrapy_optout.OptOutMiddleware`.
  A PDF linked from such a page is not an image and stays.

URL fields are read leniently: a string or a list of strings, surrounding
whitespace ignored, the scheme in any case, relative and protocol-relative
URLs resolved against the page the item came from.

Every reserved URL of an item has its own ledger line (``stage: "item"``).
Then, with ``OPTOUT_ITEM_ACTION = "drop"`` (the default) the item is dropped
(:class:`ReservedItem`); with ``"strip"`` the reserved URLs are removed from
its fields (a list keeps its other entries, a single-URL field becomes
``None``) and the item goes on. An item whose page itself is reserved (seen
only in measure mode) cannot be stripped and is dropped.

With ``OPTOUT_PROVENANCE`` every item kept gets its provenance entry (design
§3.5, :mod:`scrapy_optout.policy.provenance`): the purpose, the verdict, the
time, the crawler identity, and the policy files of its pages and of its media
origins, whose bodies are stored in the evidence store first. The entry goes in
the item's ``optout`` field where it has one (a dict always may), otherwise to
the side file beside the ledger, keyed by :func:`item_key`.

Give this pipeline a lower number than the Files and Images pipelines so that
it runs first (the add-on uses 0); their downloads also pass through
:class:`~scrapy_optout.OptOutMiddleware`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin

from scrapy import Request
from scrapy.exceptions import DropItem, NotConfigured
from scrapy.http.request import NO_CALLBACK

from scrapy_optout.policy.evaluate import Assessment
from scrapy_optout.policy.provenance import PROVENANCE_FIELD, merged_evidence, provenance_entry
from scrapy_optout.policy.urls import origin_of, registrable_domain
from scrapy_optout.protocols import noai
from scrapy_optout.scrapy.exceptions import (
    LedgerFailed,
    ReservedItem,
)
from scrapy_optout.scrapy.policystore import stats_counter
from scrapy_optout.scrapy.runtime import META_PROBE, META_SOURCE, ItemSource, MediaGuard, OptOutCore
from scrapy_optout.scrapy.settings import MEASURE, STRIP
from scrapy_optout.scrapy.settings import enabled as optout_enabled
from scrapy_optout.stores.record import LedgerRecord, RecordDetails
from scrapy_optout.verdict import Finding, Purpose, Stage, Verdict, clip, decide

if TYPE_CHECKING:
    from typing import Self

    from itemadapter import ItemAdapter
    from scrapy.crawler import Crawler
    from scrapy.http import Response

CONVENTIONAL_FIELDS = ("file_urls", "image_urls")
#: Fields whose URLs the Files and Images pipelines download.
MEDIA_FIELDS = frozenset(CONVENTIONAL_FIELDS)
#: Longest ``data:`` URI quoted whole in a ledger line.
MAX_DATA_URI_QUOTE = 120
#: Bytes asked for (and at most read) when looking at a media URL's type.
PROBE_RANGE = f"bytes=0-{noai.SNIFF_BYTES - 1}"
PROBE_MAXSIZE = 1024 * 1024

_WEB = ("http://", "https://")


@dataclass
class _Hit:
    """One reserved (or, in measure mode, judged) source of an item."""

    field: str | None
    raw: str | None  # the value as the item holds it
    url: str
    verdict: Verdict
    assessment: Assessment | None
    page: str | None


class OptOutPipeline:
    """Drops items whose sources are reserved, or strips their reserved URLs."""

    def __init__(self, crawler: Crawler) -> None:
        if not optout_enabled(crawler.settings):
            raise NotConfigured("OPTOUT_ENABLED is off")
        self.crawler = crawler
        self.core = OptOutCore.for_crawler(crawler)
        self.core.pipeline = self
        self._inc = stats_counter(crawler)
        self.fields = CONVENTIONAL_FIELDS + tuple(
            f for f in self.core.settings.item_url_fields if f not in CONVENTIONAL_FIELDS
        )
        self._field_names = frozenset(self.fields)
        self.strip = self.core.settings.item_action == STRIP
        self.provenance = self.core.settings.provenance

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls(crawler)

    async def process_item(self, item: Any) -> Any:
        core = self.core
        entry = core.item_sources.pop(id(item), None)
        if (
            not self.provenance
            and type(item) is dict
            and self._field_names.isdisjoint(item)
            and (entry is None or self._plain_page(*entry))
        ):
            # The usual item: no URL to judge, from a page that reserved nothing
            # and carries no other page's say: nothing to record or change.
            return item
        sources = core.item_sources_of(*entry) if entry is not None else []
        # The item takes the purpose and mode of the pages it came from; when
        # they differ, each purpose counts and enforcing wins.
        purposes = tuple(dict.fromkeys(s.purpose or core.settings.purpose for s in sources))
        purposes = purposes or (core.settings.purpose,)
        measuring = all(s.measuring for s in sources) if sources else core.settings.measure
        page = sources[0].url if sources else None
        images = [f for s in sources for f in s.image_findings]
        image_page = next((s.url for s in sources if s.image_findings), page)
        hits: list[_Hit] = []
        # The assessment of each media origin, for provenance: of the URLs kept.
        media: dict[str, Assessment] = {}
        for source in sources:
            if source.verdict is not None and source.verdict.reserved:
                hits.append(
                    _Hit(None, None, source.url, source.verdict, source.assessment, source.url)
                )
        for field, raw in self._source_urls(item):
            url = _resolve(raw, page)
            if url is None:
                continue
            if url.startswith("data:"):
                if images and noai.data_uri_image(url):
                    hits.append(_Hit(field, raw, url, _first(images, purposes), None, image_page))
                continue
            try:
                origin = origin_of(url)
            except ValueError:  # e.g. "http://[x": no download can be made of it either
                continue
            policy = await core.store.get(origin)
            assessment = core.evaluator.origin_stage(policy, url)
            findings = assessment.all_findings  # a pending TDMRep reservation counts here
            verdict = _first(findings, purposes)
            if images and not verdict.reserved:
                if field == "image_urls" or noai.is_image_type(None, url):
                    # noimageai / noai on the page binds the images it shows.
                    verdict = _first(findings + images, purposes)
                elif field in MEDIA_FIELDS:
                    verdict = await self._media_verdict(
                        url, findings, images, purposes, image_page, measuring
                    )
            if verdict.reserved or measuring:
                source_page = image_page if verdict.reserved and images else page
                hits.append(_Hit(field, raw, url, verdict, assessment, source_page))
            if self.provenance and (measuring or not verdict.reserved):
                media.setdefault(origin, assessment)
        if hits:
            self._act(item, hits, measuring)
        if self.provenance:
            self._attach(item, sources, purposes, measuring, hits, media)
        return item

    def _plain_page(self, response: Response, assessment: Assessment | None) -> bool:
        """Whether *response* alone speaks for its items and reserves nothing for them."""
        request = response.request
        if request is None or META_SOURCE in request.meta:
            return False
        return assessment is None or (
            not assessment.verdict(self.core.purpose_for(request)).reserved
            and not assessment.image_findings
        )

    async def _media_verdict(
        self,
        url: str,
        findings: list[Finding],
        images: list[Finding],
        purposes: tuple[Purpose, ...],
        page: str | None,
        measuring: bool,
    ) -> Verdict:
        """The verdict on a media URL of unknown type from a page whose images are reserved.

        Its download will be judged by what it turns out to be whatever
        happens here. In enforce mode the pipeline also looks at the URL's
        first bytes now, so that the item can be dropped or stripped; a look
        that fails or answers with an error leaves the decision to the download.
        """
        purpose = next((p for p in purposes if decide(images, p).reserved), purposes[0])
        self.core.guard_media(url, MediaGuard(page or "", purpose, measuring, tuple(images)))
        allowed = _first(findings, purposes)
        if measuring:
            return allowed
        mime = await self._probe(url)
        if mime is None:
            return allowed
        note = f"{url} turned out to be an image ({mime})"
        served = [replace(f, detail=f"{f.detail}; {note}") for f in images]
        return _first(findings + served, purposes)

    async def _probe(self, url: str) -> str | None:
        """The image type *url* serves, from its headers and first bytes, or ``None``."""
        engine = self.crawler.engine
        if engine is None:
            return None
        request = Request(
            url,
            callback=NO_CALLBACK,
            dont_filter=True,
            headers={"Range": PROBE_RANGE},
            meta={META_PROBE: True, "dont_cache": True, "download_maxsize": PROBE_MAXSIZE},
        )
        self._inc("optout/media_probed")
        try:
            response = await engine.download_async(request)
        except Exception:  # any failure: the download, if it happens, decides
            return None
        if not 200 <= response.status < 300:
            return None
        ctype = response.headers.get(b"Content-Type")
        return noai.media_image_type(ctype.decode("latin-1") if ctype else None, response.body)

    def _attach(
        self,
        item: Any,
        sources: list[ItemSource],
        purposes: tuple[Purpose, ...],
        measuring: bool,
        hits: list[_Hit],
        media: dict[str, Assessment],
    ) -> None:
        """Give the kept *item* its provenance entry, after storing every file it names.

        The item takes it in its ``optout`` field when it has (or, a dict, may
        have) one; otherwise the entry goes to the side file, keyed by item.
        An item is never kept without it: when the files or the line cannot be
        written, the item is dropped (and the crawl stops).
        """
        core = self.core
        # A carried page's files were stored when it was carried (OptOutSpiderMiddleware).
        files = [f for s in sources if s.assessment is not None for f in s.assessment.files]
        files += [f for assessment in media.values() for f in assessment.files]
        try:
            core.keep_evidence(files)  # raises, even with no files, once the ledger has failed
            entry = self._entry(sources, purposes, measuring, hits, media)
            if _set_field(item, entry):
                self._inc("optout/provenance_attached")
                return
            core.write_provenance(
                {"key": item_key(item), "item_type": _type_name(item), PROVENANCE_FIELD: entry}
            )
        except LedgerFailed as exc:
            raise DropItem(str(exc), log_level="ERROR") from exc
        self._inc("optout/provenance_side_file")

    def _entry(
        self,
        sources: list[ItemSource],
        purposes: tuple[Purpose, ...],
        measuring: bool,
        hits: list[_Hit],
        media: dict[str, Assessment],
    ) -> dict[str, Any]:
        """The provenance entry of a kept item (see the README's Provenance section)."""
        groups = [source.evidence for source in sources]
        groups += [assessment.evidence for assessment in media.values()]
        evidence, positions = merged_evidence(groups)
        # Each page and media origin names its files by their places in ``evidence``.
        pages: list[dict[str, Any]] = []
        for n, source in enumerate(sources):
            page: dict[str, Any] = {
                "url": source.url,
                "stage": str(source.stage) if source.stage is not None else None,
                "evidence": positions[n],
            }
            if n:
                # From a request's meta: an earlier page the item may have been built on.
                page["carried"] = True
            pages.append(page)
        origins = [
            {"origin": origin, "evidence": places}
            for origin, places in zip(media, positions[len(sources) :], strict=True)
        ]
        token, user_agent = self.core.identity_of(sources[0].token if sources else None)
        reserved = measuring and any(hit.verdict.reserved for hit in hits)
        entry = provenance_entry(
            purpose=purposes[0],
            verdict="reserved" if reserved else "allowed",
            stage=str(Stage.ITEM),
            token=token,
            user_agent=user_agent,
            evidence=evidence,
        )
        if len(purposes) > 1:
            entry["purposes"] = [str(p) for p in purposes]
        if measuring:
            entry["mode"] = MEASURE
        entry["item_source"] = sources[0].url if sources else None
        entry["pages"] = pages
        entry["media"] = origins
        return entry

    def _source_urls(self, item: Any) -> Iterator[tuple[str, str]]:
        # A plain dict needs no adapter (and most items are plain dicts).
        get = item.get if type(item) is dict else _adapter(item).get
        for field in self.fields:
            value = get(field)
            if isinstance(value, str):
                yield field, value
            elif isinstance(value, list | tuple):
                for entry in value:
                    if isinstance(entry, str):
                        yield field, entry

    def _act(self, item: Any, hits: list[_Hit], measuring: bool) -> None:
        """Record every hit, then drop the item or strip its reserved URLs.

        An item is never kept without its records: when one cannot be written
        the item is dropped (and the crawl stops).
        """
        try:
            records = self._record(item, hits, measuring)
        except LedgerFailed as exc:
            raise DropItem(str(exc), log_level="ERROR") from exc
        if measuring:
            return
        if self.strip and all(hit.field is not None for hit in hits):
            self._strip(item, hits)
            return
        self._inc("optout/items_dropped")
        first = hits[0]
        raise ReservedItem(first.url, first.verdict, records[0], records)

    def _record(self, item: Any, hits: list[_Hit], measuring: bool) -> list[LedgerRecord]:
        core = self.core
        if measuring:
            for hit in hits:
                core.record(
                    stage=Stage.ITEM,
                    url=_quoted_url(hit.url),
                    verdict=hit.verdict,
                    assessment=hit.assessment,
                    **_details(hit),
                )
            return []
        return [
            core.exclude(
                stage=Stage.ITEM,
                url=_quoted_url(hit.url),
                verdict=hit.verdict,
                assessment=hit.assessment,
                item=item,
                **_details(hit),
            )
            for hit in hits
        ]

    def _strip(self, item: Any, hits: list[_Hit]) -> None:
        adapter = _adapter(item)
        by_field: dict[str, set[str]] = {}
        for hit in hits:
            if hit.field is not None and hit.raw is not None:
                by_field.setdefault(hit.field, set()).add(hit.raw)
        for field, reserved in by_field.items():
            value = adapter.get(field)
            if isinstance(value, str):
                adapter[field] = None
            elif isinstance(value, list | tuple):
                kept = [v for v in value if not (isinstance(v, str) and v in reserved)]
                adapter[field] = type(value)(kept) if isinstance(value, tuple) else kept
        self._inc("optout/items_stripped")
        for _ in hits:
            self._inc("optout/urls_stripped")


def _adapter(item: Any) -> ItemAdapter:
    """An ``ItemAdapter`` for *item*.

    itemadapter is imported on first use: with pydantic installed it loads
    pydantic too, some ten thousand objects that every full collection of the
    garbage collector would walk, and a crawl of plain dict items never needs it.
    """
    from itemadapter import ItemAdapter

    return ItemAdapter(item)


def _set_field(item: Any, entry: dict[str, Any]) -> bool:
    """Set *item*'s ``optout`` field to *entry*; ``False`` when the item has no such field."""
    if isinstance(item, dict):
        item[PROVENANCE_FIELD] = entry
        return True
    try:
        _adapter(item)[PROVENANCE_FIELD] = entry
    except (KeyError, TypeError):  # no such field, or not an item itemadapter knows
        return False
    return True


def item_key(item: Any) -> str:
    """The key of *item*'s line in the provenance side file.

    Its ``url`` field when that is a non-empty string; else ``sha256:`` and the
    SHA-256 of its fields as JSON (keys sorted, compact, UTF-8, values JSON
    cannot hold as their ``str()``), taken when the item reaches this pipeline,
    before later pipelines (the Files pipeline's ``files``) add to it. An object
    itemadapter does not know is hashed by its ``repr()``.
    """
    from itemadapter import ItemAdapter

    if not ItemAdapter.is_item(item):
        return "sha256:" + hashlib.sha256(repr(item).encode("utf-8", "surrogatepass")).hexdigest()
    adapter = ItemAdapter(item)
    url = adapter.get("url")
    if isinstance(url, str) and url.strip():
        return url
    content = json.dumps(
        adapter.asdict(), sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
    )
    return "sha256:" + hashlib.sha256(content.encode("utf-8", "surrogatepass")).hexdigest()


def _type_name(item: Any) -> str:
    kind = type(item)
    return f"{kind.__module__}.{kind.__qualname__}"


def _first(findings: list[Finding], purposes: tuple[Purpose, ...]) -> Verdict:
    """The verdict for the first of *purposes* that *findings* reserve, else for the first."""
    verdicts = [decide(findings, p) for p in purposes]
    return next((v for v in verdicts if v.reserved), verdicts[0])


def _resolve(raw: str, page: str | None) -> str | None:
    """*raw* as an absolute http(s) or ``data:`` URL, or ``None`` when it is neither.

    Whitespace around it is dropped, the scheme may be in any case, and a
    relative or protocol-relative URL is resolved against *page*.
    """
    url = raw.strip()
    if not url:
        return None
    scheme, colon, rest = url.partition(":")
    if colon and scheme.lower() in ("http", "https", "data"):
        return f"{scheme.lower()}:{rest}"
    if page is None or (colon and "/" not in scheme and scheme.isalpha()):
        return None  # another scheme (mailto:, ftp:...), or nothing to resolve against
    url = urljoin(page, url)
    return url if url.startswith(_WEB) else None


def _quoted_url(url: str) -> str:
    """*url* as a ledger line quotes it: a long ``data:`` URI is cut."""
    return clip(url, MAX_DATA_URI_QUOTE) if url.startswith("data:") else url


def _details(hit: _Hit) -> RecordDetails:
    details: RecordDetails = {"item_source": hit.page}
    if hit.field is not None:
        details["item_field"] = hit.field
    if hit.url.startswith("data:") and hit.page is not None:
        # A data: URI has no origin of its own: it is the page's content.
        details["origin"] = origin_of(hit.page)
        details["domain"] = registrable_domain(hit.page)
        details["data_length"] = len(hit.url)
    return details
