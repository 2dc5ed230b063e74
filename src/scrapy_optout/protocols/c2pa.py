"""C2PA / CAWG "training and data mining" assertions embedded in media files.

A C2PA manifest store (C2PA specification, "Embedding manifests into
assets") is a JUMBF superbox (ISO/IEC 19566-5) embedded in the asset:

========== ==================================================================
format     where the store is
========== ==================================================================
JPEG       APP11 segments (JPEG XT, ISO/IEC 18477-3): common identifier
           ``JP``, a box instance number and a packet sequence number;
           continuation packets repeat the box header, which is dropped
PNG        ``caBX`` chunk
WebP       ``C2PA`` chunk of the RIFF form
TIFF       tag 52545 (0xCD41)
MP4, MOV,  top-level ``uuid`` box D8FEC3D6-1B0E-483C-9297-5828877EC481
HEIF       (version and flags, the purpose ``manifest``, an offset, the store)
sidecar    a ``.c2pa`` file is the store itself
other      a bounded scan for the store's description box (PDF and others
           that keep it uncompressed)
========== ==================================================================

Inside the store, each manifest (``c2ma``, or ``c2um`` for an update) holds an
assertion store (``c2as``) of labelled assertions, each a JUMBF superbox with
a CBOR (or JSON) content box. The reader walks exactly that structure with a
bounded box budget and decodes the assertions labelled
``cawg.training-mining`` (CAWG Training and Data Mining Assertion 1.1) and
the older ``c2pa.training-mining`` (C2PA 1.x), with or without a version
(``.v2``) or instance (``__1``) suffix.

The assertion is a map ``entries`` of use categories, each
``{"use": "allowed" | "notAllowed" | "constrained", "constraint_info": ...}``;
an earlier CDDL left the ``entries`` level out and the prose spells
``constraints_info``: both shapes and both spellings are read.
``constrained`` counts as ``notAllowed`` (CAWG: without further information
the use is not allowed). Entry keys, ``cawg.`` or ``c2pa.`` prefixed:

========================= ===================== ================================
entry                     use                   purposes
========================= ===================== ================================
``data_mining``           text and data mining  tdm, train, input
``ai_inference``          input to a model      input
``ai_generative_training`` generative training  train
``ai_training``           other model training  train
========================= ===================== ================================

(data mining covers training and inference by the DSM Directive's
definition; specs digest, other-signals-and-eu-law.md §6.) Other keys are
recorded as ``unknown`` and bear on no purpose.

Signatures are **not** verified: every finding says ``validation: not
performed``. An unverifiable manifest can still carry its author's
reservation, so it is read; a reader that cannot tell a tampered manifest from
a genuine one must never let one *allow* what another signal reserved, and
under "any reservation wins" it cannot. Assertions of every manifest in the
store count, not only the active (last) one: a reservation made on an
ingredient travels with what was made from it, and the finding says which
manifest it came from. An assertion whose CBOR is broken is read as text,
erring toward the reservation.
"""

from __future__ import annotations

import json
import re
import struct
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from scrapy_optout.protocols import containers
from scrapy_optout.protocols.cbor import CborError, loads
from scrapy_optout.protocols.containers import Container
from scrapy_optout.verdict import Finding, Purpose, Signal, Stance, Where, clip

__all__ = ["ENTRY_PURPOSES", "Assertion", "c2pa_findings", "training_assertions"]

#: What each entry of the assertion restricts, by its name without prefix.
ENTRY_PURPOSES: Mapping[str, frozenset[Purpose]] = {
    "data_mining": frozenset({Purpose.TDM, Purpose.TRAIN, Purpose.INPUT}),
    "ai_inference": frozenset({Purpose.INPUT}),
    "ai_generative_training": frozenset({Purpose.TRAIN}),
    "ai_training": frozenset({Purpose.TRAIN}),
}

_STANCES = {"notallowed": Stance.RESERVE, "constrained": Stance.RESERVE, "allowed": Stance.ALLOW}

#: Bytes of one manifest store read, at most (stores with thumbnails run to a
#: few hundred KiB).
MAX_STORE = 16 * 1024 * 1024
_MAX_ASSERTION = 1024 * 1024  # bytes of one assertion's content decoded
_MAX_BOXES = 4096  # JUMBF boxes of one store visited
_MAX_STORES = 8  # stores of one body read
_MAX_APP11 = 4096  # APP11 packets kept
_SCAN_HEAD = 16 * 1024 * 1024
_SCAN_TAIL = 1024 * 1024

