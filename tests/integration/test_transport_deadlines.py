"""Deadlines hold against hosts that hang or stop answering, and leave nothing behind: no
worker thread, no remote shell or runspace pool. Cancelling the task that runs a command
stops it as promptly.

The guard around each call (deadline + GUARD) only catches a call that never returns, which
is what pywinrm's own output loop does with a hung command. MARGIN is what a black-holed host
may take past its deadline: generous for a loaded machine, far below what a retrying client
would take (pypsrp alone retried a silent Receive five times, 3 s each).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from fleetfix.lab.api import Fault, FaultKind, Service
from fleetfix.lab.fleet import Lab
from fleetfix.models import Host, Transport
from fleetfix.transports import errors
from fleetfix.transports.base import ConnectOptions, Security
from fleetfix.transports.runner import HostStatus, RunOptions, run_everywhere
from fleetfix.transports.selection import make_transport
from tests.integration.test_transport_support import (
    busy_transport_threads,
    entry,
    eventually,
    hole_proxy,
    inventory_host,
    lab,
    options,
    remote_sessions,
    ssh_connections,
    ssh_host_behind,
    up_host,
    worker_threads,
)

__all__ = ["lab"]  # fixture used by name
pytestmark = pytest.mark.integration

DEADLINE = 2.0
GUARD = 15.0
MARGIN = 3.0
# How long a cancelled run may take to return, its command stopped and its shell deleted:
# the Receive in flight, then Signal and Delete, which the lab answers at once. A Receive's
# slice grows while the command stays quiet (1 s, 2, 4, then 5: RECEIVE_SLICES), so the worst
# case is a cancel just after a 5-s slice began: 5 s, and 1 s for the cleanup round trips
# on a loaded machine. (The test below cancels 1 s in, in the first or second slice.)
CANCEL_BOUND = 6.0
HUNG = "Start-Sleep -Seconds 100000"  # 100 s of real time at the lab's speed
THREE = [Transport.WINRM, Transport.PSRP, Transport.SSH]


@pytest.mark.parametrize("kind", [*THREE, Transport.WINRM_HTTPS, Transport.PSRP_HTTPS])
async def test_a_hung_command_is_an_operation_timeout_and_its_shell_is_gone(
    lab: Lab, kind: Transport
) -> None:
    name = up_host(lab).name
    with ThreadPoolExecutor(2, thread_name_prefix="fleetfix-hung") as executor:
        transport = make_transport(kind, options(lab), executor=executor)
        session = await transport.open(inventory_host(lab, name), timeout=10)
        with pytest.raises(errors.OperationTimeout, match="deadline"):
            await asyncio.wait_for(session.run(HUNG, timeout=DEADLINE), DEADLINE + GUARD)
        await session.close()
    assert remote_sessions(lab, name) == 0
    assert not worker_threads()


@dataclass
class Hole:
    """A way to make one host stop answering mid-session, and to bring it back."""

    host: Host
    options: ConnectOptions
    open: Callable[[], object]
    close: Callable[[], object]


@asynccontextmanager
async def black_hole(lab: Lab, name: str, kind: Transport, directory: Path) -> AsyncIterator[Hole]:
    """WS-Man: the lab's BLACKHOLE fault, which its server checks on every request. SSH: the
    lab's fault holds new connections only, so a relay that stops passing bytes stands in
    front of the host's OpenSSH."""
    if kind is not Transport.SSH:
        yield Hole(
            inventory_host(lab, name), options(lab),
            open=lambda: lab.set_fault(name, Fault(FaultKind.BLACKHOLE)),
            close=lambda: lab.clear_faults(name, FaultKind.BLACKHOLE),
        )  # fmt: skip
        return
    proxy = await hole_proxy(lab, name, entry(lab, name).ssh_port)
    try:
        host, known = ssh_host_behind(lab, name, proxy, directory)
        trust = options(lab, security=Security(known_hosts=known))
        yield Hole(host, trust, open=proxy.open_hole, close=proxy.close_hole)
    finally:
        await proxy.stop()


