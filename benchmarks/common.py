"""Shared helpers: subprocesses, the farm handle, statistics, machine description."""

from __future__ import annotations

import contextlib
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CORPORA = ROOT / "fixtures" / "corpora"
ROBOTS_2019 = CORPORA / "protego-robotstxt-2019" / "robotstxt.jsonl.gz"
RESULTS_DIR = Path(__file__).resolve().parent / "results"

_CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of process *pid* so far (Linux ``/proc``)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    # After the command name: state is field 3, utime 14 and stime 15 (1-based).
    return (int(fields[11]) + int(fields[12])) / _CLK_TCK


def peak_rss_mb() -> float:
    """Peak resident set size of this process image, in MiB.

    Linux's ``VmHWM`` where ``/proc`` exists, else ``getrusage()``'s
    ``ru_maxrss``. Not ``ru_maxrss`` on Linux: it is carried over ``fork()``
    and ``exec()``, so a worker started by a big parent reports the parent's peak.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def system_busy() -> float:
    """CPU seconds all processors have spent busy since boot (Linux ``/proc/stat``)."""
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    except OSError:
        return float("nan")
    values = [int(v) for v in fields]
    idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
    return (sum(values[:8]) - idle) / _CLK_TCK


def wait_for_quiet(max_wait: float = 30.0, threshold: float = 0.25) -> float:
    """Wait (at most *max_wait* s) until other processes use under *threshold* of a CPU.

    Measured over one second at a time from ``/proc/stat``; returns the seconds
    waited. On a shared machine this keeps runs from starting in the middle of
    someone else's burst of work; the load during each run is recorded anyway.
    """
    waited = 0.0
    while waited < max_wait:
        before = system_busy()
        time.sleep(1.0)
        if system_busy() - before < threshold:
            break
        waited += 1.0
    return waited


def children_cpu() -> float:
    """CPU seconds used by this process's finished children."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


class Farm:
    """The benchmark farm (:mod:`benchmarks.farm`) in its own process."""

    def __init__(
        self,
        origins: int,
        pages: int,
        *,
        layout: str = "ports",
        aitxt: bool = False,
        latency: float = 0.0,
    ) -> None:
        self.args = [
            sys.executable,
            "-m",
            "benchmarks.farm",
            "--origins",
            str(origins),
            "--pages",
            str(pages),
            "--layout",
            layout,
        ]
        if aitxt:
            self.args.append("--aitxt")
        if latency:
            self.args += ["--latency", str(latency)]
        self.proc: subprocess.Popen[str] | None = None
        self.origins: list[str] = []

    def __enter__(self) -> Farm:
        self.proc = subprocess.Popen(
            self.args,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("the benchmark farm did not start")
        self.origins = json.loads(line)["origins"]
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.proc is not None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def cpu(self) -> float:
        assert self.proc is not None
        return cpu_seconds(self.proc.pid)

    def counters(self) -> dict[str, int]:
        """Connections accepted and requests answered so far (stats requests included)."""
        import urllib.request

        with urllib.request.urlopen(self.origins[0] + "/__farm_stats", timeout=10) as reply:
            data: dict[str, int] = json.loads(reply.read())
        return data


def run_json(
    args: Sequence[str], *, timeout: float = 1800, env: dict[str, str] | None = None
) -> Any:
    """Run a Python module in a fresh process; return the JSON of its last stdout line."""
    proc = subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )
    if proc.returncode != 0:
        raise RuntimeError(
            f"{' '.join(args)} exited with {proc.returncode}:\n{proc.stderr[-4000:]}"
        )
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    return json.loads(lines[-1])


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def spread(values: Sequence[float]) -> tuple[float, float]:
    return (min(values), max(values)) if values else (float("nan"), float("nan"))


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = round(int(line.split()[1]) / 1024 / 1024, 1)
                break
    except OSError:
        pass
    versions: dict[str, str] = {}
    from importlib import metadata

    for dist in ("scrapy", "protego", "twisted", "scrapy-optout", "requests"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions[dist] = metadata.version(dist)
    return {
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu": cpu,
        "cpus": os.cpu_count(),
        "memory_gb": memory,
        "versions": versions,
    }


def report(name: str, result: dict[str, Any], text: str, *, as_json: bool, save: bool) -> None:
    """Print *result* (as JSON, or as *text*) and merge it into the results under *name*."""
    print(json.dumps(result, indent=2) if as_json else text)
    if save:
        save_results({name: result})


def save_results(results: dict[str, Any], path: Path | None = None) -> Path:
    """Merge *results* into ``benchmarks/results/latest.json`` (one key per benchmark)."""
    path = path or RESULTS_DIR / "latest.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    data: dict[str, Any] = {}
    if path.exists():
        try:
            data = json.loads(path.read_text())
        except ValueError:
            data = {}
    data.setdefault("benchmarks", {}).update(results)
    data["machine"] = machine()
    path.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n")
    return path
