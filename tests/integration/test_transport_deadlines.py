"""Deadlines hold against hosts that hang or stop answering, and leave nothing behind: no
worker thread, no remote shell or runspace pool.

The guard around each call (deadline + GUARD) only catches a call that never returns, which
is what pywinrm's own output loop does with a hung command; the margins actually measured
are in the transport report, not asserted here.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import pytest

from fleetfix.lab.api import Fault, FaultKind, Service
from fleetfix.lab.fleet import Lab
from fleetfix.lab.wsman import server as wsman_server
from fleetfix.models import Transport
from fleetfix.transports import errors
from fleetfix.transports.runner import HostStatus, RunOptions, run_everywhere
from fleetfix.transports.selection import make_transport
from tests.integration.test_transport_support import (
    inventory_host,
    lab,
    options,
    up_host,
    worker_threads,
)

__all__ = ["lab"]  # fixture used by name
pytestmark = pytest.mark.integration

DEADLINE = 2.0
GUARD = 15.0
HUNG = "Start-Sleep -Seconds 100000"  # 100 s of real time at the lab's speed


def remote_sessions(lab: Lab, name: str) -> int:
    """Shells and runspace pools the host's WS-Man service still holds (both listeners).
    Reads the lab server's registry: the lab has no WS-Man Enumerate to ask politely."""
    station = lab.station(name)
    count = 0
    for listener in (station.http, station.https):
        endpoint = wsman_server._ENDPOINTS.get(listener) if listener else None
        if endpoint is not None:
            count += len(endpoint.winrs._shells) + len(endpoint.psrp._shells)
    return count


@pytest.mark.parametrize("kind", [Transport.WINRM, Transport.PSRP, Transport.SSH])
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


@pytest.mark.slow
async def test_a_black_holed_host_times_out_mid_session_without_leaking_a_thread(
    lab: Lab,
) -> None:
    name = up_host(lab).name
    with ThreadPoolExecutor(2, thread_name_prefix="fleetfix-hole") as executor:
        transport = make_transport(Transport.WINRM, options(lab), executor=executor)
        session = await transport.open(inventory_host(lab, name), timeout=10)
        lab.set_fault(name, Fault(FaultKind.BLACKHOLE))
        with pytest.raises(errors.OperationTimeout):
            await asyncio.wait_for(session.run("hostname", timeout=DEADLINE), DEADLINE + GUARD)
        await session.close()
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
    [Transport.WINRM, pytest.param(Transport.PSRP, marks=pytest.mark.slow), Transport.SSH],
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
