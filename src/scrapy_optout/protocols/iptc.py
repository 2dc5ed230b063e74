"""IPTC / PLUS "Data Mining": the ``plus:DataMining`` XMP property in media files.

The PLUS Coalition's ``DataMining`` property (namespace
``http://ns.useplus.org/ldf/xmp/1.0/``), part of the IPTC Photo Metadata
Standard since 2023.1 and of the Video Metadata Hub since 1.5, says whether
the image or video may be used for data mining and AI/ML training. Its value
is a term of the PLUS vocabulary, ``http://ns.useplus.org/ldf/vocab/<KEY>``;
the companion ``plus:OtherConstraints`` holds free text that the
``...-SEECONSTRAINT`` value points at.

The packet is found by :mod:`scrapy_optout.protocols.xmp` (JPEG, PNG, WebP,
GIF, TIFF, MP4/MOV, PDF, else a bounded scan). Values are accepted in every
form seen in the wild: the full URI, the bare key (``DMI-PROHIBITED``), a
prefixed key (the legacy ``Iptc4xmpExt:DMI-...`` spelling), a display string
("Prohibited for AI/ML training"); as an attribute, as element text, as
``rdf:resource``, or inside ``rdf:Alt`` / ``rdf:Bag`` / ``rdf:Seq`` items. The
property is read under the PLUS namespace, the ``Iptc4xmpExt`` one, or any
other that names it ``DataMining``.

================================================ ========= =============================
value                                            stance    purposes
================================================ ========= =============================
``DMI-UNSPECIFIED``                              unknown   train, tdm, input
``DMI-ALLOWED``                                  allow     train, tdm, input
``DMI-PROHIBITED-AIMLTRAINING``                  reserve   train, tdm
``DMI-PROHIBITED-GENAIMLTRAINING``               reserve   train, tdm
``DMI-PROHIBITED-EXCEPTSEARCHENGINEINDEXING``    reserve   train, tdm, input (not search)
``DMI-PROHIBITED``                               reserve   train, tdm, input
``DMI-PROHIBITED-SEECONSTRAINT``                 reserve   train, tdm, input
``DMI-PROHIBITED-SEEEMBEDDEDRIGHTSEXPR``         reserve   train, tdm, input
``DMI-PROHIBITED-SEELINKEDRIGHTSEXPR``           reserve   train, tdm, input
any other ``DMI-PROHIBITED-...``                 reserve   train, tdm
================================================ ========= =============================

This is the mapping of the specs digest (new-signals-2026.md §3): every
prohibition reserves ``train`` and ``tdm``, ``DMI-PROHIBITED`` every AI
purpose; search indexing is reserved by none of them (it is not an AI
purpose, and ``EXCEPTSEARCHENGINEINDEXING`` leaves it explicitly). The
``SEE...`` values reserve and the finding quotes what they point at
(``plus:OtherConstraints``, the linked or embedded rights expression).
``plus:OtherConstraints`` is quoted whenever present.

A packet that is not well-formed XML (or that declares a DTD, refused so that
no entity is ever expanded) is read again by a tolerant text scan, erring
toward the reservation: a prohibition seen there reserves, and the finding
says the packet was broken. Metadata is often stripped by CDNs and
publishers: absence of the property means nothing.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from xml.etree.ElementTree import Element

from scrapy_optout.protocols.xmp import XmpPacket, parse_xmp, xmp_packets
from scrapy_optout.verdict import Finding, Purpose, Signal, Stance, Where, clip

__all__ = ["KEYS", "PLUS_NAMESPACE", "VOCABULARY", "iptc_findings", "key_of"]

PLUS_NAMESPACE = "http://ns.useplus.org/ldf/xmp/1.0/"
VOCABULARY = "http://ns.useplus.org/ldf/vocab/"
_IPTC_EXT_NAMESPACE = "http://iptc.org/std/Iptc4xmpExt/2008-02-29/"
_RDF = "{http://www.w3.org/1999/02/22-rdf-syntax-ns#}"

_AI = frozenset({Purpose.TRAIN, Purpose.TDM, Purpose.INPUT})
_TRAINING = frozenset({Purpose.TRAIN, Purpose.TDM})

#: The PLUS Data Mining vocabulary: each key's stance and the purposes it bears on.
KEYS: Mapping[str, tuple[Stance, frozenset[Purpose]]] = {
    "DMI-UNSPECIFIED": (Stance.UNKNOWN, _AI),
    "DMI-ALLOWED": (Stance.ALLOW, _AI),
    "DMI-PROHIBITED-AIMLTRAINING": (Stance.RESERVE, _TRAINING),
    "DMI-PROHIBITED-GENAIMLTRAINING": (Stance.RESERVE, _TRAINING),
    "DMI-PROHIBITED-EXCEPTSEARCHENGINEINDEXING": (Stance.RESERVE, _AI),
    "DMI-PROHIBITED": (Stance.RESERVE, _AI),
    "DMI-PROHIBITED-SEECONSTRAINT": (Stance.RESERVE, _AI),
    "DMI-PROHIBITED-SEEEMBEDDEDRIGHTSEXPR": (Stance.RESERVE, _AI),
    "DMI-PROHIBITED-SEELINKEDRIGHTSEXPR": (Stance.RESERVE, _AI),
}

_MAX_ELEMENTS = 50_000  # elements of one parsed packet visited
_MAX_VALUES = 32  # DataMining values read from one packet
_MAX_HITS = 64  # places a broken packet names DataMining, read
_WINDOW = 4096  # characters after such a place looked at

_MARK = re.compile(rb"[Dd]ata[Mm]ining")
_KEY = re.compile(r"DMI-[A-Z]{1,40}(?:-[A-Z]{1,40}){0,4}", re.IGNORECASE)
_TAG = re.compile(r"<[^<>]{0,4096}>")
_SPACE = re.compile(r"\s+")


def iptc_findings(body: bytes, *, source: str, content_type: str | None = None) -> list[Finding]:
    """Findings for the ``plus:DataMining`` values embedded in *body*.

    One finding per distinct value and packet (signal ``iptc``, where
    ``meta``), plus an ``unknown`` one for a property that names no readable
    value. *source* is the URL of the file; *content_type* is a hint only.
    Bounded and never raises on content.
    """
    if not isinstance(source, str):
        raise TypeError(f"source must be a str, not {type(source).__name__}")
    found: dict[tuple[str, str, str], Finding] = {}
    for packet in xmp_packets(body, content_type):
        if _MARK.search(packet.data) is None:
            continue
        for finding in _packet_findings(packet, source):
            found.setdefault((finding.rule, finding.detail, str(finding.stance)), finding)
    return list(found.values())


def key_of(value: str) -> str | None:
    """The vocabulary key a written value stands for, or ``None``.

    Accepts the URI, the bare or prefixed key (any case), and the display
    strings of the vocabulary and their close variants.
    """
    match = _KEY.search(value[:1024])
    if match is not None:
        return match.group().upper()
    text = _SPACE.sub(" ", value[:1024]).strip().lower()
    if not text:
        return None
    if "unspecified" in text:
        return "DMI-UNSPECIFIED"
    if "prohibited" in text or "not allowed" in text:
        if "except" in text and "search" in text:
            return "DMI-PROHIBITED-EXCEPTSEARCHENGINEINDEXING"
        if "constraint" in text:
            return "DMI-PROHIBITED-SEECONSTRAINT"
        if "embedded" in text:
            return "DMI-PROHIBITED-SEEEMBEDDEDRIGHTSEXPR"
        if "linked" in text:
            return "DMI-PROHIBITED-SEELINKEDRIGHTSEXPR"
        if "generative" in text or "genai" in text:
            return "DMI-PROHIBITED-GENAIMLTRAINING"
        if "training" in text or "ai/ml" in text:
            return "DMI-PROHIBITED-AIMLTRAINING"
        return "DMI-PROHIBITED"
    if text in ("allowed", "permitted", "data mining allowed"):
        return "DMI-ALLOWED"
    return None


# -- one packet ------------------------------------------------------------------------------------


def _packet_findings(packet: XmpPacket, source: str) -> Iterator[Finding]:
    root, problem = parse_xmp(packet.data)
    where = f"XMP in {packet.where}"
    if packet.problem:
        where += f" ({packet.problem})"
    if root is None:
        broken = f"{where}; the packet is broken ({problem}), read leniently"
        values = list(_scan_values(packet.data))
        if not values:
            yield _finding(None, "DataMining", source, f"{broken}; no value could be read")
        for name, value in values:
            yield _finding(key_of(value), f"{name} {value}", source, broken)
        return
    values, notes = _tree_values(root)
    for name, value in values:
        if not value:
            yield _finding(None, f"{name} (empty)", source, f"{where}; the property has no value")
            continue
        key = key_of(value)
        detail = where
        for label, text in notes:
            if label == "plus:OtherConstraints" or key == _POINTERS.get(label):
                detail += f"; {label}: {clip(text, 200)}"
        yield _finding(key, f"{name} {value}", source, detail)


_POINTERS = {
    "linked rights expression": "DMI-PROHIBITED-SEELINKEDRIGHTSEXPR",
    "embedded rights expression": "DMI-PROHIBITED-SEEEMBEDDEDRIGHTSEXPR",
}


def _finding(key: str | None, rule: str, source: str, detail: str) -> Finding:
    entry = KEYS.get(key) if key is not None else None
    if entry is not None:
        stance, purposes = entry
    elif key is None:
        stance, purposes = Stance.UNKNOWN, _AI
        detail += "; value not in the PLUS Data Mining vocabulary"
    elif key.startswith("DMI-PROHIBITED"):
        stance, purposes = Stance.RESERVE, _TRAINING
        detail += f"; {key} is not in the vocabulary, read as a prohibition of training"
    else:
        stance, purposes = Stance.UNKNOWN, _AI
        detail += f"; {key} is not in the vocabulary"
    return Finding(Signal.IPTC, Where.META, stance, purposes, clip(rule), source, clip(detail))


def _local(name: str) -> tuple[str, str]:
    """``(namespace, local name)`` of an ElementTree tag or attribute name."""
    if name.startswith("{"):
        namespace, _, local = name[1:].partition("}")
        return namespace, local
    return "", name.rpartition(":")[2]


def _prefix(namespace: str) -> str:
    if namespace == PLUS_NAMESPACE:
        return "plus:DataMining"
    if namespace == _IPTC_EXT_NAMESPACE:
        return "Iptc4xmpExt:DataMining"
    return f"{{{namespace}}}DataMining" if namespace else "DataMining"


_NOTES = {
    "OtherConstraints": "plus:OtherConstraints",
    "LinkedRightsExpr": "linked rights expression",
    "EncRightsExpr": "embedded rights expression",
}


def _tree_values(root: Element) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """The ``DataMining`` values of a parsed packet, and the texts they may point at."""
    values: list[tuple[str, str]] = []
    notes: list[tuple[str, str]] = []
    for count, element in enumerate(root.iter()):
        if count >= _MAX_ELEMENTS or len(values) >= _MAX_VALUES:
            break
        namespace, local = _local(element.tag) if isinstance(element.tag, str) else ("", "")
        for attribute, text in element.attrib.items():
            attr_namespace, attr_local = _local(attribute)
            if attr_local == "DataMining":
                values.append((_prefix(attr_namespace), text.strip()))
            elif attr_local in _NOTES and text.strip():
                notes.append((_NOTES[attr_local], text.strip()))
        if local == "DataMining":
            found = list(_element_values(element))
            values.extend((_prefix(namespace), value) for value in found or [""])
        elif local in _NOTES:
            text = " | ".join(_element_values(element))
            if text:
                notes.append((_NOTES[local], text))
    return values, notes


def _element_values(element: Element) -> Iterator[str]:
    """The values an RDF property element holds, in every form XMP allows."""
    resource = element.get(_RDF + "resource")
    if resource:
        yield resource.strip()
    if element.text and element.text.strip():
        yield element.text.strip()
    for count, inner in enumerate(element.iter()):
        if count > 256:
            return
        if inner is element:
            continue
        resource = inner.get(_RDF + "resource")
        if resource:
            yield resource.strip()
        if inner.tag in (_RDF + "li", _RDF + "value") and inner.text and inner.text.strip():
            yield inner.text.strip()


# -- a broken packet -------------------------------------------------------------------------------


def _scan_values(data: bytes) -> Iterator[tuple[str, str]]:
    """``DataMining`` values read from the text of a packet that is not XML.

    Each place the name appears as an attribute (``...DataMining="..."``) or an
    element (``<...DataMining>...</...DataMining>``) is read; the values are
    the vocabulary keys found there, else the text with the tags removed.
    """
    text = data.decode("utf-8", "replace")
    position = 0
    for _ in range(_MAX_HITS):
        hit = text.find("DataMining", position)
        if hit < 0:
            return
        position = hit + len("DataMining")
        opening = text.rfind("<", max(0, hit - 64), hit)
        if opening >= 0 and text.startswith("</", opening):
            continue
        name_start = hit
        while name_start > 0 and hit - name_start < 64 and text[name_start - 1] not in " \t\r\n<":
            name_start -= 1
        name = text[name_start:position]
        after = text[position : position + _WINDOW]
        stripped = after.lstrip()
        if stripped.startswith("="):
            value = stripped[1:].lstrip()
            if value[:1] in ("'", '"'):
                close = value.find(value[0], 1)
                value = value[1 : close if close >= 0 else 1024]
            yield name, value[:1024]
            continue
        close = after.find("DataMining>")
        window = after[: close if close >= 0 else 1024]
        if close >= 0 and window.rfind("</") >= 0:
            window = window[: window.rfind("</")]  # the closing tag's "</prefix:"
        keys = [match.group() for match in _KEY.finditer(window)]
        if keys:
            yield from ((name, key) for key in dict.fromkeys(keys))
            continue
        words = _SPACE.sub(" ", _TAG.sub(" ", window.partition(">")[2])).strip()
        yield name, words[:300]
