"""`fleetfix run`: recover the fleet with a pack, as one observer of the engine's events.

stdout: one line per host when the run is done with it (or every event as JSON Lines with
--json); stderr: waves, retries, breakers, hands-on instructions and a progress line.
Ctrl-C once: no new host starts, steps in flight finish and are recorded (exit 130); twice:
stop at once, leaving intents that `--resume` verifies before anything is repeated.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

import click

from fleetfix.cli import (
    EXIT_BREAKER,
    EXIT_HOSTS_FAILED,
    EXIT_HOSTS_UNREACHABLE,
    EXIT_INTERRUPTED,
)
from fleetfix.cli_transport import FleetCommand, prepare, select_hosts, transport_options
from fleetfix.engine import FINAL_STATES, FleetRun, Resume, RunPolicy, Share, find_resumable
from fleetfix.engine.events import (
    BreakerTripped,
    Event,
    HandsOn,
    HostDone,
    Planned,
    Progress,
    RetryScheduled,
    RunFinished,
    RunStarted,
    WaveStarted,
    WindowCaught,
)
from fleetfix.engine.keyids import provider_key_ids
from fleetfix.errors import ConfigError
from fleetfix.keys.config import load_keys_config
from fleetfix.models import HostState
from fleetfix.packs import load_packs
from fleetfix.probe.rules import DEFAULT_RULE, TimestampRule
from fleetfix.store import Store
from fleetfix.wording import counted

_GOOD = {str(HostState.HEALTHY), str(HostState.RECOVERED), str(HostState.SKIPPED)}
_SILENT = {str(HostState.UNREACHABLE), str(HostState.BOOT_LOOP), str(HostState.NEEDS_HANDS_ON)}


def exit_code_for(finished: RunFinished, states: dict[str, str]) -> int:
    """0 every targeted host healthy or recovered; 8 a breaker stopped the run; 130 it was
    interrupted; else 6 when some host failed, 7 when some are unreachable or need hands."""
    if finished.status == "stopped_by_breaker":
        return EXIT_BREAKER
    if finished.status == "interrupted":
        return EXIT_INTERRUPTED
    values = set(states.values())
    if str(HostState.FAILED) in values:
        return EXIT_HOSTS_FAILED
    if values - _GOOD:
        return EXIT_HOSTS_UNREACHABLE
    return 0


class Printer:
    """The CLI's view of a run: host lines on stdout, the rest on stderr."""

    def __init__(self, *, as_json: bool) -> None:
        self.as_json = as_json
        self.states: dict[str, str] = {}
        self._tty = sys.stderr.isatty()
        self._ticks = 0
        self._planned: set[str] = set()

    def __call__(self, event: Event) -> None:
        if isinstance(event, HostDone):
            self.states[event.host] = str(event.state)
        if self.as_json:
            click.echo(json.dumps(event.as_dict(), default=str))
            return
        if isinstance(event, HostDone):
            if event.host not in self._planned:  # a dry run's plan line says it already
                click.echo(f"{event.host} | {event.state} | {event.reason}")
        elif isinstance(event, Planned):
            self._planned.add(event.host)
            click.echo(f"{event.host} | {event.state} | would: " + "; ".join(event.plan))
        elif isinstance(event, RunStarted):
            kind = "dry run" if event.dry_run else ("resumed run" if event.resumed else "run")
            waves = " + ".join(str(n) for n in event.waves) or "none"
            hosts = counted(event.hosts, "host")
            _err(f"{kind} {event.run_id}: {hosts} with {event.pack}; waves {waves}")
        elif isinstance(event, WaveStarted):
            label = "canary wave" if event.canary else f"wave {event.wave}"
            _err(f"{label}: {counted(event.hosts, 'host')}")
        elif isinstance(event, RetryScheduled):
            _err(f"{event.host}: {event.step} attempt {event.attempt} failed ({event.error}); "
                 f"retrying in {event.wait:.1f} s")  # fmt: skip
        elif isinstance(event, BreakerTripped):
            _err(f"STOPPED ({event.breaker} breaker): {event.reason}")
        elif isinstance(event, HandsOn):
            keys = f" BitLocker key IDs: {', '.join(event.key_ids)}." if event.key_ids else ""
            _err(f"HANDS-ON {event.instructions}{keys}")
        elif isinstance(event, WindowCaught):
            _err(f"{event.host}: caught a reachable window after {event.waited:.1f} s; fix sent")
        elif isinstance(event, Progress):
            self._progress(event)
        elif isinstance(event, RunFinished):
            counts = ", ".join(f"{k} {v}" for k, v in sorted(event.counts.items())) or "none"
            _err(f"run {event.run_id} {event.status} in {event.duration:.1f} s: {counts}; "
                 f"boot-loop windows caught: {event.windows_caught}")  # fmt: skip

    def _progress(self, event: Progress) -> None:
        self._ticks += 1
        if not self._tty and self._ticks % 10:
            return  # a log file gets a line every ten seconds, a terminal one that updates
        eta = "-" if event.eta_seconds is None else f"{event.eta_seconds / 60:.1f} min"
        counts = ", ".join(f"{k} {v}" for k, v in sorted(event.counts.items()))
        text = (f"{event.done}/{event.total} done, {event.rate_per_minute:.1f}/min, "
                f"eta {eta} | {counts}")  # fmt: skip
        if self._tty:
            click.echo(f"\r\x1b[K{text}", err=True, nl=False)
        else:
            _err(text)


