"""The fast lane: no server, no subprocess, no network.

Every test under tests/unit/ runs in-process against pure code or a temp folder.
A test that opens an internet socket or starts a process here fails, so the lane
stays fast (under a minute on 2 cores) and honest; such a test belongs in
tests/integration/ (see tests/README.md)."""

from __future__ import annotations

import socket
import subprocess

import pytest

from tests.helpers.lanes import LaneViolation


@pytest.fixture(autouse=True)
def _no_servers_no_processes(monkeypatch):
    def refuse(what):
        def refused(*args, **kwargs):
            raise LaneViolation(f"tests/unit/ may not {what}; move the test to tests/integration/")
        return refused

    real_connect, real_bind = socket.socket.connect, socket.socket.bind

    def connect(self, address, *rest):
        if self.family in (socket.AF_INET, socket.AF_INET6):
            refuse("open a network connection")()
        return real_connect(self, address, *rest)

    def bind(self, address, *rest):
        if self.family in (socket.AF_INET, socket.AF_INET6):
            refuse("listen on a network port")()
        return real_bind(self, address, *rest)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "bind", bind)
    monkeypatch.setattr(subprocess.Popen, "__init__", refuse("start a process"))