_UUID_TAIL = bytes.fromhex("00110010800000AA00389B71")  # every C2PA JUMBF type UUID ends so
_STORE_SIGNATURE = b"jumd" + b"c2pa" + _UUID_TAIL
_BMFF_UUID = bytes.fromhex("D8FEC3D61B0E483C92975828877EC481")
_TIFF_TAG = 0xCD41
_LABEL = re.compile(r"(?:cawg|c2pa)\.training-mining(?:\.v\d+)?(?:__\d+)?")
_USES = re.compile(rb"notAllowed|constrained", re.IGNORECASE)
_ENTRY_NAMES = re.compile(
    rb"(?:cawg|c2pa)\.(data_mining|ai_inference|ai_generative_training|ai_training)"
)


@dataclass(frozen=True, slots=True)
class Assertion:
    """One training-and-mining assertion as found in a manifest store.

    ``data`` is the decoded content, or ``None`` when it did not decode (then
    ``problem`` says why and ``raw`` holds the bytes). ``active`` is true for
    the store's last manifest, the one that describes the asset itself.
    """

    label: str
    manifest: str
    active: bool
    where: str
    data: Any
    raw: bytes = b""
    problem: str = ""


def c2pa_findings(body: bytes, *, source: str, content_type: str | None = None) -> list[Finding]:
    """Findings for the training-and-mining assertions embedded in *body*.

    One finding per entry of each assertion (signal ``c2pa``, where
    ``meta``); none when the asset carries no manifest or no such assertion
    (the signal is absent, not negated). *source* is the URL of the asset;
    *content_type* is a hint only. Bounded and never raises on content.
    """
    if not isinstance(source, str):
        raise TypeError(f"source must be a str, not {type(source).__name__}")
    findings: list[Finding] = []
    for assertion in training_assertions(body, content_type):
        findings.extend(_assertion_findings(assertion, source))
    return findings


def training_assertions(body: bytes, content_type: str | None = None) -> list[Assertion]:
    """The training-and-mining assertions of every manifest store in *body*."""
    if not isinstance(body, bytes):
        raise TypeError(f"body must be bytes, not {type(body).__name__}")
    found: list[Assertion] = []
    try:
        stores = _stores(body, content_type)
    except (struct.error, ValueError):
        stores = []
    for data, where in stores[:_MAX_STORES]:
        try:
            found.extend(_store_assertions(data[:MAX_STORE], where))
        except (struct.error, ValueError):
            continue
    return found


# -- where the store is ----------------------------------------------------------------------------


def _stores(body: bytes, content_type: str | None) -> list[tuple[bytes, str]]:
    kind = containers.container_of(body, content_type)
    if kind is Container.JPEG:
        return _jpeg_stores(body)
    if kind is Container.PNG:
        walk = containers.png_chunks(body)
        return [(body[p.start : p.end], "PNG caBX chunk") for p in walk.parts if p.kind == b"caBX"]
    if kind is Container.RIFF:
        walk = containers.riff_chunks(body)
        return [(body[p.start : p.end], "WebP C2PA chunk") for p in walk.parts if p.kind == b"C2PA"]
    if kind is Container.TIFF:
        walk = containers.tiff_entries(body, _TIFF_TAG)
        return [(body[p.start : p.end], "TIFF tag 52545") for p in walk.parts]
    if kind is Container.BMFF:
        return _bmff_stores(body)
    if body[4:8] == b"jumb":
        return [(body, "manifest store file")]
    return _scanned_stores(body)


