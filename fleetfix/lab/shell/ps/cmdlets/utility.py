"""Utility cmdlets: Join-Path, Split-Path, Get-Variable, Set-StrictMode, and writing files
(Set-Content, Add-Content, Out-File), which tamper protection guards like deletion."""

from __future__ import annotations

from fleetfix.lab.machine.files import leaf_of, parent_of
from fleetfix.lab.shell.ps.cmdlets.base import Call, cmdlet
from fleetfix.lab.shell.ps.cmdlets.paths import is_registry, not_found, registry_key_path
from fleetfix.lab.shell.ps.formatting import format_as_list, format_for_console
from fleetfix.lab.shell.ps.values import ErrorRecord, Hashtable, PSObject, iterate, to_str


# Windows PowerShell 5.1's Join-Path takes one child; -AdditionalChildPath came with 6.0, so a
# third positional argument is a binding error here, as it is on 5.1.
@cmdlet("Join-Path", parameters=("Path", "ChildPath"), positional=2, switches=("Resolve",))
def join_path(call: Call) -> None:
    child = to_str(call.get("ChildPath", ""))
    for base in iterate(call.get("Path")):
        path = to_str(base).rstrip("\\/") + "\\" + child.lstrip("\\/")
        if call.switch("Resolve") and not _exists(call, path):
            call.error(not_found(path, "JoinPathCommand"))
            continue
        call.emit(path)


def _exists(call: Call, path: str) -> bool:
    if is_registry(path):
        return call.machine.registry.key(registry_key_path(path)) is not None
    return call.machine.files.get(path) is not None


@cmdlet("Split-Path", parameters=("Path",), positional=1, switches=("Leaf", "Parent", "Qualifier"))
def split_path(call: Call) -> None:
    for path in iterate(call.get("Path")):
        text = to_str(path)
        if call.switch("Leaf"):
            call.emit(leaf_of(text))
        elif call.switch("Qualifier"):
            call.emit(text[:2])
        else:
            call.emit(parent_of(text) or "")


@cmdlet("Get-Variable", parameters=("Name",), positional=1, switches=("ValueOnly",))
def get_variable(call: Call) -> None:
    for name in iterate(call.get("Name")):
        found, value = call.session.get_variable(to_str(name))
        if not found:
            call.error(
                ErrorRecord(
                    f"Cannot find a variable with the name '{to_str(name)}'.",
                    exception_type="System.Management.Automation.ItemNotFoundException",
                    category="ObjectNotFound",
                    error_id="VariableNotFound,Microsoft.PowerShell.Commands.GetVariableCommand",
                    target=to_str(name),
                )
            )
            continue
        call.emit(
            value if call.switch("ValueOnly") else PSObject({"Name": to_str(name), "Value": value})
        )


@cmdlet("Set-StrictMode", parameters=("Version",), switches=("Off",))
def set_strict_mode(call: Call) -> None:
    # Latest (3.0 in 5.1): reading an unset variable or a missing property is an error.
    call.session.strict = not call.switch("Off")


def _write(call: Call, *, append: bool) -> None:
    values = call.values("Value") if call.has("Value") else call.values("InputObject")
    text = "".join(to_str(v) + "\r\n" for v in values)
    encoding = to_str(call.get("Encoding", "")).lower()
    data = (
        text.encode("utf-16-le")
        if encoding in ("unicode", "") and call.cmdlet.name == "Out-File"
        else text.encode("utf-8")
    )
    machine = call.machine
    for path in iterate(call.get("Path", call.get("FilePath"))):
        target = to_str(path)
        if machine.is_tamper_protected(target):
            call.error(
                ErrorRecord(
                    f"Access to the path '{target}' is denied.",
                    exception_type="System.UnauthorizedAccessException",
                    category="PermissionDenied",
                    error_id="GetContentWriterUnauthorizedAccessError,Microsoft.PowerShell.Commands.SetContentCommand",
                    target=target,
                )
            )
            continue
        existing = machine.files.get(target)
        prefix = existing.data if existing is not None and append else b""
        machine.files.write_file(target, prefix + data, last_write_utc=call.session.now())


@cmdlet(
    "Set-Content",
    parameters=("Path", "Value", "Encoding"),
    positional=2,
    switches=("Force", "NoNewline"),
)
def set_content(call: Call) -> None:
    _write(call, append=False)


@cmdlet("Add-Content", parameters=("Path", "Value", "Encoding"), positional=2, switches=("Force",))
def add_content(call: Call) -> None:
    _write(call, append=True)


@cmdlet(
    "Out-File",
    parameters=("FilePath", "Encoding", "InputObject"),
    positional=1,
    switches=("Append", "Force"),
)
def out_file(call: Call) -> None:
    _write(call, append=call.switch("Append"))


@cmdlet("Format-List", parameters=("Property", "InputObject"), positional=1, aliases=("fl",))
def format_list(call: Call) -> None:
    # PowerShell emits formatting records that Out-Default renders; the lab emits the text.
    items = call.values("InputObject") if call.has("InputObject") else list(call.input)
    call.emit(format_as_list(items).rstrip("\r\n"))


@cmdlet(
    "Format-Table",
    parameters=("Property", "InputObject"),
    positional=1,
    switches=("AutoSize",),
    aliases=("ft",),
)
def format_table(call: Call) -> None:
    items = call.values("InputObject") if call.has("InputObject") else list(call.input)
    call.emit(format_for_console(items).rstrip("\r\n"))


@cmdlet("Write-Information", parameters=("MessageData", "Tags"), positional=1)
def write_information(call: Call) -> None:
    # $InformationPreference is SilentlyContinue in 5.1: nothing is shown.
    return


@cmdlet("New-Object", parameters=("TypeName", "ArgumentList", "Property"), positional=2)
def new_object(call: Call) -> None:
    type_name = to_str(call.get("TypeName", "")).lower().removeprefix("system.")
    if type_name in ("psobject", "management.automation.psobject", "pscustomobject"):
        properties = call.get("Property")
        values = (
            {to_str(k): v for k, v in properties.items()}
            if isinstance(properties, Hashtable)
            else {}
        )
        call.emit(PSObject(values))
        return
    call.fail(
        ErrorRecord(
            f"Cannot find type [{call.get('TypeName')}]: verify that the assembly containing this "
            "type is loaded.",
            category="InvalidType",
            error_id="TypeNotFound,Microsoft.PowerShell.Commands.NewObjectCommand",
        )
    )


@cmdlet(
    "Add-Member",
    parameters=(
        "InputObject",
        "MemberType",
        "Name",
        "Value",
        "NotePropertyName",
        "NotePropertyValue",
    ),
    positional=0,
    switches=("PassThru", "Force"),
)
def add_member(call: Call) -> None:
    name = to_str(call.get("NotePropertyName", call.get("Name", "")))
    value = call.get("NotePropertyValue", call.get("Value"))
    for target in call.values("InputObject"):
        if not isinstance(target, PSObject):
            call.error(
                ErrorRecord(
                    "The lab adds members to custom objects only.",
                    category="NotImplemented",
                    error_id="LabUnsupportedSyntax",
                )
            )
            continue
        if target.get(name)[0] and not call.switch("Force"):
            call.error(
                ErrorRecord(
                    f'Cannot add a member with the name "{name}" because a member with that name '
                    "already exists. To overwrite the member anyway, add the Force parameter to "
                    "your command.",
                    category="InvalidOperation",
                    error_id="MemberAlreadyExists,Microsoft.PowerShell.Commands.AddMemberCommand",
                )
            )
            continue
        target.set(name, value)
        if call.switch("PassThru"):
            call.emit(target)
