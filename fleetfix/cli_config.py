"""`fleetfix config show`: each setting in effect, where it comes from and what it beats,
secrets masked.

click decides the precedence (flag, FLEETFIX_* variable, fleetfix.toml through `default_map`,
built-in default); this module only asks it. A command's context is built as `fleetfix` builds
it, parsing only (`make_context(..., resilient_parsing=True)`: nothing runs, nothing is
required), then each option's value is `ctx.params`, its source `ctx.get_parameter_source`,
and what it beats the variable (`resolve_envvar_value`) and the file value
(`ctx.lookup_default`) below the winner.

Registered by fleetfix.cli as a lazy sub-command (`fleetfix.cli_config:config_group`): only
`config show` pays for it.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import click
from click.core import ParameterSource

from fleetfix.config import (
    CONFIG_NAME,
    Config,
    FileValue,
    default_map_for,
    file_values,
    is_secret_name,
    names_a_variable,
)
from fleetfix.errors import ConfigError

_DEFAULT = "default"
_MASK = "********"
# click's precedence, highest first: a source beats those after it.
_PRECEDENCE = (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT,
               ParameterSource.DEFAULT_MAP, ParameterSource.DEFAULT)  # fmt: skip


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


@click.group("config")
def config_group() -> None:
    """fleetfix.toml: where settings come from."""


@config_group.command("show", context_settings={"ignore_unknown_options": True})
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@click.argument("command_line", nargs=-1, type=click.UNPROCESSED, metavar="[COMMAND [OPTIONS]]")
@click.pass_context
def config_show(ctx: click.Context, as_json: bool, command_line: tuple[str, ...]) -> None:
    """Each setting in effect, its value and where it comes from (secrets masked).

    Flags beat FLEETFIX_* variables, variables beat fleetfix.toml, the file beats built-in
    defaults. With COMMAND (and its OPTIONS), every option of that command as it would run:
    `fleetfix config show run --db x.db`."""
    root = ctx.find_root()
    assert isinstance(root.command, click.Group)  # the fleetfix group
    config = root.meta.get("fleetfix.config") or Config(None)
    origin = file_origin(config, root.get_parameter_source("config_file"))
    settings = effective_settings(root.command, root, config, origin=origin,
                                  command_line=command_line)  # fmt: skip
    if as_json:
        click.echo(json.dumps({"file": None if config.path is None else str(config.path),
                               "settings": [setting.as_dict() for setting in settings]},
                              sort_keys=True, default=str))  # fmt: skip
        return
    for line in settings_lines(settings, with_commands=not command_line):
        click.echo(line)
    if not command_line:
        click.echo("every option of one command: fleetfix config show COMMAND [OPTIONS]", err=True)


def file_origin(config: Config, source: ParameterSource | None, *,
                cwd: Path | None = None) -> str:  # fmt: skip
    """How the settings file was chosen, given where the root `--config` value came from."""
    if source is ParameterSource.COMMANDLINE:
        return "flag --config"
    if source is ParameterSource.ENVIRONMENT:
        return "FLEETFIX_CONFIG"
    if config.path is None:
        return f"{_DEFAULT} (none found: ./{CONFIG_NAME}, then the user config folder)"
    if config.path == (cwd or Path.cwd()) / CONFIG_NAME:
        return "found in the current folder"
    return "found in the user config folder"


def effective_settings(group: click.Group, ctx: click.Context, config: Config, *, origin: str,
                       command_line: Sequence[str] = ()) -> list[Setting]:  # fmt: skip
    """Without `command_line`: the settings file (`file`), every option a FLEETFIX_* variable
    or the file sets (and the variables' defaults), the [keys] providers and the other
    FLEETFIX_* variables. With `command_line` (`run --db x.db`): every option of that command,
    flags included; only that command is loaded."""
    secrets = _variables_named_as_secrets(config)
    shown = Setting("file", None if config.path is None else str(config.path), origin)
    if command_line:
        path, command, args = _find_command(group, ctx, command_line)
        resolved = _resolve(command, path, args, parent=ctx, config=config, secrets=secrets)
        return [shown, *(setting for _, setting in resolved)]
    commands = list(_commands(group, ctx))  # loads every lazy command, once
    return [
        shown,
        *_option_overview(commands, ctx, config, secrets),
        *_keys_settings(config),
        *_other_variables(commands, secrets),
    ]


def settings_lines(settings: Sequence[Setting], *, with_commands: bool) -> list[str]:
    """A table for people: setting, value, source (and what it beats), and with_commands the
    commands each applies to, last: a list of twenty commands must not widen the other
    columns."""
    rows = [("setting", "value", "from", "commands" if with_commands else "")]
    for setting in settings:
        source = setting.source + (f" (beats {', '.join(setting.beats)})" if setting.beats else "")
        commands = ", ".join(setting.commands) if with_commands else ""
        rows.append((setting.name, _value_text(setting.value), source, commands))
    width = [max(len(row[i]) for row in rows) for i in (0, 1, 2)]
    return [f"{a:<{width[0]}}  {b:<{width[1]}}  {c:<{width[2]}}  {d}".rstrip()
            for a, b, c, d in rows]  # fmt: skip


def _value_text(value: object) -> str:
    return "-" if value is None else json.dumps(value, default=str)


def _resolve(
    command: click.Command, path: str, args: Sequence[str], *,
    parent: click.Context, config: Config, secrets: set[str],
) -> Iterator[tuple[click.Option, Setting]]:  # fmt: skip
    """Every option of `command` as click resolves it for `args` (parsed, never run)."""
    name = path.replace(".", " ")
    try:
        if args:  # resilient parsing stops quietly at a misspelt option: the parser names it
            probe = click.Context(command, parent=parent, info_name=name)
            command.make_parser(probe).parse_args(list(args))
        ctx = command.make_context(name, list(args), parent=parent,
                                   default_map=default_map_for(command, path, config),
                                   resilient_parsing=True)  # fmt: skip
    except click.UsageError as exc:
        raise ConfigError(f"`{name}`: {exc.format_message()}") from None
    in_file = file_values(command, path, config)
    for param in _options(command):
        yield param, _setting(param, ctx, path, in_file.get(str(param.name)), config, secrets)


def _setting(param: click.Option, ctx: click.Context, path: str, in_file: FileValue | None,
             config: Config, secrets: set[str]) -> Setting:  # fmt: skip
    key, name = str(param.name), _long_name(param)
    source = ctx.get_parameter_source(key) or ParameterSource.DEFAULT
    variable, file_value = param.resolve_envvar_value(ctx), ctx.lookup_default(key, call=False)
    given: dict[ParameterSource, tuple[str, object]] = {}  # every source that has a value
    if source is ParameterSource.COMMANDLINE:
        given[source] = (f"flag --{name}", None)
    if variable is not None:
        given[ParameterSource.ENVIRONMENT] = (_variable_named(param), variable)
    if file_value is not None:
        given[ParameterSource.DEFAULT_MAP] = (_file_label(config, in_file), file_value)
    label, raw = given.get(source, (_DEFAULT, None))
    below = _PRECEDENCE[_PRECEDENCE.index(source) + 1 :]
    beats = tuple(given[s][0] for s in below if s in given)
    value = ctx.params.get(key)
    if value is None and source in given:
        # Resilient parsing drops a value the option's type refuses (a file that is not
        # there, a number out of range) where the command itself would stop on it.
        value, label = raw, f"{label}, refused: not a valid value"
    secret = is_secret_name(name) or any(is_secret_name(v) or v in secrets for v in _envvars(param))
    shown = _MASK if secret and value is not None else value
    return Setting(name, shown, label, beats, (path,))


def _variable_named(param: click.Option) -> str:
    """Which of the option's variables click read: the first one set, as click does."""
    return next((v for v in _envvars(param) if os.environ.get(v)), "environment")


def _file_label(config: Config, found: FileValue | None) -> str:
    if found is None:
        return str(config.path)
    if found.section is None:
        return f"{config.path} (the settings file itself)"
    return f"{config.path} [{found.section}]"


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


def _option_overview(commands: Sequence[tuple[str, click.Command]], ctx: click.Context,
                     config: Config, secrets: set[str]) -> list[Setting]:  # fmt: skip
    """Options something other than a built-in default sets, and those a variable could set,
    one row per option and value (listing the commands) rather than one per command."""
    rows: dict[tuple[str, str, str, tuple[str, ...]], tuple[Setting, list[str]]] = {}
    for path, command in commands:
        for param, setting in _resolve(command, path, (), parent=ctx, config=config,
                                       secrets=secrets):  # fmt: skip
            if setting.source == _DEFAULT and not _envvars(param):
                continue
            key = (setting.name, _value_text(setting.value), setting.source, setting.beats)
            rows.setdefault(key, (setting, []))[1].append(path)
    return [dataclasses.replace(rows[key][0], commands=tuple(rows[key][1])) for key in sorted(rows)]


def _keys_settings(config: Config) -> list[Setting]:
    return [
        Setting(f"{section}.{key}", _masked(key, value), f"{config.path} [{section}]")
        for section, values in sorted(config.sections.items())
        if section.split(".")[0] == "keys"
        for key, value in values.items()
    ]


def _masked(name: str, value: object) -> object:
    return _MASK if is_secret_name(name) else value


def _variables_named_as_secrets(config: Config) -> set[str]:
    """Variables the file names as holding a secret (`password_env = "LDAP_BIND"`)."""
    return {
        str(value)
        for values in config.sections.values()
        for key, value in values.items()
        if names_a_variable(key)
    }


def _other_variables(commands: Sequence[tuple[str, click.Command]],
                     secrets: set[str]) -> list[Setting]:  # fmt: skip
    """FLEETFIX_* variables no option reads (credentials, the audit HMAC key), and the
    variables the file names for secrets: always masked when they look like one."""
    env: Mapping[str, str] = os.environ
    options = {v for _, c in commands for p in _options(c) for v in _envvars(p)}
    options.add("FLEETFIX_CONFIG")
    names = sorted({n for n in env if n.startswith("FLEETFIX_")} | (secrets & set(env)))
    return [
        Setting(n, _MASK if is_secret_name(n) or n in secrets else env[n], "environment")
        for n in names
        if n not in options
    ]
