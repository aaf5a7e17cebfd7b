"""A LabHost driven through its real shell, the way a remote client drives it: the field
fix for channel file 291 (safe mode, delete, normal boot) and the command history."""

from __future__ import annotations

import base64

from fleetfix.lab.api import PipelineCommand, Service
from fleetfix.lab.boot import CHANNEL_291_PATTERN, BootProfile, BootState, has_bad_channel_file
from fleetfix.lab.host import LabHost
from fleetfix.lab.machine import BootMode
from tests.unit.test_lab_host_support import Lab, lab

__all__ = ["lab"]  # the fixture is used by name

DELETE_CHANNEL_FILES = (
    "Remove-Item -Path 'C:\\Windows\\System32\\drivers\\CrowdStrike\\C-00000291*.sys' -Force"
)


def encoded(script: str) -> str:
    """How pywinrm's run_ps sends a script: UTF-16LE, base64, on the command line."""
    return "powershell -EncodedCommand " + base64.b64encode(script.encode("utf-16-le")).decode()


async def restarted(lab: Lab, host: LabHost, command_line: str) -> None:
    generation = host.boot_generation
    result = host.execute(command_line)
    assert result.exit_code == 0, result.stderr
    await lab.until(
        lambda: host.boot_generation > generation and host.state is BootState.UP,
        what="the restart the command asked for",
    )


async def test_the_field_fix_through_the_shell_recovers_an_affected_host(lab: Lab) -> None:
    host = lab.host(profile=BootProfile(), bad_channel_file=True)
    host.machine.tamper_protection = True
    # Tamper protection denies the delete while the sensor runs in normal mode.
    denied = host.execute(encoded(DELETE_CHANNEL_FILES))
    assert denied.exit_code != 0
    assert b"is denied" in denied.stderr
    assert has_bad_channel_file(host.machine)
    assert host.execute("bcdedit /set {default} safeboot network").exit_code == 0
    await restarted(lab, host, "shutdown /r /t 0")
    assert host.status().boot_mode is BootMode.SAFE_NETWORK
    assert host.status().crashes == 0
    # Safe mode: the driver is not loaded, the delete goes through.
    assert host.execute(encoded(DELETE_CHANNEL_FILES)).exit_code == 0
    assert not host.machine.files.glob(CHANNEL_291_PATTERN)
    assert host.execute("bcdedit /deletevalue {default} safeboot").exit_code == 0
    await restarted(lab, host, "shutdown /r /t 0")
    assert host.status().boot_mode is BootMode.NORMAL
    await lab.pass_lab_time(1_000)
    assert host.state is BootState.UP
    assert host.status().crashes == 0
    assert host.is_listening(Service.WINRM)


async def test_restart_computer_logs_who_asked_and_why(lab: Lab) -> None:
    host = lab.host()
    await restarted(lab, host, encoded("Restart-Computer -Force"))
    newest = [e.id for e in host.machine.system_log.query(ids=[1074, 6006, 6005, 6013])]
    assert newest[:4] == [6013, 6005, 6006, 1074]
    planned = host.machine.system_log.query(ids=[1074])[0]
    assert "Administrator" in planned.message


async def test_history_records_each_command_with_its_transport_and_exit_code(lab: Lab) -> None:
    host = lab.host()
    host.execute("hostname", transport="winrs")
    host.execute("this-is-not-a-command", transport="ssh")
    host.run_pipeline([PipelineCommand("Get-Service", parameters={"Name": "WinRM"})])
    records = host.history
    assert [(r.transport, r.command) for r in records] == [
        ("winrs", "hostname"),
        ("ssh", "this-is-not-a-command"),
        ("psrp", "Get-Service -Name"),
    ]
    assert records[0].exit_code == 0
    assert records[1].exit_code != 0
    assert records[2].exit_code == 0
    assert all(r.at >= lab.clock.start for r in records)
    assert {r.boot_generation for r in records} == {0}


async def test_pipeline_parameter_values_stay_out_of_the_history(lab: Lab) -> None:
    host = lab.host()
    secret = "123456-123456-123456-123456-123456-123456-123456-123456"
    host.run_pipeline(
        [PipelineCommand("Write-Output", parameters={"InputObject": secret})],
    )
    assert all(secret not in r.command for r in host.history)


async def test_winrm_listed_for_safe_mode_by_a_script_answers_there(lab: Lab) -> None:
    host = lab.host()
    listed = host.execute(
        encoded(
            "New-Item -Path 'HKLM:\\SYSTEM\\CurrentControlSet\\Control\\SafeBoot\\Network\\WinRM'"
            " -Value 'Service' -Force | Out-Null"
        )
    )
    assert listed.exit_code == 0, listed.stderr
    assert host.execute("bcdedit /set {default} safeboot network").exit_code == 0
    await restarted(lab, host, "shutdown /r /t 0")
    assert host.machine.boot_mode is BootMode.SAFE_NETWORK
    assert host.is_listening(Service.WINRM)
    assert not host.is_listening(Service.SSH)


async def test_suspend_bitlocker_reboot_count_holds_off_the_recovery_screen(lab: Lab) -> None:
    profile = BootProfile(bitlocker_recovery_after=1)
    host = lab.host(profile=profile, bad_channel_file=True)
    suspended = host.execute(encoded("Suspend-BitLocker -MountPoint 'C:' -RebootCount 2"))
    assert suspended.exit_code == 0, suspended.stderr
    host.execute(encoded("Restart-Computer -Force"))
    await lab.until(lambda: host.state is BootState.BITLOCKER_RECOVERY, what="recovery screen")
    # Two boots ran down the count (each then crashed); the third met the screen.
    assert host.status().crashes == 2
