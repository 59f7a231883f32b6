"""A two-mirror config for the tests of `syncd status` and its metrics (no server:
the URL is never asked)."""

from __future__ import annotations

import textwrap
from pathlib import Path

from syncd.config.loader import Config, load_config

URL = "http://127.0.0.1:9/api/v2"


def two_mirrors(tmp_path: Path, *, photos: str = "", extra: str = "") -> Config:
    """``docs`` and ``photos`` (``photos``: more lines of that mirror), state in
    tmp_path/state; ``extra``: top-level YAML appended."""
    path = tmp_path / "config.yaml"
    path.write_text(textwrap.dedent(f"""\
        account:
          url: {URL}
          api_key: key-5f2a9c77d1
          access_token: token-81be07aa42
          budget: 5000
        state_dir: {tmp_path / "state"}
        mirrors:
          - name: docs
            local: {tmp_path / "docs"}
            remote: /docs
          - name: photos
            local: {tmp_path / "photos"}
            remote: /photos
        """) + "".join(f"    {line}\n" for line in photos.splitlines()) + extra)
    path.chmod(0o600)
    return load_config(path, env={})
