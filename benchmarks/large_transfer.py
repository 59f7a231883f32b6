"""Large transfer through syncd's client and the emulator: throughput and memory.

Starts the emulator in a subprocess (so its memory is measured on its own),
writes a source file of ``--size`` bytes, then in this process:

1. uploads it with ``ExaVaultClient.upload`` and downloads it back with
   ``ExaVaultClient.download``;
2. does the same with "raw" streaming ``requests`` calls (a chunked multipart
   upload from a generator, ``iter_content`` download) as the baseline;

and samples the resident set size (VmRSS) of both processes every 20 ms. Each
step runs ``--repeat`` times (interleaved) and the median time is reported; the
work folder defaults to /dev/shm when it has room, so the numbers measure the
software and not the disk's writeback. Prints a table and, with ``--json FILE``,
writes the numbers for tests and BENCHMARKS.md.

    python -m benchmarks.large_transfer --size 1GiB
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import requests

from benchmarks._harness import (
    KEY,
    TOKEN,
    PeakSampler,
    default_workdir,
    emulator_process,
    parse_size,
    rss_bytes,
)
from syncd.remote.exavault.api import ExaVaultClient

CHUNK = 1 << 20


def write_source(path: Path, size: int) -> str:
    """Write ``size`` bytes of incompressible data; return its SHA-256."""
    block = os.urandom(CHUNK)
    digest = hashlib.sha256()
    with open(path, "wb") as f:
        left, n = size, 0
        while left:
            piece = (n.to_bytes(8, "big") + block[8:])[:left]
            f.write(piece)
            digest.update(piece)
            left -= len(piece)
            n += 1
    return digest.hexdigest()


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def raw_upload(url: str, remote: str, source: Path, size: int) -> None:
    """Baseline: plain requests, chunked multipart body from a generator."""
    boundary = uuid.uuid4().hex

    def body():
        yield (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
               f"filename=\"blob\"\r\nContent-Type: application/octet-stream\r\n\r\n").encode()
        with open(source, "rb") as f:
            while chunk := f.read(CHUNK):
                yield chunk
        yield f"\r\n--{boundary}--\r\n".encode()

    r = requests.post(f"{url}/resources/upload", data=body(),
                      params={"path": remote, "fileSize": size, "allowOverwrite": "true"},
                      headers={"ev-api-key": KEY, "ev-access-token": TOKEN,
                               "Content-Type": f"multipart/form-data; boundary={boundary}"},
                      timeout=(10, 600))
    r.raise_for_status()


def raw_download(url: str, remote: str, target: Path) -> None:
    """Baseline: plain requests, streamed with iter_content."""
    with requests.get(f"{url}/resources/download", params={"resources[]": remote},
                      headers={"ev-api-key": KEY, "ev-access-token": TOKEN},
                      stream=True, timeout=(10, 600)) as r, open(target, "wb") as f:
        r.raise_for_status()
        f.writelines(r.iter_content(CHUNK))


def measure(label: str, pids: dict, fn) -> dict:
    base = {name: rss_bytes(pid) for name, pid in pids.items()}
    start = time.perf_counter()
    with PeakSampler(pids) as sampler:
        fn()
    seconds = time.perf_counter() - start
    return {"step": label, "seconds": seconds,
            **{f"{name}_rss_before": base[name] for name in pids},
            **{f"{name}_rss_peak": sampler.peak[name] for name in pids},
            **{f"{name}_rss_growth": sampler.peak[name] - base[name] for name in pids}}


def run(size: int, workdir: Path, repeat: int = 3) -> dict:
    source, back, raw_back = workdir / "source.bin", workdir / "back.bin", workdir / "raw.bin"
    want = write_source(source, size)
    samples: dict[str, list[dict]] = {}
    with emulator_process(workdir / "emulator") as (emu_pid, url):
        pids = {"client": "self", "emulator": emu_pid}
        client = ExaVaultClient(url, KEY, TOKEN, timeout=(10, 600))
        try:
            def up():
                with open(source, "rb") as f:
                    res = client.upload("/bench/big.bin", f, size=size, allow_overwrite=True)
                assert res.size == size, res

            def down():
                with open(back, "wb") as f:
                    assert client.download("/bench/big.bin", f) == size

            steps = {
                "syncd upload": up,
                "syncd download": down,
                "raw upload": lambda: raw_upload(url, "/bench/raw.bin", source, size),
                "raw download": lambda: raw_download(url, "/bench/raw.bin", raw_back),
            }
            for _ in range(repeat):
                for label, fn in steps.items():
                    samples.setdefault(label, []).append(measure(label, pids, fn))
        finally:
            client.close()
    rows = []
    for runs in samples.values():
        row = dict(runs[0])  # memory: the worst run counts
        for key in row:
            if key.endswith(("_growth", "_peak")):
                row[key] = max(r[key] for r in runs)
        row["seconds"] = statistics.median(r["seconds"] for r in runs)
        row["runs"] = len(runs)
        row["mb_per_s"] = size / row["seconds"] / 1e6
        row["mb_per_s_range"] = [size / max(r["seconds"] for r in runs) / 1e6,
                                 size / min(r["seconds"] for r in runs) / 1e6]
        rows.append(row)
    got, got_raw = sha256_of(back), sha256_of(raw_back)
    by = {r["step"]: r for r in rows}
    return {
        "size": size,
        "repeat": repeat,
        "workdir": str(workdir.parent),
        "sha256_ok": got == want and got_raw == want,
        "rows": rows,
        "upload_ratio": by["syncd upload"]["mb_per_s"] / by["raw upload"]["mb_per_s"],
        "download_ratio": by["syncd download"]["mb_per_s"] / by["raw download"]["mb_per_s"],
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", type=parse_size, default=1 << 30, help="bytes to transfer (default 1GiB)")
    p.add_argument("--json", type=Path, help="also write the results to this file")
    p.add_argument("--repeat", type=int, default=3, help="runs per step; the median is reported")
    p.add_argument("--dir", type=Path,
                   help="where to make the temp work folder (default: /dev/shm if it has room)")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(dir=args.dir or default_workdir(5 * args.size)) as tmp:
        result = run(args.size, Path(tmp), max(1, args.repeat))
    mib = 1 << 20
    print(f"{args.size / mib:.0f} MiB transfer in {result['workdir']}, median of "
          f"{result['repeat']} runs, sha256 {'ok' if result['sha256_ok'] else 'MISMATCH'}")
    print(f"{'step':16} {'MB/s':>6} {'(min-max)':>11} {'client RSS +MiB':>16} "
          f"{'emulator RSS +MiB':>18}")
    for r in result["rows"]:
        lo, hi = r["mb_per_s_range"]
        print(f"{r['step']:16} {r['mb_per_s']:6.0f} {f'({lo:.0f}-{hi:.0f})':>11} "
              f"{r['client_rss_growth'] / mib:16.1f} {r['emulator_rss_growth'] / mib:18.1f}")
    print(f"throughput ratio syncd/raw: upload {result['upload_ratio']:.2f}, "
          f"download {result['download_ratio']:.2f}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0 if result["sha256_ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
