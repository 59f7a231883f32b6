"""syncd.logs: the daemon's stderr log: levels, journald prefixes, secret redaction."""

from __future__ import annotations

import logging
import re
from io import StringIO

import pytest

from syncd import logs

KEY = "key-5f2a9c77d1"
TOKEN = "token-81be07aa42"
HOOK = "hook-3c9e"
SECRETS = (KEY, TOKEN, HOOK)
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d ")


@pytest.fixture(autouse=True)
def restore_logging():
    """Undo whatever setup() does to the root, syncd and library loggers."""
    root = logging.getLogger()
    names = ("syncd", "syncd.daemon.service", "apscheduler", "urllib3")
    before_handlers = list(root.handlers)
    before_levels = {n: logging.getLogger(n).level for n in names}
    before_root = root.level
    yield
    for h in list(root.handlers):  # only ours: pytest's own capture handlers stay
        if h not in before_handlers and isinstance(h.formatter, logs.RedactingFormatter):
            root.removeHandler(h)
    root.setLevel(before_root)
    for n, level in before_levels.items():
        logging.getLogger(n).setLevel(level)


def setup(level="info", *, secrets=SECRETS, journald=False) -> StringIO:
    stream = StringIO()
    env = {"JOURNAL_STREAM": "8:1234"} if journald else {}
    logs.setup(level, secrets=secrets, stream=stream, env=env)
    return stream


def lines(stream: StringIO) -> list[str]:
    return stream.getvalue().splitlines()


log = logging.getLogger("syncd.daemon.service")


@pytest.fixture(autouse=True)
def _library_loggers_as_a_fresh_process_has_them():
    """Another test may have left a library logger with a level of its own (the
    official ExaVault SDK sets urllib3's to WARNING when it is configured); these
    tests are about what syncd's setup does in a fresh process."""
    names = ("urllib3", "apscheduler", "watchdog")
    saved = {n: logging.getLogger(n).level for n in names}
    for n in names:
        logging.getLogger(n).setLevel(logging.NOTSET)
    yield
    for n, level in saved.items():
        logging.getLogger(n).setLevel(level)


# --- redaction --------------------------------------------------------------------------

def test_secrets_in_the_message_are_redacted():
    out = setup()
    log.info(f"connecting with key {KEY} and token {TOKEN} (hook {HOOK})")
    text = out.getvalue()
    assert "connecting with key *** and token *** (hook ***)" in text
    for s in SECRETS:
        assert s not in text


def test_secrets_in_args_are_redacted():
    out = setup()
    log.info("header: %s, other: %r", KEY, {"token": TOKEN})
    text = out.getvalue()
    assert "header: ***, other: {'token': '***'}" in text
    assert KEY not in text and TOKEN not in text


def test_secrets_in_tracebacks_are_redacted():
    out = setup()
    try:
        raise RuntimeError(f"server rejected {TOKEN}")
    except RuntimeError:
        log.exception("request failed for %s", KEY)
    text = out.getvalue()
    assert "request failed for ***" in text
    assert "Traceback (most recent call last)" in text
    assert "RuntimeError: server rejected ***" in text
    assert TOKEN not in text and KEY not in text


def test_secret_containing_another_is_replaced_whole():
    out = setup(secrets=("abcd", "abcdefgh"))
    log.info("value abcdefgh and abcd")
    assert "value *** and ***" in out.getvalue()
    assert "efgh" not in out.getvalue()


@pytest.mark.parametrize("short", ["a", "ab", "abc"])
def test_short_secrets_are_not_redacted(short):
    out = setup(secrets=(short, "", KEY))
    log.info("a cabbage and abc-xyz with %s", KEY)
    text = out.getvalue()
    assert "a cabbage and abc-xyz with ***" in text
    assert "*** " not in text.split("with")[0]


def test_set_secrets_on_the_returned_formatter_updates_redaction():
    stream = StringIO()
    fmt = logs.setup("info", secrets=(KEY,), stream=stream, env={})
    fmt.set_secrets(["new-secret-99"])
    log.info("%s %s", KEY, "new-secret-99")
    assert f"{KEY} ***" in stream.getvalue()


