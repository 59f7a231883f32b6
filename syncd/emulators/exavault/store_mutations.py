"""The emulator store's mutations: every change to the resource tree (the rules:
see store.py's module doc)."""

from __future__ import annotations

import os
import secrets
import shutil
from pathlib import Path

from . import paths as P
from .store_schema import ROOT_ID, SELECT, Invalid, NotFound, Row, subtree_clause


class Mutations:
    """The Store's write methods (a mixin; see store.py for the rest)."""

    def _insert(self, parent: Row, name: str, rtype: str, user: str, size: int, now: int) -> Row:
        path = P.join_path(parent.path, name)
        cur = self._db.execute(
            "INSERT INTO resources(parent_id, path, name, type, hash, size, file_count, created_by,"
            " created, updated, accessed, uploaded) VALUES (?,?,?,?,?,?,0,?,?,?,?,?)",
            (parent.id, path, name, rtype, secrets.token_hex(16), size, user, now, now, now, now))
        self._bump(path, size, 1 if rtype == "file" else 0)
        self._touch(parent.id, now)
        return self._row("id = ?", (cur.lastrowid,))

    def _bump(self, path: str, dsize: int, dcount: int) -> None:
        """Add to the aggregate size / file count of every folder above ``path``."""
        if dsize == 0 and dcount == 0:
            return
        anc = P.ancestors(path)
        marks = ",".join("?" * len(anc))
        self._db.execute(f"UPDATE resources SET size = size + ?, file_count = file_count + ?"
                         f" WHERE path IN ({marks})", (dsize, dcount, *anc))

    def _touch(self, rid: int, now: int) -> None:
        """A folder's updatedAt follows changes to its direct children (documented choice)."""
        self._db.execute("UPDATE resources SET updated = ? WHERE id = ?", (now, rid))

    @staticmethod
    def _weight(row: Row) -> tuple[int, int]:
        return row.size, (1 if row.type == "file" else row.file_count)

    def _ensure_folder(self, path: str, user: str, ip: str, created: list[Row]) -> Row:
        """Return the folder at ``path``, creating missing levels (logged as MKD)."""
        row = self._row("path = ?", (path,))
        if row is not None:
            if row.type != "dir":
                raise Invalid(f"{path} is a file, not a folder.")
            return row
        parent_path, name = P.split_path(path)
        parent = self._ensure_folder(parent_path, user, ip, created)
        now = self.now()
        row = self._insert(parent, name, "dir", user, 0, now)
        self._log("MKD", row.path, "", user, ip, 0, 0, now)
        created.append(row)
        return row

    def mkdir(self, path: str, user: str, ip: str) -> Row:
        if path == "/":
            raise Invalid("The home folder already exists.")
        with self._txn():
            if self._row("path = ?", (path,)) is not None:
                raise Invalid("Destination path cannot be an existing folder."
                              if self._row("path = ? AND type = 'dir'", (path,))
                              else "A file with this name already exists.")
            created: list[Row] = []
            return self._ensure_folder(path, user, ip, created)

    def check_upload_target(self, path: str) -> None:
        """Refuse early (before reading the body) uploads that can never succeed."""
        if path == "/":
            raise Invalid("Upload path must include a file name.")
        with self._lock:
            row = self._row("path = ?", (path,))
            if row is not None and row.type == "dir":
                raise Invalid("Destination path cannot be an existing folder.")
            for anc in P.ancestors(path)[1:]:
                a = self._row("path = ?", (anc,))
                if a is None:
                    break
                if a.type != "dir":
                    raise Invalid(f"{anc} is a file, not a folder.")

    def publish(self, path: str, staged: Path, size: int, overwrite: bool, user: str, ip: str,
                duration: int = 0) -> Row:
        """Atomically make a fully received upload visible (one transaction + os.replace)."""
        parent_path, name = P.split_path(path)
        with self._txn():
            parent = self._ensure_folder(parent_path, user, ip, [])
            existing = self._row("path = ?", (path,))
            now = self.now()
            if existing is not None and existing.type == "dir":
                raise Invalid("Destination path cannot be an existing folder.")
            if existing is not None and overwrite:
                self._db.execute("UPDATE resources SET size = ?, updated = ? WHERE id = ?",
                                 (size, now, existing.id))
                self._bump(path, size - existing.size, 0)
                row = self._row("id = ?", (existing.id,))
            else:
                n = 0
                while existing is not None:
                    n += 1
                    name = P.numbered_name(P.split_path(path)[1], n)
                    existing = self._row("path = ?", (P.join_path(parent.path, name),))
                row = self._insert(parent, name, "file", user, size, now)
            os.replace(staged, self.blob_path(row.id))
            self._log("STOR", row.path, "", user, ip, size, duration, now)
            return row

    def insert_raw(self, parent: Row, path: str, name: str, rtype: str, data: bytes,
                   user: str, ip: str) -> Row:
        """Test-only backdoor: store an item with ``path`` and ``name`` exactly as given,
        unchecked (``..``, NUL, ``/`` inside a name, a path outside ``parent`` ...), as
        a child of ``parent``, with an upload (or MKD) activity entry, as a hostile or
        broken server would list it. Nothing the API offers can create such a row."""
        with self._txn():
            now = self.now()
            size = len(data) if rtype == "file" else 0
            cur = self._db.execute(
                "INSERT INTO resources(parent_id, path, name, type, hash, size, file_count,"
                " created_by, created, updated, accessed, uploaded)"
                " VALUES (?,?,?,?,?,?,0,?,?,?,?,?)",
                (parent.id, path, name, rtype, secrets.token_hex(16), size, user, now, now,
                 now, now))
            row = self._row("id = ?", (cur.lastrowid,))
            if rtype == "file":
                self.blob_path(row.id).write_bytes(data)
            self._log("STOR" if rtype == "file" else "MKD", path, "", user, ip, size, 0, now)
            return row

    def _check_destination(self, row: Row, dest: Row) -> str:
        if row.id == ROOT_ID:
            raise Invalid("The home folder cannot be moved or copied.")
        if dest.type != "dir":
            raise Invalid("Destination must be a folder.")
        if row.type == "dir" and (dest.path == row.path or dest.path.startswith(row.path + "/")):
            raise Invalid("A folder cannot be placed inside itself.")
        new_path = P.join_path(dest.path, row.name)
        if self._row("path = ?", (new_path,)) is not None:
            raise Invalid(f"Destination {new_path} already exists.")
        return new_path

    def _repath(self, row: Row, new_path: str, parent_id: int, name: str) -> None:
        if row.type == "dir":
            where, args = subtree_clause(row.path)
            self._db.execute(f"UPDATE resources SET path = ? || substr(path, ?) WHERE {where}",
                             (new_path, len(row.path) + 1, *args))
        self._db.execute("UPDATE resources SET path = ?, parent_id = ?, name = ? WHERE id = ?",
                         (new_path, parent_id, name, row.id))

    def move(self, row: Row, dest: Row, user: str, ip: str) -> Row:
        with self._txn():
            row, dest = self._fresh(row), self._fresh(dest)
            new_path = self._check_destination(row, dest)
            now = self.now()
            dsize, dcount = self._weight(row)
            self._bump(row.path, -dsize, -dcount)
            self._repath(row, new_path, dest.id, row.name)
            self._bump(new_path, dsize, dcount)
            self._touch(row.parent_id, now)
            self._touch(dest.id, now)
            self._log("MOVE", new_path, row.path, user, ip, 0, 0, now)
            return self._row("id = ?", (row.id,))

    def rename(self, row: Row, new_name: str, user: str, ip: str) -> Row:
        try:
            P.check_name(new_name)
        except P.PathError as exc:
            raise Invalid(str(exc)) from None
        with self._txn():
            row = self._fresh(row)
            if row.id == ROOT_ID:
                raise Invalid("The home folder cannot be renamed.")
            parent_path = P.split_path(row.path)[0]
            new_path = P.join_path(parent_path, new_name)
            if self._row("path = ?", (new_path,)) is not None:
                raise Invalid(f"Destination {new_path} already exists.")
            now = self.now()
            self._repath(row, new_path, row.parent_id, new_name)
            self._touch(row.parent_id, now)
            self._log("RNTO", new_path, row.path, user, ip, 0, 0, now)
            return self._row("id = ?", (row.id,))

    def copy(self, row: Row, dest: Row, user: str, ip: str) -> Row:
        with self._txn():
            row, dest = self._fresh(row), self._fresh(dest)
            new_path = self._check_destination(row, dest)
            now = self.now()
            items = [row]
            if row.type == "dir":
                where, args = subtree_clause(row.path)
                items += [Row(*r) for r in self._db.execute(
                    f"{SELECT} WHERE {where} ORDER BY path", args).fetchall()]
            new_ids = {row.parent_id: dest}
            for item in items:
                parent = new_ids[item.parent_id]
                made = self._insert(parent, item.name, item.type, user,
                                    item.size if item.type == "file" else 0, now)
                new_ids[item.id] = made
                if item.type == "file":
                    self._link_blob(item.id, made.id)
            self._log("COPY", new_path, row.path, user, ip, 0, 0, now)
            return self._row("id = ?", (new_ids[row.id].id,))

    def _link_blob(self, src_id: int, dst_id: int) -> None:
        src, dst = self.blob_path(src_id), self.blob_path(dst_id)
        try:
            os.link(src, dst)
        except FileExistsError:
            os.unlink(dst)
            os.link(src, dst)
        except OSError:
            shutil.copyfile(src, dst)

    def delete(self, row: Row, user: str, ip: str) -> None:
        with self._txn():
            row = self._fresh(row)
            if row.id == ROOT_ID:
                raise Invalid("The home folder cannot be deleted.")
            now = self.now()
            ids = [row.id]
            if row.type == "dir":
                where, args = subtree_clause(row.path)
                ids += [r[0] for r in self._db.execute(
                    f"SELECT id FROM resources WHERE {where} AND type = 'file'", args)]
                self._db.execute(f"DELETE FROM resources WHERE {where}", args)
            self._db.execute("DELETE FROM resources WHERE id = ?", (row.id,))
            dsize, dcount = self._weight(row)
            self._bump(row.path, -dsize, -dcount)
            self._touch(row.parent_id, now)
            self._log("DELE", row.path, "", user, ip, 0, 0, now, row=row)
        for rid in ids:
            try:
                os.unlink(self.blob_path(rid))
            except FileNotFoundError:
                pass

    def _fresh(self, row: Row) -> Row:
        """Re-read a row inside a transaction (it may have changed since it was resolved)."""
        cur = self._row("id = ?", (row.id,))
        if cur is None:
            raise NotFound(f"Resource {row.path} not found.")
        return cur

    def record_download(self, rows: list[Row], user: str, ip: str, nbytes: int,
                        duration: int) -> None:
        with self._txn():
            now = self.now()
            for row in rows:
                self._db.execute("UPDATE resources SET accessed = ? WHERE id = ?", (now, row.id))
                self._log("RETR", row.path, "", user, ip,
                          nbytes if len(rows) == 1 else row.size, duration, now)
