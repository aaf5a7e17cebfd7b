"""`fleetfix.toml`: settings an incident team writes once instead of on every command line.

Looked for in the current folder, then in the user's config folder
(`$XDG_CONFIG_HOME/fleetfix/fleetfix.toml`, else `~/.config/fleetfix/fleetfix.toml`), or
named with `fleetfix --config FILE` / `FLEETFIX_CONFIG`. Precedence, highest first: flags,
FLEETFIX_* environment variables, the file, built-in defaults (click's own order for
`default_map`). Example::

    [defaults]                # every command that has the option
    db = "/srv/incidents/INC-4711.db"
    operator = "alice"
    ca-file = "corp-ca.pem"

    [run]                     # one command; nested ones as [key.lookup]
    pack = "crowdstrike-291"
    canary = "5"
    max-fail-percent = 10

    [keys.escrow]             # key providers: see fleetfix/keys/config.py
    path = "keys.csv"

Secrets never go here: a key that names a password, secret, token, HMAC or key is refused,
and the file says which variable holds it instead (`password_env = "..."`). `fleetfix config
show` prints every setting in effect and where it came from, secrets masked.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

from fleetfix.errors import ConfigError

CONFIG_NAME = "fleetfix.toml"
#: Sections that are not command settings.
_NOT_COMMANDS = frozenset({"defaults", "keys"})
# A name that says its value is a secret: FLEETFIX_AUDIT_HMAC_KEY, client_secret, API_KEY.
# A trailing `key` only: key-id and keys.escrow name no secret.
_SECRET_NAME = re.compile(
    r"password|passwd|passphrase|secret|token|hmac|credential|recovery_?key|(?:^|[_.-])key$",
    re.IGNORECASE,
)
_SECRET_ALLOWED = re.compile(r"_env$")  # names the variable that holds a secret


@dataclass(frozen=True, slots=True)
class Config:
    path: Path | None
    sections: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def section(self, name: str) -> Mapping[str, Any]:
        return self.sections.get(name, {})


@dataclass(frozen=True, slots=True)
class FileValue:
    """One option's value from the file and the section that set it (None: the file itself,
    for a command's own `--config`)."""

    section: str | None
    value: Any


def user_config_path(env: Mapping[str, str] | None = None) -> Path:
    environment = os.environ if env is None else env
    base = environment.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "fleetfix" / CONFIG_NAME


def find_config(explicit: Path | None, *, cwd: Path | None = None,
                env: Mapping[str, str] | None = None) -> Path | None:  # fmt: skip
    if explicit is not None:
        if not explicit.is_file():
            raise ConfigError(f"config file {explicit} does not exist")
        return explicit
    for candidate in ((cwd or Path.cwd()) / CONFIG_NAME, user_config_path(env)):
        if candidate.is_file():
            return candidate
    return None


def load_config(explicit: Path | None = None, *, cwd: Path | None = None,
                env: Mapping[str, str] | None = None) -> Config:  # fmt: skip
    path = find_config(explicit, cwd=cwd, env=env)
    if path is None:
        return Config(None)
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from None
    _refuse_secrets(document, where=str(path))
    sections: dict[str, Mapping[str, Any]] = {}
    for name, value in document.items():
        if not isinstance(value, dict):
            raise ConfigError(f"{path}: `{name}` must be a [section], e.g. [defaults] or [run]")
        _flatten(name, value, sections)
    return Config(path, sections)


def _flatten(name: str, table: Mapping[str, Any], out: dict[str, Mapping[str, Any]]) -> None:
    """[key.lookup] arrives as {"key": {"lookup": {...}}}: one section per command path."""
    plain = {k: v for k, v in table.items() if not isinstance(v, dict)}
    out[name] = plain
    for key, value in table.items():
        if isinstance(value, dict):
            _flatten(f"{name}.{key}", value, out)


def _refuse_secrets(table: Mapping[str, Any], *, where: str, prefix: str = "") -> None:
    for key, value in table.items():
        if isinstance(value, dict):
            _refuse_secrets(value, where=where, prefix=f"{prefix}{key}.")
        elif is_secret_name(key):
            raise ConfigError(
                f"{where}: `{prefix}{key}` looks like a secret; secrets never go in the config "
                "file. Put it in an environment variable or the OS keyring and name the "
                f'variable instead (e.g. `{key}_env = "FLEETFIX_..."`)'
            )


def _option_keys(param: click.Option) -> set[str]:
    return {opt.lstrip("-").replace("-", "_") for opt in param.opts if opt.startswith("--")}


def _options(command: click.Command) -> list[click.Option]:
    return [p for p in command.params if isinstance(p, click.Option)]


def file_values(command: click.Command, path: str, config: Config) -> dict[str, FileValue]:
    """The file's value for each of `command`'s options it sets, by parameter name: [path]
    beats [defaults], and a command's own `--config` (key providers) is this file unless the
    file names another."""
    found: dict[str, FileValue] = {}
    for param in _options(command):
        names = _option_keys(param)
        for section in ("defaults", path):
            for key, value in config.section(section).items():
                if key.replace("-", "_") in names:
                    found[str(param.name)] = FileValue(section, value)
        if param.name == "config_path" and config.path is not None and param.name not in found:
            found[param.name] = FileValue(None, config.path)
    return found


def default_map_for(command: click.Command, path: str, config: Config) -> dict[str, Any]:
    """click's `default_map` for `command` (and, for a group, its sub-commands)."""
    known = set().union(*(_option_keys(p) for p in _options(command)))
    unknown = [k for k in config.section(path) if k.replace("-", "_") not in known]
    if unknown and not isinstance(command, click.Group):
        raise ConfigError(
            f"{config.path}: [{path}] has no setting {', '.join(sorted(unknown))}; see "
            f"`fleetfix {path.replace('.', ' ')} --help` for the option names"
        )
    result: dict[str, Any] = {
        name: found.value for name, found in file_values(command, path, config).items()
    }
    if isinstance(command, click.Group):
        for name, sub in command.commands.items():
            result[name] = default_map_for(sub, f"{path}.{name}", config)
    return result


def check_sections(config: Config, commands: set[str]) -> None:
    """Every command section names a command fleetfix has."""
    for name in config.sections:
        top = name.split(".")[0]
        if top in _NOT_COMMANDS or top in commands:
            continue
        raise ConfigError(f"{config.path}: [{name}] is no fleetfix command; known: "
                          f"defaults, keys, {', '.join(sorted(commands))}")  # fmt: skip


def is_secret_name(name: str) -> bool:
    """Whether a setting or variable called `name` holds a secret (not merely names one)."""
    return bool(_SECRET_NAME.search(name)) and not names_a_variable(name)


def names_a_variable(name: str) -> bool:
    """Whether a setting called `name` names the variable that holds a secret
    (`password_env = "LDAP_BIND"`) rather than holding one."""
    return bool(_SECRET_ALLOWED.search(name))
