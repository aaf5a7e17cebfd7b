"""Pipeline cmdlets: ForEach-Object, Where-Object, Select-Object, Sort-Object, Measure-Object."""

from __future__ import annotations

from functools import cmp_to_key
from typing import Any

from fleetfix.lab.shell.ps.cmdlets.base import Call, cmdlet
from fleetfix.lab.shell.ps.members import call_method, get_member
from fleetfix.lab.shell.ps.operators import compare
from fleetfix.lab.shell.ps.values import (
    Hashtable,
    PSObject,
    ScriptBlock,
    compare_key,
    iterate,
    runtime_error,
    to_bool,
    to_int,
    to_number,
    to_str,
)


@cmdlet(
    "ForEach-Object",
    parameters=("Process", "MemberName", "InputObject", "Begin", "End"),
    positional=1,
    rest="ArgumentList",
    aliases=("foreach", "%"),
)
def foreach_object(call: Call) -> None:
    action = call.get("Process")
    items = call.values("InputObject") if call.has("InputObject") else call.input
    if isinstance(action, list):
        action = action[0]
    if call.has("Begin"):
        call.emit_all(call.interp.invoke_block(call.get("Begin")))
    for item in items:
        if isinstance(action, ScriptBlock):
            call.emit_all(call.interp.invoke_block(action, dollar_underscore=item))
        elif action is not None:
            member = to_str(action)
            arguments = list(iterate(call.get("ArgumentList")))
            value = get_member(item, member)
            call.emit_all(value if value is not None or arguments == [] else None)
            if value is None and arguments:
                call.emit(call_method(item, member, arguments))
    if call.has("End"):
        call.emit_all(call.interp.invoke_block(call.get("End")))


@cmdlet(
    "Where-Object",
    parameters=("FilterScript", "Value", "InputObject"),
    positional=2,
    switches=("EQ", "NE", "GT", "LT", "GE", "LE", "Like", "NotLike", "Match", "Contains"),
    aliases=("where", "?"),
)
def where_object(call: Call) -> None:
    condition = call.get("FilterScript")
    operator = next((s for s in call.cmdlet.switches if call.switch(s)), "EQ")
    items = call.values("InputObject") if call.has("InputObject") else call.input
    for item in items:
        if isinstance(condition, ScriptBlock):
            keep = to_bool(call.interp.invoke_block(condition, dollar_underscore=item))
        else:
            value = get_member(item, to_str(condition))
            keep = (
                to_bool(compare(f"-{operator}", value, call.get("Value")))
                if call.has("Value")
                else to_bool(value)
            )
        if keep:
            call.emit(item)


def _entry(selector: Hashtable, key: str) -> Any:
    """A calculated property's key, which PowerShell lets you shorten (`n`, `e`, `l`)."""
    for given, value in selector.items():
        if key.lower().startswith(to_str(given).lower()):
            return value
    return None


def _property_value(call: Call, item: Any, selector: Any) -> tuple[str, Any]:
    if isinstance(selector, Hashtable):
        name = to_str(_entry(selector, "Name") or _entry(selector, "Label"))
        expression = _entry(selector, "Expression")
        if isinstance(expression, ScriptBlock):
            values = call.interp.invoke_block(expression, dollar_underscore=item)
            return name, values[0] if len(values) == 1 else (values or None)
        return name, get_member(item, to_str(expression))
    name = to_str(selector)
    if isinstance(item, PSObject):
        for key, value in item.items():
            if key.lower() == name.lower():
                return key, value
    return name, get_member(item, name)


