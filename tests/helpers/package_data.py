"""The files syncd ships as package data: the systemd units (systemd/) and the
example config (config.example.yaml), which syncd/data/ links to so that the wheel
carries them; read by the unit, docs and packaging tests."""

from __future__ import annotations

from pathlib import Path

DATA_DIR = Path(__file__).resolve().parents[2] / "syncd" / "data"

EXAMPLE_CONFIG = DATA_DIR.parents[1] / "config.example.yaml"

UNIT_DIR = DATA_DIR.parents[1] / "systemd"
