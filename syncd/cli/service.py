"""`syncd service install`: write the systemd user units for this installation.

The shipped units (package data in ``syncd/data/systemd/``) start
``%h/.local/bin/syncd``, which is right for pipx and ``pip install --user`` but
not for a virtualenv elsewhere. This command writes them to
``$XDG_CONFIG_HOME/systemd/user/`` (``~/.config/systemd/user/``) with the
``ExecStart=`` of the syncd that runs it, and prints the commands that enable
them; it runs ``systemctl`` itself only with ``--now``.

* ``syncd service install``: the daemon, ``syncd.service`` (``syncd run``).
* ``--timer``: instead ``syncd.timer`` + ``syncd-sync.service`` (one
  ``syncd sync`` every 15 minutes, the cron-style way).
* ``--credentials``: the key and token the config names as ``${VAR}`` are
  copied from this shell's environment into files only you can read
  (``~/.config/syncd/credentials/VAR``, 0600), and the unit loads them with
  ``LoadCredential=``; syncd reads ``$CREDENTIALS_DIRECTORY/VAR`` when the
  variable is not in its environment. Files stored by an earlier install are
  loaded without the flag too. No secret is ever printed.
* ``--config FILE`` (or ``$SYNCD_CONFIG``): written into ``ExecStart=``, since
  a service does not see the shell's variables.
* ``--print``: show what would be written, write nothing.

An existing unit that differs is replaced only with ``--force`` (exit 73).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import yaml

from syncd.cli import exitcodes
from syncd.cli.errors import CommandError
from syncd.config.loader import config_path
from syncd.config.reader import SECRET_KEYS, VAR_NAME_RE

#: The shipped units' own ExecStart= command, replaced by this installation's.
SHIPPED_COMMAND = "%h/.local/bin/syncd"
DAEMON_UNITS = ("syncd.service",)
TIMER_UNITS = ("syncd-sync.service", "syncd.timer")
_EXEC_START = re.compile(r"^ExecStart=(\S+)(.*)$", re.MULTILINE)
_CREDENTIAL_EXAMPLES = re.compile(r"^#LoadCredential=.*\n", re.MULTILINE)
_SECRET_VAR = re.compile(r"^\$\{(" + VAR_NAME_RE.pattern + r")\}$")


@dataclass(frozen=True)
class Unit:
    name: str
    text: str


def shipped_unit(name: str) -> str:
    """The text of a unit shipped in the package (syncd/data/systemd/)."""
    return (resources.files("syncd") / "data" / "systemd" / name).read_text(encoding="utf-8")


def unit_dir(env: Mapping[str, str]) -> Path:
    """Where a user's own units go: ``$XDG_CONFIG_HOME/systemd/user``."""
    base = env.get("XDG_CONFIG_HOME", "")
    if not os.path.isabs(base):
        base = os.path.join(_home(env), ".config")
    return Path(base) / "systemd" / "user"


def credentials_dir(env: Mapping[str, str]) -> Path:
    """Where ``--credentials`` keeps the secrets: ``~/.config/syncd/credentials``."""
    return unit_dir(env).parent.parent / "syncd" / "credentials"


def _home(env: Mapping[str, str]) -> str:
    return env.get("HOME") or os.path.expanduser("~")


def syncd_command(argv0: str, executable: str) -> list[str]:
    """How a service starts this syncd: the ``syncd`` script that runs now (a
    venv's, or pipx's link in ~/.local/bin), else the one beside the Python that
    runs now, else that Python with ``-m syncd``. Links are kept as they are: a
    pipx link survives a reinstall, the path it points to need not."""
    if os.path.basename(argv0) == "syncd" and os.path.isfile(argv0):
        return [os.path.abspath(argv0)]
    beside = os.path.join(os.path.dirname(executable), "syncd")
    if os.path.isfile(beside) and os.access(beside, os.X_OK):
        return [beside]
    return [executable, "-m", "syncd"]


def unit_path(path: str, home: str) -> str:
    """A path as a unit file writes it: under ``home`` as ``%h/...``, and ``%``
    doubled (systemd expands specifiers)."""
    prefix = ""
    home = home.rstrip("/")
    if home and path.startswith(home + "/"):
        prefix, path = "%h", path[len(home):]
    return prefix + path.replace("%", "%%")


