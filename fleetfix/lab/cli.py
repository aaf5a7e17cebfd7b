"""`fleetfix lab`: run the simulated fleet in the foreground and steer it while it runs.

`lab up` prints one JSON line with the paths of the lab's files on stdout once every host
that is up listens, so a script can `read` it and go; everything else goes to stderr. The
other commands talk to the running lab through its control socket.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import click

from fleetfix.errors import LabError
from fleetfix.lab.api import TIMED_FAULTS, FaultKind
from fleetfix.lab.control import BOOT_MODES, request
from fleetfix.lab.files import CONTROL
from fleetfix.lab.shares import SCENARIOS, describe

DEFAULT_DIR = Path("lab-run")
SCENARIO_NAMES = tuple(SCENARIOS)
# Made from the numbers the scenarios are built from, so the help cannot drift from them.
_SCENARIO_HELP = (
    f"crowdstrike-291: {describe('crowdstrike-291')}. "
    f"service-outage: {describe('service-outage')}. "
    "mixed: half the shares of each."
)


def _diag(message: str) -> None:
    click.echo(message, err=True)


def _control_path(directory: Path | None) -> Path:
    """--dir wins; else FLEETFIX_LAB_CONTROL (from lab.env); else ./lab-run."""
    if directory is not None:
        return directory / CONTROL
    from_env = os.environ.get("FLEETFIX_LAB_CONTROL")
    return Path(from_env) if from_env else DEFAULT_DIR / CONTROL


def _ask(directory: Path | None, message: dict[str, Any]) -> Any:
    answer = request(_control_path(directory), message)
    if not answer.get("ok"):
        raise LabError(str(answer.get("error", "the lab refused the request")))
    return answer["result"]


dir_option = click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="The lab directory (default ./lab-run, or FLEETFIX_LAB_CONTROL's).",
)


@click.group()
def lab() -> None:
    """The simulated Windows fleet: real WinRM, PSRP and SSH servers on 127.77.x.y."""


@lab.command()
@click.option("--hosts", type=click.IntRange(1, 60000), default=10, show_default=True)
@click.option(
    "--scenario",
    type=click.Choice(SCENARIO_NAMES),
    default="crowdstrike-291",
    show_default=True,
    help=_SCENARIO_HELP,
)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "--time-scale",
    type=click.FloatRange(min=0.001),
    default=1.0,
    show_default=True,
    help="Lab seconds per real second (60: a 90 s boot takes 1.5 s).",
)
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=DEFAULT_DIR,
    show_default=True,
)
@click.option(
    "--from-inventory",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=None,
    help="Build the fleet with the host names and tags of this inventory.",
)
@click.option("--ssh-port", type=click.IntRange(0, 65535), default=22, show_default=True)
@click.option("--winrm-port", type=click.IntRange(0, 65535), default=5985, show_default=True)
@click.option("--winrms-port", type=click.IntRange(0, 65535), default=5986, show_default=True)
def up(
    hosts: int,
    scenario: str,
    seed: int,
    time_scale: float,
    directory: Path,
    from_inventory: Path | None,
    ssh_port: int,
    winrm_port: int,
    winrms_port: int,
) -> None:
    """Start the lab and run it until Ctrl-C or SIGTERM (port 0: a free port per host)."""
    options: dict[str, Any] = {
        "hosts": hosts,
        "scenario": scenario,
        "seed": seed,
        "time_scale": time_scale,
        "directory": directory.resolve(),
        "from_inventory": from_inventory,
        "ssh_port": ssh_port,
        "winrm_port": winrm_port,
        "winrms_port": winrms_port,
    }
    asyncio.run(_run_lab(options))


async def _run_lab(options: dict[str, Any]) -> None:
    # Imported here: the client commands below must not pay for the servers.
    from fleetfix.lab.fleet import Lab

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    began = time.monotonic()
    _diag(f"lab: starting {options['hosts']} hosts ({options['scenario']}, seed {options['seed']})")
    lab = await Lab.start(**options, progress=lambda message: _diag(f"lab: {message}"))
    try:
        states = lab.status()["states"]
        summary = ", ".join(f"{count} {state}" for state, count in sorted(states.items()))
        _diag(f"lab: listening after {time.monotonic() - began:.1f} s; hosts: {summary}")
        click.echo(json.dumps({**lab.paths(), "hosts": len(lab.entries())}))
        _diag("lab: running; Ctrl-C or SIGTERM stops it")
        await stop.wait()
    finally:
        _diag("lab: stopping")
        await lab.stop()


@lab.command()
@dir_option
@click.option("--json", "as_json", is_flag=True, help="Print the whole status as JSON.")
def status(directory: Path | None, as_json: bool) -> None:
    """Each host's state (up, booting, crashed, on a recovery screen) and what listens."""
    result = _ask(directory, {"op": "status"})
    if as_json:
        click.echo(json.dumps(result))
        return
    click.echo(
        f"{result['scenario']} seed {result['seed']}: {result['host_count']} hosts, "
        f"lab time {result['lab_time']} (x{result['time_scale']})"
    )
    click.echo("  ".join(f"{state} {count}" for state, count in sorted(result["states"].items())))
    for host in result["hosts"]:
        listening = ",".join(host["listening"]) or "-"
        click.echo(
            f"{host['name']:<16} {host['address']:<15} {host['state']:<19} "
            f"{host['boot_mode'] or '-':<13} {listening:<10} crashes {host['crashes']}"
        )


