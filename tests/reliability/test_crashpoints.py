"""The crash-point switch itself: every listed point exists in the code, the
environment variable arms it, a typo is refused, and an unarmed point is inert."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from syncd import crashpoints

SRC = Path(crashpoints.__file__).parent


def test_every_listed_point_is_reached_somewhere_in_the_code():
    used = set()
    for f in SRC.rglob("*.py"):
        used |= set(re.findall(r'crashpoints\.hit\("([^"]+)"\)', f.read_text()))
    assert used == set(crashpoints.POINTS)


def test_a_hook_sees_points_and_can_raise():
    seen = []

    class Boom(BaseException):
        pass

    def hook(name):
        seen.append(name)
        if name == "upload.sent":
            raise Boom

    crashpoints.set_hook(hook)
    try:
        crashpoints.hit("upload.start")
        with pytest.raises(Boom):
            crashpoints.hit("upload.sent")
    finally:
        crashpoints.set_hook(None)
    assert seen == ["upload.start", "upload.sent"]
    assert not crashpoints.armed
    crashpoints.hit("upload.sent")  # unarmed: nothing


@pytest.mark.parametrize("spec,hits,killed", [
    ("upload.sent", ["upload.start", "upload.sent"], True),
    ("upload.sent:2", ["upload.sent"], False),
    ("upload.sent:2", ["upload.sent", "upload.start", "upload.sent"], True),
    ("*:3", ["upload.start", "index.commit"], False),
    ("*:3", ["upload.start", "index.commit", "pass.queued"], True),
])
def test_the_environment_switch_kills_the_process_at_the_nth_hit(spec, hits, killed):
    code = ("from syncd import crashpoints\n"
            f"for name in {hits!r}:\n    crashpoints.hit(name)\nprint('alive')\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={"SYNCD_CRASH_AT": spec, "PATH": "/usr/bin:/bin"}, timeout=60,
                          cwd=SRC.parent)
    if killed:
        assert proc.returncode == -9 and "alive" not in proc.stdout
    else:
        assert proc.returncode == 0 and proc.stdout.strip() == "alive"


def test_an_unknown_point_in_the_environment_is_a_usage_error():
    proc = subprocess.run([sys.executable, "-m", "syncd", "status"], capture_output=True,
                          text=True, env={"SYNCD_CRASH_AT": "upload.snet", "PATH": "/usr/bin:/bin"},
                          timeout=60, cwd=SRC.parent)
    assert proc.returncode == 64
    assert "unknown crash point 'upload.snet'" in proc.stderr
    assert "Traceback" not in proc.stderr
