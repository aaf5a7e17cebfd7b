"""Services through the shell: StopPending hangs, dependents, and what a reboot clears."""

from __future__ import annotations

from fleetfix.lab.machine import BootMode, ServiceStatus
from fleetfix.lab.shell import run_command_line
from fleetfix.lab.shell.ps.cmdlets.services import STOP_HANG_LAB_SECONDS
from tests.unit.test_lab_shell_support import BOOT_TIME, encoded_command, new_machine


def test_a_service_that_hangs_stays_in_stop_pending_and_the_command_takes_lab_time() -> None:
    machine = new_machine()
    spooler = machine.services.get("Spooler")
    assert spooler is not None
    spooler.stop_hang_chance = 1.0
    result = run_command_line(machine, encoded_command("Stop-Service -Name Spooler -Force"))
    assert spooler.status is ServiceStatus.STOP_PENDING
    assert result.duration >= STOP_HANG_LAB_SECONDS
    assert result.exit_code == 1
    assert b"Waiting for service 'Print Spooler (Spooler)' to stop..." in result.stderr
    status = run_command_line(machine, encoded_command("(Get-Service Spooler).Status"))
    assert status.stdout == b"StopPending\r\n"


def test_a_hung_service_stays_hung_until_the_machine_boots_again() -> None:
    machine = new_machine()
    spooler = machine.services.get("Spooler")
    assert spooler is not None
    spooler.stop_hang_chance = 1.0
    run_command_line(machine, encoded_command("Stop-Service Spooler -Force"))
    spooler.stop_hang_chance = 0.0
    again = run_command_line(machine, encoded_command("Stop-Service Spooler -Force"))
    assert again.exit_code == 1
    assert again.stdout == b""
    status = run_command_line(machine, encoded_command("(Get-Service Spooler).Status"))
    assert status.stdout == b"StopPending\r\n"
    machine.apply_boot(BootMode.NORMAL, at=BOOT_TIME)
    status = run_command_line(machine, encoded_command("(Get-Service Spooler).Status"))
    assert status.stdout == b"Running\r\n"


def test_sc_stop_returns_at_once_showing_stop_pending() -> None:
    machine = new_machine()
    spooler = machine.services.get("Spooler")
    assert spooler is not None
    spooler.stop_hang_chance = 1.0
    result = run_command_line(machine, "sc stop Spooler")
    assert result.exit_code == 0
    assert b"STATE              : 3  STOP_PENDING" in result.stdout
    assert result.duration == 0.0


def test_stop_service_force_stops_running_dependents_first() -> None:
    machine = new_machine()
    netlogon = machine.services.get("Netlogon")
    assert netlogon is not None
    netlogon.status = ServiceStatus.RUNNING
    result = run_command_line(machine, encoded_command("Stop-Service LanmanServer -Force"))
    assert result.exit_code == 0, result.stderr
    assert netlogon.status is ServiceStatus.STOPPED


def test_get_service_status_compares_as_its_name() -> None:
    script = "(Get-Service WinRM).Status -eq 'running'"
    assert run_command_line(new_machine(), encoded_command(script)).stdout == b"True\r\n"


def test_a_missing_service_is_an_object_not_found_error() -> None:
    result = run_command_line(new_machine(), encoded_command("Get-Service NoSuchThing"))
    assert result.exit_code == 1
    assert b"Cannot find any service with service name 'NoSuchThing'." in result.stderr
