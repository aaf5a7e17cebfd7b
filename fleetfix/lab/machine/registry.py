"""A registry subset: keys by path (case-insensitive), values with their kinds."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class RegistryValueKind(enum.StrEnum):
    STRING = "String"
    EXPAND_STRING = "ExpandString"
    DWORD = "DWord"
    QWORD = "QWord"
    MULTI_STRING = "MultiString"
    BINARY = "Binary"


RegistryData = str | int | bytes | list[str]


@dataclass(slots=True)
class RegistryValue:
    name: str  # "" is the key's (Default) value
    data: RegistryData
    kind: RegistryValueKind = RegistryValueKind.STRING


@dataclass(slots=True)
class RegistryKey:
    path: str  # e.g. HKLM\SYSTEM\CurrentControlSet\Control\SafeBoot
    values: dict[str, RegistryValue] = field(default_factory=dict)

    def value(self, name: str) -> RegistryValue | None:
        return self.values.get(_value_key(name))

    def set_value(self, value: RegistryValue) -> None:
        self.values[_value_key(value.name)] = value

    def delete_value(self, name: str) -> bool:
        """Removes a value; False when the key had no value of that name."""
        return self.values.pop(_value_key(name), None) is not None


def _value_key(name: str) -> str:
    return "" if name.lower() == "(default)" else name.lower()


_HIVE_ALIASES = {
    "hkey_local_machine": "HKLM",
    "hklm:": "HKLM",
    "hklm": "HKLM",
    "hkey_current_user": "HKCU",
    "hkcu:": "HKCU",
    "hkcu": "HKCU",
}


def normalize_key_path(path: str) -> str:
    """`HKLM:\\SYSTEM\\...`, `Registry::HKEY_LOCAL_MACHINE\\SYSTEM` -> `HKLM\\SYSTEM\\...`."""
    text = path.replace("/", "\\")
    if text.lower().startswith("registry::"):
        text = text[len("registry::") :]
    hive, _, rest = text.partition("\\")
    hive = _HIVE_ALIASES.get(hive.lower(), hive.upper())
    parts = [p for p in rest.split("\\") if p]
    return "\\".join([hive, *parts])


class Registry:
    def __init__(self) -> None:
        self._keys: dict[str, RegistryKey] = {}

    def key(self, path: str) -> RegistryKey | None:
        return self._keys.get(normalize_key_path(path).lower())

    def create_key(self, path: str) -> RegistryKey:
        normalized = normalize_key_path(path)
        existing = self._keys.get(normalized.lower())
        if existing is not None:
            return existing
        parts = normalized.split("\\")
        for depth in range(1, len(parts) + 1):
            partial = "\\".join(parts[:depth])
            if partial.lower() not in self._keys:
                self._keys[partial.lower()] = RegistryKey(partial)
        return self._keys[normalized.lower()]

    def set_value(
        self,
        path: str,
        name: str,
        data: RegistryData,
        *,
        kind: RegistryValueKind = RegistryValueKind.STRING,
    ) -> None:
        self.create_key(path).set_value(RegistryValue(name, data, kind))

    def subkeys(self, path: str) -> list[RegistryKey]:
        prefix = normalize_key_path(path).lower() + "\\"
        found = [
            k
            for p, k in self._keys.items()
            if p.startswith(prefix) and "\\" not in p[len(prefix) :]
        ]
        return sorted(found, key=lambda k: k.path.lower())

    def delete_key(self, path: str) -> None:
        key = normalize_key_path(path).lower()
        for candidate in list(self._keys):
            if candidate == key or candidate.startswith(key + "\\"):
                del self._keys[candidate]
