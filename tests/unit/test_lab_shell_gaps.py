"""Windows PowerShell 5.1 features script writers met as gaps in the lab: each runs through the
lab shell as a real command line and must give what Windows PowerShell 5.1 gives."""

from __future__ import annotations

from fleetfix.lab.api import Completed
from fleetfix.lab.machine import (
    EscrowTarget,
    KeyProtectorType,
    Machine,
    ServiceStatus,
)
from fleetfix.lab.shell import run_command_line
from tests.unit.test_lab_shell_support import BOOT_TIME, encoded_command, new_machine

GREETING = "Grüße"


def ps(machine: Machine, script: str, *, codepage: int = 437) -> Completed:
    return run_command_line(machine, encoded_command(script), codepage=codepage)


def lines(result: Completed) -> list[str]:
    return result.stdout.decode("cp437").split("\r\n")[:-1]


# 1. Join-Path ----------------------------------------------------------------------------


def test_join_path_named_and_positional_give_one_separator() -> None:
    result = ps(
        new_machine(),
        "Join-Path -Path C:\\Windows -ChildPath System32\n"
        "Join-Path 'C:\\Windows\\' '\\System32\\drivers'\n"
        "Join-Path HKLM:\\SOFTWARE Microsoft",
    )
    assert result.exit_code == 0, result.stderr
    assert lines(result) == [
        "C:\\Windows\\System32",
        "C:\\Windows\\System32\\drivers",
        "HKLM:\\SOFTWARE\\Microsoft",
    ]


def test_join_path_in_51_has_no_additional_child_path() -> None:
    result = ps(new_machine(), "Join-Path C:\\Windows System32 drivers")
    assert result.exit_code == 1
    assert b"A positional parameter cannot be found that accepts argument 'drivers'." in (
        result.stderr
    )


def test_join_path_resolve_fails_for_a_missing_item() -> None:
    result = ps(
        new_machine(),
        "Join-Path C:\\Windows System32 -Resolve\nJoin-Path C:\\Windows Nope -Resolve",
    )
    assert lines(result) == ["C:\\Windows\\System32"]
    assert b"Cannot find path 'C:\\Windows\\Nope' because it does not exist." in result.stderr


# 2. The call operator with a native program ---------------------------------------------


def test_call_operator_runs_bcdedit_by_name_and_by_full_path() -> None:
    machine = new_machine()
    result = ps(
        machine,
        "& bcdedit.exe /set '{default}' safeboot network\n$LASTEXITCODE\n"
        "& 'C:\\Windows\\System32\\bcdedit.exe' /deletevalue '{default}' safeboot\n$LASTEXITCODE",
    )
    assert result.exit_code == 0, result.stderr
    assert lines(result) == [
        "The operation completed successfully.",
        "0",
        "The operation completed successfully.",
        "0",
    ]


def test_call_operator_sets_lastexitcode_from_a_failing_native_program() -> None:
    machine = new_machine()
    result = ps(machine, "& bcdedit.exe /deletevalue '{nope}' safeboot 2>$null\n$LASTEXITCODE")
    assert lines(result)[-1] != "0"


def test_call_operator_reaches_manage_bde_and_cmd() -> None:
    result = ps(
        new_machine(),
        "& manage-bde.exe -protectors -get C: -type RecoveryPassword | Out-Null\n"
        "$LASTEXITCODE\n& cmd.exe /c exit 3\n$LASTEXITCODE",
    )
    assert lines(result) == ["0", "3"]


# 3. Function parameter lists ------------------------------------------------------------


def test_function_with_a_parenthesised_typed_parameter_list() -> None:
    script = (
        'function Show([string]$Name, [int]$Count = 2) { "$Name x$Count" }\n'
        "Show pacs\nShow pacs 5\nShow -Count 7 -Name lab\n"
        "Show -Count '9'\n(Show pacs '3').GetType().Name"
    )
    result = ps(new_machine(), script)
    assert result.exit_code == 0, result.stderr
    assert lines(result) == ["pacs x2", "pacs x5", "lab x7", " x9", "String"]


def test_param_block_types_defaults_and_switches() -> None:
    script = (
        "function Get-Plan {\n"
        "    param([string]$Mode = 'network', [int]$Reboots, [switch]$Force)\n"
        '    "$Mode/$Reboots/$Force/$($Reboots.GetType().Name)"\n'
        "}\n"
        "Get-Plan\nGet-Plan -Mode minimal -Reboots '2' -Force"
    )
    result = ps(new_machine(), script)
    assert result.exit_code == 0, result.stderr
    assert lines(result) == ["network/0/False/Int32", "minimal/2/True/Int32"]


