"""Names on each side: which remote name pairs with which key (two remote
spellings of one key: the first is synced), how each side spells a key it does
not have yet, and the conflict names a plan gives (unique among every key on
either side and every name planned so far)."""

from __future__ import annotations

from collections.abc import Mapping

from syncd.model import PlanOptions, RemoteEntry, conflict_name, join, key, name, parent
from syncd.reconcile.tree import REMOTE, Sides


class Names(Sides):
    """The planner's naming (a part of ``_Planner``: it uses its trees, ``opt``,
    ``notes`` and ``taken``)."""

    opt: PlanOptions
    notes: list[tuple[str, str]]
    taken: set[str]

    def _rekey_remote(self, remote: Mapping[str, RemoteEntry]) -> dict[str, RemoteEntry]:
        """The remote tree keyed by ``key(path)``. Of two spellings of one key the
        first in sorted order is synced; the other is noted and left alone with
        its subtree."""
        out: dict[str, RemoteEntry] = {}
        dropped: set[str] = set()
        for path in sorted(remote):
            entry = remote[path]
            if _ancestors_spelled(path) & dropped:
                continue  # inside a folder left alone
            k = key(path)
            if k in out:
                dropped.add(path)
                self.notes.append((path, (f"same name as {out[k].path} after Unicode "
                                          "normalisation: not synced")))
                continue
            out[k] = entry
        return out

    def lspell(self, k: str) -> str:
        """Local spelling of key ``k`` (known entries' spellings for the parts that exist)."""
        if not k:
            return ""
        entry = self.vl.get(k)
        if entry is not None:
            return entry.path
        return join(self.lspell(parent(k)), self._leaf(k, REMOTE))

    def rspell(self, k: str) -> str:
        """Server spelling of key ``k``. A name the server does not have yet is
        written NFC (the key's own spelling), whatever the local spelling: a macOS
        NFD name uploaded as is would sit beside another client's NFC spelling of
        the same name as a second item that no one could sync."""
        if not k:
            return ""
        entry = self.vr.get(k)
        if entry is not None:
            return entry.path
        b = self.vb.get(k)
        leaf = name(b.remote_path) if b is not None else name(k)
        return join(self.rspell(parent(k)), leaf)

    def _leaf(self, k: str, prefer: str) -> str:
        for side in (prefer, self.other(prefer)):
            entry = self.tree(side).get(k)
            if entry is not None:
                return name(entry.path)
        b = self.vb.get(k)
        return name(b.local_path) if b is not None else name(k)

    def cc(self, path: str) -> str:
        """A conflict name for ``path``, unique among ``taken`` (which it joins)."""
        out = conflict_name(path, self.opt.host, self.opt.timestamp, self.taken)
        self.taken.add(key(out))
        return out


def _ancestors_spelled(path: str) -> set[str]:
    parts = path.split("/")
    return {"/".join(parts[:i]) for i in range(1, len(parts))}
