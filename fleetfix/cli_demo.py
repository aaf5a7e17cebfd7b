"""`fleetfix demo`: a whole incident in a few minutes, on a simulated fleet.

Starts a lab in its own process (a crowdstrike-291 outage on 127.77.x.y, free ports, fast lab
time), imports its inventory, recovers it with the engine (canary wave first), and shows the
record: the war-room TUI driving the run when on a terminal, else progress on stderr
(`--headless`). Ends with the lab stopped, whatever happened: no process is left behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import shutil
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import click

from fleetfix.cli_run import Printer, drive_run, exit_code_for
from fleetfix.engine import FleetRun, RunPolicy, Share
from fleetfix.engine.keyids import provider_key_ids
from fleetfix.errors import ConfigError
from fleetfix.inventory import load_inventory
from fleetfix.keys.config import KeysConfig, load_keys_config
from fleetfix.lab.process import LabProcess
from fleetfix.models import Host
from fleetfix.packs import Pack
from fleetfix.store import Store, open_reader
from fleetfix.transports.base import ConnectOptions

if TYPE_CHECKING:
    from collections.abc import Mapping

_ACTOR = "demo"


def _write_report(db_path: Path, report: Path) -> None:
    from fleetfix.export import read_report, render, write_report

    with open_reader(db_path) as reader:
        built = read_report(reader, tags=(), since=None)
    write_report(render(built, "html"), report, force=True)


#: Written into the demo's folder, so a later demo may replace that folder and nothing else.
DEMO_MARK = ".fleetfix-demo"


def _fresh_folder(directory: Path) -> None:
    """An empty `directory`, replacing an earlier demo's; any other folder is refused."""
    if directory.exists():
        if not directory.is_dir():
            raise ConfigError(f"--dir {directory}: exists and is not a folder")
        if any(directory.iterdir()) and not (directory / DEMO_MARK).is_file():
            raise ConfigError(f"--dir {directory}: the folder is not empty and was not made by "
                              "fleetfix demo; choose another folder or empty it")  # fmt: skip
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    (directory / DEMO_MARK).write_text("made by fleetfix demo; replaced by the next one\n",
                                       encoding="utf-8")  # fmt: skip


def _on_terminal() -> bool:
    return sys.stdin.isatty() and sys.stdout.isatty()


@dataclasses.dataclass(frozen=True, slots=True)
class _Demo:
    """What both ways of showing the demo need: the fleet, how to reach it, the policy."""

    db_path: Path
    hosts: list[Host]
    options: ConnectOptions
    policy: RunPolicy
    packs: Mapping[str, Pack]
    keys: KeysConfig

    def fleet_run(self, store: Store) -> FleetRun:
        return FleetRun(
            self.hosts, policy=self.policy, store=store, packs=self.packs,
            options_for=lambda _host: self.options, actor=_ACTOR,
            key_ids_for=provider_key_ids(self.keys),
        )  # fmt: skip


def _headless(demo: _Demo, store: Store, *, as_json: bool) -> int:
    printer = Printer(as_json=as_json)
    finished = asyncio.run(drive_run(demo.fleet_run(store), printer))
    return exit_code_for(finished, dict(printer.states))


def _in_the_tui(demo: _Demo, store: Store) -> int:
    """The dashboard drives the run; it stays open afterwards until the user quits."""
    from fleetfix.tui.app import FleetfixApp  # type: ignore[import-not-found, unused-ignore]
    from fleetfix.tui.work import FleetAccess  # type: ignore[import-not-found, unused-ignore]

    def policy_for(pack: str, dry_run: bool) -> RunPolicy:
        # Runs started from the dashboard keep the demo's fast timings.
        return dataclasses.replace(demo.policy, pack=pack, dry_run=dry_run)

    access = FleetAccess(
        demo.hosts, lambda _host: demo.options, demo.packs, policy_for=policy_for,
        key_ids_for=provider_key_ids(demo.keys),
    )  # fmt: skip
    app = FleetfixApp(demo.db_path, actor=_ACTOR, keys=demo.keys, access=access, store=store,
                      start_with=demo.fleet_run(store))  # fmt: skip
    app.run()
    with open_reader(demo.db_path) as reader:
        runs = [r for r in reader.runs() if r.command == "run"]
    return 0 if runs and all(r.finished_at is not None for r in runs) else 130


@click.command("demo")
@click.option("--hosts", type=click.IntRange(5, 5000), default=200, show_default=True)
@click.option("--seed", type=int, default=7, show_default=True)
@click.option("--time-scale", type=click.FloatRange(min=1), default=20.0, show_default=True,
              help="Lab seconds per real second (20: a 90 s reboot takes 4.5 s).")  # fmt: skip
@click.option("--dir", "directory", type=click.Path(file_okay=False, path_type=Path),
              default=Path("demo-run"), show_default=True,
              help="Folder for the lab files, database and report (replaced).")  # fmt: skip
@click.option("--headless", is_flag=True,
              help="No TUI: progress on stderr (also the default without a terminal).")  # fmt: skip
@click.option("--hands-on-after", type=click.FloatRange(min=1), default=90.0, show_default=True,
              help="Seconds a silent host is watched before hands-on.")  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="Stream the run's events as JSON Lines.")
def demo(hosts: int, seed: int, time_scale: float, directory: Path, headless: bool,
         hands_on_after: float, as_json: bool) -> None:  # fmt: skip
    """Start a simulated outage, recover it, and show the record."""
    from fleetfix.packs import load_packs

    tui = not (headless or as_json) and _on_terminal()
    _fresh_folder(directory)
    db_path = directory / "fleetfix.db"
    click.echo(f"demo: starting {hosts} simulated hosts (crowdstrike-291, seed {seed})", err=True)
    with (directory / "lab.log").open("w", encoding="utf-8") as log:
        lab = LabProcess.start(directory / "lab", hosts=hosts, seed=seed,
                               time_scale=time_scale, log=log)  # fmt: skip
    try:
        options = lab.connect_options()
        inventory_path = Path(lab.paths["inventory_csv"])
        policy = RunPolicy(
            pack="crowdstrike-291", concurrency=50, canary=Share(5, percent=False),
            max_fail_percent=50, watch_interval=0.1, hands_on_after=hands_on_after,
            reboot_timeout=120, retry_deadline=60,
        )  # fmt: skip
        shown = _Demo(db_path, list(load_inventory(inventory_path).hosts), options, policy,
                      load_packs(), load_keys_config(Path(lab.paths["keys_config"])))  # fmt: skip
        started = time.monotonic()
        with Store.open(db_path) as store:
            store.import_hosts(shown.hosts, source=str(inventory_path), actor=_ACTOR)
            code = _in_the_tui(shown, store) if tui else _headless(shown, store, as_json=as_json)
        report = directory / "report.html"
        _write_report(db_path, report)
        click.echo(f"demo: done in {time.monotonic() - started:.0f} s; "
                   f"database {db_path}; report {report}; lab files {directory / 'lab'}",
                   err=True)  # fmt: skip
    finally:
        with contextlib.suppress(Exception):
            lab.stop()
    # 7 (some hosts wait for hands-on) is the scenario working as designed.
    raise SystemExit(0 if code in (0, 7) else code)