def test_a_typed_parameter_rejects_what_it_cannot_convert() -> None:
    result = ps(new_machine(), "function F([int]$n) { $n }\nF abc")
    assert result.exit_code == 1
    assert b'Cannot convert value "abc" to type "System.Int32"' in result.stderr


# 4. do/while and do/until -----------------------------------------------------------------


def test_do_while_runs_the_body_before_testing() -> None:
    result = ps(
        new_machine(),
        "$i = 10\ndo { $i++ } while ($i -lt 3)\n$i\n$j = 0\ndo { $j++ } while ($j -lt 3)\n$j",
    )
    assert lines(result) == ["11", "3"]


def test_do_until_stops_when_the_condition_becomes_true() -> None:
    result = ps(new_machine(), "$n = 0\ndo { $n += 2 } until ($n -ge 5)\n$n")
    assert lines(result) == ["6"]


def test_break_and_continue_inside_do() -> None:
    script = "$seen = @()\n$k = 0\ndo { $k++; if ($k -eq 2) { continue }; if ($k -eq 4) { break }"
    script += "; $seen += $k } while ($true)\n$seen -join ','"
    assert lines(ps(new_machine(), script)) == ["1,3"]


# 5. DateTimeOffset and round-trip formats ------------------------------------------------


def test_datetimeoffset_from_a_utc_string_prints_offset_not_z() -> None:
    script = (
        "$o = [datetimeoffset]'2024-07-19T04:09:00Z'\n"
        "$o.ToString('o')\n$o.UtcDateTime.ToString('o')\n$o.ToUnixTimeSeconds()\n"
        '$o.GetType().FullName\n"$o"\n$o.ToString()'
    )
    result = ps(new_machine(), script)
    assert result.exit_code == 0, result.stderr
    assert lines(result) == [
        "2024-07-19T04:09:00.0000000+00:00",
        "2024-07-19T04:09:00.0000000Z",
        "1721362140",
        "System.DateTimeOffset",
        "07/19/2024 04:09:00 +00:00",
        "7/19/2024 4:09:00 AM +00:00",
    ]


def test_datetimeoffset_keeps_a_non_zero_offset_and_converts_to_utc() -> None:
    script = (
        "$o = [datetimeoffset]'2024-07-19T06:09:00+02:00'\n"
        "$o.ToString('o')\n$o.ToUniversalTime().ToString('o')\n"
        "$o -eq [datetimeoffset]'2024-07-19T04:09:00Z'\n"
        "$o -lt [datetimeoffset]'2024-07-19T05:27:00Z'"
    )
    assert lines(ps(new_machine(), script)) == [
        "2024-07-19T06:09:00.0000000+02:00",
        "2024-07-19T04:09:00.0000000+00:00",
        "True",
        "True",
    ]


def test_datetimeoffset_from_a_datetime_and_a_bad_string() -> None:
    script = (
        "([datetimeoffset][datetime]::UtcNow).ToString('o')\n"
        "([datetimeoffset](Get-Date)).ToString('o')\n"
        "[datetimeoffset]'not a date'"
    )
    result = ps(new_machine(), script)
    assert lines(result) == [
        "2024-07-19T06:00:00.0000000+00:00",
        "2024-07-19T06:00:00.0000000+00:00",
    ]
    assert b'Cannot convert value "not a date" to type "System.DateTimeOffset"' in result.stderr


def test_o_format_ends_in_z_only_for_utc_datetimes() -> None:
    # DateTime.Parse turns a `Z` stamp into local time (Kind Local), as .NET does.
    script = (
        "[datetime]::UtcNow.ToString('o')\n(Get-Date).ToUniversalTime().ToString('o')\n"
        "$d = [datetime]'2024-07-19T04:09:00Z'\n$d.Kind\n$d.ToString('o')\n"
        "$d.ToUniversalTime().ToString('o')"
    )
    assert lines(ps(new_machine(), script)) == [
        "2024-07-19T06:00:00.0000000Z",
        "2024-07-19T06:00:00.0000000Z",
        "Local",
        "2024-07-19T04:09:00.0000000+00:00",
        "2024-07-19T04:09:00.0000000Z",
    ]


def test_from_unix_time_seconds_gives_a_datetimeoffset() -> None:
    script = "$o = [DateTimeOffset]::FromUnixTimeSeconds(1721370420)\n"
    script += "$o.GetType().Name\n$o.UtcDateTime.ToString('o')"
    assert lines(ps(new_machine(), script)) == ["DateTimeOffset", "2024-07-19T06:27:00.0000000Z"]


