"""BitLocker key IDs for a host that needs hands at its console, from the configured key
providers (AD, Entra ID, escrow files): the technician at the recovery screen matches the ID
it shows and asks `fleetfix key lookup` for the key. Only IDs are read here, never a key."""

from __future__ import annotations

from collections.abc import Callable

from fleetfix.errors import FleetfixError
from fleetfix.keys.config import KeysConfig
from fleetfix.keys.factory import open_providers

#: host name -> (key IDs, a note when a provider could not answer)
KeyIdFinder = Callable[[str], tuple[tuple[str, ...], str | None]]


def provider_key_ids(config: KeysConfig) -> KeyIdFinder | None:
    """A finder over `config`'s providers, or None when none is configured."""
    if not config.order:
        return None

    def find(host: str) -> tuple[tuple[str, ...], str | None]:
        try:
            with open_providers(config) as providers:
                ids = [str(info.key_id) for provider in providers.opened
                       for info in provider.find(None, host=host)]  # fmt: skip
                note = "; ".join(providers.failed) or None
        except FleetfixError as exc:  # a provider down is this host's note, not the run's end
            return (), f"key providers did not answer: {exc}"
        return tuple(dict.fromkeys(ids)), note

    return find
