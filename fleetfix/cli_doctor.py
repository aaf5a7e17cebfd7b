"""`fleetfix doctor -i INV`: check name resolution, ports, TLS, logon and clock skew on a sample
of hosts before the incident run, and say what to fix. Exit 0 when nothing failed (warnings
allowed), 6 when a check failed."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Sequence
from typing import Any

import click

from fleetfix.cli import EXIT_HOSTS_FAILED
from fleetfix.cli_transport import prepare, transport_options
from fleetfix.models import Host


def spread_sample(hosts: Sequence[Host], size: int) -> list[Host]:
    """`size` hosts spread evenly over the list (every k-th), so a sample of a sorted
    inventory sees every site and role rather than the first rack; 0 means all."""
    if size <= 0 or size >= len(hosts):
        return list(hosts)
    step = len(hosts) / size
    return [hosts[int(i * step)] for i in range(size)]


# Doctor only reads: it never opens the incident database, so the shared options that exist
# for the audit log (--db, --operator) are left out and --insecure says what it does here.
_NOT_FOR_DOCTOR = frozenset({"db_path", "operator"})
_DOCTOR_HELP = {
    "insecure": "Do not verify certificates or host keys: the tls check then only warns.",
    "auth": "WinRM/PSRP authentication; with kerberos, clock skew over 5 min fails.",
}


def _read_only(command: click.Command) -> click.Command:
    command.params = [p for p in command.params if p.name not in _NOT_FOR_DOCTOR]
    for param in command.params:
        if isinstance(param, click.Option) and param.name in _DOCTOR_HELP:
            param.help = _DOCTOR_HELP[param.name]
    return command


@_read_only
@click.command("doctor")
@transport_options
@click.option("--sample", default=10, show_default=True, type=click.IntRange(min=0),
              help="How many hosts to check, spread over the inventory (0: all).")  # fmt: skip
def doctor(sample: int, **params: Any) -> None:
    """Check a sample of hosts: name, ports, TLS, logon, clock. Read-only; nothing is recorded."""
    from fleetfix.doctor import Verdict, diagnose_sample

    command = prepare({**params, "operator": None})  # no actor: nothing is recorded
    hosts = spread_sample(command.hosts, sample)
    checks = asyncio.run(diagnose_sample(hosts, command.options_for(),
                                         concurrency=command.run.concurrency,
                                         timeout=command.run.timeout))  # fmt: skip
    for check in checks:
        if params["as_json"]:
            click.echo(json.dumps(check.as_dict()))
            continue
        line = f"{check.host} | {check.name} | {check.verdict} | {check.detail}"
        click.echo(line + (f" -> {check.fix}" if check.fix and check.verdict != "ok" else ""))
    verdicts = Counter(str(check.verdict) for check in checks)
    summary = ", ".join(f"{v} {n}" for v, n in sorted(verdicts.items()))
    click.echo(f"{len(hosts)} hosts checked: {summary or 'nothing to check'}", err=True)
    raise SystemExit(EXIT_HOSTS_FAILED if verdicts[str(Verdict.FAIL)] else 0)
