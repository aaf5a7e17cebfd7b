"""Real pypsrp clients against the lab's WS-Man server: PowerShell Remoting."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from pypsrp.client import Client
from pypsrp.powershell import PowerShell, RunspacePool
from pypsrp.wsman import WSMan

from fleetfix.lab.tls import LabCA
from tests.integration.wsman_helpers import PASSWORD, USER, Listener, listening

pytestmark = pytest.mark.integration


def _wsman(listener: Listener, auth: str = "negotiate") -> WSMan:
    return WSMan(
        "127.0.0.1",
        port=listener.port,
        username=USER,
        password=PASSWORD,
        ssl=False,
        auth=auth,
        encryption="never" if auth == "basic" else "auto",
        operation_timeout=5,
        read_timeout=10,
    )


def _cmdlet_with_parameters(wsman: WSMan) -> tuple[list[Any], bool]:
    with RunspacePool(wsman) as pool:
        ps = PowerShell(pool)
        ps.add_cmdlet("Get-Service").add_parameter("Name", "CSFalconService")
        output = ps.invoke()
        return output, ps.had_errors


async def test_cmdlet_parameters_arrive_as_values_and_output_returns() -> None:
    async with listening() as lab:
        output, had_errors = await asyncio.to_thread(_cmdlet_with_parameters, _wsman(lab))
    assert output == ["Get-Service CSFalconService"]
    assert had_errors is False
    command = lab.host.pipelines[0][0]
    assert (command.name, dict(command.parameters)) == ("Get-Service", {"Name": "CSFalconService"})


def _script_twice(wsman: WSMan) -> tuple[list[Any], list[Any]]:
    with RunspacePool(wsman) as pool:
        first = PowerShell(pool)
        first.add_script("Get-ChildItem C:\\Windows")
        second = PowerShell(pool)
        second.add_script("hostname")
        return first.invoke(), second.invoke()


async def test_one_runspace_pool_runs_several_pipelines_over_ntlm_encryption() -> None:
    async with listening() as lab:
        first, second = await asyncio.to_thread(_script_twice, _wsman(lab))
    assert first == ["script:Get-ChildItem C:\\Windows"]
    assert second == ["script:hostname"]
    assert all(commands[0].is_script for commands in lab.host.pipelines)


def _failing(wsman: WSMan) -> tuple[bool, list[str]]:
    with RunspacePool(wsman) as pool:
        ps = PowerShell(pool)
        ps.add_script("throw 'access denied'")
        ps.invoke()
        return ps.had_errors, [str(error) for error in ps.streams.error]


async def test_a_failing_pipeline_sets_had_errors_and_carries_the_error() -> None:
    async with listening() as lab:
        had_errors, errors = await asyncio.to_thread(_failing, _wsman(lab, auth="basic"))
    assert had_errors is True
    assert errors == ["access denied"]


def _with_input(wsman: WSMan) -> list[Any]:
    with RunspacePool(wsman) as pool:
        ps = PowerShell(pool)
        ps.add_cmdlet("Write-Output")
        return ps.invoke(input=(item for item in ("a", "b")))


async def test_pipeline_input_reaches_the_host() -> None:
    async with listening() as lab:
        output = await asyncio.to_thread(_with_input, _wsman(lab, auth="basic"))
    assert output[:2] == ["a", "b"]


async def test_winrs_and_psrp_calls_are_recorded_with_their_transport() -> None:
    async with listening() as lab:
        client = Client(
            "127.0.0.1",
            port=lab.port,
            username=USER,
            password=PASSWORD,
            ssl=False,
            auth="negotiate",
        )
        stdout, stderr, rc = await asyncio.to_thread(client.execute_cmd, "echo psrp")
        await asyncio.to_thread(_cmdlet_with_parameters, _wsman(lab))
    assert (stdout, stderr, rc) == ("psrp\r\n", "", 0)
    assert lab.host.transports == ["winrm", "psrp"]


async def test_psrp_over_https_validates_the_lab_ca(tmp_path: Path) -> None:
    ca = LabCA.create(tmp_path)
    async with listening(ssl_context=ca.server_context("LAB-WS01", "127.0.0.1")) as lab:
        wsman = WSMan(
            "127.0.0.1",
            port=lab.port,
            username=USER,
            password=PASSWORD,
            ssl=True,
            # pypsrp documents a CA bundle path here though its annotation says bool.
            cert_validation=str(ca.ca_path),  # type: ignore[arg-type]  # see the line above
        )
        output, had_errors = await asyncio.to_thread(_cmdlet_with_parameters, wsman)
    assert (output, had_errors) == (["Get-Service CSFalconService"], False)
