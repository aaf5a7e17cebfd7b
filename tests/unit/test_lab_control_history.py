"""The lab control channel's `history` op: every command a host kept, with scripts that came
over stdin, through the real `dispatch` and a real Unix socket round trip."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from fleetfix.errors import LabError
from fleetfix.lab.api import Fault, FaultKind, PipelineCommand
from fleetfix.lab.control import ControlServer, command_history, dispatch, request
from fleetfix.lab.host import LabHost
from fleetfix.transports.script import command_for, with_params
from tests.unit.test_lab_host_support import Lab, lab

__all__ = ["lab"]  # the fixture is used by name


class Hosts:
    """The part of the lab's ControlTarget the history op uses, over real LabHosts."""

    def __init__(self, *hosts: LabHost) -> None:
        self._hosts = {h.name.lower(): h for h in hosts}

    def history(self, host: str) -> dict[str, Any]:
        found = self._hosts.get(host.lower())
        if found is None:
            raise LabError(f"unknown host {host!r}")
        return command_history(found)

    def status(self) -> dict[str, Any]:
        return {}

    def set_fault(self, target: str, fault: Fault) -> int:
        return 0

    def clear_faults(self, target: str, kind: FaultKind | None) -> int:
        return 0

    def inspect(self, host: str) -> dict[str, Any]:
        return {}

    def console(self, host: str, action: str, argument: str | None) -> dict[str, Any]:
        return {}

    async def settle(self) -> None:
        return None


def long_script() -> str:
    # Long enough that the encoded command would pass cmd.exe's limit: it travels on stdin.
    return "Write-Output 'fleetfix'\n" + "# padding\n" * 500


async def test_history_returns_stdin_scripts_in_order_with_exit_codes(lab: Lab) -> None:
    host = lab.host()
    host.execute("hostname", transport="winrs")
    command, stdin = command_for(with_params(long_script(), {"Rule": "strict"}))
    assert stdin, "the script must travel over stdin for this test to mean anything"
    host.execute(command, stdin=stdin, codepage=65001, transport="winrs")
    host.run_pipeline([PipelineCommand("Get-Service", parameters={"Name": "WinRM"})])

    answer = dispatch(Hosts(host), {"op": "history", "host": host.name.lower()})

    assert answer["ok"]
    result = answer["result"]
    assert result["host"] == host.name
    assert result["kept"] == result["received"] == 3
    commands = result["commands"]
    assert [c["command"] for c in commands] == ["hostname", command, "Get-Service -Name"]
    assert [c["transport"] for c in commands] == ["winrs", "winrs", "psrp"]
    assert commands[0]["stdin"] == "" and commands[2]["stdin"] == ""
    assert "Write-Output 'fleetfix'" in commands[1]["stdin"]
    assert commands[1]["exit_code"] == 0
    assert commands[1]["stdout"].strip() == "fleetfix"
    assert commands[0]["stdout"].strip().upper() == host.name.upper()
    assert {c["boot_generation"] for c in commands} == {0}


async def test_history_says_when_old_commands_fell_off(lab: Lab) -> None:
    host = lab.host()
    for _ in range(1005):  # the host keeps 1,000
        host.execute("hostname", transport="ssh")
    result = command_history(host)
    assert (result["kept"], result["received"]) == (1000, 1005)


def test_history_of_an_unknown_host_is_an_error_answer() -> None:
    answer = dispatch(Hosts(), {"op": "history", "host": "NOPE"})
    assert answer == {"ok": False, "error": "unknown host 'NOPE'"}


async def test_history_travels_over_the_control_socket(lab: Lab, tmp_path: Path) -> None:
    host = lab.host()
    host.execute("hostname", transport="winrs")
    server = await ControlServer.start(Hosts(host), tmp_path / "control.sock")
    try:
        answer = await asyncio.to_thread(request, server.path, {"op": "history", "host": host.name})
    finally:
        await server.close()
    assert answer["ok"]
    assert [c["command"] for c in answer["result"]["commands"]] == ["hostname"]
