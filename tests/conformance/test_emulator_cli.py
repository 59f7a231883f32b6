"""Emulator: the `other` user API, loopback-only binding and the command line."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys

import pytest
import requests

from syncd.emulators.exavault import Emulator, NotFound

from tests.helpers.emulator import Api


def test_other_user_api(emulator):
    other = emulator.other
    f = other.write("/o/a.txt", b"hello")
    assert f["attributes"]["createdBy"] == "other" and f["attributes"]["size"] == 5
    assert other.write("/o/a.txt", b"again", overwrite=False)["attributes"]["name"] == "a (1).txt"
    assert other.write("/o/a.txt", b"HELLO")["id"] == f["id"]
    assert other.read("/o/a.txt") == b"HELLO"
    d = other.mkdir("/o/d/e")
    assert other.mkdir("/o/d/e")["id"] == d["id"]
    assert other.move("/o/a.txt", "/o/d")["attributes"]["path"] == "/o/d/a.txt"
    assert other.rename("/o/d/a.txt", "b.txt")["id"] == f["id"]
    c = other.copy("/o/d/b.txt", "/o")
    assert c["id"] != f["id"] and other.read("/o/b.txt") == b"HELLO"
    other.delete("/o/d")
    assert other.info("/o/d") is None and other.info("/o/d/b.txt") is None
    assert sorted(other.tree()) == ["/o", "/o/a (1).txt", "/o/b.txt"]
    with pytest.raises(NotFound):
        other.read("/o/zzz")
    assert emulator.transactions_used == 0
    ops = [(e["attributes"]["operation"], e["attributes"]["username"])
           for e in Api(emulator).activity(sort="date").json()["data"]]
    assert ops[0] == ("MKD", "other") and ("RNTO", "other") in ops and ops[-1] == ("DELE", "other")


def test_non_loopback_host_is_refused(tmp_path):
    for host in ("0.0.0.0", "192.168.1.10", "example.com", "::"):
        with pytest.raises(ValueError, match="loopback"):
            Emulator(tmp_path, host=host)


def test_ipv6_loopback(make_emulator):
    if not socket.has_ipv6:
        pytest.skip("no IPv6")
    try:
        emu = make_emulator(host="::1")
    except OSError:
        pytest.skip("IPv6 loopback unavailable")
    assert emu.url.startswith("http://[::1]:")
    assert Api(emu).get("/account").status_code == 200


def test_stop_is_idempotent_and_closes_keepalive(tmp_path):
    emu = Emulator(tmp_path).start()
    api = Api(emu)
    assert api.get("/account").status_code == 200  # leaves a keep-alive connection open
    emu.stop()
    emu.stop()
    with pytest.raises(requests.ConnectionError):
        api.get("/account")


def _spawn(*args):
    return subprocess.Popen([sys.executable, "-m", "syncd.emulators.exavault", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_cli_serves_until_sigterm(tmp_path):
    proc = _spawn("--root", str(tmp_path / "root"), "--port", "0", "--api-key", "k",
                  "--access-token", "t", "--transactions", "77")
    try:
        line = proc.stdout.readline()
        assert "http://127.0.0.1:" in line and "k" in line and "t" in line
        url = line.split()[line.split().index("on") + 1]
        r = requests.get(url + "/account", headers={"ev-api-key": "k", "ev-access-token": "t"},
                         timeout=5)
        assert r.status_code == 200 and r.headers["X-RateLimit-Limit"] == "77"
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    assert (tmp_path / "root" / "emulator.db").exists()


def _run(*args):
    proc = _spawn(*args)
    out, err = proc.communicate(timeout=20)
    return proc.returncode, err


def test_cli_errors_are_one_line(tmp_path):
    code, err = _run("--root", str(tmp_path), "--host", "0.0.0.0")
    assert code == 64 and len(err.strip().splitlines()) == 1 and "loopback" in err
    code, err = _run("--port", "1")
    assert code == 64 and len(err.strip().splitlines()) == 1 and "--root" in err
    blocker = tmp_path / "file"
    blocker.write_text("x")
    code, err = _run("--root", str(blocker / "sub"))
    assert code == 73 and len(err.strip().splitlines()) == 1
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    try:
        code, err = _run("--root", str(tmp_path / "r2"), "--port", str(busy.getsockname()[1]))
    finally:
        busy.close()
    assert code == 69 and len(err.strip().splitlines()) == 1 and "in use" in err
    assert "Traceback" not in err


def test_cli_main_in_process_bad_args(capsys):
    from syncd.emulators.exavault.cli import main
    assert main(["--root", "/tmp/x", "--fault-rate", "2"]) == 64
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
