"""The `fleetfix` command. Every sub-command is a thin layer over the core.

stdout carries results (tables, or JSON with --json); progress and diagnostics go to stderr,
so `fleetfix hosts --json | jq` works in the middle of an incident. Exit codes are documented
in README.md and in `EXIT_CODES` below.
"""

from __future__ import annotations

import getpass
import importlib
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import click

from fleetfix import __version__
from fleetfix.errors import (
    AuditChainBroken,
    ConfigError,
    FleetfixError,
    InventoryError,
    SchemaTooNew,
    StoreError,
)
from fleetfix.models import TRANSITIONS, HostState
from fleetfix.wording import counted

#: Exit codes, one meaning each. Click itself uses 2 for usage errors.
EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_INVENTORY = 3
EXIT_AUDIT = 4
EXIT_STORE = 5
# Commands that work host by host: each host's outcome is a value, the exit code sums them up.
EXIT_HOSTS_FAILED = 6
EXIT_HOSTS_UNREACHABLE = 7
EXIT_BREAKER = 8
EXIT_INTERRUPTED = 130

EXIT_CODES: dict[int, str] = {
    EXIT_OK: "success",
    EXIT_ERROR: "an error fleetfix could not classify further (the message says what)",
    EXIT_USAGE: "bad command line or configuration (unknown option, missing argument, a bad "
    "fleetfix.toml, no incident database where --db points)",
    EXIT_INVENTORY: "the inventory file was rejected; nothing was imported",
    EXIT_AUDIT: "the audit log's hash chain does not verify (tampering or corruption)",
    EXIT_STORE: "the incident database could not be opened or written",
    EXIT_HOSTS_FAILED: "some hosts failed or were left undone (the output names each one)",
    EXIT_HOSTS_UNREACHABLE: "no host failed, but some could not be reached or need hands-on",
    EXIT_BREAKER: "a breaker stopped the run (credentials rejected, too many failures)",
    EXIT_INTERRUPTED: "interrupted (Ctrl-C); `fleetfix run --resume` continues",
}

F = TypeVar("F", bound=Callable[..., Any])


def _exit_code_for(error: FleetfixError) -> int:
    if isinstance(error, InventoryError):
        return EXIT_INVENTORY
    if isinstance(error, AuditChainBroken):
        return EXIT_AUDIT
    if isinstance(error, StoreError | SchemaTooNew):
        return EXIT_STORE
    if isinstance(error, ConfigError):
        return EXIT_USAGE
    return EXIT_ERROR


def db_option(func: F) -> F:
    """`--db PATH` on every command that touches the incident database."""
    return click.option(
        "--db",
        "db_path",
        type=click.Path(dir_okay=False, path_type=Path),
        envvar="FLEETFIX_DB",
        default=Path("fleetfix.db"),
        show_default=True,
        show_envvar=True,
        help="Incident database (one file per incident).",
    )(func)


def operator_option(func: F) -> F:
    """Who is acting: recorded on every transition and audit row."""
    return click.option(
        "--operator",
        envvar="FLEETFIX_OPERATOR",
        default=None,
        show_envvar=True,
        help="Name recorded as the actor (default: the OS user).",
    )(func)


def actor_name(operator: str | None) -> str:
    """Who the audit log records as acting: --operator (or FLEETFIX_OPERATOR), else the OS
    user. Every command that records takes its actor from here."""
    if operator:
        return operator
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry in some containers
        return "unknown"


def _echo_json(value: object) -> None:
    click.echo(json.dumps(value, sort_keys=True, default=str))


def _diag(message: str) -> None:
    click.echo(message, err=True)


@contextmanager
def _reader(db_path: Path) -> Iterator[Any]:
    from fleetfix.store import open_reader

    if not db_path.exists():
        raise ConfigError(
            f"{db_path}: no such incident database; import an inventory first "
            "(`fleetfix inventory import FILE --db PATH`) or point --db / FLEETFIX_DB at one"
        )
    reader = open_reader(db_path)
    try:
        yield reader
    finally:
        reader.close()


