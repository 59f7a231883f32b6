"""What a sync run tells its user: progress while it works, a warning for every
conflict, one summary line per mirror at the end.

On a terminal a rich progress display: for the pass, the files done, the bytes
moved of the bytes to move, the speed and the time left; below it a line of its
own for each large file in flight. ``verbose`` also lists each action above it.
Off a terminal (cron, systemd, pipes) no progress display: plain lines, one per
completed action (none with ``quiet``). Conflicts are announced in both cases,
``quiet`` or not. ``Reporter.stats`` is the same progress as one line (the
daemon logs it every minute during long work)."""

from __future__ import annotations

import sys
import threading
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TextIO

LARGE = 1 << 20  # a file in flight gets its own progress line from this size on
CONFLICTS_HINT = "see `syncd conflicts`"


def human_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"


def human_duration(seconds: float) -> str:
    s = max(0, round(seconds))
    h, rest = divmod(s, 3600)
    return f"{h}:{rest // 60:02d}:{rest % 60:02d}"


def when(at: float | None) -> str:
    if at is None:
        return "in up to 24 h"
    return "~" + time.strftime("%Y-%m-%d %H:%M", time.localtime(at))


def plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


@dataclass(frozen=True)
class Conflict:
    """A conflict that happened: both versions of ``path`` are kept, and the one
    from side ``renamed`` (``"local"``: yours, ``"remote"``: the server's) is
    now called ``copy``."""

    path: str
    copy: str
    renamed: str

    def line(self, mirror: str) -> str:
        whose = "your version" if self.renamed == "local" else "the server's version"
        return (f"{mirror}: conflict: {self.path} was changed on both sides; both kept, "
                f"{whose} as {self.copy} ({CONFLICTS_HINT})")


@dataclass
class MirrorReport:
    name: str
    counts: Counter = field(default_factory=Counter)
    bytes_up: int = 0
    bytes_down: int = 0
    conflicts: list[str] = field(default_factory=list)  # paths of the conflicts that happened
    copies: list[Conflict] = field(default_factory=list)  # the same, with their copies
    actions: list[tuple[str, str, int]] = field(default_factory=list)  # (verb, path, bytes)
    failed: list[tuple[str, str]] = field(default_factory=list)
    notes: list[tuple[str, str]] = field(default_factory=list)
    kept: list[tuple[str, str]] = field(default_factory=list)  # folders kept for ignored items
    deferred: int = 0
    stale: int = 0
    guard: str | None = None
    error: str | None = None
    planned: list[str] = field(default_factory=list)  # dry-run lines
    finished: bool = False  # the mirror's pass ran to its end
    transactions: int = 0  # spent on this mirror (not the account's shared refresh)

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
        order = ["uploaded", "downloaded", "moved", "folders", "identical",
                 "deleted remotely", "deleted locally"]
        parts = [f"{self.counts[k]} {k}" for k in order if self.counts.get(k)]
        if self.bytes_up or self.bytes_down:
            parts.append(f"{human_bytes(self.bytes_up)} up, {human_bytes(self.bytes_down)} down")
        if self.counts.get("conflicts"):
            parts.append(f"{plural(self.counts['conflicts'], 'conflict')}, both versions "
                         f"kept ({CONFLICTS_HINT})")
        if self.failed:
            parts.append(f"{len(self.failed)} failed")
        if self.deferred or self.stale:
            parts.append(f"{self.deferred + self.stale} deferred to the next pass (files "
                         "changing, or backing off after errors)")
        if self.notes:
            parts.append(f"{len(self.notes)} skipped (see above)")
        if self.kept:
            n = len(self.kept)
            parts.append(f"{n} folder{'s' if n > 1 else ''} kept: "
                         f"{'they hold' if n > 1 else 'it holds'} ignored items")
        if self.guard:
            parts.append(f"deletions held back ({self.guard}): nothing was deleted, run "
                         f"`syncd sync --force --mirror {self.name}` if this is intended")
        state = "in sync" if self.converged else "NOT in sync"
        return f"{self.name}: {', '.join(parts) or 'no changes'}; {state}"


    def outcome(self, dry_run: bool = False) -> str:
        """``error`` (nothing or not all was done: ``error`` says why),
        ``dry_run``, ``in_sync`` or ``not_in_sync`` (held back, failed, deferred)."""
        if self.error:
            return "error"
        if dry_run:
            return "dry_run"
        return "in_sync" if self.converged else "not_in_sync"

    def to_dict(self, dry_run: bool = False) -> dict:
        """The mirror in `syncd sync --json` (docs/sync.md lists the keys)."""
        return {
            "name": self.name,
            "outcome": self.outcome(dry_run),
            "summary": self.summary(dry_run),
            "error": self.error,
            "deletions_held_back": self.guard,
            "counts": {_key(k): n for k, n in sorted(self.counts.items())},
            "bytes_up": self.bytes_up,
            "bytes_down": self.bytes_down,
            "transactions": self.transactions,
            "actions": [{"action": _key(verb), "path": path, "bytes": size}
                        for verb, path, size in self.actions],
            "conflicts": [{"path": c.path, "copy": c.copy, "renamed": c.renamed}
                          for c in self.copies],
            "failed": [{"path": p, "error": why} for p, why in self.failed],
            "deferred": self.deferred + self.stale,
            "skipped": [{"path": p, "why": why} for p, why in self.notes],
            "kept": [{"path": p, "why": why} for p, why in self.kept],
            "planned": list(self.planned),
        }


