"""CSV host lists as CMDBs, Excel and EDR consoles export them.

Exports load as they come: the delimiter is sniffed from the header (Excel in Europe writes `;`,
its "Unicode text" writes tabs), headers are matched by alias whatever their case or spacing,
and every column that is not a connection field is kept as a `key=value` tag. A CrowdStrike
Falcon host export's "External IP" is the NAT address of the site, never the host's: it is kept
as a tag and never used to connect.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

from fleetfix.inventory.model import Entry, FileRefused, Parsed, Rejection
from fleetfix.inventory.tagging import (
    is_secret_name,
    looks_like_recovery_password,
    tag_key,
    tag_value,
)

# Headers compare with case, spaces, `_` and `-` removed: "Computer Name" == "computername".
# Within a role the first alias found wins; the other columns stay tags.
NAME_ALIASES = ("hostname", "host", "computername", "devicename", "name")
ADDRESS_ALIASES = ("ip", "ipaddress", "localip", "address", "fqdn")
_ROLE_ALIASES = {
    "name": NAME_ALIASES,
    "address": ADDRESS_ALIASES,
    "port": ("port",),
    "transport": ("transport",),
    "tags": ("tags",),
}
_DELIMITERS = (",", ";", "\t", "|")
_TAG_SEPARATORS = re.compile(r"[;|,]")
_HEADER_NOISE = re.compile(r"[\s_\-]+")


def normalise_header(cell: str) -> str:
    return _HEADER_NOISE.sub("", cell).lower()


@dataclass(frozen=True, slots=True)
class Columns:
    """Which column plays which part, decided once from the header."""

    roles: dict[str, int]
    tag_columns: tuple[tuple[int, str], ...]
    width: int


def sniff_delimiter(header_line: str) -> str:
    """The delimiter the header uses most; a one-column file gets `,` (any would do)."""
    counts = {delimiter: header_line.count(delimiter) for delimiter in _DELIMITERS}
    best = max(_DELIMITERS, key=lambda delimiter: counts[delimiter])
    return best if counts[best] else ","


def map_columns(header: Sequence[str]) -> tuple[Columns, list[str]]:
    """The header's roles, and the names of columns dropped because they may hold secrets."""
    normalised = [normalise_header(cell) for cell in header]
    roles: dict[str, int] = {}
    for role, aliases in _ROLE_ALIASES.items():
        for alias in aliases:
            if alias in normalised:
                roles[role] = normalised.index(alias)
                break
    used = set(roles.values())
    tag_columns: list[tuple[int, str]] = []
    dropped: list[str] = []
    for index, cell in enumerate(header):
        if index in used or not cell.strip():
            continue
        if is_secret_name(cell):
            dropped.append(cell.strip())
        else:
            tag_columns.append((index, tag_key(cell)))
    return Columns(roles, tuple(tag_columns), len(header)), dropped


def has_host_column(header: Sequence[str]) -> bool:
    columns, _ = map_columns(header)
    return "name" in columns.roles or "address" in columns.roles


def parse_csv(text: str) -> Parsed:
    stream = io.StringIO(text, newline="")
    header_line = next((line for line in stream if line.strip()), "")
    stream.seek(0)
    reader = csv.reader(stream, delimiter=sniff_delimiter(header_line), strict=True)
    records = _records(reader)
    header_at, header = next(records, (None, []))
    if header_at is None:
        return Parsed(entries=())
    columns, dropped = map_columns(header)
    if "name" not in columns.roles and "address" not in columns.roles:
        raise FileRefused(header_at, _no_host_column_message(header))
    warnings = [_dropped_column_warning(header_at, name) for name in dropped]
    entries: list[Entry] = []
    rejections: list[Rejection] = []
    for line, row in records:
        outcome = _row_entry(line, row, columns, warnings)
        if isinstance(outcome, Entry):
            entries.append(outcome)
        else:
            rejections.append(outcome)
    return Parsed(tuple(entries), tuple(rejections), tuple(warnings))


class _LineCountingReader(Protocol):
    """What csv.reader returns, named by the two parts used here."""

    @property
    def line_num(self) -> int: ...

    def __next__(self) -> list[str]: ...


def _records(reader: _LineCountingReader) -> Iterator[tuple[int, list[str]]]:
    """Non-blank records with the physical line each starts on (quoted newlines count)."""
    while True:
        start = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise FileRefused(start, _broken_quoting_message(start, exc)) from None
        if any(cell.strip() for cell in row):
            yield start, row


def _broken_quoting_message(start: int, exc: csv.Error) -> str:
    if "unexpected end of data" in str(exc):
        return f"a quoted field starting on line {start} is never closed; add the closing quote"
    if "field limit" in str(exc):
        return (
            f"a field is longer than {csv.field_size_limit():,} characters; no host list has "
            "cells that big (an unclosed quote earlier on?)"
        )
    return (
        f"broken quoting ({exc}); a field that starts with a quote must end with one, and "
        'quotes inside it are doubled ("")'
    )


def _no_host_column_message(header: Sequence[str]) -> str:
    found = ", ".join(repr(cell.strip()[:40]) for cell in header[:12] if cell.strip())
    return (
        "no column names the hosts; the header needs one of Hostname, Host, ComputerName, "
        f"Device Name, Name, IP, IP Address, Local IP, Address or FQDN (found: {found}). "
        "A list of bare host names is a txt inventory: use --format txt"
    )


def _dropped_column_warning(line: int, column: str) -> Rejection:
    return Rejection(
        line,
        f"column {column[:40]!r} is not imported: its name suggests a secret, and fleetfix "
        "never stores credentials or keys from an inventory",
    )


def _row_entry(
    line: int, row: list[str], columns: Columns, warnings: list[Rejection]
) -> Entry | Rejection:
    if len(row) > columns.width and any(cell.strip() for cell in row[columns.width :]):
        return Rejection(
            line,
            f"the row has {len(row)} fields but the header has {columns.width}; "
            "quote values that contain the delimiter",
        )

    def cell(role: str) -> str | None:
        index = columns.roles.get(role)
        value = row[index].strip() if index is not None and index < len(row) else ""
        return value or None

    name, address = cell("name"), cell("address")
    if name is None and address is None:
        return Rejection(line, "the row has no host name and no address")
    tags = _split_tags(cell("tags")) + _column_tags(line, row, columns, warnings)
    return Entry(
        line=line,
        name=name or address or "",
        address=address,
        port=cell("port"),
        transport=cell("transport"),
        tags=tags,
    )


def _split_tags(value: str | None) -> tuple[str, ...]:
    if value is None:
        return ()
    return tuple(tag for part in _TAG_SEPARATORS.split(value) if (tag := tag_value(part)))


def _column_tags(
    line: int, row: list[str], columns: Columns, warnings: list[Rejection]
) -> tuple[str, ...]:
    tags: list[str] = []
    width = len(row)
    for index, key in columns.tag_columns:
        value = row[index] if index < width else ""
        if not value or value.isspace():
            continue
        if looks_like_recovery_password(value):
            warnings.append(
                Rejection(
                    line,
                    f"column {key[:40]!r} holds a BitLocker recovery password; it was not imported",
                )
            )
            continue
        tags.append(f"{key}={tag_value(value)}")
    return tuple(tags)