def _err(text: str) -> None:
    if sys.stderr.isatty():
        text = "\r\x1b[K" + text
    click.echo(text, err=True)


async def drive_run(run: FleetRun, printer: Printer) -> RunFinished:
    loop = asyncio.get_running_loop()
    main = asyncio.current_task()
    presses = 0

    def on_interrupt() -> None:
        nonlocal presses
        presses += 1
        if presses == 1:
            _err("stopping: no new host starts; steps in flight finish. Ctrl-C again to stop now")
            run.request_stop()
        elif main is not None:
            main.cancel()

    with contextlib.suppress(NotImplementedError):  # no signal handlers off the main thread
        loop.add_signal_handler(signal.SIGINT, on_interrupt)
    finished: RunFinished | None = None
    try:
        async for event in run.events():
            printer(event)
            if isinstance(event, RunFinished):
                finished = event
    finally:
        with contextlib.suppress(NotImplementedError):
            loop.remove_signal_handler(signal.SIGINT)
    assert finished is not None
    return finished


def _share(value: str | None, option: str) -> Share | None:
    return None if value is None else Share.parse(value, option=option)


def _parse_params(pairs: tuple[str, ...]) -> dict[str, object]:
    given: dict[str, object] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise ConfigError(f"--param {pair!r}: write it as Name=value")
        given[name.strip()] = value
    return given


def _policy(params: dict[str, Any], command: FleetCommand) -> RunPolicy:
    if not params["pack"]:
        raise ConfigError("name the pack to run with --pack (see fleetfix packs list)")
    return RunPolicy(
        pack=params["pack"], params=_parse_params(params["param"]),
        concurrency=command.run.concurrency,
        canary=_share(params["canary"], "--canary"),
        wave_size=_share(params["wave_size"], "--wave-size"),
        max_fail_percent=params["max_fail_percent"], priority_tag=params["priority_tag"],
        dry_run=params["dry_run"], recheck_healthy=params["recheck_healthy"],
        limit=params["limit"],
        rule=TimestampRule(params["rule_name"]),
        connect_timeout=command.run.connect_timeout, probe_timeout=command.run.timeout,
        retry_deadline=params["retry_deadline"], watch_interval=params["watch_interval"],
        hands_on_after=params["hands_on_after"], reboot_timeout=params["reboot_timeout"],
    )  # fmt: skip


