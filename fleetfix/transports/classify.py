"""Client libraries' exceptions turned into fleetfix's transport errors.

Messages are fleetfix's own words: library texts can quote server responses or request
details, and nothing that might carry a credential is copied into an error.
"""

from __future__ import annotations

import errno
import socket
import ssl

import asyncssh
import pypsrp.exceptions as psrp_errors
import requests
import winrm.exceptions as winrm_errors

from fleetfix.transports import errors

_UNREACHABLE_ERRNOS = {
    errno.ECONNREFUSED: "connection refused: the host is down, booting or not listening",
    errno.EHOSTUNREACH: "no route to host",
    errno.ENETUNREACH: "network unreachable",
}


def is_read_timeout(exc: BaseException) -> bool:
    """Whether `exc` is an HTTP read timeout: the host took the request and never answered it
    (one that would not even take the connection is a ConnectTimeout, which this is not)."""
    return isinstance(exc, requests.exceptions.ReadTimeout)


def _root_cause(exc: BaseException) -> BaseException:
    """The innermost cause: requests wraps urllib3 wraps the socket error."""
    seen: set[int] = set()
    current = exc
    while id(current) not in seen:
        seen.add(id(current))
        nxt = current.__cause__ or current.__context__
        if nxt is None and current.args and isinstance(current.args[0], BaseException):
            nxt = current.args[0]
        reason = getattr(current, "reason", None)
        if nxt is None and isinstance(reason, BaseException):
            nxt = reason
        if nxt is None:
            break
        current = nxt
    return current


def _from_os_error(host: str, exc: BaseException) -> errors.TransportError | None:
    if isinstance(exc, socket.gaierror):
        return errors.Unreachable(host, "name does not resolve (DNS)")
    if isinstance(exc, ConnectionResetError | BrokenPipeError):
        return errors.ConnectionLost(host, "connection reset: the host may have rebooted")
    if isinstance(exc, OSError) and exc.errno in _UNREACHABLE_ERRNOS:
        return errors.Unreachable(host, _UNREACHABLE_ERRNOS[exc.errno])
    return None


def _from_tls(host: str, cause: BaseException) -> errors.TransportError:
    """A TLS failure is a trust problem only when the certificate was checked and refused;
    a handshake cut short is a host going away (a boot loop's window closing)."""
    if isinstance(cause, ssl.SSLCertVerificationError):
        return errors.CertificateError(
            host, "TLS certificate not trusted; pass --ca-file with the issuing CA"
        )
    if isinstance(cause, ssl.SSLEOFError | ssl.SSLZeroReturnError | ConnectionError):
        return errors.ConnectionLost(host, "connection dropped during the TLS handshake: the "
                                           "host may have rebooted")  # fmt: skip
    if isinstance(cause, ssl.SSLError) and "EOF" in str(cause).upper():
        return errors.ConnectionLost(host, "connection dropped during the TLS handshake: the "
                                           "host may have rebooted")  # fmt: skip
    return errors.CertificateError(host, "TLS handshake failed; check --ca-file")


def _from_requests(host: str, exc: requests.RequestException) -> errors.TransportError:
    if isinstance(exc, requests.exceptions.SSLError):
        return _from_tls(host, _root_cause(exc))
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return errors.ConnectTimeout(host, "no answer to the connection attempt")
    if isinstance(exc, requests.exceptions.ChunkedEncodingError):
        return errors.ConnectionLost(host, "reply cut off mid-way: the host may have rebooted")
    if is_read_timeout(exc):
        return errors.OperationTimeout(host, "connected, but the host stopped answering")
    cause = _root_cause(exc)
    if isinstance(cause, ssl.SSLError):
        return _from_tls(host, cause)
    found = _from_os_error(host, cause)
    if found is not None:
        return found
    if isinstance(exc, requests.exceptions.ConnectionError):
        text = str(exc).lower()
        if "refused" in text:
            return errors.Unreachable(host, _UNREACHABLE_ERRNOS[errno.ECONNREFUSED])
        if "reset" in text or "aborted" in text or "remotedisconnected" in text:
            return errors.ConnectionLost(host, "connection dropped: the host may have rebooted")
        return errors.Unreachable(host, f"cannot connect ({type(cause).__name__})")
    return errors.ProtocolError(host, f"HTTP failure ({type(exc).__name__})")


