"""The ``state`` table: small JSON values per ``account:<url>`` / ``mirror:<name>``
scope. Callers use the typed accessors of state/keys.py; download intents
(``download:<key>`` in a mirror's scope) are kept here too."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from syncd.model import BaseEntry
from syncd.state.errors import IndexCorruptError, corrupt_message
from syncd.state.keys import ACCOUNT_PREFIX
from syncd.state.keys import INTENT_PREFIX as _INTENT
from syncd.state.keys import MIRROR_PREFIX, AccountState, MirrorState, mirror_scope
from syncd.state.trees import Trees


class Values(Trees):
    """The ``state`` table (a ``Trees`` for the download intents, which become base rows)."""

    @staticmethod
    def _check_scope(scope: str) -> None:
        if not scope.startswith((ACCOUNT_PREFIX, MIRROR_PREFIX)):
            raise ValueError(f"state scope must be 'account:<url>' or 'mirror:<name>', "
                             f"got {scope!r}")

    def mirror_state(self, mirror: str) -> MirrorState:
        """The ``mirror:<name>`` values, as attributes (see state/keys.py)."""
        return MirrorState(self, mirror)

    def account_state(self, url: str) -> AccountState:
        """The ``account:<url>`` values, as attributes (see state/keys.py)."""
        return AccountState(self, url)

    def get_state(self, scope: str, name: str, default: Any = None) -> Any:
        self._check_scope(scope)
        with self._lock:
            row = self._conn.execute("SELECT value FROM state WHERE scope = ? AND name = ?",
                                     (scope, name)).fetchone()
        if row is None:
            return default
        try:
            return json.loads(row[0])
        except ValueError as e:  # damaged bytes that still decode as text
            raise IndexCorruptError(corrupt_message(
                self.path, f"state {scope} {name}: undecodable value")) from e

    def set_state(self, scope: str, name: str, value: Any) -> None:
        """Store a JSON-serialisable value (tuples come back as lists)."""
        self._check_scope(scope)
        text = json.dumps(value)
        with self._write():
            self._conn.execute("INSERT OR REPLACE INTO state(scope, name, value) VALUES (?, ?, ?)",
                               (scope, name, text))

    # -- intents: a download put in place but maybe not recorded (killed in between)

    def put_intent(self, mirror: str, entry: BaseEntry) -> None:
        """Before a downloaded file is put in place: the base row its record will
        be, with the stat the file will have there. Committed at once."""
        with self._write():
            self._conn.execute(
                "INSERT OR REPLACE INTO state(scope, name, value) VALUES (?, ?, ?)",
                (mirror_scope(mirror), _INTENT + entry.key,
                 json.dumps(dataclasses.asdict(entry))))

    def record_intent(self, mirror: str, entry: BaseEntry) -> None:
        """The file is in place: its base row, and the intent gone, in one commit."""
        with self._write():
            self.put_base(mirror, entry)
            self.drop_intent(mirror, entry.key)

    def drop_intent(self, mirror: str, key: str) -> None:
        with self._write():
            self._conn.execute("DELETE FROM state WHERE scope = ? AND name = ?",
                               (mirror_scope(mirror), _INTENT + key))

    def intents(self, mirror: str) -> list[BaseEntry]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT value FROM state WHERE scope = ? AND substr(name, 1, ?) = ?",
                (mirror_scope(mirror), len(_INTENT), _INTENT)).fetchall()
        try:
            return [BaseEntry(**json.loads(v)) for (v,) in rows]
        except (ValueError, TypeError) as e:
            raise IndexCorruptError(corrupt_message(
                self.path, f"state mirror:{mirror}: undecodable download intent")) from e
