"""The sensor's tamper protection as the lab models it (a per-host setting, FACTS.md):
deleting under drivers\\CrowdStrike is denied in normal mode and works in safe mode, or
after a boot that did not load the driver."""

from __future__ import annotations

import pytest

from fleetfix.lab.machine import BootMode, add_channel_file
from fleetfix.lab.shell import run_command_line
from tests.unit.test_lab_shell_support import BOOT_TIME, encoded_command, new_machine

CHANNEL_FILES = "C:\\Windows\\System32\\drivers\\CrowdStrike\\C-00000291*.sys"
CSAGENT_KEY = "HKLM:\\SYSTEM\\CurrentControlSet\\Services\\csagent"


def _remove(pattern: str) -> str:
    return encoded_command(f"Remove-Item -Path '{pattern}' -Force")


@pytest.mark.parametrize("mode", [BootMode.SAFE_MINIMAL, BootMode.SAFE_NETWORK])
def test_safe_mode_lets_the_channel_files_be_deleted(mode: BootMode) -> None:
    machine = new_machine()
    add_channel_file(machine, bad=True)
    machine.boot_mode = mode
    result = run_command_line(machine, _remove(CHANNEL_FILES))
    assert result.exit_code == 0, result.stderr
    assert machine.files.glob(CHANNEL_FILES) == []


def test_normal_mode_denies_every_file_and_deletes_none() -> None:
    machine = new_machine()
    bad = add_channel_file(machine, bad=True)
    result = run_command_line(machine, _remove(CHANNEL_FILES))
    assert result.exit_code == 1
    assert result.stderr.count(b"is denied.") == 2
    assert machine.files.exists(bad)


def test_a_normal_boot_with_the_driver_disabled_protects_nothing() -> None:
    machine = new_machine()
    add_channel_file(machine, bad=True)
    # Start 4, as the faulty-driver pack's disable-driver sets it, then a normal boot.
    disable = f"Set-ItemProperty -Path '{CSAGENT_KEY}' -Name Start -Value 4 -Type DWord"
    assert run_command_line(machine, encoded_command(disable)).exit_code == 0
    assert run_command_line(machine, _remove(CHANNEL_FILES)).exit_code == 1  # still loaded
    machine.apply_boot(BootMode.NORMAL, at=BOOT_TIME)
    result = run_command_line(machine, _remove(CHANNEL_FILES))
    assert result.exit_code == 0, result.stderr
    assert machine.files.glob(CHANNEL_FILES) == []


def test_deleting_the_whole_sensor_folder_is_denied_too() -> None:
    machine = new_machine()
    result = run_command_line(
        machine,
        encoded_command(
            "Remove-Item 'C:\\Windows\\System32\\drivers\\CrowdStrike' -Recurse -Force"
        ),
    )
    assert result.exit_code == 1
    assert machine.files.exists("C:\\Windows\\System32\\drivers\\CrowdStrike\\csagent.sys")


def test_the_wrong_folder_from_community_scripts_deletes_nothing_and_says_nothing() -> None:
    machine = new_machine()
    bad = add_channel_file(machine, bad=True)
    machine.boot_mode = BootMode.SAFE_NETWORK
    result = run_command_line(machine, _remove("C:\\Windows\\System32\\drivers\\C-00000291*.sys"))
    # A wildcard that matches nothing is not an error: the fix must verify, not assume.
    assert result.exit_code == 0
    assert result.stderr == b""
    assert machine.files.exists(bad)


def test_files_outside_the_sensor_folder_are_not_protected() -> None:
    machine = new_machine()
    result = run_command_line(machine, _remove("C:\\Windows\\System32\\drivers\\etc\\hosts"))
    assert result.exit_code == 0
    assert not machine.files.exists("C:\\Windows\\System32\\drivers\\etc\\hosts")


def test_paths_match_whatever_their_case() -> None:
    machine = new_machine()
    bad = add_channel_file(machine, bad=True)
    machine.boot_mode = BootMode.SAFE_MINIMAL
    run_command_line(
        machine, _remove("c:/WINDOWS/system32/Drivers/crowdstrike/c-00000291-00000000-00000032.SYS")
    )
    assert not machine.files.exists(bad)


def test_whatif_reports_and_keeps_the_files() -> None:
    machine = new_machine()
    bad = add_channel_file(machine, bad=True)
    machine.boot_mode = BootMode.SAFE_MINIMAL
    result = run_command_line(machine, encoded_command(f"Remove-Item '{bad}' -WhatIf"))
    assert (
        result.stdout
        == f'What if: Performing the operation "Remove File" on target "{bad}".\r\n'.encode()
    )
    assert machine.files.exists(bad)
