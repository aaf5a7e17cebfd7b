"""A Graph-compatible service on loopback: exactly the endpoints fleetfix calls, no more.

It stands in for Entra ID in tests and in the lab, the way httpx ships a fake transport:
OpenID discovery, the token endpoint (client credentials and device code) that msal talks
to, `/devices`, and `/informationProtection/bitlocker/recoveryKeys` with Graph's rules:
a User-Agent is required, the list is paged through `@odata.nextLink` and rejects `$top`,
keys come only with `$select=key`, and a caller without BitLockerKey.Read.All gets 403.
Every key read is recorded, as Entra's "Read BitLocker key" audit record would be.
It serves HTTPS only (msal refuses an http authority); pass the lab CA's server context.
"""

from __future__ import annotations

import json
import secrets
import ssl
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

_KEYS_PATH = "/v1.0/informationProtection/bitlocker/recoveryKeys"


@dataclass(frozen=True)
class GraphDevice:
    display_name: str
    device_id: str  # Entra's device ID (a GUID), not the host name


@dataclass(frozen=True)
class GraphKey:
    key_id: str
    device_id: str
    key: str = field(repr=False)
    created: str = "2024-07-01T09:00:00Z"
    volume_type: str = "operatingSystemVolume"


@dataclass(frozen=True)
class GraphManagedDevice:
    """An Intune managed device: its own ID, not Entra's device ID."""

    managed_device_id: str
    device_name: str


@dataclass
class GraphState:
    """What the service holds; tests change `can_read_keys` to model ReadBasic-only apps."""

    tenant: str
    client_id: str
    client_secret: str = field(repr=False)
    devices: Sequence[GraphDevice] = ()
    keys: Sequence[GraphKey] = ()
    page_size: int = 2
    can_read_keys: bool = True
    managed_devices: Sequence[GraphManagedDevice] = ()
    can_rotate: bool = True
    rotations: list[str] = field(default_factory=list)  # managed device IDs asked to rotate
    issued_tokens: set[str] = field(default_factory=set, repr=False)
    key_reads: list[tuple[str, str]] = field(default_factory=list)  # (key id, User-Agent)
    requests: list[str] = field(default_factory=list)


class GraphService:
    """`with GraphService(state, ssl_context=ctx) as graph:` serves until the block ends."""

    def __init__(self, state: GraphState, *, ssl_context: ssl.SSLContext) -> None:
        self.state = state
        handler = type("Handler", (_Handler,), {"state": state})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.socket = ssl_context.wrap_socket(self._server.socket, server_side=True)
        # A short poll so that stopping the service does not hold each test up.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def base_url(self) -> str:
        return f"https://127.0.0.1:{self._server.server_address[1]}"

    @property
    def endpoint(self) -> str:
        return f"{self.base_url}/v1.0"

    def __enter__(self) -> GraphService:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)