# 6. Remove-ItemProperty -------------------------------------------------------------------

_KEY = "HKLM:\\SOFTWARE\\Fleetfix"
_SETUP = (
    f"New-Item -Path '{_KEY}' -Force | Out-Null\n"
    f"New-ItemProperty -Path '{_KEY}' -Name Stage -Value 2 -PropertyType DWord | Out-Null\n"
    f"New-ItemProperty -Path '{_KEY}' -Name Keep -Value x | Out-Null\n"
)


def test_remove_itemproperty_deletes_one_value_and_keeps_the_rest() -> None:
    machine = new_machine()
    result = ps(machine, _SETUP + f"Remove-ItemProperty -Path '{_KEY}' -Name Stage")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == b""
    key = machine.registry.key("HKLM\\SOFTWARE\\Fleetfix")
    assert key is not None
    assert key.value("Stage") is None
    assert key.value("Keep") is not None


def test_remove_itemproperty_of_a_missing_value_is_an_error() -> None:
    result = ps(new_machine(), _SETUP + f"Remove-ItemProperty -Path '{_KEY}' -Name Nope")
    assert result.exit_code == 1
    assert (
        b"Remove-ItemProperty : Property Nope does not exist at path "
        b"HKEY_LOCAL_MACHINE\\SOFTWARE\\Fleetfix." in result.stderr
    )


def test_remove_itemproperty_on_a_missing_key_is_an_error() -> None:
    result = ps(new_machine(), "Remove-ItemProperty -Path HKLM:\\SOFTWARE\\Nope -Name X")
    assert b"Cannot find path 'HKLM:\\SOFTWARE\\Nope' because it does not exist." in (result.stderr)


def test_remove_itemproperty_removes_the_safeboot_winrm_default_value() -> None:
    machine = new_machine()
    path = "HKLM:\\SYSTEM\\CurrentControlSet\\Control\\SafeBoot\\Network\\WinRM"
    script = (
        f"New-Item -Path '{path}' -Force | Out-Null\n"
        f"Set-ItemProperty -Path '{path}' -Name '(Default)' -Value Service\n"
        f"Remove-ItemProperty -Path '{path}' -Name '(Default)'\n"
        f"(Get-Item '{path}').ValueCount"
    )
    result = ps(machine, script)
    assert result.exit_code == 0, result.stderr
    assert lines(result) == ["0"]


# 7. Win32_Service through CIM, and Stop-Process --------------------------------------------


def test_get_ciminstance_win32_service_with_a_filter() -> None:
    machine = new_machine()
    script = (
        "$s = Get-CimInstance -ClassName Win32_Service -Filter \"Name='Spooler'\"\n"
        "@($s).Count\n$s.Name\n$s.State\n$s.StartMode\n$s.ProcessId -gt 0"
    )
    result = ps(machine, script)
    assert result.exit_code == 0, result.stderr
    assert lines(result) == ["1", "Spooler", "Running", "Auto", "True"]


def test_win32_service_names_states_as_wmi_does() -> None:
    machine = new_machine()
    spooler = machine.services.get("Spooler")
    assert spooler is not None
    spooler.status = ServiceStatus.STOP_PENDING
    script = (
        "(Get-CimInstance Win32_Service -Filter \"Name = 'Spooler'\").State\n"
        "(Get-CimInstance Win32_Service -Filter \"Name='wuauserv'\").ProcessId\n"
        "(Get-CimInstance Win32_Service -Filter \"Name LIKE 'CSFalcon%'\").Name\n"
        "@(Get-CimInstance Win32_Service -Filter \"Name='csagent'\").Count"
    )
    # csagent is a kernel driver: Win32_SystemDriver lists it, Win32_Service does not.
    assert lines(ps(machine, script)) == ["Stop Pending", "0", "CSFalconService", "0"]


def test_an_unreadable_wql_filter_is_an_invalid_query() -> None:
    result = ps(new_machine(), "Get-CimInstance Win32_Service -Filter 'Name=='")
    assert b"Invalid query" in result.stderr
    assert result.exit_code == 1


