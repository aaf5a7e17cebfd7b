"""Properties and methods of values: `.Count`, `.Substring(1)`, `.ToString('o')`, and what
is not here fails like PowerShell ("Method invocation failed ... does not contain a method")."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from fleetfix.lab.shell.ps.formatting_net import format_datetime, format_number, net_format
from fleetfix.lab.shell.ps.values import (
    LOCAL,
    ErrorRecord,
    Hashtable,
    NetObject,
    PSEnum,
    PSObject,
    ScriptBlock,
    equals,
    plain_date,
    runtime_error,
    to_int,
    to_number,
    to_str,
    type_name_of,
)


def get_member(value: Any, name: str) -> Any:
    """`$value.Name`: a missing property is $null, as in PowerShell's non-strict mode."""
    key = name.lower()
    if isinstance(value, NetObject):
        return value.member(name)
    if isinstance(value, PSObject):
        found, result = value.get(name)
        return result if found else _common_property(value, key)
    if isinstance(value, Hashtable):
        if key in ("count", "keys", "values") and name not in value:
            return {
                "count": len(value),
                "keys": value.keys(),
                "values": [v for _, v in value.items()],
            }[key]
        return value[name]
    if isinstance(value, ErrorRecord):
        return _error_record_property(value, key)
    if isinstance(value, list | tuple | bytes):
        if key in ("count", "length"):
            return len(value)
        # Member enumeration: the property of every element.
        items = [get_member(item, name) for item in value]
        return [item for item in items if item is not None]
    return _scalar_property(value, key)


def _common_property(value: Any, key: str) -> Any:
    if key == "count":
        return 1
    return None


def _error_record_property(record: ErrorRecord, key: str) -> Any:
    table: dict[str, Any] = {
        "exception": record.exception,
        "fullyqualifiederrorid": record.error_id,
        "categoryinfo": PSObject(
            {
                "Category": PSEnum(
                    "System.Management.Automation.ErrorCategory", record.category, 0
                ),
                "Activity": record.command,
                "Reason": record.exception_type.rpartition(".")[2],
                "TargetName": record.target,
            },
            type_name="System.Management.Automation.ErrorCategoryInfo",
            text=record.category_info,
        ),
        "targetobject": record.target or None,
    }
    return table.get(key)


