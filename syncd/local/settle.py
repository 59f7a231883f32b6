"""The watcher's table of dirty paths, and when each batch of them is due.

The rules (see local/watcher.py's module doc): a path is due once it had no
event for ``settle`` seconds, or ``max_delay`` after its first event; a batch
whose paths are almost quiet (within ``grace``) waits for them; at most one
settled batch per ``settle`` period (``max_delay`` releases excepted). Not
thread-safe: the watcher calls it holding its own lock.
"""

from __future__ import annotations

from collections.abc import Iterable


class Settler:
    """Dirty paths with the times of their first and last event."""

    def __init__(self, settle: float, max_delay: float, grace: float) -> None:
        self.settle = settle
        self.max_delay = max_delay
        self.grace = grace
        self.dirty: dict[str, list[float]] = {}  # path -> [first event, last event]
        self._hold_until: float | None = None
        self._not_before = 0.0  # no settled batch before this (one per settle period)

    def __bool__(self) -> bool:
        return bool(self.dirty)

    def reset(self) -> None:
        self.dirty.clear()
        self._hold_until = None
        self._not_before = 0.0

    def touch(self, paths: Iterable[str], now: float) -> bool:
        """Record an event on each of ``paths``; True if the table was empty and
        now is not (the only time a deadline moves forward)."""
        was_idle = not self.dirty
        added = False
        for rel in paths:
            added = True
            times = self.dirty.get(rel)
            if times is None:
                self.dirty[rel] = [now, now]
            else:
                times[1] = now
        return was_idle and added

    def take_due(self, now: float) -> tuple[set[str] | None, float]:
        """The batch due at ``now`` (taken out of the table) and ``now``; or None and
        the time to look again. Call only when the table is not empty."""
        quiet_before = now - self.settle
        forced_before = now - self.max_delay
        first_forced = min(first for first, _ in self.dirty.values()) + self.max_delay
        due = [p for p, (first, last) in self.dirty.items()
               if last <= quiet_before or first <= forced_before]
        if not due:
            self._hold_until = None
            first_quiet = min(last for _, last in self.dirty.values()) + self.settle
            return None, min(max(first_quiet, self._not_before), first_forced)
        forced = now >= first_forced
        if not forced:
            # One settled batch per settle period: a long burst comes in a few
            # large calls rather than one every few milliseconds.
            if now < self._not_before:
                return None, min(self._not_before, first_forced)
            if self._hold_until is None:
                almost = [last for _, last in self.dirty.values()
                          if quiet_before < last <= quiet_before + self.grace]
                if almost:
                    self._hold_until = max(almost) + self.settle
            if self._hold_until is not None and now < self._hold_until:
                return None, min(self._hold_until, first_forced)
        self._hold_until = None
        self._not_before = now + self.settle
        for p in due:
            del self.dirty[p]
        return set(due), now

    def drop_settled(self, now: float) -> None:
        """Forget the settled paths (a full rescan covers them); paths still being
        written stay and are reported when they settle."""
        quiet_before = now - self.settle
        for p in [p for p, (_, last) in self.dirty.items() if last <= quiet_before]:
            del self.dirty[p]
        self._hold_until = None
