"""Type literals: casts (`[int]$x`, `[pscustomobject]@{}`) and static members
(`[Convert]::FromBase64String`, `[Text.Encoding]::UTF8.GetString`, `[IO.File]::ReadAllBytes`)."""

from __future__ import annotations

import base64
import binascii
import math
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from fleetfix.lab.shell.ps.datetimeoffset import DateTimeOffset, to_datetimeoffset
from fleetfix.lab.shell.ps.members import string_format
from fleetfix.lab.shell.ps.values import (
    LOCAL,
    Hashtable,
    NetObject,
    PSObject,
    iterate,
    runtime_error,
    to_bool,
    to_datetime,
    to_int,
    to_number,
    to_str,
)

if TYPE_CHECKING:
    from fleetfix.lab.shell.ps.session import Session

_ALIASES = {
    "int32": "int",
    "long": "int",
    "int64": "int",
    "uint32": "int",
    "byte": "int",
    "decimal": "double",
    "single": "double",
    "float": "double",
    "boolean": "bool",
    "object[]": "array",
    "text.encoding": "encoding",
    "io.file": "file",
    "io.path": "path",
    "system.io.file": "file",
    "management.automation.pscustomobject": "pscustomobject",
    "collections.hashtable": "hashtable",
    "collections.specialized.ordereddictionary": "ordered",
}


def canonical(key: str) -> str:
    return _ALIASES.get(key, key)


class TypeRef(NetObject):
    """A type literal used as a value: `[datetime]::UtcNow`, `$x -is [string]`."""

    def __init__(self, key: str, session: Session) -> None:
        self.key = canonical(key)
        self.type_name = key
        self._session = session

    def member(self, name: str) -> Any:
        table = _STATIC_PROPERTIES.get(self.key, {})
        getter = table.get(name.lower())
        if getter is None:
            return None
        return getter(self._session)

    def set_member(self, name: str, value: Any) -> bool:
        # The one settable static property scripts use: [Console]::OutputEncoding.
        if self.key == "console":
            return _set_console_member(self._session, name, value)
        return False

    def invoke(self, name: str, arguments: list[Any]) -> Any:
        method = _STATIC_METHODS.get(self.key, {}).get(name.lower())
        if method is None:
            raise runtime_error(
                f"Method invocation failed because [{self.type_name}] does not contain a method "
                f"named '{name}'.",
                category="InvalidOperation",
                error_id="MethodNotFound",
            )
        try:
            return method(self._session, *arguments)
        except TypeError as exc:
            raise runtime_error(
                f'Cannot find an overload for "{name}" and the argument count: "{len(arguments)}".',
                error_id="MethodCountCouldNotFindBest",
            ) from exc


class TextEncoding(NetObject):
    def __init__(self, codec: str, net_name: str, codepage: int) -> None:
        self.codec = codec
        self.type_name = f"System.Text.{net_name}"
        self.codepage = codepage

    def member(self, name: str) -> Any:
        return {"codepage": self.codepage, "webname": _WEB_NAMES.get(self.codec, self.codec)}.get(
            name.lower()
        )

    def invoke(self, name: str, arguments: list[Any]) -> Any:
        key = name.lower()
        if key == "getstring" and len(arguments) == 1:
            return bytes(_byte_list(arguments[0])).decode(self.codec, "replace")
        if key == "getbytes" and len(arguments) == 1:
            return to_str(arguments[0]).encode(self.codec, "replace")
        return super().invoke(name, arguments)


_WEB_NAMES = {"utf-8": "utf-8", "utf-16-le": "utf-16", "ascii": "us-ascii"}


def console_encoding(codepage: int) -> TextEncoding:
    """What [Console]::OutputEncoding gives for a console code page."""
    if codepage == 65001:
        return TextEncoding("utf-8", "UTF8Encoding", 65001)
    return TextEncoding(f"cp{codepage}", "SBCSCodePageEncoding", codepage)


def _set_console_member(session: Session, name: str, value: Any) -> bool:
    if name.lower() != "outputencoding":
        return False
    if not isinstance(value, TextEncoding):
        raise runtime_error(
            f'Exception setting "OutputEncoding": "Cannot convert the "{to_str(value)}" value '
            'of type "System.String" to type "System.Text.Encoding"."',
            error_id="ExceptionWhenSetting",
        )
    session.set_output_codepage(value.codepage)
    return True


