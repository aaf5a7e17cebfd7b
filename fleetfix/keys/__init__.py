"""BitLocker recovery keys: find by key ID, check, audit, show once; export; rotation.

    config = load_keys_config(Path("fleetfix.toml"))        # [keys.escrow|ad|graph]
    with open_providers(config) as providers, Store.open(db) as store:
        prefix = KeyIdPrefix.parse("1A2B3C4D")
        info = choose_key(find_keys(providers.opened, prefix, host="PACS01"), prefix)
        read = KeyRead(actor="alice", reason="INC0042", purpose="lookup")
        password = reveal_key(store, providers.opened, info, read=read,
                              hmac_secret=load_hmac_secret(db))   # a Secret: `***`

Providers (one Protocol, `KeyProvider`): `EscrowCsvProvider` (keys.escrow),
`ActiveDirectoryProvider` (keys.ad, ldap3) and `GraphProvider` (keys.graph, msal + requests).
The last two are imported only when configured, so this package stays light to import.
"""

from fleetfix.keys.audit import (
    KEY_READ,
    KEY_REJECTED,
    KEY_ROTATED,
    KeyRead,
    PendingRotation,
    load_hmac_secret,
    pending_rotations,
    record_rotated,
)
from fleetfix.keys.config import KeysConfig, load_keys_config
from fleetfix.keys.errors import (
    AmbiguousKeyIdError,
    BadRecoveryPasswordError,
    KeyLookupError,
    KeyNotFoundError,
    KeyProviderError,
)
from fleetfix.keys.export import ExportSummary, export_iso_csv
from fleetfix.keys.factory import OpenProviders, open_providers
from fleetfix.keys.lookup import FoundKeys, choose_key, find_keys, reveal_key
from fleetfix.keys.model import KeyId, KeyIdPrefix, RecoveryKeyInfo, is_recovery_password
from fleetfix.keys.provider import KeyProvider

__all__ = [
    "KEY_READ",
    "KEY_REJECTED",
    "KEY_ROTATED",
    "AmbiguousKeyIdError",
    "BadRecoveryPasswordError",
    "ExportSummary",
    "FoundKeys",
    "KeyId",
    "KeyIdPrefix",
    "KeyLookupError",
    "KeyNotFoundError",
    "KeyProvider",
    "KeyProviderError",
    "KeyRead",
    "KeysConfig",
    "OpenProviders",
    "PendingRotation",
    "RecoveryKeyInfo",
    "choose_key",
    "export_iso_csv",
    "find_keys",
    "is_recovery_password",
    "load_hmac_secret",
    "load_keys_config",
    "open_providers",
    "pending_rotations",
    "record_rotated",
    "reveal_key",
]