@click.command("run")
@transport_options
@click.option("--pack", default=None, help="The remediation pack to run (fleetfix packs list).")
@click.option("--param", multiple=True, metavar="NAME=VALUE", help="A pack parameter; repeatable.")
@click.option("--packs", "packs_dirs", multiple=True,
              type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Extra folder of packs; repeatable.")  # fmt: skip
@click.option("--canary", default=None, metavar="N|P%", help="A first wave of N hosts or P%.")
@click.option("--wave-size", default=None, metavar="N|P%", help="Hosts per wave after the canary.")
@click.option("--max-fail-percent", type=click.FloatRange(0, 100, max_open=True), default=None,
              help="Stop starting hosts when more than P% of a wave failed.")  # fmt: skip
@click.option(
    "--priority-tag",
    default="criticality",
    show_default=True,
    help="Tag that orders hosts: KEY (values ascending) or KEY=V1,V2 (those first).",
)
@click.option("--dry-run", is_flag=True, help="Probe and detect only; print what would happen.")
@click.option("--recheck-healthy", is_flag=True,
              help="Probe hosts already found healthy again (default: not touched).")  # fmt: skip
@click.option("--resume", "resume_id", is_flag=False, flag_value="latest", default=None,
              metavar="[RUN_ID]", help="Continue a stopped run (default: the latest).")  # fmt: skip
@click.option("--rule", "rule_name", default=str(DEFAULT_RULE), show_default=True,
              type=click.Choice([str(rule) for rule in TimestampRule]),
              help="Channel-file time rule of the probe, and of packs that take a Rule "
                   "parameter unless --param Rule= says otherwise.")  # fmt: skip
@click.option(
    "--retry-deadline",
    type=click.FloatRange(min=0.1),
    default=300.0,
    show_default=True,
    help="Seconds to keep retrying a step on transient errors.",
)
@click.option(
    "--watch-interval",
    type=click.FloatRange(min=0.01),
    default=0.5,
    show_default=True,
    help="Seconds between TCP checks of a boot-looping host.",
)
@click.option(
    "--hands-on-after",
    type=click.FloatRange(min=0.1),
    default=1800.0,
    show_default=True,
    help="Seconds a host may stay silent before a technician.",
)
@click.option("--config", "config_path", default=None,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="fleetfix.toml with [keys] providers, for the key IDs of hands-on hosts "
                   "(default: ./fleetfix.toml if present).")  # fmt: skip
@click.option(
    "--reboot-timeout",
    type=click.FloatRange(min=0.1),
    default=1800.0,
    show_default=True,
    help="Seconds a host may take to come back from a restart.",
)
def run(**params: Any) -> None:
    """Recover the fleet: probe, detect, fix, verify each host, in waves.

    Exit codes: 0 every targeted host healthy or recovered, 6 some failed, 7 some unreachable or
    waiting for hands-on, 8 stopped by a breaker (fix the cause, then --resume), 130 interrupted.
    """
    packs = load_packs(params["packs_dirs"])
    if params["resume_id"] is None and params["pack"] and params["pack"] not in packs:
        # A mistyped --pack is a bad command line (exit 2), not a broken pack (exit 1). Said
        # before prepare(), which may prompt for a password that would then be asked for nothing.
        known = ", ".join(sorted(packs)) or "none"
        raise ConfigError(f"--pack {params['pack']!r}: no such pack (known: {known}); "
                          "see fleetfix packs list")  # fmt: skip
    command = prepare(params)
    with Store.open(params["db_path"]) as store:
        store.import_hosts(command.inventory, source=str(params["inventory_path"]),
                           actor=command.actor)  # fmt: skip
        resume: Resume | None = None
        if params["resume_id"] is not None:
            wanted = None if params["resume_id"] == "latest" else _run_id(params["resume_id"])
            _, policy, resume = find_resumable(store, wanted)
            if params["limit"] is None and policy.limit:
                # The stopped run's own hosts, not the whole inventory.
                command = dataclasses.replace(
                    command, hosts=select_hosts(command.inventory, policy.limit)
                )
        else:
            policy = _policy(params, command)
        if command.security.insecure:
            store.audit("transport.insecure", actor=command.actor,
                        details={"command": "run", "why": "--insecure"})  # fmt: skip
        fleet = FleetRun(
            command.hosts, policy=policy, store=store, packs=packs,
            options_for=command.options_for(), actor=command.actor,
            transport=command.run.transport, resume=resume,
            key_ids_for=provider_key_ids(load_keys_config(params["config_path"])),
        )  # fmt: skip
        printer = Printer(as_json=params["as_json"])
        try:
            finished = asyncio.run(drive_run(fleet, printer))
        except (asyncio.CancelledError, KeyboardInterrupt):
            _err("stopped at once; `fleetfix run --resume` verifies what was in flight")
            sys.stdout.flush()
            sys.stderr.flush()
            # Worker threads may still be blocked in a remote command until its deadline, and
            # the interpreter would join them on exit. Every state change and intent is
            # already committed (WAL), so ending the process here loses nothing.
            os._exit(EXIT_INTERRUPTED)
        states = dict(printer.states)
        for record in store_hosts(store, command):
            states.setdefault(record[0], record[1])
    raise SystemExit(exit_code_for(finished, states))


def store_hosts(store: Store, command: FleetCommand) -> list[tuple[str, str]]:
    """(name, state) of every targeted host, for hosts a resumed run had finished before."""
    found = []
    for host in command.hosts:
        record = store.host(host.name)
        if record is not None and record.state in FINAL_STATES:
            found.append((record.name, str(record.state)))
    return found


def _run_id(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ConfigError(
            f"--resume {text!r}: give a run number, or nothing for the latest"
        ) from None
