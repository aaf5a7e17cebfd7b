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

import dataclasses
import json
import os
import re
import tomllib
from collections.abc import Iterator, Mapping, Sequence
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
        elif is_secret_name(key):
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


def is_secret_name(name: str) -> bool:
    """Whether a setting or variable called `name` holds a secret (not merely names one)."""
    return bool(_SECRET_NAME.search(name)) and not _SECRET_ALLOWED.search(name)


def masked(key: str, value: object) -> object:
    return _MASK if is_secret_name(key) else value


# --- `fleetfix config show`: every setting as a command will see it -------------------------

_DEFAULT = "default"
# What click's get_default returns for an option without a default (None in older clicks).
_NO_DEFAULT = click.Option(["--unset"]).get_default(click.Context(click.Command("unset")))


@dataclass(frozen=True, slots=True)
class Setting:
    """One setting as fleetfix will use it: the value in effect (secrets masked), where it comes
    from, the sources it beats, and the commands it applies to."""

    name: str
    value: object
    source: str
    beats: tuple[str, ...] = ()
    commands: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, object]:
        return {"setting": self.name, "value": self.value, "source": self.source,
                "beats": list(self.beats), "commands": list(self.commands)}  # fmt: skip


def file_origin(config: Config, source: click.core.ParameterSource | None, *,
                cwd: Path | None = None) -> str:  # fmt: skip
    """How the settings file was chosen, given where the root `--config` value came from."""
    if source is click.core.ParameterSource.COMMANDLINE:
        return "flag --config"
    if source is click.core.ParameterSource.ENVIRONMENT:
        return "FLEETFIX_CONFIG"
    if config.path is None:
        return f"{_DEFAULT} (none found: ./{CONFIG_NAME}, then the user config folder)"
    if config.path == (cwd or Path.cwd()) / CONFIG_NAME:
        return "found in the current folder"
    return "found in the user config folder"


def effective_settings(group: click.Group, ctx: click.Context, config: Config, *, origin: str,
                       command_line: Sequence[str] = (),
                       env: Mapping[str, str] | None = None) -> list[Setting]:  # fmt: skip
    """Without `command_line`: the settings file (`file`), every option a FLEETFIX_* variable
    or the file sets (and the variables' defaults), the [keys] providers and the other
    FLEETFIX_* variables. With `command_line` (`run --db x.db`): every option of that command,
    flags included."""
    environment = dict(os.environ if env is None else env)
    secret_variables = _variables_named_as_secrets(config)
    shown = Setting("file", None if config.path is None else str(config.path), origin)
    if command_line:
        path, command, args = _find_command(group, ctx, command_line)
        flags = _flags(command, path, args)
        resolve = _Resolver(config, environment, secret_variables)
        return [shown, *(resolve(param, command, path, flags) for param in _options(command))]
    return [
        shown,
        *_option_overview(group, ctx, config, environment, secret_variables),
        *_keys_settings(config),
        *_other_variables(group, ctx, environment, secret_variables),
    ]


def settings_lines(settings: Sequence[Setting]) -> list[str]:
    """A table for people: setting, value, source (and what it beats)."""
    names = [s.name for s in settings]
    rows = [("setting", "value", "from")]
    for setting in settings:
        name = setting.name
        if names.count(name) > 1 and setting.commands:  # the same option, set apart per command
            name += f" ({', '.join(setting.commands)})"
        source = setting.source + (f" (beats {', '.join(setting.beats)})" if setting.beats else "")
        rows.append((name, _value_text(setting.value), source))
    width = [max(len(row[i]) for row in rows) for i in (0, 1)]
    return [f"{a:<{width[0]}}  {b:<{width[1]}}  {c}".rstrip() for a, b, c in rows]


def _value_text(value: object) -> str:
    return "-" if value is None else json.dumps(value, default=str)


class _Resolver:
    """click's own precedence, written out so it can also say what each winner beat:
    flag, then FLEETFIX_* variable, then the file ([command] before [defaults]), then default."""

    def __init__(self, config: Config, env: Mapping[str, str], secrets: set[str]) -> None:
        self.config, self.env, self.secrets = config, env, secrets

    def __call__(self, param: click.Option, command: click.Command, path: str,
                 flags: Mapping[str, object]) -> Setting:  # fmt: skip
        name = _long_name(param)
        found: list[tuple[str, object]] = []
        if param.name in flags:
            found.append((f"flag --{name}", flags[param.name]))
        found += [(v, self.env[v]) for v in _envvars(param) if self.env.get(v)][:1]
        found += self._from_file(param, path)
        default = param.get_default(click.Context(command, info_name=path), call=True)
        found.append((_DEFAULT, None if default is _NO_DEFAULT else default))
        secret = is_secret_name(name) or any(
            is_secret_name(v) or v in self.secrets for v in _envvars(param)
        )
        (source, value), *beaten = found
        shown = _MASK if secret and value is not None else value
        return Setting(name, shown, source, tuple(s for s, _ in beaten if s != _DEFAULT), (path,))

    def _from_file(self, param: click.Option, path: str) -> list[tuple[str, object]]:
        names = _option_keys(param)
        for section in (path, "defaults"):
            for key, value in self.config.section(section).items():
                if key.replace("-", "_") in names:
                    return [(f"{self.config.path} [{section}]", value)]
        if param.name == "config_path" and self.config.path is not None:
            return [(f"{self.config.path} (the settings file itself)", str(self.config.path))]
        return []


