"""The wheel, built for real (`pip wheel`, the project's pyproject.toml): one
version, an SPDX license with its file, and the package data `syncd service
install` and a user need: the systemd units and the example config. The
installed wheel's own `syncd service install` writes its units."""

from __future__ import annotations

import email.parser
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import syncd
from tests.helpers.package_data import DATA_DIR, EXAMPLE_CONFIG, UNIT_DIR

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """Built from a copy of what the source distribution holds, so that nothing
    left in the checkout's build/ (an old module) can slip into it."""
    source = tmp_path_factory.mktemp("source")
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy2(REPO / name, source / name)
    shutil.copytree(REPO / "syncd", source / "syncd",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    out = tmp_path_factory.mktemp("wheel")
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "--wheel-dir", str(out),
         str(source)], capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (built,) = out.glob("syncd-*.whl")
    return built


@pytest.fixture(scope="module")
def names(wheel) -> set[str]:
    with zipfile.ZipFile(wheel) as z:
        return set(z.namelist())


@pytest.fixture(scope="module")
def metadata(wheel):
    with zipfile.ZipFile(wheel) as z:
        text = z.read(f"syncd-{syncd.__version__}.dist-info/METADATA").decode()
    return email.parser.Parser().parsestr(text)


def test_the_version_is_syncd_dunder_version(wheel, metadata):
    assert wheel.name.startswith(f"syncd-{syncd.__version__}-py3-none-any")
    assert metadata["Version"] == syncd.__version__


def test_license_is_spdx_and_the_file_ships(names, metadata, wheel):
    assert metadata["License-Expression"] == "MIT"
    license_file = f"syncd-{syncd.__version__}.dist-info/licenses/LICENSE"
    assert license_file in names
    with zipfile.ZipFile(wheel) as z:
        assert z.read(license_file).decode() == (REPO / "LICENSE").read_text()
    assert (REPO / "LICENSE").read_text().startswith("MIT License\n")


def test_classifiers_urls_and_dependencies(metadata):
    classifiers = metadata.get_all("Classifier")
    assert "Operating System :: POSIX :: Linux" in classifiers
    assert "Environment :: No Input/Output (Daemon)" in classifiers
    assert not [c for c in classifiers if c.startswith("License ::")]  # the SPDX string says it
    assert metadata.get_all("Project-URL")
    assert any(r.startswith("shtab") for r in metadata.get_all("Requires-Dist"))


def test_the_wheel_carries_the_units_and_the_example_config(names):
    shipped = {f"syncd/data/systemd/{p.name}" for p in UNIT_DIR.iterdir() if p.suffix != ".md"}
    assert {"syncd/data/systemd/syncd.service", "syncd/data/systemd/syncd@.service",
            "syncd/data/systemd/syncd.timer",
            "syncd/data/systemd/syncd-sync.service"} <= shipped
    assert shipped <= names
    assert "syncd/data/config.example.yaml" in names
    assert {f"syncd/data/{p.relative_to(DATA_DIR)}" for p in DATA_DIR.rglob("*")
            if p.is_file()} <= names
    # (syncd/data/ links to the top-level files: each link resolves)
    assert all(p.resolve().is_file() for p in DATA_DIR.rglob("*") if p.is_symlink())
    # one package and its metadata, nothing else at the top of site-packages
    assert {n.split("/")[0] for n in names} == {"syncd", f"syncd-{syncd.__version__}.dist-info"}


def test_the_installed_wheel_installs_its_own_units(wheel, tmp_path):
    """Installed (without its dependencies, which this venv has), the wheel's
    `syncd service install` reads the units from its own package data."""
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--quiet",
                    "--target", str(target), str(wheel)], check=True, timeout=300)
    home = tmp_path / "home"
    (home / ".config" / "syncd").mkdir(parents=True)
    config = home / ".config" / "syncd" / "config.yaml"
    config.write_text(EXAMPLE_CONFIG.read_text())
    env = {**os.environ, "PYTHONPATH": str(target), "HOME": str(home),
           "XDG_CONFIG_HOME": str(home / ".config")}
    env.pop("SYNCD_CONFIG", None)
    code = ("import sys, syncd; from syncd.cli.app import main; "
            "assert syncd.__file__.startswith(sys.argv[1]), syncd.__file__; "
            "sys.argv[0] = 'python -m syncd'; sys.exit(main(['service', 'install', '--timer']))")
    proc = subprocess.run([sys.executable, "-c", code, str(target)], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    units = home / ".config" / "systemd" / "user"
    assert (units / "syncd.timer").read_text() == (UNIT_DIR / "syncd.timer").read_text()
    assert "syncd sync --quiet" in (units / "syncd-sync.service").read_text()
