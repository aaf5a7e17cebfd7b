"""From a key ID read off a recovery screen to a checked, audited recovery password.

    found = find_keys(providers, KeyIdPrefix.parse("1A2B3C4D"), host="PACS01")
    info = choose_key(found, prefix)              # AmbiguousKeyIdError lists the candidates
    password = reveal_key(store, providers, info, read=KeyRead(...), hmac_secret=...)

The order matters and is the point of this module: a key is checked before anyone sees it,
and audited before it is returned, so a key that reached a screen always has its audit row.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from fleetfix.credentials import Secret
from fleetfix.keys.audit import KeyRead, record_key_read, record_key_rejected
from fleetfix.keys.errors import (
    AmbiguousKeyIdError,
    BadRecoveryPasswordError,
    KeyLookupError,
    KeyNotFoundError,
    KeyProviderError,
)
from fleetfix.keys.model import KeyIdPrefix, RecoveryKeyInfo, checked_recovery_password
from fleetfix.keys.provider import KeyProvider
from fleetfix.store import Store

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class FoundKeys:
    """Every provider's candidates, and the providers that failed (one line each, no secret)."""

    candidates: tuple[RecoveryKeyInfo, ...]
    provider_errors: tuple[str, ...] = ()


def find_keys(
    providers: Sequence[KeyProvider], prefix: KeyIdPrefix | None, *, host: str | None = None
) -> FoundKeys:
    """Ask every provider. One provider down must not stop a technician if another has it."""
    if prefix is None and host is None:
        raise KeyLookupError("give a key ID prefix, a host, or both")
    candidates: list[RecoveryKeyInfo] = []
    errors: list[str] = []
    for provider in providers:
        try:
            candidates += provider.find(prefix, host=host)
        except KeyProviderError as exc:
            log.warning("key provider %s failed: %s", provider.name, exc)
            errors.append(f"{provider.name}: {exc}")
    return FoundKeys(tuple(candidates), tuple(errors))


def distinct_keys(candidates: Sequence[RecoveryKeyInfo]) -> list[RecoveryKeyInfo]:
    """One entry per key ID, from the first provider that has it (providers are in order)."""
    first: dict[str, RecoveryKeyInfo] = {}
    for info in candidates:
        first.setdefault(info.key_id.hex_digits, info)
    return list(first.values())


def choose_key(found: FoundKeys, prefix: KeyIdPrefix) -> RecoveryKeyInfo:
    keys = distinct_keys(found.candidates)
    if len(keys) == 1:
        return keys[0]
    if not keys:
        problems = "".join(f"\n  {line}" for line in found.provider_errors)
        raise KeyNotFoundError(
            f"no recovery key with ID {prefix} in any configured provider"
            + (f"; some providers failed:{problems}" if problems else "")
        )
    # Several keys share the prefix (rotated keys, several volumes): never guess the newest.
    raise AmbiguousKeyIdError(str(prefix), keys)


def _provider(providers: Sequence[KeyProvider], name: str) -> KeyProvider:
    for provider in providers:
        if provider.name == name:
            return provider
    raise KeyProviderError(f"provider {name!r} is not configured")


def reveal_key(
    store: Store,
    providers: Sequence[KeyProvider],
    info: RecoveryKeyInfo,
    *,
    read: KeyRead,
    hmac_secret: bytes,
) -> Secret:
    """Read, check and audit one key. The audit row is committed before the key is returned."""
    if not read.reason.strip():
        raise KeyLookupError("a reason is required to read a recovery key (--reason)")
    raw = _provider(providers, info.provider).read(info)
    try:
        password = checked_recovery_password(
            raw.reveal(), key_id=info.key_id, provider=info.provider
        )
    except BadRecoveryPasswordError:
        record_key_rejected(store, info, read=read)
        raise
    record_key_read(store, info, password, read=read, hmac_secret=hmac_secret)
    return password
