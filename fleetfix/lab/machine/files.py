"""A Windows file system as the lab needs it: case-insensitive paths, sizes, times, bytes.

Paths are stored under a folded key (lower case, backslashes, no trailing backslash) and keep
the case they were created with, because Windows preserves case but ignores it when matching.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from fleetfix.lab.machine.shortnames import is_valid_short_name, short_name


def normalize_path(path: str) -> str:
    """`c:/Windows\\\\system32\\` -> `C:\\Windows\\system32`: one separator, no trailing one."""
    text = path.replace("/", "\\")
    while "\\\\" in text:
        text = text.replace("\\\\", "\\")
    if len(text) >= 2 and text[1] == ":":
        text = text[0].upper() + text[1:]
    if len(text) > 3 and text.endswith("\\"):
        text = text[:-1]
    if len(text) == 2 and text[1] == ":":
        text += "\\"
    return text


def fold(path: str) -> str:
    return normalize_path(path).lower()


def parent_of(path: str) -> str | None:
    text = normalize_path(path)
    if len(text) <= 3:
        return None
    head, _, _ = text.rpartition("\\")
    return normalize_path(head + "\\") if len(head) == 2 else head


def leaf_of(path: str) -> str:
    return normalize_path(path).rpartition("\\")[2]


@dataclass(slots=True)
class FileEntry:
    """A file or directory. `data` is empty for directories."""

    path: str
    is_directory: bool
    last_write_utc: datetime
    data: bytes = b""
    # The 8.3 alias the folder gave it at creation (`VXDRV~1.SYS`, see shortnames.py); None
    # when the name is valid 8.3 already and so is its own.
    short_name: str | None = None

    @property
    def name(self) -> str:
        return leaf_of(self.path)

    def matches_filter(self, pattern: str) -> bool:
        """What -Filter matches, as the file system does: the name or the 8.3 alias."""
        return wildcard_match(self.name, pattern) or (
            self.short_name is not None and wildcard_match(self.short_name, pattern)
        )

    @property
    def length(self) -> int:
        return len(self.data)


class FileSystem:
    """Every path on the machine. Parents are created on demand, as `New-Item -Force` does."""

    def __init__(self) -> None:
        self._entries: dict[str, FileEntry] = {}

    def add_directory(self, path: str, *, last_write_utc: datetime) -> FileEntry:
        existing = self._entries.get(fold(path))
        if existing is not None:
            return existing
        parent = parent_of(path)
        if parent is not None:
            self.add_directory(parent, last_write_utc=last_write_utc)
        normalized = normalize_path(path)
        alias = self._new_short_name(normalized, parent)
        entry = FileEntry(normalized, True, last_write_utc, short_name=alias)
        self._entries[normalized.lower()] = entry
        return entry

    def write_file(self, path: str, data: bytes, *, last_write_utc: datetime) -> FileEntry:
        parent = parent_of(path)
        if parent is not None:
            self.add_directory(parent, last_write_utc=last_write_utc)
        normalized = normalize_path(path)
        existing = self._entries.get(normalized.lower())
        if existing is not None:  # overwritten: the file keeps its name and alias
            entry = FileEntry(existing.path, False, last_write_utc, data, existing.short_name)
        else:
            alias = self._new_short_name(normalized, parent)
            entry = FileEntry(normalized, False, last_write_utc, data, alias)
        self._entries[normalized.lower()] = entry
        return entry

    def _new_short_name(self, normalized: str, parent: str | None) -> str | None:
        """The alias a new entry at `normalized` gets: unique among its folder's names."""
        leaf = normalized.rpartition("\\")[2]
        if parent is None or is_valid_short_name(leaf):
            return None
        prefix = parent.lower().rstrip("\\") + "\\"
        taken: set[str] = set()
        for key, sibling in self._entries.items():
            if key.startswith(prefix) and "\\" not in key[len(prefix) :]:
                taken.add(sibling.name.upper())
                if sibling.short_name is not None:
                    taken.add(sibling.short_name)
        return short_name(leaf, taken)

    def get(self, path: str) -> FileEntry | None:
        return self._entries.get(fold(path))

    def exists(self, path: str) -> bool:
        return fold(path) in self._entries

    def children(self, path: str) -> list[FileEntry]:
        """Direct children of a directory, sorted by name as `dir` and Get-ChildItem list them."""
        key = fold(path)
        found = [e for k, e in self._entries.items() if (parent_of(k) or "").lower() == key]
        return sorted(found, key=lambda e: e.name.lower())

    def descendants(self, path: str) -> list[FileEntry]:
        prefix = fold(path).rstrip("\\") + "\\"
        return [e for k, e in self._entries.items() if k.startswith(prefix)]

    def remove(self, path: str) -> None:
        """Removes a file, or a directory with everything below it."""
        for entry in self.descendants(path):
            del self._entries[fold(entry.path)]
        self._entries.pop(fold(path), None)

    def glob(self, pattern: str) -> list[FileEntry]:
        """Entries whose full path matches a wildcard pattern, case-insensitively."""
        folded = fold(pattern)
        matches = [e for k, e in self._entries.items() if fnmatch.fnmatchcase(k, folded)]
        return sorted(matches, key=lambda e: e.path.lower())

    def __iter__(self) -> Iterator[FileEntry]:
        return iter(list(self._entries.values()))


def wildcard_match(name: str, pattern: str) -> bool:
    """PowerShell's -like and -Filter: `*` and `?`, case-insensitive."""
    return fnmatch.fnmatchcase(name.lower(), pattern.lower())
