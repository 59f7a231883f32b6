"""Helpers to act between the pages of a listing (the emulator's ``on_list_page`` hook)."""

from __future__ import annotations

import time

from tests.helpers.sync import SyncSetup, make_setup

DAY = 86400.0


class Clock:
    """The engine's clock; moved a day on to make a feed-mode pass a true-up listing."""

    def __init__(self):
        self.shift = 0.0

    def __call__(self) -> float:
        return time.time() + self.shift


def start(make_emulator, tmp_path, files_com: bool, files: dict[str, bytes]) -> tuple[
        SyncSetup, Clock]:
    s = make_setup(make_emulator, tmp_path, emu_opts={"files_com": files_com})
    for path, data in files.items():
        s.emu.other.write("/docs/" + path, data)
    clock = Clock()
    r = s.sync(now=clock)
    assert r.exit_code == 0, s.output
    assert s.local_tree() == s.remote_tree()
    s.emu.advance_clock(30)  # then a quiet pass: that activity lies behind the feed cursor
    assert s.sync(now=clock).exit_code == 0, s.output
    s.emu.advance_clock(30)
    return s, clock


def after_page(s: SyncSetup, offset: int, action, folder: str = "/docs") -> list:
    """Run ``action`` once, right after the page at ``offset`` of a search of ``folder``
    was read (the client's next page sees the change)."""
    fired: list = []

    def hook(page):
        if not fired and page.folder == folder and page.name and page.offset == offset:
            fired.append(page)
            action()

    s.emu.on_list_page(hook)
    return fired


def listing_pass(s: SyncSetup, clock: Clock, files_com: bool):
    """One pass that lists /docs in full: in feed mode the daily true-up."""
    if not files_com:
        clock.shift += DAY + 60
    s.emu.clear_request_log()
    r = s.sync(now=clock)
    return r, list(s.emu.request_log)


def flat(n: int, fmt: str = "f{:03}.txt") -> dict[str, bytes]:
    return {fmt.format(i): b"%d" % i for i in range(n)}
