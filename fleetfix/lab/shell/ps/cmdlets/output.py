"""Output and utility cmdlets: Write-*, Out-*, ConvertTo/From-Json, Get-Date, Start-Sleep."""

from __future__ import annotations

from datetime import UTC
from typing import Any

from fleetfix.lab.shell.ps.cmdlets.base import Call, cmdlet
from fleetfix.lab.shell.ps.formatting import format_for_console
from fleetfix.lab.shell.ps.formatting_net import format_datetime
from fleetfix.lab.shell.ps.json51 import convert_from_json, convert_to_json
from fleetfix.lab.shell.ps.values import (
    LOCAL,
    ErrorRecord,
    display_date,
    iterate,
    to_datetime,
    to_int,
    to_number,
    to_str,
)


@cmdlet(
    "Write-Output",
    parameters=("InputObject",),
    positional=1,
    rest="InputObject",
    switches=("NoEnumerate",),
    aliases=("echo", "write"),
)
def write_output(call: Call) -> None:
    value = call.get("InputObject")
    if call.switch("NoEnumerate"):
        call.emit(value)
    else:
        call.emit_all(value)


@cmdlet(
    "Write-Host",
    parameters=("Object", "ForegroundColor", "BackgroundColor", "Separator"),
    positional=1,
    rest="Object",
    switches=("NoNewline",),
)
def write_host(call: Call) -> None:
    separator = to_str(call.get("Separator", " "))
    text = separator.join(to_str(v) for v in iterate(call.get("Object", "")))
    if call.interp.at_top_level():
        call.interp.flush_console()
    call.session.write_text(text if call.switch("NoNewline") else text + "\r\n")


@cmdlet(
    "Write-Error",
    parameters=("Message", "Category", "ErrorId", "TargetObject", "Exception"),
    positional=1,
    rest="Message",
)
def write_error(call: Call) -> None:
    message = to_str(call.get("Message", call.get("Exception", "")))
    category = to_str(call.get("Category", "NotSpecified"))
    error_id = to_str(call.get("ErrorId", "Microsoft.PowerShell.Commands.WriteErrorException"))
    call.error(
        ErrorRecord(
            message,
            exception_type="Microsoft.PowerShell.Commands.WriteErrorException",
            category=category,
            error_id=error_id,
            command="Write-Error",
        )
    )


@cmdlet("Write-Warning", parameters=("Message",), positional=1, rest="Message")
def write_warning(call: Call) -> None:
    call.warn(to_str(call.get("Message", "")))


@cmdlet("Write-Verbose", parameters=("Message",), positional=1, rest="Message")
def write_verbose(call: Call) -> None:
    # Shown only with -Verbose or $VerbosePreference = 'Continue' (default SilentlyContinue).
    _informational(call, "verbose", "Verbose", "VerbosePreference")


@cmdlet("Write-Debug", parameters=("Message",), positional=1, rest="Message")
def write_debug(call: Call) -> None:
    _informational(call, "debug", "Debug", "DebugPreference")


def _informational(call: Call, stream: str, switch: str, preference: str) -> None:
    shown = call.switch(switch) or call.session.preference(preference).lower() == "continue"
    if not shown:
        return
    if call.interp.at_top_level():
        call.interp.flush_console()
    call.session.write_message(stream, to_str(call.get("Message", "")))


@cmdlet(
    "Write-Progress",
    parameters=("Activity", "Status", "PercentComplete", "Id"),
    positional=2,
    switches=("Completed",),
)
def write_progress(call: Call) -> None:
    return


@cmdlet("Out-Null", parameters=("InputObject",))
def out_null(call: Call) -> None:
    return


@cmdlet("Out-String", parameters=("InputObject", "Width"), switches=("Stream",))
def out_string(call: Call) -> None:
    items = call.values("InputObject") if call.has("InputObject") else list(call.input)
    text = format_for_console(items)
    if call.switch("Stream"):
        call.emit_all(text.split("\r\n")[:-1])
    else:
        call.emit(text)


@cmdlet("Out-Default", parameters=("InputObject",))
def out_default(call: Call) -> None:
    items = call.values("InputObject") if call.has("InputObject") else list(call.input)
    if call.interp.at_top_level():
        call.interp.flush_console()
    call.session.write_text(format_for_console(items))


@cmdlet("ConvertTo-Json", parameters=("InputObject", "Depth"), positional=1, switches=("Compress",))
def convert_to_json_cmdlet(call: Call) -> None:
    if call.has("InputObject"):
        value: Any = call.get("InputObject")
    else:
        items = list(call.input)
        if not items:
            return
        value = items[0] if len(items) == 1 else items
    depth = to_int(call.get("Depth", 2))
    call.emit(convert_to_json(value, depth=depth, compress=call.switch("Compress")))


@cmdlet("ConvertFrom-Json", parameters=("InputObject",), positional=1)
def convert_from_json_cmdlet(call: Call) -> None:
    # 5.1 joins all piped lines into one document before parsing.
    text = "\n".join(to_str(v) for v in call.values("InputObject"))
    call.emit_all(convert_from_json(text))


@cmdlet("Get-Date", parameters=("Date", "Format", "UFormat"), positional=1)
def get_date(call: Call) -> None:
    when = to_datetime(call.get("Date")) if call.has("Date") else call.session.now()
    when = when.astimezone(LOCAL) if when.tzinfo is UTC and not call.has("Date") else when
    if call.has("Format"):
        call.emit(format_datetime(when, to_str(call.get("Format"))))
    else:
        call.emit(display_date(when))


@cmdlet("Start-Sleep", parameters=("Seconds", "Milliseconds"), positional=1)
def start_sleep(call: Call) -> None:
    # Sleeping costs lab time, not real time: the server delivers the result that much later.
    seconds = to_number(call.get("Seconds", 0)) + to_number(call.get("Milliseconds", 0)) / 1000
    call.session.lab_seconds += float(seconds)
