"""What a sync run tells its user: progress while it works, one summary line per
mirror at the end. On a terminal a rich progress bar; otherwise (cron, systemd,
pipes) plain log lines, one per completed action."""

from __future__ import annotations

import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import TextIO


def human_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"


def when(at: float | None) -> str:
    if at is None:
        return "in up to 24 h"
    return "~" + time.strftime("%Y-%m-%d %H:%M", time.localtime(at))


@dataclass
class MirrorReport:
    name: str
    counts: Counter = field(default_factory=Counter)
    bytes_up: int = 0
    bytes_down: int = 0
    conflicts: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    notes: list[tuple[str, str]] = field(default_factory=list)
    kept: list[tuple[str, str]] = field(default_factory=list)  # folders kept for ignored items
    deferred: int = 0
    stale: int = 0
    guard: str | None = None
    error: str | None = None
    planned: list[str] = field(default_factory=list)  # dry-run lines
    finished: bool = False  # the mirror's pass ran to its end

    def keep(self, notes: list[tuple[str, str]], reporter: Reporter | None = None,
             mirror: str = "") -> None:
        """Add (path, why) of folders a deletion left for the ignored items they
        hold (once per path); ``reporter``: also say so in the log."""
        known = {p for p, _ in self.kept}
        for path, why in notes:
            if path not in known:
                known.add(path)
                self.kept.append((path, why))
                if reporter is not None:
                    reporter.line(f"{mirror}: {path}: {why}")

    @property
    def converged(self) -> bool:
        return not (self.failed or self.deferred or self.stale or self.guard or self.error)

    def summary(self, dry_run: bool = False) -> str:
        if self.error:
            return f"{self.name}: {self.error}"
        if dry_run:
            return f"{self.name}: dry run, {len(self.planned)} actions planned, nothing changed"
        order = ["uploaded", "downloaded", "moved", "folders", "identical", "conflicts",
                 "deleted remotely", "deleted locally"]
        parts = [f"{self.counts[k]} {k}" for k in order if self.counts.get(k)]
        if self.bytes_up or self.bytes_down:
            parts.append(f"{human_bytes(self.bytes_up)} up, {human_bytes(self.bytes_down)} down")
        if self.failed:
            parts.append(f"{len(self.failed)} failed")
        if self.deferred:
            parts.append(f"{self.deferred} deferred")
        if self.notes:
            parts.append(f"{len(self.notes)} skipped (see above)")
        if self.kept:
            n = len(self.kept)
            parts.append(f"{n} folder{'s' if n > 1 else ''} kept: "
                         f"{'they hold' if n > 1 else 'it holds'} ignored items")
        state = "in sync" if self.converged else "NOT in sync"
        return f"{self.name}: {', '.join(parts) or 'no changes'}; {state}"


class Reporter:
    """Receives progress events from worker threads."""

    def __init__(self, stream: TextIO | None = None, *, quiet: bool = False,
                 fancy: bool | None = None):
        self.stream = stream or sys.stdout
        self.quiet = quiet
        self.fancy = self.stream.isatty() if fancy is None else fancy
        self._lock = threading.Lock()
        self._progress = None
        self._task = None

    def line(self, text: str) -> None:
        with self._lock:
            if self._progress is not None:
                self._progress.console.print(text, markup=False, highlight=False)
            else:
                print(text, file=self.stream, flush=True)

    def error(self, text: str) -> None:
        print(f"syncd: {text}", file=sys.stderr, flush=True)

    def start(self, mirror: str, total: int) -> None:
        if not self.fancy or self.quiet or total < 1:
            return
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        self._progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(),
                                  MofNCompleteColumn(), TextColumn("{task.fields[last]}"),
                                  console=Console(file=self.stream), transient=True)
        self._progress.start()
        self._task = self._progress.add_task(mirror, total=total, last="")

    def stop(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    def event(self, mirror: str, verb: str, path: str, size: int = 0) -> None:
        if self._progress is not None:
            with self._lock:
                self._progress.update(self._task, advance=1, last=f"{verb} {path}"[-60:])
            return
        if self.quiet:
            return
        extra = f" ({human_bytes(size)})" if size else ""
        self.line(f"{mirror}: {verb} {path}{extra}")
