"""``syncd.session``: the one place that knows which service an account is."""

import pytest

from syncd import session
from syncd.config.loader import load_config
from syncd.remote.backend import RequestEvent
from syncd.remote.exavault.api import ExaVaultClient
from syncd.remote.exavault.backend import ExaVaultBackend
from syncd.remote.exavault.webhook import FORMAT as EXAVAULT_PUSH
from syncd.state.index import Index
from tests.helpers.sync import make_setup


@pytest.fixture
def config(make_emulator, tmp_path):
    return load_config(make_setup(make_emulator, tmp_path).config_path)


@pytest.fixture
def index(tmp_path):
    idx = Index(tmp_path / "index.sqlite3")
    yield idx
    idx.close()


def test_an_account_without_a_type_is_exavault(config, index):
    assert session.service_of(config.account) == session.DEFAULT_SERVICE == "exavault"
    s = session.AccountSession.open(config, index, pool=3)
    try:
        assert isinstance(s.client, ExaVaultClient) and isinstance(s.backend, ExaVaultBackend)
        assert s.tracker.backend is s.backend and s.budget.account == config.account.url
        # every request is counted by the budget and seen by the URL's proof
        s.client.on_request(RequestEvent("GET", "/resources/list", 404, 100, 99))
        assert s.budget.spent == 1 and s.budget.server_remaining == 99
        assert s.url.suspect and s.url.backend is s.backend
    finally:
        s.close()


def test_the_service_is_one_entry_of_the_registry(config, index, monkeypatch):
    built = []

    class Client:
        on_request = None

        def close(self):
            built.append("closed")

    def connect(acct, wiring, echo):
        built.append((acct.url, wiring.pool))
        echo("upload", "/docs/a.txt")  # the echo lands in the index, for the tracker
        return Client(), object()

    monkeypatch.setitem(session.SERVICES, "other", session.Service(connect, EXAVAULT_PUSH))
    monkeypatch.setattr(session, "service_of", lambda acct: "other")
    s = session.AccountSession.open(config, index, pool=5)
    s.close()
    assert built == [(config.account.url, 5), "closed"]
    assert index.take_echo(config.account.url, "upload", "/docs/a.txt")


def test_the_push_format_is_the_services(config):
    assert session.push_format(config.account) is EXAVAULT_PUSH
    assert EXAVAULT_PUSH.header == "X-Exavault-Signature"
