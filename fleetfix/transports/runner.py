"""Running one script across many hosts at once; each host's failure is a value.

A bounded thread pool (sized to the concurrency) carries the synchronous WinRM and PSRP
clients; a semaphore keeps the same number of hosts in flight. When the credentials are
rejected by several hosts the run stops starting new hosts: retrying a wrong password across
a domain locks the service account out.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from fleetfix.models import Host, Transport
from fleetfix.transports import errors
from fleetfix.transports.base import CommandResult, ConnectOptions
from fleetfix.transports.base import Transport as TransportProtocol
from fleetfix.transports.selection import open_session

#: Credentials rejected by this many hosts stop the run.
AUTH_FAILURE_LIMIT = 3


class HostStatus(enum.StrEnum):
    OK = "ok"
    FAILED = "failed"  # the script ran and exited non-zero
    UNREACHABLE = "unreachable"
    AUTH_FAILED = "auth_failed"
    TIMEOUT = "timeout"
    CONNECTION_LOST = "connection_lost"
    UNTRUSTED = "untrusted"  # certificate or host key not trusted
    REFUSED = "refused"  # fleetfix refused an unsafe option
    ERROR = "error"  # the remote service answered with a fault
    SKIPPED = "skipped"  # not tried: the run stopped first


_ERROR_STATUS = {
    "unreachable": HostStatus.UNREACHABLE,
    "auth_failed": HostStatus.AUTH_FAILED,
    "timeout": HostStatus.TIMEOUT,
    "connection_lost": HostStatus.CONNECTION_LOST,
    "untrusted": HostStatus.UNTRUSTED,
    "refused": HostStatus.REFUSED,
}


@dataclass(frozen=True, slots=True)
class HostResult:
    """One host's outcome. `error` is a message fit for a sysadmin, never a secret."""

    host: str
    status: HostStatus
    duration: float
    transport: str | None = None
    result: CommandResult | None = None
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready record: what `fleetfix exec --json` prints per host."""
        record: dict[str, Any] = {
            "host": self.host, "status": str(self.status), "transport": self.transport,
            "duration": round(self.duration, 4), "error": self.error,
        }  # fmt: skip
        if self.result is not None:
            record |= {
                "exit_code": self.result.exit_code, "stdout": self.result.stdout,
                "stderr": self.result.stderr, "json": self.result.json,
            }  # fmt: skip
        return record


def status_of(exc: errors.TransportError) -> HostStatus:
    return _ERROR_STATUS.get(exc.status, HostStatus.ERROR)


@dataclass(frozen=True, slots=True)
class RunOptions:
    concurrency: int = 50
    timeout: float = 60.0  # per script, after the session is open
    connect_timeout: float = 15.0
    transport: Transport | None = None  # None: each host's inventory transport
    auth_failure_limit: int = AUTH_FAILURE_LIMIT


async def run_on_host(
    host: Host,
    script: str,
    *,
    params: Mapping[str, Any] | None,
    options: ConnectOptions,
    run: RunOptions,
    executor: ThreadPoolExecutor,
    via: TransportProtocol | None = None,
) -> HostResult:
    started = time.monotonic()
    transport: str | None = None
    try:
        session = await (
            via.open(host, timeout=run.connect_timeout)
            if via is not None
            else open_session(host, options, executor=executor, timeout=run.connect_timeout,
                              transport=run.transport)
        )  # fmt: skip
        transport = session.transport
        try:
            result = await session.run(script, params=params, timeout=run.timeout)
        finally:
            with contextlib.suppress(errors.TransportError):
                await session.close()
    except errors.TransportError as exc:
        return HostResult(host.name, status_of(exc), time.monotonic() - started,
                          transport=transport, error=exc.reason)  # fmt: skip
    status = HostStatus.OK if result.ok else HostStatus.FAILED
    return HostResult(host.name, status, time.monotonic() - started,
                      transport=transport, result=result)  # fmt: skip


OptionsFor = Callable[[Host], ConnectOptions]


async def run_everywhere(
    hosts: Sequence[Host],
    script: str,
    *,
    options: ConnectOptions | OptionsFor,
    params: Mapping[str, Any] | None = None,
    run: RunOptions | None = None,
    via: TransportProtocol | None = None,
) -> AsyncIterator[HostResult]:
    """Yield each host's result as it finishes. `options` may depend on the host (an
    inventory group's named credentials). `via` replaces the per-host choice of transport
    with one transport for every host (tests pass a FakeTransport here). Options this
    installation cannot honour end the run with one ConfigError, not a failure per host."""
    settings = run or RunOptions()
    options_for = options if callable(options) else (lambda _host: options)
    limit = asyncio.Semaphore(settings.concurrency)
    auth_failures = 0

    async def one(host: Host) -> HostResult:
        nonlocal auth_failures
        async with limit:
            if auth_failures >= settings.auth_failure_limit:
                return HostResult(host.name, HostStatus.SKIPPED, 0.0, error=(
                    f"not tried: credentials were rejected by {auth_failures} hosts"))  # fmt: skip
            outcome = await run_on_host(host, script, params=params, options=options_for(host),
                                        run=settings, executor=executor, via=via)  # fmt: skip
            if outcome.status is HostStatus.AUTH_FAILED:
                # Counted here, before the slot is released, so the next host sees it.
                auth_failures += 1
            return outcome

    executor = ThreadPoolExecutor(settings.concurrency, thread_name_prefix="fleetfix-io")
    tasks = [asyncio.ensure_future(one(host)) for host in hosts]
    try:
        for finished in asyncio.as_completed(tasks):
            yield await finished
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        # Waiting for the workers off the loop: they may still need it (a lab on this loop)
        # and every one of them ends by its deadline. None is left behind when we return.
        await asyncio.get_running_loop().run_in_executor(None, executor.shutdown)
