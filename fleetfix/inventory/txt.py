"""Plain host lists: one host per line, `#` comments, optional `host:port`, IPv6 as `::1` or
`[::1]:5986`. What a sysadmin pastes out of a ticket or a monitoring console."""

from __future__ import annotations

import re

from fleetfix.inventory.model import Entry, Parsed, Rejection
from fleetfix.inventory.source import physical_lines
from fleetfix.inventory.validate import parse_ip, shown

_BRACKETED = re.compile(r"\[([^\]]*)\](?::(.*))?")


def parse_txt(text: str) -> Parsed:
    entries: list[Entry] = []
    rejections: list[Rejection] = []
    for number, raw in enumerate(physical_lines(text), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        outcome = _parse_line(number, line)
        if isinstance(outcome, Entry):
            entries.append(outcome)
        else:
            rejections.append(outcome)
    return Parsed(entries=tuple(entries), rejections=tuple(rejections))


def _parse_line(number: int, line: str) -> Entry | Rejection:
    if len(line.split()) > 1:
        return Rejection(
            number,
            f"expected one host per line, found {len(line.split())} words starting "
            f"{shown(line.split()[0])}; put each host on its own line",
        )
    if line.startswith("["):
        bracketed = _BRACKETED.fullmatch(line)
        if bracketed is None:
            return Rejection(number, f"{shown(line)}: write an IPv6 address and port as [::1]:5986")
        return Entry(line=number, name=bracketed.group(1), port=bracketed.group(2))
    if line.count(":") > 1:
        if parse_ip(line) is None:
            return Rejection(
                number,
                f"{shown(line)} is not a valid IPv6 address; write an address and port as "
                "[::1]:5986",
            )
        return Entry(line=number, name=line)
    name, _, port = line.partition(":")
    return Entry(line=number, name=name, port=port if ":" in line else None)
