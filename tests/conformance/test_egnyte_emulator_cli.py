"""Egnyte emulator: `syncd emulator --service egnyte` and `python -m syncd.emulators.egnyte`."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys

import pytest
import requests

from syncd.emulators.egnyte import Emulator


def _spawn(*args, module="syncd"):
    prefix = ["emulator", "--service", "egnyte"] if module == "syncd" else []
    return subprocess.Popen([sys.executable, "-m", module, *prefix, *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _serve(tmp_path, *args, module="syncd"):
    proc = _spawn("--root", str(tmp_path / "root"), "--port", "0", "--access-token", "TOK",
                  *args, module=module)
    line = proc.stdout.readline()
    assert "http://127.0.0.1:" in line, proc.stderr.read()
    assert "TOK" not in line  # the token is never printed
    return proc, line.split()[line.split().index("on") + 1]


def _stop(proc) -> str:
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    return err


def test_the_command_serves_the_api_with_the_options_until_sigterm(tmp_path):
    proc, url = _serve(tmp_path, "--qps", "1", "--daily-limit", "5", "--min-chunk", "2",
                       "--event-retention", "10")
    try:
        auth = {"Authorization": "Bearer TOK"}
        r = requests.get(url + "/userinfo", headers=auth, timeout=5)
        assert r.status_code == 200 and r.headers["X-AccessToken-Quota-Allotted"] == "5"
        refused = requests.get(url + "/userinfo", headers=auth, timeout=5)
        assert refused.status_code == 403
        assert refused.headers["X-Mashery-Error-Code"] == "ERR_403_DEVELOPER_OVER_QPS"
        assert requests.get(url + "/userinfo", timeout=5).status_code == 401
    finally:
        _stop(proc)
    assert (tmp_path / "root" / "state.json").exists()


def test_the_module_entry_point_keeps_the_store_across_restarts(tmp_path):
    proc, url = _serve(tmp_path, "--qps", "0", module="syncd.emulators.egnyte")
    auth = {"Authorization": "Bearer TOK"}
    try:
        assert requests.post(url + "/fs/Shared/kept", json={"action": "add_folder"},
                             headers=auth, timeout=5).status_code == 201
    finally:
        _stop(proc)
    proc, url = _serve(tmp_path, "--qps", "0", module="syncd.emulators.egnyte")
    try:
        assert requests.get(url + "/fs/Shared/kept", headers=auth, timeout=5).status_code == 200
    finally:
        _stop(proc)


def _run(*args, module="syncd"):
    proc = _spawn(*args, module=module)
    out, err = proc.communicate(timeout=20)
    assert "Traceback" not in err
    return proc.returncode, err


def test_bad_input_is_one_line_and_a_sysexits_code(tmp_path):
    for args, code, word in [(["--root", str(tmp_path), "--host", "0.0.0.0"], 64, "loopback"),
                             (["--port", "1"], 64, "--root"),
                             (["--root", str(tmp_path), "--qps", "-1"], 64, "--qps"),
                             (["--root", str(tmp_path), "--fault-kinds", "boom"], 64, "boom"),
                             (["--root", str(tmp_path), "--throttle-status", "500"], 64, "")]:
        got, err = _run(*args)
        assert got == code and len(err.strip().splitlines()) == 1 and word in err, err
    blocker = tmp_path / "file"
    blocker.write_text("x")
    got, err = _run("--root", str(blocker / "sub"))
    assert got == 73 and len(err.strip().splitlines()) == 1
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    try:
        got, err = _run("--root", str(tmp_path / "r2"), "--port", str(busy.getsockname()[1]))
    finally:
        busy.close()
    assert got == 69 and "in use" in err


def test_an_unknown_service_is_refused_and_exavault_stays_the_default(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "syncd", "emulator", "--service", "dropbox",
                           "--root", str(tmp_path)], capture_output=True, text=True, timeout=20)
    assert proc.returncode == 64 and "exavault, egnyte" in proc.stderr
    proc = subprocess.run([sys.executable, "-m", "syncd", "emulator", "--help"],
                          capture_output=True, text=True, timeout=20)
    assert proc.returncode == 0 and "--api-key" in proc.stdout and "--service egnyte" in proc.stdout


def test_non_loopback_hosts_are_refused(tmp_path):
    for host in ("0.0.0.0", "example.com"):
        with pytest.raises(ValueError, match="loopback"):
            Emulator(tmp_path, host=host)
