"""WinRM through pywinrm's low-level `Protocol`: one shell per session (code page 65001),
one command per script, all of it in worker threads.

pywinrm is synchronous and retries the WS-Man OperationTimeout fault forever, so the worker
polls `get_command_output_raw` itself, one short Receive slice at a time, and gives up at the
deadline or as soon as the task awaiting it is cancelled; such a command is signalled and its
shell deleted, so no remote shell outlives us. A shell on a host that stopped answering cannot
be deleted then: `close()` tries again, for a host that came back.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import threading
import time
from collections.abc import Mapping
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any, Literal, NoReturn

import winrm.exceptions as winrm_errors
from winrm.protocol import Protocol

from fleetfix.models import Host, Transport
from fleetfix.transports import errors, script
from fleetfix.transports.base import CommandResult, ConnectOptions, WinrmAuth
from fleetfix.transports.classify import classify, classify_open
from fleetfix.transports.ports import port_for
from fleetfix.transports.worker import Cancelled, run_cancellable

UTF8_CODEPAGE = 65001
# WS-Man OperationTimeout per Receive (whole seconds): the deadline and a cancellation are
# checked between Receives, so this is how late either can be noticed. A Receive returns at
# once when there is output: only a command that prints nothing polls once a second.
_RECEIVE_SLICE = 1
# How long the host may take to answer anything but a Receive (Command, Send, Signal,
# Delete), within the deadline: these answer at once unless the host is struggling.
_ANSWER_SECONDS = 7.0
# What cleanup (Signal, Delete) may take after a timeout: the host is already late.
_CLEANUP_SECONDS = 3.0


def check_security(options: ConnectOptions, *, host: str, https: bool) -> None:
    """Refuse, before any packet, what would expose the password."""
    if options.auth is WinrmAuth.CREDSSP and not options.security.allow_credssp:
        raise errors.TransportRefused(
            host, "CredSSP hands the host your full credentials; allow it explicitly"
        )
    if options.auth is WinrmAuth.BASIC and not https and not options.security.allow_basic_over_http:
        raise errors.TransportRefused(
            host, "Basic over plain HTTP sends the password in clear; use HTTPS or NTLM"
        )


def check_support(options: ConnectOptions, *, host: str) -> None:
    """Fail clearly, before any packet, on what the installed client libraries cannot do."""
    if options.auth is WinrmAuth.CREDSSP and importlib.util.find_spec("requests_credssp") is None:
        raise errors.ProtocolError(
            host, "CredSSP needs the requests-credssp package, which is not installed here"
        )


@dataclass(frozen=True, slots=True)
class _Deadline:
    at: float

    @classmethod
    def after(cls, seconds: float) -> _Deadline:
        return cls(time.monotonic() + seconds)

    def remaining(self) -> float:
        return self.at - time.monotonic()


class WinrmSession:
    """One open shell on one host. Used by one task at a time; the lock makes sure."""

    def __init__(self, host: Host, protocol: Protocol, shell_id: str, *, transport: str,
                 executor: Executor, connect_timeout: float) -> None:  # fmt: skip
        self._host = host
        self._protocol = protocol
        self._shell_id: str | None = shell_id
        self._transport = transport
        self._executor = executor
        self._connect_timeout = connect_timeout
        self._lock = threading.Lock()
        self._finished_command: str | None = None
        # A shell left on a host that stopped answering: close() deletes it if it can.
        self._orphan_shell: str | None = None

    @property
    def host(self) -> Host:
        return self._host

    @property
    def transport(self) -> str:
        return self._transport

    async def run(
        self, script_text: str, *, params: Mapping[str, Any] | None = None, timeout: float
    ) -> CommandResult:
        full = script.with_params(script_text, params)
        # pywinrm is sync: one slow host must not stall the loop.
        return await run_cancellable(
            self._executor, lambda cancelled: self._run_sync(full, timeout, cancelled)
        )

    async def close(self) -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, self._close_sync)

    # --- worker thread -------------------------------------------------------------------

    def _http_timeout(self, deadline: _Deadline, *, receive: bool = False) -> None:
        remaining = max(deadline.remaining(), 0.0)
        # WS-Man counts OperationTimeout in whole seconds (pywinrm sends an int). The host
        # answers a Receive with "no output yet" after `operation`; the HTTP read timeout, a
        # second or two later, only catches a host that stopped answering altogether. So a
        # hung command is given up on at most a second past its deadline, a silent host at
        # most two.
        operation = max(1, min(_RECEIVE_SLICE, int(remaining)))
        self._protocol.operation_timeout_sec = operation
        if receive:
            read = min(operation + 2.0, max(remaining, operation) + 1.0)
        else:
            read = min(_ANSWER_SECONDS, remaining + 1.0)
        _set_http_timeout(self._protocol, (min(self._connect_timeout, read), read))

    def _run_sync(
        self, full_script: str, timeout: float, cancelled: threading.Event
    ) -> CommandResult:
        name = self._host.name
        with self._lock:
            if cancelled.is_set():
                raise Cancelled
            if self._shell_id is None:
                raise errors.ConnectionLost(name, "the session was closed; open a new one")
            started = time.monotonic()
            deadline = _Deadline.after(timeout)
            command_line, stdin = script.command_for(full_script)
            try:
                self._http_timeout(deadline)
                self._signal_finished()
                command_id = self._protocol.run_command(self._shell_id, command_line)
                if stdin:
                    self._protocol.send_command_input(self._shell_id, command_id, stdin, end=True)
                out, err, code = self._receive(command_id, deadline, cancelled)
            except (errors.OperationTimeout, Cancelled):
                raise
            except Exception as exc:
                # A host that stopped answering would only make Delete wait again.
                self._abandon(delete=not _is_read_timeout(exc))
                raise classify(name, exc) from None
        stdout, stderr = script.decode_output(out), script.decode_output(err)
        return CommandResult(
            host=name, transport=self._transport, stdout=stdout,
            stderr=script.decode_clixml(stderr), exit_code=code,
            duration=time.monotonic() - started, json=script.last_line_json(stdout),
        )  # fmt: skip

    def _receive(
        self, command_id: str, deadline: _Deadline, cancelled: threading.Event
    ) -> tuple[bytes, bytes, int]:
        assert self._shell_id is not None
        stdout: list[bytes] = []
        stderr: list[bytes] = []
        while True:
            if cancelled.is_set():
                self._stop(command_id)
                raise Cancelled
            if deadline.remaining() <= 0:
                self._give_up(command_id, host_answers=True)
            self._http_timeout(deadline, receive=True)
            try:
                out, err, code, done = self._protocol.get_command_output_raw(
                    self._shell_id, command_id
                )
            except winrm_errors.WinRMOperationTimeoutError:
                continue  # no output yet: the deadline check above decides
            except Exception as exc:
                if _is_read_timeout(exc):
                    self._give_up(command_id, host_answers=False)
                raise
            stdout.append(out)
            stderr.append(err)
            if done:
                # Signalled before the next command, or not at all when the shell is deleted
                # next (Delete ends its commands): a one-script session saves a round trip.
                self._finished_command = command_id
                return b"".join(stdout), b"".join(stderr), code

    def _signal_finished(self) -> None:
        finished, self._finished_command = self._finished_command, None
        if finished is not None and self._shell_id is not None:
            try:
                self._protocol.cleanup_command(self._shell_id, finished)
            except Exception as exc:  # that command's result is in hand already ...
                if _is_read_timeout(exc):
                    raise  # ... but a host that stopped answering will not run the next

    def _give_up(self, command_id: str, *, host_answers: bool) -> NoReturn:
        """Stop a late command. Signal and Delete only when the host still answers: one that
        stopped answering would just make us wait again for nothing."""
        if host_answers:
            self._stop(command_id)
        else:
            self._abandon(delete=False)
        raise errors.OperationTimeout(
            self._host.name, "the command did not finish before its deadline; it was stopped"
        )

    def _stop(self, command_id: str) -> None:
        """Signal (terminate) the command and delete its shell, each within the cleanup time."""
        with contextlib.suppress(Exception):
            self._http_timeout(_Deadline.after(_CLEANUP_SECONDS))
            assert self._shell_id is not None
            self._protocol.cleanup_command(self._shell_id, command_id)
        self._abandon()

    def _abandon(self, *, delete: bool = True) -> None:
        shell_id, self._shell_id = self._shell_id, None
        if not delete:
            # The connection is dead, not the shell: Delete it later over a fresh one.
            self._orphan_shell = shell_id
        with contextlib.suppress(Exception):
            if delete and shell_id is not None:
                self._http_timeout(_Deadline.after(_CLEANUP_SECONDS))
                self._protocol.close_shell(shell_id, close_session=True)
            else:
                self._protocol.transport.close_session()

    def _close_sync(self) -> None:
        with self._lock:
            orphan, self._orphan_shell = self._orphan_shell, None
            if orphan is not None and self._shell_id is None:
                # The host stopped answering mid-command; if it is back, its shell would
                # otherwise count against MaxShellsPerUser until WinRM's idle timeout.
                self._shell_id = orphan
            self._abandon()


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


def _is_read_timeout(exc: BaseException) -> bool:
    import requests

    return isinstance(exc, requests.exceptions.Timeout)


class WinrmTransport:
    """Opens WinRM shells over HTTP (NTLM-encrypted by default) or HTTPS."""

    def __init__(self, options: ConnectOptions, *, https: bool, executor: Executor) -> None:
        self._options = options
        self._https = https
        self._executor = executor
        self.kind = Transport.WINRM_HTTPS if https else Transport.WINRM
        self.name = str(self.kind)

    async def open(self, host: Host, *, timeout: float) -> WinrmSession:
        check_security(self._options, host=host.name, https=self._https)
        check_support(self._options, host=host.name)
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
        read = max(int(timeout) + 2, _RECEIVE_SLICE + 2)
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
            operation_timeout_sec=_RECEIVE_SLICE,
            message_encryption="auto",
            # Hosts are reached directly: an environment proxy must not see WinRM traffic.
            proxy=None,
        )
