"""File system cmdlets: Get-ChildItem, Get-Item, Test-Path, Remove-Item, Get-FileHash,
Get-Content, New-Item. Registry paths are handed to the registry module."""

from __future__ import annotations

import hashlib

from fleetfix.lab.machine.files import FileEntry, wildcard_match
from fleetfix.lab.shell.ps.adapters import file_object
from fleetfix.lab.shell.ps.cmdlets import registry
from fleetfix.lab.shell.ps.cmdlets.base import Call, cmdlet
from fleetfix.lab.shell.ps.cmdlets.paths import has_wildcard, is_registry, not_found
from fleetfix.lab.shell.ps.values import ErrorRecord, PSObject, iterate, to_int, to_str


def _paths(call: Call, name: str = "Path") -> list[str]:
    for key in (name, "LiteralPath"):
        if call.has(key):
            return [to_str(p) for p in iterate(call.get(key))]
    piped = [p.get("FullName")[1] if isinstance(p, PSObject) else p for p in call.input]
    return [to_str(p) for p in piped] or ["C:\\Users\\Administrator"]


def _resolve(call: Call, path: str, command: str) -> list[FileEntry]:
    if has_wildcard(path):
        return call.machine.files.glob(path)
    entry = call.machine.files.get(path)
    if entry is None:
        call.error(not_found(path, command))
        return []
    return [entry]


@cmdlet(
    "Get-ChildItem",
    parameters=("Path", "Filter", "LiteralPath", "Include", "Depth"),
    positional=2,
    switches=("File", "Directory", "Recurse", "Force", "Name"),
    aliases=("gci", "ls", "dir"),
)
def get_child_item(call: Call) -> None:
    for path in _paths(call):
        if is_registry(path):
            registry.child_keys(call, path)
            continue
        for entry in _resolve(call, path, "GetChildItemCommand"):
            listing = [entry]
            if entry.is_directory and not has_wildcard(path):
                files = call.machine.files
                listing = (
                    files.descendants(entry.path)
                    if call.switch("Recurse")
                    else files.children(entry.path)
                )
            for item in listing:
                if _keep(call, item):
                    call.emit(item.name if call.switch("Name") else file_object(item))


def _keep(call: Call, item: FileEntry) -> bool:
    if call.switch("File") and item.is_directory:
        return False
    if call.switch("Directory") and not item.is_directory:
        return False
    # -Filter is the file system's own matching: it sees 8.3 aliases too (*.sys finds
    # vxdrv.sys_old, alias VXDRV~1.SYS); -Include is PowerShell's and sees names only.
    if call.has("Filter") and not item.matches_filter(to_str(call.get("Filter"))):
        return False
    includes = [to_str(p) for p in iterate(call.get("Include"))]
    return not includes or any(wildcard_match(item.name, p) for p in includes)


@cmdlet(
    "Get-Item",
    parameters=("Path", "LiteralPath"),
    positional=1,
    switches=("Force",),
    aliases=("gi",),
)
def get_item(call: Call) -> None:
    for path in _paths(call):
        if is_registry(path):
            registry.get_key(call, path)
            continue
        for entry in _resolve(call, path, "GetItemCommand"):
            call.emit(file_object(entry))


@cmdlet(
    "Test-Path", parameters=("Path", "LiteralPath", "PathType"), positional=1, switches=("IsValid",)
)
def test_path(call: Call) -> None:
    for path in _paths(call):
        if is_registry(path):
            call.emit(registry.key_exists(call, path))
            continue
        entries = (
            call.machine.files.glob(path)
            if has_wildcard(path)
            else [e for e in [call.machine.files.get(path)] if e is not None]
        )
        kind = to_str(call.get("PathType", "Any")).lower()
        if kind == "leaf":
            entries = [e for e in entries if not e.is_directory]
        elif kind == "container":
            entries = [e for e in entries if e.is_directory]
        call.emit(bool(entries))


def _access_denied(path: str) -> ErrorRecord:
    return ErrorRecord(
        f"Cannot remove item {path}: Access to the path '{path}' is denied.",
        exception_type="System.UnauthorizedAccessException",
        category="PermissionDenied",
        error_id="RemoveFileSystemItemUnAuthorizedAccess,Microsoft.PowerShell.Commands.RemoveItemCommand",
        target=path,
    )


@cmdlet(
    "Remove-Item",
    parameters=("Path", "LiteralPath", "Filter", "Include"),
    positional=1,
    switches=("Force", "Recurse"),
    aliases=("rm", "del", "ri", "erase", "rd", "rmdir"),
)
def remove_item(call: Call) -> None:
    for path in _paths(call):
        if is_registry(path):
            registry.remove_key(call, path)
            continue
        entries = (
            call.machine.files.glob(path)
            if has_wildcard(path)
            else _resolve(call, path, "RemoveItemCommand")
        )
        for entry in entries:
            if not _keep(call, entry):
                continue
            _remove_one(call, entry)