@dataclass
class Tally:
    """One mirror's work in flight: files and bytes done of those planned."""

    mirror: str
    files: int
    size: int
    started: float
    files_done: int = 0
    bytes_done: int = 0

    def line(self, now: float) -> str:
        elapsed = max(now - self.started, 1e-9)
        done = min(self.files_done, self.files)
        rate = self.bytes_done / elapsed
        text = (f"{self.mirror}: {done}/{self.files} actions, {human_bytes(self.bytes_done)} "
                f"of {human_bytes(self.size)}, {human_bytes(rate)}/s")
        left = self.size - self.bytes_done
        if left > 0 and rate > 0:
            text += f", about {human_duration(left / rate)} left"
        elif self.files > done > 0:
            text += f", about {human_duration((self.files - done) * elapsed / done)} left"
        return text


class Reporter:
    """Receives progress events from worker threads."""

    def __init__(self, stream: TextIO | None = None, *, quiet: bool = False,
                 fancy: bool | None = None, verbose: bool = False):
        self.stream = stream or sys.stdout
        self.quiet = quiet
        self.verbose = verbose
        self.fancy = self.stream.isatty() if fancy is None else fancy
        self._lock = threading.Lock()
        self._progress = None
        self._task = None
        self._sizes: dict[str, int] = {}
        self._files: dict[str, tuple[object, int]] = {}  # large files in flight: (task, done)
        self.tally: Tally | None = None
        self._stage: tuple[str, float] | None = None  # what the pass does, since when
        self._status = None  # the terminal's spinner while no worker runs

    def line(self, text: str) -> None:
        with self._lock:
            live = self._progress or self._status
            if live is not None:
                live.console.print(text, markup=False, highlight=False, soft_wrap=True)
            else:
                print(text, file=self.stream, flush=True)

    def stage(self, text: str | None) -> None:
        """What the pass does now, before or between the workers (listing the
        server, scanning a folder); None: the pass is over. A spinner on a
        terminal; ``stats`` tells it with its duration."""
        with self._lock:
            self._stage = None if text is None else (text, time.monotonic())
            if not self.fancy or self.quiet or self._progress is not None:
                return
            if text is None:
                self._stop_status()
            elif self._status is None:
                from rich.console import Console
                self._status = Console(file=self.stream, force_terminal=True).status(text)
                self._status.start()
            else:
                self._status.update(text)

    def _stop_status(self) -> None:
        if self._status is not None:
            self._status.stop()
            self._status = None

    def error(self, text: str) -> None:
        print(f"syncd: {text}", file=sys.stderr, flush=True)

    def start(self, mirror: str, total: int, sizes: Mapping[str, int] | None = None) -> None:
        """A mirror's worker starts ``total`` actions; ``sizes``: the bytes of its
        transfers by path."""
        self._sizes = dict(sizes or {})
        self.tally = Tally(mirror, total, sum(self._sizes.values()), time.monotonic())
        if not self.fancy or self.quiet or total < 1:
            return
        with self._lock:
            self._stop_status()  # (one live display at a time)
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn

        self._progress = Progress(TextColumn("{task.description}"), BarColumn(bar_width=24),
                                  TextColumn("{task.fields[files]}"), *_byte_columns(),
                                  console=Console(file=self.stream, force_terminal=True),
                                  transient=True)
        self._progress.start()
        size = self.tally.size
        self._task = self._progress.add_task(
            f"[bold]{mirror}", total=size or total, unit="bytes" if size else "actions",
            files=f"0/{total}")

    def stop(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
        with self._lock:
            self._files.clear()
            self.tally = None

    def event(self, mirror: str, verb: str, path: str, size: int = 0) -> None:
        self.done()
        if self._progress is not None:
            with self._lock:
                t = self.tally
                done = min(t.files_done, t.files) if t is not None else 0
                fields = {"files": f"{done}/{t.files}"} if t is not None else {}
                if t is not None and not t.size:
                    fields["completed"] = done
                self._progress.update(self._task, **fields)
                self._end_file(path)
            if not self.verbose:
                return
        elif self.quiet:
            return
        extra = f" ({human_bytes(size)})" if size else ""
        self.line(f"{mirror}: {verb} {path}{extra}")

    def bytes(self, mirror: str, path: str, n: int) -> None:
        """``n`` bytes of the transfer of ``path`` just moved (negative: sent again)."""
        with self._lock:
            if self.tally is not None:
                self.tally.bytes_done += n
            if self._progress is None:
                return
            self._progress.update(self._task, advance=n)
            size = self._sizes.get(path, 0)
            if size < LARGE:
                return
            task, done = self._files.get(path, (None, 0))
            if task is None:
                task = self._progress.add_task(f"  {_tail(path)}", total=size, unit="bytes",
                                               files="")
            done += n
            self._files[path] = (task, done)
            self._progress.update(task, completed=done)
            if done >= size:
                self._end_file(path)

    def _end_file(self, path: str) -> None:
        """(under the lock) ``path`` is no longer in flight: its line goes."""
        task, _ = self._files.pop(path, (None, 0))
        if task is not None and self._progress is not None:
            self._progress.remove_task(task)

    def conflict(self, mirror: str, conflict: Conflict) -> None:
        """Announced whatever the verbosity: a conflict always needs a look."""
        self.done()
        self.line(conflict.line(mirror))

    def done(self) -> None:
        """One more action of the worker's done (for the stats)."""
        with self._lock:
            if self.tally is not None:
                self.tally.files_done += 1

    def stats(self, at_least: float = 0.0) -> str | None:
        """The work in flight as one line: a worker's files and bytes, else the
        pass's stage; None when nothing has been going on for ``at_least`` seconds."""
        now = time.monotonic()
        with self._lock:
            if self.tally is not None:
                since = self.tally.started
                text = self.tally.line(now)
            elif self._stage is not None:
                text, since = self._stage
                text = f"{text} ({human_duration(now - since)} so far)"
            else:
                return None
        return text if now - since >= at_least else None


def _key(words: str) -> str:
    """A count's or an action's name as a JSON value: ``deleted_remotely``."""
    return words.replace(" ", "_")


def _tail(path: str, width: int = 40) -> str:
    return path if len(path) <= width else "…" + path[-(width - 1):]


SETTLING = 1.0  # seconds before a row shows a speed: the first chunk leaves in a burst


def _byte_columns() -> list:
    """Rich's bytes, speed and time-left columns, blank on a row that counts
    actions rather than bytes (a pass that moves no bytes); the speed and time
    left are unknown (``?``) during a row's first second."""
    from rich.progress import DownloadColumn, TimeRemainingColumn, TransferSpeedColumn
    from rich.text import Text

    def bytes_only(base, unknown: str | None = None):
        class Column(base):
            def render(self, task):
                if task.fields.get("unit") != "bytes":
                    return Text("")
                if unknown is not None and (task.elapsed or 0.0) < SETTLING:
                    return Text(unknown, style="progress.data.speed")
                return super().render(task)
        return Column()

    return [bytes_only(DownloadColumn), bytes_only(TransferSpeedColumn, "?"),
            bytes_only(TimeRemainingColumn, "-:--:--")]
