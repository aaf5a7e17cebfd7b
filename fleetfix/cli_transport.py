"""`fleetfix ping` and `fleetfix exec`: reachability and ad-hoc commands across a fleet.

Results go to stdout (one line per host, or JSON Lines with --json); the summary goes to
stderr. Every run is recorded in the audit log, and so is `--insecure`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import fnmatch
import json
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import click

from fleetfix import credentials as creds
from fleetfix.cli import EXIT_HOSTS_FAILED, EXIT_HOSTS_UNREACHABLE, actor_name
from fleetfix.credentials import Credentials
from fleetfix.errors import ConfigError
from fleetfix.logsafety import pin_third_party_loggers
from fleetfix.models import Host, Transport
from fleetfix.transports.base import ConnectOptions, Security, WinrmAuth
from fleetfix.transports.runner import HostResult, HostStatus, RunOptions, run_everywhere
from fleetfix.wording import counted

PING_SCRIPT = "$env:COMPUTERNAME"
_UNREACHABLE = {HostStatus.UNREACHABLE}
# Nothing answered (or nothing was tried): no transport worth remembering.
_NOT_ANSWERED = {HostStatus.UNREACHABLE, HostStatus.SKIPPED, HostStatus.REFUSED}
F = TypeVar("F", bound=Callable[..., Any])


_INSECURE_HELP = "Do not verify certificates or host keys (recorded in the audit log)."
_AUTH_HELP = "WinRM/PSRP authentication."


def connection_options(
    *, insecure_help: str = _INSECURE_HELP, auth_help: str = _AUTH_HELP
) -> Callable[[F], F]:
    """The hosts and how to reach them (and --json): shared by every command that works host by
    host, one spelling each. A command that records nothing (doctor) words --insecure and
    --auth for what they do there."""
    options = [
        click.option("-i", "--inventory", "inventory_path", required=True,
                     type=click.Path(exists=True, dir_okay=False, path_type=Path),
                     help="Host list: txt, CSV, Ansible INI or YAML."),
        click.option("--limit", default=None,
                     help="Only hosts whose name or a tag matches: globs, comma-separated."),
        click.option("--concurrency", "-f", default=50, show_default=True,
                     type=click.IntRange(1, 2000), help="Hosts in flight at once."),
        click.option("--transport", "transport_name", default=None,
                     type=click.Choice([str(t) for t in Transport]),
                     help="Override the inventory's transport for every host."),
        click.option("--auth", default=str(WinrmAuth.NTLM), show_default=True,
                     type=click.Choice([str(a) for a in WinrmAuth]), help=auth_help),
        click.option("--timeout", default=60.0, show_default=True, type=click.FloatRange(0.1),
                     help="Seconds a command may run on a host."),
        click.option("--connect-timeout", default=15.0, show_default=True,
                     type=click.FloatRange(0.1), help="Seconds to connect and log on."),
        click.option("--ca-file", envvar="FLEETFIX_CA_BUNDLE", show_envvar=True,
                     type=click.Path(exists=True, dir_okay=False, path_type=Path),
                     help="CA bundle that issued the hosts' WinRM certificates."),
        click.option("--known-hosts", envvar="FLEETFIX_KNOWN_HOSTS", show_envvar=True,
                     type=click.Path(exists=True, dir_okay=False, path_type=Path),
                     help="SSH known_hosts file (default: ~/.ssh/known_hosts)."),
        click.option("--insecure", is_flag=True, help=insecure_help),
        click.option("--allow-basic-http", is_flag=True,
                     help="Allow Basic auth over plain HTTP (sends the password in clear)."),
        click.option("--allow-credssp", is_flag=True,
                     help="Allow CredSSP (hands the host your full credentials)."),
        click.option("--json", "as_json", is_flag=True, help="JSON Lines on stdout."),
    ]  # fmt: skip

    return lambda func: _with_options(options, func)


def audit_options(func: F) -> F:
    """Where the audit log is and who is acting: for the commands that record what they did."""
    options = [
        click.option("--db", "db_path", envvar="FLEETFIX_DB", show_envvar=True,
                     default=Path("fleetfix.db"), show_default=True,
                     type=click.Path(dir_okay=False, path_type=Path),
                     help="Incident database, for the audit log."),
        click.option("--operator", envvar="FLEETFIX_OPERATOR", default=None,
                     help="Name recorded as the actor (default: the OS user)."),
    ]  # fmt: skip
    return _with_options(options, func)


def _with_options(options: Sequence[Callable[[F], F]], func: F) -> F:
    for option in reversed(options):  # so --help lists them in the order written
        func = option(func)
    return func


def transport_options(func: F) -> F:
    """Connection and audit options: for ping, exec, probe and run, which record."""
    return connection_options()(audit_options(func))


def select_hosts(hosts: Sequence[Host], limit: str | None) -> list[Host]:
    """Hosts whose name or any `key=value` tag matches one of the comma-separated globs."""
    if not limit:
        return list(hosts)
    patterns = [p.strip().lower() for p in limit.split(",") if p.strip()]
    return [
        host for host in hosts
        if any(fnmatch.fnmatchcase(value.lower(), pattern)
               for pattern in patterns for value in (host.name, *host.tags))
    ]  # fmt: skip


def exit_code_for(results: Sequence[HostResult]) -> int:
    statuses = {result.status for result in results}
    if statuses - _UNREACHABLE - {HostStatus.OK}:
        return EXIT_HOSTS_FAILED
    if statuses & _UNREACHABLE:
        return EXIT_HOSTS_UNREACHABLE
    return 0


def host_auth(host: Host, default: WinrmAuth) -> WinrmAuth:
    """The host's `auth=` tag (an Ansible inventory's ansible_winrm_transport, or a CSV
    column), else `default` (`--auth`). A value fleetfix does not know is a ConfigError."""
    value = host.tag_value("auth")
    if not value:
        return default
    try:
        return WinrmAuth(value.strip().lower())
    except ValueError:
        known = ", ".join(str(a) for a in WinrmAuth)
        raise ConfigError(f"host {host.name}: auth={value[:20]!r} is not one of {known}") from None


def options_for_hosts(
    hosts: Sequence[Host], base: ConnectOptions, *, env: Mapping[str, str] | None = None
) -> Callable[[Host], ConnectOptions]:
    """A host tagged `credential=NAME` logs on with that named credential
    (FLEETFIX_CRED_NAME_USERNAME / _PASSWORD, or the keyring's `fleetfix:NAME`); a host
    tagged `auth=NAME` authenticates that way instead of `--auth`."""
    named: dict[str, Credentials] = {}
    for host in hosts:
        host_auth(host, base.auth)  # a bad auth= tag fails before any host is touched
        reference = host.tag_value("credential")
        if reference and reference not in named:
            named[reference] = creds.resolve(reference=reference, env=env, interactive=False)
    shaped: dict[tuple[str, WinrmAuth], ConnectOptions] = {}

    def options_for(host: Host) -> ConnectOptions:
        reference = host.tag_value("credential") or ""
        auth = host_auth(host, base.auth)
        if reference not in named and auth is base.auth:
            return base
        key = (reference, auth)
        if key not in shaped:
            shaped[key] = dataclasses.replace(
                base, credentials=named.get(reference, base.credentials), auth=auth
            )
        return shaped[key]

    return options_for


def _line(result: HostResult) -> str:
    if result.result is not None:
        shown = result.result.stdout.strip() or result.result.stderr.strip()
        text = " / ".join(line.strip() for line in shown.splitlines() if line.strip())
        return f"{result.host} | {result.status} | rc={result.result.exit_code} | {text}"
    return f"{result.host} | {result.status} | {result.error}"


@dataclass(frozen=True, slots=True)
class FleetConnection:
    """What the connection options resolve to: the hosts and how to reach them."""

    inventory: list[Host]  # every host the file names, for importing into the store
    hosts: list[Host]  # those --limit selects
    security: Security
    base: ConnectOptions
    run: RunOptions

    def options_for(self) -> Callable[[Host], ConnectOptions]:
        return options_for_hosts(self.hosts, self.base)


@dataclass(frozen=True, slots=True)
class FleetCommand(FleetConnection):
    """A FleetConnection and who acts: for the commands that record (`audit_options`)."""

    actor: str


def prepare_connection(params: Mapping[str, Any]) -> FleetConnection:
    """Load the inventory and resolve credentials and trust settings from the connection
    options; nothing here is about the audit log."""
    from fleetfix.inventory import load_inventory

    pin_third_party_loggers()
    inventory = list(load_inventory(params["inventory_path"]).hosts)
    security = Security(
        ca_file=params["ca_file"], known_hosts=params["known_hosts"],
        insecure=params["insecure"], allow_basic_over_http=params["allow_basic_http"],
        allow_credssp=params["allow_credssp"],
    )  # fmt: skip
    base = ConnectOptions(
        credentials=creds.resolve(), security=security, auth=WinrmAuth(params["auth"]),
        connect_timeout=params["connect_timeout"],
    )  # fmt: skip
    transport = Transport(params["transport_name"]) if params["transport_name"] else None
    run = RunOptions(concurrency=params["concurrency"], timeout=params["timeout"],
                     connect_timeout=params["connect_timeout"], transport=transport)  # fmt: skip
    return FleetConnection(inventory, select_hosts(inventory, params["limit"]), security, base,
                           run)  # fmt: skip


def prepare(params: Mapping[str, Any]) -> FleetCommand:
    """`prepare_connection`, and the actor --operator names (else the OS user)."""
    fleet = prepare_connection(params)
    return FleetCommand(fleet.inventory, fleet.hosts, fleet.security, fleet.base, fleet.run,
                        actor=actor_name(params["operator"]))  # fmt: skip


def _run(params: dict[str, Any], *, event: str, script: str) -> None:
    from fleetfix.store import Store

    command = prepare(params)
    hosts, run, actor = command.hosts, command.run, command.actor
    with Store.open(params["db_path"]) as store:
        _audit_start(store, event=event, actor=actor, hosts=hosts, run=run,
                     security=command.security, script=script,
                     credential_source=command.base.credentials.source)  # fmt: skip
        results = asyncio.run(_collect(hosts, script, command.options_for(), run,
                                       as_json=params["as_json"]))  # fmt: skip
        counts = Counter(str(result.status) for result in results)
        store.audit(f"{event}.finished", actor=actor, details={"counts": dict(counts)})
        for result in results:
            row = _audit_row(result)
            store.audit(f"{event}.host", actor=actor, host=result.host, details=row)
        remember_learned_transports(store, hosts, results, run=run)
    summary = ", ".join(f"{status} {count}" for status, count in sorted(counts.items()))
    click.echo(f"{counted(len(results), 'host')}: {summary or 'none matched'}", err=True)
    raise SystemExit(exit_code_for(results))


def remember_learned_transports(
    store: Any, hosts: Sequence[Host], results: Sequence[HostResult], *, run: RunOptions
) -> int:
    """Keep, for each `auto` host the store knows, the transport `auto` settled on, so the
    next probe skips the port scan. Returns how many were remembered."""
    if run.transport not in {None, Transport.AUTO}:
        return 0  # a forced transport says nothing about what `auto` would choose
    auto_hosts = {host.name for host in hosts if host.transport is Transport.AUTO}
    remembered = 0
    for result in results:
        if result.host not in auto_hosts or result.transport is None:
            continue
        if result.status in _NOT_ANSWERED or store.host(result.host) is None:
            continue  # ping does not import the inventory: unknown hosts are not ours to add
        store.set_learned_transport(result.host, Transport(result.transport))
        remembered += 1
    return remembered


def _audit_start(store: Any, *, event: str, actor: str, hosts: Sequence[Host], run: RunOptions,
                 security: Security, script: str, credential_source: str) -> None:  # fmt: skip
    if security.insecure:
        why = "--insecure: certificates and host keys not verified"
        store.audit("transport.insecure", actor=actor, details={"command": event, "why": why})
    store.audit(event, actor=actor, details={
        "hosts": len(hosts), "command": script, "transport": str(run.transport or "inventory"),
        "concurrency": run.concurrency, "credential_source": credential_source,
        "allow_basic_http": security.allow_basic_over_http,
        "allow_credssp": security.allow_credssp,
    })  # fmt: skip


def _audit_row(result: HostResult) -> dict[str, Any]:
    row: dict[str, Any] = {"status": str(result.status), "transport": result.transport,
                           "error": result.error}  # fmt: skip
    if result.result is not None:
        row["exit_code"] = result.result.exit_code
    return row


async def _collect(hosts: Sequence[Host], script: str, options: Callable[[Host], ConnectOptions],
                   run: RunOptions, *, as_json: bool) -> list[HostResult]:  # fmt: skip
    results: list[HostResult] = []
    async for result in run_everywhere(hosts, script, options=options, run=run):
        results.append(result)
        click.echo(json.dumps(result.as_dict(), default=str) if as_json else _line(result))
    return results


@click.command("ping")
@transport_options
def ping(**params: Any) -> None:
    """Reachability and authentication per host."""
    _run(params, event="ping", script=PING_SCRIPT)


@click.command("exec", context_settings={"ignore_unknown_options": False})
@transport_options
@click.argument("command", nargs=-1, required=True)
def exec_command(command: tuple[str, ...], **params: Any) -> None:
    """Run an ad-hoc PowerShell COMMAND on every host, as `ansible -m raw` does.

    Put the command after `--`: fleetfix exec -i hosts.csv -- Get-Service WinRM
    """
    _run(params, event="exec", script=" ".join(command))
