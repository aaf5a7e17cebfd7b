"""SSH through asyncssh: one connection per session, one channel per script.

Windows OpenSSH starts cmd.exe, so scripts travel as `powershell.exe -EncodedCommand`, or,
when too long for cmd.exe's command line, over stdin to `powershell.exe -Command -`. PowerShell
reads stdin in the console's code page (the host's OEM code page, not UTF-8), so a long script
with non-ASCII text is encoded in the code page the host reports (`chcp`, asked once per
session). Output is read as bytes: asyncssh's strict UTF-8 decoding would drop the connection
on the first byte a host prints in its OEM code page.

A command cut short (deadline, cancelled task) has its channel closed, which ends it on the
host; a host that does not confirm that within a few seconds is not answering, and its
connection is dropped rather than waited on.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Mapping
from typing import Any

import asyncssh

from fleetfix.models import Host, Transport
from fleetfix.transports import errors, script
from fleetfix.transports.base import CommandResult, ConnectOptions
from fleetfix.transports.classify import classify
from fleetfix.transports.ports import port_for

# How long a host may take to confirm a channel or connection close before it is dropped.
_CLOSE_SECONDS = 3.0


class SshSession:
    def __init__(self, host: Host, connection: asyncssh.SSHClientConnection) -> None:
        self._host = host
        self._connection: asyncssh.SSHClientConnection | None = connection
        self._codepage: int | None = None  # the console's, once asked

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
        full = script.with_params(script_text, params)
        started = time.monotonic()
        try:
            codepage = 65001  # ASCII reads the same in every console code page
            if not full.isascii() and not script.fits_command_line(full):
                # The host reads stdin in its console code page; what that page cannot carry
                # is refused (ScriptEncodingError) rather than run as different text.
                codepage = await self._console_codepage(timeout)
            command_line, stdin = script.command_for(full, codepage=codepage)
            remaining = timeout - (time.monotonic() - started)
            out, err, code = await self._run(command_line, stdin, remaining)
        except (errors.TransportError, script.ScriptEncodingError):
            raise
        except Exception as exc:
            raise classify(self._host.name, exc) from None
        stdout = script.decode_output(out)
        return CommandResult(
            host=self._host.name, transport=self.transport, stdout=stdout,
            stderr=script.decode_clixml(script.decode_output(err)), exit_code=code,
            duration=time.monotonic() - started, json=script.last_line_json(stdout),
        )  # fmt: skip

    async def _console_codepage(self, timeout: float) -> int:
        """The code page PowerShell will read stdin in, as `chcp` reports it."""
        if self._codepage is None:
            out, _, code = await self._run("chcp", b"", timeout)
            found = script.parse_chcp(script.decode_output(out)) if code == 0 else None
            if found is None:
                raise errors.ProtocolError(
                    self._host.name, "the host did not say its console code page (chcp)"
                )
            self._codepage = found
        return self._codepage

    async def _run(
        self, command_line: str, stdin: bytes, timeout: float
    ) -> tuple[bytes, bytes, int]:
        if self._connection is None:
            raise errors.ConnectionLost(self._host.name, "the session was closed; open a new one")
        if timeout <= 0:
            # Spent before the channel was asked for (`chcp` took it all): this command's
            # timeout, not a host that stopped answering, so the connection stays.
            raise errors.OperationTimeout(
                self._host.name, "the deadline passed before the command could start; not run"
            )
        process: asyncssh.SSHClientProcess[bytes] | None = None
        try:
            # The deadline covers opening the channel too: a host that stopped answering
            # never confirms it.
            async with asyncio.timeout(timeout):
                # encoding=None: bytes in, bytes out, whatever the host prints.
                process = await self._connection.create_process(command_line, encoding=None)
                out, err = await process.communicate(stdin or None)
        except TimeoutError:
            await self._end(process)
            raise errors.OperationTimeout(
                self._host.name, "the command did not finish before its deadline; stopped"
            ) from None
        except asyncio.CancelledError:
            await self._end(process)
            raise
        except Exception:  # the connection failed under the command
            if process is not None:
                await self._end(process)
            raise
        code = process.exit_status
        if code is None:
            raise errors.ConnectionLost(self._host.name, "the command ended without an exit code")
        return _as_bytes(out), _as_bytes(err), code

    async def _end(self, process: asyncssh.SSHClientProcess[bytes] | None) -> None:
        """Close a command's channel, which ends the command on the host. One whose close is
        not confirmed in time (or that never opened) means the host stopped answering: the
        connection is dropped, so nothing waits on it any more."""
        if process is not None:
            process.close()
            with contextlib.suppress(TimeoutError, asyncssh.Error, OSError):
                await asyncio.wait_for(process.wait_closed(), _CLOSE_SECONDS)
                return
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.abort()

    async def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.close()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(connection.wait_closed(), _CLOSE_SECONDS)
                return
            connection.abort()  # a host that stopped answering: do not wait for it


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
