"""Where the service account's credentials come from, and a type that keeps them quiet.

Sources, first found wins: a named reference (per inventory group) in the environment or the
OS keyring, then FLEETFIX_USERNAME / FLEETFIX_PASSWORD, then the keyring's default entry,
then a prompt when stdin is a terminal. Credentials never reach the store, a log or an error.
"""

from __future__ import annotations

import getpass
import logging
import os
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from fleetfix.errors import ConfigError

log = logging.getLogger(__name__)
KEYRING_SERVICE = "fleetfix"
_REFERENCE = re.compile(r"\A[A-Za-z0-9_]{1,64}\Z")


@dataclass(frozen=True, slots=True)
class Secret:
    """A password. repr and str print `***`; `reveal()` is the one named way to read it."""

    _value: str = field(repr=False)

    def reveal(self) -> str:
        return self._value

    def __str__(self) -> str:
        return "***"

    def __repr__(self) -> str:
        return "Secret('***')"

    def __bool__(self) -> bool:
        return bool(self._value)


@dataclass(frozen=True, slots=True)
class Credentials:
    username: str
    password: Secret
    source: str  # "env", "keyring", "prompt", "env:NAME", ...: safe to log and audit


def _env_names(reference: str | None) -> tuple[str, str]:
    if reference is None:
        return "FLEETFIX_USERNAME", "FLEETFIX_PASSWORD"
    key = reference.upper()
    return f"FLEETFIX_CRED_{key}_USERNAME", f"FLEETFIX_CRED_{key}_PASSWORD"


def from_env(env: Mapping[str, str], *, reference: str | None = None) -> Credentials | None:
    user_var, password_var = _env_names(reference)
    username, password = env.get(user_var), env.get(password_var)
    if not username or password is None:
        return None
    source = "env" if reference is None else f"env:{reference}"
    return Credentials(username, Secret(password), source)


def from_keyring(*, reference: str | None = None) -> Credentials | None:
    """The OS keyring (the `keyring` package). The account name is the secret stored for
    (`<service>`, `username`) and its password the one for (`<service>`, account), as
    `keyring set fleetfix username` users enter them by hand. A keyring that is locked or
    has no backend (a headless jump host: NoKeyringError) has nothing, and the next source
    is asked."""
    import keyring  # here: ~75 ms to import, paid only by runs whose environment has none

    service = KEYRING_SERVICE if reference is None else f"{KEYRING_SERVICE}:{reference}"
    try:
        username = keyring.get_password(service, "username")
        password = keyring.get_password(service, username) if username else None
    except Exception as exc:  # an unusable keyring backend means: not configured here
        # The type only: a backend's message may quote what it was handed.
        log.debug("OS keyring not usable (%s); trying the next source", type(exc).__name__)
        return None
    if not username or password is None:
        return None
    return Credentials(str(username), Secret(str(password)), f"keyring:{service}")


Prompt = Callable[[str], str]


def from_prompt(*, ask_user: Prompt = input, ask_password: Prompt = getpass.getpass) -> Credentials:
    username = ask_user("Username: ").strip()
    password = ask_password(f"Password for {username}: ")
    if not username:
        raise ConfigError("no username given")
    return Credentials(username, Secret(password), "prompt")


def resolve(
    *,
    reference: str | None = None,
    env: Mapping[str, str] | None = None,
    interactive: bool | None = None,
    prompt: Callable[[], Credentials] = from_prompt,
) -> Credentials:
    """Credentials for a run (or an inventory group's `credential=NAME` reference).
    `prompt` is the last source, asked on a terminal (a front end may pass its own)."""
    if reference is not None and not _REFERENCE.match(reference):
        raise ConfigError(f"credential reference {reference!r}: use letters, digits and _")
    environment = os.environ if env is None else env
    found = from_env(environment, reference=reference) or from_keyring(reference=reference)
    if found is not None:
        return found
    if interactive is None:
        interactive = sys.stdin.isatty()
    if interactive and reference is None:
        return prompt()
    user_var, password_var = _env_names(reference)
    raise ConfigError(
        f"no credentials: set {user_var} and {password_var}"
        + (", store them in the OS keyring" if reference is None else "")
        + (" or run on a terminal to be asked" if reference is None else "")
    )
