"""The CSV CrowdStrike's recovery ISO reads: `KeyID,RecoveryKey`, for the hosts asked for only.

The file is a bag of keys, so it is created with mode 0600 before a byte is written, holds
only the hosts the operator named (by state or by name), and every key in it has its own
audit row (purpose `export-iso-csv`). Keys that fail the checksum are left out and audited
as rejected: a wrong key on a USB stick costs a technician a trip.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from fleetfix.credentials import Secret
from fleetfix.errors import ConfigError
from fleetfix.keys.audit import KeyRead
from fleetfix.keys.errors import BadRecoveryPasswordError
from fleetfix.keys.lookup import distinct_keys, find_keys, reveal_key
from fleetfix.keys.model import RecoveryKeyInfo
from fleetfix.keys.provider import KeyProvider
from fleetfix.outfile import check_writable
from fleetfix.store import Store

ISO_HEADER = ("KeyID", "RecoveryKey")


@dataclass(frozen=True, slots=True)
class ExportSummary:
    path: Path
    keys_written: int
    hosts_written: int
    hosts_without_keys: tuple[str, ...]
    rejected_key_ids: tuple[str, ...]
    provider_errors: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class _Exported:
    info: RecoveryKeyInfo
    password: Secret


def export_iso_csv(
    store: Store,
    providers: Sequence[KeyProvider],
    hosts: Sequence[str],
    out: Path,
    *,
    actor: str,
    reason: str,
    hmac_secret: bytes,
    overwrite: bool = False,
) -> ExportSummary:
    """Write every recovery key of `hosts` to `out` (0600). Each key read is audited."""
    # Before any key is read: a key read is audited, and one read for a file that cannot be
    # written is an audit row for nothing.
    check_writable(out)
    if out.exists() and not overwrite:
        raise ConfigError(f"{out} exists; remove it or pass --force to replace it")
    exported: list[_Exported] = []
    missing: list[str] = []
    rejected: list[str] = []
    errors: list[str] = []
    for host in hosts:
        found = find_keys(providers, None, host=host)
        errors += found.provider_errors
        keys = distinct_keys(found.candidates)
        if not keys:
            missing.append(host)
        read = KeyRead(actor=actor, reason=reason, purpose="export-iso-csv", host=host)
        for info in keys:
            try:
                password = reveal_key(store, providers, info, read=read, hmac_secret=hmac_secret)
            except BadRecoveryPasswordError:
                rejected.append(info.key_id.guid)
                continue
            exported.append(_Exported(info, password))
    _write(out, exported)
    return ExportSummary(
        path=out,
        keys_written=len(exported),
        hosts_written=len({item.info.host or "" for item in exported}),
        hosts_without_keys=tuple(missing),
        rejected_key_ids=tuple(rejected),
        provider_errors=tuple(dict.fromkeys(errors)),
    )


def _write(out: Path, exported: Sequence[_Exported]) -> None:
    # The mode is set on the descriptor before writing: no moment where keys sit in a
    # world-readable file, whatever the umask or a replaced file's old mode.
    try:
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    except OSError as exc:  # the folder went away or filled up since the check
        raise ConfigError(f"cannot write {out}: {exc.strerror}") from None
    try:
        os.fchmod(fd, 0o600)
        handle = os.fdopen(fd, "w", newline="", encoding="utf-8")
    except BaseException:
        os.close(fd)
        raise
    with handle:
        writer = csv.writer(handle)
        writer.writerow(ISO_HEADER)
        for item in exported:
            writer.writerow((item.info.key_id.guid, item.password.reveal()))