# --- format -----------------------------------------------------------------------------

def test_plain_lines_have_timestamp_level_and_logger():
    out = setup()
    log.info("hello")
    log.warning("careful")
    got = lines(out)
    assert len(got) == 2
    assert TIMESTAMP.match(got[0])
    assert got[0].endswith(" INFO syncd.daemon.service: hello")
    assert got[1].endswith(" WARNING syncd.daemon.service: careful")
    assert not got[0].startswith("<")


@pytest.mark.parametrize("method, prefix", [("debug", "<7>"), ("info", "<6>"),
                                            ("warning", "<4>"), ("error", "<3>"),
                                            ("critical", "<2>")])
def test_journald_lines_carry_the_priority_prefix(method, prefix):
    out = setup("debug", journald=True)
    getattr(log, method)("hello %s", KEY)
    assert lines(out) == [f"{prefix}syncd.daemon.service: hello ***"]


def test_journald_lines_have_no_timestamp():
    out = setup(journald=True)
    log.info("x")
    (line,) = lines(out)
    assert not re.search(r"\d\d:\d\d:\d\d", line)
    assert "INFO" not in line


def test_journald_prefixes_every_line_of_a_multi_line_record():
    out = setup(journald=True)
    try:
        raise ValueError(f"bad {TOKEN}")
    except ValueError:
        log.exception("first\nsecond")
    got = lines(out)
    assert len(got) > 4
    assert got[0] == "<3>syncd.daemon.service: first"
    assert got[1] == "<3>second"
    assert all(line.startswith("<3>") for line in got)
    assert got[-1] == "<3>ValueError: bad ***"


def test_empty_journal_stream_means_plain_format():
    stream = StringIO()
    logs.setup("info", stream=stream, env={"JOURNAL_STREAM": ""})
    log.info("x")
    assert TIMESTAMP.match(stream.getvalue())


# --- levels -----------------------------------------------------------------------------

def test_info_level_filters_debug():
    out = setup("info")
    log.debug("hidden")
    log.info("shown")
    assert [line.rsplit(": ", 1)[1] for line in lines(out)] == ["shown"]


def test_set_level_changes_filtering():
    out = setup("info")
    logs.set_level("warning")
    log.info("hidden-1")
    log.warning("shown-1")
    logs.set_level("debug")
    log.debug("shown-2")
    logs.set_level("error")
    log.warning("hidden-2")
    log.error("shown-3")
    text = out.getvalue()
    assert "hidden" not in text
    assert [line.rsplit(": ", 1)[1] for line in lines(out)] == ["shown-1", "shown-2", "shown-3"]


def test_debug_level_shows_debug():
    out = setup("debug")
    log.debug("dbg")
    assert lines(out)[0].endswith("DEBUG syncd.daemon.service: dbg")


def test_setup_twice_does_not_duplicate_lines():
    first = StringIO()
    logs.setup("info", secrets=SECRETS, stream=first, env={})
    second = setup("info")
    log.info("once")
    assert len(lines(second)) == 1
    assert first.getvalue() == ""  # the first handler is gone
    handlers = [h for h in logging.getLogger().handlers
                if isinstance(h.formatter, logs.RedactingFormatter)]
    assert len(handlers) == 1


def test_setup_again_lowers_the_level():
    out = setup("debug")
    out = setup("warning")
    log.info("hidden")
    log.warning("shown")
    assert [line.rsplit(": ", 1)[1] for line in lines(out)] == ["shown"]


def test_library_info_is_filtered_but_warnings_appear_redacted():
    out = setup("info")
    lib = logging.getLogger("apscheduler")
    lib.info("job ran")
    lib.debug("job details")
    lib.warning("job failed with %s", TOKEN)
    got = lines(out)
    assert len(got) == 1
    assert got[0].endswith("WARNING apscheduler: job failed with ***")
    assert TOKEN not in out.getvalue()


def test_library_debug_appears_when_debugging():
    out = setup("debug")
    logging.getLogger("urllib3").debug("GET /api/v2/resources?key=%s", KEY)
    assert lines(out)[0].endswith("DEBUG urllib3: GET /api/v2/resources?key=***")
