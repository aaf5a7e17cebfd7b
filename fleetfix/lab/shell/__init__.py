"""The lab's shells: cmd.exe command lines (WinRS, Windows OpenSSH) and PSRP pipelines
(a Windows PowerShell 5.1 subset parsed with tree-sitter-powershell and interpreted over its
syntax tree).

Choices where Windows behaviour had to be pinned down (tests hold each of them):

- powershell.exe exit codes: `exit N` gives N; an uncaught `throw` or -ErrorAction Stop gives
  1; otherwise 1 when the last statement failed ($? false, a native program's non-zero exit
  included) and 0 when it succeeded. A script that does not parse runs nothing and gives 1.
- Error records go to stderr as CLIXML with -EncodedCommand (what pywinrm's run_ps strips)
  and as console text with -Command. Warnings travel with them (`<S S="warning">`).
- Over PSRP a non-terminating error (`Get-Item C:\\missing`) is an ErrorRecord message, sent
  where it was written among the output, and the pipeline ends Completed; a terminating one
  (`throw`, -ErrorAction Stop, an unknown command, a parse error) ends it Failed, carried in
  the state message only. pypsrp 0.9 sets `had_errors` only for Failed.
- `-Command -` runs all of stdin as one script (Windows reads it line by line; the blank
  line fleetfix appends makes the two agree for complete scripts).
- Statement-terminating errors (a failed cast, a bad method call, an unknown command) end
  their statement and the script goes on, unless a try block catches them.
- `del` prints "Access is denied." but exits 0, like cmd.exe: a fix must verify.
- Windows PowerShell 5.1 has no `-AsByteStream` (PowerShell 6+), `&&`/`||` (7+): rejected.
- Comma lists in command arguments (`Select-Object Name,Status`, `Get-Service -Name a, b`)
  are one array argument, as in PowerShell, although tree-sitter-powershell misreads them
  (ps/arglists.py); a comma with no argument before it or nothing after it is a parse error.
- Where tree-sitter-powershell rejects other valid PowerShell (a one-line function with
  `param`), the lab rejects it too.
- The lab's machines run in UTC: local and universal times are the same instant.
- Lab time a command spends (Start-Sleep) is the machine's time while it runs: the SCM, file
  times and any program it starts see it (Machine.command_seconds); the reply comes that
  much later.
- -Filter matches 8.3 aliases too (`*.sys` finds `vxdrv.sys_old`, machine/shortnames.py);
  -Include and path wildcards are PowerShell's and see long names only.
- Set-ItemProperty and New-ItemProperty without a type: an existing value keeps its kind and
  the data is converted to it; a new value takes the kind of the data's type (`-Value 1`
  makes a DWORD, `-Value '1'` a String).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fleetfix.lab.api import (
    Completed,
    PipelineCommand,
    PipelineError,
    PipelineMessage,
    PipelineResult,
)
from fleetfix.lab.machine import Machine
from fleetfix.lab.shell.cmd import run_cmd
from fleetfix.lab.shell.ps.engine import PipelineStep, run_steps
from fleetfix.lab.shell.ps.values import ErrorRecord
from fleetfix.lab.shell.ps.wire import from_wire, to_wire


def encode_output(text: str, codepage: int) -> bytes:
    """Console output in the shell's code page: 437 (OEM US) by default, 65001 for UTF-8."""
    if codepage == 65001:
        return text.encode("utf-8")
    if codepage in _UNICODE_PAGES:
        return text.encode(_UNICODE_PAGES[codepage], "replace")
    try:
        return text.encode(f"cp{codepage}", "replace")
    except LookupError:
        return text.encode("cp437", "replace")


_UNICODE_PAGES = {1200: "utf-16-le", 20127: "ascii"}


def encode_console(text: str, codepage: int, changes: Sequence[tuple[int, int]]) -> bytes:
    """Text written while the console's code page changed (`chcp 65001`,
    [Console]::OutputEncoding): each stretch in the code page in force when it was written."""
    pieces: list[bytes] = []
    start, current = 0, codepage
    for offset, changed in changes:
        pieces.append(encode_output(text[start:offset], current))
        start, current = max(start, offset), changed
    pieces.append(encode_output(text[start:], current))
    return b"".join(pieces)


def run_command_line(
    machine: Machine, command_line: str, *, stdin: bytes = b"", codepage: int = 437
) -> Completed:
    """Runs a command line as `cmd.exe /c` does; output bytes are in `codepage`."""
    result = run_cmd(machine, command_line, stdin=stdin, codepage=codepage)
    return Completed(
        stdout=encode_console(result.stdout, codepage, result.stdout_codepages),
        stderr=encode_console(result.stderr, codepage, result.stderr_codepages),
        exit_code=result.exit_code,
        duration=result.duration,
    )


def run_pipeline(
    machine: Machine, commands: Sequence[PipelineCommand], *, input_objects: Sequence[Any] = ()
) -> PipelineResult:
    """Runs a PSRP pipeline. Output objects are psrpcore values, ready for a server
    pipeline's `write_output` (objects keep their .NET type names and properties)."""
    steps = [PipelineStep(c.name, c.is_script, c.parameters, c.arguments) for c in commands]
    run = run_steps(machine, steps, [from_wire(i) for i in input_objects])
    output = [to_wire(value) for value in run.output]
    records = [
        PipelineMessage(item.stream, item.text, item.output_before)
        if item.record is None
        else _pipeline_error(item.record, after_output=item.output_before)
        for item in run.records
    ]
    failure = None if run.failure is None else _pipeline_error(run.failure, after_output=0)
    return PipelineResult(output, records, failure, run.lab_seconds, run.exit_code)


def _pipeline_error(record: ErrorRecord, *, after_output: int) -> PipelineError:
    return PipelineError(
        record.message,
        fully_qualified_error_id=record.error_id,
        category=record.category,
        exception_type=record.exception_type,
        target=record.target,
        activity=record.command,
        after_output=after_output,
    )


__all__ = ["encode_console", "encode_output", "run_command_line", "run_pipeline"]
