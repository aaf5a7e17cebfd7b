"""What can go wrong between fleetfix and one host, in a sysadmin's words.

Every error carries the host it happened on and a message that says what to do about it;
none ever holds a password (messages are built from our own words and the host name, never
from a client library's text that might echo a request)::

    FleetfixError
    └── TransportError              .host, .title
        ├── Unreachable             refused, no route, DNS: the host or its service is down
        ├── ConnectTimeout          no answer to the connection attempt
        ├── OperationTimeout        connected, but the command did not finish in time
        ├── ConnectionLost          reset mid-command: the host may have rebooted or crashed
        ├── AuthFailed              credentials rejected (never retried)
        ├── CertificateError        TLS certificate not trusted
        ├── HostKeyMismatch         SSH host key unknown or changed
        ├── ProtocolError           the remote service answered with a fault
        ├── RemoteError             the script ran and failed (non-zero exit, errors)
        └── TransportRefused        fleetfix refused an unsafe option (Basic over HTTP, CredSSP)
"""

from __future__ import annotations

from fleetfix.errors import FleetfixError


class TransportError(FleetfixError):
    title = "transport error"
    #: The status a per-host result records for this error (see `HostStatus`).
    status = "failed"

    def __init__(self, host: str, message: str) -> None:
        super().__init__(f"{host}: {message}")
        self.host = host
        self.reason = message  # the message without the host, for per-host listings


class Unreachable(TransportError):  # noqa: N818 - the issue's names, read as outcomes
    title = "host unreachable"
    status = "unreachable"


class ConnectTimeout(Unreachable):
    title = "connection timed out"


class OperationTimeout(TransportError):  # noqa: N818 - the issue's names, read as outcomes
    title = "command timed out"
    status = "timeout"


class ConnectionLost(TransportError):  # noqa: N818 - the issue's names, read as outcomes
    title = "connection lost"
    status = "connection_lost"


class AuthFailed(TransportError):  # noqa: N818 - the issue's names, read as outcomes
    title = "authentication failed"
    status = "auth_failed"


class CertificateError(TransportError):
    title = "certificate not trusted"
    status = "untrusted"


class HostKeyMismatch(TransportError):  # noqa: N818 - the issue's names, read as outcomes
    title = "SSH host key not trusted"
    status = "untrusted"


class ProtocolError(TransportError):
    title = "remote service fault"


class RemoteError(TransportError):
    title = "remote command failed"

    def __init__(self, host: str, message: str, *, exit_code: int, stderr: str) -> None:
        super().__init__(host, message)
        self.exit_code = exit_code
        self.stderr = stderr


class TransportRefused(TransportError):  # noqa: N818 - the issue's names, read as outcomes
    """Raised before any packet leaves: the options asked for something unsafe."""

    title = "unsafe transport refused"
    status = "refused"