def test_stop_process_ends_a_hung_service_which_becomes_stopped_once_the_scm_notices() -> None:
    machine = new_machine()
    spooler = machine.services.get("Spooler")
    assert spooler is not None
    spooler.status = ServiceStatus.STOP_PENDING
    script = (
        "$s = Get-CimInstance -ClassName Win32_Service -Filter \"Name='Spooler'\"\n"
        "Stop-Process -Id $s.ProcessId -Force\n"
        "(Get-Service Spooler).Status\n"
        "(Get-CimInstance Win32_Service -Filter \"Name='Spooler'\").ProcessId\n"
        "Start-Sleep -Seconds 2\n"
        "(Get-Service Spooler).Status"
    )
    result = ps(machine, script)
    assert result.exit_code == 0, result.stderr
    # The process is gone at once; the SCM says Stopped a moment later.
    assert lines(result) == ["StopPending", "0", "Stopped"]
    assert machine.services.get("Spooler") is spooler
    assert spooler.status is ServiceStatus.STOPPED


def test_a_restarted_service_gets_a_new_process_id() -> None:
    machine = new_machine()
    script = (
        "$before = (Get-CimInstance Win32_Service -Filter \"Name='Spooler'\").ProcessId\n"
        "Stop-Process -Id $before -Force\nStart-Sleep -Seconds 2\nStart-Service Spooler\n"
        "$after = (Get-CimInstance Win32_Service -Filter \"Name='Spooler'\").ProcessId\n"
        "$after -ne $before\n$after -gt 0"
    )
    assert lines(ps(machine, script)) == ["True", "True"]


def test_stop_process_with_an_unknown_id_is_an_error() -> None:
    result = ps(new_machine(), "Stop-Process -Id 3 -Force")
    assert result.exit_code == 1
    assert b"Cannot find a process with the process identifier 3." in result.stderr


def test_stop_process_on_a_protected_service_is_access_denied() -> None:
    machine = new_machine()
    script = (
        "$e = Get-CimInstance Win32_Service -Filter \"Name='EventLog'\"\n"
        "Stop-Process -Id $e.ProcessId -Force"
    )
    result = ps(machine, script)
    assert result.exit_code == 1
    assert b"because of the following error: Access is denied" in result.stderr
    event_log = machine.services.get("EventLog")
    assert event_log is not None and event_log.status is ServiceStatus.RUNNING


# 8. DependentServices and ServicesDependedOn -------------------------------------------------


def test_dependent_services_are_service_objects() -> None:
    machine = new_machine()
    netlogon = machine.services.get("Netlogon")
    assert netlogon is not None
    netlogon.status = ServiceStatus.RUNNING
    script = (
        "$d = (Get-Service LanmanServer).DependentServices | "
        "Where-Object { $_.Name -eq 'Netlogon' }\n"
        "$d.GetType().FullName\n$d.Status\n"
        "$u = (Get-Service Netlogon).ServicesDependedOn\n"
        "$u[0].GetType().FullName\n$u.Name -contains 'LanmanServer'"
    )
    result = ps(machine, script)
    assert result.exit_code == 0, result.stderr
    assert lines(result) == [
        "System.ServiceProcess.ServiceController",
        "Running",
        "System.ServiceProcess.ServiceController",
        "True",
    ]


# 9. Backing up BitLocker key protectors ------------------------------------------------------

_RECOVERY_ID = (
    "$id = ((Get-BitLockerVolume -MountPoint C:).KeyProtector | "
    "Where-Object { $_.KeyProtectorType -eq 'RecoveryPassword' })[0].KeyProtectorId\n"
)


def test_backup_to_aad_records_the_escrow_and_writes_the_volume() -> None:
    machine = new_machine()
    script = _RECOVERY_ID + (
        "$v = BackupToAAD-BitLockerKeyProtector -MountPoint C: -KeyProtectorId $id\n$v.MountPoint"
    )
    result = ps(machine, script)
    assert result.exit_code == 0, result.stderr
    assert lines(result) == ["C:"]
    volume = machine.volume("C:")
    assert volume is not None
    protector = volume.recovery_passwords[0]
    assert volume.is_escrowed(protector.key_protector_id, EscrowTarget.ENTRA_ID)
    assert not volume.is_escrowed(protector.key_protector_id, EscrowTarget.ACTIVE_DIRECTORY)
    assert volume.escrows[0].at == BOOT_TIME


def test_backup_to_ad_works_on_a_domain_member() -> None:
    machine = new_machine()
    machine.domain = "CORP"
    result = ps(
        machine,
        _RECOVERY_ID + "Backup-BitLockerKeyProtector -MountPoint C: -KeyProtectorId $id | Out-Null",
    )
    assert result.exit_code == 0, result.stderr
    volume = machine.volume("C:")
    assert volume is not None
    protector = volume.recovery_passwords[0]
    assert volume.is_escrowed(protector.key_protector_id, EscrowTarget.ACTIVE_DIRECTORY)


