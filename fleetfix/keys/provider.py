"""The one seam every recovery key source plugs into.

Finding keys and reading one are separate calls: finding returns metadata only (safe to list
to a technician and to log), and reading is the single place a provider touches a recovery
password. For Entra ID that split is also Graph's own: listing is free, reading writes an
Entra audit record.
"""

from __future__ import annotations

from typing import Protocol

from fleetfix.credentials import Secret
from fleetfix.keys.model import KeyIdPrefix, RecoveryKeyInfo


class KeyProvider(Protocol):
    """A source of recovery keys: Active Directory, Entra ID (Graph), an escrow CSV."""

    @property
    def name(self) -> str:
        """Short, stable, safe to audit: `escrow`, `ad`, `graph`."""
        ...

    def find(self, prefix: KeyIdPrefix | None, *, host: str | None = None) -> list[RecoveryKeyInfo]:
        """Keys whose ID starts with `prefix`, on `host` only if given; every key of `host`
        when `prefix` is None (callers give at least one). Never reads a key."""
        ...

    def read(self, info: RecoveryKeyInfo) -> Secret:
        """The recovery password of a key this provider found, unchecked."""
        ...

    def close(self) -> None: ...
