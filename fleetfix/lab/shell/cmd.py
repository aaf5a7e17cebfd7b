"""cmd.exe: what WinRS and Windows OpenSSH start. Built-ins (echo, set, ver, dir, type, del,
cd, exit /b, rem, cmd /c) and external programs, chained with `&&`, `||`, `&` and `|`.

`del` keeps a real quirk: it reports "Access is denied." on stderr but still exits 0, which
is why a fix must verify that a file is gone rather than trust the exit code.
"""

from __future__ import annotations

import codecs
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC

from fleetfix.lab.machine import Machine
from fleetfix.lab.machine.files import FileEntry, normalize_path
from fleetfix.lab.shell.cmdline import (
    expand_variables,
    split_program,
    split_segments,
    take_redirections,
)
from fleetfix.lab.shell.programs import (
    ProgramCall,
    ProgramResult,
    find_program,
    program,
    split_arguments,
)

_HOME = "C:\\Users\\Administrator"


@dataclass(frozen=True, slots=True)
class CmdResult:
    stdout: str
    stderr: str
    exit_code: int
    duration: float
    # (offset, code page) where the console's output code page changed (`chcp 65001`,
    # [Console]::OutputEncoding): text from that offset on is in that code page.
    stdout_codepages: tuple[tuple[int, int], ...] = ()
    stderr_codepages: tuple[tuple[int, int], ...] = ()


class _ExitRequest(Exception):  # noqa: N818 - `exit` is control flow, not an error
    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


def not_recognized(name: str) -> ProgramResult:
    return ProgramResult(
        stderr=f"'{name}' is not recognized as an internal or external command,\r\n"
        "operable program or batch file.\r\n",
        exit_code=9009,
    )


def run_cmd(machine: Machine, line: str, *, stdin: bytes = b"", codepage: int = 437) -> CmdResult:
    """Runs one command line as `cmd.exe /c` would."""
    expanded = expand_variables(line, machine.environment, errorlevel=0)
    stdout: list[str] = []
    stderr: list[str] = []
    exit_code = 0
    duration = 0.0
    pipe_input = stdin
    skip = False
    start_codepage = codepage
    stdout_codepages: list[tuple[int, int]] = []
    stderr_codepages: list[tuple[int, int]] = []
    # Each step starts when the one before it ended, in the machine's time (Machine.now).
    started_at = machine.command_seconds
    try:
        segments = split_segments(expanded)
        for position, segment in enumerate(segments):
            if segment.operator == "&&":
                skip = exit_code != 0
            elif segment.operator == "||":
                skip = exit_code == 0
            elif segment.operator == "&":
                skip = False
            if skip or not segment.text.strip():
                continue
            piped = position + 1 < len(segments) and segments[position + 1].operator == "|"
            result = _run_segment(
                machine,
                segment.text,
                pipe_input if segment.operator == "|" or position == 0 else b"",
                codepage,
            )
            exit_code, duration = result.exit_code, duration + result.duration
            machine.command_seconds = started_at + duration
            written = sum(len(text) for text in stdout)
            for offset, changed in result.codepage_changes:
                codepage = changed
                if not piped:
                    stdout_codepages.append((written + min(offset, len(result.stdout)), changed))
            if result.stderr and (stderr_codepages or [(0, start_codepage)])[-1][1] != codepage:
                stderr_codepages.append((sum(len(text) for text in stderr), codepage))
            if piped:
                pipe_input = result.stdout.encode(
                    "utf-8" if codepage == 65001 else "cp437", "replace"
                )
                stderr.append(result.stderr)
                continue
            stdout.append(result.stdout)
            stderr.append(result.stderr)
    except _ExitRequest as request:
        exit_code = request.code
    finally:
        machine.command_seconds = started_at  # the caller counts `duration`
    return CmdResult(
        "".join(stdout),
        "".join(stderr),
        exit_code,
        duration,
        tuple(stdout_codepages),
        tuple(stderr_codepages),
    )


