"""`fleetfix tui`: the war-room screen.

    fleetfix tui --db incident.db                 # follow a database a headless run writes
    fleetfix tui -i hosts.csv --db incident.db    # ... and probe / run packs from the screen

Registered by fleetfix.cli as a lazy sub-command (`fleetfix.cli_tui:tui`). The Textual app is
imported inside the command only: the core, this module included, must load without textual.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from fleetfix.cli import actor_name, db_option, operator_option
from fleetfix.errors import ConfigError
from fleetfix.models import Transport
from fleetfix.transports.base import WinrmAuth

if TYPE_CHECKING:
    # mypy checks tui/ as the package `tui` (setup.py maps it to fleetfix.tui at install
    # time, which mypy cannot follow); at run time only the installed name exists.
    from fleetfix.cli_transport import FleetCommand
    from fleetfix.keys.config import KeysConfig
    from tui.work import FleetAccess


def _access(params: dict[str, Any], keys: KeysConfig) -> tuple[FleetAccess, FleetCommand] | None:
    """The FleetAccess for an inventory, or None: without one the TUI only follows."""
    if params["inventory_path"] is None:
        return None
    from fleetfix.cli_transport import prepare
    from fleetfix.engine.keyids import provider_key_ids
    from fleetfix.packs import load_packs
    from fleetfix.tui.work import FleetAccess  # type: ignore[import-not-found, unused-ignore]

    # prepare() reads every option `transport_options` defines; those the TUI leaves out
    # take the same defaults as there.
    command = prepare({"limit": None, "as_json": False, **params})
    packs = load_packs(params["packs_dirs"])
    access = FleetAccess(command.hosts, command.options_for(), packs, run=command.run,
                         key_ids_for=provider_key_ids(keys))  # fmt: skip
    return access, command


@click.command("tui")
@click.option("-i", "--inventory", "inventory_path", default=None,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Host list; without one the screen follows the database only.")  # fmt: skip
@click.option("--packs", "packs_dirs", multiple=True,
              type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Extra folder of packs; repeatable.")  # fmt: skip
@click.option("--config", "config_path", default=None,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="fleetfix.toml with the [keys] providers.")  # fmt: skip
@click.option("--concurrency", "-f", default=50, show_default=True, type=click.IntRange(1, 2000))
@click.option("--transport", "transport_name", default=None,
              type=click.Choice([str(t) for t in Transport]))  # fmt: skip
@click.option("--auth", default="ntlm", show_default=True,
              type=click.Choice([str(a) for a in WinrmAuth]))  # fmt: skip
@click.option("--timeout", default=60.0, show_default=True, type=click.FloatRange(0.1))
@click.option("--connect-timeout", default=15.0, show_default=True, type=click.FloatRange(0.1))
@click.option("--ca-file", envvar="FLEETFIX_CA_BUNDLE", default=None,
              type=click.Path(exists=True, dir_okay=False, path_type=Path))  # fmt: skip
@click.option("--known-hosts", envvar="FLEETFIX_KNOWN_HOSTS", default=None,
              type=click.Path(exists=True, dir_okay=False, path_type=Path))  # fmt: skip
@click.option("--insecure", is_flag=True, help="Do not verify certificates or host keys.")
@click.option("--allow-basic-http", is_flag=True)
@click.option("--allow-credssp", is_flag=True)
@click.option("--poll", "poll_seconds", default=0.5, show_default=True,
              type=click.FloatRange(0.05, 10), help="Seconds between database reads.")  # fmt: skip
@operator_option
@db_option
def tui(**params: Any) -> None:
    """The war room: fleet dashboard, host detail, hands-on queue and key lookup."""
    from fleetfix.keys.config import load_keys_config
    from fleetfix.store import Store

    db_path: Path = params["db_path"]
    actor = actor_name(params["operator"])
    keys = load_keys_config(params["config_path"])
    found = _access(params, keys)
    access = None
    if found is not None:
        access, command = found
        with Store.open(db_path) as store:
            store.import_hosts(command.inventory, source=str(params["inventory_path"]),
                               actor=actor)  # fmt: skip
            if command.security.insecure:
                store.audit("transport.insecure", actor=actor,
                            details={"command": "tui", "why": "--insecure"})  # fmt: skip
    elif not db_path.is_file():
        raise ConfigError(
            f"{db_path}: no incident database; pass --db, or -i INVENTORY to start one"
        )
    from fleetfix.tui.app import FleetfixApp  # type: ignore[import-not-found, unused-ignore]

    FleetfixApp(db_path, actor=actor, keys=keys, access=access,
                poll_seconds=params["poll_seconds"]).run()  # fmt: skip
