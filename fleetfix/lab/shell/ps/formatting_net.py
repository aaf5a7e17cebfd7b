""".NET string formatting: composite format strings (`'{0:N2}' -f`), DateTime custom and
standard formats (`ToString('o')`), numeric formats (`ToString('X8')`)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

_COMPOSITE = re.compile(r"\{\{|\}\}|\{(\d+)(?:,(-?\d+))?(?::([^}]*))?\}")
_DATE_TOKENS = re.compile(
    r"yyyy|yy|MMMM|MMM|MM|M|dddd|ddd|dd|d|HH|H|hh|h|mm|m|ss|s|fffffff|fff|tt|K|zzz|'[^']*'|."
)


def net_format(template: str, arguments: list[Any]) -> str:
    def replace(match: re.Match[str]) -> str:
        text = match.group(0)
        if text in ("{{", "}}"):
            return text[0]
        index = int(match.group(1))
        if index >= len(arguments):
            raise ValueError(
                "Index (zero based) must be greater than or equal to zero and less than the "
                "size of the argument list."
            )
        value = format_value(arguments[index], match.group(3) or "")
        width = int(match.group(2)) if match.group(2) else 0
        return value.rjust(width) if width > 0 else value.ljust(-width)

    return _COMPOSITE.sub(replace, template)


def format_value(value: Any, spec: str) -> str:
    # Imported here: values imports nothing from here, but keeps this module leaf-like.
    from fleetfix.lab.shell.ps.values import to_str

    if isinstance(value, datetime):
        return format_datetime(value, spec) if spec else to_str(value)
    if isinstance(value, int | float) and not isinstance(value, bool) and spec:
        return format_number(value, spec)
    return to_str(value)


def format_number(value: int | float, spec: str) -> str:
    kind, digits = spec[:1], spec[1:]
    count = int(digits) if digits.isdigit() else None
    if kind in ("X", "x"):
        text = f"{int(value):X}" if kind == "X" else f"{int(value):x}"
        return text.zfill(count or 0)
    if kind in ("N", "n"):
        return f"{_half_away(value, 2 if count is None else count):,}"
    if kind in ("F", "f"):
        return f"{_half_away(value, 2 if count is None else count)}"
    if kind in ("D", "d"):
        return str(int(value)).zfill(count or 0)
    if kind in ("P", "p"):
        return f"{value * 100:,.{2 if count is None else count}f} %"
    return str(value)


def _half_away(value: float, digits: int) -> Decimal:
    # .NET Framework rounds midpoints away from zero (2.25 -> "2.3"); Python's format rounds
    # the binary value half to even.
    return Decimal(repr(value)).quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP)


def format_datetime(value: datetime, spec: str) -> str:
    is_utc = value.tzinfo is UTC
    if spec in ("o", "O"):
        base = value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond * 10:07d}"
        return base + ("Z" if is_utc else "+00:00")
    if spec == "s":
        return value.strftime("%Y-%m-%dT%H:%M:%S")
    if spec == "u":
        return value.strftime("%Y-%m-%d %H:%M:%SZ")
    if spec == "R" or spec == "r":
        return value.strftime("%a, %d %b %Y %H:%M:%S GMT")
    return "".join(_date_token(value, token, is_utc=is_utc) for token in _DATE_TOKENS.findall(spec))


def _date_token(value: datetime, token: str, *, is_utc: bool) -> str:
    hour12 = value.hour % 12 or 12
    table = {
        "yyyy": f"{value.year:04d}",
        "yy": f"{value.year % 100:02d}",
        "MMMM": value.strftime("%B"),
        "MMM": value.strftime("%b"),
        "MM": f"{value.month:02d}",
        "M": str(value.month),
        "dddd": value.strftime("%A"),
        "ddd": value.strftime("%a"),
        "dd": f"{value.day:02d}",
        "d": str(value.day),
        "HH": f"{value.hour:02d}",
        "H": str(value.hour),
        "hh": f"{hour12:02d}",
        "h": str(hour12),
        "mm": f"{value.minute:02d}",
        "m": str(value.minute),
        "ss": f"{value.second:02d}",
        "s": str(value.second),
        "fffffff": f"{value.microsecond * 10:07d}",
        "fff": f"{value.microsecond // 1000:03d}",
        "tt": "AM" if value.hour < 12 else "PM",
        "K": "Z" if is_utc else "+00:00",
        "zzz": "+00:00",
    }
    if token.startswith("'") and token.endswith("'") and len(token) >= 2:
        return token[1:-1]
    return table.get(token, token)
