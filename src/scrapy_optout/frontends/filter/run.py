"""``optout filter``: remove opted-out records from existing datasets.

For each input, batch by batch: the origins of the batch's URLs get their
policy snapshots (:mod:`.policies`), each record is decided
(:func:`.decide.decide_record`), the kept records are written as one part
with their provenance, every removal becomes a ledger line
(``stage: "dataset"``) and the policy bodies named go to the evidence store;
then one line is appended to the input's checkpoint. The layout of ``OUT``:

``kept/<input name>``      the kept records, in the input's format
``ledger.jsonl``           one line per removed record (the crawl ledger's schema)
``ledger.evidence/``       every policy body a ledger line or a provenance names
``policies/``              the policy snapshots used (a :class:`SnapshotFolder`)
``summary.json``           the counts (read, kept, removed, unknown, by signal, by domain)
``checkpoints/``           progress per input, so that a re-run resumes

A re-run into the same ``OUT`` resumes where the last one stopped: finished
inputs are skipped, a half-done one continues after its last checkpointed
batch, and no ledger line or kept record is written twice (a batch redone
rewrites its own part; ledger lines already present are not written again).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sys
import time
from collections import Counter, OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from scrapy_optout.exceptions import ConfigurationError
from scrapy_optout.frontends.filter.decide import (
    DATASET_STAGE,
    Decision,
    Places,
    decide_record,
    ledger_record,
    provenance,
)
from scrapy_optout.frontends.filter.formats import (
    COMPANION,
    FORMATS,
    PASSTHROUGH,
    REQUEST,
    Batch,
    InputBroken,
    Malformed,
    Record,
    detect_format,
)
from scrapy_optout.frontends.filter.policies import LIVE, PolicySource
from scrapy_optout.policy.evaluate import Evaluator
from scrapy_optout.policy.registries import Registries
from scrapy_optout.policy.snapshot import isoformat, utcnow
from scrapy_optout.policy.urls import origin_of
from scrapy_optout.stores.ledger import Ledger, read_ledger
from scrapy_optout.stores.registries import REGISTRY_KIND, REGISTRY_LIMITS, load_registries
from scrapy_optout.verdict import Purpose

__all__ = ["DATASET_STAGE", "filter_dataset"]

logger = logging.getLogger(__name__)

#: Records per batch, the unit of a checkpoint.
BATCH_SIZE = 5000
#: Record ids remembered per input, for WARC records that refer to earlier ones.
_REMEMBERED = 100_000
#: Newly reserved records named in ``summary.json`` (the ledger names them all).
_CHANGED_SHOWN = 1000


class Counts:
    """The figures of one input (or of a whole run)."""

    NUMBERS = ("read", "kept", "removed", "unknown", "origin_only", "malformed", "newly_reserved")

    def __init__(self) -> None:
        self.numbers: Counter[str] = Counter()
        self.by_signal: Counter[str] = Counter()
        self.by_domain: dict[str, Counter[str]] = {}
        self.changed_by_signal: Counter[str] = Counter()
        self.changed: list[dict[str, Any]] = []
        self.companions: Counter[str] = Counter()

    def domain(self, domain: str, outcome: str) -> None:
        counter = self.by_domain.get(domain)
        if counter is None:
            counter = self.by_domain[domain] = Counter()
        counter[outcome] += 1

    def to_dict(self) -> dict[str, Any]:
        return {
            "numbers": dict(self.numbers),
            "by_signal": dict(self.by_signal),
            "by_domain": {d: dict(c) for d, c in self.by_domain.items()},
            "changed_by_signal": dict(self.changed_by_signal),
            "changed": self.changed,
            "companions": dict(self.companions),
        }

    def add(self, data: dict[str, Any]) -> None:
        self.numbers.update(data.get("numbers", {}))
        self.by_signal.update(data.get("by_signal", {}))
        for domain, outcomes in data.get("by_domain", {}).items():
            self.by_domain.setdefault(domain, Counter()).update(outcomes)
        self.changed_by_signal.update(data.get("changed_by_signal", {}))
        room = _CHANGED_SHOWN - len(self.changed)
        if room > 0:
            self.changed.extend(data.get("changed", [])[:room])
        self.companions.update(data.get("companions", {}))


class Progress:
    """Records done, on one redrawn line on a terminal, else a line every *interval* s."""

    def __init__(self, inputs: int, *, enabled: bool, stream: TextIO | None = None) -> None:
        self.inputs = inputs
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = enabled
        self.interval = 10.0
        try:
            self.tty = enabled and self.stream.isatty()
        except (AttributeError, ValueError):
            self.tty = False
        self._last = time.monotonic()

    def show(self, done_inputs: int, counts: Counts, *, final: bool = False) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if not final and now - self._last < (0.2 if self.tty else self.interval):
            return
        self._last = now
        n = counts.numbers
        line = (
            f"filter: {n['read']} records, {n['kept']} kept, {n['removed']} removed,"
            f" {n['unknown']} unknown ({done_inputs}/{self.inputs} inputs)"
        )
        if self.tty:
            width = 24
            filled = width * done_inputs // max(self.inputs, 1)
            self.stream.write(f"\r[{'#' * filled}{'-' * (width - filled)}] {line}\x1b[K")
            if final:
                self.stream.write("\n")
        else:
            self.stream.write(line + "\n")
        self.stream.flush()


class DatasetFilter:
    """One run of the filter over many inputs into one output folder."""

    def __init__(
        self,
        out: Path,
        source: PolicySource,
        *,
        purpose: Purpose,
        user_agent: str,
        url_field: str,
        keep_unknown: bool,
        batch_size: int,
        mode: str,
        registries: Registries | None = None,
    ) -> None:
        self.out = out
        self.source = source
        self.purpose = purpose
        self.evaluator = Evaluator(
            user_agent, reserve_unknown=not keep_unknown, registries=registries
        )
        self.url_field = url_field
        self.keep_unknown = keep_unknown
        self.batch_size = batch_size
        self.mode = mode
        self.ledger = Ledger(out / "ledger.jsonl")
        self.ledger.open()
        self.recorded: set[tuple[str, int]] = set()
        if self.ledger.path.stat().st_size:
            for line in read_ledger(self.ledger.path):
                if line.get("stage") == DATASET_STAGE and isinstance(line.get("index"), int):
                    self.recorded.add((str(line.get("input")), line["index"]))
        self.places = Places()
        # Policy file lists whose bodies are in the evidence store (kept alive: keyed by id).
        self._evidenced: dict[int, list[Any]] = {}
        self._time_member = ""
        self._entries: dict[tuple[int, str, bool, str], str] = {}
        # Verdicts of the input's latest records, by id, for WARC records that refer to them.
        self._remembered: OrderedDict[str, bool] = OrderedDict()
        self._remember = False

    # -- one input --------------------------------------------------------------------

    def run_input(self, path: Path, total: Counts, progress: Progress, done: int) -> dict[str, Any]:
        name = path.name
        fmt = FORMATS[detect_format(path)](self.url_field)
        kept_dir = self.out / "kept"
        final = kept_dir / name
        if final.resolve() == path.resolve():
            raise ConfigurationError(
                f"the input {path} is the output {final}: filter it into another folder"
            )
        checkpoint = self.out / "checkpoints" / f"{name}.jsonl"
        state = _read_checkpoint(checkpoint, path)
        counts = Counts()
        for delta in state["deltas"]:
            counts.add(delta)
        total.add(counts.to_dict())
        info: dict[str, Any] = {"input": str(path), "format": fmt.name}
        if state["complete"] is not None:
            info.update(state["complete"])
            return self._input_info(info, counts)
        self._remembered = OrderedDict()
        self._remember = fmt.has_companions
        parts = kept_dir / ".parts" / name
        partial = kept_dir / f".{name}.partial"
        if fmt.appendable:
            # Byte formats grow one file; a batch not checkpointed is cut off again.
            kept_dir.mkdir(parents=True, exist_ok=True)
            with partial.open("ab") as handle:
                handle.truncate(state["bytes"])
        else:
            parts.mkdir(parents=True, exist_ok=True)
        broken: str | None = None
        try:
            for batch in fmt.batches(path, self.batch_size):
                if batch.number < state["batches_done"]:
                    continue
                delta, kept = self._run_batch(batch, name)
                line: dict[str, Any] = {"batch": batch.number, "counts": delta.to_dict()}
                if fmt.appendable:
                    with partial.open("ab") as handle:
                        handle.write(fmt.encode(kept))
                        line["bytes"] = handle.tell()
                else:
                    tmp = parts / f".{batch.number:08d}.tmp"
                    fmt.write_part(batch, kept, tmp)
                    os.replace(tmp, parts / f"{batch.number:08d}.part")
                _append_line(checkpoint, line)
                counts.add(delta.to_dict())
                total.add(delta.to_dict())
                progress.show(done, total)
        except InputBroken as exc:
            broken = str(exc)
            logger.warning("%s: %s", path, broken)
        if fmt.appendable:
            os.replace(partial, final)
        else:
            tmp = kept_dir / f".{name}.merging"
            if fmt.merge(sorted(parts.glob("*.part")), tmp, path):
                os.replace(tmp, final)
            shutil.rmtree(parts, ignore_errors=True)
        _append_line(checkpoint, {"complete": {"broken": broken}})
        info["broken"] = broken
        return self._input_info(info, counts)

    @staticmethod
    def _input_info(info: dict[str, Any], counts: Counts) -> dict[str, Any]:
        info.update({k: counts.numbers[k] for k in Counts.NUMBERS})
        return info

    def _run_batch(self, batch: Batch, name: str) -> tuple[Counts, list[tuple[Record, str | None]]]:
        counts = Counts()
        places: dict[int, tuple[str | None, str | None]] = {}
        for item in batch.items:
            if isinstance(item, Record) and item.role != PASSTHROUGH:
                places[item.index] = self.places.origin(item.url)
        self.source.prepare(origin for origin, _ in places.values() if origin is not None)
        # One decision time per batch: provenance entries of one origin are then shared.
        self._time_member = f'{{"time":"{isoformat(utcnow())}",'
        kept: list[tuple[Record, str | None]] = []
        remembered = self._remembered
        for item in batch.items:
            if isinstance(item, Malformed):
                counts.numbers["malformed"] += 1
                continue
            if item.role == PASSTHROUGH:
                kept.append((item, None))
                continue
            origin, why = places[item.index]
            if item.role in (REQUEST, COMPANION):
                keep = self._follow(item, origin, why, remembered)
                counts.companions["kept" if keep else "dropped"] += 1
                if keep:
                    kept.append((item, None))
                continue
            decision = self._decide(item, origin, why)
            if self._remember:
                remembered[item.id] = decision.keep
                if len(remembered) > _REMEMBERED:
                    remembered.popitem(last=False)
            self._account(item, origin, decision, counts, name, kept)
        return counts, kept

    def _decide(self, item: Record, origin: str | None, why: str | None) -> Decision:
        if origin is None:
            return Decision(item.url or "", self.keep_unknown, None, None, False, why)
        assert item.url is not None
        return decide_record(
            self.evaluator,
            self.source.get(origin),
            item.url,
            self.purpose,
            headers=item.headers,
            body=item.body,
            unknown=self.source.unknown_reason,
            keep_unknown=self.keep_unknown,
        )

    def _entry(self, decision: Decision) -> str:
        """The provenance of a kept record as JSON; like decisions share all but the time."""
        files = decision.assessment.files if decision.assessment is not None else None
        key = (id(files), decision.stage, decision.origin_only, decision.unknown or "")
        rest = self._entries.get(key)
        if rest is None:
            data = provenance(decision, self.purpose, token=self.evaluator.token)
            del data["time"]
            rest = self._entries[key] = _dumps(data)[1:]
        return self._time_member + rest

    def _follow(
        self,
        item: Record,
        origin: str | None,
        why: str | None,
        remembered: OrderedDict[str, bool],
    ) -> bool:
        for ref in item.follows:
            if ref in remembered:
                return remembered[ref]
        if item.role != REQUEST or origin is None:
            return False  # content of a record not seen: never copied blind
        return self._decide(item, origin, why).keep

    def _account(
        self,
        item: Record,
        origin: str | None,
        decision: Decision,
        counts: Counts,
        name: str,
        kept: list[tuple[Record, str | None]],
    ) -> None:
        n = counts.numbers
        n["read"] += 1
        if decision.unknown is not None:
            n["unknown"] += 1
        if decision.origin_only:
            n["origin_only"] += 1
        url = decision.url
        domain = self.places.domain(origin, url) if origin is not None else "(unknown)"
        assessment = decision.assessment
        if assessment is not None and id(assessment.files) not in self._evidenced:
            self.ledger.store_evidence(assessment.files)
            self._evidenced[id(assessment.files)] = assessment.files
        if decision.keep:
            n["kept"] += 1
            counts.domain(domain, "kept")
            kept.append((item, self._entry(decision)))
            return
        n["removed"] += 1
        counts.domain(domain, "removed")
        signals = decision.signals or ["unknown"]
        for signal in signals:
            counts.by_signal[signal] += 1
        previous = item.previous
        was_kept = previous is not None and previous.get("verdict") in ("allowed", "unknown")
        if was_kept:
            n["newly_reserved"] += 1
            for signal in signals:
                counts.changed_by_signal[signal] += 1
            if len(counts.changed) < _CHANGED_SHOWN:
                counts.changed.append({"id": item.id, "url": url, "signals": signals})
        if (name, item.index) in self.recorded:
            return
        record = self._ledger_record(item, decision, name)
        if was_kept and previous is not None:
            record["recheck"] = {
                "previous_verdict": previous.get("verdict"),
                "previous_time": previous.get("time"),
            }
        self.ledger.write(record)

    def _ledger_record(self, item: Record, decision: Decision, name: str) -> dict[str, Any]:
        origin = origin_of(decision.url) if decision.assessment is not None else None
        return ledger_record(
            decision,
            self.purpose,
            self.evaluator,
            origin=origin,
            domain=self.places.domain(origin, decision.url) if origin is not None else None,
            record_id=item.id,
            policies=self.mode,
            where={"input": name, "index": item.index},
        )

    def close(self) -> None:
        self.ledger.close()


def _dumps(data: dict[str, Any]) -> str:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def _append_line(path: Path, data: dict[str, Any]) -> None:
    line = (json.dumps(data, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT
    try:
        fd = os.open(path, flags, 0o644)
    except FileNotFoundError:
        # The folder is made on the first line (not for every batch: a mkdir
        # waits behind the writes of the batch before it).
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, flags, 0o644)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)


def _read_checkpoint(path: Path, source: Path) -> dict[str, Any]:
    """What a checkpoint says: batches done, their counts, whether the input is finished."""
    stat = source.stat()
    identity = {"input": str(source.resolve()), "size": stat.st_size}
    state: dict[str, Any] = {"batches_done": 0, "deltas": [], "complete": None, "bytes": 0}
    if not path.exists():
        _append_line(path, {"identity": identity})
        return state
    with path.open("rb") as handle:
        for raw in handle:
            try:
                line = json.loads(raw)
            except ValueError:
                break  # a torn last line: that batch is done again
            if not isinstance(line, dict):
                break
            if "identity" in line:
                if line["identity"] != identity:
                    raise ConfigurationError(
                        f"{path.parent.parent} holds the output of another input named"
                        f" {source.name}; filter into a new folder"
                    )
            elif "batch" in line and line["batch"] == state["batches_done"]:
                state["batches_done"] += 1
                state["deltas"].append(line["counts"])
                state["bytes"] = line.get("bytes", 0)
            elif "complete" in line:
                state["complete"] = line["complete"]
    return state


def filter_dataset(
    inputs: Sequence[str | os.PathLike[str]],
    out: str | os.PathLike[str],
    *,
    purpose: Purpose | str = Purpose.TRAIN,
    user_agent: str,
    url_field: str = "url",
    policies: str = LIVE,
    captures: Sequence[str | os.PathLike[str]] | None = None,
    workers: int = 8,
    unknown: str = "allow",
    batch_size: int = BATCH_SIZE,
    progress: bool = False,
    registry: Sequence[str] = (),
) -> dict[str, Any]:
    """Filter *inputs* into the folder *out*; returns the summary (also in ``summary.json``).

    *policies* is ``"live"`` (fetch each origin's files once, into
    ``out/policies``) or the path of a snapshot folder written earlier;
    *captures*, when given, replaces both. *unknown* (``"allow"`` or
    ``"reserve"``) says what becomes of a record that cannot be decided, and of
    an ai.txt or ``tdmrep.json`` that could not be read (as ``OPTOUT_UNKNOWN``).
    *registry* names opt-out registries (paths or http(s) URLs, as
    ``OPTOUT_REGISTRY``): a declaration covering a record's URL, domain or body
    removes it with signal ``registry``.
    """
    purpose = Purpose(purpose)
    if unknown not in ("allow", "reserve"):
        raise ConfigurationError(f"unknown must be 'allow' or 'reserve', not {unknown!r}")
    if not isinstance(workers, int) or isinstance(workers, bool) or workers < 1:
        raise ConfigurationError(f"workers must be a whole number of at least 1, not {workers!r}")
    paths = [Path(p) for p in inputs]
    names = [p.name for p in paths]
    if len(set(names)) != len(names):
        raise ConfigurationError("two inputs share a file name; their outputs would collide")
    for path in paths:
        if not path.is_file():
            raise ConfigurationError(f"no such file: {path}")
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    store_dir = folder / "policies"
    if captures:
        source = PolicySource.captures(captures, store_dir)
        mode = "captures"
    elif policies == LIVE:
        source = PolicySource.live(store_dir, user_agent, workers=workers)
        mode = LIVE
    else:
        if not Path(policies).is_dir():
            raise ConfigurationError(f"--policies: no such folder: {policies}")
        source = PolicySource.folder(policies)
        mode = "folder"
    started = isoformat(utcnow())
    run = DatasetFilter(
        folder,
        source,
        purpose=purpose,
        user_agent=user_agent,
        url_field=url_field,
        keep_unknown=unknown == "allow",
        registries=_registries(registry, user_agent) if registry else None,
        batch_size=batch_size,
        mode=mode,
    )
    total = Counts()
    meter = Progress(len(paths), enabled=progress)
    reports = []
    try:
        for done, path in enumerate(paths):
            reports.append(run.run_input(path, total, meter, done))
            meter.show(done + 1, total)
    finally:
        run.close()
        meter.show(len(reports), total, final=True)
    summary = _summary(total, reports, purpose=purpose, run=run, started=started)
    summary["policies"] = {
        "mode": mode,
        "folder": str(source.store.path),
        "fetched": source.fetched,
    }
    data = json.dumps(summary, indent=2, ensure_ascii=False).encode("utf-8")
    tmp = folder / ".summary.json.tmp"
    tmp.write_bytes(data)
    os.replace(tmp, folder / "summary.json")
    return summary


def _summary(
    total: Counts,
    reports: list[dict[str, Any]],
    *,
    purpose: Purpose,
    run: DatasetFilter,
    started: str,
) -> dict[str, Any]:
    n = total.numbers
    return {
        "purpose": str(purpose),
        "user_agent": run.evaluator.user_agent,
        "token": run.evaluator.token,
        "unknown_rule": "allow" if run.keep_unknown else "reserve",
        "started_at": started,
        "finished_at": isoformat(utcnow()),
        "records_read": n["read"],
        "kept": n["kept"],
        "removed": n["removed"],
        "unknown": n["unknown"],
        "origin_only": n["origin_only"],
        "malformed": n["malformed"],
        "broken_inputs": [r["input"] for r in reports if r.get("broken")],
        "by_signal": dict(total.by_signal.most_common()),
        "by_domain": {
            d: dict(c)
            for d, c in sorted(total.by_domain.items(), key=lambda kv: -sum(kv[1].values()))
        },
        "warc_companions": dict(total.companions),
        "changed": {
            "newly_reserved": n["newly_reserved"],
            "by_signal": dict(total.changed_by_signal.most_common()),
            "records": total.changed,
        },
        "inputs": reports,
    }


def _registries(sources: Sequence[str], user_agent: str) -> Registries:
    """The opt-out registries *sources*, URLs fetched on the fetch contract."""
    from scrapy_optout.frontends.http import HttpFetcher

    fetcher = HttpFetcher(user_agent)
    return load_registries(
        list(sources), lambda url: fetcher.file_at(url, REGISTRY_KIND, REGISTRY_LIMITS)
    )
