"""`syncd demo`: a real two-way sync against the embedded emulator.

Starts the ExaVault emulator on a free loopback port, builds a small sample on
both sides (nested folders, unicode names, and one file changed differently on
each side - a conflict), runs `syncd sync` twice (the second time after a local
folder rename and a colleague's edit) and prints what happened and where to look.
Nothing leaves this machine; `--keep` keeps the folders for a look around.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
from pathlib import Path

import yaml

from syncd.cli import exitcodes
from syncd.config.loader import load_config
from syncd.emulators.exavault import Emulator
from syncd.engine import SyncEngine
from syncd.report import Reporter

KEY, TOKEN = "demo-api-key", "demo-access-token"

LOCAL_SAMPLE = {
    "notes.txt": "My meeting notes, edited on this laptop\n",
    "reports/2026/q3 summary.md": "# Q3\nAll good.\n",
    "reports/2026/Überblick.txt": "unicode name\n",
    "photos/café #1 & more.txt": "a name with spaces, #, & and an accent\n",
    "photos/2026/summer/beach.txt": "a nested file\n",
}
REMOTE_SAMPLE = {
    "/demo/notes.txt": "The colleague's version of the meeting notes - longer, different\n",
    "/demo/shared/plan.txt": "Plan v1\n",
    "/demo/shared/日本語/メモ.txt": "a file from the server with a Japanese name\n",
    "/demo/from a colleague.txt": "written by another user\n",
}


def _write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def run_demo(keep: bool = False) -> int:
    work = Path(tempfile.mkdtemp(prefix="syncd-demo-"))
    local, state = work / "local", work / "state"
    try:
        _write(local, LOCAL_SAMPLE)
        (local / "empty folder").mkdir()
        with Emulator(work / "emulator", api_key=KEY, access_token=TOKEN,
                      transactions=5000) as emu:
            for path, text in REMOTE_SAMPLE.items():
                emu.other.write(path, text.encode())
            config_file = work / "config.yaml"
            config_file.write_text(yaml.safe_dump({
                "account": {"url": emu.url, "api_key": KEY, "access_token": TOKEN},
                "state_dir": str(state),
                "mirrors": [{"name": "demo", "local": str(local), "remote": "/demo"}],
            }, allow_unicode=True), encoding="utf-8")
            os.chmod(config_file, 0o600)
            config = load_config(config_file)
            reporter = Reporter(fancy=False)

            print(f"Emulator: {emu.url}  (server files in {work / 'emulator'})")
            print(f"Local folder: {local}\n")
            print("Round 1: first sync. Both sides have files the other lacks, and")
            print("notes.txt differs on the two sides (a conflict).\n")
            first = SyncEngine(config, reporter=reporter, host="demo-host").run()

            print("\nRound 2: you rename the local folder photos/ to pictures/ and a")
            print("colleague edits shared/plan.txt on the server.\n")
            os.rename(local / "photos", local / "pictures")
            emu.other.write("/demo/shared/plan.txt", b"Plan v2, edited by a colleague\n")
            second = SyncEngine(config, reporter=reporter, host="demo-host").run()

            remote = sorted(p for p, r in emu.other.tree().items()
                            if p.startswith("/demo/") and r["attributes"]["type"] == "file")
        conflicts = sorted(p.relative_to(local).as_posix() for p in local.rglob("*")
                           if "conflicted copy" in p.name)
        print("\nWhat happened:")
        print(f"  conflicts kept on both sides: {', '.join(conflicts) or 'none'}")
        print(f"  the server now holds {len(remote)} files under /demo, e.g. "
              f"{', '.join(remote[:3])}")
        print(f"  transactions spent: {first.transactions} (first sync) + "
              f"{second.transactions} (second sync)")
        print("\nWhere to look:")
        print(f"  your files:       {local}")
        print(f"  syncd's state:    {state} (index, local trash)")
        if keep:
            print(f"  kept everything in {work}")
        else:
            print("  (the demo folders are removed on exit; `syncd demo --keep` keeps them)")
        if first.exit_code or second.exit_code:
            print(f"syncd demo: sync did not finish: {first.message or second.message}")
            return exitcodes.SOFTWARE
        return exitcodes.OK
    finally:
        if not keep:
            shutil.rmtree(work, ignore_errors=True)


def command(args: argparse.Namespace) -> int:
    return run_demo(keep=args.keep)
