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

Secrets never go here: a key that names a password, secret or token is refused, and the file
says which variable holds it instead (`password_env = "..."`).
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
_SECRET_KEY = re.compile(r"(password|passwd|secret|token|recovery_?key)", re.IGNORECASE)
_SECRET_ALLOWED = re.compile(r"_env$")  # names the variable that holds a secret
_MASK = "********"


@dataclass(frozen=True, slots=True)
class Config:
    path: Path | None
    sections: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def section(self, name: str) -> Mapping[str, Any]:
        return self.sections.get(name, {})


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
        elif _SECRET_KEY.search(key) and not _SECRET_ALLOWED.search(key):
            raise ConfigError(
                f"{where}: `{prefix}{key}` looks like a secret; secrets never go in the config "
                "file. Put it in an environment variable or the OS keyring and name the "
                f'variable instead (e.g. `{key}_env = "FLEETFIX_..."`)'
            )


def _option_keys(param: click.Option) -> set[str]:
    return {opt.lstrip("-").replace("-", "_") for opt in param.opts if opt.startswith("--")}


def default_map_for(command: click.Command, path: str, config: Config) -> dict[str, Any]:
    """click's `default_map` for `command` (and, for a group, its sub-commands)."""
    result: dict[str, Any] = {}
    section = config.section(path)
    options = [p for p in command.params if isinstance(p, click.Option)]
    known = set().union(*(_option_keys(p) for p in options)) if options else set()
    unknown = [k for k in section if k.replace("-", "_") not in known]
    if unknown and not isinstance(command, click.Group):
        raise ConfigError(
            f"{config.path}: [{path}] has no setting {', '.join(sorted(unknown))}; see "
            f"`fleetfix {path.replace('.', ' ')} --help` for the option names"
        )
    values = {**config.section("defaults"), **section}
    for param in options:
        names = _option_keys(param)
        for key, value in values.items():
            if key.replace("-", "_") in names:
                result[str(param.name)] = value
        if param.name == "config_path" and config.path is not None and "config" not in values:
            result[str(param.name)] = config.path  # `key --config`: the same file by default
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


def masked(key: str, value: object) -> object:
    return _MASK if _SECRET_KEY.search(key) and not _SECRET_ALLOWED.search(key) else value


def environment_settings(env: Mapping[str, str] | None = None) -> dict[str, object]:
    """FLEETFIX_* variables as they are set now, secrets masked."""
    environment = os.environ if env is None else env
    return {k: masked(k, v) for k, v in sorted(environment.items()) if k.startswith("FLEETFIX_")}