def _jpeg_stores(body: bytes) -> list[tuple[bytes, str]]:
    packets: dict[int, dict[int, bytes]] = {}
    kept = 0
    for part in containers.jpeg_segments(body).parts:
        if part.kind != b"\xeb" or part.end - part.start < 16:
            continue
        if body[part.start : part.start + 2] != b"JP" or kept >= _MAX_APP11:
            continue
        instance, sequence = struct.unpack_from(">HI", body, part.start + 2)
        payload = body[part.start + 8 : part.end]
        packets.setdefault(instance, {}).setdefault(sequence, payload)
        kept += 1
    stores: list[tuple[bytes, str]] = []
    for instance in sorted(packets)[:_MAX_STORES]:
        pieces = packets[instance]
        chunks: list[bytes] = []
        size = 0
        for number, sequence in enumerate(sorted(pieces)):
            piece = pieces[sequence]
            if number:
                # A continuation packet repeats the box header (LBox, TBox and,
                # for LBox == 1, XLBox).
                piece = piece[16:] if piece[:4] == b"\x00\x00\x00\x01" else piece[8:]
            chunks.append(piece)
            size += len(piece)
            if size > MAX_STORE:
                break
        data = b"".join(chunks)
        if data[4:8] == b"jumb":
            stores.append((data, "JPEG APP11 segments"))
    return stores


def _bmff_stores(body: bytes) -> list[tuple[bytes, str]]:
    stores: list[tuple[bytes, str]] = []
    for part in containers.bmff_boxes(body).parts:
        if part.kind != b"uuid" + _BMFF_UUID:
            continue
        # Version and flags, then the purpose as a NUL-terminated string.
        end = body.find(b"\x00", part.start + 4, min(part.end, part.start + 68))
        if end < 0:
            continue
        purpose = body[part.start + 4 : end]
        start = end + 1 + (8 if purpose == b"manifest" else 0)
        if purpose in (b"manifest", b"original", b"update"):
            stores.append((body[start : part.end], "MP4 uuid box"))
    return stores


def _scanned_stores(body: bytes) -> list[tuple[bytes, str]]:
    """Stores found by their description box in the first and last bytes."""
    stores: list[tuple[bytes, str]] = []
    windows = [(0, min(len(body), _SCAN_HEAD))]
    if len(body) > _SCAN_HEAD:
        windows.append((max(_SCAN_HEAD, len(body) - _SCAN_TAIL), len(body)))
    for start, end in windows:
        position = start
        while len(stores) < _MAX_STORES:
            hit = body.find(_STORE_SIGNATURE, position, end)
            if hit < 0:
                break
            position = hit + len(_STORE_SIGNATURE)
            box = hit - 12  # the superbox header, then the description box's length
            if box >= 0 and body[box + 4 : box + 8] == b"jumb":
                (size,) = struct.unpack_from(">I", body, box)
                stores.append((body[box : box + max(size, 8)], "scan"))
    return stores


# -- inside the store ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Box:
    kind: bytes
    start: int
    end: int


class _Walker:
    """Walks JUMBF boxes of one store with a shared budget."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.budget = _MAX_BOXES

    def children(self, box: _Box) -> list[_Box]:
        if self.budget <= 0:
            return []
        parts = containers.bmff_boxes(self.data, box.start, box.end, limit=self.budget).parts
        self.budget -= len(parts)
        return [_Box(part.kind[:4], part.start, part.end) for part in parts]

    def describe(self, box: _Box) -> tuple[bytes, str, list[_Box]]:
        """A superbox's type (first 4 bytes of its UUID), label and content boxes."""
        children = self.children(box)
        if not children or children[0].kind != b"jumd":
            return b"", "", children
        head = children[0]
        data = self.data
        if head.end - head.start < 17 or data[head.start + 4 : head.start + 16] != _UUID_TAIL:
            return data[head.start : head.start + 4], "", children[1:]
        label = ""
        if data[head.start + 16] & 0x02:
            stop = data.find(b"\x00", head.start + 17, head.end)
            label = data[head.start + 17 : stop if stop >= 0 else head.end].decode(
                "utf-8", "replace"
            )
        return data[head.start : head.start + 4], label, children[1:]


def _store_assertions(data: bytes, where: str) -> Iterator[Assertion]:
    walker = _Walker(data)
    top = walker.children(_Box(b"", 0, len(data)))
    if not top or top[0].kind != b"jumb":
        return
    kind, _, manifests = walker.describe(top[0])
    if kind != b"c2pa":
        return
    manifests = [box for box in manifests if box.kind == b"jumb"]
    described = [(walker.describe(box), box) for box in manifests]
    described = [item for item in described if item[0][0] in (b"c2ma", b"c2um")]
    for number, ((_, manifest_label, parts), _) in enumerate(described):
        active = number == len(described) - 1
        for part in parts:
            if part.kind != b"jumb":
                continue
            kind, _, assertions = walker.describe(part)
            if kind != b"c2as":
                continue
            for box in assertions:
                if box.kind != b"jumb":
                    continue
                _, label, content = walker.describe(box)
                if _LABEL.fullmatch(label):
                    yield _decode(data, label, manifest_label, active, where, content)


