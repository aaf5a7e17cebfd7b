"""Recovery keys from Active Directory, through ldap3.

AD keeps each key as a child of the computer object: objectClass `msFVE-RecoveryInformation`,
CN `<timestamp with offset>{<recovery GUID>}`, with `msFVE-RecoveryPassword` (a confidential
attribute: only accounts granted it can read it), `msFVE-RecoveryGuid` (the key ID, binary,
GUID byte order) and `msFVE-VolumeGuid`. We find keys by name (`name=*{1A2B3C4D*`), which
never touches the confidential attribute, and read the password from one object by its DN.
A host often holds several keys: match by key ID, never take "the newest".

Transport: LDAPS or StartTLS with certificate checking, or plain LDAP to loopback only (the
test directory); config.check_ad_transport refuses anything else.
"""

from __future__ import annotations

import contextlib
import ssl
import uuid
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, Literal

import ldap3
from ldap3.core.exceptions import LDAPException
from ldap3.utils.conv import escape_filter_chars
from ldap3.utils.dn import parse_dn

from fleetfix.credentials import Secret
from fleetfix.keys.config import AdConfig
from fleetfix.keys.errors import KeyProviderError
from fleetfix.keys.model import KeyId, KeyIdPrefix, RecoveryKeyInfo

RECOVERY_CLASS = "msFVE-RecoveryInformation"
PASSWORD_ATTRIBUTE = "msFVE-RecoveryPassword"  # noqa: S105 - an attribute name
GUID_ATTRIBUTE = "msFVE-RecoveryGuid"
VOLUME_ATTRIBUTE = "msFVE-VolumeGuid"
_LISTED = ["cn", GUID_ATTRIBUTE, VOLUME_ATTRIBUTE]


class ActiveDirectoryProvider:
    """One bound, read-only LDAP connection; opened by `connect`, closed by `close`."""

    name = "ad"

    def __init__(self, config: AdConfig, connection: ldap3.Connection) -> None:
        self._config = config
        self._conn = connection

    @classmethod
    def connect(cls, config: AdConfig, *, password: Secret | None) -> ActiveDirectoryProvider:
        connection = _bind(config, password)
        return cls(config, connection)

    def find(self, prefix: KeyIdPrefix | None, *, host: str | None = None) -> list[RecoveryKeyInfo]:
        base = self._config.base_dn
        if host is not None:
            computer = self._computer_dn(host)
            if computer is None:
                return []
            base = computer
        name_filter = "" if prefix is None else f"(name=*{{{_escape(prefix.guid_prefix)}*)"
        entries = self._search(base, f"(&(objectClass={RECOVERY_CLASS}){name_filter})", _LISTED)
        found = [_key_info(entry, provider=self.name) for entry in entries]
        return [info for info in found if prefix is None or prefix.matches(info.key_id)]

    def read(self, info: RecoveryKeyInfo) -> Secret:
        entries = self._search(
            info.locator, f"(objectClass={RECOVERY_CLASS})", [PASSWORD_ATTRIBUTE], scope=ldap3.BASE
        )
        values = _values(entries[0], PASSWORD_ATTRIBUTE) if entries else []
        if not values:
            # AD returns the object but silently drops a confidential attribute it won't show.
            raise KeyProviderError(
                f"ad: the key object for key ID {info.key_id} was found but "
                f"{PASSWORD_ATTRIBUTE} was not returned to {self._config.bind_user or 'this bind'}"
                ": grant it read access to that confidential attribute (BitLocker recovery "
                "delegation: Read + Control Access on msFVE-RecoveryInformation objects)"
            )
        return Secret(_text(values[0]))

    def close(self) -> None:
        # Closing a dead connection is not worth an error at the end of a lookup.
        with contextlib.suppress(LDAPException):
            self._conn.unbind()

    def _computer_dn(self, host: str) -> str | None:
        short = host.split(".")[0]
        host_filter = (
            f"(&(objectClass=computer)(|(cn={_escape(short)})"
            f"(sAMAccountName={_escape(short)}$)(dNSHostName={_escape(host)})))"
        )
        entries = self._search(self._config.base_dn, host_filter, ["cn"])
        return str(entries[0]["dn"]) if entries else None

    def _search(
        self,
        base: str,
        search_filter: str,
        attributes: list[str],
        *,
        scope: Literal["BASE", "LEVEL", "SUBTREE"] = "SUBTREE",
    ) -> list[Mapping[str, Any]]:
        try:
            self._conn.search(base, search_filter, search_scope=scope, attributes=attributes)
        except LDAPException as exc:
            raise KeyProviderError(f"ad: search failed: {type(exc).__name__}: {exc}") from None
        result = self._conn.result
        if result.get("result") not in (0, 32):  # 32: noSuchObject, i.e. nothing there
            raise KeyProviderError(
                f"ad: search under {base} failed: {result.get('description')} "
                f"{result.get('message') or ''}".rstrip()
            )
        return [
            entry for entry in self._conn.response or [] if entry.get("type") == "searchResEntry"
        ]


