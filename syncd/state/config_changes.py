"""What a change of a mirror's config since its last sync does to what the index
remembers of it: new roots start it over as a first meeting; ignore rules that
let synced items back in make those missing on one side meet anew."""

from __future__ import annotations

import os
from collections.abc import Callable

from syncd import model
from syncd.config.loader import MirrorConfig
from syncd.local.ignore import IgnoreRules
from syncd.state.index import Index
from syncd.state.keys import MirrorState

# What a mirror forgets besides its base, snapshot, queue and failures when its
# local or remote root changed in the config (it starts over as a first meeting).
NEW_ROOT_FORGETS = MirrorState.tree_names()


def restart_if_moved(index: Index, m: MirrorConfig, say: Callable[[str], None]) -> bool:
    """A mirror whose ``local:`` or ``remote:`` changed in the config since it
    last synced starts over as a first meeting (True; ``say`` tells the user when
    it had synced): its base rows, remote snapshot (listed afresh), queue and
    failures belonged to the old folders and are forgotten, so nothing is
    deleted and differing files become conflicted copies. Kept: a ``local:``
    that names the same folder as before (moved or reached by another path: same
    device and inode), which is not a change. An index from before roots were
    recorded just records them."""
    state = index.mirror_state(m.name)
    roots = {"local": str(m.local), "remote": m.remote}
    known = state.roots
    if known == roots:
        return False
    changed = [(k, known.get(k), roots[k]) for k in ("local", "remote")
               if isinstance(known, dict) and known.get(k) != roots[k]]
    if [k for k, _, _ in changed] == ["local"]:
        try:
            st = os.stat(m.local)
        except OSError:
            st = None
        if st is not None and [st.st_dev, st.st_ino] == [
                state.device, state.root_inode]:
            changed = []  # the same folder, moved or reached by another path
    synced = index.base_count(m.name)
    with index.batch():  # (a crash in between forgets again next time: harmless)
        if changed:
            # Also the snapshot and the feed cursor: the new remote root is listed.
            index.forget_trees(m.name, NEW_ROOT_FORGETS)
        state.roots = roots
    if changed and synced:
        what = " and ".join(f"{k} folder ({old} -> {new})" for k, old, new in changed)
        say(f"{m.name}: the {what} changed since the last sync: the mirror starts over "
            "as a first meeting (nothing is deleted; differing files are kept as "
            "conflicted copies)")
    return bool(changed)


def reinclude(index: Index, name: str, root: str, rules: IgnoreRules) -> None:
    """Synced items that the ignore rules left out until now and no longer do were
    not synced meanwhile: what happened to them then (a clean-up here, a
    colleague's deletion there) is nobody's sync action. Those missing on one
    side lose their base row, so they meet as for the first time (the side that
    lacks them gets a copy) instead of the deletion going over. Those on both
    sides keep it: an edit made meanwhile goes over as an edit (two: a conflict).
    The rules are remembered per mirror to tell."""
    state = index.mirror_state(name)
    lines = list(rules.lines)
    before = state.ignore_lines
    if before == lines:
        return
    try:
        old = IgnoreRules(before) if before is not None else None
    except (TypeError, ValueError):  # (an unreadable old value: nothing to compare)
        old = None
    if old is not None:
        remote = {model.key(p) for p in index.remote(name)}
        back = [b for k, b in index.base(name).items()
                if old.ignored(k, b.kind == model.DIR) and not rules.ignored(k, b.kind == model.DIR)
                and (model.key(b.remote_path) not in remote
                     or not os.path.lexists(os.path.join(root, b.local_path)))]
        with index.batch():
            for b in back:
                index.drop_base(name, b.key, subtree=False)
    state.ignore_lines = lines