def _decode(
    data: bytes, label: str, manifest: str, active: bool, where: str, content: list[_Box]
) -> Assertion:
    for box in content:
        raw = data[box.start : min(box.end, box.start + _MAX_ASSERTION)]
        if box.end - box.start > _MAX_ASSERTION:
            return Assertion(label, manifest, active, where, None, raw, "content too large")
        try:
            if box.kind == b"cbor":
                return Assertion(label, manifest, active, where, loads(raw))
            if box.kind == b"json":
                return Assertion(label, manifest, active, where, json.loads(raw))
        except (CborError, ValueError, RecursionError) as exc:
            return Assertion(label, manifest, active, where, None, raw, f"undecodable: {exc}")
    return Assertion(label, manifest, active, where, None, b"", "no CBOR or JSON content box")


# -- findings --------------------------------------------------------------------------------------


def _assertion_findings(assertion: Assertion, source: str) -> Iterator[Finding]:
    detail = f"C2PA manifest {assertion.manifest or '(unlabelled)'} in {assertion.where}"
    if not assertion.active:
        detail += ", not the active manifest (an ingredient's or an earlier one)"
    detail += "; validation: not performed"
    data = assertion.data
    if data is None:
        yield from _broken_findings(assertion, source, detail)
        return
    entries = data.get("entries") if isinstance(data, dict) else None
    if not isinstance(entries, dict):
        entries = data if isinstance(data, dict) else {}
    read = 0
    for key, entry in list(entries.items())[:64]:
        if not isinstance(key, str) or not isinstance(entry, dict):
            continue
        read += 1
        yield _entry_finding(assertion.label, key, entry, source, detail)
    if not read:
        yield Finding(
            Signal.C2PA,
            Where.META,
            Stance.UNKNOWN,
            frozenset(),
            clip(assertion.label),
            source,
            clip(f"{detail}; the assertion has no entries"),
        )


def _entry_finding(
    label: str, key: str, entry: dict[Any, Any], source: str, detail: str
) -> Finding:
    use = entry.get("use")
    written = use if isinstance(use, str) else repr(use)
    stance = _STANCES.get(written.lower(), Stance.UNKNOWN)
    prefix, _, name = key.partition(".")
    purposes = ENTRY_PURPOSES.get(name, frozenset()) if prefix in ("cawg", "c2pa") else frozenset()
    if not purposes:
        stance = Stance.UNKNOWN
        detail += "; an entry neither CAWG nor C2PA defines"
    elif stance is Stance.UNKNOWN:
        detail += f"; use {clip(written, 40)!r} is not allowed, notAllowed or constrained"
    info = entry.get("constraint_info", entry.get("constraints_info"))
    if written.lower() == "constrained":
        detail += "; constrained counts as notAllowed without the licence"
    if info is not None:
        detail += f"; constraint_info: {clip(str(info), 200)}"
    rule = f"{label}: {key}={written}"
    return Finding(Signal.C2PA, Where.META, stance, purposes, clip(rule), source, clip(detail))


def _broken_findings(assertion: Assertion, source: str, detail: str) -> Iterator[Finding]:
    detail += f"; the assertion is broken ({assertion.problem})"
    named = {m.group(1).decode() for m in _ENTRY_NAMES.finditer(assertion.raw[:_MAX_ASSERTION])}
    purposes: frozenset[Purpose] = frozenset().union(
        *(ENTRY_PURPOSES[name] for name in named or ENTRY_PURPOSES)
    )
    if _USES.search(assertion.raw) is not None:
        # Read leniently: a "notAllowed" or "constrained" in the bytes reserves
        # what the entries it names (or, naming none, every entry) cover.
        yield Finding(
            Signal.C2PA,
            Where.META,
            Stance.RESERVE,
            purposes,
            clip(assertion.label),
            source,
            clip(f"{detail}; read as text, it says notAllowed or constrained"),
        )
        return
    yield Finding(
        Signal.C2PA,
        Where.META,
        Stance.UNKNOWN,
        purposes,
        clip(assertion.label),
        source,
        clip(detail),
    )
