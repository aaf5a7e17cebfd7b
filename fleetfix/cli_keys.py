"""`fleetfix key ...`: BitLocker recovery keys for the technicians at the consoles.

    fleetfix key lookup --key-id 1A2B3C4D --host PACS01 --reason "INC0042 boot loop"
    fleetfix key export-iso-csv --state needs_hands_on -o BitLockerKeys.csv --reason "..."
    fleetfix key rotated PACS01
    fleetfix key pending

A key is printed once, to a terminal (a pipe only with --allow-pipe), after its audit row is
committed; stdout then carries the key alone and everything else goes to stderr. The group is
registered by fleetfix.cli as a lazy sub-command (`fleetfix.cli_keys:key`).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import click

from fleetfix.cli import (
    EXIT_HOSTS_FAILED,
    FleetfixGroup,
    actor_name,
    db_option,
    operator_option,
)
from fleetfix.errors import ConfigError
from fleetfix.keys.audit import (
    KeyRead,
    PendingRotation,
    load_hmac_secret,
    pending_rotations,
    record_rotated,
    record_rotation_requested,
)
from fleetfix.keys.config import GraphConfig, load_keys_config
from fleetfix.keys.errors import AmbiguousKeyIdError, KeyProviderError
from fleetfix.keys.export import export_iso_csv
from fleetfix.keys.factory import OpenProviders, open_providers
from fleetfix.keys.lookup import FoundKeys, choose_key, find_keys, reveal_key
from fleetfix.keys.model import KeyId, KeyIdPrefix, RecoveryKeyInfo
from fleetfix.models import HostState
from fleetfix.store import Store, open_reader
from fleetfix.wording import counted

F = TypeVar("F", bound=Callable[..., Any])
# Some hosts were done and some not (no key found, rotation refused): the message lists them.
EXIT_INCOMPLETE = EXIT_HOSTS_FAILED


class KeyGroup(FleetfixGroup):
    """fleetfix's error handling, without the top level's lazy sub-commands."""

    lazy_commands: dict[str, str] = {}  # noqa: RUF012 - read only, typed as in FleetfixGroup


def _config_option(func: F) -> F:
    return click.option(
        "--config",
        "config_path",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help="Config file with the [keys.*] sections (default: ./fleetfix.toml).",
    )(func)


def _diag(message: str) -> None:
    click.echo(message, err=True)


def _existing_db(db_path: Path) -> Path:
    # A typo in --db must not send key audit rows into a fresh, empty database.
    if not db_path.is_file():
        raise ConfigError(
            f"{db_path}: no such incident database; key reads are audited there, so point "
            "--db / FLEETFIX_DB at the incident's database"
        )
    return db_path


def _warn_failures(lines: Sequence[str]) -> None:
    for line in lines:
        _diag(f"fleetfix: warning: key provider unavailable: {line}")


@click.group(cls=KeyGroup)
def key() -> None:
    """BitLocker recovery keys: look up (shown once, audited), export, rotation."""


@key.command("lookup")
@click.option("--key-id", "key_id", required=True, help="Key ID or its first 8+ hex digits.")
@click.option("--host", default=None, help="The host at the console (narrows the search).")
@click.option("--reason", required=True, help="Why the key is read (ticket, incident).")
@click.option("--allow-pipe", is_flag=True, help="Print the key even if stdout is no terminal.")
@_config_option
@operator_option
@db_option
def lookup(
    key_id: str,
    host: str | None,
    reason: str,
    allow_pipe: bool,
    config_path: Path | None,
    operator: str | None,
    db_path: Path,
) -> None:
    """Find a recovery key by key ID, check it, audit it and print it once."""
    if not allow_pipe and not sys.stdout.isatty():
        raise ConfigError(
            "stdout is not a terminal: a recovery key is printed to a terminal only. Pass "
            "--allow-pipe if it really should go into a pipe or file."
        )
    prefix = KeyIdPrefix.parse(key_id)
    db = _existing_db(db_path)
    with open_providers(load_keys_config(config_path)) as providers:
        _warn_failures(providers.failed)
        info = _choose(providers, prefix, host=host)
        read = KeyRead(actor=actor_name(operator), reason=reason, purpose="lookup", host=host)
        with Store.open(db) as store:
            password = reveal_key(
                store, providers.opened, info, read=read, hmac_secret=load_hmac_secret(db)
            )
    _diag(
        f"Recovery key for {info.host or host or 'unknown host'}, key ID {info.key_id} "
        f"({info.provider}). Read audited; the host is now rotation-pending."
    )
    click.echo(password.reveal())


def _choose(providers: OpenProviders, prefix: KeyIdPrefix, *, host: str | None) -> RecoveryKeyInfo:
    found = find_keys(providers.opened, prefix, host=host)
    _warn_failures(found.provider_errors)
    try:
        return choose_key(found, prefix)
    except AmbiguousKeyIdError as ambiguous:
        if not sys.stdin.isatty():
            raise
        _diag(str(ambiguous))
        full = KeyId.parse(click.prompt("Full key ID", err=True))
        narrowed = KeyIdPrefix(full.hex_digits)
        matching = tuple(c for c in found.candidates if narrowed.matches(c.key_id))
        return choose_key(FoundKeys(matching, found.provider_errors), narrowed)


def _export_hosts(db: Path, *, state: str | None, hosts: Sequence[str]) -> list[str]:
    names = list(hosts)
    if state is not None:
        with open_reader(db) as reader:
            names += [record.name for record in reader.hosts(state=HostState(state))]
    unique: dict[str, str] = {}
    for name in names:
        # Case-folded like the store: PACS01 and pacs01 are one computer.
        unique.setdefault(name.casefold(), name)
    return list(unique.values())


@key.command("export-iso-csv")
@click.option(
    "--state",
    type=click.Choice([s.value for s in HostState]),
    default=None,
    help="Export the keys of every host in this state (e.g. needs_hands_on).",
)
@click.option("--host", "hosts", multiple=True, help="A host to export (repeatable).")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.option("--reason", required=True, help="Why the keys are exported (ticket, incident).")
@click.option("--force", is_flag=True, help="Replace the output file if it exists.")
@_config_option
@operator_option
@db_option
def export_iso_csv_command(
    state: str | None,
    hosts: tuple[str, ...],
    output: Path,
    reason: str,
    force: bool,
    config_path: Path | None,
    operator: str | None,
    db_path: Path,
) -> None:
    """Write KeyID,RecoveryKey (mode 0600) for CrowdStrike's recovery ISO; every key audited."""
    if state is None and not hosts:
        raise ConfigError("say which hosts: --state STATE and/or --host NAME")
    db = _existing_db(db_path)
    names = _export_hosts(db, state=state, hosts=hosts)
    if not names:
        raise ConfigError(f"no hosts in state {state!r}: nothing to export")
    with open_providers(load_keys_config(config_path)) as providers, Store.open(db) as store:
        _warn_failures(providers.failed)
        summary = export_iso_csv(
            store,
            providers.opened,
            names,
            output,
            actor=actor_name(operator),
            reason=reason,
            hmac_secret=load_hmac_secret(db),
            overwrite=force,
        )
    _warn_failures(summary.provider_errors)
    _diag(
        f"wrote {counted(summary.keys_written, 'key')} for "
        f"{counted(summary.hosts_written, 'host')} to {output}"
    )
    for key_id in summary.rejected_key_ids:
        _diag(f"fleetfix: warning: key ID {key_id} failed the recovery password check; left out")
    if summary.hosts_without_keys:
        _diag("no recovery key found for: " + ", ".join(summary.hosts_without_keys))
        click.get_current_context().exit(EXIT_INCOMPLETE)


