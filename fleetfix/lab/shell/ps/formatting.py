"""How objects look on the console (Out-Default / Out-String), close to Windows PowerShell:
scalars one per line, objects with up to four properties as a table, more as a list,
hashtables as Name/Value tables, dates in the en-US long format.

Column widths are taken from the data, where PowerShell guesses from the first objects;
scripts should emit JSON for machines to read, never parse these tables.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fleetfix.lab.shell.ps.values import ErrorRecord, Hashtable, PSObject, to_str

# Properties a type shows by default (its format.ps1xml view), where the lab models one.
DEFAULT_VIEWS: dict[str, tuple[str, ...]] = {
    "System.ServiceProcess.ServiceController": ("Status", "Name", "DisplayName"),
    "System.IO.FileInfo": ("Mode", "LastWriteTime", "Length", "Name"),
    "System.IO.DirectoryInfo": ("Mode", "LastWriteTime", "Length", "Name"),
    "System.Diagnostics.Eventing.Reader.EventLogRecord": (
        "TimeCreated",
        "Id",
        "LevelDisplayName",
        "Message",
    ),
    "Microsoft.PowerShell.Commands.FileHashInfo": ("Algorithm", "Hash", "Path"),
    "BitLockerVolume": (
        "MountPoint",
        "VolumeType",
        "VolumeStatus",
        "EncryptionPercentage",
        "KeyProtector",
        "AutoUnlockEnabled",
        "ProtectionStatus",
    ),
}


def display_text(value: Any) -> str:
    if isinstance(value, datetime):
        return long_date(value)
    if isinstance(value, list | tuple):
        inner = ", ".join(display_text(v) for v in value[:4])
        return "{" + inner + ("..." if len(value) > 4 else "") + "}"
    return to_str(value)


def long_date(value: datetime) -> str:
    hour = value.hour % 12 or 12
    suffix = "AM" if value.hour < 12 else "PM"
    return (
        f"{value:%A}, {value:%B} {value.day}, {value.year} "
        f"{hour}:{value.minute:02d}:{value.second:02d} {suffix}"
    )


def _columns(value: Any) -> list[tuple[str, Any]] | None:
    if isinstance(value, Hashtable):
        return None
    if isinstance(value, PSObject):
        view = DEFAULT_VIEWS.get(value.type_name)
        if view is not None:
            return [(name, value.get(name)[1]) for name in view]
        return value.items()
    return None


def format_for_console(values: list[Any]) -> str:
    """The text Out-Default writes for a batch of pipeline output, CRLF line endings."""
    lines: list[str] = []
    index = 0
    while index < len(values):
        value = values[index]
        if isinstance(value, Hashtable):
            lines.extend(
                _table(["Name", "Value"], [[to_str(k), display_text(v)] for k, v in value.items()])
            )
            index += 1
            continue
        columns = _columns(value)
        if columns is None:
            lines.append(
                display_text(value) if not isinstance(value, ErrorRecord) else value.message
            )
            index += 1
            continue
        names = [n for n, _ in columns]
        group = [value]
        while index + len(group) < len(values):
            nxt = _columns(values[index + len(group)])
            if nxt is None or [n for n, _ in nxt] != names:
                break
            group.append(values[index + len(group)])
        index += len(group)
        lines.extend(_objects(names, group))
    return "".join(line + "\r\n" for line in lines)


def format_as_list(values: list[Any]) -> str:
    """Format-List: every object as `Name : Value` lines, whatever its property count."""
    lines: list[str] = []
    for value in values:
        columns = _columns(value)
        if columns is None:
            lines.append(display_text(value))
            continue
        lines.extend(_list([n for n, _ in columns], [[display_text(v) for _, v in columns]]))
    return "".join(line + "\r\n" for line in lines)


def _objects(names: list[str], group: list[Any]) -> list[str]:
    rows = [[display_text(v) for _, v in (_columns(item) or [])] for item in group]
    if len(names) <= 4:
        return _table(names, rows)
    return _list(names, rows)


def _list(names: list[str], rows: list[list[str]]) -> list[str]:
    width = max((len(n) for n in names), default=0)
    lines: list[str] = [""]
    for row in rows:
        lines.extend(f"{name.ljust(width)} : {cell}" for name, cell in zip(names, row, strict=True))
        lines.append("")
    lines.append("")
    return lines


def _table(headers: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(headers)]
    lines = [""]
    lines.append(" ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip())
    lines.append(
        " ".join(
            "-" * len(h) + " " * (w - len(h)) for h, w in zip(headers, widths, strict=True)
        ).rstrip()
    )
    lines.extend(
        " ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows
    )
    lines.append("")
    lines.append("")
    return lines