def _byte_list(value: Any) -> list[int]:
    if isinstance(value, bytes):
        return list(value)
    return [to_int(v) & 0xFF for v in iterate(value)]


def _from_base64(_: Session, text: Any) -> bytes:
    try:
        return base64.b64decode(to_str(text), validate=True)
    except binascii.Error as exc:
        raise runtime_error(
            'Exception calling "FromBase64String" with "1" argument(s): "The input is not a '
            "valid Base-64 string as it contains a non-base 64 character, more than two padding "
            'characters, or an illegal character among the padding characters. "',
            error_id="FormatException",
        ) from exc


def _read_all_bytes(session: Session, path: Any) -> bytes:
    entry = session.machine.files.get(to_str(path))
    if entry is None or entry.is_directory:
        raise runtime_error(
            f'Exception calling "ReadAllBytes" with "1" argument(s): "Could not find file '
            f"'{to_str(path)}'.\"",
            error_id="FileNotFoundException",
        )
    return entry.data


def _round(_: Session, value: Any, digits: Any = 0) -> float:
    number = to_number(value)
    return round(number, to_int(digits))


_STATIC_PROPERTIES: dict[str, dict[str, Callable[[Session], Any]]] = {
    "datetime": {
        "utcnow": lambda s: s.now().astimezone(UTC),
        "now": lambda s: s.now().astimezone(LOCAL),
        "minvalue": lambda s: datetime(1, 1, 1, tzinfo=LOCAL),
    },
    "environment": {
        "machinename": lambda s: s.machine.hostname,
        "newline": lambda s: "\r\n",
        "username": lambda s: "Administrator",
        "osversion": lambda s: PSObject(
            {"VersionString": f"Microsoft Windows NT {s.machine.os.version}.0"},
            type_name="System.OperatingSystem",
            text=f"Microsoft Windows NT {s.machine.os.version}.0",
        ),
    },
    "encoding": {
        "utf8": lambda s: TextEncoding("utf-8", "UTF8Encoding", 65001),
        "unicode": lambda s: TextEncoding("utf-16-le", "UnicodeEncoding", 1200),
        "ascii": lambda s: TextEncoding("ascii", "ASCIIEncoding", 20127),
    },
    "console": {"outputencoding": lambda s: console_encoding(s.output_codepage)},
    "datetimeoffset": {
        "utcnow": lambda s: DateTimeOffset(s.now().astimezone(UTC)),
        "now": lambda s: DateTimeOffset(s.now().astimezone(LOCAL)),
    },
    "string": {"empty": lambda s: ""},
    "int": {"maxvalue": lambda s: 2147483647, "minvalue": lambda s: -2147483648},
}