@cmdlet(
    "Select-Object",
    parameters=("Property", "First", "Last", "Skip", "ExpandProperty", "InputObject"),
    positional=1,
    switches=("Unique",),
    aliases=("select",),
)
def select_object(call: Call) -> None:
    items = call.values("InputObject") if call.has("InputObject") else list(call.input)
    if call.has("Skip"):
        items = items[to_int(call.get("Skip")) :]
    if call.has("First"):
        items = items[: to_int(call.get("First"))]
    if call.has("Last"):
        count = to_int(call.get("Last"))
        items = items[-count:] if count else []
    for item in items:
        if call.has("ExpandProperty"):
            name = to_str(call.get("ExpandProperty"))
            value = get_member(item, name)
            if value is None and not _has_property(item, name):
                call.error(
                    runtime_error(
                        f'Property "{name}" cannot be found.',
                        category="InvalidArgument",
                        error_id="ExpandPropertyNotFound,Microsoft.PowerShell.Commands.SelectObjectCommand",
                    ).record
                )
                continue
            call.emit_all(value)
        elif call.has("Property"):
            selected = [_property_value(call, item, s) for s in iterate(call.get("Property"))]
            expanded: list[tuple[str, Any]] = []
            for name, value in selected:
                if "*" in name:
                    expanded.extend(_wildcard_properties(item, name))
                else:
                    expanded.append((name, value))
            call.emit(PSObject(dict(expanded), type_name="Selected." + _type(item)))
        else:
            call.emit(item)


def _has_property(item: Any, name: str) -> bool:
    if isinstance(item, PSObject):
        return item.get(name)[0]
    return get_member(item, name) is not None


def _wildcard_properties(item: Any, pattern: str) -> list[tuple[str, Any]]:
    from fleetfix.lab.machine.files import wildcard_match

    if isinstance(item, PSObject):
        return [(k, v) for k, v in item.items() if wildcard_match(k, pattern)]
    return []


def _type(item: Any) -> str:
    return item.type_name if isinstance(item, PSObject) else "System.Object"


@cmdlet(
    "Sort-Object",
    parameters=("Property", "InputObject"),
    positional=1,
    switches=("Descending", "Unique"),
    aliases=("sort",),
)
def sort_object(call: Call) -> None:
    items = call.values("InputObject") if call.has("InputObject") else list(call.input)
    selectors = list(iterate(call.get("Property"))) if call.has("Property") else []

    def key_of(item: Any) -> list[Any]:
        if not selectors:
            return [item]
        return [_property_value(call, item, s)[1] for s in selectors]

    def ordering(a: Any, b: Any) -> int:
        for left, right in zip(key_of(a), key_of(b), strict=True):
            if left is None or right is None:
                if left is right:
                    continue
                return -1 if left is None else 1
            x, y = compare_key(left, right)
            if x != y:
                return -1 if x < y else 1
        return 0

    ordered = sorted(items, key=cmp_to_key(ordering), reverse=call.switch("Descending"))
    if call.switch("Unique"):
        unique: list[Any] = []
        for item in ordered:
            if not unique or ordering(unique[-1], item) != 0:
                unique.append(item)
        ordered = unique
    call.emit_all(ordered)


@cmdlet(
    "Measure-Object",
    parameters=("Property", "InputObject"),
    positional=1,
    switches=("Sum", "Average", "Maximum", "Minimum"),
    aliases=("measure",),
)
def measure_object(call: Call) -> None:
    items = call.values("InputObject") if call.has("InputObject") else list(call.input)
    name = to_str(call.get("Property")) if call.has("Property") else None
    values = [get_member(i, name) if name else i for i in items]
    numbers = (
        [to_number(v) for v in values if v is not None]
        if any(call.switch(s) for s in ("Sum", "Average", "Maximum", "Minimum"))
        else []
    )
    call.emit(
        PSObject(
            {
                "Count": len(items),
                "Average": (sum(numbers) / len(numbers))
                if call.switch("Average") and numbers
                else None,
                "Sum": sum(numbers) if call.switch("Sum") else None,
                "Maximum": max(numbers) if call.switch("Maximum") and numbers else None,
                "Minimum": min(numbers) if call.switch("Minimum") and numbers else None,
                "Property": name,
            },
            type_name="Microsoft.PowerShell.Commands.GenericMeasureInfo",
        )
    )
