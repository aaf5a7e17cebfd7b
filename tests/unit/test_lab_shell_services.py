"""Services through the shell: StopPending hangs, dependents, and what a reboot clears."""

from __future__ import annotations

from datetime import timedelta

from fleetfix.lab.api import Completed
from fleetfix.lab.machine import (
    BootMode,
    Machine,
    ServiceStartMode,
    ServiceStatus,
    WindowsService,
)
from fleetfix.lab.machine.services import SCM_NOTICE_SECONDS
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


# Stop-Process on a hung service, and what the service control manager makes of it --------

_KILL_SPOOLER = (
    "$s = Get-CimInstance Win32_Service -Filter \"Name='Spooler'\"\n"
    "Stop-Process -Id $s.ProcessId -Force\n"
)
_CANNOT_START = (
    b"Service 'Print Spooler (Spooler)' cannot be started due to the following error: "
    b"Cannot start service Spooler on computer '.'."
)


def _hung_spooler() -> Machine:
    machine = new_machine()
    spooler = machine.services.get("Spooler")
    assert spooler is not None
    spooler.status = ServiceStatus.STOP_PENDING
    return machine


def _ps(machine: Machine, script: str) -> Completed:
    return run_command_line(machine, encoded_command(script))


def _status(machine: Machine, name: str) -> ServiceStatus:
    service = machine.services.get(name)
    assert service is not None
    return service.status


def test_start_service_on_a_service_in_stop_pending_fails_as_the_scm_refuses() -> None:
    machine = _hung_spooler()
    result = _ps(machine, "Start-Service Spooler")
    assert result.exit_code == 1
    assert _CANNOT_START in result.stderr
    assert _status(machine, "Spooler") is ServiceStatus.STOP_PENDING


def test_a_killed_service_reads_stop_pending_until_the_scm_notices_in_lab_time() -> None:
    machine = _hung_spooler()
    almost = int(SCM_NOTICE_SECONDS * 1000) - 100
    script = (
        f"{_KILL_SPOOLER}(Get-Service Spooler).Status\n"
        f"Start-Sleep -Milliseconds {almost}\n(Get-Service Spooler).Status\n"
        "Start-Sleep -Milliseconds 200\n(Get-Service Spooler).Status\n"
        "Start-Service Spooler\n(Get-Service Spooler).Status"
    )
    result = _ps(machine, script)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.split() == [b"StopPending", b"StopPending", b"Stopped", b"Running"]


def test_starting_a_killed_service_before_the_scm_notices_fails() -> None:
    machine = _hung_spooler()
    result = _ps(machine, _KILL_SPOOLER + "Start-Service Spooler")
    assert result.exit_code == 1
    assert _CANNOT_START in result.stderr
    assert _status(machine, "Spooler") is ServiceStatus.STOP_PENDING


def test_a_service_whose_dependency_is_stopping_cannot_start() -> None:
    machine = _hung_spooler()
    fax = WindowsService(
        "Fax", "Fax", ServiceStatus.STOPPED, ServiceStartMode.MANUAL, depends_on=["Spooler"]
    )
    machine.services.add(fax)
    result = _ps(machine, "Start-Service Fax")
    assert result.exit_code == 1
    assert (
        b"Service 'Fax (Fax)' cannot be started due to the following error: "
        b"Cannot start service Fax on computer '.'." in result.stderr
    )
    assert fax.status is ServiceStatus.STOPPED


def test_stop_service_after_stop_process_waits_the_moment_until_stopped() -> None:
    machine = _hung_spooler()
    result = _ps(machine, _KILL_SPOOLER + "Stop-Service Spooler\n(Get-Service Spooler).Status")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == b"Stopped\r\n"
    # It waited for the SCM, not for the hang Stop-Service gives up on.
    assert SCM_NOTICE_SECONDS <= result.duration < STOP_HANG_LAB_SECONDS


def test_sc_start_on_a_service_in_stop_pending_says_an_instance_is_running() -> None:
    result = run_command_line(_hung_spooler(), "sc start Spooler")
    assert result.exit_code == 1056
    assert b"An instance of the service is already running." in result.stdout


def test_the_notice_is_timed_by_the_machine_clock_between_commands() -> None:
    machine = _hung_spooler()
    now = BOOT_TIME
    machine.clock = lambda: now
    assert _ps(machine, _KILL_SPOOLER).exit_code == 0
    assert _status(machine, "Spooler") is ServiceStatus.STOP_PENDING
    now = BOOT_TIME + timedelta(seconds=SCM_NOTICE_SECONDS)
    assert _status(machine, "Spooler") is ServiceStatus.STOPPED


def test_a_command_gives_the_machine_clock_back_and_counts_its_sleep_once() -> None:
    machine = new_machine()
    # cmd.exe runs two powershell.exe one after the other: the second starts where the first
    # ended, and the whole command took both sleeps, the nested ones counted once.
    command = (
        'powershell -Command "Start-Sleep 3" & '
        'powershell -Command "Start-Sleep 4; cmd /c powershell -Command Start-Sleep 5; '
        "(Get-Date).ToUniversalTime().ToString('HH:mm:ss')\""
    )
    result = run_command_line(machine, command)
    assert result.exit_code == 0, result.stderr
    assert result.duration == 12.0
    assert result.stdout == (BOOT_TIME + timedelta(seconds=12)).strftime("%H:%M:%S\r\n").encode()
    assert machine.command_seconds == 0.0
    assert machine.now() == BOOT_TIME


def test_a_reboot_forgets_a_process_the_scm_had_not_noticed_yet() -> None:
    machine = _hung_spooler()
    assert _ps(machine, _KILL_SPOOLER).exit_code == 0
    machine.apply_boot(BootMode.NORMAL, at=BOOT_TIME)
    machine.clock = lambda: BOOT_TIME + timedelta(hours=1)
    assert _status(machine, "Spooler") is ServiceStatus.RUNNING
