"""Issue 18, item 4: which answers to ``GET /account`` say that ``account.url`` is
not an API base (``session.not_an_api``, shared by `syncd check` and every pass),
and when a pass spends that one request (``session.UrlProof``): only after an
answer no API base gives, before anything proved the URL, and once."""

from __future__ import annotations

import pytest

from syncd.remote.backend import AccountInfo, RequestEvent
from syncd.remote.errors import (
    AuthError,
    NotAnApiError,
    NotFoundError,
    ProtocolError,
    RateLimitedError,
    ServerError,
    TransportError,
)
from syncd.session import UrlProof, not_an_api
from syncd.state.index import Index

URL = "http://127.0.0.1:8765"


def foreign(exc):
    exc.foreign = True
    return exc


@pytest.mark.parametrize("exc, what", [
    (NotFoundError(status=404), "answered 404 to GET /account, which every account has"),
    (ProtocolError("unexpected redirect (Moved)", status=301), "with a redirect (301)"),
    (foreign(ProtocolError("answer is not a JSON object", status=200)),
     "did not answer GET /account as the API does"),
    (foreign(ProtocolError("Method Not Allowed", status=405)), "did not answer"),
])
def test_answers_no_api_base_gives_name_the_url_and_the_fix(exc, what):
    wrong = not_an_api(exc, URL)
    assert isinstance(wrong, NotAnApiError) and wrong.cause is exc
    assert str(wrong).startswith(f"{URL} is not an API base: it ")
    assert what in str(wrong)
    assert str(wrong).endswith("like https://ACCOUNT.exavault.com/api/v2 (did you mean "
                               f"{URL}/api/v2?)")
    assert "\n" not in str(wrong)


def test_a_url_with_the_api_path_gets_no_guess():
    text = str(not_an_api(NotFoundError(status=404), URL + "/api/v2"))
    assert "did you mean" not in text and text.endswith("exavault.com/api/v2")


@pytest.mark.parametrize("exc", [
    AuthError(status=401), RateLimitedError(status=429), ServerError(status=503),
    foreign(ServerError(status=502)), TransportError("timed out"),
    ProtocolError("unexpected answer shape (KeyError: 'data')", status=200),
    ValueError("not a remote error")])
def test_other_failures_say_nothing_about_the_url(exc):
    assert not_an_api(exc, URL) is None


class Backend:
    """Answers ``account()`` with ``answer`` (an exception is raised); counts calls."""

    def __init__(self, answer):
        self.answer = answer
        self.calls = 0

    def account(self):
        self.calls += 1
        if isinstance(self.answer, BaseException):
            raise self.answer
        return self.answer


@pytest.fixture
def index(tmp_path):
    idx = Index(tmp_path / "index.sqlite3")
    yield idx
    idx.close()


def proof(index, answer) -> UrlProof:
    p = UrlProof(index, URL, lambda: 1000.0)
    p.backend = Backend(answer)
    return p


def event(status):
    return RequestEvent("GET", "/resources/list", status, None, None)


def test_nothing_is_sent_while_every_answer_looks_like_the_apis(index):
    p = proof(index, AccountInfo("acme", 100))
    for status in (200, 201, 400, 401, 403, 429, 500, None):
        p.observe(event(status))
    assert p.confirm() is None
    assert p.backend.calls == 0


def test_a_404_before_any_proof_costs_one_request_once_and_is_remembered(index):
    p = proof(index, AccountInfo("acme", 100))
    p.observe(event(404))
    p.confirm()
    p.observe(event(404))  # a folder not created yet, later: the URL is proven
    p.confirm()
    assert p.backend.calls == 1
    assert index.account_state(URL).api_base == 1000.0
    again = proof(index, AccountInfo("acme", 100))  # the next run, same index
    again.observe(event(404))
    again.confirm()
    assert again.backend.calls == 0


def test_an_answered_feed_proves_the_url_for_free(index):
    index.account_state(URL).feed = "yes"
    p = proof(index, NotFoundError(status=404))
    p.observe(event(302))
    p.confirm()
    assert p.backend.calls == 0


def test_a_failed_proof_stops_the_pass_with_not_an_api_error(index):
    p = proof(index, NotFoundError(status=404, method="GET", path="/account"))
    p.observe(event(404))
    with pytest.raises(NotAnApiError, match="answered 404 to GET /account"):
        p.confirm()
    assert index.account_state(URL).api_base is None


def test_the_error_that_stopped_a_pass_is_explained_when_the_url_is_wrong(index):
    stopped = foreign(ProtocolError("answer is not a JSON object", status=200))
    p = proof(index, ProtocolError("unexpected redirect (Found)", status=302))
    assert isinstance(p.confirm(stopped), NotAnApiError)  # a web page: asked at once
    assert p.confirm(NotAnApiError("x")).message == "x"  # never asked twice
    assert p.backend.calls == 1


def test_a_proof_that_fails_for_another_reason_leaves_the_question_open(index):
    p = proof(index, TransportError("timed out"))
    p.observe(event(404))
    assert p.confirm() is None
    stopped = ServerError(status=503)
    assert p.confirm(stopped) is stopped
    assert p.backend.calls == 2 and index.account_state(URL).api_base is None