def _find_command(group: click.Group, ctx: click.Context,
                  words: Sequence[str]) -> tuple[str, click.Command, list[str]]:  # fmt: skip
    command: click.Command = group
    path: list[str] = []
    rest = list(words)
    while isinstance(command, click.Group) and rest and not rest[0].startswith("-"):
        sub = command.get_command(ctx, rest[0])
        if sub is None:
            raise ConfigError(f"fleetfix has no command `{' '.join([*path, rest[0]])}`")
        path.append(rest.pop(0))
        command = sub
    if not path:
        raise ConfigError("name a command before its options, e.g. `config show run --db x.db`")
    return ".".join(path), command, rest


def _flags(command: click.Command, path: str, args: Sequence[str]) -> dict[str, object]:
    """The options `args` gives, parsed as `command` would parse them (nothing is run)."""
    if not args:
        return {}
    ctx = click.Context(command, info_name=path.replace(".", " "))
    try:
        opts, _, _ = command.make_parser(ctx).parse_args(args=list(args))
    except click.UsageError as exc:
        raise ConfigError(f"`{path.replace('.', ' ')}`: {exc.format_message()}") from None
    return opts


def _options(command: click.Command) -> list[click.Option]:
    return [p for p in command.params if isinstance(p, click.Option) and _long_name(p)]


def _long_name(param: click.Option) -> str:
    return next((o[2:] for o in param.opts if o.startswith("--")), "")


def _envvars(param: click.Option) -> list[str]:
    if param.envvar is None:
        return []
    return [param.envvar] if isinstance(param.envvar, str) else list(param.envvar)


def _commands(group: click.Group, ctx: click.Context,
              prefix: str = "") -> Iterator[tuple[str, click.Command]]:  # fmt: skip
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        if command is None:
            continue
        path = f"{prefix}{name}"
        yield path, command
        if isinstance(command, click.Group):
            yield from _commands(command, ctx, f"{path}.")


def _option_overview(group: click.Group, ctx: click.Context, config: Config,
                     env: Mapping[str, str], secrets: set[str]) -> list[Setting]:  # fmt: skip
    """Options something other than a built-in default sets, and those a variable could set,
    one row per option and value (listing the commands) rather than one per command."""
    resolve = _Resolver(config, env, secrets)
    rows: dict[tuple[str, str, str, tuple[str, ...]], tuple[Setting, list[str]]] = {}
    for path, command in _commands(group, ctx):
        if "." not in path:
            default_map_for(command, path, config)  # a misspelt setting is named here too
        for param in _options(command):
            setting = resolve(param, command, path, {})
            if setting.source == _DEFAULT and not _envvars(param):
                continue
            key = (setting.name, _value_text(setting.value), setting.source, setting.beats)
            rows.setdefault(key, (setting, []))[1].append(path)
    return [dataclasses.replace(rows[key][0], commands=tuple(rows[key][1])) for key in sorted(rows)]


def _keys_settings(config: Config) -> list[Setting]:
    return [
        Setting(f"{section}.{key}", masked(key, value), f"{config.path} [{section}]")
        for section, values in sorted(config.sections.items())
        if section.split(".")[0] == "keys"
        for key, value in values.items()
    ]


def _variables_named_as_secrets(config: Config) -> set[str]:
    """Variables the file names as holding a secret (`password_env = "LDAP_BIND"`)."""
    return {
        str(value)
        for values in config.sections.values()
        for key, value in values.items()
        if _SECRET_ALLOWED.search(key)
    }


def _other_variables(group: click.Group, ctx: click.Context, env: Mapping[str, str],
                     secrets: set[str]) -> list[Setting]:  # fmt: skip
    """FLEETFIX_* variables no option reads (credentials, the audit HMAC key), and the
    variables the file names for secrets: always masked when they look like one."""
    options = {v for _, c in _commands(group, ctx) for p in _options(c) for v in _envvars(p)}
    options.add("FLEETFIX_CONFIG")
    names = sorted({n for n in env if n.startswith("FLEETFIX_")} | (secrets & set(env)))
    return [
        Setting(n, _MASK if is_secret_name(n) or n in secrets else env[n], "environment")
        for n in names
        if n not in options
    ]
