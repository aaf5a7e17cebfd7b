"""Running an external program from PowerShell: stdout becomes lines of output, stderr goes
to the console (or, with 2>&1, becomes error records), $LASTEXITCODE and $? are set."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fleetfix.lab.shell.programs import ProgramCall, find_program
from fleetfix.lab.shell.ps.session import StreamItem
from fleetfix.lab.shell.ps.values import ErrorRecord, PSRuntimeError

if TYPE_CHECKING:
    from fleetfix.lab.shell.ps.interpreter import Interpreter


def not_recognized(name: str) -> PSRuntimeError:
    return PSRuntimeError(
        ErrorRecord(
            f"The term '{name}' is not recognized as the name of a cmdlet, function, script "
            "file, or operable program. Check the spelling of the name, or if a path was "
            "included, verify that the path is correct and try again.",
            exception_type="System.Management.Automation.CommandNotFoundException",
            category="ObjectNotFound",
            error_id="CommandNotFoundException",
            target=name,
            command=name,
        )
    )


def run_native(
    interp: Interpreter, name: str, arguments: list[str], error_redirect: str | None
) -> list[Any]:
    program = find_program(name)
    if program is None:
        raise not_recognized(name)
    session = interp.session
    call = ProgramCall(
        session.machine, tuple(arguments), " ".join(arguments), codepage=session.output_codepage
    )
    result = program(call)
    session.lab_seconds += result.duration
    if result.codepage_changes:
        # A child sharing the console (`chcp 65001`) changes it for this session too.
        session.set_output_codepage(result.codepage_changes[-1][1])
    session.set_variable("global:LASTEXITCODE", result.exit_code)
    if result.exit_code != 0:
        session.mark_failed()
    stdout, stderr = result.stdout, result.stderr
    if stderr and error_redirect == "output":
        records: list[Any] = [
            ErrorRecord(line, category="NotSpecified", error_id="NativeCommandError", target=line)
            for line in stderr.splitlines()
        ]
        return _lines(stdout) + records
    if stderr and error_redirect != "null":
        if interp.at_top_level():
            interp.flush_console()
        session.streams.append(StreamItem("native_stderr", text=stderr))
    return list(_lines(stdout))


def _lines(text: str) -> list[Any]:
    lines = text.replace("\r\n", "\n").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return list(lines)