_STATIC_METHODS: dict[str, dict[str, Callable[..., Any]]] = {
    "convert": {
        "frombase64string": _from_base64,
        "tobase64string": lambda s, data: base64.b64encode(bytes(_byte_list(data))).decode(),
        "toint32": lambda s, v, base=10: int(to_str(v), to_int(base)) if base != 10 else to_int(v),
        "tostring": lambda s, v: to_str(v),
    },
    "bitconverter": {
        "tostring": lambda s, data, start=0, count=None: "-".join(
            f"{b:02X}"
            for b in _byte_list(data)[
                to_int(start) : None if count is None else to_int(start) + to_int(count)
            ]
        ),
    },
    "file": {
        "readallbytes": _read_all_bytes,
        "readalltext": lambda s, p: _read_all_bytes(s, p).decode("utf-8-sig", "replace"),
        "exists": lambda s, p: (
            (e := s.machine.files.get(to_str(p))) is not None and not e.is_directory
        ),
    },
    "path": {
        "combine": lambda s, *parts: "\\".join(to_str(p).rstrip("\\") for p in parts),
        "getfilename": lambda s, p: to_str(p).replace("/", "\\").rpartition("\\")[2],
        "getdirectoryname": lambda s, p: to_str(p).replace("/", "\\").rpartition("\\")[0],
        "getextension": lambda s, p: "." + to_str(p).rpartition(".")[2] if "." in to_str(p) else "",
    },
    "string": {
        "isnullorempty": lambda s, v: v is None or to_str(v) == "",
        "isnullorwhitespace": lambda s, v: v is None or to_str(v).strip() == "",
        "join": lambda s, sep, *items: to_str(sep).join(
            to_str(i) for i in (iterate(items[0]) if len(items) == 1 else items)
        ),
        "format": lambda s, template, *args: string_format(template, *args),
    },
    "math": {
        "round": _round,
        "floor": lambda s, v: math.floor(to_number(v)),
        "ceiling": lambda s, v: math.ceil(to_number(v)),
        "max": lambda s, a, b: max(to_number(a), to_number(b)),
        "min": lambda s, a, b: min(to_number(a), to_number(b)),
        "abs": lambda s, v: abs(to_number(v)),
    },
    "datetime": {
        "parse": lambda s, v: to_datetime(v),
        "specifykind": lambda s, d, kind: to_datetime(d).replace(
            tzinfo=UTC if to_str(kind).lower() == "utc" else LOCAL
        ),
    },
    "environment": {
        "getenvironmentvariable": lambda s, name, *_: s.get_variable(f"env:{to_str(name)}")[1],
    },
    "net.dns": {"gethostname": lambda s: s.machine.hostname.lower()},
    "datetimeoffset": {
        "fromunixtimeseconds": lambda s, v: DateTimeOffset(
            datetime(1970, 1, 1, tzinfo=UTC) + timedelta(seconds=to_number(v))
        ),
        "parse": lambda s, v: to_datetimeoffset(to_str(v)),
    },
    "guid": {"newguid": lambda s: str(uuid.UUID(int=s.machine.rng.getrandbits(128), version=4))},
}


def cast(key: str, value: Any, session: Session) -> Any:
    """`[type]value`, failing like PowerShell for what it cannot convert."""
    kind = canonical(key)
    converter = _CASTS.get(kind)
    if converter is None:
        raise runtime_error(
            f"Unable to find type [{key}].", category="InvalidOperation", error_id="TypeNotFound"
        )
    return converter(value)


def _to_pscustomobject(value: Any) -> Any:
    if isinstance(value, Hashtable):
        return PSObject({to_str(k): v for k, v in value.items()})
    return value


def _to_hashtable(value: Any, *, ordered: bool) -> Hashtable:
    if isinstance(value, Hashtable):
        return Hashtable(dict(value.items()), ordered=ordered)
    raise runtime_error(f'Cannot convert "{to_str(value)}" to "System.Collections.Hashtable".')


_CASTS: dict[str, Callable[[Any], Any]] = {
    "int": to_int,
    "double": lambda v: float(to_number(v)),
    "string": to_str,
    "bool": to_bool,
    "switch": to_bool,
    "datetime": to_datetime,
    "datetimeoffset": to_datetimeoffset,
    "array": lambda v: list(iterate(v)),
    "byte[]": lambda v: bytes(_byte_list(v)),
    "string[]": lambda v: [to_str(x) for x in iterate(v)],
    "int[]": lambda v: [to_int(x) for x in iterate(v)],
    "pscustomobject": _to_pscustomobject,
    "psobject": lambda v: v,
    "object": lambda v: v,
    "hashtable": lambda v: _to_hashtable(v, ordered=False),
    "ordered": lambda v: _to_hashtable(v, ordered=True),
    "void": lambda v: None,
    "char": lambda v: chr(to_int(v)) if isinstance(v, int) else to_str(v)[:1],
}


def is_instance(value: Any, key: str) -> bool:
    kind = canonical(key)
    checks: dict[str, Callable[[Any], bool]] = {
        "string": lambda v: isinstance(v, str),
        "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "double": lambda v: isinstance(v, float),
        "bool": lambda v: isinstance(v, bool),
        "datetime": lambda v: isinstance(v, datetime),
        "datetimeoffset": lambda v: isinstance(v, DateTimeOffset),
        "array": lambda v: isinstance(v, list | tuple | bytes),
        "hashtable": lambda v: isinstance(v, Hashtable),
        "pscustomobject": lambda v: isinstance(v, PSObject),
        "psobject": lambda v: v is not None,
        "object": lambda v: v is not None,
        "byte[]": lambda v: isinstance(v, bytes),
    }
    check = checks.get(kind)
    if check is None:
        raise runtime_error(f"Unable to find type [{key}].", error_id="TypeNotFound")
    return check(value)
