"""Data-driven shell behaviour: every case in tests/data/lab_shell/*.json is a command (or a
PowerShell script sent as pywinrm sends it), what it must print and exit with, and how the
machine must look afterwards."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path
from typing import Any

import pytest

from fleetfix.lab.machine import (
    BootMode,
    EventLevel,
    Machine,
    RecordingPowerControl,
    ServiceStatus,
    add_channel_file,
)
from fleetfix.lab.shell import run_command_line
from tests.unit.test_lab_shell_support import BOOT_TIME, encoded_command, new_machine

DATA = Path(__file__).parent.parent / "data" / "lab_shell"


def _cases() -> list[Any]:
    params = []
    for path in sorted(DATA.glob("*.json")):
        for case in json.loads(path.read_text(encoding="utf-8")):
            params.append(pytest.param(case, id=f"{path.stem}: {case['name']}"))
    return params


def _setup(machine: Machine, setup: dict[str, Any]) -> None:
    if setup.get("bad_channel_file"):
        add_channel_file(machine, bad=True)
    if "tamper_protection" in setup:
        machine.tamper_protection = setup["tamper_protection"]
    if "boot_mode" in setup:
        machine.boot_mode = BootMode(setup["boot_mode"])
    if "boot_mode_applied" in setup:
        machine.apply_boot(BootMode(setup["boot_mode_applied"]), at=BOOT_TIME)
    if "safeboot" in setup:
        machine.bcd.loader.elements["safeboot"] = setup["safeboot"]
    for name, status in setup.get("service_status", {}).items():
        service = machine.services.get(name)
        assert service is not None
        service.status = ServiceStatus[status]
    for event in setup.get("events", []):
        properties: tuple[tuple[str, object], ...] = ()
        if "bugcheck" in event:
            properties = (("BugcheckCode", event["bugcheck"]), ("BugcheckParameter1", 0))
        machine.system_log.write(
            event_id=event["id"], provider_name="Microsoft-Windows-Kernel-Power",
            time_created=BOOT_TIME, level=EventLevel.CRITICAL, message="", properties=properties,
        )  # fmt: skip


def _check_output(expect: dict[str, Any], stdout: str, stderr: str) -> None:
    if "stdout" in expect:
        assert stdout == expect["stdout"]
    if "stderr" in expect:
        assert stderr == expect["stderr"]
    for part in expect.get("stdout_contains", []):
        assert part in stdout
    for part in expect.get("stderr_contains", []):
        assert part in html.unescape(stderr.replace("_x000D__x000A_", "\r\n"))
    for part in expect.get("stderr_lacks", []):
        assert part not in stderr
    if "stderr_starts" in expect:
        assert stderr.startswith(expect["stderr_starts"])
    if "stdout_regex" in expect:
        assert re.match(expect["stdout_regex"], stdout), stdout


def _check_state(machine: Machine, after: dict[str, Any]) -> None:
    for path in after.get("files_present", []):
        assert machine.files.exists(path), path
    for path in after.get("files_absent", []):
        assert not machine.files.exists(path), path
    if "safeboot" in after:
        assert machine.bcd.safeboot == after["safeboot"]
    if "power" in after:
        assert isinstance(machine.power, RecordingPowerControl)
        got = [
            {"action": r.action, "delay": r.delay, "reason": r.reason}
            for r in machine.power.requests
        ]
        assert got == after["power"]
    for name, status in after.get("service_status", {}).items():
        service = machine.services.get(name)
        assert service is not None and service.status is ServiceStatus[status]
    for expected in after.get("registry", []):
        key = machine.registry.key(expected["key"])
        assert key is not None
        value = key.value(expected["name"])
        assert value is not None and value.data == expected["data"]
    if "suspended_reboots_left" in after:
        volume = machine.volume("C:")
        assert (
            volume is not None and volume.suspended_reboots_left == after["suspended_reboots_left"]
        )


@pytest.mark.parametrize("case", _cases())
def test_shell_case(case: dict[str, Any]) -> None:
    machine = new_machine()
    _setup(machine, case.get("setup", {}))
    command_line = case.get("command_line") or encoded_command(case["powershell"])
    result = run_command_line(
        machine,
        command_line,
        stdin=case.get("stdin", "").encode("ascii"),
        codepage=case.get("codepage", 437),
    )
    stdout = result.stdout.decode("cp437")
    stderr = result.stderr.decode("cp437")
    expect = case.get("expect", {})
    if "exit_code" in expect:
        assert result.exit_code == expect["exit_code"], stderr
    _check_output(expect, stdout, stderr)
    if "duration" in expect:
        assert result.duration == expect["duration"]
    _check_state(machine, case.get("after", {}))
