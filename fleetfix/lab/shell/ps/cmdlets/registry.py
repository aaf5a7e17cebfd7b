"""Registry cmdlets (HKLM: paths): Get-ItemProperty, New-ItemProperty, Set-ItemProperty,
Remove-ItemProperty, and the registry side of Get-Item, Get-ChildItem, Test-Path, New-Item,
Remove-Item."""

from __future__ import annotations

from typing import Any

from fleetfix.lab.machine.files import wildcard_match
from fleetfix.lab.machine.registry import RegistryKey, RegistryValueKind
from fleetfix.lab.shell.ps.cmdlets.base import Call, cmdlet
from fleetfix.lab.shell.ps.cmdlets.paths import long_hive, not_found, registry_key_path
from fleetfix.lab.shell.ps.values import ErrorRecord, PSObject, iterate, to_int, to_str

_KINDS = {kind.value.lower(): kind for kind in RegistryValueKind}


def _ps_path(key: RegistryKey) -> str:
    return "Microsoft.PowerShell.Core\\Registry::" + long_hive(key.path)


def _key_object(key: RegistryKey) -> PSObject:
    return PSObject(
        {
            "Name": long_hive(key.path),
            "PSChildName": key.path.rpartition("\\")[2],
            "PSPath": _ps_path(key),
            "Property": [v.name or "(default)" for v in key.values.values()],
            "ValueCount": len(key.values),
        },
        type_name="Microsoft.Win32.RegistryKey",
        text=long_hive(key.path),
    )


def _key(call: Call, path: str, command: str) -> RegistryKey | None:
    key = call.machine.registry.key(registry_key_path(path))
    if key is None:
        call.error(not_found(path, command))
    return key


def get_key(call: Call, path: str) -> None:
    key = _key(call, path, "GetItemCommand")
    if key is not None:
        call.emit(_key_object(key))


def child_keys(call: Call, path: str) -> None:
    key = _key(call, path, "GetChildItemCommand")
    if key is not None:
        call.emit_all([_key_object(k) for k in call.machine.registry.subkeys(key.path)])


def key_exists(call: Call, path: str) -> bool:
    return call.machine.registry.key(registry_key_path(path)) is not None


def new_key(call: Call, path: str) -> None:
    registry = call.machine.registry
    normalized = registry_key_path(path)
    if registry.key(normalized) is not None and not call.switch("Force"):
        call.error(
            ErrorRecord(
                "A key at this path already exists.",
                category="ResourceExists",
                error_id="System.IO.IOException,Microsoft.PowerShell.Commands.NewItemCommand",
            )
        )
        return
    parent = normalized.rpartition("\\")[0]
    if registry.key(parent) is None and not call.switch("Force"):
        call.error(not_found(path.rpartition("\\")[0], "NewItemCommand"))
        return
    key = registry.create_key(normalized)
    if call.has("Value"):
        registry.set_value(normalized, "", to_str(call.get("Value")))
    call.emit(_key_object(key))


def remove_key(call: Call, path: str) -> None:
    key = _key(call, path, "RemoveItemCommand")
    if key is not None:
        call.machine.registry.delete_key(key.path)


def _paths(call: Call) -> list[str]:
    return [to_str(p) for p in iterate(call.get("Path", call.get("LiteralPath")))]


@cmdlet(
    "Get-ItemProperty", parameters=("Path", "Name", "LiteralPath"), positional=2, aliases=("gp",)
)
def get_item_property(call: Call) -> None:
    names = [to_str(n) for n in iterate(call.get("Name"))]
    for path in _paths(call):
        key = _key(call, path, "GetItemPropertyCommand")
        if key is None:
            continue
        chosen: dict[str, Any] = {}
        for name in names or [v.name or "(default)" for v in key.values.values()]:
            value = key.value(name)
            if value is None:
                call.error(_missing_value(name, key, "GetItemPropertyCommand"))
                continue
            chosen[value.name or "(default)"] = value.data
        if not chosen:
            continue
        chosen.update(
            {
                "PSPath": _ps_path(key),
                "PSChildName": key.path.rpartition("\\")[2],
                "PSProvider": "Microsoft.PowerShell.Core\\Registry",
            }
        )
        call.emit(PSObject(chosen))