def _remove_one(call: Call, entry: FileEntry) -> None:
    machine = call.machine
    if call.switch("WhatIf"):
        kind = "Remove Directory" if entry.is_directory else "Remove File"
        call.session.write_text(
            f'What if: Performing the operation "{kind}" on target "{entry.path}".\r\n'
        )
        return
    if entry.is_directory and machine.files.children(entry.path) and not call.switch("Recurse"):
        call.error(
            ErrorRecord(
                f"The item at {entry.path} has children and the Recurse parameter was not "
                "specified. If you continue, all children will be removed with the item.",
                category="InvalidOperation",
                error_id="DirectoryNotEmpty,Microsoft.PowerShell.Commands.RemoveItemCommand",
                target=entry.path,
            )
        )
        return
    blocked = [
        e
        for e in [entry, *machine.files.descendants(entry.path)]
        if machine.is_tamper_protected(e.path)
    ]
    if blocked:
        call.error(_access_denied(blocked[0].path))
        return
    machine.files.remove(entry.path)


def _algorithm(call: Call) -> str:
    return to_str(call.get("Algorithm", "SHA256")).upper()


@cmdlet("Get-FileHash", parameters=("Path", "Algorithm", "LiteralPath"), positional=1)
def get_file_hash(call: Call) -> None:
    algorithm = _algorithm(call)
    if algorithm not in ("SHA256", "SHA1", "MD5", "SHA384", "SHA512"):
        call.fail(
            ErrorRecord(
                "Cannot validate argument on parameter 'Algorithm'. The argument "
                f'"{algorithm}" does not belong to the set '
                '"SHA1,SHA256,SHA384,SHA512,MACTripleDES,MD5,RIPEMD160".',
                category="InvalidData",
                error_id="ParameterArgumentValidationError,Get-FileHash",
            )
        )
    for path in _paths(call):
        for entry in _resolve(call, path, "GetFileHashCommand"):
            if entry.is_directory:
                continue
            digest = hashlib.new(algorithm.lower(), entry.data).hexdigest().upper()
            call.emit(
                PSObject(
                    {"Algorithm": algorithm, "Hash": digest, "Path": entry.path},
                    type_name="Microsoft.PowerShell.Commands.FileHashInfo",
                )
            )


@cmdlet(
    "Get-Content",
    parameters=("Path", "Encoding", "TotalCount", "Tail", "LiteralPath", "ReadCount"),
    positional=1,
    switches=("Raw",),
    aliases=("gc", "cat", "type"),
)
def get_content(call: Call) -> None:
    # Windows PowerShell 5.1 has no -AsByteStream (that is PowerShell 6+): binding rejects it.
    encoding = to_str(call.get("Encoding", "Default")).lower()
    for path in _paths(call):
        for entry in _resolve(call, path, "GetContentCommand"):
            if entry.is_directory:
                call.error(
                    ErrorRecord(
                        f"Unable to get content because it is a directory: '{entry.path}'. "
                        "Please use 'Get-ChildItem' instead.",
                        category="ObjectNotFound",
                        error_id="GetContainerContentException,Microsoft.PowerShell.Commands.GetContentCommand",
                    )
                )
                continue
            if encoding == "byte":
                data = list(entry.data)
                if call.has("TotalCount"):
                    data = data[: to_int(call.get("TotalCount"))]
                call.emit_all(data)
                continue
            text = _decode(entry.data, encoding)
            if call.switch("Raw"):
                call.emit(text)
                continue
            lines = text.replace("\r\n", "\n").split("\n")
            if lines and lines[-1] == "":
                lines.pop()
            if call.has("TotalCount"):
                lines = lines[: to_int(call.get("TotalCount"))]
            if call.has("Tail"):
                lines = lines[-to_int(call.get("Tail")) :]
            call.emit_all(lines)


def _decode(data: bytes, encoding: str) -> str:
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8", "replace")
    if data.startswith(b"\xff\xfe"):
        return data[2:].decode("utf-16-le", "replace")
    codec = {"utf8": "utf-8", "unicode": "utf-16-le", "ascii": "ascii"}.get(encoding, "cp1252")
    return data.decode(codec, "replace")


@cmdlet(
    "New-Item",
    parameters=("Path", "Name", "ItemType", "Value"),
    positional=1,
    switches=("Force",),
    aliases=("ni",),
)
def new_item(call: Call) -> None:
    for path in _paths(call):
        if call.has("Name"):
            path = path.rstrip("\\") + "\\" + to_str(call.get("Name"))
        if is_registry(path):
            registry.new_key(call, path)
            continue
        files = call.machine.files
        if files.exists(path) and not call.switch("Force"):
            call.error(
                ErrorRecord(
                    f"The file '{path}' already exists.",
                    category="ResourceExists",
                    error_id="NewItemIOError,Microsoft.PowerShell.Commands.NewItemCommand",
                )
            )
            continue
        now = call.machine.now()
        if to_str(call.get("ItemType", "File")).lower() == "directory":
            entry = files.add_directory(path, last_write_utc=now)
        else:
            entry = files.write_file(
                path, to_str(call.get("Value", "")).encode("utf-8"), last_write_utc=now
            )
        call.emit(file_object(entry))
