"""Every action type says what it is (``syncd.model._Action``) and has a handler in
the worker's table (``syncd.transfer.worker.HANDLERS``): adding a type is one class
plus its handler, and this test fails when either is missing."""

from __future__ import annotations

import dataclasses
import typing

import pytest

from syncd import model
from syncd.model import (
    BaseEntry,
    Compare,
    DeleteLocal,
    DeleteRemote,
    Download,
    ForgetBase,
    LocalEntry,
    MakeLocalDir,
    MakeRemoteDir,
    MoveLocal,
    MoveRemote,
    RecordBase,
    RemoteEntry,
    Upload,
)
from syncd.transfer import worker

FACTS = ("phase", "deletes", "subject", "paths", "writes", "description")
PHASES = {"move", "mkdir", "transfer", "record", "delete"}


def _action_types() -> list[type]:
    """Every action class defined in ``syncd.model`` (found by its base class, so a
    new class counts even before it is added to ``model.Action``)."""
    return sorted((c for c in vars(model).values() if isinstance(c, type)
                   and issubclass(c, model._Action) and c is not model._Action),
                  key=lambda c: c.__name__)


def _sample(cls: type):
    """An instance of ``cls`` with made-up values for its required fields."""
    values = {
        "str": lambda f: f"d/{f.name}",
        "LocalEntry": lambda f: LocalEntry("d/l", model.FILE, 3),
        "RemoteEntry": lambda f: RemoteEntry("d/r", model.FILE, "id", 4),
        "BaseEntry": lambda f: BaseEntry("d/b", "d/b", model.FILE),
    }
    kwargs = {}
    for f in dataclasses.fields(cls):
        if f.default is not dataclasses.MISSING:
            continue
        make = values.get(str(f.type))
        assert make is not None, f"{cls.__name__}.{f.name}: add a sample for {f.type}"
        kwargs[f.name] = make(f)
    return cls(**kwargs)


def test_the_action_union_names_every_action_type():
    assert set(typing.get_args(model.Action)) == set(_action_types())


@pytest.mark.parametrize("cls", _action_types(), ids=lambda c: c.__name__)
def test_every_action_type_states_its_facts(cls):
    own = [k for k in cls.__mro__ if k not in (model._Action, object)]
    for fact in FACTS:
        assert any(fact in vars(k) for k in own), f"{cls.__name__} does not state {fact!r}"
    a = _sample(cls)
    assert a.phase in PHASES
    assert isinstance(a.deletes, bool)
    assert isinstance(a.subject, str) and a.subject
    assert a.subject in a.paths and all(isinstance(p, str) for p in a.paths)
    assert all(isinstance(p, str) for p in a.writes)
    assert isinstance(a.description, str) and "\n" not in a.description
    assert isinstance(a.size, int)


@pytest.mark.parametrize("cls", _action_types(), ids=lambda c: c.__name__)
def test_every_action_type_has_a_handler(cls):
    assert cls in worker.HANDLERS, f"no handler for {cls.__name__} in worker.HANDLERS"
    handler = worker.HANDLERS[cls]
    assert callable(handler.run if isinstance(handler, worker.Batch) else handler)


def test_the_handler_table_holds_only_action_types():
    assert set(worker.HANDLERS) == set(_action_types())


LOCAL = LocalEntry("a/x.txt", model.FILE, 10)
REMOTE = RemoteEntry("a/x.txt", model.FILE, "7", 20)


def test_facts_of_transfers():
    up = Upload("a/x.txt", "a/x.txt", LOCAL, REMOTE)
    assert (up.phase, up.deletes, up.subject, up.size) == ("transfer", False, "a/x.txt", 10)
    assert up.description == "upload a/x.txt (10 B) replacing the remote copy"
    assert Upload("a/x.txt", "a/x.txt", LOCAL).description == "upload a/x.txt (10 B)"
    down = Download("A/x.txt", "a/x.txt", REMOTE, LOCAL)
    assert (down.subject, down.paths, down.writes, down.size) == (
        "a/x.txt", ("a/x.txt", "A/x.txt"), ("a/x.txt",), 20)
    assert down.description == "download A/x.txt (20 B) replacing the local copy"
    c = Compare("a/x.txt", "a/x.txt", LOCAL, REMOTE, "a/x (conflicted copy).txt")
    assert c.writes == ("a/x.txt", "a/x (conflicted copy).txt")
    assert c.paths == ("a/x.txt", "a/x.txt", "a/x (conflicted copy).txt")
    assert c.description == "compare a/x.txt (download and compare contents)"


def test_facts_of_moves_folders_records_and_deletions():
    mv = MoveRemote("a", "b/a", RemoteEntry("a", model.DIR, "9"))
    assert (mv.phase, mv.subject, mv.paths, mv.writes) == ("move", "a", ("a", "b/a"), ("b/a",))
    assert mv.description == "move remote a -> b/a"
    assert MoveLocal("a", "b", LocalEntry("a", model.DIR)).description == "move local a -> b"
    mk = MakeRemoteDir("Dir", LocalEntry("dir", model.DIR))
    assert (mk.phase, mk.subject, mk.writes) == ("mkdir", "Dir", ("dir",))
    assert mk.description == "create remote folder Dir"
    assert MakeLocalDir("d", RemoteEntry("d", model.DIR, "1")).description == \
        "create local folder d"
    rec = RecordBase(BaseEntry("r/x", "r/x", model.FILE))
    assert (rec.phase, rec.subject, rec.writes) == ("record", "r/x", ())
    assert rec.description == "record r/x as in sync"
    assert ForgetBase("f").description == "forget f"
    dr = DeleteRemote("g", RemoteEntry("g", model.DIR, "2"))
    dl = DeleteLocal("h", LocalEntry("h", model.FILE))
    assert (dr.phase, dr.deletes, dr.subject) == ("delete", True, "g")
    assert (dl.phase, dl.deletes, dl.subject) == ("delete", True, "h")
    assert dr.description == "delete remote g"
    assert dl.description == "delete local h (to the local trash)"
    assert [cls for cls in _action_types() if cls.deletes] == [DeleteLocal, DeleteRemote]