@lab.command()
@click.argument("target", metavar="HOST|all")
@click.argument("kind", required=False, type=click.Choice([k.value for k in FaultKind]))
@click.option(
    "--seconds",
    type=float,
    default=None,
    help="Delay (real seconds, above 0) for latency and slow_output; they need it.",
)
@click.option("--rate", type=click.FloatRange(0, 1), default=1.0, help="Share for drop.")
@click.option("--clear", is_flag=True, help="Clear KIND (every kind if none is given).")
@dir_option
def fault(
    target: str,
    kind: str | None,
    seconds: float | None,
    rate: float,
    clear: bool,
    directory: Path | None,
) -> None:
    """Switch a fault on (or off with --clear) for one host or the whole fleet."""
    if kind is None and not clear:
        raise click.UsageError("name a fault KIND, or use --clear")
    timed = not clear and kind is not None and FaultKind(kind) in TIMED_FAULTS
    if timed and (seconds is None or not seconds > 0):
        # Without a delay these faults would be switched on and do nothing at all.
        raise click.BadParameter(
            f"a {kind} fault needs a delay above 0, e.g. --seconds 2", param_hint="'--seconds'"
        )
    message = {
        "op": "fault",
        "target": target,
        "kind": kind,
        "seconds": seconds or 0.0,
        "rate": rate,
        "clear": clear,
    }
    result = _ask(directory, message)
    click.echo(json.dumps(result))


@lab.command()
@click.argument("host")
@dir_option
def inspect(host: str, directory: Path | None) -> None:
    """A host's channel files, services, newest System log entries and command history."""
    click.echo(json.dumps(_ask(directory, {"op": "inspect", "host": host}), indent=2))


@lab.command()
@click.argument("host")
@click.option("--json", "as_json", is_flag=True, help="Print the whole history as JSON.")
@dir_option
def history(host: str, as_json: bool, directory: Path | None) -> None:
    """Every command a host kept, oldest first, with scripts that came over stdin."""
    result = _ask(directory, {"op": "history", "host": host})
    if as_json:
        click.echo(json.dumps(result))
        return
    if result["kept"] < result["received"]:
        _diag(f"{result['received'] - result['kept']} older commands fell off the history")
    for record in result["commands"]:
        stdin = f" (+{len(record['stdin'])} characters on stdin)" if record["stdin"] else ""
        click.echo(
            f"{record['at']} {record['transport'] or '-':<6} boot {record['boot_generation']} "
            f"exit {record['exit_code']}: {record['command'][:120]}{stdin}"
        )


@lab.command()
@click.argument("host")
@click.argument("action", type=click.Choice(["enter-key", "boot", "power-on", "run"]))
@click.argument("argument", required=False, metavar="[KEY|MODE|COMMAND]")
@dir_option
def console(host: str, action: str, argument: str | None, directory: Path | None) -> None:
    """Hands at the console: `enter-key KEY`, `boot normal|safe-minimal|safe-network`,
    `power-on`, `run "COMMAND"` (a cmd.exe line at an administrator prompt)."""
    if action == "boot" and argument not in BOOT_MODES:
        raise click.UsageError(f"boot needs a mode: {', '.join(BOOT_MODES)}")
    if action == "enter-key" and not argument:
        raise click.UsageError("enter-key needs the recovery password")
    if action == "run" and not argument:
        raise click.UsageError('run needs a command line, e.g. "del C:\\path\\file.sys"')
    message = {"op": "console", "host": host, "action": action, "argument": argument}
    click.echo(json.dumps(_ask(directory, message)))