@pytest.mark.slow
@pytest.mark.parametrize("kind", THREE)
async def test_a_black_holed_host_times_out_mid_session_in_time_and_leaves_nothing_behind(
    lab: Lab, kind: Transport, tmp_path: Path
) -> None:
    name = up_host(lab).name
    with ThreadPoolExecutor(2, thread_name_prefix="fleetfix-hole") as executor:
        async with black_hole(lab, name, kind, tmp_path) as hole:
            transport = make_transport(kind, hole.options, executor=executor)
            session = await transport.open(hole.host, timeout=10)
            assert (await session.run("hostname", timeout=10)).ok  # mid-session: one ran
            hole.open()
            started = time.monotonic()
            with pytest.raises(errors.OperationTimeout):
                await asyncio.wait_for(session.run("hostname", timeout=DEADLINE), DEADLINE + GUARD)
            took = time.monotonic() - started
            hole.close()
            # The host is back: what it still holds of ours goes now, not at its idle timeout.
            await session.close()
            assert await eventually(lambda: remote_sessions(lab, name) == 0)
            assert await eventually(lambda: ssh_connections(lab, name) == 0)
    assert took < DEADLINE + MARGIN, f"gave up {took - DEADLINE:.1f} s past the deadline"
    assert not worker_threads()


@pytest.mark.parametrize("kind", THREE)
async def test_cancelling_a_running_command_stops_it_at_once_and_leaves_nothing_behind(
    lab: Lab, kind: Transport
) -> None:
    name = up_host(lab).name
    with ThreadPoolExecutor(2, thread_name_prefix="fleetfix-cancel") as executor:
        transport = make_transport(kind, options(lab), executor=executor)
        session = await transport.open(inventory_host(lab, name), timeout=10)
        task = asyncio.ensure_future(session.run(HUNG, timeout=600))
        await asyncio.sleep(1.0)
        assert not task.done()
        assert remote_sessions(lab, name) == 1  # the shell, pool or channel running it
        started = time.monotonic()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(task, GUARD)
        took = time.monotonic() - started
        # Looked at once, not after close(): the cancelled run itself cleaned up.
        assert not busy_transport_threads()
        assert await eventually(lambda: remote_sessions(lab, name) == 0, within=1.0)
        await session.close()
    assert took < CANCEL_BOUND, f"the cancellation took {took:.1f} s"
    assert not worker_threads()


async def test_across_a_fleet_a_black_holed_host_is_a_value_not_an_abort(
    lab: Lab,
) -> None:
    names = [host.name for host in lab.fleet.hosts if host.is_listening(Service.WINRM)]
    hosts = [inventory_host(lab, name, Transport.WINRM) for name in names]
    lab.set_fault(names[0], Fault(FaultKind.BLACKHOLE))
    run = RunOptions(concurrency=4, timeout=DEADLINE, connect_timeout=DEADLINE)
    outcomes = {
        outcome.host: outcome
        async for outcome in run_everywhere(hosts, "hostname", options=options(lab), run=run)
    }
    # It took the TCP connection and never answered: unreachable, counted apart from failed.
    assert outcomes[names[0]].status is HostStatus.UNREACHABLE
    assert outcomes[names[0]].error == "accepted the connection but never answered"
    assert all(outcomes[name].status is HostStatus.OK for name in names[1:])
    assert not worker_threads()


@pytest.mark.parametrize(
    "kind",
    [
        Transport.WINRM,
        pytest.param(Transport.PSRP, marks=pytest.mark.slow),
        Transport.SSH,
        Transport.WINRM_HTTPS,
        pytest.param(Transport.PSRP_HTTPS, marks=pytest.mark.slow),
    ],
)
async def test_a_host_that_takes_the_connection_but_never_answers_is_a_connect_timeout(
    lab: Lab, kind: Transport
) -> None:
    name = up_host(lab).name
    lab.set_fault(name, Fault(FaultKind.BLACKHOLE))
    with ThreadPoolExecutor(2, thread_name_prefix="fleetfix-open") as executor:
        transport = make_transport(kind, options(lab), executor=executor)
        with pytest.raises(errors.ConnectTimeout) as caught:
            await asyncio.wait_for(
                transport.open(inventory_host(lab, name), timeout=DEADLINE), DEADLINE + GUARD
            )
    assert caught.value.status == "unreachable"
    assert not worker_threads()
