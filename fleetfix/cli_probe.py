"""`fleetfix probe`: probe every host, record its facts and reachability, diagnose it and move
it to the diagnosed state.

One line per host on stdout (`name | state | reason | transport`, or JSON Lines with --json);
the counts per state on stderr. Exit 0 when every host was probed, 6 when some probe failed
(authentication, timeout, unreadable output), 7 when some hosts were unreachable and none
failed.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Sequence
from typing import Any

import click

from fleetfix.cli import EXIT_HOSTS_FAILED, EXIT_HOSTS_UNREACHABLE
from fleetfix.cli_transport import FleetCommand, prepare, transport_options
from fleetfix.probe.rules import DEFAULT_RULE, TimestampRule
from fleetfix.probe.run import FAILED_STATUSES, ProbeOutcome, ProbeStatus, probe_hosts
from fleetfix.store import Store
from fleetfix.wording import counted

PROBE_EVENT = "probe"


def exit_code_for(outcomes: Sequence[ProbeOutcome]) -> int:
    statuses = {outcome.status for outcome in outcomes}
    if statuses & FAILED_STATUSES:
        return EXIT_HOSTS_FAILED
    if ProbeStatus.UNREACHABLE in statuses:
        return EXIT_HOSTS_UNREACHABLE
    return 0


def line_for(outcome: ProbeOutcome) -> str:
    state = "-" if outcome.state is None else str(outcome.state)
    if outcome.status in {ProbeStatus.OK, ProbeStatus.UNREACHABLE}:
        reason = outcome.reason
    else:
        reason = f"probe {outcome.status}: {outcome.error or 'no detail'}"
    if outcome.note:
        reason = f"{reason} ({outcome.note})"
    return f"{outcome.host} | {state} | {reason} | {outcome.transport or '-'}"


def summary_for(outcomes: Sequence[ProbeOutcome]) -> str:
    """`6 hosts: affected 2, healthy 1, unreachable 3` plus the probes that failed, if any."""
    states = Counter("-" if o.state is None else str(o.state) for o in outcomes)
    text = ", ".join(f"{state} {count}" for state, count in sorted(states.items()))
    failed = Counter(str(o.status) for o in outcomes if o.status in FAILED_STATUSES)
    if failed:
        text += "; probe failed: " + ", ".join(f"{s} {n}" for s, n in sorted(failed.items()))
    return f"{counted(len(outcomes), 'host')}: {text or 'none matched'}"


async def _probe_all(
    command: FleetCommand, store: Store, *, rule: TimestampRule, run_id: int, as_json: bool
) -> list[ProbeOutcome]:
    outcomes: list[ProbeOutcome] = []
    async for outcome in probe_hosts(
        command.hosts, store=store, options_for=command.options_for(), run=command.run,
        rule=rule, actor=command.actor, run_id=run_id,
    ):  # fmt: skip
        outcomes.append(outcome)
        click.echo(json.dumps(outcome.as_dict(), default=str) if as_json else line_for(outcome))
    return outcomes


@click.command("probe")
@transport_options
@click.option("--rule", "rule_name", default=str(DEFAULT_RULE), show_default=True,
              type=click.Choice([str(rule) for rule in TimestampRule]),
              help="Channel-file time rule: CrowdStrike's status script (strict) or the "
                   "advisory's 04:09-05:27 UTC window.")  # fmt: skip
def probe(rule_name: str, **params: Any) -> None:
    """Probe every host (read-only): facts, reachability and a diagnosis per host.

    The inventory is imported into the incident database first, so a fresh database works.
    Hosts a remediation run owns are reported, never moved.
    """
    command = prepare(params)
    rule = TimestampRule(rule_name)
    source = str(params["inventory_path"])
    with Store.open(params["db_path"]) as store:
        store.import_hosts(command.inventory, source=source, actor=command.actor)
        _audit_start(store, command, rule=rule)
        run_id = store.begin_run(command=PROBE_EVENT, actor=command.actor, options={
            "rule": str(rule), "hosts": len(command.hosts), "limit": params["limit"],
            "transport": str(command.run.transport or "inventory"),
        })  # fmt: skip
        try:
            outcomes = asyncio.run(
                _probe_all(command, store, rule=rule, run_id=run_id, as_json=params["as_json"])
            )
        except BaseException:
            # Ctrl-C in the war room: what was probed is committed; the run says it stopped.
            store.finish_run(run_id, status="interrupted")
            raise
        store.finish_run(run_id, status="finished")
        counts = Counter(str(o.status) for o in outcomes)
        store.audit(f"{PROBE_EVENT}.finished", actor=command.actor,
                    details={"run_id": run_id, "counts": dict(counts)})  # fmt: skip
    click.echo(summary_for(outcomes), err=True)
    raise SystemExit(exit_code_for(outcomes))


def _audit_start(store: Store, command: FleetCommand, *, rule: TimestampRule) -> None:
    security = command.security
    if security.insecure:
        why = "--insecure: certificates and host keys not verified"
        store.audit("transport.insecure", actor=command.actor,
                    details={"command": PROBE_EVENT, "why": why})  # fmt: skip
    store.audit(PROBE_EVENT, actor=command.actor, details={
        "hosts": len(command.hosts), "rule": str(rule),
        "transport": str(command.run.transport or "inventory"),
        "concurrency": command.run.concurrency,
        "credential_source": command.base.credentials.source,
        "allow_basic_http": security.allow_basic_over_http,
        "allow_credssp": security.allow_credssp,
    })  # fmt: skip
