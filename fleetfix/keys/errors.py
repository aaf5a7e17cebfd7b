"""Errors of the recovery key workflow, under fleetfix's one tree (fleetfix/errors.py)::

    FleetfixError
    └── KeyLookupError              a key could not be found, read or shown (message says why)
        ├── KeyNotFoundError        no provider holds a key with that ID (prefix)
        ├── AmbiguousKeyIdError     several keys match a prefix: candidates listed
        ├── BadRecoveryPasswordError  a provider returned something that is not a key
        └── KeyProviderError        a provider failed: unreachable, bad bind, no permission

No message here ever carries a recovery password or a credential: they name key IDs, hosts,
providers and what to do.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from fleetfix.errors import FleetfixError

if TYPE_CHECKING:
    from fleetfix.keys.model import RecoveryKeyInfo


class KeyLookupError(FleetfixError):
    title = "recovery key lookup"


class KeyNotFoundError(KeyLookupError):
    title = "recovery key not found"


class AmbiguousKeyIdError(KeyLookupError):
    title = "several recovery keys match"

    def __init__(self, prefix: str, candidates: Sequence[RecoveryKeyInfo]) -> None:
        lines = [f"{len(candidates)} keys match key ID {prefix}; give the full key ID:"]
        lines += [f"  {candidate.describe()}" for candidate in candidates]
        super().__init__("\n".join(lines))
        self.candidates = tuple(candidates)


class BadRecoveryPasswordError(KeyLookupError):
    title = "not a valid recovery password"


class KeyProviderError(KeyLookupError):
    title = "recovery key provider failed"
