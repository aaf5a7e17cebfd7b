"""PowerShell values in Python: objects with properties, hashtables, enums, error records,
and the conversions PowerShell applies (to string, to bool, to number, comparisons).

Plain Python values stand for .NET ones: str, int, float, bool, None ($null), bytes (byte[]),
list (object[]), datetime (System.DateTime: tzinfo UTC is Kind=Utc, `LOCAL` is Kind=Local; the
lab's machines run in UTC, so both are the same instant).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

LOCAL = timezone(timedelta(0), "Local")


class DisplayDate(datetime):
    """What Get-Date returns: a DateTime carrying a DisplayHint note property, which is why
    5.1's ConvertTo-Json writes `Get-Date` as an object and `[datetime]::Now` as a string.
    Any method, cast or arithmetic on it gives a plain DateTime again (see `plain_date`)."""


def plain_date(value: datetime) -> datetime:
    if type(value) is datetime:
        return value
    return datetime(
        value.year, value.month, value.day, value.hour, value.minute, value.second,
        value.microsecond, tzinfo=value.tzinfo,
    )  # fmt: skip


def display_date(value: datetime) -> DisplayDate:
    return DisplayDate(
        value.year, value.month, value.day, value.hour, value.minute, value.second,
        value.microsecond, tzinfo=value.tzinfo,
    )  # fmt: skip


class PSObject:
    """A PSCustomObject or an adapted .NET object: ordered, case-insensitive properties."""

    def __init__(
        self,
        properties: dict[str, Any],
        *,
        type_name: str = "System.Management.Automation.PSCustomObject",
        text: str | None = None,
    ) -> None:
        self._props: dict[str, tuple[str, Any]] = {k.lower(): (k, v) for k, v in properties.items()}
        self.type_name = type_name
        self._text = text  # what ToString() gives for adapted .NET objects

    def get(self, name: str) -> tuple[bool, Any]:
        found = self._props.get(name.lower())
        return (False, None) if found is None else (True, found[1])

    def set(self, name: str, value: Any) -> None:
        key = self._props.get(name.lower(), (name, None))[0]
        self._props[name.lower()] = (key, value)

    def items(self) -> list[tuple[str, Any]]:
        return list(self._props.values())

    def names(self) -> list[str]:
        return [k for k, _ in self._props.values()]

    def to_string(self) -> str:
        if self._text is not None:
            return self._text
        if self.type_name != "System.Management.Automation.PSCustomObject":
            return self.type_name
        inner = "; ".join(f"{k}={to_str(v)}" for k, v in self.items())
        return "@{" + inner + "}"


class Hashtable:
    """@{...}: case-insensitive keys that keep their first spelling and their order."""

    def __init__(self, entries: dict[Any, Any] | None = None, *, ordered: bool = False) -> None:
        self._data: dict[Any, tuple[Any, Any]] = {}
        self.ordered = ordered
        for key, value in (entries or {}).items():
            self[key] = value

    @staticmethod
    def _fold(key: Any) -> Any:
        return key.lower() if isinstance(key, str) else key

    def __setitem__(self, key: Any, value: Any) -> None:
        folded = self._fold(key)
        original = self._data.get(folded, (key, None))[0]
        self._data[folded] = (original, value)

    def __getitem__(self, key: Any) -> Any:
        found = self._data.get(self._fold(key))
        return None if found is None else found[1]

    def __contains__(self, key: object) -> bool:
        return self._fold(key) in self._data

    def __len__(self) -> int:
        return len(self._data)

    def items(self) -> list[tuple[Any, Any]]:
        return list(self._data.values())

    def keys(self) -> list[Any]:
        return [k for k, _ in self._data.values()]

    def remove(self, key: Any) -> None:
        self._data.pop(self._fold(key), None)


@dataclass(frozen=True, slots=True)
class PSEnum:
    """A .NET enum value: prints as its name, serialises (ConvertTo-Json) as its number."""

    type_name: str
    name: str
    value: int


@dataclass(frozen=True, slots=True)
class ScriptBlock:
    node: Any  # tree_sitter.Node of the script_block (or script_block_expression)
    text: str


@dataclass(slots=True)
class ErrorRecord:
    """What `$_` is in a catch block and what the error stream carries."""

    message: str
    exception_type: str = "System.Management.Automation.RuntimeException"
    category: str = "NotSpecified"
    error_id: str = "RuntimeException"
    target: str = ""
    command: str = ""
    position: str = ""  # "At line:1 char:1\r\n+ foo\r\n+ ~~~" as the console shows it
    invocation: dict[str, Any] = field(default_factory=dict)

    @property
    def exception(self) -> PSObject:
        return PSObject({"Message": self.message}, type_name=self.exception_type, text=self.message)

    @property
    def category_info(self) -> str:
        reason = self.exception_type.rpartition(".")[2]
        return f"{self.category}: ({self.target}:String) [{self.command}], {reason}"


class PSRuntimeError(Exception):
    """A terminating error in the script, carrying its record."""

    def __init__(self, record: ErrorRecord, *, script_terminating: bool = False) -> None:
        super().__init__(record.message)
        self.record = record
        # `throw` and -ErrorAction Stop end the whole script; other terminating errors (a
        # failed method call, a bad cast) end only their statement.
        self.script_terminating = script_terminating
        self.reported = False  # already written to the error stream


def runtime_error(message: str, **kwargs: Any) -> PSRuntimeError:
    return PSRuntimeError(ErrorRecord(message, **kwargs))


def iterate(value: Any) -> Iterator[Any]:
    """What a pipeline sees: collections are unrolled, everything else is one item, $null none."""
    if value is None:
        return iter(())
    if isinstance(value, list | tuple):
        return iter(value)
    if isinstance(value, bytes):
        return iter(list(value))
    return iter((value,))


def to_bool(value: Any) -> bool:
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value != 0
    if isinstance(value, str):
        return value != ""
    if isinstance(value, list | tuple):
        if len(value) == 0:
            return False
        return to_bool(value[0]) if len(value) == 1 else True
    return True


def format_datetime_default(value: datetime) -> str:
    # The invariant culture's "G": what "$date" expands to inside a string.
    return value.strftime("%m/%d/%Y %H:%M:%S")


def format_number(value: float) -> str:
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


def to_str(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, str):
        return value
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return format_number(value)
    if isinstance(value, datetime):
        return format_datetime_default(value)
    if isinstance(value, list | tuple):
        return " ".join(to_str(v) for v in value)
    if isinstance(value, bytes):
        return " ".join(str(b) for b in value)
    if isinstance(value, PSEnum):
        return value.name
    if isinstance(value, PSObject):
        return value.to_string()
    if isinstance(value, Hashtable):
        return "System.Collections.Hashtable"
    if isinstance(value, ErrorRecord):
        return value.message
    if isinstance(value, ScriptBlock):
        return value.text
    return str(value)


def to_number(value: Any) -> int | float:
    if value is None:
        return 0
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int | float):
        return value
    if isinstance(value, PSEnum):
        return value.value
    if isinstance(value, str):
        text = value.strip()
        if text == "":
            return 0
        try:
            return int(text, 16) if text.lower().startswith("0x") else int(text)
        except ValueError:
            pass
        try:
            return float(text)
        except ValueError:
            pass
    if isinstance(value, list | tuple) and len(value) == 1:
        return to_number(value[0])
    raise runtime_error(
        f'Cannot convert value "{to_str(value)}" to type "System.Int32". Error: "Input string '
        'was not in a correct format."',
        exception_type="System.Management.Automation.RuntimeException",
        category="InvalidArgument",
        error_id="InvalidCastFromStringToInteger",
    )


def to_int(value: Any) -> int:
    number = to_number(value)
    # .NET rounds half to even when casting a double to int, as Python's round does.
    return round(number) if isinstance(number, float) else number


def to_datetime(value: Any) -> datetime:
    if isinstance(value, datetime):
        return plain_date(value)
    if isinstance(value, str):
        text = value.strip().replace("Z", "+00:00")
        for candidate in (text, text.replace(" ", "T")):
            try:
                parsed = datetime.fromisoformat(candidate)
            except ValueError:
                continue
            # DateTime.Parse converts a stamp with `Z` or an offset to local time (Kind
            # Local): `[datetime]'2024-07-19T04:09:00Z'` is not a Kind Utc value.
            return parsed.astimezone(LOCAL) if parsed.tzinfo else parsed.replace(tzinfo=LOCAL)
        try:
            return datetime.strptime(text, "%m/%d/%Y %H:%M:%S").replace(tzinfo=LOCAL)
        except ValueError:
            pass
    raise runtime_error(
        f'Cannot convert value "{to_str(value)}" to type "System.DateTime". Error: "String was '
        'not recognized as a valid DateTime."',
        category="InvalidArgument",
        error_id="InvalidCastParseTargetInvocation",
    )


def compare_key(left: Any, right: Any) -> tuple[Any, Any]:
    """Both sides converted to the left side's type, as PowerShell's comparisons do."""
    if isinstance(left, str | PSEnum):
        return to_str(left).lower(), to_str(right).lower()
    if isinstance(left, datetime):
        return left.astimezone(UTC), _instant(right)
    instant = left.comparable() if isinstance(left, NetObject) else None
    if instant is not None:
        return instant, _instant(right)
    if isinstance(left, bool):
        return left, to_bool(right)
    if isinstance(left, int | float):
        if isinstance(right, str):
            try:
                return left, to_number(right)
            except PSRuntimeError:
                return to_str(left), right.lower()
        return left, to_number(right)
    if left is None:
        return (0, 0) if right is None else (0, 1)
    return to_str(left).lower(), to_str(right).lower()


def _instant(value: Any) -> Any:
    found = value.comparable() if isinstance(value, NetObject) else None
    return found if found is not None else to_datetime(value).astimezone(UTC)


def equals(left: Any, right: Any) -> bool:
    if left is None or right is None:
        return left is None and right is None
    if isinstance(left, PSObject | Hashtable | ScriptBlock):
        return left is right
    try:
        a, b = compare_key(left, right)
    except PSRuntimeError:
        return False
    return bool(a == b)


def type_name_of(value: Any) -> str:
    names: list[tuple[type, str]] = [
        (bool, "System.Boolean"),
        (int, "System.Int32"),
        (float, "System.Double"),
        (str, "System.String"),
        (datetime, "System.DateTime"),
        (bytes, "System.Byte[]"),
        (list, "System.Object[]"),
        (Hashtable, "System.Collections.Hashtable"),
        (ScriptBlock, "System.Management.Automation.ScriptBlock"),
        (ErrorRecord, "System.Management.Automation.ErrorRecord"),
    ]
    for python_type, name in names:
        if isinstance(value, python_type):
            return name
    if isinstance(value, PSObject):
        return value.type_name
    if isinstance(value, PSEnum | NetObject):
        return value.type_name
    return "System.Object"


class NetObject:
    """A .NET object with its own members (an Encoding, a type literal): subclasses answer
    `member` and `invoke`, and fail like PowerShell for what they do not have."""

    type_name = "System.Object"

    def member(self, name: str) -> Any:
        return None

    def set_member(self, name: str, value: Any) -> bool:
        """`$object.Name = value`; False when there is no such settable property."""
        return False

    def comparable(self) -> Any:
        """What comparisons (-lt, -eq, Sort-Object) use, or None to compare as text."""
        return None

    def invoke(self, name: str, arguments: list[Any]) -> Any:
        raise runtime_error(
            f"Method invocation failed because [{self.type_name}] does not contain a method "
            f"named '{name}'.",
            category="InvalidOperation",
            error_id="MethodNotFound",
        )

    def __str__(self) -> str:
        return self.type_name
