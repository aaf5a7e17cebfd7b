"""System.DateTimeOffset: an instant with the offset it was written in.

`[datetimeoffset]'2024-07-19T04:09:00Z'` keeps offset +00:00, and its `ToString('o')` ends in
`+00:00`, never `Z` (only a DateTime of Kind Utc prints `Z`). A string without an offset, or a
DateTime of Kind Local, takes the machine's offset: +00:00, as the lab's machines run in UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from fleetfix.lab.shell.ps.formatting_net import format_datetime
from fleetfix.lab.shell.ps.values import (
    LOCAL,
    NetObject,
    PSRuntimeError,
    plain_date,
    runtime_error,
    to_datetime,
    to_number,
    to_str,
)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class DateTimeOffset(NetObject):
    type_name = "System.DateTimeOffset"

    def __init__(self, moment: datetime) -> None:
        offset = moment.utcoffset() or timedelta(0)
        # The clock time and offset as written; the tzinfo is a plain fixed offset.
        self.moment = moment.replace(tzinfo=timezone(offset))

    @property
    def offset(self) -> timedelta:
        return self.moment.utcoffset() or timedelta(0)

    def comparable(self) -> datetime:
        return self.moment.astimezone(UTC)

    def member(self, name: str) -> Any:
        moment = self.moment
        table: dict[str, Any] = {
            "utcdatetime": moment.astimezone(UTC),
            "localdatetime": moment.astimezone(LOCAL),
            # .NET gives Kind Unspecified here; the lab has no such kind, Local is closest.
            "datetime": moment.replace(tzinfo=LOCAL),
            "offset": self.offset,
            "year": moment.year,
            "month": moment.month,
            "day": moment.day,
            "hour": moment.hour,
            "minute": moment.minute,
            "second": moment.second,
            "millisecond": moment.microsecond // 1000,
            "utcticks": _ticks(moment.astimezone(UTC)),
            "ticks": _ticks(moment),
        }
        return table.get(name.lower())

    def invoke(self, name: str, arguments: list[Any]) -> Any:
        key = name.lower()
        if key == "tostring" and len(arguments) <= 1:
            return self.format(to_str(arguments[0]) if arguments else "")
        if key == "touniversaltime" and not arguments:
            return DateTimeOffset(self.moment.astimezone(UTC))
        if key == "tolocaltime" and not arguments:
            return DateTimeOffset(self.moment.astimezone(LOCAL))
        if key == "tounixtimeseconds" and not arguments:
            return int((self.moment - _EPOCH).total_seconds() // 1)
        if key == "tounixtimemilliseconds" and not arguments:
            return int((self.moment - _EPOCH) // timedelta(milliseconds=1))
        unit = _ADD_UNITS.get(key)
        if unit is not None and len(arguments) == 1:
            return DateTimeOffset(self.moment + timedelta(**{unit: to_number(arguments[0])}))
        return super().invoke(name, arguments)

    def format(self, spec: str) -> str:
        moment = self.moment
        sign = "-" if self.offset < timedelta(0) else "+"
        minutes = abs(int(self.offset.total_seconds())) // 60
        zone = f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"
        if spec == "":
            hour = moment.hour % 12 or 12
            suffix = "AM" if moment.hour < 12 else "PM"
            return (
                f"{moment.month}/{moment.day}/{moment.year} "
                f"{hour}:{moment.minute:02d}:{moment.second:02d} {suffix} {zone}"
            )
        if spec in ("u", "r", "R"):
            # These print the UTC instant, whatever the offset.
            return format_datetime(moment.astimezone(UTC), spec)
        # 'o', 'K' and 'zzz' print the offset where a Local DateTime would print +00:00.
        local_text = format_datetime(moment.replace(tzinfo=LOCAL), spec)
        return local_text.replace("+00:00", zone) if zone != "+00:00" else local_text

    def __str__(self) -> str:
        # What "$offset" expands to: the invariant culture's "G" plus the offset.
        return f"{self.moment:%m/%d/%Y %H:%M:%S} {self.format('zzz')}"


_ADD_UNITS = {
    "adddays": "days",
    "addhours": "hours",
    "addminutes": "minutes",
    "addseconds": "seconds",
    "addmilliseconds": "milliseconds",
}


def _ticks(moment: datetime) -> int:
    naive = moment.replace(tzinfo=None)
    return (naive - datetime(1, 1, 1)) // timedelta(microseconds=1) * 10


def to_datetimeoffset(value: Any) -> DateTimeOffset:
    """`[datetimeoffset]$value`: from a DateTimeOffset, a DateTime or a string."""
    if isinstance(value, DateTimeOffset):
        return value
    if isinstance(value, datetime):
        return DateTimeOffset(plain_date(value))
    if isinstance(value, str):
        text = value.strip()
        stamp = text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text
        for candidate in (stamp, stamp.replace(" ", "T", 1)):
            try:
                parsed = datetime.fromisoformat(candidate)
            except ValueError:
                continue
            return DateTimeOffset(parsed if parsed.tzinfo else parsed.replace(tzinfo=LOCAL))
        try:
            return DateTimeOffset(to_datetime(text))
        except PSRuntimeError:
            pass  # reported below as a DateTimeOffset cast, as PowerShell words it
    raise runtime_error(
        f'Cannot convert value "{to_str(value)}" to type "System.DateTimeOffset". Error: '
        '"String was not recognized as a valid DateTime."',
        category="InvalidArgument",
        error_id="InvalidCastParseTargetInvocation",
    )
