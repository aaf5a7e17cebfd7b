"""Recovery keys exported beforehand into a CSV (`KeyID,RecoveryKey`, optional host column).

This is the file CrowdStrike's recovery ISO reads, and what sites that exported their keys
before the incident hold. Header names are matched case-insensitively; a host column may be
called `Host`, `ComputerName`, `DeviceName` or `Hostname` (the names AD and Intune exports use).
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from fleetfix.credentials import Secret
from fleetfix.keys.errors import KeyLookupError, KeyProviderError
from fleetfix.keys.model import KeyId, KeyIdPrefix, RecoveryKeyInfo

_KEY_ID = "keyid"
_RECOVERY_KEY = "recoverykey"
_HOST_COLUMNS = ("host", "computername", "devicename", "hostname")


@dataclass(frozen=True, slots=True)
class _Row:
    info: RecoveryKeyInfo
    password: Secret


class EscrowCsvProvider:
    """Reads the CSV once on open; keys stay in memory as Secrets, never in a repr."""

    def __init__(self, path: Path, *, name: str = "escrow") -> None:
        self._name = name
        self._rows = _load(path, provider=name)

    @property
    def name(self) -> str:
        return self._name

    def find(self, prefix: KeyIdPrefix | None, *, host: str | None = None) -> list[RecoveryKeyInfo]:
        if prefix is None:
            # Listing a host's keys needs a host column: a bare key cannot be attributed.
            return [row.info for row in self._rows if _is_host(row.info.host, host)]
        return [
            row.info
            for row in self._rows
            if prefix.matches(row.info.key_id) and _same_host(row.info.host, host)
        ]

    def read(self, info: RecoveryKeyInfo) -> Secret:
        for row in self._rows:
            if row.info == info:
                return row.password
        raise KeyProviderError(f"{self._name}: key ID {info.key_id} is not in the escrow file")

    def close(self) -> None:
        self._rows = []


def _same_host(row_host: str | None, wanted: str | None) -> bool:
    # A row without a host column cannot be ruled out: the key ID alone decides then.
    if wanted is None or row_host is None:
        return True
    return row_host.casefold() == wanted.casefold()


def _is_host(row_host: str | None, wanted: str | None) -> bool:
    return row_host is not None and wanted is not None and row_host.casefold() == wanted.casefold()


def _load(path: Path, *, provider: str) -> list[_Row]:
    try:
        # utf-8-sig: Excel and PowerShell's Export-Csv put a byte order mark first.
        with path.open(newline="", encoding="utf-8-sig") as handle:
            return _parse(csv.reader(handle), path=path, provider=provider)
    except OSError as exc:
        raise KeyProviderError(f"{provider}: cannot read {path}: {exc.strerror}") from None
    except (csv.Error, UnicodeDecodeError) as exc:
        # Never chain the original: its message may quote a line holding a key.
        raise KeyProviderError(
            f"{provider}: {path} is not a readable CSV ({type(exc).__name__})"
        ) from None


def _parse(lines: Iterator[list[str]], *, path: Path, provider: str) -> list[_Row]:
    header = [column.strip().casefold() for column in next(lines, [])]
    if _KEY_ID not in header or _RECOVERY_KEY not in header:
        raise KeyProviderError(
            f"{provider}: {path} needs the columns KeyID and RecoveryKey (the recovery ISO's "
            "format); found " + (", ".join(header) or "no header")
        )
    key_col, password_col = header.index(_KEY_ID), header.index(_RECOVERY_KEY)
    host_col = next((header.index(c) for c in _HOST_COLUMNS if c in header), None)
    rows: list[_Row] = []
    for line_number, fields in enumerate(lines, start=2):
        if not any(field.strip() for field in fields):
            continue
        if len(fields) <= max(key_col, password_col):
            raise KeyProviderError(f"{provider}: {path} line {line_number}: missing columns")
        try:
            key_id = KeyId.parse(fields[key_col])
        except KeyLookupError:
            # Not chained and not quoted: a shifted column could put a key in the message.
            raise KeyProviderError(
                f"{provider}: {path} line {line_number}: the KeyID column is not a key ID"
            ) from None
        host = fields[host_col].strip() or None if host_col is not None else None
        info = RecoveryKeyInfo(key_id, provider, host=host, locator=f"{path.name}:{line_number}")
        rows.append(_Row(info, Secret(fields[password_col].strip())))
    return rows
