"""Benchmark: the datatrove block on Ray with two workers against one local worker.

The synthetic JSON Lines records of the ``filter`` benchmark, cut into
``--shards`` files, go through the same pipeline twice (JSON Lines reader ->
:class:`~scrapy_optout.datatrove.OptOutFilter` -> JSON Lines writer), with the
policy snapshots already in a folder, so nothing is fetched:

* local: ``LocalPipelineExecutor(tasks=shards, workers=1)``, the tasks one
  after the other in one process;
* Ray: ``RayPipelineExecutor(tasks=shards, workers=2)`` on a local cluster
  started with ``ray.init(num_cpus=2)`` (its start-up is timed apart).

Reported, not a goal: the wall time of each and the speed-up of Ray over the
single local worker. Both must keep and remove the same records. On a machine
shared with other work the speed-up says more about the machine than about the
block; the CPU count is recorded with the figures.

``python -m benchmarks datatrove --records 200000 --origins 2000 --shards 4``
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.common import ROOT, report
from benchmarks.filter import make_dataset, make_policies

USER_AGENT = "bench-filter/1.0"
#: Keeps Ray offline and quiet: no usage report, no ``uv run`` environment.
RAY_ENV = {"RAY_ENABLE_UV_RUN_RUNTIME_ENV": "0", "RAY_USAGE_STATS_ENABLED": "0"}


def split(source: Path, folder: Path, shards: int) -> Path:
    """*source*'s lines dealt round-robin into *shards* files under *folder*."""
    folder.mkdir()
    outs = [(folder / f"shard-{n:03d}.jsonl").open("wb") for n in range(shards)]
    try:
        with source.open("rb") as lines:
            for n, line in enumerate(lines):
                outs[n % shards].write(line)
    finally:
        for out in outs:
            out.close()
    return folder


def pipeline(shards: Path, policies: Path, out: Path) -> list[Any]:
    from datatrove.pipeline.readers.jsonl import JsonlReader
    from datatrove.pipeline.writers.jsonl import JsonlWriter

    from scrapy_optout.datatrove import OptOutFilter

    return [
        JsonlReader(str(shards)),
        OptOutFilter(
            user_agent=USER_AGENT, policies=policies, ledger_folder=out / "ledger", batch_size=1000
        ),
        JsonlWriter(str(out / "kept"), compression=None),
    ]


def kept_and_removed(out: Path) -> tuple[int, int]:
    kept = sum(sum(1 for _ in file.open("rb")) for file in sorted((out / "kept").glob("*.jsonl")))
    removed = sum(
        sum(1 for _ in file.open("rb")) for file in sorted((out / "ledger").glob("ledger-*.jsonl"))
    )
    return kept, removed


def measure(records: int, origins: int, shards: int, text_bytes: int) -> dict[str, Any]:
    os.environ.update(RAY_ENV)
    # Ray's workers import the package from where this process does.
    import scrapy_optout

    here = str(Path(scrapy_optout.__file__).parent.parent)
    os.environ["PYTHONPATH"] = os.pathsep.join(
        filter(None, [here, str(ROOT), os.environ.get("PYTHONPATH")])
    )
    import ray
    from datatrove.executor.local import LocalPipelineExecutor
    from datatrove.executor.ray import RayPipelineExecutor

    work = Path(tempfile.mkdtemp(prefix="optout-bench-datatrove-"))
    try:
        source = make_dataset(work, records, origins, text_bytes)
        folder = split(source, work / "shards", shards)
        source.unlink()
        policies = make_policies(work, origins)

        local_out, ray_out = work / "local", work / "ray"

        def run(executor: Any, out: Path, **options: Any) -> float:
            started = time.perf_counter()
            executor(
                pipeline(folder, policies, out),
                tasks=shards,
                logging_dir=str(out / "logs"),
                **options,
            ).run()
            return time.perf_counter() - started

        local_s = run(LocalPipelineExecutor, local_out, workers=1)
        started = time.perf_counter()
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
        ray_start_s = time.perf_counter() - started
        try:
            ray_s = run(RayPipelineExecutor, ray_out, workers=2, mem_per_cpu_gb=0.5)
        finally:
            ray.shutdown()
        local_counts, ray_counts = kept_and_removed(local_out), kept_and_removed(ray_out)
        return {
            "records": records,
            "origins": origins,
            "shards": shards,
            "text_bytes": text_bytes,
            "cpus": os.cpu_count(),
            "local_one_worker_s": local_s,
            "ray_two_workers_s": ray_s,
            "ray_start_s": ray_start_s,
            "local_records_per_s": records / local_s,
            "ray_records_per_s": records / ray_s,
            "speedup": local_s / ray_s,
            "kept": local_counts[0],
            "removed": local_counts[1],
            "same_result": local_counts == ray_counts,
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)


def format_result(result: dict[str, Any]) -> str:
    return (
        f"datatrove: {result['records']} records in {result['shards']} shards over "
        f"{result['origins']} origins: one local worker {result['local_one_worker_s']:.1f} s "
        f"({result['local_records_per_s']:.0f} records/s), Ray with two workers "
        f"{result['ray_two_workers_s']:.1f} s ({result['ray_records_per_s']:.0f} records/s; "
        f"cluster start {result['ray_start_s']:.1f} s apart): speed-up {result['speedup']:.2f}x "
        f"on {result['cpus']} CPUs; same result: {result['same_result']}"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks datatrove", description=__doc__)
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--origins", type=int, default=2_000)
    parser.add_argument("--shards", type=int, default=4)
    parser.add_argument("--text-bytes", type=int, default=1000)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--no-save", action="store_true")
    args = parser.parse_args(argv)
    result = measure(args.records, args.origins, args.shards, args.text_bytes)
    report("datatrove", result, format_result(result), as_json=args.json, save=not args.no_save)
    return 0 if result["same_result"] else 1


if __name__ == "__main__":
    sys.exit(main())
