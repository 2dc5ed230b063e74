"""Reading the robots.txt corpora kept in ``fixtures/corpora`` and URLs to ask about."""

from __future__ import annotations

import base64
import gzip
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from benchmarks.common import CORPORA, ROBOTS_2019

FIREWALL_DIR = CORPORA / "great-gpt-firewall-2024-2026"


@dataclass(frozen=True)
class RobotsFile:
    corpus: str
    domain: str
    body: bytes


def _records(path: Path) -> Iterator[dict[str, object]]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as handle:  # type: ignore[operator]
        for line in handle:
            if line.strip():
                yield json.loads(line)


def _body(record: dict[str, object]) -> bytes | None:
    if record.get("body") is not None:
        return str(record["body"]).encode("utf-8")
    if record.get("body_base64") is not None:
        return base64.b64decode(str(record["body_base64"]))
    return None


def robots_2019() -> list[RobotsFile]:
    """The 4,231 files of the 2019 corpus (Protego's test data)."""
    out = []
    for record in _records(ROBOTS_2019):
        body = _body(record)
        if body is not None:
            out.append(RobotsFile("protego-robotstxt-2019", str(record["domain"]), body))
    return out


def firewall_sample() -> list[RobotsFile]:
    """The great-gpt-firewall 2025-2026 sample, if the repository has it (else empty)."""
    if not FIREWALL_DIR.is_dir():
        return []
    paths = sorted(FIREWALL_DIR.glob("robotstxt*.jsonl.gz")) + sorted(
        FIREWALL_DIR.glob("robotstxt*.jsonl")
    )
    out = []
    for path in paths[:1]:
        for record in _records(path):
            body = _body(record)
            if body is not None:
                domain = f"{record.get('domain')}@{record.get('month') or record.get('date')}"
                out.append(RobotsFile("great-gpt-firewall-2024-2026", domain, body))
    return out


_PATH_LINE = re.compile(rb"^\s*(?:dis)?allow\s*:\s*(/\S*)", re.IGNORECASE | re.MULTILINE)
COMMON_PATHS = (
    "/",
    "/index.html",
    "/about/",
    "/articles/2024/05/some-story.html",
    "/search?q=robots&page=2",
    "/wp-admin/admin-ajax.php",
    "/images/photo.jpg",
    "/private/report.pdf",
    "/api/v1/items?id=42",
    "/robots.txt",
)


def paths_for(body: bytes, limit: int = 20) -> list[str]:
    """URL paths worth asking about for one file: its own rule paths, then common ones.

    A rule path is made concrete (``*`` becomes ``x``, a final ``$`` is
    dropped) and asked about as it is and one level deeper, so that both
    matching and non-matching URLs are among them.
    """
    found: list[str] = []
    for match in _PATH_LINE.finditer(body[:512_000]):
        path = match.group(1).decode("utf-8", "replace").rstrip("$").replace("*", "x")
        for candidate in (path, path.rstrip("/") + "/child/page.html"):
            if candidate not in found:
                found.append(candidate)
        if len(found) >= limit // 2:
            break
    for path in COMMON_PATHS:
        if len(found) >= limit:
            break
        if path not in found:
            found.append(path)
    return found
