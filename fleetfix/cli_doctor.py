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
from fleetfix.cli_transport import connection_options, prepare_connection
from fleetfix.models import Host
from fleetfix.wording import counted


def spread_sample(hosts: Sequence[Host], size: int) -> list[Host]:
    """`size` hosts spread evenly over the list (every k-th), so a sample of a sorted
    inventory sees every site and role rather than the first rack; 0 means all."""
    if size <= 0 or size >= len(hosts):
        return list(hosts)
    step = len(hosts) / size
    return [hosts[int(i * step)] for i in range(size)]


# Doctor only reads: it never opens the incident database, so it takes the connection options
# without the audit ones (--db, --operator), and --insecure says what it does here.
@click.command("doctor")
@connection_options(
    insecure_help="Do not verify certificates or host keys: the tls check then only warns.",
    auth_help="WinRM/PSRP authentication; with kerberos, clock skew over 5 min fails.",
)
@click.option("--sample", default=10, show_default=True, type=click.IntRange(min=0),
              help="How many hosts to check, spread over the inventory (0: all).")  # fmt: skip
def doctor(sample: int, **params: Any) -> None:
    """Check a sample of hosts: name, ports, TLS, logon, clock. Read-only; nothing is recorded."""
    from fleetfix.doctor import Verdict, diagnose_sample

    fleet = prepare_connection(params)
    hosts = spread_sample(fleet.hosts, sample)
    checks = asyncio.run(diagnose_sample(hosts, fleet.options_for(),
                                         concurrency=fleet.run.concurrency,
                                         timeout=fleet.run.timeout))  # fmt: skip
    for check in checks:
        if params["as_json"]:
            click.echo(json.dumps(check.as_dict()))
            continue
        line = f"{check.host} | {check.name} | {check.verdict} | {check.detail}"
        click.echo(line + (f" -> {check.fix}" if check.fix and check.verdict != "ok" else ""))
    verdicts = Counter(str(check.verdict) for check in checks)
    summary = ", ".join(f"{v} {n}" for v, n in sorted(verdicts.items()))
    click.echo(f"{counted(len(hosts), 'host')} checked: {summary or 'nothing to check'}", err=True)
    raise SystemExit(EXIT_HOSTS_FAILED if verdicts[str(Verdict.FAIL)] else 0)
