"""Each fault a host can be given, and host reboots, as real clients see them. Faults are
switched on through the real `LabHost`; reboots at an exact moment use `ScriptedHost`."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Callable

import pytest
import requests
import winrm
from pypsrp.powershell import PowerShell, RunspacePool
from pypsrp.wsman import WSMan
from winrm.exceptions import InvalidCredentialsError, WSManFaultError
from winrm.protocol import Protocol

from fleetfix.lab.api import Fault, FaultKind
from fleetfix.lab.wsman import stop_wsman_server
from tests.integration.wsman_helpers import (
    ADMIN,
    ADMIN_PASSWORD,
    PASSWORD,
    USER,
    LabListener,
    listening,
    serving,
)

pytestmark = pytest.mark.integration


def _run(lab: LabListener, *, read_timeout: float = 30) -> winrm.Response:
    session = winrm.Session(
        lab.url(),
        auth=(ADMIN, ADMIN_PASSWORD),
        transport="basic",
        read_timeout_sec=read_timeout,
        operation_timeout_sec=max(1, int(read_timeout) - 1),
    )
    return session.run_cmd("echo", ["hi"])


async def test_latency_longer_than_the_read_timeout_times_the_client_out() -> None:
    async with serving() as lab:
        lab.host.add_fault(Fault(FaultKind.LATENCY, seconds=5))
        with pytest.raises(requests.exceptions.ReadTimeout):
            await asyncio.to_thread(_run, lab, read_timeout=2)


async def test_blackhole_accepts_and_never_answers() -> None:
    async with serving() as lab:
        lab.host.add_fault(Fault(FaultKind.BLACKHOLE))
        with pytest.raises(requests.exceptions.ReadTimeout):
            await asyncio.to_thread(_run, lab, read_timeout=2)


async def test_reset_breaks_the_response_half_way() -> None:
    async with serving() as lab:
        lab.host.add_fault(Fault(FaultKind.RESET))
        with pytest.raises(requests.exceptions.ChunkedEncodingError):
            await asyncio.to_thread(_run, lab)


async def test_drop_at_rate_one_closes_every_request() -> None:
    async with serving() as lab:
        lab.host.add_fault(Fault(FaultKind.DROP, rate=1.0))
        with pytest.raises(requests.exceptions.ConnectionError):
            await asyncio.to_thread(_run, lab)


async def test_drop_at_rate_zero_closes_nothing() -> None:
    async with serving() as lab:
        lab.host.add_fault(Fault(FaultKind.DROP, rate=0.0))
        result = await asyncio.to_thread(_run, lab)
    assert result.std_out == b"hi\r\n"


async def test_auth_fail_rejects_the_right_password() -> None:
    async with serving() as lab:
        lab.host.add_fault(Fault(FaultKind.AUTH_FAIL))
        with pytest.raises(InvalidCredentialsError):
            await asyncio.to_thread(_run, lab)
    assert lab.host.history == ()


async def test_http_500_answers_a_wsman_fault() -> None:
    async with serving() as lab:
        lab.host.add_fault(Fault(FaultKind.HTTP_500))
        with pytest.raises(WSManFaultError) as raised:
            await asyncio.to_thread(_run, lab)
    assert raised.value.code == 500
    assert raised.value.fault_subcode == "w:InternalError"


def _first_receive(lab: LabListener) -> tuple[bytes, bool, bytes]:
    protocol = Protocol(lab.url(), transport="basic", username=ADMIN, password=ADMIN_PASSWORD)
    shell_id = protocol.open_shell()
    command_id = protocol.run_command(shell_id, "echo", ["x" * 40])
    stdout, _, _, done = protocol._raw_get_command_output(shell_id, command_id)
    rest, _, _ = protocol.get_command_output(shell_id, command_id)
    protocol.cleanup_command(shell_id, command_id)
    protocol.close_shell(shell_id)
    return stdout, done, rest


async def test_slow_output_trickles_out_in_small_pieces() -> None:
    async with serving() as lab:
        lab.host.add_fault(Fault(FaultKind.SLOW_OUTPUT, seconds=0.01))
        first, done, rest = await asyncio.to_thread(_first_receive, lab)
    assert (first, done) == (b"x" * 16, False)
    assert rest == b"x" * 24 + b"\r\n"


def _psrp_output(lab: LabListener) -> list[object]:
    wsman = WSMan(
        "127.0.0.1",
        port=lab.port,
        username=ADMIN,
        password=ADMIN_PASSWORD,
        ssl=False,
        auth="basic",
        encryption="never",
    )
    with RunspacePool(wsman) as pool:
        ps = PowerShell(pool)
        ps.add_cmdlet("Get-Service").add_parameter("Name", "csagent")
        ps.add_cmdlet("Select-Object").add_parameter("ExpandProperty", "Name")
        return list(ps.invoke())


async def test_slow_output_still_delivers_whole_psrp_output() -> None:
    async with serving() as lab:
        lab.host.add_fault(Fault(FaultKind.SLOW_OUTPUT, seconds=0.01))
        output = await asyncio.to_thread(_psrp_output, lab)
    assert output == ["csagent"]


async def test_a_crashed_host_closes_new_connections() -> None:
    async with serving() as lab:
        lab.host.crash(restart_after=3600)
        with pytest.raises(requests.exceptions.ConnectionError):
            await asyncio.to_thread(_run, lab)


def _long_receive(protocol: Protocol, shell_id: str) -> None:
    script = base64.b64encode("Start-Sleep -Seconds 30".encode("utf-16-le")).decode()
    command_id = protocol.run_command(shell_id, f"powershell -encodedcommand {script}")
    protocol.get_command_output(shell_id, command_id)


async def test_reboot_resets_a_connection_mid_command_and_forgets_its_shells() -> None:
    async with listening() as lab:
        protocol = Protocol(lab.url(), transport="basic", username=USER, password=PASSWORD)
        shell_id = await asyncio.to_thread(protocol.open_shell)
        receive = asyncio.create_task(asyncio.to_thread(_long_receive, protocol, shell_id))
        while not lab.host.history:
            await asyncio.sleep(0.01)
        lab.host.boot_generation += 1
        with pytest.raises(requests.exceptions.ConnectionError):
            await receive
        fresh = Protocol(lab.url(), transport="basic", username=USER, password=PASSWORD)
        with pytest.raises(WSManFaultError) as raised:
            await asyncio.to_thread(fresh.run_command, shell_id, "echo", ["x"])
    assert raised.value.wsman_fault_code == 2150858843


def _twice(session: winrm.Session, close_listener: Callable[[], None]) -> None:
    session.run_cmd("echo", ["first"])
    close_listener()
    session.run_cmd("echo", ["second"])


async def test_closing_the_listener_resets_its_open_connections() -> None:
    async with listening() as lab:
        session = winrm.Session(lab.url(), auth=(USER, PASSWORD), transport="basic")
        loop = asyncio.get_running_loop()

        def close_listener() -> None:
            # On the loop, and waited for: asyncio.Server is not thread-safe, and closing it
            # from this worker thread raced the loop's own bookkeeping (a TypeError in CI).
            loop.call_soon_threadsafe(lab.server.close)
            asyncio.run_coroutine_threadsafe(asyncio.sleep(0), loop).result(timeout=10)

        with pytest.raises(requests.exceptions.ConnectionError):
            await asyncio.to_thread(_twice, session, close_listener)
    assert [entry[0] for entry in lab.host.history] == ["echo first"]


async def test_stopping_a_listener_resets_idle_keep_alive_connections() -> None:
    async with listening() as lab:
        session = winrm.Session(lab.url(), auth=(USER, PASSWORD), transport="basic")
        protocol = session.protocol
        shell_id = await asyncio.to_thread(protocol.open_shell)
        await stop_wsman_server(lab.server)
        with pytest.raises(requests.exceptions.ConnectionError):
            await asyncio.to_thread(protocol.run_command, shell_id, "echo", ["late"])
    assert lab.host.history == []