def _run_segment(machine: Machine, text: str, stdin: bytes, codepage: int) -> ProgramResult:
    try:
        command, redirections = take_redirections(text)
    except ValueError as exc:
        return ProgramResult(stderr=f"The lab does not redirect to files ({exc}).\r\n", exit_code=1)
    name, rest = split_program(command)
    builtin = _BUILTINS.get(name.lower())
    if name.lower() in ("chcp", "chcp.com"):
        result = _chcp(rest, codepage)
    elif builtin is not None:
        result = builtin(machine, rest)
    else:
        program = find_program(name)
        if program is None:
            result = not_recognized(name)
        else:
            call = ProgramCall(machine, tuple(split_arguments(rest)), rest, stdin, codepage)
            result = program(call)
    out, err = result.stdout, result.stderr
    if redirections.stderr_to_stdout:
        out, err = out + err, ""
    if redirections.stderr_to_null:
        err = ""
    if redirections.stdout_to_null:
        out = ""
    changes = tuple((min(offset, len(out)), cp) for offset, cp in result.codepage_changes)
    return ProgramResult(out, err, result.exit_code, result.duration, changes)


def _chcp(rest: str, codepage: int) -> ProgramResult:
    """chcp.exe: shows or sets the console's code page (both input and output, as on
    Windows; the lab models output)."""
    wanted = rest.strip()
    if wanted == "":
        return ProgramResult(stdout=f"Active code page: {codepage}\r\n")
    if not wanted.isdigit() or not is_known_codepage(int(wanted)):
        return ProgramResult(stderr="Invalid code page\r\n", exit_code=1)
    return ProgramResult(
        stdout=f"Active code page: {wanted}\r\n", codepage_changes=((0, int(wanted)),)
    )


def is_known_codepage(codepage: int) -> bool:
    if codepage in (65001, 1200, 20127):
        return True
    try:
        codecs.lookup(f"cp{codepage}")
    except LookupError:
        return False
    return True


def _echo(machine: Machine, rest: str) -> ProgramResult:
    if rest.startswith((".", "(", "/")) and not rest.startswith("/?"):
        return ProgramResult(stdout=rest[1:] + "\r\n")
    if rest.strip() == "":
        return ProgramResult(stdout="ECHO is on.\r\n")
    return ProgramResult(stdout=rest + "\r\n")


def _ver(machine: Machine, rest: str) -> ProgramResult:
    return ProgramResult(stdout=f"\r\nMicrosoft Windows [Version {machine.os.version}.2582]\r\n")


def _set(machine: Machine, rest: str) -> ProgramResult:
    text = rest.strip().strip('"')
    if "=" in text:
        name, _, value = text.partition("=")
        for key in [k for k in machine.environment if k.lower() == name.lower()]:
            del machine.environment[key]
        if value:
            machine.environment[name] = value
        return ProgramResult()
    shown = sorted(
        (k, v) for k, v in machine.environment.items() if k.lower().startswith(text.lower())
    )
    if not shown:
        return ProgramResult(stderr=f"Environment variable {text} not defined\r\n", exit_code=1)
    return ProgramResult(stdout="".join(f"{k}={v}\r\n" for k, v in shown))


def _target(rest: str) -> tuple[str, set[str]]:
    words = split_arguments(rest)
    flags = {w.lower() for w in words if w.startswith("/")}
    paths = [w for w in words if not w.startswith("/")]
    path = paths[0] if paths else _HOME
    if len(path) < 2 or path[1] != ":":
        path = _HOME + "\\" + path
    return normalize_path(path), flags


def _entries(machine: Machine, path: str) -> list[FileEntry] | None:
    if "*" in path or "?" in path:
        return machine.files.glob(path)
    entry = machine.files.get(path)
    if entry is None:
        return None
    return machine.files.children(path) if entry.is_directory else [entry]


