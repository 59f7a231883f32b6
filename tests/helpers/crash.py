"""Helpers for the kill -9 tests (tests/reliability/test_crash_kill9.py).

A :class:`World` wraps a :class:`~tests.helpers.sync.SyncSetup` and remembers
every version of every file a user wrote (on either side), which of them must
survive, and what users deleted or moved away. The checks after a crash are:

(a) every file at a user-visible name, on either side, holds exactly the bytes
    of some version a user wrote (never a prefix or a mix); ``.syncd-*.part``
    temp files are tolerated right after the crash, never after the next run;
(b) ``PRAGMA integrity_check`` on the index is ``ok``;
(c) the next run exits 0 and converges (local tree == remote tree, every
    surviving version on both sides, nothing deleted comes back) and a run
    after that sends no transfer, move, delete or mkdir request.

Every version's bytes start with a unique tag followed by a separator, so a
truncated version or a splice of two versions cannot equal any version.
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from tests.helpers.sync import SyncSetup, make_setup

PART = ".syncd-*.part"
CRASH_ENV = "SYNCD_CRASH_AT"


def blob(tag: str, size: int) -> bytes:
    """``size`` bytes (at least the tag) that start with ``tag|`` and are otherwise
    pseudo-random, derived from the tag: distinct tags give unrelated contents."""
    head = f"<{tag}>|".encode()
    need = max(0, size - len(head))
    out = bytearray(head)
    seed = hashlib.sha256(head).digest()
    block = 0
    while len(out) < len(head) + need:
        out += hashlib.sha256(seed + block.to_bytes(8, "big")).digest()
        block += 1
    return bytes(out[:len(head) + need])


def _env(crash: str | None) -> dict:
    env = {k: v for k, v in os.environ.items() if k != CRASH_ENV}
    if crash:
        env[CRASH_ENV] = crash
    return env


def is_part(rel: str) -> bool:
    return fnmatch.fnmatch(os.path.basename(rel), PART)


TRANSFER_REQUESTS = (
    ("POST", "/resources/upload"),
    ("GET", "/resources/download"),
    ("POST", "/resources/move"),
    ("POST", "/resources/copy"),
    ("POST", "/resources"),      # mkdir
    ("PATCH", "/resources/"),    # rename
    ("DELETE", "/resources"),
)


def changing_requests(emu) -> list:
    """Requests in the emulator's log that move bytes or change the tree."""
    out = []
    for r in list(emu.request_log):
        path = r.path.split("/api/v2", 1)[-1]
        for method, prefix in TRANSFER_REQUESTS:
            if r.method != method:
                continue
            if prefix == "/resources" and method == "POST" and path.rstrip("/") != "/resources":
                continue
            if path.startswith(prefix):
                out.append((r.method, path, r.query))
                break
    return out


