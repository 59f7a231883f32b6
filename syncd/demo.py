"""`syncd demo`: the foundation at work on the embedded emulator.

Starts the emulator on a free loopback port, builds a small sample tree (nested
folders, unicode names), uploads it with the ExaVault client, lets "another
user" change the remote, reads the change back through the activity feed and
the recursive search listing, downloads it, and reports every transaction spent.

The sync engine (issue: `syncd sync`) will turn this into a real two-way sync;
until then the demo shows the client and the emulator the engine is built on.
"""

from __future__ import annotations

import shutil
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

from syncd import exitcodes
from syncd.emulator import Emulator
from syncd.remote import ExaVaultClient, RequestEvent

KEY, TOKEN = "demo-api-key", "demo-access-token"

SAMPLE = {
    "notes.txt": "Meeting notes\n",
    "reports/2026/q3 summary.md": "# Q3\nAll good.\n",
    "reports/2026/Überblick.txt": "unicode name (NFC)\n",
    "photos/café #1 & more.txt": "a name with spaces, #, & and an accent\n",
}


def run_demo(keep: bool = False) -> int:
    work = Path(tempfile.mkdtemp(prefix="syncd-demo-"))
    local = work / "local"
    spent: list[RequestEvent] = []
    try:
        for rel, text in SAMPLE.items():
            path = local / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")

        with Emulator(work / "emulator", api_key=KEY, access_token=TOKEN,
                      transactions=1000) as emu:
            client = ExaVaultClient(emu.url, KEY, TOKEN, on_request=spent.append)
            print(f"Emulator: {emu.url} (storage in {work / 'emulator'})")
            started = datetime.now(timezone.utc) - timedelta(seconds=1)

            account = client.account()
            print(f"Account {account.name!r}: {account.transactions_limit} transactions a day")

            print("\nUploading the local sample to /demo:")
            for path in sorted(p for p in local.rglob("*") if p.is_file()):
                rel = path.relative_to(local).as_posix()
                with open(path, "rb") as f:
                    res = client.upload(f"/demo/{rel}", f, allow_overwrite=False)
                print(f"  uploaded  {rel}  ->  {res.path} ({res.size} bytes, id {res.id})")

            emu.other.write("/demo/from a colleague.txt", b"written by another user\n")
            emu.other.rename("/demo/notes.txt", "notes (final).txt")
            print("\nAnother user added '/demo/from a colleague.txt' and renamed notes.txt.")

            print("\nActivity feed since the start (one transaction for the whole account):")
            for entry in client.session_activity(started):
                source = f" (from {entry.file_source})" if entry.file_source else ""
                print(f"  {entry.operation.name:<13} {entry.file_name}{source}  by {entry.username}")

            print("\nRecursive search listing of /demo (ceil(N/100) transactions):")
            for res in client.search("/demo"):
                print(f"  {'dir ' if res.is_dir else 'file'}  {res.path}")

            target = local / "from a colleague.txt"
            with open(target, "wb") as f:
                client.download("/demo/from a colleague.txt", f)
            print(f"\nDownloaded the colleague's file to {target}")
            client.close()

        print(f"\nTransactions spent: {len(spent)} "
              f"(remaining today per the server: {spent[-1].remaining})")
        if keep:
            print(f"Kept the demo folders in {work} (local/ and emulator/)")
        else:
            print("The demo folders are removed on exit; `syncd demo --keep` keeps them.")
        return exitcodes.OK
    finally:
        if not keep:
            shutil.rmtree(work, ignore_errors=True)
