"""Turn the `[keys.*]` config into open providers, in the configured order.

Credentials come from the environment variables the config names, read here and handed to
the provider as Secrets; nothing else in fleetfix sees them.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

from fleetfix.credentials import Secret
from fleetfix.errors import ConfigError
from fleetfix.keys.config import AdConfig, KeysConfig
from fleetfix.keys.errors import KeyProviderError
from fleetfix.keys.provider import KeyProvider


def _ad(config: AdConfig, env: Mapping[str, str]) -> KeyProvider:
    from fleetfix.keys.ad import ActiveDirectoryProvider  # ldap3 only when AD is configured

    password = env.get(config.password_env)
    # Empty counts as missing: a simple bind with an empty password is an "unauthenticated
    # bind" that some servers accept, and it would then read nothing, silently.
    if config.bind_user is not None and not password:
        raise ConfigError(
            f"[keys.ad] binds as {config.bind_user}: set {config.password_env} to its password"
        )
    return ActiveDirectoryProvider.connect(
        config, password=Secret(password) if password is not None else None
    )


def _open_one(name: str, config: KeysConfig, env: Mapping[str, str]) -> KeyProvider:
    if name == "escrow" and config.escrow is not None:
        from fleetfix.keys.escrow import EscrowCsvProvider

        return EscrowCsvProvider(config.escrow.path)
    if name == "ad" and config.ad is not None:
        return _ad(config.ad, env)
    if name == "graph" and config.graph is not None:
        from fleetfix.keys.graph import GraphProvider  # msal and requests only when asked

        return GraphProvider.connect(config.graph, env=env)
    raise ConfigError(f"key provider {name!r} is not configured")


@dataclass(frozen=True, slots=True)
class OpenProviders:
    """Providers that opened, in order, and one line per provider that did not."""

    opened: tuple[KeyProvider, ...]
    failed: tuple[str, ...]


@contextmanager
def open_providers(
    config: KeysConfig, *, env: Mapping[str, str] | None = None
) -> Iterator[OpenProviders]:
    """Every configured provider, opened in order and closed on the way out.

    A provider that cannot be reached is reported, not fatal, while another one opened: the
    escrow file may hold the key a technician needs while the domain controller is down."""
    if not config.order:
        raise ConfigError(
            "no recovery key providers configured: add [keys.escrow], [keys.ad] or "
            "[keys.graph] to fleetfix.toml (or pass --config)"
        )
    environment = os.environ if env is None else env
    opened: list[KeyProvider] = []
    failed: list[str] = []
    try:
        for name in config.order:
            try:
                opened.append(_open_one(name, config, environment))
            except KeyProviderError as exc:
                failed.append(str(exc))
        if not opened:
            raise KeyProviderError("no key provider could be opened:\n  " + "\n  ".join(failed))
        yield OpenProviders(tuple(opened), tuple(failed))
    finally:
        for provider in opened:
            provider.close()
