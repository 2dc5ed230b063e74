"""Progress of a survey on standard error.

On a terminal, a single line redrawn in place: a bar, the sites done, and the
unreachable count. Anywhere else (a log file, CI), one plain line of counts
every *interval* seconds and a last one at the end, so logs stay readable.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO

__all__ = ["Progress", "ProgressRelay"]


class Progress:
    """Counts finished sites and shows them; call :meth:`close` at the end.

    *total* is ``None`` when the number of sites is not known in advance (a
    capture survey read as a stream): only the count is shown then.
    """

    def __init__(
        self,
        total: int | None,
        *,
        stream: TextIO | None = None,
        interval: float = 10.0,
        enabled: bool = True,
        label: str = "survey",
    ) -> None:
        self.total = total
        self.done = 0
        self.unreachable = 0
        self.stream = stream if stream is not None else sys.stderr
        self.interval = interval
        self.enabled = enabled
        self.label = label
        self.tty = enabled and _isatty(self.stream)
        self._last = time.monotonic()
        self._closed = False

    def advance(self, sites: int = 1, *, unreachable: int = 0) -> None:
        """Record *sites* more finished sites, *unreachable* of them unreachable."""
        self.done += sites
        self.unreachable += unreachable
        if not self.enabled:
            return
        now = time.monotonic()
        if self.tty:
            # Redraw at most ten times a second: cheap, and still smooth.
            if now - self._last >= 0.1 or (self.total is not None and self.done >= self.total):
                self._draw()
                self._last = now
        elif now - self._last >= self.interval:
            self._print()
            self._last = now

    def close(self) -> None:
        """Show the final counts (once)."""
        if self._closed or not self.enabled:
            return
        self._closed = True
        if self.tty:
            self._draw()
            self.stream.write("\n")
            self.stream.flush()
        else:
            self._print()

    def line(self) -> str:
        """The counts as text, without the bar."""
        if self.total is None:
            return f"{self.label}: {self.done} sites done, {self.unreachable} unreachable"
        share = f" ({100 * self.done // self.total}%)" if self.total else ""
        return (
            f"{self.label}: {self.done}/{self.total} sites done{share}, "
            f"{self.unreachable} unreachable"
        )

    def _draw(self) -> None:
        if self.total is None:
            self.stream.write(f"\r{self.line()}\x1b[K")
            self.stream.flush()
            return
        width = 28
        filled = width * self.done // self.total if self.total else width
        bar = "#" * filled + "-" * (width - filled)
        self.stream.write(f"\r[{bar}] {self.line()}\x1b[K")
        self.stream.flush()

    def _print(self) -> None:
        self.stream.write(self.line() + "\n")
        self.stream.flush()


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


class ProgressRelay(Progress):
    """A worker's progress, passed on to the process that shows it.

    *send* is called with ``(sites, unreachable)``, the counts finished since
    its last call, at most every *interval* seconds and once more on
    :meth:`close`. Nothing is shown here.
    """

    def __init__(self, send: Callable[[tuple[int, int]], object], *, interval: float = 0.2):
        super().__init__(None, enabled=False, interval=interval)
        self._send = send
        self._sites = 0
        self._unreachable = 0

    def advance(self, sites: int = 1, *, unreachable: int = 0) -> None:
        super().advance(sites, unreachable=unreachable)
        self._sites += sites
        self._unreachable += unreachable
        now = time.monotonic()
        if now - self._last >= self.interval:
            self._flush()
            self._last = now

    def close(self) -> None:
        self._flush()

    def _flush(self) -> None:
        if self._sites or self._unreachable:
            self._send((self._sites, self._unreachable))
            self._sites = self._unreachable = 0
