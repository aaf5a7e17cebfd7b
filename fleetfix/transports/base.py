"""The transport seam: open a session to a host, run scripts in it, close it.

A session reuses one connection (WinRM shell, PSRP RunspacePool, SSH connection) for several
scripts, because a probe, a fix and a verify on one host should not pay three handshakes.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from fleetfix.credentials import Credentials
from fleetfix.models import Host
from fleetfix.transports.errors import RemoteError


class WinrmAuth(enum.StrEnum):
    """How WinRM and PSRP authenticate. NTLM encrypts messages over HTTP; Basic does not."""

    NTLM = "ntlm"
    NEGOTIATE = "negotiate"
    KERBEROS = "kerberos"
    BASIC = "basic"
    CREDSSP = "credssp"


@dataclass(frozen=True, slots=True)
class Security:
    """Trust settings. Everything unsafe is off unless a caller asks by name."""

    ca_file: Path | None = None
    known_hosts: Path | None = None
    insecure: bool = False  # no certificate or host key checks; audited by the caller
    allow_basic_over_http: bool = False
    allow_credssp: bool = False


@dataclass(frozen=True, slots=True)
class ConnectOptions:
    """How to reach hosts, the same for every host of a run."""

    credentials: Credentials
    security: Security = field(default_factory=Security)
    auth: WinrmAuth = WinrmAuth.NTLM
    connect_timeout: float = 10.0


@dataclass(frozen=True, slots=True)
class CommandResult:
    """What one script did on one host. `json` is the object on the last stdout line."""

    host: str
    transport: str
    stdout: str
    stderr: str
    exit_code: int
    duration: float
    json: Mapping[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return self.exit_code == 0

    def check(self) -> CommandResult:
        """This result, or RemoteError when the script failed (for callers that cannot go
        on without it); a fleet run records the failure as a value instead."""
        if self.ok:
            return self
        first = next((line for line in self.stderr.splitlines() if line.strip()), "")
        raise RemoteError(
            self.host, f"exit code {self.exit_code}: {first or 'no error text'}",
            exit_code=self.exit_code, stderr=self.stderr,
        )  # fmt: skip


class Session(Protocol):
    """An open connection to one host."""

    @property
    def host(self) -> Host: ...

    @property
    def transport(self) -> str: ...

    async def run(
        self, script: str, *, params: Mapping[str, Any] | None = None, timeout: float
    ) -> CommandResult:
        """Run a PowerShell script; raise a TransportError when the host could not run it."""
        ...

    async def close(self) -> None: ...


class Transport(Protocol):
    """Opens sessions. Raises TransportError subclasses (Unreachable, AuthFailed, ...)."""

    name: str

    async def open(self, host: Host, *, timeout: float) -> Session: ...
