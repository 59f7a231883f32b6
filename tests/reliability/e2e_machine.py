"""The randomized two-sided end-to-end machine (issue 5, item 2).

One *sequence* = one seed. From the seed alone it draws: a fresh emulator (with or
without the activity feed), trees on both sides, then a list of steps: user
operations on the local folder (real files in a temp dir) and on the server (as
another user, straight into the emulator's store), and sync runs of the real
engine over real HTTP. A sync run may be disturbed: emulator faults (500, 503,
reset connections, truncated bodies, latency), a transaction budget that runs
out mid-pass, a simulated crash at a named or random crash point
(``syncd.crashpoints``), or a user edit made *during* a transfer. Then the faults
stop and syncs run until nothing is left to do, and the checks run:

In about half the sequences (``listing``, off for the REGRESSIONS, whose draws
must not change) the client pages listings ``LISTING_PAGE`` items at a time and
a user may act *between two pages of a listing* (the emulator's
``on_list_page`` callback): the shifting offsets of a live tree (issue 16,
item 2). Those acts draw from their own random stream.


R1  local = remote (conflict copies included), and the index agrees with both;
R2  every version a user wrote exists on both sides, unless a user deleted or
    overwrote it (a user's delete/overwrite "supersedes" the version it removed);
R3  a version a user deleted does not come back, unless the other side's user
    moved or touched (re-uploaded) it meanwhile: both are updates there, and an
    update beats a delete;
R13 one more sync makes no transfer and no change on either side.

A crash here is in-process: the crash hook raises ``SimulatedCrash`` (a
BaseException nothing in syncd catches); the engine is dropped and the next sync
starts from what is on disk, in the index and on the server. ``finally`` blocks
do run, which a real kill does not allow: ``tests/reliability/test_crash_kill9.py`` covers
that with SIGKILL at the same named points.

Every failure names its seed; ``python -m tests.reliability.e2e_machine --seed N -v``
replays it and prints the steps. ``--count``/``--start``/``--jobs`` run many
(the soak). Determinism: the steps, the faults (seeded in the emulator, one
transfer at a time) and the crash moments are functions of the seed; only
wall-clock details (mtime granularity, server timestamps) are not.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import io
import os
import random
import shutil
import sys
import tempfile
import time
import traceback
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from syncd import crashpoints, model, session as session_mod

from syncd.transfer import worker as worker_mod
from syncd.config.loader import load_config
from syncd.emulators.exavault import Emulator, Invalid, NotFound
from syncd.engine import SyncEngine
from syncd.state.index import Index
from syncd.remote.exavault import api as exavault_api
from syncd.remote.exavault.api import ExaVaultClient, RetryPolicy
from syncd.report import Reporter

API_KEY = "machine-api-key-3c1d"
ACCESS_TOKEN = "machine-token-77e0"
MIRROR = "m"
NAMES = ["a", "b", "c.txt", "d.txt", unicodedata.normalize("NFD", "é.md")]
SIZES = [12, 40, 40, 300, 4096]
FAST_RETRY = RetryPolicy(attempts=4, total_seconds=5.0, initial_backoff=0.001,
                         max_backoff=0.01, jitter=0.0)
STREAM = False  # set by main(): print failures and progress as they come
QUIESCE_LIMIT = 6  # syncs allowed after the faults stop (the last one must be idle)
LISTING_PAGE = 3  # the client's page size in sequences where users act between pages


class SimulatedCrash(BaseException):
    """Raised by the crash hook: the syncing process 'dies' here."""


class Violation(AssertionError):
    pass


def nfc(p: str) -> str:
    return unicodedata.normalize("NFC", p)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass
class Stats:
    steps: int = 0
    syncs: int = 0
    crashes: int = 0
    faulted_syncs: int = 0
    squeezed_syncs: int = 0
    mid_transfer_edits: int = 0
    quiesce_syncs: int = 0
    max_quiesce: int = 0      # most syncs one sequence needed after the faults stopped
    forced: int = 0
    conflicts: int = 0
    listing_acts: int = 0     # user steps taken between two pages of a listing


@dataclass
class Oracle:
    """What the users did: versions written, superseded, deleted, kept alive.

    ``deleted`` and ``kept`` are per replica ("side"): the remote, and each host's
    local folder ("local" when there is one host). A user acts on what their own
    replica shows, so a delete or overwrite only supersedes versions that replica
    had seen (they are read from its tree at that moment): causality comes free.
    """

    written: set[bytes] = field(default_factory=set)
    superseded: set[bytes] = field(default_factory=set)
    deleted: dict[str, set[bytes]] = field(default_factory=dict)
    kept: dict[str, set[bytes]] = field(default_factory=dict)


HOST_NAMES = ["laptop", "server", "desk"]  # engine host names: conflicted copies carry them
TRASH_DIR = "/.syncd-trash"  # the config's default remote_trash


@dataclass
class Host:
    """One syncd instance: its own local folder, state dir (index, local trash)
    and config; every host syncs the same remote folder of the same account."""

    side: str        # the replica's label in the log and the oracle
    name: str        # SyncEngine(host=...)
    root: Path
    state: Path
    config: object


class Sequence:
    def __init__(self, seed: int, workdir: Path, *, verbose: bool = False, hosts: int = 1,
                 listing: bool = True):
        self.seed = seed
        self.nhosts = hosts
        # one host keeps the draws the seeds always had (REGRESSIONS replay the same)
        self.rng = random.Random(seed if hosts == 1 else f"hosts{hosts}:{seed}")
        self.dir = workdir
        self.verbose = verbose
        self.log: list[str] = []
        self.stats = Stats()
        self.oracle = Oracle()
        self.counter = 0
        self.origin: dict[bytes, str] = {}
        self.recent: list[tuple[str, str, str, str]] = []  # (side, op, key, to key)  # version -> "side path" it was first written as
        self.clock = time.time()
        self.files_com = self.rng.random() < 0.3
        # Acts between the pages of a listing draw from their own stream: the main
        # draws (and so every sequence without such acts) stay what they were.
        self.list_rng = random.Random(f"listing:{hosts}:{seed}")
        self.listing = listing and self.list_rng.random() < 0.5
        self.emu = Emulator(workdir / "server", api_key=API_KEY, access_token=ACCESS_TOKEN,
                            files_com=self.files_com, seed=seed).start()
        if hosts == 1:
            self.hosts = [self._host("local", "sim", workdir)]
        else:
            self.hosts = [self._host(n, n, workdir / n) for n in HOST_NAMES[:hosts]]
        self.by_side = {h.side: h for h in self.hosts}
        self.sides = [h.side for h in self.hosts] + ["remote"]
        for side in self.sides:
            self.oracle.deleted[side] = set()
            self.oracle.kept[side] = set()
        self._hook_plan: tuple | None = None
        self._syncing: Host | None = None
        self._page_acts = 0  # acts still allowed in this sync
        if self.listing:
            self.emu.on_list_page(self._between_pages)

    def _host(self, side: str, name: str, base: Path) -> Host:
        root, state = base / "home" / MIRROR, base / "state"
        root.mkdir(parents=True)
        cfg = {
            "account": {"url": self.emu.url, "api_key": API_KEY, "access_token": ACCESS_TOKEN},
            "state_dir": str(state),
            "mirrors": [{"name": MIRROR, "local": str(root), "remote": "/" + MIRROR,
                         "transfers": 1, "max_delete": "100%",
                         # (with the feed, a true-up listing now and then: acts
                         # between its pages)
                         **({"full_scan_interval": "1h"} if self.listing else {})}],
        }
        path = base / "config.yaml"
        path.write_text(yaml.safe_dump(cfg, allow_unicode=True), encoding="utf-8")
        os.chmod(path, 0o600)
        return Host(side, name, root, state, load_config(path))

    def close(self) -> None:
        crashpoints.set_hook(None)
        self.emu.stop()

    def note(self, text: str) -> None:
        self.log.append(text)
        if self.verbose:
            print(f"  {text}", flush=True)

    # ------------------------------------------------------------------ content

    def new_version(self) -> bytes:
        self.counter += 1
        head = f"<{self.seed}:{self.counter}>".encode()
        size = max(len(head), self.rng.choice(SIZES) if self.rng.random() > 0.02 else 150_000)
        data = head + bytes(self.rng.getrandbits(8) for _ in range(min(size - len(head), 64)))
        data = data.ljust(size, b".")
        self.oracle.written.add(data)
        return data

    # ------------------------------------------------------------------ the two trees

    def local_tree(self, side: str = "local") -> dict[str, bytes | None]:
        root = self.by_side[side].root
        out: dict[str, bytes | None] = {}
        for dirpath, dirnames, filenames in os.walk(root):
            rel = os.path.relpath(dirpath, root)
            for d in dirnames:
                out[os.path.normpath(os.path.join(rel, d))] = None
            for f in filenames:
                out[os.path.normpath(os.path.join(rel, f))] = \
                    Path(dirpath, f).read_bytes()
        return out

    def remote_tree(self) -> dict[str, bytes | None]:
        root = "/" + MIRROR + "/"
        out: dict[str, bytes | None] = {}
        for path, res in self.emu.other.tree().items():
            if path.startswith(root):
                out[path[len(root):]] = (None if res["attributes"]["type"] == "dir"
                                         else self.emu.other.read(path))
        return out

    def _contents(self, tree: dict[str, bytes | None], under: str) -> set[bytes]:
        return {c for p, c in tree.items()
                if c is not None and (p == under or p.startswith(under + "/"))}

    # ------------------------------------------------------------------ user operations

    def tree(self, side: str) -> dict[str, bytes | None]:
        return self.remote_tree() if side == "remote" else self.local_tree(side)

    def user_op(self, side: str) -> None:
        """One user operation on replica ``side`` (a host's local folder or the
        remote, as a web-UI user), chosen from what that replica shows now."""
        tree = self.tree(side)
        tree = {p: c for p, c in tree.items()  # users leave syncd's temp files alone
                if not model.name(p).startswith(".syncd-")}
        dirs = [""] + sorted(p for p, c in tree.items() if c is None)
        files = sorted(p for p, c in tree.items() if c is not None)
        everything = sorted(tree)
        taken = {nfc(p) for p in tree}  # users do not make two names that differ only
        # in Unicode normalisation (syncd syncs one of them and notes the other)
        ops = ["create"] * 4 + ["edit"] * 4 + ["mkdir", "delete", "delete", "move", "move",
                                               "touch", "rekind"]
        if self.nhosts > 1:  # (one host keeps the draws its seeds always had)
            ops += ["same"] * 2
        op = self.rng.choice(ops)
        name = self.rng.choice(NAMES)
        if side == "remote":
            name = nfc(name)
        try:
            if op == "create" or (op == "edit" and not files):
                d = self.rng.choice(dirs)
                p = f"{d}/{name}" if d else name
                if nfc(p) in taken:
                    return
                self._write(side, p, self.new_version(), new=True)
            elif op == "mkdir":
                d = self.rng.choice(dirs)
                p = f"{d}/{name}" if d else name
                if nfc(p) in taken:
                    return
                self._mkdir(side, p)
                self.recent.append((side, "mkdir", nfc(p), ""))
            elif op == "same":
                self._same(side, tree)
            elif op == "edit":
                p = self.rng.choice(files)
                self.oracle.superseded.add(tree[p])
                self._write(side, p, self.new_version(), new=False)
            elif op == "touch" and files:
                p = self.rng.choice(files)
                self._touch(side, p, tree[p])
            elif op == "delete" and everything:
                p = self.rng.choice(everything)
                gone = self._contents(tree, p)
                self.oracle.superseded |= gone
                self.oracle.deleted[side] |= gone
                self._delete(side, p, tree[p] is None)
                self.recent.append((side, "delete", nfc(p), ""))
            elif op == "move" and everything:
                src = self.rng.choice(everything)
                d = self.rng.choice(dirs)
                dst = f"{d}/{name}" if d else name
                if nfc(dst) in taken or dst == src or dst.startswith(src + "/"):
                    return
                self.oracle.kept[side] |= self._contents(tree, src)
                self._move(side, src, dst)
                self.recent.append((side, "move", nfc(src), nfc(dst)))
            elif op == "rekind" and everything:
                p = self.rng.choice(everything)
                gone = self._contents(tree, p)
                self.oracle.superseded |= gone
                self.oracle.deleted[side] |= gone
                self._delete(side, p, tree[p] is None)
                if tree[p] is None:
                    self._write(side, p, self.new_version(), new=True)
                else:
                    self._mkdir(side, p)
        except (OSError, ValueError, LookupError, Invalid, NotFound) as exc:
            # the world changed under the user (e.g. inside a hook): that op did not happen
            self.note(f"{side} {op}: not done ({type(exc).__name__}: {exc})")

    def _same(self, side: str, tree: dict[str, bytes | None]) -> None:
        """Several hosts only: this replica's user makes a move, delete or mkdir
        another replica's user made recently (two people tidying one shared folder;
        issue 16 item 4), if it still applies to what this replica shows."""
        theirs = [r for r in self.recent[-8:] if r[0] != side]
        if not theirs:
            return
        _, op, a, b = self.rng.choice(theirs)
        here = {nfc(p): p for p in tree}

        def folder(key: str) -> str | None:  # this replica's spelling of a folder key
            if key == "":
                return ""
            return here[key] if key in here and tree[here[key]] is None else None

        if op == "delete" and a in here:
            p = here[a]
            gone = self._contents(tree, p)
            self.oracle.superseded |= gone
            self.oracle.deleted[side] |= gone
            self._delete(side, p, tree[p] is None)
        elif op == "mkdir" and a not in here and folder(model.parent(a)) is not None:
            self._mkdir(side, model.join(folder(model.parent(a)), model.name(a)))
        elif op == "move" and a in here and b not in here and not b.startswith(a + "/") \
                and folder(model.parent(b)) is not None:
            src = here[a]
            self.oracle.kept[side] |= self._contents(tree, src)
            self._move(side, src, model.join(folder(model.parent(b)), model.name(b)))
        else:
            return
        self.note(f"  (the same {op} as another user's)")

    def _abs(self, side: str, p: str) -> Path:
        return self.by_side[side].root / p

    def _remote(self, p: str) -> str:
        return f"/{MIRROR}/{p}"

    def _write(self, side: str, p: str, data: bytes, *, new: bool) -> None:
        self.origin.setdefault(data, f"{side} {p}")
        if side != "remote":
            target = self._abs(side, p)
            if not new and self.rng.random() < 0.5:  # an editor's atomic save
                tmp = target.with_name(f".~{target.name}.tmp")
                tmp.write_bytes(data)
                os.replace(tmp, target)
                how = "atomic"
            else:
                with open(target, "wb") as f:
                    f.write(data)
                how = "in place"
            self.note(f"{side} {'create' if new else 'edit'} {p} ({len(data)} B, {how})")
        else:
            self.emu.advance_clock(1.1)  # updatedAt has 1 s resolution: keep edits apart
            self.emu.other.write(self._remote(p), data, overwrite=True)
            self.note(f"remote {'create' if new else 'edit'} {p} ({len(data)} B)")

    def _mkdir(self, side: str, p: str) -> None:
        if side != "remote":
            os.mkdir(self._abs(side, p))
        else:
            self.emu.advance_clock(1.1)
            self.emu.other.mkdir(self._remote(p))
        self.note(f"{side} mkdir {p}")

    def _touch(self, side: str, p: str, data: bytes) -> None:
        if side != "remote":
            st = os.stat(self._abs(side, p))
            os.utime(self._abs(side, p), ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
        else:  # the same bytes uploaded again: a new updatedAt, an update for us
            self.emu.advance_clock(1.1)
            self.emu.other.write(self._remote(p), data, overwrite=True)
            self.oracle.kept[side].add(data)
        self.note(f"{side} touch {p}")

    def _delete(self, side: str, p: str, is_dir: bool) -> None:
        if side != "remote":
            if is_dir:
                shutil.rmtree(self._abs(side, p))
            else:
                os.unlink(self._abs(side, p))
        else:
            self.emu.advance_clock(1.1)
            self.emu.other.delete(self._remote(p))
        self.note(f"{side} delete {p}")

    def _move(self, side: str, src: str, dst: str) -> None:
        if side != "remote":
            os.rename(self._abs(side, src), self._abs(side, dst))
        else:
            self.emu.advance_clock(1.1)
            src_parent, dst_parent = model.parent(src), model.parent(dst)
            path = self._remote(src)
            if src_parent != dst_parent:
                moved = self.emu.other.move(path, self._remote(dst_parent) if dst_parent
                                            else "/" + MIRROR)
                path = moved["attributes"]["path"]
            if model.name(src) != model.name(dst):
                self.emu.other.rename(path, model.name(dst))
        self.note(f"{side} move {src} -> {dst}")

    # ------------------------------------------------------------------ syncing

    def _hook(self, point: str) -> None:
        plan = self._hook_plan
        if plan is None:
            return
        kind, want, left = plan
        if want not in ("*", point):
            return
        if left > 1:
            self._hook_plan = (kind, want, left - 1)
            return
        self._hook_plan = None
        if kind == "crash":
            self.stats.crashes += 1
            self.note(f"  crash at {point}")
            self._crash_exempt(self._syncing)
            raise SimulatedCrash(point)
        self.stats.mid_transfer_edits += 1
        self.note(f"  during {point}:")
        self.during(point)

    def _between_pages(self, page) -> None:
        """The emulator served one page of a listing and another follows: a user
        may act now (on the emulator's request thread, while the engine waits for
        the answer; one transfer at a time, so nothing else runs meanwhile)."""
        if self._page_acts <= 0 or page.offset + page.returned >= page.total:
            return
        if self.list_rng.random() >= 0.6:
            return
        self._page_acts -= 1
        self.stats.listing_acts += 1
        self.note(f"  between pages of the listing of {page.folder} "
                  f"(after {page.offset + page.returned} of {page.total}):")
        main, self.rng = self.rng, self.list_rng
        try:
            self.during("list.page")
        finally:
            self.rng = main

    def during(self, point: str) -> None:
        """A user acts while a pass is at ``point``: on the syncing host's folder, on
        another host's folder, or on the server (a web-UI user). A new moment (for
        example an emulator callback between the pages of a listing) only needs to
        call this with its own point name.

        Not a server edit during an upload: with no conditional upload in the API,
        a server edit of the very file being overwritten, made while its body is
        in flight, is lost (RELIABILITY.md, "known limits"). Everything else is."""
        upload = point.startswith("upload")
        if self.nhosts == 1:
            self.user_op(self.rng.choice(["local"] if upload else ["local", "remote"]))
            return
        me = self._syncing.side
        others = [s for s in self.sides if s not in (me, "remote")]
        self.user_op(self.rng.choice([me, me] + others + ([] if upload else ["remote"] * 2)))

    def _crash_exempt(self, host: Host, *, unanswered: bool = False) -> None:
        """R3's one exception (Unison has it too): a version copied to the other
        side by the crashed pass but not yet recorded in the index looks new to
        the next pass; if its copy was deleted in between, it is copied again.
        Such versions are those present on either side (the host's folder or the
        server) and absent from that host's base.

        ``unanswered``: the same after a pass that ended with failures, narrowed to
        a version at the same path on both sides. An upload whose answer was lost
        is settled by a stat, but the stat cannot tell when our version has the
        size of the one it replaced and landed within the same second (limit 2 in
        RELIABILITY.md; soak seed 6856). Or a version the host's folder has at one
        path and the server under a conflicted-copy name: an upload that landed
        under another name (someone created ours meanwhile) is set aside on the
        server, then locally; when that move's answer is lost and so is the stat
        that settles it, nothing proves the server's copy is ours (seed 159 once
        downloads are followed by a stat: the budget and fault draws shift)."""
        index = Index(host.state / "index.sqlite3")
        try:
            recorded = {b.sha256 for b in index.base(MIRROR).values()}
        finally:
            index.close()
        local, remote = self.local_tree(host.side), self.remote_tree()
        if unanswered:
            versions = [c for p, c in local.items() if c is not None and remote.get(p) == c]
            asides = {c for p, c in remote.items() if c is not None and "(conflicted copy " in p}
            versions += [c for c in local.values() if c is not None and c in asides]
        else:
            versions = [c for tree in (local, remote) for c in tree.values() if c is not None]
        for c in versions:
            if sha(c) not in recorded:
                for side in self.sides:
                    self.oracle.kept[side].add(c)

    def _asides_are_updates(self, host: Host) -> None:
        """Several hosts only: a version one host's pass renamed aside into a
        conflicted copy (on the server, or locally and then uploaded) is, for every
        other host, a remote move or a new file: an update, which beats that host's
        concurrent delete of the version (seeds 22 and 25 with 3 hosts at 8f7ce42,
        before the repeat step changed the draws: desk deletes
        c.txt, laptop's pass renames the server's c.txt aside because laptop made a
        folder c.txt; desk then gets the copy back). So such a version is kept alive
        like one a user moved. Users never make "(conflicted copy " names."""
        for tree in (self.remote_tree(), self.local_tree(host.side)):
            for p, c in tree.items():
                if c is not None and "(conflicted copy " in p:
                    for side in self.sides:
                        self.oracle.kept[side].add(c)

    def sync(self, *, chaos: bool, force: bool = False, host: Host | None = None):
        host = host or self.hosts[0]
        self._syncing = host
        self.stats.syncs += 1
        if self.nhosts > 1:
            # Each pass in its own server second: a host's upload of the same size in
            # the second another host last saw is invisible to it (known limit 2).
            self.emu.advance_clock(1.1)
        faults = chaos and self.rng.random() < 0.35
        squeeze = chaos and self.rng.random() < 0.1
        self._hook_plan = None
        self._page_acts = self.list_rng.choice([1, 1, 2, 3]) if chaos and self.listing else 0
        if chaos and self.rng.random() < 0.3:
            point = self.rng.choice(("*",) * 4 + crashpoints.POINTS)
            self._hook_plan = ("crash", point, self.rng.randint(1, 6))
        elif chaos and self.rng.random() < 0.2:
            point = self.rng.choice(["upload.body", "upload.start", "download.fetched",
                                     "download.body", "pass.queued", "move.remote.done"])
            self._hook_plan = ("edit", point, 1)
        if faults:
            self.stats.faulted_syncs += 1
            rate = self.rng.choice([0.05, 0.15, 0.3])
            self.emu.set_faults(rate, seed=self.rng.getrandbits(32))
            if self.rng.random() < 0.2:
                self.emu.set_latency(self.rng.choice([1, 5]))
        if squeeze:
            self.stats.squeezed_syncs += 1
            self.emu.set_transaction_limit(self.emu.transactions_used + self.rng.randint(1, 12))
        desc = ", ".join(x for x in (
            f"faults {self.emu.faults.rate:.2f}" if faults else "",
            "budget squeezed" if squeeze else "",
            f"{self._hook_plan[0]} at {self._hook_plan[1]}#{self._hook_plan[2]}"
            if self._hook_plan else "",
            "force" if force else "") if x)
        who = f"{host.side} " if self.nhosts > 1 else ""
        self.note(f"{who}sync{' (' + desc + ')' if desc else ''}")
        crashpoints.set_hook(self._hook)
        eng = SyncEngine(host.config, host=host.name, now=lambda: self.clock,
                         reporter=Reporter(io.StringIO(), fancy=False))
        try:
            result = eng.run(force=force)
        except SimulatedCrash:
            return None
        finally:
            if self.nhosts > 1:
                self._asides_are_updates(host)
            crashpoints.set_hook(None)
            self._hook_plan = None
            self.emu.set_faults(0.0)
            self.emu.set_latency(0)
            if squeeze:
                self.emu.set_transaction_limit(120000)
        r = result.mirrors[0] if result.mirrors else None
        if r is not None and (r.failed or r.deferred):
            self._crash_exempt(host, unanswered=True)
        self.note(f"  -> exit {result.exit_code} {dict(r.counts) if r else ''}"
                  f"{' ' + result.message if result.message else ''}")
        if r is not None:
            self.stats.conflicts += r.counts.get("conflicts", 0)
        return result

    def quiesce(self) -> None:
        """Sync every host in turn (round-robin) until a whole round does nothing;
        with one host a round is one sync."""
        force = {h.side: False for h in self.hosts}
        for i in range(QUIESCE_LIMIT):
            idle = True
            for host in self.hosts:
                self.clock += 26 * 3600  # every backoff and budget window has passed
                self.stats.quiesce_syncs += 1
                result = self.sync(chaos=False, force=force[host.side], host=host)
                r = result.mirrors[0]
                if r.guard or "--force" in (r.error or ""):
                    # The user confirms the deletions, or that a folder emptied on one
                    # side (a distrusted view: the mirror did nothing) is right.
                    force[host.side] = True  # (`syncd sync --force`)
                    self.stats.forced += 1
                    idle = False
                elif not (result.exit_code == 0 and not r.counts and not r.failed):
                    idle = False
            if idle:
                self.stats.max_quiesce = max(self.stats.max_quiesce, i + 1)
                return
        what = "syncs" if self.nhosts == 1 else "rounds of all hosts"
        raise Violation(f"no quiescence after {QUIESCE_LIMIT} {what} without faults: "
                        f"exit {result.exit_code} {result.message}")

    # ------------------------------------------------------------------ the checks

    def whereabouts(self, v: bytes) -> str:
        """Where a lost version is, for the failure message (a trash is not a tree)."""
        places = []
        for h in self.hosts:
            for dirpath, _, filenames in os.walk(h.state):
                for f in filenames:
                    path = Path(dirpath, f)
                    if path.stat().st_size == len(v) and path.read_bytes() == v:
                        places.append(f"{h.side} trash {path.relative_to(h.state)}")
        for path, res in self.emu.other.tree().items():
            if path.startswith(TRASH_DIR + "/") and res["attributes"]["type"] != "dir" \
                    and self.emu.other.read(path) == v:
                places.append(f"remote trash {path}")
        return (f"{v[:24]!r} written as {self.origin.get(v, '?')}, now in "
                f"{', '.join(places) or 'no trash'}")

    def check(self) -> None:
        remote = self.remote_tree()
        rn = {nfc(p): c for p, c in remote.items()}
        trees = {}
        for host in self.hosts:
            local = trees[host.side] = self.local_tree(host.side)
            self._check_host(host, {nfc(p): c for p, c in local.items()}, rn)
        present = {c for c in rn.values() if c is not None}
        lost = self.oracle.written - self.oracle.superseded - present
        if lost:
            raise Violation(f"R2 lost {len(lost)} version(s): "
                            + "; ".join(sorted(self.whereabouts(v) for v in lost)))
        for side in self.sides:
            kept_elsewhere = set().union(*(self.oracle.kept[o] for o in self.sides
                                           if o != side))
            back = (self.oracle.deleted[side] - kept_elsewhere) & present
            if back:
                raise Violation(f"R3 deleted on {side}, back again: "
                                f"{sorted(v[:24] for v in back)}")
        # R13: an idle sync transfers and changes nothing
        for host in self.hosts:
            self.emu.clear_request_log()
            self.clock += 3600
            result = self.sync(chaos=False, host=host)
            r = result.mirrors[0]
            writes = [f"{x.method} {x.path}" for x in self.emu.request_log
                      if x.method != "GET" or "download" in x.path]
            who = f" on {host.side}" if self.nhosts > 1 else ""
            if result.exit_code != 0 or r.counts or writes:
                raise Violation(f"R13 idle sync{who} did work: exit {result.exit_code} "
                                f"{dict(r.counts)} {writes}")
            if self.local_tree(host.side) != trees[host.side]:
                raise Violation(f"R13 idle sync{who} changed the local folder")

    def _check_host(self, host: Host, ln: dict, rn: dict) -> None:
        """R1 for one host: its folder = the server's, and its index agrees."""
        side = "local" if self.nhosts == 1 else host.side
        if ln != rn:
            only_l = sorted(set(ln) - set(rn))
            only_r = sorted(set(rn) - set(ln))
            differ = sorted(p for p in set(ln) & set(rn) if ln[p] != rn[p])
            raise Violation(f"R1 {side} != remote: only {side} {only_l}, only remote {only_r}, "
                            f"different {differ}")
        index = Index(host.state / "index.sqlite3")
        try:
            base = index.base(MIRROR)
            if index.queue_count(MIRROR):
                raise Violation(f"R1 the queue{'' if self.nhosts == 1 else ' of ' + side} "
                                "is not empty after quiescence")
        finally:
            index.close()
        who = "" if self.nhosts == 1 else f" of {side}"
        if set(base) != set(ln):
            raise Violation(f"R1 index{who} != trees: index only {sorted(set(base) - set(ln))}, "
                            f"trees only {sorted(set(ln) - set(base))}")
        for k, b in base.items():
            c = ln[k]
            if (b.kind == model.DIR) != (c is None):
                raise Violation(f"R1 index{who} kind of {k!r} is {b.kind}")
            if c is not None and (b.sha256 != sha(c) or b.size != len(c)
                                  or b.remote_size != len(c)):
                raise Violation(f"R1 index{who} row of {k!r} does not match the files")

    # ------------------------------------------------------------------ the sequence

    def run(self) -> Stats:
        if self.nhosts > 1:
            return self.run_hosts()
        rng = self.rng
        self.note(f"seed {self.seed}: {'Files.com (no feed)' if self.files_com else 'feed'}")
        for _ in range(rng.randint(0, 4)):
            self.user_op("local")
        for _ in range(rng.randint(0, 4)):
            self.user_op("remote")
        for _ in range(rng.randint(4, 24)):
            self.stats.steps += 1
            roll = rng.random()
            if roll < 0.38:
                self.user_op("local")
            elif roll < 0.72:
                self.user_op("remote")
            else:
                self.clock += rng.choice([1, 60, 4000])
                self.sync(chaos=True)
        self.quiesce()
        self.check()
        return self.stats

    def run_hosts(self) -> Stats:
        """Several hosts, one remote folder: user steps on any host's folder or on
        the server, interleaved with syncs of any host."""
        rng = self.rng
        self.note(f"seed {self.seed}, {self.nhosts} hosts "
                  f"({', '.join(h.side for h in self.hosts)}): "
                  f"{'Files.com (no feed)' if self.files_com else 'feed'}")
        for side in self.sides:
            for _ in range(rng.randint(0, 3)):
                self.user_op(side)
        for _ in range(rng.randint(6, 30)):
            self.stats.steps += 1
            if rng.random() < 0.55:
                self.user_op(rng.choice(self.sides))
            else:
                self.clock += rng.choice([1, 60, 4000])
                self.sync(chaos=True, host=rng.choice(self.hosts))
        self.quiesce()
        self.check()
        return self.stats