class _Handler(BaseHTTPRequestHandler):
    state: GraphState

    def log_message(self, format: str, *args: Any) -> None:
        pass  # stderr belongs to the test runner

    def _send(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: int, code: str, message: str) -> None:
        self._send(status, {"error": {"code": code, "message": message}})

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        self.state.requests.append(self.path)
        if url.path.endswith("/v2.0/.well-known/openid-configuration"):
            self._send(200, self._openid())
            return
        if self._authorized():
            self._graph(url.path, query)

    def _authorized(self) -> bool:
        if not self.headers.get("User-Agent"):
            self._error(400, "BadRequest", "A User-Agent header is required.")
            return False
        token = self.headers.get("Authorization", "").removeprefix("Bearer ")
        if token not in self.state.issued_tokens:
            self._error(401, "InvalidAuthenticationToken", "Access token is empty or invalid.")
            return False
        return True

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
        path = urlsplit(self.path).path
        if path.endswith("/oauth2/v2.0/devicecode"):
            self._send(200, _device_flow(self.state, self._host_url()))
        elif path.endswith("/oauth2/v2.0/token"):
            self._token(form)
        elif path.endswith("/rotateBitLockerKeys"):
            if self._authorized():
                self._rotate(path)
        else:
            self._error(404, "NotFound", path)

    def _rotate(self, path: str) -> None:
        # /beta/deviceManagement/managedDevices/{id}/rotateBitLockerKeys, beta only.
        parts = path.split("/")
        known = {d.managed_device_id.lower() for d in self.state.managed_devices}
        if parts[1] != "beta" or parts[-2].lower() not in known:
            self._error(404, "ResourceNotFound", f"Resource not found: {path}")
        elif not self.state.can_rotate:
            self._error(
                403, "Forbidden", "Application is not authorized to perform this operation."
            )
        else:
            self.state.rotations.append(parts[-2].lower())
            self.send_response(204)
            self.send_header("Content-Length", "0")
            self.end_headers()

    def _host_url(self) -> str:
        return f"https://{self.headers.get('Host')}"

    def _openid(self) -> dict[str, Any]:
        base = f"{self._host_url()}/{self.state.tenant}"
        return {
            "issuer": f"{base}/v2.0",
            "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
            "token_endpoint": f"{base}/oauth2/v2.0/token",
            "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
        }

    def _token(self, form: dict[str, str]) -> None:
        grant = form.get("grant_type", "")
        if form.get("client_id") != self.state.client_id:
            self._send(400, {"error": "unauthorized_client", "error_description": "unknown app"})
            return
        if grant == "client_credentials" and form.get("client_secret") != (
            self.state.client_secret
        ):
            description = "AADSTS7000215: Invalid client secret provided."
            self._send(401, {"error": "invalid_client", "error_description": description})
            return
        token = secrets.token_urlsafe(24)
        self.state.issued_tokens.add(token)
        self._send(200, {"access_token": token, "token_type": "Bearer", "expires_in": 3600})

    def _graph(self, path: str, query: dict[str, str]) -> None:
        if path == "/v1.0/devices":
            self._list([_device_json(d) for d in self.state.devices], query)
        elif path == "/v1.0/deviceManagement/managedDevices":
            managed = [
                {"id": d.managed_device_id, "deviceName": d.device_name}
                for d in self.state.managed_devices
            ]
            self._list(managed, query)
        elif path == _KEYS_PATH:
            if "$top" in query:
                self._error(400, "BadRequest", "$top is not supported for recoveryKeys.")
                return
            self._list([_key_json(k) for k in self.state.keys], query)
        elif path.startswith(_KEYS_PATH + "/"):
            self._read_key(path.rsplit("/", 1)[1], query)
        else:
            self._error(404, "ResourceNotFound", f"Resource not found: {path}")

    def _list(self, items: list[dict[str, Any]], query: dict[str, str]) -> None:
        matching = [item for item in items if _filter_matches(item, query.get("$filter"))]
        start = int(query.get("$skiptoken", "0"))
        page = matching[start : start + self.state.page_size]
        body: dict[str, Any] = {"value": page}
        if start + self.state.page_size < len(matching):
            rest = {**query, "$skiptoken": str(start + self.state.page_size)}
            body["@odata.nextLink"] = f"{self._host_url()}{self.path.split('?')[0]}?" + urlencode(
                rest
            )
        self._send(200, body)

    def _read_key(self, key_id: str, query: dict[str, str]) -> None:
        found = next((k for k in self.state.keys if k.key_id.lower() == key_id.lower()), None)
        if found is None:
            self._error(404, "NotFound", f"BitLocker recovery key {key_id} was not found.")
            return
        if not self.state.can_read_keys:
            self._error(403, "Authorization_RequestDenied", "Insufficient privileges.")
            return
        body = _key_json(found)
        if query.get("$select") == "key":
            body["key"] = found.key
            self.state.key_reads.append((found.key_id, self.headers.get("User-Agent", "")))
        self._send(200, body)


def _device_flow(state: GraphState, base: str) -> dict[str, Any]:
    return {
        "device_code": secrets.token_urlsafe(16),
        "user_code": "LAB-CODE",
        "verification_uri": f"{base}/devicelogin",
        "expires_in": 900,
        "interval": 1,
        "message": f"To sign in, open {base}/devicelogin and enter the code LAB-CODE.",
    }


def _device_json(device: GraphDevice) -> dict[str, Any]:
    return {"displayName": device.display_name, "deviceId": device.device_id}


def _key_json(key: GraphKey) -> dict[str, Any]:
    return {
        "id": key.key_id,
        "deviceId": key.device_id,
        "createdDateTime": key.created,
        "volumeType": key.volume_type,
    }


def _filter_matches(item: dict[str, Any], text: str | None) -> bool:
    """`field eq 'value'`, the one OData form fleetfix sends."""
    if text is None:
        return True
    name, _, value = text.partition(" eq ")
    wanted = value.strip().removeprefix("'").removesuffix("'").replace("''", "'")
    return str(item.get(name.strip(), "")).lower() == wanted.lower()