def _dir_line(entry: FileEntry) -> str:
    when = entry.last_write_utc.astimezone(UTC)
    stamp = f"{when:%m/%d/%Y}  {when:%I:%M %p}"
    size = "<DIR>         " if entry.is_directory else f"{entry.length:>14,}"
    return f"{stamp}    {size} {entry.name}"


def _dir(machine: Machine, rest: str) -> ProgramResult:
    path, flags = _target(rest)
    entries = _entries(machine, path)
    if not entries:
        return ProgramResult(stderr="File Not Found\r\n", exit_code=1)
    if "/b" in flags:
        return ProgramResult(stdout="".join(e.name + "\r\n" for e in entries))
    folder = path.rpartition("\\")[0] if "*" in path or "?" in path else path
    files = [e for e in entries if not e.is_directory]
    lines = [
        " Volume in drive C has no label.",
        " Volume Serial Number is 5A1C-0F3E",
        "",
        f" Directory of {folder}",
        "",
        *(_dir_line(e) for e in entries),
        f"{len(files):>16} File(s) {sum(f.length for f in files):>14,} bytes",
        f"{len(entries) - len(files):>16} Dir(s)  52,613,349,376 bytes free",
    ]
    return ProgramResult(stdout="".join(line + "\r\n" for line in lines))


def _type(machine: Machine, rest: str) -> ProgramResult:
    path, _ = _target(rest)
    entry = machine.files.get(path)
    if entry is None or entry.is_directory:
        return ProgramResult(stderr="The system cannot find the file specified.\r\n", exit_code=1)
    return ProgramResult(stdout=entry.data.decode("cp437", "replace"))


def _del(machine: Machine, rest: str) -> ProgramResult:
    path, _ = _target(rest)
    entries = _entries(machine, path)
    if not entries:
        return ProgramResult(stderr=f"Could Not Find {path}\r\n")
    errors: list[str] = []
    for entry in entries:
        if entry.is_directory:
            continue
        if machine.is_tamper_protected(entry.path):
            errors.append(f"{entry.path}\r\nAccess is denied.\r\n")
            continue
        machine.files.remove(entry.path)
    return ProgramResult(stderr="".join(errors))


def _cd(machine: Machine, rest: str) -> ProgramResult:
    if rest.strip() == "":
        return ProgramResult(stdout=_HOME + "\r\n")
    return ProgramResult()


def _exit(machine: Machine, rest: str) -> ProgramResult:
    words = rest.split()
    if words and words[0].lower() == "/b":
        words = words[1:]
    code = int(words[0]) if words and words[0].lstrip("-").isdigit() else 0
    raise _ExitRequest(code)


def _nothing(machine: Machine, rest: str) -> ProgramResult:
    return ProgramResult()


@program("cmd")
def cmd_exe(call: ProgramCall) -> ProgramResult:
    """cmd.exe started from PowerShell (`cmd /c ...`)."""
    return _cmd(call.machine, call.raw_arguments, codepage=call.codepage)


def _cmd(machine: Machine, rest: str, *, codepage: int = 437) -> ProgramResult:
    words = rest.split(None, 1)
    if not words or words[0].lower() not in ("/c", "/k"):
        return ProgramResult(stdout=f"Microsoft Windows [Version {machine.os.version}.2582]\r\n")
    inner = words[1] if len(words) > 1 else ""
    if inner.startswith('"') and inner.endswith('"'):
        inner = inner[1:-1]
    result = run_cmd(machine, inner, codepage=codepage)
    return ProgramResult(
        result.stdout, result.stderr, result.exit_code, result.duration, result.stdout_codepages
    )


_BUILTINS: dict[str, Callable[[Machine, str], ProgramResult]] = {
    "echo": _echo,
    "ver": _ver,
    "set": _set,
    "dir": _dir,
    "type": _type,
    "del": _del,
    "erase": _del,
    "cd": _cd,
    "chdir": _cd,
    "exit": _exit,
    "rem": _nothing,
    "cls": _nothing,
    "title": _nothing,
    "cmd": _cmd,
    "cmd.exe": _cmd,
}
