"""Path handling shared by the item cmdlets: file system vs registry, wildcards, errors."""

from __future__ import annotations

from fleetfix.lab.machine.registry import normalize_key_path
from fleetfix.lab.shell.ps.values import ErrorRecord

_REGISTRY_PREFIXES = ("hklm:", "hkcu:", "registry::", "microsoft.powershell.core\\registry::")


def is_registry(path: str) -> bool:
    return path.lower().startswith(_REGISTRY_PREFIXES)


def registry_key_path(path: str) -> str:
    text = path
    if text.lower().startswith("microsoft.powershell.core\\registry::"):
        text = text[len("microsoft.powershell.core\\") :]
    return normalize_key_path(text)


def has_wildcard(path: str) -> bool:
    return any(c in path for c in "*?")


def not_found(path: str, command: str) -> ErrorRecord:
    return ErrorRecord(
        f"Cannot find path '{path}' because it does not exist.",
        exception_type="System.Management.Automation.ItemNotFoundException",
        category="ObjectNotFound",
        error_id=f"PathNotFound,Microsoft.PowerShell.Commands.{command}",
        target=path,
    )


def long_hive(key_path: str) -> str:
    """`HKLM\\SYSTEM` -> `HKEY_LOCAL_MACHINE\\SYSTEM`, as registry errors print it."""
    hive, _, rest = key_path.partition("\\")
    full = {"HKLM": "HKEY_LOCAL_MACHINE", "HKCU": "HKEY_CURRENT_USER"}.get(hive, hive)
    return f"{full}\\{rest}" if rest else full