def _from_winrm(host: str, exc: BaseException) -> errors.TransportError | None:
    auth = (winrm_errors.AuthenticationError, psrp_errors.AuthenticationError)
    if isinstance(exc, auth):
        return errors.AuthFailed(host, "credentials rejected; not retried")
    if isinstance(exc, winrm_errors.WinRMTransportError | psrp_errors.WinRMTransportError):
        if exc.code == 401:
            return errors.AuthFailed(host, "credentials rejected (HTTP 401); not retried")
        return errors.ProtocolError(host, f"WinRM answered HTTP {exc.code}")
    if isinstance(exc, winrm_errors.WinRMOperationTimeoutError):
        return errors.OperationTimeout(host, "the command did not finish in time")
    if isinstance(exc, winrm_errors.WSManFaultError):
        return errors.ProtocolError(host, f"WS-Man fault {exc.wsman_fault_code}: {exc.reason}")
    if isinstance(exc, psrp_errors.WSManFaultError):
        return errors.ProtocolError(host, f"WS-Man fault {exc.code}: {exc.reason}")
    if isinstance(exc, winrm_errors.WinRMError | psrp_errors.WinRMError):
        return errors.ProtocolError(host, f"WinRM failure ({type(exc).__name__})")
    return None


def _from_asyncssh(host: str, exc: BaseException) -> errors.TransportError | None:
    if isinstance(exc, asyncssh.PermissionDenied):
        return errors.AuthFailed(host, "SSH credentials rejected; not retried")
    if isinstance(exc, asyncssh.HostKeyNotVerifiable):
        return errors.HostKeyMismatch(
            host, "SSH host key unknown or changed; check --known-hosts before trusting it"
        )
    if isinstance(exc, asyncssh.ConnectionLost):
        return errors.ConnectionLost(host, "SSH connection lost: the host may have rebooted")
    if isinstance(exc, asyncssh.KeyExchangeFailed) and "host key" in exc.reason:
        # known_hosts lists keys of other types for this host, so asyncssh accepts only those
        # types and the host offers none of them: its key is unknown or was replaced.
        return errors.HostKeyMismatch(
            host, "SSH host key unknown or changed (known_hosts has no key of the type the "
                  "host offers); check --known-hosts before trusting it",
        )  # fmt: skip
    if isinstance(exc, asyncssh.KeyExchangeFailed):
        return errors.ProtocolError(host, "SSH key exchange failed: no algorithm in common")
    if isinstance(exc, asyncssh.DisconnectError):
        return errors.ProtocolError(host, f"SSH disconnected ({type(exc).__name__})")
    if isinstance(exc, asyncssh.ChannelOpenError):
        return errors.ProtocolError(host, "SSH server refused to open a session")
    return None


def classify(host: str, exc: BaseException) -> errors.TransportError:
    """The transport error that says what `exc` means for `host`."""
    if isinstance(exc, errors.TransportError):
        return exc
    for convert in (_from_winrm, _from_asyncssh):
        found = convert(host, exc)
        if found is not None:
            return found
    if isinstance(exc, requests.RequestException):
        return _from_requests(host, exc)
    if isinstance(exc, PermissionError) and "access denied" in str(exc).lower():
        # requests_ntlm's answer to a 401 that offers no NTLM challenge: the server said no.
        return errors.AuthFailed(host, "credentials rejected (access denied); not retried")
    if isinstance(exc, TimeoutError):
        return errors.ConnectTimeout(host, "no answer in time")
    if isinstance(exc, ssl.SSLError):
        return _from_tls(host, exc)
    found = _from_os_error(host, exc)
    if found is not None:
        return found
    if isinstance(exc, EOFError | ConnectionError):
        return errors.ConnectionLost(host, "connection closed: the host may have rebooted")
    if isinstance(exc, OSError):
        return errors.Unreachable(host, f"cannot connect ({exc.strerror or type(exc).__name__})")
    return errors.ProtocolError(host, f"unexpected failure ({type(exc).__name__})")


def classify_open(host: str, exc: BaseException) -> errors.TransportError:
    """As `classify`, for a failure while opening a session: a host that took the TCP
    connection but never answered is a connect timeout, not a slow command."""
    found = classify(host, exc)
    if isinstance(found, errors.OperationTimeout):
        return errors.ConnectTimeout(host, "accepted the connection but never answered")
    return found
