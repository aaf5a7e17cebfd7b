"""The `[keys.*]` sections of `fleetfix.toml`: where recovery keys come from.

    [keys]
    providers = ["escrow", "ad"]        # the order they are asked in (default: as written)

    [keys.escrow]
    path = "BitLockerKeys.csv"          # relative to the config file

    [keys.ad]
    uri = "ldaps://dc01.corp.example"   # ldaps://, or ldap:// with start_tls = true
    base_dn = "DC=corp,DC=example"
    bind_user = "CORP\\svc-bitlocker"   # a DN or DOMAIN\\user (NTLM)
    auth = "simple"                     # or "ntlm"
    start_tls = false
    ca_file = "corp-ca.pem"             # optional; the system store otherwise
    password_env = "FLEETFIX_AD_PASSWORD"

    [keys.graph]
    tenant = "contoso.onmicrosoft.com"
    client_id = "..."

Credentials are never written here: the config names the environment variable that holds
them (`password_env`, `client_secret_env`), and a key that names a secret
(`fleetfix.config.is_secret_name`: password, secret, token, HMAC, credential, a trailing `key`)
is refused outright.
"""

from __future__ import annotations

import ipaddress
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from fleetfix.config import is_secret_name
from fleetfix.errors import ConfigError

DEFAULT_CONFIG = Path("fleetfix.toml")
_KNOWN = ("escrow", "ad", "graph")
_GRAPH_ENDPOINT = "https://graph.microsoft.com/v1.0"
_GRAPH_AUTHORITY = "https://login.microsoftonline.com"
_GRAPH_SECRET_ENV = "FLEETFIX_GRAPH_CLIENT_SECRET"  # noqa: S105 - a variable name, not a secret


@dataclass(frozen=True, slots=True)
class EscrowConfig:
    path: Path


@dataclass(frozen=True, slots=True)
class AdConfig:
    uri: str
    base_dn: str
    bind_user: str | None = None
    auth: str = "simple"
    start_tls: bool = False
    ca_file: Path | None = None
    password_env: str = "FLEETFIX_AD_PASSWORD"  # noqa: S105 - a variable name, not a password
    # Whole seconds: ldap3 packs it into a socket option that takes integers only.
    timeout: int = 10

    @property
    def is_ldaps(self) -> bool:
        return urlsplit(self.uri).scheme.lower() == "ldaps"


@dataclass(frozen=True, slots=True)
class GraphConfig:
    tenant: str
    client_id: str
    endpoint: str = _GRAPH_ENDPOINT
    authority: str = _GRAPH_AUTHORITY
    auth: str = "device_code"
    client_secret_env: str = _GRAPH_SECRET_ENV
    ca_file: Path | None = None  # a private trust anchor (tests); the system store otherwise


@dataclass(frozen=True, slots=True)
class KeysConfig:
    order: tuple[str, ...] = ()
    escrow: EscrowConfig | None = None
    ad: AdConfig | None = None
    graph: GraphConfig | None = None