@key.command("rotated")
@click.argument("host", required=False)
@click.option("--key-id", "key_id", default=None, help="For a key read without a known host.")
@click.option("--note", default="", help="How it was rotated (Intune, manage-bde, ...).")
@operator_option
@db_option
def rotated(
    host: str | None, key_id: str | None, note: str, operator: str | None, db_path: Path
) -> None:
    """Record that HOST's recovery key was rotated after it was read."""
    if host is None and key_id is None:
        raise ConfigError("name the HOST (or --key-id for a key read without a host)")
    full_id = KeyId.parse(key_id).guid if key_id is not None else None
    db = _existing_db(db_path)
    with Store.open(db) as store:
        record_rotated(store, actor=actor_name(operator), host=host, key_id=full_id, note=note)
    with open_reader(db) as reader:
        left = len(pending_rotations(reader))
    _diag(f"rotation recorded; {counted(left, 'host')} still rotation-pending")


@key.command("request-rotation")
@click.argument("hosts", nargs=-1)
@click.option("--pending", "all_pending", is_flag=True, help="Every pending host not yet asked.")
@_config_option
@operator_option
@db_option
def request_rotation(
    hosts: tuple[str, ...],
    all_pending: bool,
    config_path: Path | None,
    operator: str | None,
    db_path: Path,
) -> None:
    """Ask Intune (Graph rotateBitLockerKeys) to rotate HOSTS' keys and record each request."""
    db = _existing_db(db_path)
    names = list(hosts)
    if all_pending:
        with open_reader(db) as reader:
            names += [
                row.host
                for row in pending_rotations(reader)
                if row.host is not None and row.rotation_requested is None
            ]
    if not names:
        raise ConfigError("name the HOSTS to rotate, or pass --pending")
    graph = load_keys_config(config_path).graph
    if graph is None:
        raise ConfigError("rotation through Intune needs a [keys.graph] section in the config")
    failed = _request_each(graph, names, db=db, actor=actor_name(operator))
    _diag(f"rotation requested for {len(names) - failed} of {len(names)} hosts")
    if failed:
        click.get_current_context().exit(EXIT_INCOMPLETE)


