"""Config fuzzing (issue 5, item 5): malformed configs made from a valid one.

Every mutant must either load or raise ``ConfigError`` whose ``str()`` is one line
``FILE:LINE: ...`` (``FILE: ...`` when no line is known) and never quotes a
secret. Any other exception is a bug. Through the CLI (``syncd sync`` and
``syncd status``) a config error exits 78 with exactly one line on stderr.

The mutator is seeded: ``SYNCD_FUZZ_SEED=N`` replays one run (the seed of every
failing example is printed), ``SYNCD_FUZZ_EXAMPLES=N`` changes how many.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, seed, settings
from hypothesis import strategies as st

from syncd.config.loader import ConfigError, load_config
from tests.helpers.config_fuzz import (
    HOOK,
    KEY,
    SPECIAL,
    _seed,
    _special_path,
    _value_split,
    base_text,
    check_error,
    fuzz_env,
    load_one,
    mutate,
)

# --- the oracle ----------------------------------------------------------------------


def test_base_config_is_valid(tmp_path):
    path = tmp_path / "config.yaml"
    kind, detail = load_one(path, base_text(tmp_path).encode(), fuzz_env(tmp_path))
    assert kind == "ok", detail


def test_mutated_configs_raise_only_config_errors(tmp_path):
    seed = _seed()
    examples = int(os.environ.get("SYNCD_FUZZ_EXAMPLES", "2000"))
    print(f"config fuzz: seed {seed} (replay with SYNCD_FUZZ_SEED={seed}), {examples} examples")
    env = fuzz_env(tmp_path)
    base = base_text(tmp_path)
    path = tmp_path / "config.yaml"
    master = random.Random(seed)
    bugs, kinds = [], {"ok": 0, "error": 0, "bug": 0}
    for _ in range(examples):
        example_seed = master.randrange(2**32)
        data, applied = mutate(base, random.Random(example_seed))
        kind, detail = load_one(path, data, env)
        kinds[kind] += 1
        if kind == "bug":
            bugs.append(f"example seed {example_seed} {applied}: {detail}")
    print(f"config fuzz: {kinds}")
    assert not bugs, f"{len(bugs)} bugs (seed {seed}):\n" + "\n".join(bugs[:20])
    assert kinds["error"] > examples // 2  # the mutator does make bad configs


# --- whole-file oddities ---------------------------------------------------------------

def _fails(path: Path, env: dict) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_config(path, env)
    try:
        data = path.read_bytes()
    except OSError:
        data = b""
    assert check_error(info.value, path, data) is None, str(info.value)
    return info.value


@contextlib.contextmanager
def _as_nobody():
    """Drop the effective uid for a moment when running as root (root reads
    mode-000 files), so an unreadable config really is unreadable."""
    if os.geteuid() != 0:
        yield
        return
    os.seteuid(65534)
    try:
        yield
    finally:
        os.seteuid(0)


@pytest.mark.parametrize("name", list(SPECIAL))
def test_special_files_are_config_errors(tmp_path, name):
    path = _special_path(tmp_path, name)
    env = fuzz_env(tmp_path)
    with _as_nobody() if name == "unreadable" else contextlib.nullcontext():
        err = _fails(path, env)
    assert SPECIAL[name][1] in err.message
    if name in ("not utf-8", "NUL byte", "two documents"):
        assert err.line is not None


# --- regressions the fuzzer found (named after the example seed) ------------------------

def _text_fails(tmp_path: Path, text: str) -> ConfigError:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    path.chmod(0o600)
    return _fails(path, fuzz_env(tmp_path))


def test_seed_3675193638_bool_tag_on_a_non_boolean_is_a_config_error(tmp_path):
    # was: KeyError: 'maybe' out of PyYAML's bool constructor
    text = base_text(tmp_path).replace("budget: 5000", "budget: !!bool maybe")
    err = _text_fails(tmp_path, text)
    assert (err.line, err.key) == (5, "account.budget")
    assert err.message == "cannot read value 'maybe'"


def test_seed_1006894025_a_variable_used_as_a_path_is_shown_as_written(tmp_path):
    # was: "mirrors[0].local: must be an absolute path, or start with ~ (got
    # 'fuzz-api-key-...')": the environment's value of a variable that also holds
    # the API key, printed because here it stood for a path
    lines = base_text(tmp_path).splitlines(keepends=True)
    n = next(i for i, t in enumerate(lines) if t.lstrip().startswith("local:"))
    lines[n] = lines[n].split("local:")[0] + "local: ${EV_KEY:-}\n"
    err = _text_fails(tmp_path, "".join(lines))
    assert err.key == "mirrors[0].local" and KEY not in err.message
    assert err.message == "must be an absolute path, or start with ~ (got '${EV_KEY:-}')"


def test_seed_4258110792_block_scalar_swallowing_the_account_does_not_quote_secrets(tmp_path):
    # was: "account: must be a mapping (got 'block\\nurl: ...access_token: <TOKEN>...')"
    text = base_text(tmp_path).replace("account:\n", "account: |\n  block\n", 1)
    err = _text_fails(tmp_path, text)
    assert (err.line, err.key) == (1, "account")
    assert err.message == "must be a mapping (got a text of several lines)"


def test_seed_2359934969_folded_webhook_does_not_quote_its_token(tmp_path):
    # was: "account.webhook: must be a mapping ... (got 'listen: ... token: <HOOK> ...')"
    text = base_text(tmp_path).replace("  webhook:\n", "  webhook: >\n")
    err = _text_fails(tmp_path, text)
    assert err.key == "account.webhook" and HOOK not in str(err)
    assert "(got a text of several lines)" in err.message


@pytest.mark.parametrize("old, new, key", [
    ("settle: 1.5s", "settle: " + "9" * 400, "daemon.settle"),
    ("budget: 5000", 'budget: "' + "9" * 5000 + '"', "account.budget"),
    ("bandwidth: {up: 2MB, down: 500KiB}", "bandwidth: {up: '" + "9" * 400 + "MB'}",
     "mirrors[0].bandwidth.up"),
    ("trash_days: 30", "trash_days: " + "9" * 40, "trash_days"),
])
def test_seed_3955981179_huge_numbers_are_config_errors(tmp_path, old, new, key):
    # was: OverflowError: int too large to convert to float (a 400-digit settle);
    # the same family: ValueError past Python's 4300-digit int limit, round(inf)
    err = _text_fails(tmp_path, base_text(tmp_path).replace(old, new))
    assert err.key == key and len(str(err)) < 400


def test_seed_2823695580_undefined_alias_named_like_the_token_is_scrubbed(tmp_path):
    # was: "invalid YAML: found undefined alias '<HOOK>'" (token: *<HOOK>)
    text = base_text(tmp_path).replace(f"token: {HOOK}", f"token: *{HOOK}")
    err = _text_fails(tmp_path, text)
    assert err.line == 11 and "undefined alias '***'" in err.message


def test_a_secret_cut_by_a_long_value_is_scrubbed_before_the_cut(tmp_path):
    # found while fixing the seeds above: a folded value is one line; cutting it at
    # 60 characters could leave half a token that no exact-match scrub would find
    text = base_text(tmp_path).replace(
        "  timeout: 30\n", "  timeout: >\n    " + "x" * 50 + f" token: {HOOK}\n")
    err = _text_fails(tmp_path, text)
    assert err.key == "account.timeout"
    assert HOOK[:8] not in str(err) and "token: **" in str(err)


# --- hypothesis: any text as any value --------------------------------------------------

def _value_lines(text: str) -> list[int]:
    return [i for i, line in enumerate(text.splitlines()) if _value_split(line)]


HYPOTHESIS_SEED = _seed()


@settings(max_examples=400, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@seed(HYPOTHESIS_SEED)
@given(data=st.data(), value=st.text(max_size=40), quoted=st.booleans())
@example(data=None, value="a\x00b", quoted=True)
@example(data=None, value="~\U00010000", quoted=True)  # see the test below
def test_any_text_in_any_value_slot(tmp_path, data, value, quoted):
    print(f"hypothesis seed {HYPOTHESIS_SEED} (replay with SYNCD_FUZZ_SEED={HYPOTHESIS_SEED})")
    base = base_text(tmp_path)
    lines = base.splitlines()
    slots = _value_lines(base)
    i = data.draw(st.sampled_from(slots)) if data is not None else slots[21]
    prefix, _ = _value_split(lines[i])
    # json.dumps is valid YAML double-quoted text (escapes included)
    lines[i] = prefix + (json.dumps(value) if quoted else value)
    raw = ("\n".join(lines) + "\n").encode("utf-8", "surrogatepass")
    kind, detail = load_one(tmp_path / "config.yaml", raw, fuzz_env(tmp_path))
    assert kind != "bug", f"line {i + 1} = {lines[i]!r}: {detail}"


def test_hypothesis_surrogate_pair_escape_in_a_path_is_a_config_error(tmp_path):
    # found by test_any_text_in_any_value_slot: json.dumps("~\U00010000") writes
    # "~\ud800\udc00", which YAML reads as two lone surrogates; was
    # UnicodeEncodeError: 'utf-8' codec can't encode characters ... out of load_config
    text = base_text(tmp_path).replace("local: ~/docs", 'local: "~\\ud800\\udc00"')
    err = _text_fails(tmp_path, text)
    assert (err.line, err.key) == (22, "mirrors[0].local")
    assert "invalid character U+D800" in err.message


# --- through the command line ----------------------------------------------------------


# --- values that load but used to fail only at the first request -----------------------

@pytest.mark.parametrize("value, fragment", [
    ("abc-key\n", "it has a line break at position 8 of 8"),
    (" abc-key", "it has a space at position 1 of 8"),
    ("abc\u00e9key", "it has the character U+00E9 at position 4 of 7"),
])
def test_api_key_with_a_stray_character_from_the_environment_is_a_config_error(
        tmp_path, value, fragment):
    # was: the key was accepted, every request then failed inside requests'
    # header check as "transport error: connection failed", was retried (5
    # transactions) and the sync exited 75 "server unavailable"
    path = tmp_path / "config.yaml"
    path.write_text(base_text(tmp_path))
    path.chmod(0o600)
    with pytest.raises(ConfigError) as info:
        load_config(path, {**fuzz_env(tmp_path), "EV_KEY": value})
    err = info.value
    assert (err.line, err.key) == (3, "account.api_key")
    assert fragment in err.message and value.strip() not in str(err)


@pytest.mark.parametrize("url, fragment", [
    ("http://127.0.0.1:99999999/api/v2", "has an invalid port '99999999'"),
    ("http://127.0.0.1:abc/api/v2", "has an invalid port 'abc'"),
    ("http://127.0.0.1:0/api/v2", "has an invalid port '0'"),
    ("http://[::1/api/v2", "has a malformed [IPv6] host"),
    ("http://127.0.0.1:8765/api/v2?x=1", "must not have a ?query or #fragment"),
    ("http://127.0.0.1:8765/api v2", "must not contain spaces"),
    ("http://h\u00e9llo.example/api", "must not contain spaces, control or non-ASCII"),
    ("http://u:pw-7d1c@127.0.0.1:8765/api/v2", "must not contain user:password@"),
])
def test_bad_urls_are_config_errors_not_connection_failures(tmp_path, url, fragment):
    # was: accepted, then "server unavailable" (exit 75) after 5 paid retries;
    # a password in the URL was printed in that message
    path = tmp_path / "config.yaml"
    path.write_text(base_text(tmp_path).replace("http://127.0.0.1:9/api/v2", f'"{url}"'))
    path.chmod(0o600)
    with pytest.raises(ConfigError) as info:
        load_config(path, fuzz_env(tmp_path))
    assert (info.value.line, info.value.key) == (2, "account.url")
    assert fragment in info.value.message
    assert "pw-7d1c" not in str(info.value)


def test_good_urls_still_load(tmp_path):
    for url in ("http://127.0.0.1:8765/api/v2", "https://acme.exavault.com/api/v2",
                "http://[::1]:8080/api/v2", "https://ACME.exavault.com:443"):
        path = tmp_path / "config.yaml"
        path.write_text(base_text(tmp_path).replace("http://127.0.0.1:9/api/v2", url))
        path.chmod(0o600)
        assert load_config(path, fuzz_env(tmp_path)).account.url == url


