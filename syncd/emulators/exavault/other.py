"""`Emulator.other`: a second user changing the remote directly through the store.

These calls skip HTTP entirely: no transactions are spent, no faults or latency
apply, but every change is written to the activity log under username
``other`` (ip 192.0.2.10), exactly like a change made from another machine.
"""

from __future__ import annotations

from . import paths as P
from . import render
from .store import Invalid, NotFound, Row

__all__ = ["OtherUser", "NotFound", "Invalid"]


class OtherUser:
    username = "other"
    ip = "192.0.2.10"

    def __init__(self, emu):
        self._emu = emu

    @property
    def _store(self):
        store = self._emu.store
        if store is None or store.closed:
            raise RuntimeError("the emulator is not running")
        return store

    def _render(self, row: Row) -> dict:
        return render.resource(row, files_com=self._emu.files_com)

    def _row(self, path: str) -> Row:
        return self._store.resolve(P.normalize_path(path))

    def write(self, path: str, data: bytes, overwrite: bool = True) -> dict:
        """Upload ``data`` to ``path`` (parents created). ``overwrite=False`` auto-renames."""
        store = self._store
        path = P.normalize_path(path)
        store.check_upload_target(path)
        staged = store.new_staging_file()
        with open(staged, "wb") as f:
            f.write(bytes(data))
        try:
            row = store.publish(path, staged, len(data), overwrite, self.username, self.ip)
        except BaseException:
            staged.unlink(missing_ok=True)
            raise
        return self._render(row)

    def write_raw(self, path: str, data: bytes = b"", *, name: str | None = None,
                  parent: str | None = None, kind: str = "file") -> dict:
        """Test-only hostile input: store a file (or folder) whose ``path`` and ``name``
        are kept exactly as given, bypassing every name check (``..``, ``.``, NUL, ``/``
        or ``\\`` inside a name, a path outside its folder, overlong names). ``name``
        defaults to what follows the last ``/``; ``parent`` (a normal folder path)
        defaults to the nearest existing folder above ``path``. The item appears in
        listings, searches, info, downloads and the activity feed like any other."""
        store = self._store
        if name is None:
            name = path.rpartition("/")[2]
        if parent is None:
            folder = path.rpartition("/")[0] or "/"
            while store.by_path(folder) is None or store.by_path(folder).type != "dir":
                folder = folder.rpartition("/")[0] or "/"
            parent_row = store.by_path(folder)
        else:
            parent_row = self._row(parent)
        row = store.insert_raw(parent_row, path, name, "dir" if kind == "dir" else "file",
                               bytes(data), self.username, self.ip)
        return self._render(row)

    def mkdir(self, path: str) -> dict:
        """Create a folder and its missing parents; an existing folder is returned as is."""
        path = P.normalize_path(path)
        existing = self._store.by_path(path)
        if existing is not None and existing.type == "dir":
            return self._render(existing)
        return self._render(self._store.mkdir(path, self.username, self.ip))

    def move(self, path: str, new_parent: str) -> dict:
        return self._render(self._store.move(self._row(path), self._row(new_parent),
                                             self.username, self.ip))

    def copy(self, path: str, new_parent: str) -> dict:
        return self._render(self._store.copy(self._row(path), self._row(new_parent),
                                             self.username, self.ip))

    def rename(self, path: str, new_name: str) -> dict:
        return self._render(self._store.rename(self._row(path), new_name, self.username, self.ip))

    def delete(self, path: str) -> None:
        self._store.delete(self._row(path), self.username, self.ip)

    def read(self, path: str) -> bytes:
        row = self._row(path)
        if row.type != "file":
            raise Invalid(f"{row.path} is a folder.")
        return self._store.blob_path(row.id).read_bytes()

    def info(self, path: str) -> dict | None:
        try:
            return self._render(self._row(path))
        except NotFound:
            return None

    def tree(self) -> dict[str, dict]:
        """Every file and folder except the home folder itself, keyed by path."""
        return {row.path: self._render(row) for row in self._store.all_rows() if row.path != "/"}