def run_one(seed: int, *, verbose: bool = False, keep: bool = False,
            hosts: int = 1, listing: bool = True) -> tuple[Stats, str | None]:
    """Run sequence ``seed`` (with ``hosts`` syncd instances; ``listing``: users may
    act between the pages of a listing); returns (stats, None) or (stats, failure
    text)."""
    old = session_mod.ExaVaultClient
    session_mod.ExaVaultClient = functools.partial(ExaVaultClient, retry=FAST_RETRY)
    old_delay, worker_mod.RETRY_DELAY = worker_mod.RETRY_DELAY, 0.001  # in-pass retries too
    old_page = exavault_api.PAGE_LIMIT
    tmp = tempfile.mkdtemp(prefix=f"syncd-e2e-{seed}-")
    hosts_arg = f" --hosts {hosts}" if hosts > 1 else ""
    seq = None
    try:
        seq = Sequence(seed, Path(tmp), verbose=verbose, hosts=hosts, listing=listing)
        if seq.listing:
            exavault_api.PAGE_LIMIT = LISTING_PAGE
            seq.note(f"listings paged {LISTING_PAGE} at a time; users act between pages")
        stats = seq.run()
        if seq.emu.list_page_errors:  # an act between pages failed: the machine's bug
            raise seq.emu.list_page_errors[0]
        return stats, None
    except (Violation, Exception) as exc:  # noqa: BLE001 - every failure is reported with its seed
        text = "".join(traceback.format_exception(exc)) if not isinstance(exc, Violation) \
            else f"{exc}\n"
        steps = "\n".join(seq.log) if seq else ""
        return (seq.stats if seq else Stats()), (
            f"seed {seed}{hosts_arg} FAILED: {text}"
            f"replay: python -m tests.reliability.e2e_machine{hosts_arg} --seed {seed} -v\n"
            f"steps:\n{steps}")
    finally:
        session_mod.ExaVaultClient = old
        worker_mod.RETRY_DELAY = old_delay
        exavault_api.PAGE_LIMIT = old_page
        if seq is not None:
            seq.close()
        if not keep:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print(f"kept {tmp}")


