"""powershell.exe's command line: -NoProfile, -NonInteractive, -ExecutionPolicy,
-EncodedCommand <base64 UTF-16LE>, -Command <text> / -Command - (script on stdin).

With -EncodedCommand, error records reach stderr as CLIXML (what pywinrm's run_ps strips);
with -Command they are plain console text. The first argument that is not an option starts
the command text, as powershell.exe treats it.
"""

from __future__ import annotations

import base64
import binascii

from fleetfix.lab.shell.programs import ProgramCall, ProgramResult, program
from fleetfix.lab.shell.ps.engine import run_script

_SWITCHES = ("noprofile", "noninteractive", "nologo", "noexit", "sta", "mta")
_VALUED = (
    "executionpolicy",
    "inputformat",
    "outputformat",
    "windowstyle",
    "version",
    "configurationname",
)
_BANNER = "Windows PowerShell\r\nCopyright (C) Microsoft Corporation. All rights reserved.\r\n\r\n"


def _matches(given: str, names: tuple[str, ...]) -> str | None:
    key = given.lower().lstrip("-/")
    aliases = {
        "ep": "executionpolicy",
        "ec": "encodedcommand",
        "enc": "encodedcommand",
        "c": "command",
        "nop": "noprofile",
        "noni": "noninteractive",
        "f": "file",
        "ex": "executionpolicy",
    }
    key = aliases.get(key, key)
    found = [n for n in names if n.startswith(key)] if key else []
    return found[0] if len(found) == 1 or (found and found[0] == key) else None


def _decode(encoded: str) -> str | None:
    try:
        return base64.b64decode(encoded, validate=True).decode("utf-16-le")
    except (binascii.Error, UnicodeDecodeError):
        return None


@program("powershell")
def powershell(call: ProgramCall) -> ProgramResult:
    args = list(call.argv)
    index = 0
    names = (*_SWITCHES, *_VALUED, "encodedcommand", "command", "file")
    while index < len(args):
        option = _matches(args[index], names) if args[index][:1] in ("-", "/") else None
        if option is None or option == "command":
            start = index + (1 if option == "command" else 0)
            return _run_text(call, " ".join(args[start:]))
        if option == "encodedcommand":
            script = _decode(args[index + 1]) if index + 1 < len(args) else None
            if script is None:
                return ProgramResult(
                    stderr="Cannot process the command because the value specified with "
                    "-EncodedCommand is not properly encoded. "
                    "The value must be Base64 encoded.\r\n",
                    exit_code=1,
                )
            return _result(call, script, clixml_errors=True)
        if option == "file":
            return ProgramResult(
                stderr="The lab does not run script files; use -Command.\r\n", exit_code=1
            )
        index += 2 if option in _VALUED else 1
    return _run_text(call, "")


def _run_text(call: ProgramCall, text: str) -> ProgramResult:
    if text.strip() in ("", "-"):
        if not call.stdin:
            return ProgramResult(stdout=_BANNER if text.strip() == "" else "")
        # pywinrm and fleetfix send big scripts over stdin; the lab runs all of it as one script.
        codec = "utf-8" if call.codepage == 65001 else f"cp{call.codepage}"
        return _result(call, call.stdin.decode(codec, "replace"), clixml_errors=False)
    return _result(call, text, clixml_errors=False)


def _result(call: ProgramCall, script: str, *, clixml_errors: bool) -> ProgramResult:
    run = run_script(call.machine, script, clixml_errors=clixml_errors, codepage=call.codepage)
    return ProgramResult(
        run.stdout, run.stderr, run.exit_code, run.lab_seconds, run.codepage_changes
    )
