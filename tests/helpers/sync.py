"""Harness for end-to-end sync tests: a real emulator on 127.0.0.1, real temp
folders, a real config file, and the engine (or the `syncd` CLI) run against them."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from syncd.config.loader import load_config
from syncd.emulators.exavault import Emulator
from syncd.engine import SyncEngine, SyncResult
from syncd.report import Reporter
from syncd.state.index import Index
from tests.helpers.accounts import ACCESS_TOKEN, API_KEY


@dataclass
class SyncSetup:
    emu: Emulator
    home: Path
    state: Path
    config_path: Path
    mirrors: dict[str, tuple[Path, str]] = field(default_factory=dict)
    host: str = "testhost"
    output: str = ""

    def local(self, mirror: str = "docs") -> Path:
        return self.mirrors[mirror][0]

    def remote(self, mirror: str = "docs") -> str:
        return self.mirrors[mirror][1]

    def write_config(self, **account_opts) -> None:
        """Write the config file; account options given once are kept for later writes."""
        self._account.update(account_opts)
        doc = {
            "account": {"url": self.emu.url, "api_key": API_KEY, "access_token": ACCESS_TOKEN,
                        **self._account},
            "state_dir": str(self.state),
            "mirrors": [],
        }
        if self.daemon_opts:
            doc["daemon"] = dict(self.daemon_opts)
        for name, (local, remote) in self.mirrors.items():
            opts = self._opts.get(name, {})
            doc["mirrors"].append({"name": name, "local": str(local), "remote": remote, **opts})
        self.config_path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
        os.chmod(self.config_path, 0o600)

    _opts: dict = field(default_factory=dict)
    _account: dict = field(default_factory=dict)
    daemon_opts: dict = field(default_factory=dict)

    def set_options(self, mirror: str = "docs", **opts) -> None:
        self._opts.setdefault(mirror, {}).update(opts)
        self.write_config()

    def sync(self, *, mirror: str | None = None, dry_run: bool = False, force: bool = False,
             now=None) -> SyncResult:
        """Run one sync pass in-process; the plain log goes to ``self.output``."""
        stream = io.StringIO()
        engine = SyncEngine(load_config(self.config_path), host=self.host,
                            reporter=Reporter(stream, fancy=False),
                            **({"now": now} if now else {}))
        result = engine.run(mirror=mirror, dry_run=dry_run, force=force)
        self.output = stream.getvalue()
        return result

    def cli(self, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "syncd", *args], capture_output=True,
                              text=True, timeout=120,
                              env={**os.environ, **(env or {})})

    def index(self) -> Index:
        return Index(self.state / "index.sqlite3")

    def requests(self) -> list:
        return list(self.emu.request_log)

    # --- the two trees ---------------------------------------------------------

    def local_tree(self, mirror: str = "docs") -> dict[str, bytes | None]:
        root = self.local(mirror)
        out: dict[str, bytes | None] = {}
        for dirpath, dirnames, filenames in os.walk(root):
            rel = os.path.relpath(dirpath, root)
            for d in dirnames:
                out[os.path.normpath(os.path.join(rel, d))] = None
            for f in filenames:
                p = os.path.join(dirpath, f)
                out[os.path.normpath(os.path.join(rel, f))] = Path(p).read_bytes()
        return out

    def remote_tree(self, mirror: str = "docs") -> dict[str, bytes | None]:
        root = self.remote(mirror).rstrip("/")
        out: dict[str, bytes | None] = {}
        for path, res in self.emu.other.tree().items():
            if not path.startswith(root + "/"):
                continue
            rel = path[len(root) + 1:]
            is_dir = res["attributes"]["type"] == "dir"
            out[rel] = None if is_dir else self.emu.other.read(path)
        return out


def make_setup(make_emulator, tmp_path: Path, *, mirrors=("docs",), emu_opts=None,
               account_opts=None) -> SyncSetup:
    emu = make_emulator(**(emu_opts or {}))
    home = tmp_path / "home"
    home.mkdir()
    setup = SyncSetup(emu, home, tmp_path / "state", tmp_path / "config.yaml")
    for name in mirrors:
        local = home / name
        local.mkdir()
        setup.mirrors[name] = (local, f"/{name}")
    setup.write_config(**(account_opts or {}))
    return setup




def write(path: Path, data: bytes | str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path




def focused(setup, local, *, refresh=False) -> SyncResult:
    config = load_config(setup.config_path)
    engine = SyncEngine(config, reporter=Reporter(io.StringIO(), fancy=False), host="t")
    index = Index(setup.state / "index.sqlite3")
    session = engine.open_session(index, list(config.mirrors))
    result = SyncResult()
    try:
        engine.sync_pass(session, list(config.mirrors), result, local=local,
                         refresh=refresh, readback=False)
    finally:
        session.close()
        index.close()
    return result
