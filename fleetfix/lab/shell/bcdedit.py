"""bcdedit.exe: /enum, /set {default} safeboot minimal|network, /deletevalue {default} safeboot."""

from __future__ import annotations

from fleetfix.lab.machine.bcd import BcdEntry
from fleetfix.lab.shell.programs import ProgramCall, ProgramResult, program

_OK = "The operation completed successfully.\r\n"
_HELP = 'Run "bcdedit /?" for command line assistance.\r\n'
_BAD_PARAMETER = "The parameter is incorrect.\r\n"


def _section(title: str, entry: BcdEntry) -> str:
    lines = [title, "-" * len(title), f"{'identifier':<24}{entry.identifier}"]
    for name, value in entry.elements.items():
        shown = value.capitalize() if name == "safeboot" else value
        lines.append(f"{name:<24}{shown}")
        if name == "path":
            lines.append(f"{'description':<24}{entry.description}")
    return "".join(line + "\r\n" for line in lines)


def _enum(call: ProgramCall) -> ProgramResult:
    store = call.machine.bcd
    text = "\r\n" + _section("Windows Boot Manager", store.boot_manager)
    text += "\r\n" + _section("Windows Boot Loader", store.loader)
    return ProgramResult(stdout=text)


def _set(call: ProgramCall, args: list[str]) -> ProgramResult:
    if len(args) != 3:
        return ProgramResult(stderr="The parameter is incorrect.\r\n" + _HELP, exit_code=1)
    entry = call.machine.bcd.entry(args[0])
    if entry is None:
        return ProgramResult(
            stderr="The specified entry identifier is not valid.\r\n" + _HELP + _BAD_PARAMETER,
            exit_code=1,
        )
    element, value = args[1].lower(), args[2].lower()
    if element == "safeboot" and value not in ("minimal", "network", "dsrepair"):
        return ProgramResult(
            stderr="The element data type specified is not recognized, or does not apply to "
            "the specified entry.\r\n" + _HELP + _BAD_PARAMETER,
            exit_code=1,
        )
    entry.elements[element] = value
    return ProgramResult(stdout=_OK)


def _delete_value(call: ProgramCall, args: list[str]) -> ProgramResult:
    if len(args) != 2:
        return ProgramResult(stderr="The parameter is incorrect.\r\n" + _HELP, exit_code=1)
    entry = call.machine.bcd.entry(args[0])
    if entry is None:
        return ProgramResult(
            stderr="The specified entry identifier is not valid.\r\n" + _HELP + _BAD_PARAMETER,
            exit_code=1,
        )
    if args[1].lower() not in entry.elements:
        return ProgramResult(
            stderr="An error occurred while attempting to delete the specified data element.\r\n"
            "Element not found.\r\n",
            exit_code=1,
        )
    del entry.elements[args[1].lower()]
    return ProgramResult(stdout=_OK)


@program("bcdedit")
def bcdedit(call: ProgramCall) -> ProgramResult:
    args = list(call.argv)
    if not args or args[0].lower() in ("/enum", "/v"):
        return _enum(call)
    verb, rest = args[0].lower(), args[1:]
    if verb == "/set":
        return _set(call, rest)
    if verb == "/deletevalue":
        return _delete_value(call, rest)
    return ProgramResult(
        stderr=f"The parameter is incorrect.\r\n{_HELP}",
        exit_code=1,
    )