class World:
    """A sync setup plus the history of what users did to it."""

    def __init__(self, setup: SyncSetup, name: str = "w"):
        self.setup = setup
        self.emu = setup.emu
        self.name = name
        self._n = 0
        self.versions: set[bytes] = set()   # every version any user ever wrote
        self.alive: set[bytes] = set()      # versions that must survive
        self.gone: set[bytes] = set()       # versions a user deleted: must not come back
        self.gone_paths: set[str] = set()   # names a user deleted or moved away
        self.dirs: set[str] = set()         # folders that must exist at the end
        self.log: list[str] = []

    # --- users' actions ------------------------------------------------------

    def new(self, size: int = 64) -> bytes:
        self._n += 1
        data = blob(f"{self.name}-v{self._n}", size)
        self.versions.add(data)
        return data

    @property
    def local_root(self) -> Path:
        return self.setup.local()

    @property
    def remote_root(self) -> str:
        return self.setup.remote()

    def _retire(self, old: bytes | None) -> None:
        if old is not None:
            self.alive.discard(old)

    def local_write(self, rel: str, size: int = 64, data: bytes | None = None) -> bytes:
        data = data if data is not None else self.new(size)
        self.versions.add(data)
        p = self.local_root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        self._retire(p.read_bytes() if p.is_file() else None)
        p.write_bytes(data)
        self.alive.add(data)
        self.gone_paths.discard(rel)
        self.log.append(f"local write {rel} ({len(data)} B)")
        return data

    def remote_write(self, rel: str, size: int = 64, data: bytes | None = None) -> bytes:
        data = data if data is not None else self.new(size)
        self.versions.add(data)
        path = f"{self.remote_root}/{rel}"
        info = self.emu.other.info(path)
        self._retire(self.emu.other.read(path) if info is not None else None)
        self.emu.other.write(path, data)
        self.alive.add(data)
        self.gone_paths.discard(rel)
        self.log.append(f"remote write {rel} ({len(data)} B)")
        return data

    def local_delete(self, rel: str) -> None:
        p = self.local_root / rel
        data = p.read_bytes()
        p.unlink()
        self.alive.discard(data)
        self.gone.add(data)
        self.gone_paths.add(rel)
        self.log.append(f"local delete {rel}")

    def remote_delete(self, rel: str) -> None:
        path = f"{self.remote_root}/{rel}"
        data = self.emu.other.read(path)
        self.emu.other.delete(path)
        self.alive.discard(data)
        self.gone.add(data)
        self.gone_paths.add(rel)
        self.log.append(f"remote delete {rel}")

    def local_mkdir(self, rel: str) -> None:
        (self.local_root / rel).mkdir(parents=True, exist_ok=True)
        self.dirs.add(rel)
        self.log.append(f"local mkdir {rel}")

    def remote_mkdir(self, rel: str) -> None:
        self.emu.other.mkdir(f"{self.remote_root}/{rel}")
        self.dirs.add(rel)
        self.log.append(f"remote mkdir {rel}")

    def _under(self, src: str) -> set[str]:
        """Paths below ``src`` on either side (before a folder move: gone after it)."""
        keys = set(self.setup.local_tree()) | set(self.setup.remote_tree())
        return {p for p in keys if p.startswith(src + "/")}

    def local_move(self, src: str, dst: str) -> None:
        self.gone_paths |= self._under(src)
        d = self.local_root / dst
        d.parent.mkdir(parents=True, exist_ok=True)
        os.rename(self.local_root / src, d)
        self._moved(src, dst)
        self.log.append(f"local move {src} -> {dst}")

    def remote_move(self, src: str, dst: str) -> None:
        """A server-side move (new parent and/or new name), as the web UI does it."""
        self.gone_paths |= self._under(src)
        o = self.emu.other
        s, d = f"{self.remote_root}/{src}", f"{self.remote_root}/{dst}"
        sp, sn = s.rsplit("/", 1)
        dp, dn = d.rsplit("/", 1)
        if o.info(dp) is None:
            o.mkdir(dp)
        if sp != dp:
            o.move(s, dp)
        if sn != dn:
            o.rename(f"{dp}/{sn}", dn)
        self._moved(src, dst)
        self.log.append(f"remote move {src} -> {dst}")

    def _moved(self, src: str, dst: str) -> None:
        self.gone_paths.add(src)
        self.gone_paths.discard(dst)
        if src in self.dirs:
            self.dirs.discard(src)
            self.dirs.add(dst)
        self.dirs = {dst + d[len(src):] if d.startswith(src + "/") else d for d in self.dirs}

    # --- running syncd -----------------------------------------------------------

    def cli_sync(self, crash: str | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "syncd", "sync", "--config", str(self.setup.config_path)],
            capture_output=True, text=True, timeout=timeout, env=_env(crash), check=False)

    def traced_sync(self, crash: str | None = None) -> tuple[subprocess.CompletedProcess, list[str]]:
        """``syncd sync`` (the same ``syncd.__main__``, through runpy) with a hook that
        appends each crash point's name to a file as it is reached, before the kill
        switch looks at it: the last name is where a killed run died."""
        trace = self.setup.state.parent / "crash-trace.txt"
        code = ("import os, runpy, sys\n"
                "from syncd import crashpoints\n"
                f"fd = os.open({str(trace)!r}, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_TRUNC)\n"
                "crashpoints.set_hook(lambda name: os.write(fd, name.encode() + b'\\n'))\n"
                f"sys.argv = ['syncd', 'sync', '--config', {str(self.setup.config_path)!r}]\n"
                "runpy.run_module('syncd', run_name='__main__')\n")
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             timeout=120, env=_env(crash), check=False)
        names = trace.read_text().split() if trace.exists() else []
        trace.unlink(missing_ok=True)
        return out, names

    def popen_sync(self) -> subprocess.Popen:
        return subprocess.Popen(
            [sys.executable, "-m", "syncd", "sync", "--config", str(self.setup.config_path)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(None))

    def baseline(self) -> None:
        """Bring both sides in sync (in-process, no crash point armed)."""
        res = self.setup.sync()
        assert res.exit_code == 0, self.setup.output
        assert self.setup.local_tree() == self.setup.remote_tree()
        for d in self.setup.local_tree():
            if self.setup.local_tree()[d] is None:
                self.dirs.add(d)
        self.log.append("-- baseline synced --")

    def crash(self, point: str) -> subprocess.CompletedProcess:
        out = self.cli_sync(point)
        assert out.returncode == -9, (
            f"SYNCD_CRASH_AT={point}: expected a SIGKILL (-9), got {out.returncode}: the point was "
            f"never reached?\nstdout:\n{out.stdout}\nstderr:\n{out.stderr}\n{self.story()}")
        return out

    def story(self) -> str:
        return "what users did:\n  " + "\n  ".join(self.log)

    # --- checks ----------------------------------------------------------------------

    def check_no_partial(self, *, allow_part: bool) -> None:
        """(a): every user-visible file on either side is exactly some user's version."""
        for side, tree in (("local", self.setup.local_tree()), ("remote", self.setup.remote_tree())):
            for rel, data in tree.items():
                if data is None:
                    continue
                if is_part(rel) and side == "local":  # syncd never writes one remotely
                    assert allow_part, f"{side}: temp file {rel} left behind\n{self.story()}"
                    continue
                assert data in self.versions, (
                    f"{side}: {rel} holds {len(data)} bytes that are no version a user wrote "
                    f"(starts {data[:24]!r}): a partial or mixed file\n{self.story()}")

    def check_index(self) -> None:
        """(b): the index is a sound SQLite database."""
        db = self.setup.state / "index.sqlite3"
        assert db.exists()
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        try:
            rows = conn.execute("PRAGMA integrity_check").fetchall()
        finally:
            conn.close()
        assert rows == [("ok",)], rows

    def check_after_crash(self) -> None:
        self.check_no_partial(allow_part=True)
        self.check_index()

    def check_converged(self, *, no_copies: bool = False) -> None:
        """(c) after a run without the crash switch. ``no_copies``: also no version
        under two names (a conflicted copy of identical content: a false conflict)."""
        local, remote = self.setup.local_tree(), self.setup.remote_tree()
        self.check_no_partial(allow_part=False)
        self.check_index()
        assert local == remote, (f"not converged:\nonly local: {sorted(set(local) - set(remote))}\n"
                                 f"only remote: {sorted(set(remote) - set(local))}\n"
                                 f"differ: {sorted(k for k in local if k in remote and local[k] != remote[k])}"
                                 f"\n{self.story()}")
        contents = [v for v in local.values() if v is not None]
        missing = [v[:24] for v in self.alive if v not in contents]
        assert not missing, f"versions lost: {missing}\ntree: {sorted(local)}\n{self.story()}"
        dup = sorted({k for k, v in local.items() if v is not None and contents.count(v) > 1})
        assert not (no_copies and dup), f"one version under several names (a spurious copy): {dup}\n{self.story()}"
        back = [v[:24] for v in self.gone if v in contents]
        assert not back, f"deleted versions came back: {back}\ntree: {sorted(local)}\n{self.story()}"
        resurrected = sorted(p for p in self.gone_paths if p in local)
        assert not resurrected, f"deleted/moved-away names came back: {resurrected}\n{self.story()}"
        absent = sorted(d for d in self.dirs if local.get(d, b"") is not None)
        assert not absent, f"folders missing: {absent}\ntree: {sorted(local)}\n{self.story()}"

    def recover(self, *, no_copies: bool = False) -> subprocess.CompletedProcess:
        """The next run without the switch: exit 0 and converge; then a quiet run."""
        out = self.cli_sync()
        assert out.returncode == 0, (f"recovery run exited {out.returncode}\nstdout:\n{out.stdout}\n"
                                     f"stderr:\n{out.stderr}\n{self.story()}")
        self.check_converged(no_copies=no_copies)
        self.check_quiet()
        return out

    def check_quiet(self, *, cli: bool = False) -> None:
        """A further run transfers nothing and changes nothing (in-process by default:
        the same engine, without a second interpreter start)."""
        before = (self.setup.local_tree(), self.setup.remote_tree())
        self.emu.clear_request_log()
        if cli:
            out = self.cli_sync()
            code, text = out.returncode, out.stdout + out.stderr
        else:
            code, text = self.setup.sync().exit_code, self.setup.output
        assert code == 0, text
        changed = changing_requests(self.emu)
        assert not changed, f"a further run still did work: {changed}\n{text}\n{self.story()}"
        assert (self.setup.local_tree(), self.setup.remote_tree()) == before


def new_world(make_emulator, tmp_path: Path, name: str = "w", *, emu_opts=None,
              mirror_opts=None) -> World:
    setup = make_setup(make_emulator, tmp_path, emu_opts=emu_opts)
    if mirror_opts:
        setup.set_options("docs", **mirror_opts)
    return World(setup, name)
