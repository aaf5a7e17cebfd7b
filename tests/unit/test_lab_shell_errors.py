"""How errors leave the lab's powershell.exe: CLIXML that pywinrm's own cleaner reads,
parse errors that run nothing, unknown commands answered like Windows."""

from __future__ import annotations

import winrm

from fleetfix.lab.shell import run_command_line
from tests.unit.test_lab_shell_support import encoded_command, new_machine


def _pywinrm_cleaned(stderr: bytes) -> str:
    # The real client's CLIXML cleaner (what run_ps applies); building a Session connects nothing.
    session = winrm.Session("127.0.0.1", auth=("lab", "lab"), transport="ntlm")
    cleaned: bytes = session._clean_error_msg(stderr)
    return cleaned.decode("utf-8")


def test_pywinrm_reads_the_lab_clixml_as_the_console_error_text() -> None:
    result = run_command_line(new_machine(), encoded_command("Get-Foo"))
    assert result.stderr.startswith(b"#< CLIXML\r\n")
    text = _pywinrm_cleaned(result.stderr)
    assert text.startswith("Get-Foo : The term 'Get-Foo' is not recognized as the name of a cmdlet")
    assert "+ FullyQualifiedErrorId : CommandNotFoundException" in text


def test_clixml_escapes_markup_so_the_xml_stays_valid() -> None:
    result = run_command_line(new_machine(), encoded_command("throw '<a> & \"b\"'"))
    assert result.exit_code == 1
    assert '<a> & "b"' in _pywinrm_cleaned(result.stderr)


def test_warnings_reach_stderr_as_clixml_warning_records() -> None:
    result = run_command_line(new_machine(), encoded_command("Write-Warning 'low disk'\n'ok'"))
    assert result.stdout == b"ok\r\n"
    assert b'<S S="warning">low disk_x000D__x000A_</S>' in result.stderr
    assert result.exit_code == 0


def test_a_parse_error_runs_nothing_before_it() -> None:
    machine = new_machine()
    script = "bcdedit /set '{default}' safeboot network\nif ( {"
    result = run_command_line(machine, encoded_command(script))
    assert result.exit_code == 1
    assert result.stdout == b""
    assert machine.bcd.safeboot is None
    assert "ParserError" in _pywinrm_cleaned(result.stderr)


def test_parse_errors_point_at_the_line_and_column() -> None:
    result = run_command_line(new_machine(), encoded_command("'ok'\n$x = (1 +"))
    text = _pywinrm_cleaned(result.stderr)
    assert "At line:2" in text


def test_an_unknown_program_in_cmd_exits_9009_with_the_windows_text() -> None:
    result = run_command_line(new_machine(), "frobnicate.exe /all")
    assert result.exit_code == 9009
    assert result.stderr == (
        b"'frobnicate.exe' is not recognized as an internal or external command,\r\n"
        b"operable program or batch file.\r\n"
    )


def test_powershell_prints_a_statement_terminating_error_and_goes_on() -> None:
    result = run_command_line(new_machine(), encoded_command("[int]'abc'\n'next'"))
    assert result.stdout == b"next\r\n"
    assert 'Cannot convert value "abc" to type "System.Int32".' in _pywinrm_cleaned(result.stderr)
    # The last statement succeeded, so powershell.exe exits 0.
    assert result.exit_code == 0


def test_error_action_preference_stop_ends_the_script_at_the_first_error() -> None:
    script = "$ErrorActionPreference = 'Stop'\nGet-Item 'C:\\nope'\n'unreached'"
    result = run_command_line(new_machine(), encoded_command(script))
    assert result.exit_code == 1
    assert result.stdout == b""


def test_the_last_exit_code_of_a_native_program_is_visible_afterwards() -> None:
    result = run_command_line(
        new_machine(), encoded_command("sc.exe query NoSuch | Out-Null\n$LASTEXITCODE")
    )
    assert result.stdout == b"1060\r\n"


def test_top_level_begin_and_end_blocks_run_in_order() -> None:
    result = run_command_line(new_machine(), encoded_command("end { 'two' }\nbegin { 'one' }"))
    assert result.stdout == b"one\r\ntwo\r\n"


def test_a_typed_catch_only_takes_its_own_exception_type() -> None:
    script = (
        "try { Get-Item 'C:\\nope' -ErrorAction Stop }\n"
        "catch [System.UnauthorizedAccessException] { 'denied' }\n"
        "catch [System.Management.Automation.ItemNotFoundException] { 'missing' }"
    )
    assert run_command_line(new_machine(), encoded_command(script)).stdout == b"missing\r\n"


def test_an_error_no_catch_takes_goes_on_up() -> None:
    script = "try { throw 'x' } catch [System.IO.IOException] { 'io' }\n'unreached'"
    result = run_command_line(new_machine(), encoded_command(script))
    assert result.exit_code == 1
    assert result.stdout == b""


def test_strict_mode_makes_an_unset_variable_an_error() -> None:
    script = "Set-StrictMode -Version Latest\n$nothing\n'after'"
    result = run_command_line(new_machine(), encoded_command(script))
    assert result.stdout == b"after\r\n"
    assert b"The variable '$nothing' cannot be retrieved" in result.stderr
