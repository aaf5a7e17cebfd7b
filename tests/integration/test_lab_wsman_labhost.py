"""The WS-Man server in front of the real simulated host (`LabHost` on a `Machine`), with
real pywinrm and pypsrp clients: the seam the fleet runs on."""

from __future__ import annotations

import asyncio
import base64

import pytest
import requests
import winrm
from pypsrp.complex_objects import ErrorRecord, PSInvocationState
from pypsrp.host import PSHost
from pypsrp.powershell import PowerShell, RunspacePool
from pypsrp.wsman import WSMan
from winrm.exceptions import WinRMOperationTimeoutError
from winrm.protocol import Protocol

from tests.integration.wsman_helpers import ADMIN, serving
from tests.integration.wsman_helpers import ADMIN_PASSWORD as PASSWORD

pytestmark = pytest.mark.integration


async def test_winrs_runs_cmd_on_the_machine_over_ntlm_and_records_winrm() -> None:
    async with serving() as lab:
        host, port = lab.host, lab.port
        session = winrm.Session(
            f"http://127.0.0.1:{port}/wsman", auth=(ADMIN, PASSWORD), transport="ntlm"
        )
        result = await asyncio.to_thread(session.run_cmd, "echo", ["ready"])
    assert (result.std_out, result.status_code) == (b"ready\r\n", 0)
    assert [(record.command, record.transport) for record in host.history] == [
        ("echo ready", "winrm")
    ]


def _get_service(port: int) -> tuple[list[object], bool]:
    wsman = WSMan(
        "127.0.0.1", port=port, username=ADMIN, password=PASSWORD, ssl=False, auth="negotiate"
    )
    with RunspacePool(wsman) as pool:
        ps = PowerShell(pool)
        ps.add_cmdlet("Get-Service").add_parameter("Name", "CSFalconService")
        ps.add_cmdlet("Select-Object").add_parameter("ExpandProperty", "Name")
        return list(ps.invoke()), ps.had_errors


async def test_psrp_pipeline_runs_on_the_machine_and_records_psrp() -> None:
    async with serving() as lab:
        host, port = lab.host, lab.port
        output, had_errors = await asyncio.to_thread(_get_service, port)
    assert (output, had_errors) == (["CSFalconService"], False)
    assert host.history[-1].transport == "psrp"


def _exit_code(port: int, *, with_host: bool) -> tuple[int | None, bool, list[object]]:
    wsman = WSMan(
        "127.0.0.1", port=port, username=ADMIN, password=PASSWORD, ssl=False, auth="negotiate"
    )
    ps_host = PSHost(None, None, False, "test", None, None, "1.0") if with_host else None
    with RunspacePool(wsman, host=ps_host) as pool:
        ps = PowerShell(pool)
        ps.add_script("Write-Output 'before'; exit 3; Write-Output 'after'")
        output = list(ps.invoke())
        return (ps_host.rc if ps_host is not None else None), ps.had_errors, output


@pytest.mark.parametrize("with_host", [True, False])
async def test_exit_code_reaches_a_client_host_through_set_should_exit(with_host: bool) -> None:
    async with serving() as lab:
        host, port = lab.host, lab.port
        rc, had_errors, output = await asyncio.to_thread(_exit_code, port, with_host=with_host)
    # `exit` is no error; a client with a PSHost learns the code, one without does not.
    assert (rc, had_errors, output) == ((3 if with_host else None), False, ["before"])
    assert host.history[-1].exit_code == 3


async def test_a_crash_refuses_new_requests_until_the_host_is_back() -> None:
    async with serving() as lab:
        host, port = lab.host, lab.port
        session = winrm.Session(
            f"http://127.0.0.1:{port}/wsman", auth=(ADMIN, PASSWORD), transport="basic"
        )
        host.crash(restart_after=3600)
        with pytest.raises(requests.exceptions.ConnectionError):
            await asyncio.to_thread(session.run_cmd, "echo", ["down"])
    assert host.history == ()


def _get_item(port: int, **parameters: str) -> tuple[bool, int, list[ErrorRecord]]:
    wsman = WSMan(
        "127.0.0.1", port=port, username=ADMIN, password=PASSWORD, ssl=False, auth="negotiate"
    )
    with RunspacePool(wsman) as pool:
        ps = PowerShell(pool)
        ps.add_cmdlet("Get-Item").add_parameter("Path", "C:\\does-not-exist")
        for name, value in parameters.items():
            ps.add_parameter(name, value)
        ps.invoke()
        return ps.had_errors, ps.state, list(ps.streams.error)


async def test_a_non_terminating_error_is_an_error_record_and_the_pipeline_completes() -> None:
    # As on Windows: `Get-Item C:\missing` writes an ErrorRecord and the pipeline ends in
    # the Completed state, so pypsrp 0.9 leaves had_errors False.
    async with serving() as lab:
        had_errors, state, errors = await asyncio.to_thread(_get_item, lab.port)
    assert (had_errors, state) == (False, PSInvocationState.COMPLETED)
    [error] = errors
    assert str(error) == "Cannot find path 'C:\\does-not-exist' because it does not exist."
    assert error.fq_error == "PathNotFound,Microsoft.PowerShell.Commands.GetItemCommand"
    assert (error.category, error.target_name) == (13, "C:\\does-not-exist")  # ObjectNotFound


async def test_error_action_stop_fails_the_pipeline_and_sets_had_errors() -> None:
    async with serving() as lab:
        had_errors, state, errors = await asyncio.to_thread(_get_item, lab.port, ErrorAction="Stop")
    assert (had_errors, state) == (True, PSInvocationState.FAILED)
    # The record arrives once, inside the Failed state.
    assert [str(error) for error in errors] == [
        "Cannot find path 'C:\\does-not-exist' because it does not exist."
    ]


def _sleep_past_the_operation_timeout(port: int) -> bool:
    protocol = Protocol(
        f"http://127.0.0.1:{port}/wsman",
        transport="basic",
        username=ADMIN,
        password=PASSWORD,
        operation_timeout_sec=1,
        read_timeout_sec=5,
    )
    shell_id = protocol.open_shell()
    script = base64.b64encode("Start-Sleep -Seconds 60".encode("utf-16-le")).decode()
    command_id = protocol.run_command(shell_id, f"powershell -encodedcommand {script}")
    try:
        protocol._raw_get_command_output(shell_id, command_id)
    except WinRMOperationTimeoutError:
        return True
    finally:
        protocol.cleanup_command(shell_id, command_id)
        protocol.close_shell(shell_id)
    return False


async def test_start_sleep_in_lab_time_outlives_the_operation_timeout() -> None:
    # 60 lab seconds at a time scale of 10 are 6 real seconds: longer than the 1 s timeout.
    async with serving(time_scale=10) as lab:
        port = lab.port
        timed_out = await asyncio.to_thread(_sleep_past_the_operation_timeout, port)
    assert timed_out is True
