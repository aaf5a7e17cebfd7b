"""Access tokens for Microsoft Graph, through msal. Tokens are Secrets and are never stored.

A person signs in with the device code flow (the prompt goes to stderr, so stdout stays
clean); an automation with client credentials, its secret read from the environment variable
the config names. The token cache lives in memory only: fleetfix stores no credential.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol
from urllib.parse import urlsplit

import msal
import requests

from fleetfix.credentials import Secret
from fleetfix.errors import ConfigError
from fleetfix.keys.config import GraphConfig
from fleetfix.keys.errors import KeyProviderError

APP_SCOPES = ["https://graph.microsoft.com/.default"]
# Delegated: read key material (ReadBasic would list IDs only) and resolve device names.
DELEGATED_SCOPES = [
    "https://graph.microsoft.com/BitLockerKey.Read.All",
    "https://graph.microsoft.com/Device.Read.All",
]
_PUBLIC_CLOUD = "login.microsoftonline.com"


# Asked for only when rotating, so a plain key lookup never requests write consent.
ROTATION_SCOPES = ["https://graph.microsoft.com/DeviceManagementManagedDevices.ReadWrite.All"]


class TokenSource(Protocol):
    def access_token(self, *, scopes: Sequence[str] | None = None) -> Secret:
        """A token for `scopes` (delegated sign-in; apps get `.default`), reads by default."""
        ...


class MsalTokenSource:
    """Signs in once on first use and lets msal's in-memory cache refresh the token."""

    def __init__(
        self, config: GraphConfig, *, env: Mapping[str, str], announce: Callable[[str], None]
    ) -> None:
        self._config = config
        self._announce = announce
        self._client_secret = _client_secret(config, env)
        self._app: Any = None

    def access_token(self, *, scopes: Sequence[str] | None = None) -> Secret:
        try:
            result = self._acquire(list(scopes or DELEGATED_SCOPES))
        except (requests.RequestException, ValueError) as exc:
            # msal's errors can quote whole requests; the type and the tenant are enough.
            raise KeyProviderError(
                f"graph: cannot sign in to tenant {self._config.tenant} at "
                f"{self._config.authority} ({type(exc).__name__})"
            ) from None
        if not isinstance(result, dict) or "access_token" not in result:
            raise _sign_in_failed(self._config, result)
        return Secret(str(result["access_token"]))

    def _acquire(self, scopes: list[str]) -> Any:
        # Built on first use: msal fetches the authority's metadata when constructed, and
        # opening providers must not wait on (or fail because of) the network.
        if self._app is None:
            self._app = _application(self._config, self._client_secret)
        if isinstance(self._app, msal.ConfidentialClientApplication):
            return self._app.acquire_token_for_client(scopes=APP_SCOPES)
        return self._device_code(self._app, scopes)

    def _device_code(self, app: msal.PublicClientApplication, scopes: list[str]) -> Any:
        accounts = app.get_accounts()
        if accounts:
            cached = app.acquire_token_silent(scopes, account=accounts[0])
            if cached:
                return cached
        flow = app.initiate_device_flow(scopes=scopes)
        if "user_code" not in flow:
            return flow
        self._announce(str(flow["message"]))
        return app.acquire_token_by_device_flow(flow)


class PinnedTrustSession(requests.Session):
    """requests lets REQUESTS_CA_BUNDLE override a Session's `verify` (psf/requests#3829);
    handing `verify` to every request keeps the trust anchor the config names."""

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("verify", self.verify)
        return super().request(method, url, *args, **kwargs)


def trust_session(config: GraphConfig) -> requests.Session:
    session = PinnedTrustSession()
    session.verify = str(config.ca_file) if config.ca_file else True
    return session


def _client_secret(config: GraphConfig, env: Mapping[str, str]) -> Secret | None:
    if config.auth != "client_credentials":
        return None
    secret = env.get(config.client_secret_env)
    if not secret:
        raise ConfigError(f"[keys.graph] uses client credentials: set {config.client_secret_env}")
    return Secret(secret)


def _application(config: GraphConfig, client_secret: Secret | None) -> Any:
    authority = f"{config.authority}/{config.tenant}"
    options: dict[str, Any] = {
        "authority": authority,
        "http_client": trust_session(config),
        # Discovery asks Microsoft about the authority; a sovereign or test authority
        # answers for itself through its own OpenID configuration.
        "instance_discovery": urlsplit(config.authority).hostname == _PUBLIC_CLOUD,
    }
    if client_secret is not None:
        return msal.ConfidentialClientApplication(
            config.client_id, client_credential=client_secret.reveal(), **options
        )
    return msal.PublicClientApplication(config.client_id, **options)


def _sign_in_failed(config: GraphConfig, result: object) -> KeyProviderError:
    error = result.get("error", "no token") if isinstance(result, dict) else "no token"
    description = result.get("error_description", "") if isinstance(result, dict) else ""
    # Entra's descriptions carry trace IDs and timestamps on later lines; the first says why.
    first_line = str(description).splitlines()[0] if description else ""
    return KeyProviderError(
        f"graph: sign-in to tenant {config.tenant} as app {config.client_id} failed: "
        f"{error} {first_line}".rstrip()
    )
