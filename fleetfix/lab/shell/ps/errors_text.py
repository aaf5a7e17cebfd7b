"""Error records as the Windows PowerShell 5.1 console prints them, and as CLIXML on stderr
when powershell.exe runs with -EncodedCommand and redirected streams (what WinRS gives)."""

from __future__ import annotations

import re
from xml.sax.saxutils import escape

from fleetfix.lab.shell.ps.values import ErrorRecord

CLIXML_HEADER = "#< CLIXML\r\n"
_NAMESPACE = "http://schemas.microsoft.com/powershell/2004/04"
_NEEDS_ESCAPE = re.compile(r"_(x[0-9A-Fa-f]{4}_)")


def render_error(record: ErrorRecord) -> str:
    """`cmd : message`, the position, CategoryInfo and FullyQualifiedErrorId, CRLF lines."""
    head = f"{record.command} : {record.message}" if record.command else record.message
    lines = [head]
    if record.position:
        lines.extend(record.position.split("\r\n"))
    reason = record.exception_type.rpartition(".")[2]
    target = record.target
    if record.category == "ParserError":
        category = "ParserError: (:) [], ParentContainsErrorRecordException"
    else:
        # A command that was not found has no command to name in brackets.
        bracket = "" if record.error_id == "CommandNotFoundException" else record.command
        category = (
            f"{record.category}: ({target}:{'String' if target else ''}) [{bracket}], {reason}"
        )
    lines.append(f"    + CategoryInfo          : {category}")
    lines.append(f"    + FullyQualifiedErrorId : {record.error_id}")
    lines.append(" ")
    return "".join(line + "\r\n" for line in lines)


def _encode(text: str) -> str:
    text = _NEEDS_ESCAPE.sub(r"_x005F_\1", text)
    out = []
    for char in escape(text):
        if char == "\r":
            out.append("_x000D_")
        elif char == "\n":
            out.append("_x000A_")
        elif ord(char) < 0x20 and char != "\t":
            out.append(f"_x{ord(char):04X}_")
        else:
            out.append(char)
    return "".join(out)


def clixml(items: list[tuple[str, str]]) -> str:
    """`#< CLIXML` and one <S S="Error"> (or "warning") element per line, as 5.1 writes them."""
    body = []
    for stream, text in items:
        for line in text.splitlines(keepends=True):
            body.append(f'<S S="{stream}">{_encode(line)}</S>')
    return (
        CLIXML_HEADER + f'<Objs Version="1.1.0.1" xmlns="{_NAMESPACE}">' + "".join(body) + "</Objs>"
    )
