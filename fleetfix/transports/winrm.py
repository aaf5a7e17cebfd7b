"""WinRM through pywinrm's low-level `Protocol`: one shell per session (code page 65001),
one command per script, all of it in worker threads.

pywinrm is synchronous and retries the WS-Man OperationTimeout fault forever, so the worker
polls `get_command_output_raw` itself, one Receive slice at a time (1 s, growing to 5 s while
the command stays quiet), and gives up at the deadline or as soon as the task awaiting it is
cancelled; such a command is signalled and its shell deleted, so no remote shell outlives us.
A shell on a host that stopped answering cannot be deleted then: `close()` tries again, for a
host that came back. What WinRM shares with PSRP is in `fleetfix.transports.wsman`.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Literal

import winrm.exceptions as winrm_errors
from winrm.protocol import Protocol

from fleetfix.models import Host, Transport
from fleetfix.transports import script
from fleetfix.transports.base import CommandResult, ConnectOptions, WinrmAuth
from fleetfix.transports.classify import classify_open, is_read_timeout
from fleetfix.transports.ports import port_for
from fleetfix.transports.wsman import (
    CLEANUP_SECONDS,
    RECEIVE_SLICES,
    Deadline,
    Heard,
    WsmanSession,
    check_security,
    check_support,
)

UTF8_CODEPAGE = 65001


@dataclass(slots=True)
class _Command:
    """A command running in the shell, and what it has printed so far."""

    command_id: str
    stdout: list[bytes] = field(default_factory=list)
    stderr: list[bytes] = field(default_factory=list)
    exit_code: int = -1


class WinrmSession(WsmanSession[str, _Command]):
    """One open WinRS shell (its id) on one host."""

    def __init__(self, host: Host, protocol: Protocol, shell_id: str, *, transport: str,
                 executor: Executor, connect_timeout: float) -> None:  # fmt: skip
        super().__init__(host, shell_id, transport=transport, executor=executor)
        self._protocol = protocol
        self._connect_timeout = connect_timeout
        self._finished_command: str | None = None

    # --- worker thread -------------------------------------------------------------------

    def _execute(
        self, shell: str, full_script: str, deadline: Deadline, cancelled: threading.Event
    ) -> CommandResult:
        command_line, stdin = script.command_for(full_script, codepage=UTF8_CODEPAGE)
        self._answer_timeouts(deadline)
        self._signal_finished(shell)
        command = _Command(self._protocol.run_command(shell, command_line))
        if stdin:
            self._protocol.send_command_input(shell, command.command_id, stdin, end=True)
        self._wait(shell, command, deadline, cancelled)
        # Signalled before the next command, or not at all when the shell is deleted next
        # (Delete ends its commands): a one-script session saves a round trip.
        self._finished_command = command.command_id
        stdout = script.decode_output(b"".join(command.stdout))
        stderr = script.decode_output(b"".join(command.stderr))
        return CommandResult(
            host=self._host.name, transport=self._transport, stdout=stdout,
            stderr=script.decode_clixml(stderr), exit_code=command.exit_code,
            duration=deadline.elapsed(), json=script.last_line_json(stdout),
        )  # fmt: skip

    def _receive(
        self, shell: str, command: _Command, slice_seconds: int, deadline: Deadline
    ) -> Heard:
        self._receive_timeouts(slice_seconds, deadline)
        try:
            out, err, code, done = self._protocol.get_command_output_raw(shell, command.command_id)
        except winrm_errors.WinRMOperationTimeoutError:
            return Heard.NOTHING  # no output yet: the deadline check decides
        command.stdout.append(out)
        command.stderr.append(err)
        if done:
            command.exit_code = code
            return Heard.DONE
        return Heard.OUTPUT if out or err else Heard.NOTHING

    def _signal_finished(self, shell: str) -> None:
        finished, self._finished_command = self._finished_command, None
        if finished is not None:
            try:
                self._protocol.cleanup_command(shell, finished)
            except Exception as exc:  # that command's result is in hand already ...
                if is_read_timeout(exc):
                    raise  # ... but a host that stopped answering will not run the next

    def _signal(self, shell: str, command: _Command) -> None:
        self._protocol.cleanup_command(shell, command.command_id)

    def _delete(self, shell: str) -> None:
        self._protocol.close_shell(shell, close_session=False)  # _disconnect follows

    def _disconnect(self, shell: str) -> None:
        self._protocol.transport.close_session()

    def _answer_timeouts(self, deadline: Deadline) -> None:
        self._set_timeouts(RECEIVE_SLICES[0], deadline.answer_seconds())

    def _receive_timeouts(self, slice_seconds: int, deadline: Deadline) -> None:
        # The host answers a Receive with "no output yet" after its slice; the HTTP read
        # timeout, a second or two later, only catches a host that stopped answering
        # altogether. So a hung command is given up on at most a second past its deadline,
        # a silent host at most two.
        remaining = max(deadline.remaining(), 0.0)
        read = min(slice_seconds + 2.0, max(remaining, slice_seconds) + 1.0)
        self._set_timeouts(slice_seconds, read)

    def _cleanup_timeouts(self, shell: str) -> None:
        self._set_timeouts(RECEIVE_SLICES[0], CLEANUP_SECONDS)

    def _set_timeouts(self, operation: int, read: float) -> None:
        # WS-Man counts OperationTimeout in whole seconds (pywinrm sends an int).
        self._protocol.operation_timeout_sec = operation
        _set_http_timeout(self._protocol, (min(self._connect_timeout, read), read))


def _set_http_timeout(protocol: Protocol, pair: tuple[float, float]) -> None:
    # requests takes a (connect, read) pair and pywinrm hands the value through untouched;
    # its annotation says int only because it never expected a caller to change it.
    protocol.transport.read_timeout_sec = pair  # type: ignore[assignment]  # see above


_PYWINRM_AUTH: dict[WinrmAuth, Literal["ntlm", "kerberos", "basic", "credssp"]] = {
    WinrmAuth.NTLM: "ntlm",
    WinrmAuth.NEGOTIATE: "ntlm",  # pywinrm's NTLM transport negotiates through spnego
    WinrmAuth.KERBEROS: "kerberos",
    WinrmAuth.BASIC: "basic",
    WinrmAuth.CREDSSP: "credssp",
}


class WinrmTransport:
    """Opens WinRM shells over HTTP (NTLM-encrypted by default) or HTTPS. Raises ConfigError
    when made with options this installation cannot honour (CredSSP without its package)."""

    def __init__(self, options: ConnectOptions, *, https: bool, executor: Executor) -> None:
        check_support(options)
        self._options = options
        self._https = https
        self._executor = executor
        self.kind = Transport.WINRM_HTTPS if https else Transport.WINRM
        self.name = str(self.kind)

    async def open(self, host: Host, *, timeout: float) -> WinrmSession:
        check_security(self._options, host=host.name, https=self._https)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._open_sync, host, timeout)

    def _open_sync(self, host: Host, timeout: float) -> WinrmSession:
        protocol = self._protocol(host, timeout)
        connect = min(self._options.connect_timeout, timeout)
        _set_http_timeout(protocol, (connect, max(timeout, 0.1)))
        try:
            shell_id = protocol.open_shell(codepage=UTF8_CODEPAGE, noprofile=True)
        except Exception as exc:
            with contextlib.suppress(Exception):
                protocol.transport.close_session()
            raise classify_open(host.name, exc) from None
        return WinrmSession(host, protocol, shell_id, transport=self.name,
                            executor=self._executor, connect_timeout=connect)  # fmt: skip

    def _protocol(self, host: Host, timeout: float) -> Protocol:
        security = self._options.security
        scheme = "https" if self._https else "http"
        target = host.target if ":" not in host.target else f"[{host.target}]"
        endpoint = f"{scheme}://{target}:{port_for(host, self.kind)}/wsman"
        read = max(int(timeout) + 2, RECEIVE_SLICES[0] + 2)
        credentials = self._options.credentials
        return Protocol(
            endpoint,
            transport=_PYWINRM_AUTH[self._options.auth],
            username=credentials.username,
            password=credentials.password.reveal(),
            # Without --ca-file, None means requests' own trust store (still verified); the
            # annotation omits None though pywinrm documents it.
            ca_trust_path=str(security.ca_file) if security.ca_file else None,  # type: ignore[arg-type]  # see above
            server_cert_validation="ignore" if security.insecure else "validate",
            read_timeout_sec=read,
            operation_timeout_sec=RECEIVE_SLICES[0],
            message_encryption="auto",
            # Hosts are reached directly: an environment proxy must not see WinRM traffic.
            proxy=None,
        )