def test_backup_to_ad_fails_on_a_workgroup_host_and_records_nothing() -> None:
    machine = new_machine()
    assert machine.domain == "WORKGROUP"
    result = ps(machine, _RECOVERY_ID + "Backup-BitLockerKeyProtector C: $id")
    assert result.exit_code == 1
    volume = machine.volume("C:")
    assert volume is not None and volume.escrows == []


def test_a_tpm_protector_cannot_be_backed_up() -> None:
    machine = new_machine()
    volume = machine.volume("C:")
    assert volume is not None
    tpm = next(k for k in volume.key_protectors if k.key_protector_type is KeyProtectorType.TPM)
    result = ps(
        machine,
        "BackupToAAD-BitLockerKeyProtector -MountPoint C: "
        f"-KeyProtectorId '{tpm.key_protector_id}'",
    )
    assert result.exit_code == 1
    assert volume.escrows == []


def test_the_key_protector_id_is_mandatory() -> None:
    result = ps(new_machine(), "BackupToAAD-BitLockerKeyProtector -MountPoint C:")
    assert b"missing mandatory parameters: KeyProtectorId." in result.stderr


def test_a_backup_error_never_shows_the_recovery_password() -> None:
    machine = new_machine()
    volume = machine.volume("C:")
    assert volume is not None
    secret = volume.recovery_passwords[0].recovery_password
    result = ps(machine, _RECOVERY_ID + "Backup-BitLockerKeyProtector -MountPoint C: -KeyP $id")
    assert secret.encode() not in result.stderr + result.stdout


# 10. Console output encoding ---------------------------------------------------------------


def test_console_output_encoding_utf8_applies_to_output_written_after_it() -> None:
    script = (
        f"'{GREETING}'\n[Console]::OutputEncoding = [System.Text.Encoding]::UTF8\n"
        f"'{GREETING} ☃'\n[Console]::OutputEncoding.CodePage"
    )
    result = ps(new_machine(), script)
    assert result.exit_code == 0, result.stderr
    assert result.stderr == b""
    assert result.stdout == (
        GREETING.encode("cp437") + b"\r\n" + f"{GREETING} ☃\r\n65001\r\n".encode()
    )


def test_console_output_encoding_reports_the_shell_code_page() -> None:
    assert lines(ps(new_machine(), "[Console]::OutputEncoding.CodePage")) == ["437"]
    utf8 = ps(new_machine(), "[Console]::OutputEncoding.CodePage", codepage=65001)
    assert utf8.stdout == b"65001\r\n"


def test_console_output_encoding_refuses_a_string() -> None:
    result = ps(new_machine(), "[Console]::OutputEncoding = 'utf8'")
    assert b'Exception setting "OutputEncoding"' in result.stderr


def test_chcp_65001_in_cmd_switches_later_output_to_utf8() -> None:
    result = run_command_line(new_machine(), f"echo {GREETING}& chcp 65001 >nul & echo {GREETING}")
    assert result.exit_code == 0
    assert result.stdout == GREETING.encode("cp437") + b"\r\n" + GREETING.encode() + b"\r\n"


def test_chcp_carries_into_powershell_started_after_it() -> None:
    result = run_command_line(
        new_machine(), "chcp 65001 >nul & " + encoded_command(f"'{GREETING}'")
    )
    assert result.stdout == GREETING.encode() + b"\r\n"


def test_chcp_without_arguments_shows_the_code_page_and_rejects_unknown_ones() -> None:
    machine = new_machine()
    assert run_command_line(machine, "chcp").stdout == b"Active code page: 437\r\n"
    assert run_command_line(machine, "chcp", codepage=65001).stdout == (
        b"Active code page: 65001\r\n"
    )
    bad = run_command_line(machine, "chcp 99999")
    assert (bad.exit_code, bad.stderr) == (1, b"Invalid code page\r\n")


def test_chcp_run_from_powershell_changes_its_console_too() -> None:
    result = ps(new_machine(), f"cmd /c chcp 65001 | Out-Null\n'{GREETING}'")
    assert result.stdout == GREETING.encode() + b"\r\n"


def test_stop_process_by_name_ends_an_own_process_service() -> None:
    machine = new_machine()
    script = "Stop-Process -Name sshd -Force\nStart-Sleep -Seconds 2\n(Get-Service sshd).Status"
    result = ps(machine, script)
    assert result.exit_code == 0, result.stderr
    assert lines(result) == ["Stopped"]
    missing = ps(machine, "Stop-Process -Name nosuch -Force")
    assert b'Cannot find a process with the name "nosuch".' in missing.stderr