def _worker(args):
    global STREAM
    start, count, STREAM, hosts = args
    failures, totals = [], Stats()
    for seed in range(start, start + count):
        stats, failure = run_one(seed, hosts=hosts)
        _add(totals, stats)
        if failure:
            failures.append(failure)
            if STREAM:  # a soak tells each failure at once (it may be stopped early)
                print(failure.split("\nsteps:")[0], flush=True)
        if STREAM and (seed - start + 1) % 500 == 0:
            print(f"[{start}..] {seed - start + 1} of {count} done, "
                  f"{len(failures)} failed", flush=True)
    return failures, totals


def run_many(start: int, count: int, jobs: int = 1,
             hosts: int = 1) -> tuple[list[str], Stats]:
    if jobs <= 1:
        return _worker((start, count, STREAM, hosts))
    import multiprocessing

    per = -(-count // jobs)
    chunks = [(start + i * per, min(per, count - i * per), STREAM, hosts) for i in range(jobs)
              if count - i * per > 0]
    with multiprocessing.get_context("spawn").Pool(len(chunks)) as pool:
        parts = pool.map(_worker, chunks)
    failures, totals = [], Stats()
    for f, s in parts:
        failures += f
        _add(totals, s)
    return failures, totals


def _add(totals: Stats, stats: Stats) -> None:
    for k, v in stats.__dict__.items():
        setattr(totals, k, max(getattr(totals, k), v) if k.startswith("max_")
                else getattr(totals, k) + v)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tests.reliability.e2e_machine",
                                 description="Randomized two-sided sync sequences (R1 R2 R3 R13).")
    ap.add_argument("--seed", type=int, help="replay one sequence")
    ap.add_argument("--start", type=int, default=0, help="first seed of a run")
    ap.add_argument("--count", type=int, default=200, help="number of sequences")
    ap.add_argument("--jobs", type=int, default=1, help="processes")
    ap.add_argument("--hosts", type=int, default=1, choices=(1, 2, 3),
                    help="syncd instances sharing the remote folder (default 1)")
    ap.add_argument("-v", "--verbose", action="store_true")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir of --seed")
    ap.add_argument("--no-listing-acts", action="store_true",
                    help="--seed as the REGRESSIONS replay it: no user acts between pages")
    args = ap.parse_args(argv)
    if args.seed is not None:
        stats, failure = run_one(args.seed, verbose=args.verbose, keep=args.keep,
                                 hosts=args.hosts, listing=not args.no_listing_acts)
        print(failure or f"seed {args.seed} ok: {stats}")
        return 1 if failure else 0
    global STREAM
    STREAM = True
    t0 = time.monotonic()
    failures, totals = run_many(args.start, args.count, args.jobs, args.hosts)
    took = time.monotonic() - t0
    for f in failures:
        print(f.split("\nsteps:")[0])
    print(f"{args.count} sequences{f' with {args.hosts} hosts' if args.hosts > 1 else ''} (seeds {args.start}..{args.start + args.count - 1}), "
          f"{len(failures)} failed, {took:.0f} s; totals: {totals}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
