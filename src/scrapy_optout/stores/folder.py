"""Policy snapshots kept in a folder, to be shared by runs, shards and workers.

A dataset filter decides millions of records against the policy files of
their origins; fetching those files once and keeping them lets a second shard,
a re-run or a datatrove worker on another machine decide offline, as of the
same snapshot. The layout is plain files, so a folder can be copied, archived
next to a dataset or inspected by hand:

``origins/<key>.json``
    one snapshot per origin (``key`` is the sha256 of the origin's text, so a
    name never comes from anything a site sent): ``{"v", "origin", "files"}``,
    each file's ``kind``, ``url``, ``status``, ``sha256``, ``fetched_at``,
    ``error``, ``final_url``, ``content_type`` and ``truncated`` (the fields of
    :class:`~scrapy_optout.policy.snapshot.PolicyFile`).
``bodies/<sha256>``
    each policy body once, named by its hash.

Files are written under a temporary name and renamed into place, so a reader
(or a run killed mid-write) never sees half a snapshot. A snapshot whose JSON
is broken, or whose body is missing or does not have its hash, reads as absent.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
from datetime import datetime
from pathlib import Path
from typing import Any

from scrapy_optout.policy.snapshot import OriginPolicy, PolicyFile
from scrapy_optout.policy.urls import AI_TXT, ROBOTS_TXT, TDMREP_JSON

__all__ = ["SnapshotFolder"]

SNAPSHOT_VERSION = 1


def _key(origin: str) -> str:
    return hashlib.sha256(origin.encode("utf-8", "surrogatepass")).hexdigest()


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        with tmp.open("xb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


class SnapshotFolder:
    """A folder of per-origin policy snapshots (see the module docstring).

    :meth:`get` reads a snapshot back as an :class:`OriginPolicy`, parsed by
    the same protocols that parsed it when fetched; :meth:`put` stores one.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        if not isinstance(path, str | os.PathLike):
            raise TypeError(f"path must be a str or path, not {type(path).__name__}")
        self.path = Path(path)
        self.origins_dir = self.path / "origins"
        self.bodies_dir = self.path / "bodies"

    def create(self) -> None:
        """Create the folder (and its two sub-folders) if need be."""
        self.origins_dir.mkdir(parents=True, exist_ok=True)
        self.bodies_dir.mkdir(parents=True, exist_ok=True)

    def __contains__(self, origin: object) -> bool:
        return isinstance(origin, str) and (self.origins_dir / f"{_key(origin)}.json").is_file()

    def origins(self) -> list[str]:
        """The origins held, in no particular order."""
        found: list[str] = []
        if not self.origins_dir.is_dir():
            return found
        for entry in self.origins_dir.glob("*.json"):
            data = self._read_json(entry)
            if data is not None and isinstance(data.get("origin"), str):
                found.append(data["origin"])
        return found

    def put(self, policy: OriginPolicy) -> None:
        """Store *policy*: its bodies first, then the snapshot that names them."""
        self.create()
        files = []
        for policy_file in policy.files:
            body_path = self.bodies_dir / policy_file.sha256
            if not body_path.is_file():
                _atomic_write(body_path, policy_file.body)
            files.append(policy_file.state())
        snapshot = {"v": SNAPSHOT_VERSION, "origin": policy.origin, "files": files}
        data = json.dumps(snapshot, ensure_ascii=False, indent=1).encode("utf-8")
        _atomic_write(self.origins_dir / f"{_key(policy.origin)}.json", data)

    def get(self, origin: str) -> OriginPolicy | None:
        """The snapshot of *origin*, or ``None`` when absent or unreadable."""
        if not isinstance(origin, str):
            raise TypeError(f"origin must be a str, not {type(origin).__name__}")
        data = self._read_json(self.origins_dir / f"{_key(origin)}.json")
        if data is None or data.get("origin") != origin or not isinstance(data.get("files"), list):
            return None
        by_kind: dict[str, PolicyFile] = {}
        for entry in data["files"]:
            policy_file = self._policy_file(entry) if isinstance(entry, dict) else None
            if policy_file is None:
                return None
            by_kind[policy_file.kind] = policy_file
        robots_file = by_kind.get(ROBOTS_TXT)
        if robots_file is None:
            return None
        return OriginPolicy(origin, robots_file, by_kind.get(AI_TXT), by_kind.get(TDMREP_JSON))

    def body(self, digest: str) -> bytes | None:
        """The body stored under *digest*, if it is there and has that hash."""
        if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
            return None
        try:
            body = (self.bodies_dir / digest).read_bytes()
        except OSError:
            return None
        return body if hashlib.sha256(body).hexdigest() == digest else None

    def _policy_file(self, entry: dict[str, Any]) -> PolicyFile | None:
        kind, url, digest = entry.get("kind"), entry.get("url"), entry.get("sha256")
        if kind not in (ROBOTS_TXT, AI_TXT, TDMREP_JSON) or not isinstance(url, str):
            return None
        body = self.body(digest) if isinstance(digest, str) else None
        if body is None:
            return None
        status = entry.get("status")
        try:
            fetched_at = datetime.fromisoformat(str(entry.get("fetched_at")).replace("Z", "+00:00"))
        except ValueError:
            return None
        return PolicyFile(
            kind,
            url,
            status if isinstance(status, int) and not isinstance(status, bool) else None,
            body,
            fetched_at=fetched_at,
            error=_text(entry.get("error")),
            final_url=_text(entry.get("final_url")),
            content_type=_text(entry.get("content_type")),
            truncated=entry.get("truncated") is True,
            headers=PolicyFile.kept_headers(entry),
        )

    @staticmethod
    def _read_json(path: Path) -> dict[str, Any] | None:
        try:
            data = json.loads(path.read_bytes())
        except (OSError, ValueError, RecursionError):
            return None
        return data if isinstance(data, dict) else None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None