def _bind(config: AdConfig, password: Secret | None) -> ldap3.Connection:
    tls = ldap3.Tls(
        validate=ssl.CERT_REQUIRED,
        ca_certs_file=str(config.ca_file) if config.ca_file else None,
    )
    server = ldap3.Server(config.uri, tls=tls, get_info=ldap3.NONE, connect_timeout=config.timeout)
    auth: Literal["ANONYMOUS", "SIMPLE", "NTLM"] = "SIMPLE"
    if config.bind_user is None:
        auth = "ANONYMOUS"
    elif config.auth == "ntlm":
        auth = "NTLM"
    connection = ldap3.Connection(
        server,
        user=config.bind_user,
        password=password.reveal() if password is not None else None,
        authentication=auth,
        read_only=True,
        receive_timeout=config.timeout,
    )
    try:
        connection.open()
        if config.start_tls and not config.is_ldaps:
            connection.start_tls()
        bound = connection.bind()
    except (LDAPException, OSError) as exc:
        raise KeyProviderError(
            f"ad: cannot reach {config.uri}: {type(exc).__name__}: {exc}"
        ) from None
    finally:
        # ldap3's Connection repr prints the password; drop it once the bind is done.
        connection.password = None
    if not bound:
        description = connection.result.get("description", "bind refused")
        raise KeyProviderError(
            f"ad: bind as {config.bind_user} to {config.uri} failed ({description}); "
            f"check {config.password_env} and the account (not retried: lockouts)"
        )
    return connection


def _escape(text: str) -> str:
    return str(escape_filter_chars(text))


def _values(entry: Mapping[str, Any], attribute: str) -> Sequence[Any]:
    # raw_attributes keys keep the server's spelling; compare case-insensitively.
    for name, values in entry.get("raw_attributes", {}).items():
        if name.lower() == attribute.lower():
            return list(values)
    return []


def _text(value: Any) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def _key_info(entry: Mapping[str, Any], *, provider: str) -> RecoveryKeyInfo:
    dn = str(entry["dn"])
    cn = _text(next(iter(_values(entry, "cn")), b""))
    return RecoveryKeyInfo(
        key_id=_key_id(entry, cn=cn, dn=dn),
        provider=provider,
        host=_parent_cn(dn),
        created=_created(cn),
        volume=next((_guid_text(v) for v in _values(entry, VOLUME_ATTRIBUTE)), None),
        locator=dn,
    )


def _guid_text(value: Any) -> str:
    if isinstance(value, bytes) and len(value) == 16:
        return str(uuid.UUID(bytes_le=value)).upper()
    return _text(value)


def _key_id(entry: Mapping[str, Any], *, cn: str, dn: str) -> KeyId:
    raw = next(iter(_values(entry, GUID_ATTRIBUTE)), None)
    if isinstance(raw, bytes) and len(raw) == 16:
        # AD stores GUIDs in Windows' mixed-endian layout (bytes_le).
        return KeyId.parse(str(uuid.UUID(bytes_le=raw)))
    if "{" in cn:
        return KeyId.parse(cn[cn.index("{") :])
    raise KeyProviderError(f"ad: {dn} has neither {GUID_ATTRIBUTE} nor a {{GUID}} in its name")


def _created(cn: str) -> datetime | None:
    stamp = cn.split("{", 1)[0]
    try:
        return datetime.fromisoformat(stamp)
    except ValueError:
        return None


def _parent_cn(dn: str) -> str | None:
    parts: Iterator[tuple[str, str, str]] = iter(parse_dn(dn))
    next(parts, None)  # the key object itself
    parent = next(parts, None)
    return parent[1] if parent is not None and parent[0].lower() == "cn" else None
