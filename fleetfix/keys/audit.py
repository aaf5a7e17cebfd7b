"""What the incident database records about recovery keys: reads and rotations, never keys.

A key read appends a `bitlocker.key_read` audit row: who (actor), when (at), host, key ID,
provider, reason, purpose and `key_hmac`, an HMAC-SHA256 of the recovery password. The HMAC
lets an investigator holding a key confirm it is the one that was read, while the database
alone cannot be matched against keys: with a bare SHA-256, anyone holding the database and a
leaked escrow file could tell which of its keys were read; with the HMAC that takes the secret.

The HMAC secret lives OUTSIDE the database: `FLEETFIX_AUDIT_HMAC_KEY` if set (so several
jump hosts can share one), else a random 32-byte secret in `<database>.hmac-key`, created
with mode 0600 next to the database. Someone who copies the database alone gets no secret.

Rotation is derived from the same append-only log, so no separate table can disagree with
it: a host is rotation-pending from its first key read until a later `bitlocker.key_rotated`
row for that host (or that key ID, for keys whose host was unknown).
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import os
import secrets
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from fleetfix.credentials import Secret
from fleetfix.errors import ConfigError
from fleetfix.keys.model import RecoveryKeyInfo
from fleetfix.store import Reader, Store

HMAC_ENV = "FLEETFIX_AUDIT_HMAC_KEY"
KEY_READ = "bitlocker.key_read"
KEY_REJECTED = "bitlocker.key_rejected"
KEY_ROTATED = "bitlocker.key_rotated"
ROTATION_REQUESTED = "bitlocker.rotation_requested"
_MIN_ENV_SECRET = 16


def hmac_key_path(db_path: Path) -> Path:
    return db_path.with_name(db_path.name + ".hmac-key")


def load_hmac_secret(db_path: Path, *, env: Mapping[str, str] | None = None) -> bytes:
    """The per-database HMAC secret: from the environment, else the file (created once)."""
    environment = os.environ if env is None else env
    from_env = environment.get(HMAC_ENV)
    if from_env is not None:
        if len(from_env) < _MIN_ENV_SECRET:
            raise ConfigError(f"{HMAC_ENV} is too short: use at least {_MIN_ENV_SECRET} characters")
        return from_env.encode()
    return _secret_file(hmac_key_path(db_path))


def _secret_file(path: Path) -> bytes:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read_secret_file(path)
    except OSError as exc:
        raise ConfigError(f"cannot create the audit HMAC key {path}: {exc.strerror}") from None
    with os.fdopen(fd, "w") as handle:
        handle.write(secrets.token_hex(32))
    return _read_secret_file(path)


def _read_secret_file(path: Path) -> bytes:
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(
            f"{path} is readable by others (mode {stat.filemode(mode)}); "
            f"run `chmod 600 {path}` and check who copied it"
        )
    secret = path.read_text(encoding="ascii").strip()
    if len(secret) < _MIN_ENV_SECRET:
        raise ConfigError(f"{path} does not hold an HMAC key (empty or truncated)")
    return secret.encode()


def key_hmac(hmac_secret: bytes, password: Secret) -> str:
    digest = hmac.new(hmac_secret, password.reveal().encode(), hashlib.sha256).hexdigest()
    return f"hmac-sha256:{digest}"


@dataclass(frozen=True, slots=True)
class KeyRead:
    """Why a key is being read and by whom; becomes one audit row per key."""

    actor: str
    reason: str
    purpose: str  # "lookup" or "export-iso-csv"
    host: str | None = None  # the operator's --host, used when the provider knows none


def record_key_read(
    store: Store, info: RecoveryKeyInfo, password: Secret, *, read: KeyRead, hmac_secret: bytes
) -> int:
    details = {
        "key_id": info.key_id.guid,
        "provider": info.provider,
        "reason": read.reason,
        "purpose": read.purpose,
        "key_hmac": key_hmac(hmac_secret, password),
    }
    return store.audit(KEY_READ, actor=read.actor, host=info.host or read.host, details=details)


def record_key_rejected(store: Store, info: RecoveryKeyInfo, *, read: KeyRead) -> int:
    details = {
        "key_id": info.key_id.guid,
        "provider": info.provider,
        "reason": read.reason,
        "problem": "not a valid recovery password (format or checksum)",
    }
    return store.audit(KEY_REJECTED, actor=read.actor, host=info.host or read.host, details=details)


def record_rotated(
    store: Store, *, actor: str, host: str | None, key_id: str | None = None, note: str = ""
) -> int:
    details: dict[str, object] = {"note": note}
    if key_id is not None:
        details["key_id"] = key_id
    return store.audit(KEY_ROTATED, actor=actor, host=host, details=details)


def record_rotation_requested(
    store: Store, *, actor: str, host: str, provider: str, request: str
) -> int:
    """Intune was asked to rotate: the host stays pending until the rotation is confirmed."""
    details = {"provider": provider, "request": request}
    return store.audit(ROTATION_REQUESTED, actor=actor, host=host, details=details)


@dataclass(frozen=True, slots=True)
class PendingRotation:
    """A host (or, when its host is unknown, a key) whose key was read and not yet rotated."""

    host: str | None
    key_ids: tuple[str, ...]
    first_read: datetime
    last_read: datetime
    readers: tuple[str, ...]
    # When rotation was last requested through Intune after the read, if it was.
    rotation_requested: datetime | None = None


def pending_rotations(reader: Reader) -> list[PendingRotation]:
    """Hosts still to rotate, in order of their first unrotated read."""
    open_reads: dict[str, list[tuple[datetime, str | None, str, str]]] = {}
    requested: dict[str, datetime] = {}
    for row in reader.audit_log():
        key_id = str(row.details.get("key_id", ""))
        subject = _subject(row.host, key_id)
        if row.event == KEY_READ:
            open_reads.setdefault(subject, []).append((row.at, row.host, key_id, row.actor))
            requested.pop(subject, None)  # read again since: that key wants its own rotation
        elif row.event == ROTATION_REQUESTED and subject in open_reads:
            requested[subject] = row.at
        elif row.event == KEY_ROTATED:
            open_reads.pop(subject, None)
            requested.pop(subject, None)
    return [
        dataclasses.replace(_pending(reads), rotation_requested=requested.get(subject))
        for subject, reads in open_reads.items()
    ]


def _subject(host: str | None, key_id: str) -> str:
    return f"host:{host.casefold()}" if host else f"key:{key_id.upper()}"


def _pending(reads: list[tuple[datetime, str | None, str, str]]) -> PendingRotation:
    return PendingRotation(
        host=reads[0][1],
        key_ids=tuple(dict.fromkeys(key_id for _, _, key_id, _ in reads)),
        first_read=reads[0][0],
        last_read=reads[-1][0],
        readers=tuple(dict.fromkeys(actor for _, _, _, actor in reads)),
    )