def _request_each(graph: GraphConfig, names: Sequence[str], *, db: Path, actor: str) -> int:
    from fleetfix.keys.graph import GraphProvider  # msal and requests only when asked

    provider = GraphProvider.connect(graph, env=os.environ)
    failed = 0
    try:
        with Store.open(db) as store:
            for name in names:
                try:
                    request = provider.request_rotation(name)
                except KeyProviderError as exc:
                    _diag(f"fleetfix: {name}: {exc}")
                    failed += 1
                    continue
                record_rotation_requested(
                    store, actor=actor, host=name, provider=provider.name, request=request
                )
    finally:
        provider.close()
    return failed


@key.command("pending")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@db_option
def pending(as_json: bool, db_path: Path) -> None:
    """Hosts whose recovery key was read and not rotated since."""
    with open_reader(_existing_db(db_path)) as reader:
        rows = pending_rotations(reader)
    for row in rows:
        click.echo(json.dumps(_pending_record(row), sort_keys=True) if as_json else _line(row))
    if not as_json:
        _diag(f"{counted(len(rows), 'host')} rotation-pending")


def _pending_record(row: PendingRotation) -> dict[str, object]:
    requested = row.rotation_requested
    return {
        "host": row.host,
        "key_ids": list(row.key_ids),
        "first_read": row.first_read.isoformat(),
        "last_read": row.last_read.isoformat(),
        "readers": list(row.readers),
        "rotation_requested": requested.isoformat() if requested else None,
    }


def _line(row: PendingRotation) -> str:
    requested = row.rotation_requested
    asked = f"  rotation requested {requested:%Y-%m-%d %H:%M}Z" if requested else ""
    return (
        f"{row.host or '?':<20} read {row.last_read:%Y-%m-%d %H:%M}Z by "
        f"{', '.join(row.readers)}  key IDs {', '.join(row.key_ids)}{asked}"
    )


if __name__ == "__main__":  # pragma: no cover - `python -m fleetfix.cli_keys` for a TTY test
    key()
