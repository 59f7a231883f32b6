"""Every error a request can end in says what its caller does (issue 17, item 3).

The classes are found by introspection: every subclass of ``RemoteError`` in any
syncd module, every exception class of ``syncd.remote.errors``, and any other
exception class that states a disposition (the budget's refusal). A new one
without its own ``disposition``, or missing from the table below, fails here.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest

import syncd
from syncd.cli import exitcodes, outcomes
from syncd.outcome import Outcome, stopped_by
from syncd.remote import errors
from syncd.remote.errors import Disposition, RemoteError, disposition
from syncd.state.budget import BudgetExhausted

EXPECTED = {
    "RemoteError": Disposition.ITEM,
    "InvalidParameterError": Disposition.ITEM,
    "AuthError": Disposition.STOP,
    "ForbiddenError": Disposition.DENIED,
    "NotFoundError": Disposition.REFRESH,
    "NotSupportedError": Disposition.REFRESH,
    "RateLimitedError": Disposition.DEFER,
    "ThrottledError": Disposition.DEFER,
    "AlreadyExistsError": Disposition.ITEM,
    "NameRefusedError": Disposition.ITEM,
    "LockedError": Disposition.ITEM,
    "ServerError": Disposition.RETRY,
    "TransportError": Disposition.RETRY,
    "ProtocolError": Disposition.ITEM,
    "SourceChangedError": Disposition.RESCAN,
    "BudgetExhausted": Disposition.DEFER,
    "NotAnApiError": Disposition.CONFIG,
}


def _subclasses(cls: type) -> set[type]:
    found = set()
    for sub in cls.__subclasses__():
        found |= {sub} | _subclasses(sub)
    return found


def _error_classes() -> set[type]:
    """Every exception class of syncd.remote.errors, every RemoteError, and every
    exception class of any syncd module that states a disposition."""
    found = {RemoteError} | _subclasses(RemoteError)
    for info in pkgutil.walk_packages(syncd.__path__, "syncd."):
        if info.name.rsplit(".", 1)[-1] == "__main__" or ".emulators" in info.name:
            continue
        module = importlib.import_module(info.name)
        for _, c in inspect.getmembers(module, inspect.isclass):
            if issubclass(c, BaseException) and c.__module__ == info.name and (
                    module is errors or "disposition" in vars(c)):
                found.add(c)
    return found | _subclasses(RemoteError)  # (again: modules imported meanwhile)


CLASSES = sorted(_error_classes(), key=lambda c: c.__name__)


def test_every_error_class_is_in_the_table():
    assert {c.__name__ for c in CLASSES} == set(EXPECTED)


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_each_error_class_states_its_own_disposition(cls):
    assert "disposition" in vars(cls), f"{cls.__name__} inherits its disposition"
    assert isinstance(cls.disposition, Disposition)
    assert disposition(cls("boom")) is EXPECTED[cls.__name__]


def test_the_budgets_refusal_is_found():
    assert BudgetExhausted in CLASSES


def test_any_other_exception_is_one_items_failure():
    assert disposition(OSError(28, "No space left on device")) is Disposition.ITEM
    assert disposition(ValueError("x")) is Disposition.ITEM


def test_only_defer_stop_and_config_end_the_pass_at_once():
    assert {d for d in Disposition if d.stops_pass} == {Disposition.DEFER, Disposition.STOP,
                                                        Disposition.CONFIG}


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_a_pass_an_error_stops_ends_as_syncd_sync_documents(cls):
    """77 when the user must fix credentials or permissions; 78 the config (a URL
    that is no API base); else 75: run again later."""
    refused = EXPECTED[cls.__name__] in (Disposition.STOP, Disposition.DENIED)
    config = EXPECTED[cls.__name__] is Disposition.CONFIG
    assert outcomes.exit_code(stopped_by(cls("boom"))) == (
        exitcodes.CONFIG if config else exitcodes.NOPERM if refused else exitcodes.TEMPFAIL)


def test_every_outcome_has_its_exit_code():
    assert {o: outcomes.exit_code(o) for o in Outcome} == {
        Outcome.OK: 0, Outcome.FAILED: 1, Outcome.DEFERRED: 75, Outcome.NO_PERMISSION: 77,
        Outcome.MISCONFIGURED: 78}
