"""Probing a fleet: reach each host, collect its facts, record what was seen, diagnose it and
move it to the diagnosed state, one host's outcome at a time as it finishes.

Per host, in order, each step committed before the next:

1. open a session: the inventory's transport, or for an `auto` host the transport learned on
   an earlier run (one fallback to the port scan when that one no longer answers);
2. run the probe (one round trip) and keep the JSON it printed as the host's facts;
3. record a reachability row (answered or not), and the transport `auto` chose;
4. diagnose from the facts and the host's whole reachability history (a host that answered
   and vanished repeatedly is boot-looping even when it is silent now);
5. move the host to the diagnosed state when the TRANSITIONS table allows it, never a host a
   remediation run owns;
6. one `probe.host` audit row.

An authentication failure, a timeout or unreadable output is the host's outcome, recorded,
not an exception: the run goes on with the other hosts.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import json
import time
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from fleetfix.errors import IllegalTransition
from fleetfix.models import Host, HostState, Transport, is_allowed
from fleetfix.probe import probe_script
from fleetfix.probe.collect import DEFAULT_CRASH_WINDOW_HOURS, DEFAULT_MAX_EVENTS
from fleetfix.probe.facts import ProbeFacts, ProbeOutputError, parse_probe_output
from fleetfix.probe.rules import DEFAULT_RULE, Diagnosis, Reachability, TimestampRule, diagnose
from fleetfix.store import HostRecord, Store
from fleetfix.transports import errors
from fleetfix.transports.base import ConnectOptions, Session
from fleetfix.transports.runner import RunOptions, status_of
from fleetfix.transports.selection import open_session

#: States a remediation run owns: a probe reports on these hosts but never moves them.
RUN_OWNED_STATES = frozenset({HostState.REMEDIATING, HostState.AWAITING_REBOOT})

OptionsFor = Callable[[Host], ConnectOptions]


class ProbeStatus(enum.StrEnum):
    """How the probe of one host went (not the host's recovery state)."""

    OK = "ok"
    UNREACHABLE = "unreachable"
    AUTH_FAILED = "auth_failed"
    TIMEOUT = "timeout"
    CONNECTION_LOST = "connection_lost"
    UNTRUSTED = "untrusted"
    REFUSED = "refused"
    ERROR = "error"
    BAD_OUTPUT = "bad_output"  # the probe ran but did not print the facts object
    SKIPPED = "skipped"  # not tried: credentials were rejected by too many hosts


# Statuses where something on the host's address answered: an auth failure or a hung command
# proves the host is up. REFUSED and SKIPPED never sent a packet, so they record nothing.
_ANSWERED = frozenset(
    {ProbeStatus.OK, ProbeStatus.AUTH_FAILED, ProbeStatus.TIMEOUT, ProbeStatus.CONNECTION_LOST,
     ProbeStatus.UNTRUSTED, ProbeStatus.ERROR, ProbeStatus.BAD_OUTPUT}
)  # fmt: skip
_NOT_ATTEMPTED = frozenset({ProbeStatus.REFUSED, ProbeStatus.SKIPPED})
#: Probe statuses that count as a failed probe (exit code 6), as opposed to unreachable (7).
FAILED_STATUSES = frozenset(ProbeStatus) - {ProbeStatus.OK, ProbeStatus.UNREACHABLE}


@dataclass(frozen=True, slots=True)
class ProbeOutcome:
    """One host's probe. `state` is the host's state after the probe (moved or not); `note`
    says why a diagnosis was not applied. `error` is a sysadmin's message, never a secret."""

    host: str
    status: ProbeStatus
    duration: float
    transport: str | None = None
    diagnosis: Diagnosis | None = None
    state: HostState | None = None
    moved: bool = False
    note: str | None = None
    error: str | None = None

    @property
    def reason(self) -> str:
        if self.diagnosis is not None:
            return self.diagnosis.reason
        return self.error or ""

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready record: what `fleetfix probe --json` prints per host."""
        diagnosis = self.diagnosis
        return {
            "host": self.host, "status": str(self.status), "transport": self.transport,
            "state": None if self.state is None else str(self.state),
            "diagnosed": None if diagnosis is None else str(diagnosis.state),
            "reason": self.reason, "moved": self.moved, "note": self.note, "error": self.error,
            "bad_channel_files": [] if diagnosis is None else list(diagnosis.bad_channel_files),
            "recent_bugchecks": 0 if diagnosis is None else diagnosis.recent_bugchecks,
            "duration": round(self.duration, 4),
        }  # fmt: skip

    def audit_details(self) -> dict[str, Any]:
        return {
            "status": str(self.status), "transport": self.transport,
            "state": None if self.state is None else str(self.state),
            "diagnosed": None if self.diagnosis is None else str(self.diagnosis.state),
            "moved": self.moved, "note": self.note, "error": self.error,
        }  # fmt: skip


@dataclass(frozen=True, slots=True)
class Probed:
    """What reaching one host produced, before anything is recorded."""

    status: ProbeStatus
    transport: str | None
    facts: ProbeFacts | None = None
    raw: dict[str, Any] | None = None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class ProbeContext:
    """What probing a host needs; the recovery engine builds one to probe inside its runs."""

    store: Store
    options_for: OptionsFor
    run: RunOptions
    rule: TimestampRule
    actor: str
    run_id: int | None
    executor: ThreadPoolExecutor
    busy_hosts: frozenset[str]  # folded names with an intent and no outcome


async def probe_hosts(
    hosts: Sequence[Host],
    *,
    store: Store,
    options_for: OptionsFor,
    run: RunOptions | None = None,
    rule: TimestampRule = DEFAULT_RULE,
    actor: str,
    run_id: int | None = None,
) -> AsyncIterator[ProbeOutcome]:
    """Yield each host's outcome as it finishes, `run.concurrency` hosts in flight. Every
    host must already be in `store` (import the inventory first). Once credentials have been
    rejected by `run.auth_failure_limit` hosts the rest are skipped, as `run_everywhere` does:
    a wrong password must not lock the service account out across the domain."""
    settings = run or RunOptions()
    limit = asyncio.Semaphore(settings.concurrency)
    auth_failures = 0
    executor = ThreadPoolExecutor(settings.concurrency, thread_name_prefix="fleetfix-probe")
    busy = frozenset(a.host.casefold() for a in store.open_intents())
    context = ProbeContext(store, options_for, settings, TimestampRule(rule), actor, run_id,
                       executor, busy)  # fmt: skip

    async def one(host: Host) -> ProbeOutcome:
        nonlocal auth_failures
        async with limit:
            if auth_failures >= settings.auth_failure_limit:
                probed = Probed(ProbeStatus.SKIPPED, None, error=(
                    f"not tried: credentials were rejected by {auth_failures} hosts"))  # fmt: skip
                return record_probe(context, host, probed, duration=0.0)
            started = time.monotonic()
            probed = await _reach_and_probe(context, host)
            if probed.status is ProbeStatus.AUTH_FAILED:
                # Counted before the slot is released, so the next host sees it.
                auth_failures += 1
            return record_probe(context, host, probed, duration=time.monotonic() - started)

    tasks = [asyncio.ensure_future(one(host)) for host in hosts]
    try:
        for finished in asyncio.as_completed(tasks):
            yield await finished
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        # Off the loop: a worker may still need it (a lab on this loop); each ends by its deadline.
        await asyncio.get_running_loop().run_in_executor(None, executor.shutdown)


async def _reach_and_probe(context: ProbeContext, host: Host) -> Probed:
    transport: str | None = None
    try:
        session = await open_host_session(context, host)
        transport = session.transport
        try:
            return await probe_over(session, timeout=context.run.timeout)
        finally:
            with contextlib.suppress(errors.TransportError):
                await session.close()
    except errors.TransportError as exc:
        return Probed(ProbeStatus(str(status_of(exc))), transport, error=exc.reason)


async def probe_over(session: Session, *, timeout: float) -> Probed:
    """Run the probe in an open session. Transport errors propagate (the caller decides
    whether to retry or record them); output the probe did not mean is a BAD_OUTPUT value."""
    result = await session.run(probe_script(), params=_PARAMS, timeout=timeout)
    try:
        if result.exit_code != 0:
            # collect_facts' own check, done here because the store keeps the raw JSON object.
            first = next((line for line in result.stderr.splitlines() if line.strip()), "")
            raise ProbeOutputError(
                f"the probe exited {result.exit_code}: {first or 'no error text'}"
            )
        facts = parse_probe_output(result.stdout)
    except ProbeOutputError as exc:
        return Probed(ProbeStatus.BAD_OUTPUT, session.transport, error=f"{exc.title}: {exc}")
    return Probed(
        ProbeStatus.OK, session.transport, facts=facts, raw=_last_json_object(result.stdout)
    )


async def open_host_session(context: ProbeContext, host: Host) -> Session:
    """The run's transport if one was forced, else the inventory's; for `auto`, the learned
    one first and the port scan only when that one no longer answers."""
    options = context.options_for(host)
    timeout = context.run.connect_timeout
    forced = context.run.transport
    if forced is not None and forced is not Transport.AUTO:
        return await open_session(host, options, executor=context.executor, timeout=timeout,
                                  transport=forced)  # fmt: skip
    if forced is None and host.transport is not Transport.AUTO:
        return await open_session(host, options, executor=context.executor, timeout=timeout)
    record = context.store.host(host.name)
    learned = record.learned_transport if record is not None else None
    if learned is not None:
        try:
            return await open_session(host, options, executor=context.executor,
                                      timeout=timeout, transport=learned)  # fmt: skip
        except errors.Unreachable:
            pass  # the host may have moved its listener: scan once, below
    return await open_session(host, options, executor=context.executor, timeout=timeout,
                              transport=Transport.AUTO)  # fmt: skip


_PARAMS: dict[str, Any] = {
    "CrashWindowHours": DEFAULT_CRASH_WINDOW_HOURS, "MaxEvents": DEFAULT_MAX_EVENTS,
}  # fmt: skip


def _last_json_object(stdout: str) -> dict[str, Any]:
    """The object the probe printed, as it printed it (parse_probe_output has checked it):
    the store keeps the host's own words, so a later fleetfix can re-read them."""
    last = [line for line in stdout.splitlines() if line.strip()][-1]
    value = json.loads(last)
    assert isinstance(value, dict)
    return value


def record_probe(
    context: ProbeContext, host: Host, probed: Probed, *, duration: float
) -> ProbeOutcome:
    """Write what the probe saw, diagnose, move the host, audit. Returns the outcome."""
    store, run_id = context.store, context.run_id
    if probed.raw is not None:
        store.record_facts(host.name, probed.raw, run_id=run_id)
    diagnosis: Diagnosis | None = None
    if probed.status not in _NOT_ATTEMPTED:
        seen = store.record_reachability(
            host.name, answered=probed.status in _ANSWERED, transport=probed.transport,
            status=str(probed.status), detail=probed.error or "", run_id=run_id,
        )  # fmt: skip
        _remember_transport(context, host, probed)
        if probed.status in {ProbeStatus.OK, ProbeStatus.UNREACHABLE}:
            history = [Reachability(r.at, r.answered) for r in store.reachability(host.name)]
            diagnosis = diagnose(probed.facts, history, now=seen.at, rule=context.rule)
    state, moved, note = _apply(context, host, diagnosis)
    outcome = ProbeOutcome(
        host.name, probed.status, duration, transport=probed.transport, diagnosis=diagnosis,
        state=state, moved=moved, note=note, error=probed.error,
    )  # fmt: skip
    store.audit("probe.host", actor=context.actor, host=host.name,
                details=outcome.audit_details())  # fmt: skip
    return outcome


def _remember_transport(context: ProbeContext, host: Host, probed: Probed) -> None:
    chose_auto = host.transport is Transport.AUTO and context.run.transport in {
        None, Transport.AUTO,
    }  # fmt: skip
    if not chose_auto or probed.transport is None or probed.status not in _ANSWERED:
        return
    try:
        learned = Transport(probed.transport)
    except ValueError:  # a test transport ("fake") is nothing to remember
        return
    context.store.set_learned_transport(host.name, learned)


def _apply(
    context: ProbeContext, host: Host, diagnosis: Diagnosis | None
) -> tuple[HostState | None, bool, str | None]:
    """(state after, moved?, why not moved). Only a diagnosis moves a host."""
    record = context.store.host(host.name)
    current = None if record is None else record.state
    if diagnosis is None or record is None:
        return current, False, None
    if record.state is diagnosis.state:
        return current, False, None
    owned = record.state in RUN_OWNED_STATES or record.name.casefold() in context.busy_hosts
    if owned:
        return current, False, f"not moved: {record.state} belongs to a remediation run"
    if not is_allowed(record.state, diagnosis.state):
        return current, False, f"not moved: {record.state} -> {diagnosis.state} is not allowed"
    try:
        context.store.transition(host.name, diagnosis.state, reason=diagnosis.reason,
                                 actor=context.actor, run_id=context.run_id)  # fmt: skip
    except IllegalTransition:
        # Another run moved it between our read and our write: its word stands.
        fresh = context.store.host(host.name)
        return (None if fresh is None else fresh.state), False, "not moved: changed meanwhile"
    return diagnosis.state, True, None


def host_from_record(record: HostRecord) -> Host:
    """The inventory's view of a stored host, for probing hosts already in the store."""
    return Host(record.name, address=record.address, port=record.port,
                transport=record.transport, tags=record.tags)  # fmt: skip


__all__ = [
    "FAILED_STATUSES",
    "RUN_OWNED_STATES",
    "ProbeContext",
    "ProbeOutcome",
    "ProbeStatus",
    "Probed",
    "host_from_record",
    "open_host_session",
    "probe_hosts",
    "probe_over",
    "record_probe",
]
