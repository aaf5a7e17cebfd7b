"""Whatever a client sends, the lab's shell answers like a shell: output and an exit code,
never a Python exception that would take the protocol server's request down with it."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from fleetfix.lab.shell import run_command_line
from fleetfix.lab.shell.ps.engine import run_script
from tests.unit.test_lab_shell_support import encoded_command, new_machine

TOKENS = [
    "$x", "=", "1", "-3", "2.5", "'a'", '"b $x"', "+", "-", "*", "/", "%", "(", ")", "{", "}",
    "[", "]", "@(", "@{", ";", "\n", "|", ",", ".", "::", "if", "else", "foreach", "in", "try",
    "catch", "finally", "throw", "exit", "return", "break", "function", "F", "param", "$_",
    "$null", "$true", "-eq", "-like", "-match", "-join", "-split", "-replace", "-f", "..",
    "[int]", "[char]", "[datetime]", "[byte[]]", "[Convert]", "FromBase64String", "ToString",
    "Count", "Substring", "'{0}'", "'['", "-not", "Get-Service", "Where-Object",
    "ForEach-Object", "Select-Object", "-First", "-ExpandProperty", "Get-ChildItem",
    "C:\\Windows", "Remove-Item", "ConvertTo-Json", "ConvertFrom-Json", "-Depth", "Get-Date",
    "Get-Item", "$env:X", "2>&1", "$LASTEXITCODE", "hostname", "bcdedit", "@args", "cmd",
]  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(TOKENS), min_size=1, max_size=14))
def test_any_token_soup_gets_an_answer_not_a_crash(tokens: list[str]) -> None:
    run = run_script(new_machine(), " ".join(tokens), clixml_errors=True)
    assert isinstance(run.exit_code, int)


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=60))
def test_any_cmd_line_gets_an_answer_not_a_crash(command_line: str) -> None:
    result = run_command_line(new_machine(), command_line)
    assert isinstance(result.exit_code, int)


def test_runaway_recursion_is_a_call_depth_overflow() -> None:
    script = "function F {\n  param($n)\n  F ($n + 1)\n}\nF 1\n'after'"
    result = run_command_line(new_machine(), encoded_command(script))
    assert result.exit_code == 1
    assert result.stdout == b""
    assert b"The script failed due to call depth overflow." in result.stderr


def test_a_dotnet_exception_ends_only_its_statement() -> None:
    result = run_command_line(new_machine(), encoded_command("'abc' -match '['\n'next'"))
    assert result.stdout == b"next\r\n"
    assert result.exit_code == 0