def _scalar_property(value: Any, key: str) -> Any:
    if isinstance(value, str) and key == "length":
        return len(value)
    if isinstance(value, datetime):
        return _datetime_property(value, key)
    if isinstance(value, timedelta):
        total = value.total_seconds()
        return {
            "totalseconds": total,
            "totalminutes": total / 60,
            "totalhours": total / 3600,
            "totaldays": total / 86400,
            "days": value.days,
            "hours": value.seconds // 3600,
            "minutes": (value.seconds // 60) % 60,
            "seconds": value.seconds % 60,
        }.get(key)
    if isinstance(value, PSEnum):
        return {"value__": value.value}.get(key)
    if key == "count":
        # PowerShell 3+ gives every scalar a Count of 1, and $null a Count of 0.
        return 0 if value is None else 1
    return None


def _datetime_property(value: datetime, key: str) -> Any:
    table: dict[str, Any] = {
        "year": value.year,
        "month": value.month,
        "day": value.day,
        "hour": value.hour,
        "minute": value.minute,
        "second": value.second,
        "millisecond": value.microsecond // 1000,
        "dayofweek": PSEnum("System.DayOfWeek", value.strftime("%A"), (value.weekday() + 1) % 7),
        "date": value.replace(hour=0, minute=0, second=0, microsecond=0),
        "kind": PSEnum(
            "System.DateTimeKind",
            "Utc" if value.tzinfo is UTC else "Local",
            1 if value.tzinfo is UTC else 2,
        ),
        "ticks": int((value - datetime(1, 1, 1, tzinfo=value.tzinfo)).total_seconds() * 10**7),
    }
    return table.get(key)


def call_method(value: Any, name: str, arguments: list[Any]) -> Any:
    key = name.lower()
    if isinstance(value, NetObject) and key != "gettype":
        return value.invoke(name, arguments)
    if key == "tostring" and not arguments:
        return _to_string(value)
    if key == "gettype" and not arguments:
        return PSObject(
            {"Name": type_name_of(value).rpartition(".")[2], "FullName": type_name_of(value)},
            type_name="System.RuntimeType",
            text=type_name_of(value),
        )
    if key == "equals" and len(arguments) == 1:
        return equals(value, arguments[0])
    if isinstance(value, datetime):
        value = plain_date(value)
    for kind, table in _METHODS:
        if isinstance(value, kind):
            method = table.get(key)
            if method is not None:
                try:
                    return method(value, *arguments)
                except TypeError as exc:
                    raise _overload_error(name, len(arguments)) from exc
    raise runtime_error(
        f"Method invocation failed because [{type_name_of(value)}] does not contain a method "
        f"named '{name}'.",
        category="InvalidOperation",
        error_id="MethodNotFound",
    )


def _to_string(value: Any) -> str:
    if isinstance(value, float):
        return format_number(value, "G") if value != int(value) else str(int(value))
    return to_str(value)


def _overload_error(name: str, count: int) -> Exception:
    return runtime_error(
        f'Cannot find an overload for "{name}" and the argument count: "{count}".',
        category="NotSpecified",
        error_id="MethodCountCouldNotFindBest",
    )


def _substring(text: str, start: Any, length: Any = None) -> str:
    begin = to_int(start)
    if (
        begin < 0
        or begin > len(text)
        or (length is not None and begin + to_int(length) > len(text))
    ):
        raise runtime_error(
            f'Exception calling "Substring" with "{1 if length is None else 2}" argument(s): '
            '"startIndex cannot be larger than length of string."',
            error_id="ArgumentOutOfRangeException",
        )
    return text[begin:] if length is None else text[begin : begin + to_int(length)]


def _split(text: str, *separators: Any) -> list[str]:
    if not separators:
        return text.split()
    chars = "".join(to_str(s) for s in separators)
    parts = [text]
    for char in chars:
        parts = [piece for part in parts for piece in part.split(char)]
    return parts


_STRING_METHODS: dict[str, Callable[..., Any]] = {
    "toupper": lambda s: s.upper(),
    "tolower": lambda s: s.lower(),
    "toupperinvariant": lambda s: s.upper(),
    "tolowerinvariant": lambda s: s.lower(),
    "trim": lambda s, chars=None: s.strip(None if chars is None else to_str(chars)),
    "trimstart": lambda s, chars=None: s.lstrip(None if chars is None else to_str(chars)),
    "trimend": lambda s, chars=None: s.rstrip(None if chars is None else to_str(chars)),
    "substring": _substring,
    "startswith": lambda s, p: s.startswith(to_str(p)),
    "endswith": lambda s, p: s.endswith(to_str(p)),
    "contains": lambda s, p: to_str(p) in s,
    "indexof": lambda s, p: s.find(to_str(p)),
    "lastindexof": lambda s, p: s.rfind(to_str(p)),
    "replace": lambda s, a, b: s.replace(to_str(a), to_str(b)),
    "split": _split,
    "padleft": lambda s, n, c=" ": s.rjust(to_int(n), to_str(c)),
    "padright": lambda s, n, c=" ": s.ljust(to_int(n), to_str(c)),
    "tochararray": lambda s: list(s),
}

_DATETIME_METHODS: dict[str, Callable[..., Any]] = {
    "touniversaltime": lambda d: d.astimezone(UTC),
    "tolocaltime": lambda d: d.astimezone(LOCAL),
    "tostring": lambda d, spec: format_datetime(d, to_str(spec)),
    "adddays": lambda d, n: d + timedelta(days=to_number(n)),
    "addhours": lambda d, n: d + timedelta(hours=to_number(n)),
    "addminutes": lambda d, n: d + timedelta(minutes=to_number(n)),
    "addseconds": lambda d, n: d + timedelta(seconds=to_number(n)),
    "addmilliseconds": lambda d, n: d + timedelta(milliseconds=to_number(n)),
    "subtract": lambda d, other: d - other,
    "tofiletimeutc": lambda d: int((d - datetime(1601, 1, 1, tzinfo=UTC)).total_seconds() * 10**7),
}

_NUMBER_METHODS: dict[str, Callable[..., Any]] = {
    "tostring": lambda n, spec: format_number(n, to_str(spec)),
}

_LIST_METHODS: dict[str, Callable[..., Any]] = {
    "contains": lambda items, x: any(equals(i, x) for i in items),
    "indexof": lambda items, x: next((i for i, v in enumerate(items) if equals(v, x)), -1),
}


def _entries(table: Hashtable) -> list[PSObject]:
    return [
        PSObject({"Name": k, "Key": k, "Value": v}, type_name="System.Collections.DictionaryEntry")
        for k, v in table.items()
    ]


_HASHTABLE_METHODS: dict[str, Callable[..., Any]] = {
    "getenumerator": _entries,
    "containskey": lambda h, k: k in h,
    "contains": lambda h, k: k in h,
    "add": lambda h, k, v: h.__setitem__(k, v),
    "remove": lambda h, k: h.remove(k),
}

_SCRIPTBLOCK_METHODS: dict[str, Callable[..., Any]] = {}

_METHODS: list[tuple[type | tuple[type, ...], dict[str, Callable[..., Any]]]] = [
    (str, _STRING_METHODS),
    (datetime, _DATETIME_METHODS),
    ((int, float), _NUMBER_METHODS),
    ((list, tuple, bytes), _LIST_METHODS),
    (Hashtable, _HASHTABLE_METHODS),
    (ScriptBlock, _SCRIPTBLOCK_METHODS),
]


def string_format(template: Any, *arguments: Any) -> str:
    values = (
        list(arguments[0])
        if len(arguments) == 1 and isinstance(arguments[0], list)
        else list(arguments)
    )
    return net_format(to_str(template), values)
