"""ConvertTo-Json and ConvertFrom-Json as Windows PowerShell 5.1 does them.

5.1's quirks, kept on purpose because scripts written for it must cope with them:
dates become "\\/Date(ms)\\/" (and what Get-Date returns an object with `value`, `DisplayHint`
and `DateTime`), enums their numbers, objects deeper than -Depth (default 2)
their ToString(), `<`, `>`, `&` and `'` are escaped as \\u003c..., and the pretty layout
indents nested values under the column where they start, with two spaces after the colon.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from typing import Any

from fleetfix.lab.shell.ps.formatting import long_date
from fleetfix.lab.shell.ps.values import (
    DisplayDate,
    ErrorRecord,
    Hashtable,
    NetObject,
    PSEnum,
    PSObject,
    ScriptBlock,
    plain_date,
    runtime_error,
    to_str,
)

_ESCAPES = {
    '"': '\\"',
    "\\": "\\\\",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\b": "\\b",
    "\f": "\\f",
    "<": "\\u003c",
    ">": "\\u003e",
    "&": "\\u0026",
    "'": "\\u0027",
}


def quote(text: str) -> str:
    out = []
    for char in text:
        if char in _ESCAPES:
            out.append(_ESCAPES[char])
        elif ord(char) < 0x20:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def _date(value: datetime) -> str:
    milliseconds = math.floor(value.astimezone(UTC).timestamp() * 1000)
    return quote(f"\\/Date({milliseconds})\\/").replace("\\\\/", "\\/")


def _scalar(value: Any) -> str | None:
    if isinstance(value, DisplayDate):
        return None  # written as an object with its DisplayHint note, see _members
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return "null" if math.isnan(value) or math.isinf(value) else _float(value)
    if isinstance(value, str):
        return quote(value)
    if isinstance(value, datetime):
        return _date(value)
    if isinstance(value, PSEnum):
        return str(value.value)
    return None


def _float(value: float) -> str:
    return str(int(value)) if value == int(value) and abs(value) < 1e15 else repr(value)


def _members(value: Any) -> list[tuple[str, Any]] | None:
    if isinstance(value, DisplayDate):
        # DisplayHint 2 is DateTime; DateTime is the ScriptProperty's long date and time.
        return [("value", plain_date(value)), ("DisplayHint", 2), ("DateTime", long_date(value))]
    if isinstance(value, PSObject):
        return [(k, v) for k, v in value.items()]
    if isinstance(value, Hashtable):
        return [(to_str(k), v) for k, v in value.items()]
    if isinstance(value, ErrorRecord):
        return [("Exception", value.exception), ("FullyQualifiedErrorId", value.error_id)]
    return None


def _as_list(value: Any) -> list[Any] | None:
    if isinstance(value, list | tuple):
        return list(value)
    if isinstance(value, bytes):
        return list(value)
    return None


def convert_to_json(value: Any, *, depth: int = 2, compress: bool = False) -> str:
    return _write(value, depth=depth, level=0, compress=compress, column=0)


def _write(value: Any, *, depth: int, level: int, compress: bool, column: int) -> str:
    scalar = _scalar(value)
    if scalar is not None:
        return scalar
    items = _as_list(value)
    members = _members(value) if items is None else None
    if items is None and members is None:
        return quote(value.type_name if isinstance(value, NetObject) else _text(value))
    if level > depth:
        # Past -Depth, 5.1 writes the object's ToString() instead of its members.
        return quote(_text(value))
    if items is not None:
        return _write_array(items, depth=depth, level=level, compress=compress, column=column)
    return _write_object(members or [], depth=depth, level=level, compress=compress, column=column)


def _text(value: Any) -> str:
    if isinstance(value, list | tuple):
        return " ".join(_text(v) for v in value)
    if isinstance(value, ScriptBlock):
        return value.text
    return to_str(value)


def _write_array(items: list[Any], *, depth: int, level: int, compress: bool, column: int) -> str:
    if compress:
        inner = ",".join(
            _write(v, depth=depth, level=level + 1, compress=True, column=0) for v in items
        )
        return "[" + inner + "]"
    pad = " " * (column + 4)
    parts = [
        pad + _write(v, depth=depth, level=level + 1, compress=False, column=column + 4)
        for v in items
    ]
    return "[\r\n" + ",\r\n".join(parts) + "\r\n" + " " * column + "]"


def _write_object(
    members: list[tuple[str, Any]], *, depth: int, level: int, compress: bool, column: int
) -> str:
    if compress:
        inner = ",".join(
            quote(k) + ":" + _write(v, depth=depth, level=level + 1, compress=True, column=0)
            for k, v in members
        )
        return "{" + inner + "}"
    if not members:
        return "{\r\n\r\n" + " " * column + "}"
    pad = " " * (column + 4)
    parts = []
    for key, value in members:
        head = quote(key) + ":  "
        body = _write(
            value, depth=depth, level=level + 1, compress=False, column=column + 4 + len(head)
        )
        parts.append(pad + head + body)
    return "{\r\n" + ",\r\n".join(parts) + "\r\n" + " " * column + "}"


def convert_from_json(text: str) -> Any:
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError as exc:
        raise runtime_error(
            f"Invalid JSON primitive: {text[exc.pos : exc.pos + 20]}.",
            exception_type="System.ArgumentException",
            category="NotSpecified",
            error_id="System.ArgumentException,Microsoft.PowerShell.Commands.ConvertFromJsonCommand",
        ) from exc
    return _to_ps(parsed)


def _to_ps(value: Any) -> Any:
    if isinstance(value, dict):
        return PSObject({k: _to_ps(v) for k, v in value.items()})
    if isinstance(value, list):
        return [_to_ps(v) for v in value]
    if isinstance(value, str) and value.startswith("/Date(") and value.endswith(")/"):
        milliseconds = int(value[6:-2].split("+")[0].split("-")[0] or 0)
        return datetime.fromtimestamp(milliseconds / 1000, tz=UTC)
    return value
