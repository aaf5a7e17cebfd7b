"""External programs (bcdedit.exe, manage-bde.exe, shutdown.exe, powershell.exe, ...): a
registry both cmd.exe and PowerShell look names up in."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fleetfix.lab.machine import Machine


@dataclass(frozen=True, slots=True)
class ProgramCall:
    machine: Machine
    argv: tuple[str, ...]  # arguments after the program name, split as the C runtime does
    raw_arguments: str = ""  # the command line after the program name, unsplit
    stdin: bytes = b""
    codepage: int = 437


@dataclass(frozen=True, slots=True)
class ProgramResult:
    """Text, not bytes: the console encodes it with the session's code page at the end."""

    stdout: str = ""
    stderr: str = ""
    exit_code: int = 0
    duration: float = 0.0
    # The program changed the console's output code page (chcp, [Console]::OutputEncoding):
    # (offset in stdout, code page) pairs; stdout from that offset on is in that code page,
    # and the last one stays set for the console after the program ends.
    codepage_changes: tuple[tuple[int, int], ...] = ()


Program = Callable[[ProgramCall], ProgramResult]
_PROGRAMS: dict[str, Program] = {}
_SYSTEM32 = "c:\\windows\\system32\\"


def program(*names: str) -> Callable[[Program], Program]:
    def register(run: Program) -> Program:
        for name in names:
            _PROGRAMS[name.lower()] = run
        return run

    return register


def find_program(name: str) -> Program | None:
    """`bcdedit`, `bcdedit.exe`, `C:\\Windows\\System32\\bcdedit.exe` all name one program."""
    key = name.strip('"').lower().replace("/", "\\")
    if "\\" in key:
        folder, _, leaf = key.rpartition("\\")
        if not (folder + "\\").startswith(_SYSTEM32[:-1]) and folder not in (".", ""):
            return None
        key = leaf
    key = key.removesuffix(".exe").removesuffix(".com")
    _load()
    return _PROGRAMS.get(key)


def _load() -> None:
    # The program modules register themselves on import; they import this module, so they
    # are imported here, lazily, rather than at the top.
    from fleetfix.lab.shell import bcdedit, cmd, managebde, powershell_exe, system_programs

    _ = (bcdedit, cmd, managebde, powershell_exe, system_programs)


def split_arguments(text: str) -> list[str]:
    """The Microsoft C runtime's argv rules: spaces split, quotes group, `\\"` is a quote,
    `""` inside quotes is a quote."""
    args: list[str] = []
    current: list[str] = []
    in_quotes = False
    started = False
    index = 0
    while index < len(text):
        char = text[index]
        if char == "\\":
            run = len(text) - index - len(text[index:].lstrip("\\"))
            if index + run < len(text) and text[index + run] == '"':
                current.append("\\" * (run // 2))
                index += run
                if run % 2 == 1:
                    current.append('"')
                    index += 1
                started = True
                continue
            current.append("\\" * run)
            index += run
            started = True
            continue
        if char == '"':
            if in_quotes and index + 1 < len(text) and text[index + 1] == '"':
                current.append('"')
                index += 2
                continue
            in_quotes = not in_quotes
            started = True
        elif char in " \t" and not in_quotes:
            if started:
                args.append("".join(current))
                current, started = [], False
        else:
            current.append(char)
            started = True
        index += 1
    if started:
        args.append("".join(current))
    return args
