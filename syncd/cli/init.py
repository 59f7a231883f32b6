"""`syncd init`: write a commented configuration for a new mirror.

Values come from the command line, or from prompts when standard input is a
terminal and a required one (URL, local folder, remote folder) is missing.
Without a terminal a missing value is a usage error (64).

On a terminal each answer is checked as soon as it is given, by the same rules
as the config file (the loader itself judges a config holding the answers so
far), and asked again with the reason: a URL that does not end in ``/api/v2``
(the usual mistake; the fix is offered, the same answer again keeps it), a local
path that is a file, a remote folder or mirror name the config would refuse. The
mirror's name is suggested from the local folder's name. Ctrl-D cancels, and
nothing is written. The end lists the commands to run next.

The credentials are never echoed and, by default, never written: the file
refers to ``${EXAVAULT_API_KEY}`` and ``${EXAVAULT_ACCESS_TOKEN}`` (other
names with ``--api-key-env`` / ``--token-env``), which syncd expands from the
environment when it starts. ``--inline-secrets`` writes them into the file
instead (the file is 0600 either way), taken from ``--secrets-file`` (a file
only its owner may read, ``NAME=value`` lines, as for systemd's
``EnvironmentFile=``), else from those environment variables, else from a
prompt that does not echo.

The text is checked with ``syncd.config.loader.load_config`` before it is put in
place, so what init writes always loads. An existing file is never replaced
without ``--force`` (exit 73, EX_CANTCREAT). The file is created 0600; a
folder created for it is 0700.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import re
import shlex
import sys
import tempfile
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

import platformdirs

from syncd.cli import exitcodes
from syncd.cli.errors import CommandError
from syncd.config import schema
from syncd.config.loader import APP_NAME, ConfigError, config_path, load_config
from syncd.config.reader import VAR_NAME_RE
from syncd.config.values import NAME_RE
from syncd.state.connection import make_private_dirs  # 0700 whatever the umask

DEFAULT_KEY_ENV = "EXAVAULT_API_KEY"
DEFAULT_TOKEN_ENV = "EXAVAULT_ACCESS_TOKEN"
# config keys (as ConfigError names them) -> the flag that supplied the value
_FLAGS = {"account.url": "--url", "mirrors[0].name": "--name", "mirrors[0].local": "--local",
          "mirrors[0].remote": "--remote", "state_dir": "--state-dir",
          "account.api_key": "the API key", "account.access_token": "the access token"}


@dataclass
class InitOptions:
    config: str | None = None
    url: str | None = None
    name: str | None = None
    local: str | None = None
    remote: str | None = None
    state_dir: str | None = None
    api_key_env: str = DEFAULT_KEY_ENV
    token_env: str = DEFAULT_TOKEN_ENV
    inline_secrets: bool = False
    secrets_file: str | None = None
    force: bool = False
    asked: set[str] = field(default_factory=set)  # config keys answered at a prompt


@dataclass
class Terminal:
    """How init talks to a human: ``ask(prompt)`` returns a line (EOFError at the
    end of input), ``secret(prompt)`` one that is not echoed, ``say(line)`` tells
    why an answer is asked again."""

    interactive: bool
    ask: Callable[[str], str] = input
    secret: Callable[[str], str] = getpass.getpass
    say: Callable[[str], None] = print

    @classmethod
    def default(cls) -> Terminal:
        return cls(interactive=sys.stdin.isatty())


def _usage(message: str) -> CommandError:
    return CommandError(message, exitcodes.USAGE)


# ---------------------------------------------------------------------- the text

def _q(value: str) -> str:
    """A YAML double-quoted scalar holding ``value`` literally (``$`` doubled, since
    syncd expands ``${VAR}`` in every value). JSON strings are valid YAML."""
    return json.dumps(value.replace("$", "$$"), ensure_ascii=False)


def _commented(head: str, doc: str, column: int) -> list[str]:
    """``head`` with ``doc`` as a comment from ``column`` on (a line break in the
    doc continues it below)."""
    first, *more = doc.split("\n")
    lines = [f"{head.ljust(column - 2)}  # {first}"]
    lines += [f"{head[:head.index('#') + 1].ljust(column - 2)}  # {line}" for line in more]
    return lines


def _defaults(section: schema.Section, prefix: str, column: int) -> str:
    """The keys of ``section`` that have a default of their own to show, each
    commented out with it and its doc; the others are in the template itself."""
    lines = []
    for key in section.keys:
        block = isinstance(key.kind, schema.Section) and not key.kind.inline
        if not (key.required or key.computed or block):
            lines += _commented(f"{prefix}{key.name}: {schema.default_text(key)}", key.doc,
                                column)
    return "\n".join(lines)


def render(*, url: str, name: str, local: str, remote: str, api_key: str, access_token: str,
           state_dir: str | None = None) -> str:
    """The configuration file's text: the required keys with the values given,
    every other key commented out with its default (from the schema).
    ``api_key``/``access_token`` are written as given: a ``${VAR}`` reference or
    an already quoted literal."""
    state_doc = schema.key("state_dir").doc
    state_line = (f"state_dir: {_q(state_dir)}   # {state_doc}" if state_dir
                  else f"# state_dir: {platformdirs.user_state_dir(APP_NAME)}   # {state_doc}")
    hook_path = schema.default_text(schema.key("account.webhook.path"))
    daemon = "\n".join(_commented("# daemon:", schema.key("daemon").doc, 32))
    return f"""\