def exec_arg(arg: str, home: str) -> str:
    """One word of an ``ExecStart=`` line: a path as ``unit_path`` writes it,
    ``$`` doubled (systemd would expand a variable), quoted when it holds white
    space, a quote or a backslash."""
    word = unit_path(arg, home).replace("$", "$$")
    if re.search(r"[\s\"'\\]", word):
        word = '"' + word.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return word


def exec_start(command: list[str], rest: str, config: Path | None, home: str) -> str:
    """The new ``ExecStart=`` value: ``command``, the unit's own arguments
    (``run`` or ``sync --quiet``), then ``--config FILE`` when one is given."""
    words = [exec_arg(w, home) for w in command]
    words.append(rest.strip())
    if config is not None:
        words += ["--config", exec_arg(str(config), home)]
    return " ".join(words)


def secret_variables(config: Path) -> list[str]:
    """The variables the config's secrets are written as (``api_key:
    ${EXAVAULT_API_KEY}`` gives EXAVAULT_API_KEY), in the file's order. A
    secret written into the file itself names none."""
    try:
        doc = yaml.safe_load(config.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return []  # `syncd check` explains a broken file; the unit does not depend on it
    found: list[str] = []
    for dotted in SECRET_KEYS:
        node = doc
        for part in dotted.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        match = _SECRET_VAR.match(node) if isinstance(node, str) else None
        if match and match.group(1) not in found:
            found.append(match.group(1))
    return found


def render(name: str, command: list[str], config: Path | None, home: str,
           credentials: Mapping[str, Path]) -> Unit:
    """A shipped unit made for this installation: its ExecStart= runs
    ``command``, and a ``LoadCredential=`` line per ``credentials`` entry (the
    unit's commented examples go)."""
    text = shipped_unit(name)

    def replace(m: re.Match) -> str:
        if m.group(1) != SHIPPED_COMMAND:  # pragma: no cover - the unit tests pin this
            raise AssertionError(f"{name}: unexpected ExecStart= {m.group(0)!r}")
        return "ExecStart=" + exec_start(command, m.group(2), config, home)

    text = _EXEC_START.sub(replace, text)
    if "ExecStart=" in text and credentials:
        lines = "".join(f"LoadCredential={var}:{unit_path(str(path), home)}\n"
                        for var, path in credentials.items())
        text, count = _CREDENTIAL_EXAMPLES.subn("", text)
        if count == 0:  # pragma: no cover - the unit tests pin the examples
            raise AssertionError(f"{name}: no #LoadCredential= examples to replace")
        text = re.sub(r"^(ExecStart=.*\n)", lambda m: m.group(1) + lines, text,
                      count=1, flags=re.MULTILINE)
    return Unit(name, text)


def write_private(path: Path, data: str, mode: int) -> None:
    """``data`` into ``path`` atomically, created with ``mode`` (never wider)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def store_credentials(credentials: Mapping[str, Path], env: Mapping[str, str]) -> None:
    """Each variable's value from ``env`` into its file (0600, in a 0700
    folder). Every variable must be set: nothing is written otherwise."""
    missing = [n for n in credentials if not env.get(n)]
    if missing:
        raise CommandError(f"--credentials: {', '.join(missing)} "
                           f"{'is' if len(missing) == 1 else 'are'} not set in this shell; "
                           "export the value, then run this again", exitcodes.CONFIG)
    for name, path in credentials.items():
        try:
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            os.chmod(path.parent, 0o700)
            write_private(path, env[name], 0o600)
        except OSError as e:
            raise CommandError(f"cannot write {path}: {e.strerror or e}",
                               exitcodes.CANTCREAT) from None


@dataclass(frozen=True)
class Plan:
    units: list[Unit]
    directory: Path                 # where the units go
    variables: list[str]            # the config's secrets, as ${VAR} names
    credentials: dict[str, Path]    # with --credentials: where each is stored


def plan(args: argparse.Namespace, env: Mapping[str, str], argv0: str,
         executable: str) -> Plan:
    """What ``service install`` would write; nothing is written yet."""
    explicit = args.config or env.get("SYNCD_CONFIG") or None
    config = config_path(explicit, env)
    if not config.is_file():
        raise CommandError(f"no config file at {config}: run `syncd init` first, or name one "
                           "with --config", exitcodes.CONFIG)
    given = config.absolute() if explicit else None
    names = TIMER_UNITS if args.timer else DAEMON_UNITS
    variables = secret_variables(config)
    # --credentials stores them; credentials stored by an earlier install are kept
    credentials = {n: credentials_dir(env) / n for n in variables}
    if not args.credentials and not all(p.is_file() for p in credentials.values()):
        credentials = {}
    home = _home(env)
    command = syncd_command(argv0, executable)
    units = [render(n, command, given, home, credentials) for n in names]
    return Plan(units, unit_dir(env), variables, credentials)


def check_clashes(units: list[Unit], directory: Path) -> None:
    """A unit already there that differs (the user's edit) is an error."""
    for unit in units:
        path = directory / unit.name
        if path.is_file() and path.read_text(encoding="utf-8") != unit.text:
            raise CommandError(f"{path} exists and differs (use --force to replace it)",
                               exitcodes.CANTCREAT)


def install(units: list[Unit], directory: Path) -> list[str]:
    """Write ``units`` into ``directory``; a line for each: written or unchanged."""
    done = []
    for unit in units:
        path = directory / unit.name
        if path.is_file() and path.read_text(encoding="utf-8") == unit.text:
            done.append(f"unchanged {path}")
            continue
        try:
            write_private(path, unit.text, 0o644)
        except OSError as e:
            raise CommandError(f"cannot write {path}: {e.strerror or e}",
                               exitcodes.CANTCREAT) from None
        done.append(f"wrote {path}")
    return done


def next_steps(timer: bool) -> list[list[str]]:
    """The systemctl commands that start what was installed."""
    unit = "syncd.timer" if timer else "syncd.service"
    return [["systemctl", "--user", "daemon-reload"],
            ["systemctl", "--user", "enable", "--now", unit]]


def run_systemctl(steps: list[list[str]]) -> int:
    """``--now``: run the steps, stopping at the first that fails."""
    if shutil.which("systemctl") is None:
        raise CommandError("--now: systemctl is not on PATH; run "
                           + " && ".join(" ".join(s) for s in steps) + " where it is",
                           exitcodes.UNAVAILABLE)
    for step in steps:
        print("$ " + " ".join(step), flush=True)
        rc = subprocess.run(step, check=False).returncode
        if rc != 0:
            raise CommandError(f"{' '.join(step)} failed (exit {rc})", exitcodes.FAILURE)
    return exitcodes.OK


def command(args: argparse.Namespace) -> int:
    env = os.environ
    p = plan(args, env, sys.argv[0], sys.executable)
    if args.print:
        for unit in p.units:
            print(f"# {p.directory / unit.name}\n{unit.text}")
        return exitcodes.OK
    if not args.force:
        check_clashes(p.units, p.directory)
    if args.credentials:
        store_credentials(p.credentials, env)
    for line in install(p.units, p.directory):
        print(line)
    other = DAEMON_UNITS if args.timer else TIMER_UNITS
    if any((p.directory / n).exists() for n in other):
        unit = "syncd.service" if args.timer else "syncd.timer"
        kind = f"the daemon {unit}" if args.timer else unit
        print(f"note: {kind} is installed too; run only one of the two "
              f"(systemctl --user disable --now {unit})")
    if p.credentials:
        done = "stored" if args.credentials else "kept (--credentials replaces them)"
        print(f"{', '.join(p.credentials)}: {done} in {credentials_dir(env)} (0600); the unit "
              "loads them with LoadCredential=")
    elif p.variables:
        print(f"note: the config reads {', '.join(p.variables)} from the environment, which a "
              "service does not share with your shell: run this again with --credentials, "
              "or give the unit an EnvironmentFile= (see `syncd man`, CREDENTIALS)")
    steps = next_steps(args.timer)
    if args.now:
        return run_systemctl(steps)
    print("next:")
    for step in steps:
        print("  " + " ".join(step))
    if not args.timer:
        print('  loginctl enable-linger "$USER"    # keep it running while you are logged out')
        print("  journalctl --user -u syncd -f     # follow its log")
    else:
        print("  systemctl --user list-timers syncd.timer    # when the next pass runs")
        print("  journalctl --user -u syncd-sync             # what the passes did")
    return exitcodes.OK