def _missing_value(name: str, key: RegistryKey, command: str) -> ErrorRecord:
    return ErrorRecord(
        f"Property {name} does not exist at path {long_hive(key.path)}.",
        exception_type="System.Management.Automation.PSArgumentException",
        category="InvalidArgument",
        error_id="System.Management.Automation.PSArgumentException,"
        f"Microsoft.PowerShell.Commands.{command}",
        target=name,
    )


def _given_kind(call: Call) -> RegistryValueKind | None:
    for parameter in ("PropertyType", "Type"):
        if call.has(parameter):
            return _KINDS.get(to_str(call.get(parameter)).lower(), RegistryValueKind.STRING)
    return None


def _kind_of(value: Any) -> RegistryValueKind:
    """The kind RegistryKey.SetValue picks when none is given: by the value's .NET type."""
    if isinstance(value, int) and not isinstance(value, bool):
        return RegistryValueKind.DWORD if -(2**31) <= value < 2**31 else RegistryValueKind.QWORD
    if isinstance(value, bytes):
        return RegistryValueKind.BINARY
    if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
        return RegistryValueKind.MULTI_STRING
    return RegistryValueKind.STRING


def _as_kind(value: Any, kind: RegistryValueKind) -> Any:
    """The value converted to `kind`, as the registry provider converts it (`4` and `'4'`
    are both the DWORD 4)."""
    if kind in (RegistryValueKind.DWORD, RegistryValueKind.QWORD):
        return to_int(value)
    if kind is RegistryValueKind.MULTI_STRING:
        return [to_str(v) for v in iterate(value)]
    if kind is RegistryValueKind.BINARY:
        return value if isinstance(value, bytes) else bytes(to_int(v) for v in iterate(value))
    return to_str(value)


def _set(call: Call, *, create: bool) -> None:
    """New-ItemProperty and Set-ItemProperty. With no -PropertyType / -Type, an existing
    value keeps its kind and the new data is converted to it; a new value takes the kind of
    the data's type (an integer makes a DWORD), as on Windows."""
    name = to_str(call.get("Name"))
    given = _given_kind(call)
    raw = call.get("Value")
    for path in _paths(call):
        key = _key(call, path, "NewItemPropertyCommand" if create else "SetItemPropertyCommand")
        if key is None:
            continue
        if create and key.value(name) is not None and not call.switch("Force"):
            call.error(
                ErrorRecord(
                    "The property already exists.",
                    category="ResourceExists",
                    error_id="System.IO.IOException,Microsoft.PowerShell.Commands.NewItemPropertyCommand",
                )
            )
            continue
        existing = key.value(name)
        kind = given or (existing.kind if existing is not None else _kind_of(raw))
        data = _as_kind(raw, kind)
        call.machine.registry.set_value(
            key.path, "" if name.lower() == "(default)" else name, data, kind=kind
        )
        if create or call.switch("PassThru"):
            call.emit(PSObject({name: data, "PSPath": _ps_path(key)}))


@cmdlet(
    "New-ItemProperty",
    parameters=("Path", "Name", "Value", "PropertyType", "LiteralPath"),
    positional=3,
    switches=("Force",),
)
def new_item_property(call: Call) -> None:
    _set(call, create=True)


@cmdlet(
    "Set-ItemProperty",
    parameters=("Path", "Name", "Value", "Type", "LiteralPath"),
    positional=3,
    switches=("Force", "PassThru"),
    aliases=("sp",),
)
def set_item_property(call: Call) -> None:
    _set(call, create=False)


@cmdlet(
    "Remove-ItemProperty",
    parameters=("Path", "Name", "LiteralPath"),
    positional=2,
    switches=("Force",),
    aliases=("rp",),
)
def remove_item_property(call: Call) -> None:
    # -Name takes wildcards, as on Windows; a plain name that is missing is an error.
    names = [to_str(n) for n in iterate(call.get("Name"))]
    for path in _paths(call):
        key = _key(call, path, "RemoveItemPropertyCommand")
        if key is None:
            continue
        for name in names:
            if "*" in name or "?" in name:
                matched = [v.name for v in key.values.values() if wildcard_match(v.name, name)]
                for value_name in matched:
                    key.delete_value(value_name)
            elif not key.delete_value(name):
                call.error(_missing_value(name, key, "RemoveItemPropertyCommand"))