# syncd configuration, written by `syncd init`.
# Check it with `syncd check`, then run `syncd sync` once, or `syncd run`.
# A key that is commented out takes the default shown. Every key is explained
# in config.example.yaml and docs/configuration.md. ${{VAR}} in any value is
# read from the environment when syncd starts ($$ is a literal $). Durations:
# seconds or 90s, 5m, 2h, 1d. Rates: bytes/s or 2MB, 500KiB.

account:
  url: {_q(url)}
  api_key: {api_key}
  access_token: {access_token}
{_defaults(schema.ACCOUNT, "  # ", 25)}
  # webhook: {{listen: "127.0.0.1:8787", token: "${{EXAVAULT_WEBHOOK_TOKEN}}", path: {hook_path}}}

{state_line}
{_defaults(schema.TOP, "# ", 32)}

{daemon}
{_defaults(schema.DAEMON, "#   ", 32)}

mirrors:
  - name: {_q(name)}
    local: {_q(local)}
    remote: {_q(remote)}
{_defaults(schema.MIRROR, "    # ", 32)}
"""


# ---------------------------------------------------------------------- values

def _read_secrets_file(path: str, names: tuple[str, str]) -> dict[str, str]:
    """``NAME=value`` lines (``export`` and matching quotes allowed, ``#`` comments)
    from a file only its owner may read."""
    p = Path(os.path.expanduser(path))
    try:
        st = p.stat()
        text = p.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else "not UTF-8 text"
        raise CommandError(f"--secrets-file {p}: cannot read it: {why}",
                           exitcodes.NOINPUT) from None
    if st.st_mode & 0o077:
        raise CommandError(f"--secrets-file {p}: others may read it (mode "
                           f"{st.st_mode & 0o777:04o}); run chmod 600 {shlex.quote(str(p))}",
                           exitcodes.DATAERR)
    found: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, value = line.removeprefix("export ").partition("=")
        name, value = name.strip(), value.strip()
        if sep and name in names:
            if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
                value = value[1:-1]
            found[name] = value
    missing = [n for n in names if not found.get(n)]
    if missing:
        raise CommandError(f"--secrets-file {p}: no {' and no '.join(missing)}=... line "
                           "(the names are set by --api-key-env and --token-env)",
                           exitcodes.DATAERR)
    return found


TRIES = 5  # answers to one question before init gives up
API_SUFFIX = "/api/v2"
# Stand-ins for the answers not given yet, so that the loader can judge one answer.
_STAND_INS = {"url": "https://account.exavault.com/api/v2", "name": "m",
              "remote": "/syncd-init-stand-in"}
# config keys (as ConfigError names them) -> the question that supplied the value
_QUESTIONS = {"account.url": "the API URL", "mirrors[0].name": "the mirror's name",
              "mirrors[0].local": "the local folder", "mirrors[0].remote": "the remote folder"}


def _cancelled() -> CommandError:
    return _usage("init cancelled: nothing was written")


def _ask(term: Terminal, prompt: str, default: str | None = None,
         check: Callable[[str], str | None] = lambda answer: None,
         fix: Callable[[str], str | None] = lambda answer: None) -> str:
    """Ask until ``check`` finds nothing wrong with the answer (it returns the
    reason otherwise, which is shown before asking again, with ``fix(answer)``,
    if any, as the default)."""
    for _ in range(TRIES):
        shown = f"{prompt} [{default}]: " if default else f"{prompt}: "
        try:
            answer = term.ask(shown).strip() or (default or "")
        except EOFError:
            raise _cancelled() from None
        why = check(answer) if answer else "an answer is needed"
        if why is None:
            return answer
        default = fix(answer) or default
        term.say(f"  {why}; try again (Ctrl-D cancels)")
    raise _usage(f"no usable answer to {prompt!r} after {TRIES} tries: nothing was written")


def suggest_name(local: str) -> str | None:
    """A mirror name from the local folder's name: runs of characters a name may
    not hold become '-' ("Team Docs" -> "Team-Docs")."""
    leaf = Path(local.rstrip("/")).name
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", leaf).strip("-._")
    return name if NAME_RE.fullmatch(name) else None


def _local_path(answer: str) -> str:
    return os.path.abspath(os.path.expanduser(answer))


def _remote_path(answer: str) -> str:
    return answer if answer.startswith("/") else "/" + answer


class _Judge:
    """Judges one answer by loading a config that holds it, the answers before it
    and stand-ins for the rest: the reason is the loader's own message for that
    key (so prompts and the config file follow one set of rules)."""

    def __init__(self, opts: InitOptions, target: Path, env: Mapping[str, str]):
        self.opts = opts
        self.env = {**env, "K": "k", "T": "t"}  # (the secrets are ${K} and ${T})
        self.stand_in_local = str(target.parent / "syncd-init-stand-in")

    def problem(self, key: str, **answer: str) -> str | None:
        o = self.opts
        values = {"url": o.url or _STAND_INS["url"], "name": o.name or _STAND_INS["name"],
                  "local": o.local and _local_path(o.local) or self.stand_in_local,
                  "remote": o.remote and _remote_path(o.remote) or _STAND_INS["remote"]}
        values.update(answer)
        text = render(api_key="${K}", access_token="${T}", state_dir=(
            os.path.abspath(os.path.expanduser(o.state_dir)) if o.state_dir else None),
            **values)
        with tempfile.TemporaryDirectory(prefix="syncd-init-") as tmp:
            path = Path(tmp) / "config.yaml"
            path.write_text(text, encoding="utf-8")
            os.chmod(path, 0o600)
            try:
                load_config(path, env=self.env)
            except ConfigError as exc:
                return exc.message if exc.key == key else None
        return None


def _ask_url(term: Terminal, judge: _Judge) -> str:
    warned: set[str] = set()

    def fix(answer: str) -> str | None:
        fixed = answer.rstrip("/") + API_SUFFIX
        return None if _api_like(answer) or judge.problem("account.url", url=fixed) else fixed

    def check(answer: str) -> str | None:
        why = judge.problem("account.url", url=answer)
        if why or _api_like(answer) or answer in warned:
            return why
        warned.add(answer)  # the same answer again keeps it (a proxy, another service)
        return (f"an ExaVault API URL ends in {API_SUFFIX}, like https://ACCOUNT.exavault.com"
                f"{API_SUFFIX}: press Enter for {fix(answer)}, or give the same URL again "
                "to keep it")
    return _ask(term, f"ExaVault API URL (https://ACCOUNT.exavault.com{API_SUFFIX})", None,
                check, fix)


def _api_like(url: str) -> bool:
    return url.rstrip("/").endswith(API_SUFFIX)


def _ask_local(term: Terminal, judge: _Judge) -> str:
    def check(answer: str) -> str | None:
        path = Path(_local_path(answer))
        if path.is_dir():
            if not os.access(path, os.W_OK | os.X_OK):
                return f"{path}: you may not write in this folder"
        elif os.path.lexists(path):
            return f"{path} is a file, not a folder"
        return judge.problem("mirrors[0].local", local=str(path))
    answer = _ask(term, "Local folder to keep in sync", None, check)
    if not os.path.isdir(_local_path(answer)):
        term.say(f"  {_local_path(answer)} does not exist yet: the first sync creates it")
    return answer


def _gather(opts: InitOptions, term: Terminal, target: Path, env: Mapping[str, str]) -> None:
    """Fill in the missing values by asking (on a terminal), else fail with 64."""
    asking = term.interactive and not (opts.url and opts.local and opts.remote)
    if asking:
        judge = _Judge(opts, target, env)
        if not opts.url:
            opts.url = _ask_url(term, judge)
            opts.asked.add("account.url")
        if not opts.local:
            opts.local = _ask_local(term, judge)
            opts.asked.add("mirrors[0].local")
        if not opts.remote:
            opts.remote = _ask(term, "Remote folder (e.g. /work)", None, lambda answer: (
                judge.problem("mirrors[0].remote", remote=_remote_path(answer))))
            opts.asked.add("mirrors[0].remote")
        if not opts.name:
            opts.name = _ask(term, "Name of this mirror", suggest_name(opts.local or ""),
                             lambda answer: judge.problem("mirrors[0].name", name=answer))
            opts.asked.add("mirrors[0].name")
        if not (opts.inline_secrets or opts.secrets_file):
            answer = _ask(term, f"Read the API key and token from ${opts.api_key_env} and "
                                f"${opts.token_env} when syncd starts (e), or store them in "
                                "the config file, readable only by you (f)?", "e",
                          lambda answer: None if answer[:1].lower() in ("e", "f")
                          else "answer e or f")
            opts.inline_secrets = answer.lower().startswith("f")
    missing = [flag for flag, value in (("--url", opts.url), ("--local", opts.local),
                                        ("--remote", opts.remote)) if not value]
    if missing:
        raise _usage(f"init needs {', '.join(missing)} (or run it on a terminal to be asked)")
    if not opts.name:
        opts.name = suggest_name(opts.local or "")
        if not opts.name:
            raise _usage("init needs --name: the local folder's name cannot name a mirror "
                         "(letters, digits, '.', '_' and '-')")


def _secret_values(opts: InitOptions, env: Mapping[str, str], term: Terminal
                   ) -> tuple[str, str]:
    names = (opts.api_key_env, opts.token_env)
    if opts.secrets_file:
        found = _read_secrets_file(opts.secrets_file, names)
        return found[names[0]], found[names[1]]
    if env.get(names[0]) and env.get(names[1]):
        return env[names[0]], env[names[1]]
    if not term.interactive:
        raise _usage(f"--inline-secrets needs the API key and token: set ${names[0]} and "
                     f"${names[1]}, or give --secrets-file FILE")
    values = []
    for label, name in (("API key", names[0]), ("Access token", names[1])):
        value = env.get(name) or ""
        for _ in range(3):
            if value:
                break
            try:
                value = term.secret(f"{label} (not shown): ").strip()
            except EOFError:
                break
        if not value:
            raise _usage(f"no {label.lower()} given")
        values.append(value)
    return values[0], values[1]


# ---------------------------------------------------------------------- writing

def _validate(text: str, folder: Path, env: Mapping[str, str],
              asked: Collection[str] = ()) -> None:
    """Load ``text`` as syncd would (from a temporary file beside the target): a
    problem is reported against the flag that supplied the value, or the
    question (``asked``: the keys answered at a prompt)."""
    fd, tmp = tempfile.mkstemp(prefix=".syncd-init-", suffix=".yaml", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        load_config(tmp, env=env)
    except ConfigError as exc:
        key = exc.key or ""
        what = (_QUESTIONS if key in asked else _FLAGS).get(key, key or "the configuration")
        raise _usage(f"{what}: {exc.message}") from None
    finally:
        os.unlink(tmp)


def _write(target: Path, text: str, force: bool) -> None:
    data = text.encode("utf-8")
    if force:
        fd, tmp = tempfile.mkstemp(prefix=".syncd-init-", suffix=".yaml", dir=target.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, target)
        except BaseException:
            if os.path.lexists(tmp):
                os.unlink(tmp)
            raise
        return
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def _exists(target: Path) -> CommandError:
    return CommandError(f"{target} already exists; not replaced (use --force to overwrite "
                        "it)", exitcodes.CANTCREAT)


def run_init(opts: InitOptions, *, env: Mapping[str, str] | None = None,
             term: Terminal | None = None, out: TextIO | None = None) -> int:
    env = os.environ if env is None else env
    term = term or Terminal.default()
    out = out or sys.stdout
    for flag, name in (("--api-key-env", opts.api_key_env), ("--token-env", opts.token_env)):
        if not VAR_NAME_RE.fullmatch(name or ""):
            raise _usage(f"{flag}: not a variable name: {name!r}")
    if opts.api_key_env == opts.token_env:
        raise _usage("--api-key-env and --token-env must name different variables")
    target = Path(os.path.abspath(config_path(opts.config, env)))
    if not opts.force and os.path.lexists(target):
        raise _exists(target)  # before asking anything
    if target.is_dir():
        raise CommandError(f"{target} is a folder, not a config file", exitcodes.CANTCREAT)

    _gather(opts, term, target, env)
    inline = opts.inline_secrets or bool(opts.secrets_file)
    local = os.path.abspath(os.path.expanduser(opts.local or ""))
    remote = opts.remote or ""
    remote = remote if remote.startswith("/") else "/" + remote
    state_dir = (os.path.abspath(os.path.expanduser(opts.state_dir)) if opts.state_dir
                 else None)
    check_env = dict(env)
    if inline:
        key, token = _secret_values(opts, env, term)
        key_text, token_text = _q(key), _q(token)
    else:
        key_text, token_text = f"${{{opts.api_key_env}}}", f"${{{opts.token_env}}}"
        for name in (opts.api_key_env, opts.token_env):  # checked for shape elsewhere
            check_env[name] = "set-when-syncd-starts"
    text = render(url=(opts.url or "").strip(), name=opts.name or "", local=local,
                  remote=remote, api_key=key_text, access_token=token_text,
                  state_dir=state_dir)

    try:
        make_private_dirs(target.parent)
        _validate(text, target.parent, check_env, opts.asked)
        _write(target, text, opts.force)
    except FileExistsError:  # created meanwhile
        raise _exists(target) from None
    except OSError as exc:
        where = exc.filename or target
        raise CommandError(f"cannot write {where}: {exc.strerror or exc}",
                           exitcodes.CANTCREAT) from None

    config = load_config(target, env=check_env)
    m = config.mirrors[0]
    say = lambda line: print(line, file=out)
    say(f"Wrote {target} (mode 0600): mirror {m.name}: {m.local} <-> {m.remote} "
        f"on {config.account.url}")
    if inline:
        say("The API key and access token are stored in it; keep it private.")
    else:
        unset = [n for n in (opts.api_key_env, opts.token_env) if not env.get(n)]
        note = (f" ({' and '.join('$' + n for n in unset)} not set in this shell)"
                if unset else "")
        say(f"The API key and access token are read from ${opts.api_key_env} and "
            f"${opts.token_env} when syncd starts{note}; a systemd service needs them too "
            "(Environment= or EnvironmentFile= in a drop-in; see systemd/README.md).")
    default = Path(os.path.abspath(config_path(None, env)))
    flag = "" if target == default else f" --config {shlex.quote(str(target))}"
    say("Next:")
    steps = ((f"syncd check{flag}", "is it ready? (reaches the account)"),
             (f"syncd sync{flag} --dry-run", "show what the first sync would do"),
             (f"syncd sync{flag}", "sync once"),
             (f"syncd run{flag}", "keep syncing (or the systemd unit: docs/operations.md)"))
    width = max(len(cmd) for cmd, _ in steps) + 2
    for cmd, why in steps:
        say(f"  {cmd.ljust(width)}# {why}")
    return exitcodes.OK


def command(args: argparse.Namespace) -> int:
    """`syncd init`: the parsed options, as ``run_init`` takes them."""
    given = {k: v for k, v in vars(args).items()
             if v is not None and k in InitOptions.__dataclass_fields__}
    return run_init(InitOptions(**given))
