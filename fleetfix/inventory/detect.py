"""Choosing a format when the user did not: by extension first, then by looking at the text.

Excel's "Unicode text" export is tab-separated but saved as .txt, so a .txt whose first line is
a header with a host column is read as CSV.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

from fleetfix.inventory.ansible_ini import SECTION
from fleetfix.inventory.csvfile import (
    ADDRESS_ALIASES,
    NAME_ALIASES,
    has_host_column,
    normalise_header,
    sniff_delimiter,
)
from fleetfix.inventory.source import physical_lines
from fleetfix.inventory.validate import parse_ip

_BY_EXTENSION = {
    ".csv": "csv",
    ".tsv": "csv",
    ".ini": "ansible-ini",
    ".yml": "ansible-yaml",
    ".yaml": "ansible-yaml",
}
_YAML_START = re.compile(r"---|%YAML|[\w.-]+:\s*(#.*)?")
_KEY_VALUE = re.compile(r"\S+\s+\w+=")


def detect_format(path: Path, text: str) -> str:
    by_extension = _BY_EXTENSION.get(path.suffix.lower())
    if by_extension is not None:
        return by_extension
    first = _first_meaningful_line(text)
    if _is_csv_header(first):
        return "csv"
    if path.suffix.lower() == ".txt":
        return "txt"
    return _by_content(first)


def _first_meaningful_line(text: str) -> str:
    for line in physical_lines(text):
        stripped = line.strip()
        if stripped and stripped[0] not in "#;":
            return stripped
    return ""


def _is_csv_header(line: str) -> bool:
    delimiter = sniff_delimiter(line)
    if delimiter not in line:
        # A one-column export ("Hostname" and names below it): its header is not a host.
        return normalise_header(line) in NAME_ALIASES + ADDRESS_ALIASES
    try:
        header = next(csv.reader([line], delimiter=delimiter))
    except (csv.Error, StopIteration):
        return False
    return has_host_column(header)


def _by_content(first: str) -> str:
    section = SECTION.fullmatch(first)
    if section is not None and parse_ip(section.group(1)) is None:
        return "ansible-ini"
    if _KEY_VALUE.match(first):
        return "ansible-ini"
    if _YAML_START.fullmatch(first) and parse_ip(first.split("#")[0].strip()) is None:
        return "ansible-yaml"
    return "txt"