def load_keys_config(path: Path | None = None) -> KeysConfig:
    """Read `[keys]` from `path`, or from ./fleetfix.toml when none is given."""
    config_path = path or DEFAULT_CONFIG
    if not config_path.is_file():
        if path is not None:
            raise ConfigError(f"config file {config_path} does not exist")
        return KeysConfig()
    try:
        document = tomllib.loads(config_path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file {config_path}: {exc}") from None
    section = document.get("keys", {})
    if not isinstance(section, dict):
        raise ConfigError(f"{config_path}: [keys] must be a table")
    return parse_keys_section(section, base=config_path.parent, origin=str(config_path))


def parse_keys_section(section: Mapping[str, Any], *, base: Path, origin: str) -> KeysConfig:
    _refuse_credentials(section, where=f"{origin} [keys]")
    escrow = _escrow(section.get("escrow"), base=base, origin=origin)
    ad = _ad(section.get("ad"), base=base, origin=origin)
    graph = _graph(section.get("graph"), base=base, origin=origin)
    present = tuple(name for name in _KNOWN if name in section)
    order = tuple(section.get("providers", present))
    unknown = [name for name in order if name not in present]
    if unknown:
        raise ConfigError(
            f"{origin}: [keys] providers names {', '.join(unknown)} without a "
            "[keys.<name>] section (known: escrow, ad, graph)"
        )
    return KeysConfig(order=order, escrow=escrow, ad=ad, graph=graph)


def _refuse_credentials(section: Mapping[str, Any], *, where: str) -> None:
    for key, value in section.items():
        if isinstance(value, dict):
            _refuse_credentials(value, where=f"{where}.{key}")
        elif is_secret_name(key):  # the rule fleetfix.toml is read with: one list of names
            # Say which key, never its value.
            raise ConfigError(
                f"{where}: {key!r} looks like a credential; fleetfix never reads credentials "
                "from its config. Name an environment variable instead (e.g. password_env)."
            )


def _table(raw: object, *, name: str, origin: str) -> dict[str, Any] | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise ConfigError(f"{origin}: [keys.{name}] must be a table")
    return raw


def _required(table: Mapping[str, Any], key: str, *, name: str, origin: str) -> str:
    value = table.get(key)
    if not isinstance(value, str) or not value:
        raise ConfigError(f'{origin}: [keys.{name}] needs {key} = "..."')
    return value


def _escrow(raw: object, *, base: Path, origin: str) -> EscrowConfig | None:
    table = _table(raw, name="escrow", origin=origin)
    if table is None:
        return None
    return EscrowConfig(path=base / _required(table, "path", name="escrow", origin=origin))


def _ad(raw: object, *, base: Path, origin: str) -> AdConfig | None:
    table = _table(raw, name="ad", origin=origin)
    if table is None:
        return None
    ca_file = table.get("ca_file")
    config = AdConfig(
        uri=_required(table, "uri", name="ad", origin=origin),
        base_dn=_required(table, "base_dn", name="ad", origin=origin),
        bind_user=table.get("bind_user"),
        auth=str(table.get("auth", "simple")).lower(),
        start_tls=bool(table.get("start_tls", False)),
        ca_file=base / ca_file if isinstance(ca_file, str) else None,
        password_env=str(table.get("password_env", "FLEETFIX_AD_PASSWORD")),
        timeout=int(table.get("timeout", 10)),
    )
    if config.auth not in ("simple", "ntlm"):
        raise ConfigError(f'{origin}: [keys.ad] auth must be "simple" or "ntlm"')
    check_ad_transport(config, origin=origin)
    return config


def check_ad_transport(config: AdConfig, *, origin: str) -> None:
    """Refuse to send a bind password in clear text to anything but this machine."""
    if config.is_ldaps or config.start_tls:
        return
    if not is_loopback(urlsplit(config.uri).hostname or ""):
        raise ConfigError(
            f"{origin}: [keys.ad] {config.uri} is plain LDAP: the bind password and the keys "
            "would cross the network in clear text. Use ldaps:// or start_tls = true."
        )


def is_loopback(hostname: str) -> bool:
    if hostname == "localhost":
        return True
    try:
        return ipaddress.ip_address(hostname).is_loopback
    except ValueError:
        return False


def _graph(raw: object, *, base: Path, origin: str) -> GraphConfig | None:
    table = _table(raw, name="graph", origin=origin)
    if table is None:
        return None
    config = GraphConfig(
        tenant=_required(table, "tenant", name="graph", origin=origin),
        client_id=_required(table, "client_id", name="graph", origin=origin),
        endpoint=str(table.get("endpoint", _GRAPH_ENDPOINT)).rstrip("/"),
        authority=str(table.get("authority", _GRAPH_AUTHORITY)).rstrip("/"),
        auth=str(table.get("auth", "device_code")),
        client_secret_env=str(table.get("client_secret_env", _GRAPH_SECRET_ENV)),
        ca_file=base / table["ca_file"] if isinstance(table.get("ca_file"), str) else None,
    )
    if config.auth not in ("device_code", "client_credentials"):
        raise ConfigError(
            f'{origin}: [keys.graph] auth must be "device_code" or "client_credentials"'
        )
    return config
