"""The values an inventory import hands back, and the raw entries the parsers hand to validation.

Parsers never build a `Host` themselves: they report what the file says (an `Entry`, still raw
text) and one validation step turns entries into hosts, so every format gets the same rules and
the same error messages.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from fleetfix.models import Host, Transport


@dataclass(frozen=True, slots=True)
class Problem:
    """Something wrong (or worth a warning) at one place in an inventory file."""

    path: Path
    line: int | None
    message: str

    def __str__(self) -> str:
        where = str(self.path) if self.line is None else f"{self.path}:{self.line}"
        return f"{where}: {self.message}"


@dataclass(frozen=True, slots=True)
class Inventory:
    """An imported host list. `rejected` is only ever non-empty with skip_invalid."""

    hosts: tuple[Host, ...]
    rejected: tuple[Problem, ...]
    warnings: tuple[Problem, ...]
    path: Path
    fmt: str


@dataclass(frozen=True, slots=True)
class Entry:
    """One host as a file states it, before validation. Text fields are raw and untrimmed of
    meaning: `port` may be "abc", `transport` may be "WinRM_HTTPS"."""

    line: int | None
    name: str
    address: str | None = None
    port: str | None = None
    transport: str | Transport | None = None
    tags: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Rejection:
    """A place in the file that could not become an entry at all (bad syntax, bad row)."""

    line: int | None
    message: str


@dataclass(frozen=True, slots=True)
class Parsed:
    """What a format parser returns: entries to validate, lines it rejected, and warnings."""

    entries: tuple[Entry, ...]
    rejections: tuple[Rejection, ...] = ()
    warnings: tuple[Rejection, ...] = field(default_factory=tuple)


class FileRefused(Exception):  # noqa: N818 - a signal from parser to loader, not an error type users see
    """Raised by a parser when the file as a whole cannot be read as its format; the loader
    turns it into an InventoryError naming the file."""

    def __init__(self, line: int | None, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message
