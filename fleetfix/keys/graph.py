"""Recovery keys from Entra ID through Microsoft Graph v1.0.

Graph's own split matches ours: listing `informationProtection/bitlocker/recoveryKeys` gives
key IDs, dates, device and volume type but never a key; `recoveryKeys/{id}?$select=key`
returns the key and writes an Entra audit record ("Read BitLocker key"). The device ID is
Entra's, not the host name, so a host is resolved through `/devices` first. The list has no
`$top`: we follow `@odata.nextLink`, and only to the configured endpoint, because the link
would otherwise carry our token wherever a response pointed it. Graph requires a User-Agent.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlsplit

import requests

from fleetfix import __version__
from fleetfix.credentials import Secret
from fleetfix.keys.config import GraphConfig
from fleetfix.keys.errors import KeyProviderError
from fleetfix.keys.graph_auth import (
    ROTATION_SCOPES,
    MsalTokenSource,
    TokenSource,
    trust_session,
)
from fleetfix.keys.model import KeyId, KeyIdPrefix, RecoveryKeyInfo

USER_AGENT = f"fleetfix/{__version__} (BitLocker recovery key lookup)"
_KEYS = "informationProtection/bitlocker/recoveryKeys"
_TIMEOUT = 30.0
# Roles as Graph's "Get bitlockerRecoveryKey" page lists them. That page's current version
# also lists application permissions as not supported for reading a key (older versions
# allowed them), so a person signing in with the device code is the dependable path.
_GRANT = (
    "grant BitLockerKey.Read.All (BitLockerKey.ReadBasic.All lists key IDs only) and "
    "Device.Read.All; a person signing in also needs one of the Entra roles Cloud Device "
    "Administrator, Helpdesk Administrator, Intune Service Administrator, Security "
    "Administrator, Security Reader or Global Reader (or must own the device); if an app "
    'with client credentials is refused, sign in as a person (auth = "device_code")'
)


class GraphProvider:
    name = "graph"

    def __init__(
        self,
        config: GraphConfig,
        *,
        tokens: TokenSource,
        session: requests.Session | None = None,
    ) -> None:
        self._config = config
        self._tokens = tokens
        self._session = session or trust_session(config)
        self._token: Secret | None = None
        self._device_names: dict[str, str | None] = {}

    @classmethod
    def connect(
        cls,
        config: GraphConfig,
        *,
        env: Mapping[str, str],
        announce: Callable[[str], None] | None = None,
    ) -> GraphProvider:
        # The device code prompt goes to stderr: stdout is for results (and keys) only.
        tell = announce or (lambda message: print(message, file=sys.stderr))
        return cls(config, tokens=MsalTokenSource(config, env=env, announce=tell))

    def find(self, prefix: KeyIdPrefix | None, *, host: str | None = None) -> list[RecoveryKeyInfo]:
        if host is None:
            listed = list(self._paged(_KEYS, {}))
        else:
            listed = []
            for device_id in self._device_ids(host):
                listed += self._paged(_KEYS, {"$filter": f"deviceId eq '{device_id}'"})
        found = [self._key_info(item, host=host) for item in listed]
        return [info for info in found if prefix is None or prefix.matches(info.key_id)]

    def read(self, info: RecoveryKeyInfo) -> Secret:
        path = f"{_KEYS}/{quote(info.locator, safe='')}"
        body = self._get(self._url(path), {"$select": "key"}, what=f"key ID {info.key_id}")
        key = body.get("key")
        if not isinstance(key, str):
            raise KeyProviderError(f"graph: no key returned for key ID {info.key_id}; {_GRANT}")
        return Secret(key)

    def request_rotation(self, host: str) -> str:
        """Ask Intune to rotate `host`'s recovery keys; returns the managed device ID.

        rotateBitLockerKeys exists in Graph's beta API only; Intune then escrows the new
        key itself. A device Intune does not manage cannot be rotated this way."""
        name = _odata_string(host.split(".")[0])
        params = {"$filter": f"deviceName eq '{name}'", "$select": "id,deviceName"}
        managed = list(self._paged("deviceManagement/managedDevices", params))
        if not managed:
            raise KeyProviderError(
                f"graph: {host} is not managed by Intune; rotate its key on the host "
                "(manage-bde) and record it with `fleetfix key rotated`"
            )
        device_id = str(KeyId.parse(str(managed[0]["id"]))).lower()
        url = f"{self._beta_endpoint()}/deviceManagement/managedDevices/{device_id}"
        token = self._tokens.access_token(scopes=ROTATION_SCOPES)
        self._send("POST", f"{url}/rotateBitLockerKeys", None, what=f"rotation of {host}",
                   token=token, expect=(200, 202, 204))  # fmt: skip
        return device_id

    def close(self) -> None:
        self._session.close()

    def _beta_endpoint(self) -> str:
        base, _, version = self._config.endpoint.rpartition("/")
        return f"{base}/beta" if version == "v1.0" else self._config.endpoint

    def _key_info(self, item: Mapping[str, Any], *, host: str | None) -> RecoveryKeyInfo:
        device_id = str(item.get("deviceId", ""))
        return RecoveryKeyInfo(
            key_id=KeyId.parse(str(item["id"])),
            provider=self.name,
            host=host or self._device_name(device_id),
            created=_when(item.get("createdDateTime")),
            volume=str(item.get("volumeType")) if item.get("volumeType") else None,
            locator=str(item["id"]),
        )

    def _device_ids(self, host: str) -> list[str]:
        name = _odata_string(host.split(".")[0])
        params = {"$filter": f"displayName eq '{name}'", "$select": "deviceId,displayName"}
        devices = self._paged("devices", params)
        return [str(KeyId.parse(str(device["deviceId"]))).lower() for device in devices]

    def _device_name(self, device_id: str) -> str | None:
        if not device_id:
            return None
        if device_id not in self._device_names:
            guid = str(KeyId.parse(device_id)).lower()  # checked before it enters a filter
            params = {"$filter": f"deviceId eq '{guid}'", "$select": "displayName"}
            names = [str(d.get("displayName")) for d in self._paged("devices", params)]
            self._device_names[device_id] = names[0] if names else None
        return self._device_names[device_id]

    def _url(self, path: str) -> str:
        return f"{self._config.endpoint}/{path}"

    def _paged(self, path: str, params: Mapping[str, str]) -> Iterator[Mapping[str, Any]]:
        url: str | None = self._url(path)
        query: Mapping[str, str] | None = params
        while url is not None:
            body = self._get(url, query, what=path)
            yield from body.get("value", [])
            url = self._next_link(body.get("@odata.nextLink"))
            query = None  # the next link carries the query (and the skip token) itself

    def _next_link(self, link: object) -> str | None:
        if link is None:
            return None
        ours = urlsplit(self._config.endpoint)
        theirs = urlsplit(str(link))
        if (theirs.scheme, theirs.netloc) != (ours.scheme, ours.netloc):
            raise KeyProviderError(
                f"graph: a next page link points away from {ours.netloc}; refusing to follow it"
            )
        return str(link)

    def _get(self, url: str, params: Mapping[str, str] | None, *, what: str) -> dict[str, Any]:
        if self._token is None:
            self._token = self._tokens.access_token()
        response = self._send("GET", url, params, what=what, token=self._token, expect=(200,))
        body = response.json()
        if not isinstance(body, dict):
            raise KeyProviderError(f"graph: unexpected answer for {what}")
        return body

    def _send(
        self,
        method: str,
        url: str,
        params: Mapping[str, str] | None,
        *,
        what: str,
        token: Secret,
        expect: tuple[int, ...],
    ) -> requests.Response:
        headers = {
            "Authorization": f"Bearer {token.reveal()}",
            "User-Agent": USER_AGENT,
            "Accept": "application/json",
        }
        verify: str | bool = str(self._config.ca_file) if self._config.ca_file else True
        try:
            response = self._session.request(
                method, url, params=params, headers=headers, timeout=_TIMEOUT, verify=verify
            )
        except requests.RequestException as exc:
            # Only the exception's type: its text can quote the request (and its headers).
            raise KeyProviderError(
                f"graph: cannot reach {urlsplit(url).netloc} ({type(exc).__name__})"
            ) from None
        if response.status_code not in expect:
            raise _graph_error(response, what=what, tenant=self._config.tenant)
        return response


def _graph_error(response: requests.Response, *, what: str, tenant: str) -> KeyProviderError:
    try:
        error = response.json().get("error", {})
    except ValueError:
        error = {}
    code = error.get("code", "") if isinstance(error, dict) else ""
    message = error.get("message", "") if isinstance(error, dict) else ""
    detail = f"{response.status_code} {code}: {message}".strip()
    if response.status_code == 403 and what.startswith("rotation"):
        return KeyProviderError(
            f"graph: permission denied for the {what} ({detail}); grant "
            "DeviceManagementManagedDevices.ReadWrite.All and an Intune role whose "
            "permissions include the BitLocker key rotation remote task"
        )
    if response.status_code == 403:
        return KeyProviderError(f"graph: permission denied reading {what} ({detail}); {_GRANT}")
    if response.status_code == 404:
        return KeyProviderError(
            f"graph: {what} not found in Entra ID ({detail}); check the device name (Entra's "
            "display name, the short host name), that the device is Entra joined or registered "
            "(a device only in on-premises AD keeps its keys there: use [keys.ad]), and that "
            f'the tenant ("{tenant}" in [keys.graph]) is the one the device is in'
        )
    if response.status_code == 401:
        return KeyProviderError(
            f"graph: the access token was refused ({detail}); check tenant and client_id"
        )
    return KeyProviderError(f"graph: request for {what} failed ({detail})")


def _odata_string(text: str) -> str:
    return text.replace("'", "''")  # OData doubles a quote inside a string literal


def _when(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