class FleetfixGroup(click.Group):
    """Turns fleetfix's own errors into one clear line on stderr and a documented exit code.

    Heavy sub-command groups (the lab pulls in asyncssh, psrpcore, tree-sitter) are imported
    only when named, so `fleetfix status` stays quick on a jump host.
    """

    lazy_commands: dict[str, str] = {  # noqa: RUF012 - read only
        "lab": "fleetfix.lab.cli:lab",
        "packs": "fleetfix.cli_packs:packs",
        "key": "fleetfix.cli_keys:key",
        "ping": "fleetfix.cli_transport:ping",
        "exec": "fleetfix.cli_transport:exec_command",
        "run": "fleetfix.cli_run:run",
        "probe": "fleetfix.cli_probe:probe",
        "doctor": "fleetfix.cli_doctor:doctor",
        "demo": "fleetfix.cli_demo:demo",
        "export": "fleetfix.cli_export:export",
        "tui": "fleetfix.cli_tui:tui",
        "config": "fleetfix.cli_config:config_group",
    }

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy_commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.lazy_commands and cmd_name not in self.commands:
            module_name, attribute = self.lazy_commands[cmd_name].split(":")
            module = importlib.import_module(module_name)
            self.add_command(getattr(module, attribute), cmd_name)
        return super().get_command(ctx, cmd_name)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except FleetfixError as error:
            _diag(f"fleetfix: {error.title}: {error}")
            ctx.exit(_exit_code_for(error))


@click.group(cls=FleetfixGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "-V", "--version", prog_name="fleetfix")
@click.option(
    "--config",
    "config_file",
    envvar="FLEETFIX_CONFIG",
    show_envvar=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Settings file (default: ./fleetfix.toml, then ~/.config/fleetfix/fleetfix.toml).",
)
@click.pass_context
def main(ctx: click.Context, config_file: Path | None) -> None:
    """Recover fleets of Windows hosts after a faulty driver or content update.

    Exit codes: 0 success, 1 error, 2 usage, 3 inventory rejected, 4 audit chain broken,
    5 database error, 6 some hosts failed, 7 some hosts unreachable (none failed),
    8 stopped by a breaker, 130 interrupted.
    """
    from fleetfix.config import check_sections, default_map_for, load_config

    config = load_config(config_file)
    ctx.meta["fleetfix.config"] = config
    name = ctx.invoked_subcommand
    if config.path is None or name is None:
        return
    group = ctx.command
    assert isinstance(group, click.Group)  # main is the fleetfix group
    check_sections(config, set(group.list_commands(ctx)))
    command = group.get_command(ctx, name)
    if command is not None:
        ctx.default_map = {name: default_map_for(command, name, config)}


@main.group()
def inventory() -> None:
    """Host lists: import txt, CSV (CMDB / EDR exports) and Ansible inventories."""


@inventory.command("import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["auto", "txt", "csv", "ansible-ini", "ansible-yaml"]),
    default="auto",
    show_default=True,
)
@click.option("--skip-invalid", is_flag=True, help="Import valid lines, list each rejected one.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON on stdout.")
@db_option
@operator_option
def inventory_import(
    file: Path, fmt: str, skip_invalid: bool, as_json: bool, db_path: Path, operator: str | None
) -> None:
    """Import FILE into the incident database. Never resets a host's recovery state."""
    from fleetfix.inventory import load_inventory
    from fleetfix.store import Store

    loaded = load_inventory(file, fmt=fmt, skip_invalid=skip_invalid)
    for warning in loaded.warnings:
        _diag(f"warning: {warning}")
    for rejected in loaded.rejected:
        _diag(f"rejected: {rejected}")
    with Store.open(db_path) as store:
        summary = store.import_hosts(loaded.hosts, source=str(file), actor=actor_name(operator))
    result = {
        "file": str(file),
        "format": loaded.fmt,
        "db": str(db_path),
        "hosts": len(loaded.hosts),
        "added": summary.added,
        "updated": summary.updated,
        "unchanged": summary.unchanged,
        "rejected": len(loaded.rejected),
        "warnings": len(loaded.warnings),
    }
    if as_json:
        _echo_json(result)
        return
    click.echo(
        f"{file}: {counted(len(loaded.hosts), 'host')} ({loaded.fmt}): {summary.added} added, "
        f"{summary.updated} updated, {summary.unchanged} unchanged, "
        f"{len(loaded.rejected)} rejected -> {db_path}"
    )


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print counts as JSON on stdout.")
@db_option
def status(as_json: bool, db_path: Path) -> None:
    """Counts per state and per tag. Unreachable and failed are counted apart."""
    with _reader(db_path) as reader:
        counts = reader.state_counts()
        per_tag = reader.tag_counts()
    by_state = {state.value: counts[state] for state in HostState}
    total = sum(by_state.values())
    if as_json:
        _echo_json({"db": str(db_path), "total": total, "states": by_state, "tags": per_tag})
        return
    click.echo(f"{counted(total, 'host')} in {db_path}")
    for state, count in by_state.items():
        click.echo(f"  {state:<16}{count:>8}")
    groups, per_host = tag_groups(per_tag)
    if groups or per_host:
        click.echo("by tag:")
        for tag, states in groups:
            parts = ", ".join(f"{name} {n}" for name, n in sorted(states.items()) if n)
            click.echo(f"  {tag}: {parts}")
        for key, (values, hosts) in sorted(per_host.items()):
            click.echo(f"  {key}: {values} values on {counted(hosts, 'host')} (see `fleetfix "
                       f"hosts --tag {key}=VALUE`)")  # fmt: skip


