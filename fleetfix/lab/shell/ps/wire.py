"""The lab's PowerShell values to and from psrpcore's, for PSRP: a service comes out as a
`System.ServiceProcess.ServiceController` with its properties, an enum as an Int32 that
prints as its name, a hashtable as a dict, an error record as its message."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import psrpcore.types as ps

from fleetfix.lab.shell.ps.values import (
    ErrorRecord,
    Hashtable,
    NetObject,
    PSEnum,
    PSObject,
    ScriptBlock,
    plain_date,
    to_str,
)

_CUSTOM = "System.Management.Automation.PSCustomObject"


def to_wire(value: Any) -> Any:
    """A value psrpcore can serialise, keeping .NET type names and ToString() text."""
    if isinstance(value, datetime):
        return plain_date(value)
    if value is None or isinstance(value, bool | int | float | str | bytes):
        return value
    if isinstance(value, list | tuple):
        return [to_wire(v) for v in value]
    if isinstance(value, Hashtable):
        return {to_wire(k): to_wire(v) for k, v in value.items()}
    if isinstance(value, PSEnum):
        number = ps.PSInt(value.value)
        number.PSObject.type_names[:0] = [value.type_name, "System.Enum", "System.ValueType"]
        number.PSObject.to_string = value.name
        return number
    if isinstance(value, PSObject):
        return _object(value)
    if isinstance(value, ErrorRecord | NetObject | ScriptBlock):
        return to_str(value)
    return to_str(value)


def _object(value: PSObject) -> ps.PSObject:
    if value.type_name == _CUSTOM:
        return ps.PSCustomObject(**{k: to_wire(v) for k, v in value.items()})
    wire = ps.PSObject()
    wire.PSObject.type_names[:0] = [value.type_name]
    for name, item in value.items():
        ps.add_note_property(wire, name, to_wire(item))
    wire.PSObject.to_string = value.to_string()
    return wire


def from_wire(value: Any) -> Any:
    """What a PSRP client sent (psrpcore values, dicts, tuples) in the lab's terms."""
    if isinstance(value, Mapping):
        return Hashtable({from_wire(k): from_wire(v) for k, v in value.items()})
    if isinstance(value, tuple | list):
        return [from_wire(v) for v in value]
    if isinstance(value, ps.PSObject) and not isinstance(
        value, str | int | float | bytes | datetime
    ):
        properties = [*value.PSObject.adapted_properties, *value.PSObject.extended_properties]
        return PSObject({p.name: from_wire(p.get_value(value)) for p in properties})
    # psrpcore's numbers and strings subclass Python's but not their arithmetic: an Int32
    # plus a float is an error there (Start-Sleep -Seconds 10 over PSRP).
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        return str(value)
    return value
