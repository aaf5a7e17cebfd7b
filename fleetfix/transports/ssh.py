"""SSH through asyncssh: one connection per session, one channel per script.

Windows OpenSSH starts cmd.exe, so scripts travel as `powershell.exe -EncodedCommand` (or over
stdin when too long). Output is read as bytes: asyncssh's strict UTF-8 decoding would drop
the connection on the first byte a host prints in its OEM code page.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from typing import Any

import asyncssh

from fleetfix.models import Host, Transport
from fleetfix.transports import errors, script
from fleetfix.transports.base import CommandResult, ConnectOptions
from fleetfix.transports.classify import classify
from fleetfix.transports.ports import port_for


class SshSession:
    def __init__(self, host: Host, connection: asyncssh.SSHClientConnection) -> None:
        self._host = host
        self._connection: asyncssh.SSHClientConnection | None = connection

    @property
    def host(self) -> Host:
        return self._host

    @property
    def transport(self) -> str:
        return str(Transport.SSH)

    async def run(
        self, script_text: str, *, params: Mapping[str, Any] | None = None, timeout: float
    ) -> CommandResult:
        if self._connection is None:
            raise errors.ConnectionLost(self._host.name, "the session was closed; open a new one")
        command_line, stdin = script.command_for(script.with_params(script_text, params))
        if stdin and not script_text.isascii():
            # Windows OpenSSH reads stdin in the OEM code page: non-ASCII would arrive mangled
            # and the script would run with different text than the one written.
            raise ValueError(
                "a script too long for the command line must be ASCII to travel over SSH; "
                "shorten it, move non-ASCII text into parameters, or use WinRM/PSRP"
            )
        started = time.monotonic()
        try:
            out, err, code = await self._run(self._connection, command_line, stdin, timeout)
        except errors.TransportError:
            raise
        except Exception as exc:
            raise classify(self._host.name, exc) from None
        stdout = script.decode_output(out)
        return CommandResult(
            host=self._host.name, transport=self.transport, stdout=stdout,
            stderr=script.decode_clixml(script.decode_output(err)), exit_code=code,
            duration=time.monotonic() - started, json=script.last_line_json(stdout),
        )  # fmt: skip

    async def _run(
        self, connection: asyncssh.SSHClientConnection, command_line: str, stdin: bytes,
        timeout: float,
    ) -> tuple[bytes, bytes, int]:  # fmt: skip
        # encoding=None: bytes in, bytes out, whatever the host prints.
        async with connection.create_process(command_line, encoding=None) as process:
            try:
                completed = await asyncio.wait_for(process.communicate(stdin or None), timeout)
            except TimeoutError:
                # Leaving the block closes the channel, which ends the remote command.
                raise errors.OperationTimeout(
                    self._host.name, "the command did not finish before its deadline; stopped"
                ) from None
        out, err = completed
        code = process.exit_status
        if code is None:
            raise errors.ConnectionLost(self._host.name, "the command ended without an exit code")
        return _as_bytes(out), _as_bytes(err), code

    async def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.close()
            await connection.wait_closed()


def _as_bytes(data: object) -> bytes:
    return data if isinstance(data, bytes) else b""


class SshTransport:
    kind = Transport.SSH
    name = str(Transport.SSH)

    def __init__(self, options: ConnectOptions) -> None:
        self._options = options

    def _known_hosts(self) -> str | tuple[()] | None:
        security = self._options.security
        if security.insecure:
            return None  # explicit --insecure, recorded in the audit log by the caller
        if security.known_hosts is not None:
            return str(security.known_hosts)
        return ()  # asyncssh's default: ~/.ssh/known_hosts, still verified

    async def open(self, host: Host, *, timeout: float) -> SshSession:
        credentials = self._options.credentials
        try:
            connection = await asyncio.wait_for(
                asyncssh.connect(
                    host.target, port=port_for(host, Transport.SSH),
                    username=credentials.username, password=credentials.password.reveal(),
                    known_hosts=self._known_hosts(), client_keys=None, agent_path=None,
                    config=(), preferred_auth="password,keyboard-interactive",
                    connect_timeout=min(self._options.connect_timeout, timeout),
                ),
                timeout,
            )  # fmt: skip
        except Exception as exc:
            raise classify(host.name, exc) from None
        return SshSession(host, connection)
