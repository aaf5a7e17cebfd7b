"""PSRP through pypsrp 0.9 (synchronous; its asyncio API is an abandoned beta): one
RunspacePool per session, one pipeline per script, in worker threads.

The script text, prologue included, travels as a PSRP script object rather than a command
line, so there is no length limit and no code page in the way.

The worker polls the pipeline one Receive at a time (1 s, growing to 5 s while the command
stays quiet) and checks its deadline and a cancellation in between; a command cut short is
stopped (Signal) and its pool closed (Delete). A host that stops answering is given up on at
the HTTP read timeout of the request in flight (a Receive is not retried, unlike pypsrp's
default), and its pool is deleted by `close()` if the host is back by then. What PSRP shares
with WinRM is in `fleetfix.transports.wsman`.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import threading
import xml.etree.ElementTree as ET
from concurrent.futures import Executor

from pypsrp.complex_objects import PSInvocationState
from pypsrp.host import PSHost
from pypsrp.powershell import PowerShell, RunspacePool
from pypsrp.wsman import NAMESPACES, OptionSet, SelectorSet, WSMan, WSManAction

from fleetfix.models import Host, Transport
from fleetfix.transports import script
from fleetfix.transports.base import CommandResult, ConnectOptions, WinrmAuth
from fleetfix.transports.classify import classify_open
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


class _WSMan(WSMan):
    """pypsrp's WSMan, except that a Receive that hit the HTTP read timeout is not sent again:
    pypsrp retries it five times, which kept a silent host ~6 * (slice + 2) s past its deadline.
    The worker's own loop decides what a late answer means."""

    def receive(
        self,
        resource_uri: str,
        resource: ET.Element,
        option_set: OptionSet | None = None,
        selector_set: SelectorSet | None = None,
        timeout: int | None = None,
    ) -> ET.Element:
        response = self.invoke(
            WSManAction.RECEIVE, resource_uri, resource, option_set, selector_set, timeout
        )
        body = response.find("s:Body", namespaces=NAMESPACES)
        assert body is not None  # a WS-Man answer always has one, as pypsrp assumes too
        return body


class PsrpSession(WsmanSession[RunspacePool, PowerShell]):
    """One open RunspacePool on one host."""

    def __init__(self, host: Host, pool: RunspacePool, ps_host: PSHost, *, transport: str,
                 executor: Executor) -> None:  # fmt: skip
        super().__init__(host, pool, transport=transport, executor=executor)
        self._ps_host = ps_host

    def _execute(
        self, shell: RunspacePool, full_script: str, deadline: Deadline, cancelled: threading.Event
    ) -> CommandResult:
        self._ps_host.rc = None
        pipeline = PowerShell(shell)
        pipeline.add_script(full_script)
        # Receive names its own HTTP timeout (its slice + 2 s); this is for all the rest.
        _set_read_timeout(shell, deadline.answer_seconds())
        pipeline.begin_invoke()
        self._wait(shell, pipeline, deadline, cancelled)
        exit_code = self._ps_host.rc
        stdout = "".join(f"{item}\r\n" for item in pipeline.output)
        stderr = "".join(f"{record}\r\n" for record in pipeline.streams.error)
        if exit_code is None:  # the script ended without `exit N`
            exit_code = 1 if pipeline.had_errors else 0
        return CommandResult(
            host=self._host.name, transport=self._transport, stdout=stdout, stderr=stderr,
            exit_code=exit_code, duration=deadline.elapsed(),
            json=script.last_line_json(stdout),
        )  # fmt: skip

    def _receive(
        self, shell: RunspacePool, command: PowerShell, slice_seconds: int, deadline: Deadline
    ) -> Heard:
        before = _records(command)
        command.poll_invoke(timeout=slice_seconds)
        if command.state != PSInvocationState.RUNNING:
            return Heard.DONE
        return Heard.OUTPUT if _records(command) > before else Heard.NOTHING

    def _signal(self, shell: RunspacePool, command: PowerShell) -> None:
        command.stop()

    def _delete(self, shell: RunspacePool) -> None:
        shell.close()

    def _disconnect(self, shell: RunspacePool) -> None:
        transport = shell.shell.wsman.transport
        transport.close()
        # What pypsrp does after a timeout, and more: a new session logs on again and sets up
        # a new sealing context before its first request.
        transport.session = None
        transport.encryption = None

    def _cleanup_timeouts(self, shell: RunspacePool) -> None:
        _set_read_timeout(shell, CLEANUP_SECONDS)


def _set_read_timeout(pool: RunspacePool, seconds: float) -> None:
    """The HTTP read timeout of the requests that name none (all but Receive)."""
    pool.shell.wsman.transport.read_timeout = max(1, math.ceil(seconds))


def _records(pipeline: PowerShell) -> int:
    """How many output objects and stream records the pipeline has received so far."""
    streams = pipeline.streams
    kept = (streams.error, streams.warning, streams.verbose, streams.debug, streams.information,
            streams.progress)  # fmt: skip
    return len(pipeline.output) + sum(len(records) for records in kept)


class PsrpTransport:
    """Opens RunspacePools over HTTP (message-sealed) or HTTPS. Raises ConfigError when made
    with options this installation cannot honour (CredSSP without its package)."""

    def __init__(self, options: ConnectOptions, *, https: bool, executor: Executor) -> None:
        check_support(options)
        self._options = options
        self._https = https
        self._executor = executor
        self.kind = Transport.PSRP_HTTPS if https else Transport.PSRP
        self.name = str(self.kind)

    async def open(self, host: Host, *, timeout: float) -> PsrpSession:
        check_security(self._options, host=host.name, https=self._https)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._open_sync, host, timeout)

    def _open_sync(self, host: Host, timeout: float) -> PsrpSession:
        # A host (without a UI: fleetfix never prompts) is what `exit N` reports its code to,
        # through SetShouldExit; without one Windows drops the code.
        ps_host = PSHost(None, None, False, "fleetfix", None, None, "1.0")
        pool = RunspacePool(self._wsman(host, timeout), host=ps_host)
        try:
            pool.open()
        except Exception as exc:
            with contextlib.suppress(Exception):
                pool.shell.wsman.close()
            raise classify_open(host.name, exc) from None
        return PsrpSession(host, pool, ps_host, transport=self.name, executor=self._executor)

    def _wsman(self, host: Host, timeout: float) -> WSMan:
        security = self._options.security
        credentials = self._options.credentials
        validation: bool | str = not security.insecure
        if security.ca_file is not None and not security.insecure:
            validation = str(security.ca_file)
        auth = self._options.auth
        # Basic cannot seal messages: over plain HTTP (allowed by name) nothing is encrypted,
        # which pypsrp wants said rather than asked for with "auto".
        encryption = "never" if auth is WinrmAuth.BASIC and not self._https else "auto"
        return _WSMan(
            host.target, port=port_for(host, self.kind), ssl=self._https,
            username=credentials.username, password=credentials.password.reveal(),
            auth=str(auth),
            # pypsrp takes a CA bundle path here as well as a bool (its annotation says bool).
            cert_validation=validation,  # type: ignore[arg-type]  # see above
            encryption=encryption, no_proxy=True,
            connection_timeout=max(1, int(min(self._options.connect_timeout, timeout))),
            read_timeout=max(2, int(timeout) + 2), operation_timeout=RECEIVE_SLICES[0],
            reconnection_retries=0, reconnection_backoff=0.0,
        )  # fmt: skip
