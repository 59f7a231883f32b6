"""The files syncd ships as package data (syncd/data/): the systemd units and the
example config, read by the unit, docs and packaging tests."""

from __future__ import annotations

from pathlib import Path

DATA_DIR = Path(__file__).resolve().parents[2] / "syncd" / "data"

EXAMPLE_CONFIG = DATA_DIR / "config.example.yaml"

UNIT_DIR = DATA_DIR / "systemd"