# More values than this, and at least one value per two hosts: a per-host attribute.
_PER_HOST_VALUES = 10


def tag_groups(
    per_tag: dict[str, dict[str, int]],
) -> tuple[list[tuple[str, dict[str, int]]], dict[str, tuple[int, int]]]:
    """The tags worth a line each, sorted, and the keys that are not groupings (a lab's
    `ssh_port=`, a CMDB's serial number: more than 10 values, about one per host) with
    their value and host counts. Without that, `status` on a 10,000-host fleet prints a line
    per host per such column."""
    by_key: dict[str, list[str]] = {}
    for tag in per_tag:
        key, has_value, _ = tag.partition("=")
        if has_value:
            by_key.setdefault(key, []).append(tag)
    per_host: dict[str, tuple[int, int]] = {}
    for key, tags in by_key.items():
        hosts = sum(sum(per_tag[tag].values()) for tag in tags)
        if len(tags) > _PER_HOST_VALUES and 2 * len(tags) >= hosts:
            per_host[key] = (len(tags), hosts)
    groups = [
        (tag, states)
        for tag, states in sorted(per_tag.items())
        if tag.partition("=")[0] not in per_host or "=" not in tag
    ]
    return groups, per_host


@main.command()
@click.option(
    "--state",
    type=click.Choice([state.value for state in HostState]),
    default=None,
    help="Only hosts in this state.",
)
@click.option(
    "--tag", default=None, help="Only hosts with this tag (`pacs`, `site=Leeds`, `role`)."
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per host (JSON Lines).")
@db_option
def hosts(state: str | None, tag: str | None, as_json: bool, db_path: Path) -> None:
    """List hosts with their recovery state."""
    with _reader(db_path) as reader:
        records = reader.hosts(state=HostState(state) if state else None, tag=tag)
    for record in records:
        row = {
            "name": record.name,
            "address": record.address,
            "port": record.port,
            "transport": str(record.transport),
            "tags": list(record.tags),
            "state": str(record.state),
            "reason": record.reason,
            "since": record.since,
            "attempts": record.attempts,
            "last_action": record.last_action,
        }
        if as_json:
            _echo_json(row)
        else:
            click.echo(
                f"{record.name:<24}{record.address or '-':<18}{record.state!s:<16}"
                f"{','.join(record.tags)}"
            )
    if not as_json:
        _diag(counted(len(records), "host"))


@main.group()
def audit() -> None:
    """The append-only, hash-chained audit log."""


@audit.command("verify")
@click.option("--json", "as_json", is_flag=True)
@db_option
def audit_verify(as_json: bool, db_path: Path) -> None:
    """Check the whole chain; name the first row that does not match."""
    with _reader(db_path) as reader:
        report = reader.verify_audit()
    if as_json:
        _echo_json(
            {
                "ok": report.ok,
                "rows_checked": report.rows_checked,
                "first_bad_row": report.first_bad_row,
                "problem": report.problem,
            }
        )
    elif report.ok:
        click.echo(f"audit log OK: {report.rows_checked} rows, chain intact")
    if not report.ok:
        raise AuditChainBroken(report.first_bad_row or 0, report.problem or "chain broken")


@main.command()
def states() -> None:
    """The host states and the transitions allowed between them."""
    for state, targets in TRANSITIONS.items():
        click.echo(f"{state.value:<16}-> {', '.join(sorted(t.value for t in targets))}")


@main.command("completion")
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
@click.pass_context
def completion(ctx: click.Context, shell: str) -> None:
    """Print the shell completion script for SHELL.

    For example `eval "$(fleetfix completion bash)"` in ~/.bashrc, or
    `fleetfix completion fish > ~/.config/fish/completions/fleetfix.fish`."""
    from click.shell_completion import get_completion_class

    completer = get_completion_class(shell)
    assert completer is not None  # click ships all three
    root = ctx.find_root()
    click.echo(completer(root.command, {}, "fleetfix", "_FLEETFIX_COMPLETE").source())


if __name__ == "__main__":  # pragma: no cover - `python -m fleetfix.cli`
    main()

__all__ = ["EXIT_CODES", "main"]
